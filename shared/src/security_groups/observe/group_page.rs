//! DescribeSecurityGroups pages read straight into domain types, without the SDK's structures.
//!
//! The SDK deserializes a page into its own model (about 2.7 KB per group: every field an
//! owned `String` in its own `Option`) while the raw body is still held, then the engine copies
//! what it needs out of that model. At thousands of groups that pair is most of the process's
//! peak memory (heaptrack, 5,000 groups: 5 MB of body and 13.5 MB of SDK structures alive at
//! once). So for this one operation an interceptor takes the response body as it arrives, reads
//! it into `TaggedGroup`s with the same XML decoder and element names the SDK uses, and hands the
//! SDK an empty page instead.
//!
//! The SDK stays the fallback: error responses are never touched (its error parsing and retry
//! classification see them as sent), and a body this reader cannot read is passed on unchanged,
//! so the SDK parses it, or fails on it, exactly as it would have.

use super::{permission_ports, tagged_group_from_sdk, TaggedGroup};
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_xml::decode::{try_data, Document, ScopedDecoder, XmlDecodeError};
use bytes::Bytes;
use domain::ids::{RoleName, SecurityGroupId, StackName, VpcId, ROLE_TAG, STACK_TAG};
use domain::net::{Peer, Protocol, Rule};
use domain::security_groups::observed::ObservedGroup;
use http_body::{Body, Frame};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};

/// One page of groups, as this reader found it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupPage {
    pub groups: Vec<TaggedGroup>,
    pub next_token: Option<String>,
}

impl GroupPage {
    /// The page the SDK parsed itself, when this reader left it the body.
    pub fn from_sdk(output: &DescribeSecurityGroupsOutput) -> Self {
        Self {
            groups: output
                .security_groups()
                .iter()
                .filter_map(tagged_group_from_sdk)
                .collect(),
            next_token: output.next_token().map(String::from),
        }
    }
}

/// What the SDK is given in place of a page this reader has taken.
const EMPTY_PAGE: &[u8] = b"<DescribeSecurityGroupsResponse \
    xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"></DescribeSecurityGroupsResponse>";

/// The most bytes reserved up front from a `Content-Length` header: a larger body still reads,
/// growing as it arrives, but a wrong header cannot make the process reserve gigabytes.
const MAX_RESERVED: usize = 64 << 20;

/// Reads the groups of one DescribeSecurityGroups call. Attach it to a single call with
/// `customize().interceptor(..)`, then `take` the page once the call has succeeded; `None` means
/// the SDK parsed the page itself, and its output holds the groups.
#[derive(Clone, Debug, Default)]
pub struct GroupPageReader {
    page: Arc<Mutex<Option<GroupPage>>>,
}

impl GroupPageReader {
    pub fn take(&self) -> Option<GroupPage> {
        self.page
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Intercept for GroupPageReader {
    fn name(&self) -> &'static str {
        "GroupPageReader"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        if !response.status().is_success() {
            return Ok(());
        }
        let reserve = response
            .headers()
            .get("content-length")
            .and_then(|length| length.parse::<usize>().ok())
            .map_or(0, |length| length.min(MAX_RESERVED));
        let body = response.take_body();
        *response.body_mut() = SdkBody::from_body_1_x(ReadingBody {
            inner: body,
            buffer: Vec::with_capacity(reserve),
            page: Arc::clone(&self.page),
            finished: false,
        });
        Ok(())
    }
}

/// The response body as the SDK sees it: the whole original body is read, then replaced by an
/// empty page when this reader could read it, or passed on as it was when not.
struct ReadingBody {
    inner: SdkBody,
    buffer: Vec<u8>,
    page: Arc<Mutex<Option<GroupPage>>>,
    finished: bool,
}

impl Body for ReadingBody {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        while let Some(frame) = ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            // Trailers carry nothing the page needs; a transport error ends the attempt, and the
            // SDK's retry starts a new body.
            if let Ok(data) = frame?.into_data() {
                this.buffer.extend_from_slice(&data);
            }
        }
        this.finished = true;
        let body = std::mem::take(&mut this.buffer);
        let handed_on = match read_group_page(&body) {
            Ok(page) => {
                *this.page.lock().unwrap_or_else(PoisonError::into_inner) = Some(page);
                Bytes::from_static(EMPTY_PAGE)
            }
            Err(error) => {
                tracing::debug!(%error, "security-group page left to the SDK's parser");
                Bytes::from(body)
            }
        };
        Poll::Ready(Some(Ok(Frame::data(handed_on))))
    }
}

/// Reads a DescribeSecurityGroups response body. The element names and decoding are the SDK's
/// (`aws-sdk-ec2`'s `de_describe_security_groups`); unlike it, a body that stops before its
/// closing root tag is an error rather than a shorter list.
pub fn read_group_page(body: &[u8]) -> Result<GroupPage, XmlDecodeError> {
    const ROOT: &str = "DescribeSecurityGroupsResponse";
    let closed = body
        .trim_ascii_end()
        .strip_suffix(b">")
        .is_some_and(|rest| rest.ends_with(ROOT.as_bytes()));
    if !closed {
        return Err(XmlDecodeError::custom(format!(
            "the body does not end with </{ROOT}>"
        )));
    }
    let mut document = Document::try_from(body)?;
    let mut root = document.root_element()?;
    if root.start_el().local() != ROOT {
        return Err(XmlDecodeError::custom(format!(
            "expected the root {ROOT}, found {:?}",
            root.start_el().local()
        )));
    }
    let mut page = GroupPage::default();
    while let Some(mut element) = root.next_tag() {
        match element.start_el().local() {
            "nextToken" => page.next_token = Some(try_data(&mut element)?.into_owned()),
            "securityGroupInfo" => {
                while let Some(mut item) = element.next_tag() {
                    if item.start_el().local() == "item" {
                        page.groups.extend(read_group(&mut item)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(page)
}

// Element names are matched on their local part, as the SDK's `StartEl::matches` does for a
// name without a prefix; a `match` on it is also far cheaper than a chain of `matches` calls,
// which showed as the process's largest CPU cost (memcmp) at thousands of groups.

/// One `<item>` of `securityGroupInfo`; `None` without a group ID, as `tagged_group_from_sdk`.
fn read_group(item: &mut ScopedDecoder) -> Result<Option<TaggedGroup>, XmlDecodeError> {
    let (mut id, mut name, mut vpc) = (None, None, None);
    let (mut ingress, mut egress) = (Vec::new(), Vec::new());
    let (mut stack, mut role) = (None, None);
    while let Some(mut field) = item.next_tag() {
        match field.start_el().local() {
            "groupId" => id = Some(SecurityGroupId::new(try_data(&mut field)?)),
            "groupName" => name = Some(try_data(&mut field)?.into_owned()),
            "vpcId" => vpc = Some(VpcId::new(try_data(&mut field)?)),
            "ipPermissions" => read_permissions(&mut field, &mut ingress)?,
            "ipPermissionsEgress" => read_permissions(&mut field, &mut egress)?,
            "tagSet" => {
                while let Some(mut tag) = field.next_tag() {
                    if tag.start_el().local() != "item" {
                        continue;
                    }
                    let (key, value) = read_tag(&mut tag)?;
                    // The first tag of a key wins, as `observe::tag` finds it.
                    match key.as_deref() {
                        Some(STACK_TAG) if stack.is_none() => stack = Some(value),
                        Some(ROLE_TAG) if role.is_none() => role = Some(value),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let Some(id) = id else {
        return Ok(None);
    };
    // Kept for the whole run, for every group of the account: no slack from growth.
    ingress.shrink_to_fit();
    egress.shrink_to_fit();
    Ok(Some(TaggedGroup {
        stack: stack.flatten().map(StackName::new),
        group: ObservedGroup {
            id,
            name: name.unwrap_or_default(),
            vpc,
            role: role.flatten().as_deref().and_then(RoleName::parse),
            ingress,
            egress,
        },
    }))
}

/// A tag's key and value (either may be absent).
fn read_tag(tag: &mut ScopedDecoder) -> Result<(Option<String>, Option<String>), XmlDecodeError> {
    let (mut key, mut value) = (None, None);
    while let Some(mut field) = tag.next_tag() {
        match field.start_el().local() {
            "key" => key = Some(try_data(&mut field)?.into_owned()),
            "value" => value = Some(try_data(&mut field)?.into_owned()),
            _ => {}
        }
    }
    Ok((key, value))
}

/// An `ipPermissions` list, flattened to single-peer rules as `rules_from_permission` does.
fn read_permissions(list: &mut ScopedDecoder, rules: &mut Vec<Rule>) -> Result<(), XmlDecodeError> {
    while let Some(mut item) = list.next_tag() {
        if item.start_el().local() == "item" {
            read_permission(&mut item, rules)?;
        }
    }
    Ok(())
}

fn read_permission(item: &mut ScopedDecoder, rules: &mut Vec<Rule>) -> Result<(), XmlDecodeError> {
    let (mut protocol, mut from, mut to) = (None, None, None);
    // Peers in the SDK's order whatever the elements' order: IPv4, IPv6, groups, prefix lists.
    let (mut cidrs, mut cidrs_v6, mut groups, mut prefix_lists) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let cidr = |raw: &str| raw.parse().ok().map(Peer::Cidr);
    while let Some(mut field) = item.next_tag() {
        match field.start_el().local() {
            "ipProtocol" => protocol = Protocol::from_aws(&try_data(&mut field)?),
            "fromPort" => from = Some(read_port(&mut field)?),
            "toPort" => to = Some(read_port(&mut field)?),
            "ipRanges" => for_each_item_value(&mut field, "cidrIp", |raw| {
                cidrs.extend(cidr(raw));
            })?,
            "ipv6Ranges" => for_each_item_value(&mut field, "cidrIpv6", |raw| {
                cidrs_v6.extend(cidr(raw));
            })?,
            "groups" => for_each_item_value(&mut field, "groupId", |id| {
                groups.push(Peer::Group(SecurityGroupId::new(id)));
            })?,
            "prefixListIds" => for_each_item_value(&mut field, "prefixListId", |id| {
                prefix_lists.push(Peer::PrefixList(id.to_string()));
            })?,
            _ => {}
        }
    }
    let Some(protocol) = protocol else {
        return Ok(());
    };
    let ports = permission_ports(protocol, from, to);
    let peers = cidrs
        .into_iter()
        .chain(cidrs_v6)
        .chain(groups)
        .chain(prefix_lists);
    rules.extend(peers.map(|peer| Rule {
        protocol,
        ports,
        peer,
    }));
    Ok(())
}

/// A port as the SDK parses an EC2 `Integer`: a failure is an error, not a missing port.
fn read_port(field: &mut ScopedDecoder) -> Result<i32, XmlDecodeError> {
    let text = try_data(field)?;
    text.parse()
        .map_err(|_| XmlDecodeError::custom(format!("expected an integer port, found {text:?}")))
}

/// Calls `each` with the `wanted` field of every `<item>` of a list (`ipRanges` → each
/// `cidrIp`), borrowed from the body unless it had to be unescaped.
fn for_each_item_value(
    list: &mut ScopedDecoder,
    wanted: &str,
    mut each: impl FnMut(&str),
) -> Result<(), XmlDecodeError> {
    while let Some(mut item) = list.next_tag() {
        if item.start_el().local() != "item" {
            continue;
        }
        while let Some(mut field) = item.next_tag() {
            if field.start_el().local() == wanted {
                each(&try_data(&mut field)?);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
