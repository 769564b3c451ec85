//! Network primitives shared by the stack file, the observed state and the plan: protocols, port
//! ranges, rule peers and single-peer security-group rules.
//!
//! AWS groups several peers under one `IpPermission`; the engine flattens them so that each
//! rule has exactly one peer and can be covered, revoked or reported on its own.

use crate::ids::SecurityGroupId;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An IP protocol as security groups and network ACLs name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// `-1`: every protocol and every port.
    All,
    /// Any other protocol, by IANA number.
    #[serde(untagged)]
    Number(u8),
}

impl Protocol {
    /// Parses AWS's spelling: a name (`tcp`) or a number (`6`, `-1`).
    pub fn from_aws(raw: &str) -> Option<Self> {
        Some(match raw.to_ascii_lowercase().as_str() {
            "tcp" | "6" => Self::Tcp,
            "udp" | "17" => Self::Udp,
            "icmp" | "1" => Self::Icmp,
            "icmpv6" | "58" => Self::Icmpv6,
            "-1" | "all" => Self::All,
            other => Self::Number(other.parse().ok()?),
        })
    }

    /// The spelling the EC2 API expects in an `IpPermission`.
    pub fn to_aws(self) -> String {
        match self {
            Self::Tcp => "tcp".into(),
            Self::Udp => "udp".into(),
            Self::Icmp => "icmp".into(),
            Self::Icmpv6 => "icmpv6".into(),
            Self::All => "-1".into(),
            Self::Number(n) => n.to_string(),
        }
    }

    /// Whether ports mean anything for this protocol (ICMP uses the fields for type and code).
    pub fn has_ports(self) -> bool {
        matches!(self, Self::Tcp | Self::Udp)
    }

    /// Whether a rule of protocol `self` admits traffic of protocol `traffic`.
    pub fn admits(self, traffic: Protocol) -> bool {
        self == Self::All || self == traffic
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            other => f.write_str(&other.to_aws()),
        }
    }
}

/// An inclusive range of ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

impl PortRange {
    pub const ALL: PortRange = PortRange { from: 0, to: 65535 };
    /// Where return traffic of a TCP/UDP connection lands: stateless ACLs must admit it.
    pub const EPHEMERAL: PortRange = PortRange {
        from: 1024,
        to: 65535,
    };

    pub fn single(port: u16) -> Self {
        Self {
            from: port,
            to: port,
        }
    }

    pub fn new(from: u16, to: u16) -> Option<Self> {
        (from <= to).then_some(Self { from, to })
    }

    pub fn contains(self, other: PortRange) -> bool {
        self.from <= other.from && other.to <= self.to
    }

    pub fn overlaps(self, other: PortRange) -> bool {
        self.from <= other.to && other.from <= self.to
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from == self.to {
            write!(f, "{}", self.from)
        } else {
            write!(f, "{}-{}", self.from, self.to)
        }
    }
}

impl FromStr for PortRange {
    type Err = String;

    /// `"5432"` or `"30000-30100"`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let port = |s: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|_| format!("{s:?} is not a port (0-65535)"))
        };
        match raw.split_once('-') {
            None => port(raw).map(Self::single),
            Some((from, to)) => {
                let (from, to) = (port(from)?, port(to)?);
                Self::new(from, to).ok_or_else(|| format!("range {raw:?} ends before it starts"))
            }
        }
    }
}

/// The other end of a security-group rule: where ingress traffic comes from, or where egress
/// traffic goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    Cidr(IpNet),
    Group(SecurityGroupId),
    /// `pl-…`: managed prefix lists are never required nor forbidden here, only reported.
    PrefixList(String),
}

impl Peer {
    /// `0.0.0.0/0` or `::/0`: the whole internet.
    pub fn is_world(&self) -> bool {
        matches!(self, Self::Cidr(net) if net.prefix_len() == 0)
    }

    /// Whether a rule naming `self` admits everything that a rule naming `other` would.
    pub fn covers(&self, other: &Peer) -> bool {
        match (self, other) {
            (Self::Cidr(outer), Self::Cidr(inner)) => outer.contains(inner),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cidr(net) => write!(f, "{net}"),
            Self::Group(id) => write!(f, "{id}"),
            Self::PrefixList(id) => f.write_str(id),
        }
    }
}

/// One security-group permission with exactly one peer: the source of an ingress rule, the
/// destination of an egress rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rule {
    pub protocol: Protocol,
    /// `None` when the protocol carries no ports (all-traffic, ICMP, other numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<PortRange>,
    pub peer: Peer,
}

impl Rule {
    /// The ports this rule opens for `protocol`: all of them for all-traffic rules.
    fn open_ports_for(&self, protocol: Protocol) -> Option<PortRange> {
        if !self.protocol.admits(protocol) {
            return None;
        }
        match self.protocol {
            Protocol::All => Some(PortRange::ALL),
            _ => self.ports,
        }
    }

    /// Whether this rule admits `protocol`/`ports` traffic with `peer` at the other end.
    pub fn admits(&self, protocol: Protocol, ports: PortRange, peer: &Peer) -> bool {
        self.peer.covers(peer)
            && self
                .open_ports_for(protocol)
                .is_some_and(|open| open.contains(ports))
    }

    /// Whether this rule opens any of `ports` for `protocol` from any source.
    pub fn opens_any(&self, protocol: Protocol, ports: PortRange) -> bool {
        self.open_ports_for(protocol)
            .is_some_and(|open| open.overlaps(ports))
    }
}

impl Rule {
    /// `way` is "from" for ingress and "to" for egress.
    fn describe(&self, way: &str) -> String {
        match (self.protocol, self.ports) {
            (Protocol::All, _) => format!("all traffic {way} {}", self.peer),
            (protocol, Some(ports)) => format!("{protocol} {ports} {way} {}", self.peer),
            (protocol, None) => format!("{protocol} {way} {}", self.peer),
        }
    }

    /// Shows the rule as an egress rule: its peer is a destination.
    pub fn as_egress(&self) -> String {
        self.describe("to")
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("from"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(raw: &str) -> Peer {
        Peer::Cidr(raw.parse().unwrap_or_else(|e| panic!("{raw}: {e}")))
    }

    fn rule(protocol: Protocol, ports: Option<(u16, u16)>, peer: Peer) -> Rule {
        Rule {
            protocol,
            ports: ports.map(|(from, to)| PortRange { from, to }),
            peer,
        }
    }

    #[test]
    fn port_ranges_parse_and_reject_nonsense() {
        assert_eq!("5432".parse(), Ok(PortRange::single(5432)));
        assert_eq!(
            "30000-30100".parse(),
            Ok(PortRange {
                from: 30000,
                to: 30100
            })
        );
        for bad in ["", "65536", "x", "10-5", "-1"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn protocols_parse_aws_names_and_numbers() {
        assert_eq!(Protocol::from_aws("-1"), Some(Protocol::All));
        assert_eq!(Protocol::from_aws("6"), Some(Protocol::Tcp));
        assert_eq!(Protocol::from_aws("TCP"), Some(Protocol::Tcp));
        assert_eq!(Protocol::from_aws("50"), Some(Protocol::Number(50)));
        assert_eq!(Protocol::from_aws("bogus"), None);
    }

    #[test]
    fn admission_follows_protocol_ports_and_source() {
        let from_ops = cidr("10.20.0.0/16");
        let cases = [
            (
                rule(Protocol::Tcp, Some((6688, 6688)), cidr("10.20.0.0/16")),
                true,
            ),
            (
                rule(Protocol::Tcp, Some((6000, 7000)), cidr("10.0.0.0/8")),
                true,
            ),
            (rule(Protocol::All, None, cidr("0.0.0.0/0")), true),
            (
                rule(Protocol::Udp, Some((6688, 6688)), cidr("10.20.0.0/16")),
                false,
            ),
            (
                rule(Protocol::Tcp, Some((6689, 6689)), cidr("10.20.0.0/16")),
                false,
            ),
            (
                rule(Protocol::Tcp, Some((6688, 6688)), cidr("10.20.1.0/24")),
                false,
            ),
            (rule(Protocol::Tcp, Some((6688, 6688)), cidr("::/0")), false),
        ];
        for (rule, expected) in cases {
            assert_eq!(
                rule.admits(Protocol::Tcp, PortRange::single(6688), &from_ops),
                expected,
                "{rule}"
            );
        }
    }

    #[test]
    fn world_means_a_zero_length_prefix_in_either_family() {
        assert!(cidr("0.0.0.0/0").is_world());
        assert!(cidr("::/0").is_world());
        assert!(!cidr("0.0.0.0/1").is_world());
    }

    #[test]
    fn wide_and_all_traffic_rules_open_forbidden_ports() {
        let world = cidr("::/0");
        let ssh = PortRange::single(22);
        assert!(rule(Protocol::Tcp, Some((0, 65535)), world.clone()).opens_any(Protocol::Tcp, ssh));
        assert!(rule(Protocol::All, None, world.clone()).opens_any(Protocol::Tcp, ssh));
        assert!(!rule(Protocol::Icmp, Some((8, 0)), world.clone()).opens_any(Protocol::Tcp, ssh));
        assert!(!rule(Protocol::Tcp, Some((80, 443)), world).opens_any(Protocol::Tcp, ssh));
    }
}
