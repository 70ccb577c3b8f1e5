//! What a flow decision returns: where an admitted flow goes, or what blocked it.

use std::fmt;

use crate::model::Backend;

/// The kinds of reasons a flow is dropped (docs/behaviour.md §4-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// A security group has no rule that allows it.
    SecurityGroup,
    /// A network ACL entry (or the final `*`) denies it.
    NetworkAcl,
    /// The endpoint is not `available`.
    EndpointState,
    /// Not TCP: the endpoint carries TCP only.
    Protocol,
    /// Started by the provider's side toward the VPC.
    Direction,
    /// The service does not listen on the port.
    NoListener,
    /// The address is no ENI reachable from the initiator.
    NoRoute,
}

impl BlockKind {
    /// The spelling scenarios and flow logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecurityGroup => "security_group",
            Self::NetworkAcl => "network_acl",
            Self::EndpointState => "endpoint_state",
            Self::Protocol => "protocol",
            Self::Direction => "direction",
            Self::NoListener => "no_listener",
            Self::NoRoute => "no_route",
        }
    }

    /// Parses the spelling of [`BlockKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::SecurityGroup,
            Self::NetworkAcl,
            Self::EndpointState,
            Self::Protocol,
            Self::Direction,
            Self::NoListener,
            Self::NoRoute,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for BlockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a flow was dropped: compared by scenarios on the keys they give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedBy {
    /// What kind of check blocked it.
    pub kind: BlockKind,
    /// `ingress`/`egress` for security groups, `inbound`/`outbound` for NACLs.
    pub direction: Option<&'static str>,
    /// The NACL's name, or the security group's name when the host or ENI carries exactly one.
    pub name: Option<String>,
    /// The NACL rule number, or `*`.
    pub rule: Option<String>,
    /// The name of the subnet whose NACL blocked.
    pub subnet: Option<String>,
}

impl BlockedBy {
    /// A reason that is only a kind (state, protocol, direction, listener, route).
    pub fn kind(kind: BlockKind) -> Self {
        Self {
            kind,
            direction: None,
            name: None,
            rule: None,
            subnet: None,
        }
    }
}

impl fmt::Display for BlockedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let direction = self.direction.unwrap_or("-");
        match self.kind {
            BlockKind::SecurityGroup => match &self.name {
                Some(name) => write!(f, "security group {name} {direction}: no rule allows it"),
                None => write!(
                    f,
                    "security groups {direction}: no rule of any group allows it"
                ),
            },
            BlockKind::NetworkAcl => write!(
                f,
                "network ACL {} (subnet {}) {direction} rule {}",
                self.name.as_deref().unwrap_or("-"),
                self.subnet.as_deref().unwrap_or("-"),
                self.rule.as_deref().unwrap_or("*"),
            ),
            BlockKind::EndpointState => {
                f.write_str("endpoint state: the endpoint is not available")
            }
            BlockKind::Protocol => f.write_str("protocol: an interface endpoint carries TCP only"),
            BlockKind::Direction => {
                f.write_str("direction: the provider's side cannot start flows toward the VPC")
            }
            BlockKind::NoListener => {
                f.write_str("no listener: the service does not listen on that port")
            }
            BlockKind::NoRoute => {
                f.write_str("no route: the address is no endpoint ENI reachable from the source")
            }
        }
    }
}

/// Where an admitted flow goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// The endpoint's name.
    pub endpoint: String,
    /// The ENI's ID (`eni-...`), the interface of its flow log record.
    pub eni: String,
    /// The ENI's AZ ID: with the endpoint, it picks the token bucket.
    pub az_id: String,
    /// The consumer's subnet name (`None` for on-premises hosts).
    pub consumer_subnet: Option<String>,
    /// The ENI's subnet name.
    pub eni_subnet: String,
    /// What answers behind the service.
    pub backend: Backend,
    /// Whether consumer and ENI share an AZ (latency 50 µs, else 300 µs).
    pub same_az: bool,
}

/// The outcome of a flow decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forwarded.
    Allow(Admitted),
    /// Dropped silently, for this reason.
    Block(BlockedBy),
}

impl Verdict {
    /// The reason, if blocked.
    pub fn blocked_by(&self) -> Option<&BlockedBy> {
        match self {
            Self::Allow(_) => None,
            Self::Block(b) => Some(b),
        }
    }
}
