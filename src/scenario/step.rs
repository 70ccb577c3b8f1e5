//! Validated steps: one action, its parameters, and what it is expected to produce.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::control::{CreateEndpoint, ModifyEndpoint};
pub use crate::model::Direction;
use crate::model::{EndpointState, NaclEntry, Proto, SgRule};

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Counted from 1.
    pub index: usize,
    /// The line of the step in its file.
    pub line: usize,
    /// Its `name`, a label for the reports.
    pub name: Option<String>,
    /// What it does.
    pub action: Action,
    /// What it must produce.
    pub expect: Expect,
}

/// Who starts a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An instance or on-premises host, by name.
    Host(String),
    /// The provider's side of a service (`service:NAME`), which may not start flows.
    Service(String),
}

/// A step's action.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Resolve `name` from a host through its resolver.
    Resolve {
        /// The name, placeholders unexpanded.
        name: String,
        /// The asking host.
        from: String,
        /// The query type, upper case.
        record_type: String,
    },
    /// Open a connection (TCP) or send a probe (UDP).
    Connect {
        /// `HOST:PORT`, placeholders unexpanded.
        target: String,
        /// Who starts it.
        from: Origin,
        /// TCP or UDP.
        proto: Proto,
        /// How long to wait.
        timeout: Duration,
    },
    /// Move bytes one way over `streams` connections.
    Transfer {
        /// `HOST:PORT`, placeholders unexpanded.
        target: String,
        /// Who starts it.
        from: Origin,
        /// How many bytes in all.
        bytes: u64,
        /// Which way.
        direction: Direction,
        /// How many parallel connections.
        streams: u32,
    },
    /// Create an endpoint.
    CreateEndpoint(CreateEndpoint),
    /// Modify an endpoint.
    ModifyEndpoint {
        /// The endpoint's name.
        endpoint: String,
        /// The changes.
        change: ModifyEndpoint,
    },
    /// Delete an endpoint.
    DeleteEndpoint(String),
    /// The provider accepts an endpoint.
    Accept(String),
    /// The provider rejects an endpoint.
    Reject(String),
    /// Change a VPC's DNS attributes.
    SetVpc {
        /// The VPC's name.
        vpc: String,
        /// `enableDnsSupport`.
        dns_support: Option<bool>,
        /// `enableDnsHostnames`.
        dns_hostnames: Option<bool>,
    },
    /// Replace a security group's rules.
    SetSecurityGroup {
        /// The group's key.
        group: String,
        /// New ingress rules.
        ingress: Option<Vec<SgRule>>,
        /// New egress rules.
        egress: Option<Vec<SgRule>>,
    },
    /// Replace a network ACL's entries.
    SetNacl {
        /// The NACL's key.
        nacl: String,
        /// New inbound entries.
        inbound: Option<Vec<NaclEntry>>,
        /// New outbound entries.
        outbound: Option<Vec<NaclEntry>>,
    },
    /// Look at an endpoint.
    DescribeEndpoint(String),
    /// List a service's AZs as an account sees them.
    DescribeService {
        /// The service name or `[services]` name.
        service: String,
        /// The asking account's name.
        account: String,
    },
    /// Let simulated time pass.
    Wait(Duration),
    /// Read what a topic has received.
    Notifications(String),
}

impl Action {
    /// The action's key, as the file spells it.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Resolve { .. } => "resolve",
            Self::Connect { .. } => "connect",
            Self::Transfer { .. } => "transfer",
            Self::CreateEndpoint(_) => "create_endpoint",
            Self::ModifyEndpoint { .. } => "modify_endpoint",
            Self::DeleteEndpoint(_) => "delete_endpoint",
            Self::Accept(_) => "accept",
            Self::Reject(_) => "reject",
            Self::SetVpc { .. } => "set_vpc",
            Self::SetSecurityGroup { .. } => "set_security_group",
            Self::SetNacl { .. } => "set_nacl",
            Self::DescribeEndpoint(_) => "describe_endpoint",
            Self::DescribeService { .. } => "describe_service",
            Self::Wait(_) => "wait",
            Self::Notifications(_) => "notifications",
        }
    }
}

/// A DNS response code a step may expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// NOERROR.
    NoError,
    /// NXDOMAIN.
    NxDomain,
    /// REFUSED.
    Refused,
    /// SERVFAIL.
    ServFail,
}

impl Rcode {
    /// Parses the scenario spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "NOERROR" => Some(Self::NoError),
            "NXDOMAIN" => Some(Self::NxDomain),
            "REFUSED" => Some(Self::Refused),
            "SERVFAIL" => Some(Self::ServFail),
            _ => None,
        }
    }

    /// The scenario spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoError => "NOERROR",
            Self::NxDomain => "NXDOMAIN",
            Self::Refused => "REFUSED",
            Self::ServFail => "SERVFAIL",
        }
    }
}

/// The addresses a `resolve` step expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answers {
    /// Exactly these addresses, as a set.
    Addresses(Vec<Ipv4Addr>),
    /// Every ENI address of the endpoint.
    Endpoint(String),
    /// The endpoint's ENI in one AZ (the owner's AZ name).
    EndpointAz(String, String),
    /// The catalog's public addresses of the service whose default name was asked.
    Public,
    /// No address.
    None,
}

/// How a `connect` or `transfer` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The connection was established (UDP: a datagram came back).
    Connected,
    /// Dropped silently.
    Timeout,
    /// Reset by a real backend.
    Refused,
    /// The host name did not resolve.
    Unresolved,
    /// The transfer moved every byte.
    Completed,
}

impl Outcome {
    /// Parses the scenario spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "connected" => Some(Self::Connected),
            "timeout" => Some(Self::Timeout),
            "refused" => Some(Self::Refused),
            "unresolved" => Some(Self::Unresolved),
            "completed" => Some(Self::Completed),
            _ => None,
        }
    }

    /// The scenario spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Timeout => "timeout",
            Self::Refused => "refused",
            Self::Unresolved => "unresolved",
            Self::Completed => "completed",
        }
    }
}

/// What blocked a flow, compared on the keys given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockedBy {
    /// `security_group`, `network_acl`, `endpoint_state`, `protocol`, `direction`,
    /// `no_listener` or `no_route`.
    pub kind: Option<String>,
    /// `ingress`/`egress` or `inbound`/`outbound`.
    pub direction: Option<String>,
    /// The NACL's or security group's name.
    pub name: Option<String>,
    /// A NACL rule number, or `*`.
    pub rule: Option<String>,
    /// The subnet whose NACL blocked.
    pub subnet: Option<String>,
}

/// The kinds `blocked_by.kind` may name.
pub const BLOCK_KINDS: &[&str] = &[
    "security_group",
    "network_acl",
    "endpoint_state",
    "protocol",
    "direction",
    "no_listener",
    "no_route",
];

/// What a step must produce; only the keys given are checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// The DNS response code.
    pub rcode: Option<Rcode>,
    /// The answer addresses.
    pub answers: Option<Answers>,
    /// How many addresses (or, for `describe_endpoint`, see `dns_names`).
    pub count: Option<u64>,
    /// The TTL of the address records.
    pub ttl: Option<u32>,
    /// How a connect or transfer ended.
    pub outcome: Option<Outcome>,
    /// Why a flow was blocked.
    pub blocked_by: Option<BlockedBy>,
    /// Payload throughput in Gbit/s.
    pub gbps: Option<f64>,
    /// Duration in simulated seconds.
    pub seconds: Option<f64>,
    /// Relative tolerance for `gbps` and `seconds`.
    pub tolerance: f64,
    /// Whether a control-plane action succeeded.
    pub ok: Option<bool>,
    /// The error code it failed with.
    pub error: Option<String>,
    /// The endpoint state reported.
    pub state: Option<EndpointState>,
    /// How many DNS entries the endpoint lists.
    pub dns_names: Option<u64>,
    /// Whether private DNS is on.
    pub private_dns: Option<bool>,
    /// How many subnets the endpoint has.
    pub subnets: Option<u64>,
    /// AZ names, order ignored.
    pub azs: Option<Vec<String>>,
    /// Notification events received so far, in order.
    pub events: Option<Vec<String>>,
}

impl Default for Expect {
    fn default() -> Self {
        Self {
            rcode: None,
            answers: None,
            count: None,
            ttl: None,
            outcome: None,
            blocked_by: None,
            gbps: None,
            seconds: None,
            tolerance: 0.02,
            ok: None,
            error: None,
            state: None,
            dns_names: None,
            private_dns: None,
            subnets: None,
            azs: None,
            events: None,
        }
    }
}
