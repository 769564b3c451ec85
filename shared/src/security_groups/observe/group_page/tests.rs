//! The page reader against the SDK's own parser, on the same bytes, through a real SDK client.

use super::*;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::infallible_client_fn;

/// A page as EC2 writes it: every kind of peer, ports and no ports, escaped text, tags in any
/// order, a group without an ID, and a token for the next page.
const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
    <securityGroupInfo>
        <item>
            <ownerId>123456789012</ownerId>
            <groupId>sg-0a1b2c3d4e5f60001</groupId>
            <groupName>demo-node &amp; ui</groupName>
            <groupDescription>Chainlink &lt;node&gt;</groupDescription>
            <vpcId>vpc-0123456789abcdef0</vpcId>
            <ipPermissions>
                <item>
                    <ipProtocol>tcp</ipProtocol>
                    <fromPort>6688</fromPort>
                    <toPort>6688</toPort>
                    <groups/>
                    <ipRanges>
                        <item><cidrIp>10.20.0.0/16</cidrIp><description>operators</description></item>
                        <item><cidrIp>0.0.0.0/0</cidrIp></item>
                    </ipRanges>
                    <ipv6Ranges><item><cidrIpv6>::/0</cidrIpv6></item></ipv6Ranges>
                    <prefixListIds><item><prefixListId>pl-63a5400a</prefixListId></item></prefixListIds>
                </item>
                <item>
                    <ipProtocol>tcp</ipProtocol>
                    <fromPort>6690</fromPort>
                    <toPort>6699</toPort>
                    <groups>
                        <item>
                            <userId>123456789012</userId>
                            <groupId>sg-0a1b2c3d4e5f60001</groupId>
                            <groupName>demo-node &amp; ui</groupName>
                        </item>
                    </groups>
                    <ipRanges/>
                </item>
                <item>
                    <ipProtocol>icmp</ipProtocol>
                    <fromPort>8</fromPort>
                    <toPort>-1</toPort>
                    <ipRanges><item><cidrIp>10.0.0.0/8</cidrIp></item></ipRanges>
                </item>
                <item>
                    <ipProtocol>udp</ipProtocol>
                    <ipRanges><item><cidrIp>10.1.0.0/16</cidrIp></item></ipRanges>
                </item>
                <item>
                    <ipProtocol>not-a-protocol</ipProtocol>
                    <ipRanges><item><cidrIp>10.2.0.0/16</cidrIp></item></ipRanges>
                </item>
                <item>
                    <ipProtocol>tcp</ipProtocol>
                    <fromPort>22</fromPort>
                    <toPort>22</toPort>
                    <ipRanges><item><cidrIp>not-a-cidr</cidrIp></item></ipRanges>
                </item>
            </ipPermissions>
            <ipPermissionsEgress>
                <item>
                    <ipProtocol>-1</ipProtocol>
                    <groups/>
                    <ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges>
                    <ipv6Ranges/>
                    <prefixListIds/>
                </item>
            </ipPermissionsEgress>
            <tagSet>
                <item><key>Name</key><value>node</value></item>
                <item><key>chainlink:role</key><value>node</value></item>
                <item><key>chainlink:stack</key><value>demo</value></item>
            </tagSet>
            <securityGroupArn>arn:aws:ec2:us-east-1:123456789012:security-group/sg-0a1b2c3d4e5f60001</securityGroupArn>
        </item>
        <item>
            <ownerId>123456789012</ownerId>
            <groupName>no id</groupName>
        </item>
        <item>
            <groupId>sg-0a1b2c3d4e5f60002</groupId>
            <groupName>untagged</groupName>
            <ipPermissions/>
            <ipPermissionsEgress/>
            <tagSet>
                <item><key>chainlink:role</key></item>
                <item><key>chainlink:role</key><value>db</value></item>
            </tagSet>
        </item>
    </securityGroupInfo>
    <nextToken>page-2</nextToken>
</DescribeSecurityGroupsResponse>
"#;

/// An EC2 client whose every call is answered with `status` and `body`.
fn client_answering(status: u16, body: &'static str) -> aws_sdk_ec2::Client {
    let http = infallible_client_fn(move |_request| {
        http::Response::builder()
            .status(status)
            .body(SdkBody::from(body))
            .unwrap()
    });
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .http_client(http)
        .build();
    aws_sdk_ec2::Client::from_conf(config)
}

/// What the SDK's own parser makes of a page, in domain terms.
async fn sdk_page(ec2: &aws_sdk_ec2::Client) -> GroupPage {
    let output = ec2.describe_security_groups().send().await;
    GroupPage::from_sdk(&output.expect("the SDK reads the page"))
}

type SdkResult = Result<
    DescribeSecurityGroupsOutput,
    aws_sdk_ec2::error::SdkError<
        aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsError,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
>;

/// One call with a page reader attached: what the SDK returned, and what the reader took.
async fn call_with_reader(ec2: &aws_sdk_ec2::Client) -> (SdkResult, Option<GroupPage>) {
    let reader = GroupPageReader::default();
    let result = ec2
        .describe_security_groups()
        .customize()
        .interceptor(reader.clone())
        .send()
        .await;
    (result, reader.take())
}

#[tokio::test]
async fn reads_what_the_sdk_reads_and_leaves_it_an_empty_page() {
    let ec2 = client_answering(200, PAGE);
    let expected = sdk_page(&ec2).await;
    assert_eq!(
        expected.groups.len(),
        2,
        "the fixture has two groups with IDs"
    );

    let (output, page) = call_with_reader(&ec2).await;
    let output = output.expect("the call succeeds");
    assert!(
        output.security_groups().is_empty(),
        "the SDK built no groups"
    );
    assert_eq!(output.next_token(), None);
    assert_eq!(page, Some(expected));
}

#[test]
fn reads_rules_tags_and_escaped_text_in_domain_terms() {
    let page = read_group_page(PAGE.as_bytes()).unwrap();
    assert_eq!(page.next_token.as_deref(), Some("page-2"));
    let node = &page.groups[0];
    assert_eq!(node.stack, Some(StackName::new("demo")));
    assert_eq!(node.group.name, "demo-node & ui");
    assert_eq!(node.group.role.as_ref().map(RoleName::as_str), Some("node"));
    let ingress: Vec<String> = node.group.ingress.iter().map(Rule::to_string).collect();
    assert_eq!(
        ingress,
        [
            "tcp 6688 from 10.20.0.0/16",
            "tcp 6688 from 0.0.0.0/0",
            "tcp 6688 from ::/0",
            "tcp 6688 from pl-63a5400a",
            "tcp 6690-6699 from sg-0a1b2c3d4e5f60001",
            "icmp from 10.0.0.0/8",
            "udp 0-65535 from 10.1.0.0/16",
        ]
    );
    assert_eq!(
        node.group.egress[0].to_string(),
        "all traffic from 0.0.0.0/0"
    );
    // The first tag of a key counts, even without a value.
    let untagged = &page.groups[1];
    assert_eq!(
        (untagged.stack.as_ref(), untagged.group.role.as_ref()),
        (None, None)
    );
}

#[test]
fn a_body_cut_short_is_an_error_not_a_shorter_list() {
    let cut = &PAGE[..PAGE
        .find("<item>\n            <groupId>sg-0a1b2c3d4e5f60002")
        .unwrap()];
    assert!(read_group_page(cut.as_bytes()).is_err());
    assert!(read_group_page(b"").is_err());
}

#[test]
fn another_root_or_a_bad_port_is_an_error() {
    let other_root = PAGE.replace(
        "DescribeSecurityGroupsResponse",
        "DescribeInstancesResponse",
    );
    assert!(read_group_page(other_root.as_bytes()).is_err());
    let bad_port = PAGE.replace("<fromPort>6688</fromPort>", "<fromPort>66x88</fromPort>");
    assert!(read_group_page(bad_port.as_bytes()).is_err());
}

#[tokio::test]
async fn error_responses_reach_the_sdk_as_sent() {
    const ERROR: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidGroup.Malformed</Code><Message>bad filter</Message></Error></Errors><RequestID>1</RequestID></Response>"#;
    let ec2 = client_answering(400, ERROR);
    let (output, page) = call_with_reader(&ec2).await;
    let error = output
        .err()
        .map(|e| crate::aws::sdk_error("DescribeSecurityGroups", e));
    assert_eq!(
        error.map(|e| (e.code().to_string(), e.message())),
        Some((
            "InvalidGroup.Malformed".to_string(),
            "bad filter".to_string()
        ))
    );
    assert_eq!(page, None);
}

#[tokio::test]
async fn a_page_it_cannot_read_is_left_to_the_sdk() {
    // Valid XML the SDK reads, but not ending with the root's closing tag.
    const TRAILER: &str = r#"<DescribeSecurityGroupsResponse><securityGroupInfo><item><groupId>sg-0123</groupId></item></securityGroupInfo></DescribeSecurityGroupsResponse><!-- trailer -->"#;
    let ec2 = client_answering(200, TRAILER);
    let (output, page) = call_with_reader(&ec2).await;
    let output = output.expect("the call succeeds");
    assert_eq!(page, None);
    assert_eq!(output.security_groups()[0].group_id(), Some("sg-0123"));
}

mod hostile_bodies {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Whatever the bytes, the reader answers with a page or an error; a page cut short or
        /// with bytes changed never panics it.
        #[test]
        fn any_cut_or_changed_page_reads_or_fails_cleanly(
            cut in 0..PAGE.len(),
            changes in proptest::collection::vec((0..PAGE.len(), any::<u8>()), 0..8),
        ) {
            let mut body = PAGE.as_bytes()[..cut].to_vec();
            for (at, byte) in changes {
                if let Some(slot) = body.get_mut(at) {
                    *slot = byte;
                }
            }
            let _ = read_group_page(&body);
            body.extend_from_slice(b"</DescribeSecurityGroupsResponse>");
            let _ = read_group_page(&body);
        }

        #[test]
        fn arbitrary_bytes_read_or_fail_cleanly(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_group_page(&body);
        }
    }
}
