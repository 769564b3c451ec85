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

use super::{tagged_group_from_sdk, TaggedGroup};
use crate::ids::{RoleName, SecurityGroupId, StackName, VpcId, ROLE_TAG, STACK_TAG};
use crate::net::{Peer, PortRange, Protocol, Rule};
use crate::observed::ObservedGroup;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_xml::decode::{try_data, Document, ScopedDecoder, XmlDecodeError};
use bytes::Bytes;
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
    if !root.start_el().matches(ROOT) {
        return Err(XmlDecodeError::custom(format!(
            "expected the root {ROOT}, found {:?}",
            root.start_el().local()
        )));
    }
    let mut page = GroupPage::default();
    while let Some(mut element) = root.next_tag() {
        if element.start_el().matches("nextToken") {
            page.next_token = Some(try_data(&mut element)?.into_owned());
        } else if element.start_el().matches("securityGroupInfo") {
            while let Some(mut item) = element.next_tag() {
                if item.start_el().matches("item") {
                    if let Some(group) = read_group(&mut item)? {
                        page.groups.push(group);
                    }
                }
            }
        }
    }
    Ok(page)
}

/// One `<item>` of `securityGroupInfo`; `None` without a group ID, as `tagged_group_from_sdk`.
fn read_group(item: &mut ScopedDecoder) -> Result<Option<TaggedGroup>, XmlDecodeError> {
    let (mut id, mut name, mut vpc) = (None, None, None);
    let (mut ingress, mut egress) = (Vec::new(), Vec::new());
    let (mut stack, mut role) = (None, None);
    while let Some(mut field) = item.next_tag() {
        let element = field.start_el();
        if element.matches("groupId") {
            id = Some(SecurityGroupId::new(try_data(&mut field)?));
        } else if element.matches("groupName") {
            name = Some(try_data(&mut field)?.into_owned());
        } else if element.matches("vpcId") {
            vpc = Some(VpcId::new(try_data(&mut field)?));
        } else if element.matches("ipPermissions") {
            read_permissions(&mut field, &mut ingress)?;
        } else if element.matches("ipPermissionsEgress") {
            read_permissions(&mut field, &mut egress)?;
        } else if element.matches("tagSet") {
            while let Some(mut tag) = field.next_tag() {
                if !tag.start_el().matches("item") {
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
        if field.start_el().matches("key") {
            key = Some(try_data(&mut field)?.into_owned());
        } else if field.start_el().matches("value") {
            value = Some(try_data(&mut field)?.into_owned());
        }
    }
    Ok((key, value))
}

/// An `ipPermissions` list, flattened to single-peer rules as `rules_from_permission` does.
fn read_permissions(list: &mut ScopedDecoder, rules: &mut Vec<Rule>) -> Result<(), XmlDecodeError> {
    while let Some(mut item) = list.next_tag() {
        if item.start_el().matches("item") {
            read_permission(&mut item, rules)?;
        }
    }
    Ok(())
}

fn read_permission(item: &mut ScopedDecoder, rules: &mut Vec<Rule>) -> Result<(), XmlDecodeError> {
    let (mut protocol, mut from, mut to) = (None, None, None);
    let (mut cidrs, mut cidrs_v6, mut groups, mut prefix_lists) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while let Some(mut field) = item.next_tag() {
        let element = field.start_el();
        if element.matches("ipProtocol") {
            protocol = Some(try_data(&mut field)?.into_owned());
        } else if element.matches("fromPort") {
            from = Some(read_port(&mut field)?);
        } else if element.matches("toPort") {
            to = Some(read_port(&mut field)?);
        } else if element.matches("ipRanges") {
            read_list_values(&mut field, "cidrIp", &mut cidrs)?;
        } else if element.matches("ipv6Ranges") {
            read_list_values(&mut field, "cidrIpv6", &mut cidrs_v6)?;
        } else if element.matches("groups") {
            read_list_values(&mut field, "groupId", &mut groups)?;
        } else if element.matches("prefixListIds") {
            read_list_values(&mut field, "prefixListId", &mut prefix_lists)?;
        }
    }
    let Some(protocol) = protocol.as_deref().and_then(Protocol::from_aws) else {
        return Ok(());
    };
    let ports = if protocol.has_ports() {
        let port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
        match (port(from), port(to)) {
            (Some(from), Some(to)) => PortRange::new(from, to),
            _ => Some(PortRange::ALL),
        }
    } else {
        None
    };
    let peers = cidrs
        .iter()
        .chain(&cidrs_v6)
        .filter_map(|raw| raw.parse().ok())
        .map(Peer::Cidr)
        .chain(
            groups
                .into_iter()
                .map(|id| Peer::Group(SecurityGroupId::new(id))),
        )
        .chain(prefix_lists.into_iter().map(Peer::PrefixList));
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
    text.trim()
        .parse()
        .map_err(|_| XmlDecodeError::custom(format!("expected an integer port, found {text:?}")))
}

/// The `wanted` field of each `<item>` in a list (`ipRanges` → every `cidrIp`).
fn read_list_values(
    list: &mut ScopedDecoder,
    wanted: &str,
    values: &mut Vec<String>,
) -> Result<(), XmlDecodeError> {
    while let Some(mut item) = list.next_tag() {
        if !item.start_el().matches("item") {
            continue;
        }
        while let Some(mut field) = item.next_tag() {
            if field.start_el().matches(wanted) {
                values.push(try_data(&mut field)?.into_owned());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
