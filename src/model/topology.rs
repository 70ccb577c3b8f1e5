//! The objects of one simulated Region, keyed by the names a scenario gives them.
//!
//! Collections are `IndexMap`s so that every iteration follows file (or creation) order,
//! which keeps allocation, output and DNS answers deterministic.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use super::net::{PortRange, Proto, RuleAction};
use super::region::Region;

/// An AWS account and how it names the Region's Availability Zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The name the scenario gives it.
    pub name: String,
    /// The 12-digit account ID.
    pub id: String,
    /// AZ name (`us-east-1a`) to AZ ID (`use1-az2`), in name order. AZ names are per
    /// account; AZ IDs are the same physical zone for everyone.
    pub az_ids: IndexMap<String, String>,
    /// Access key IDs that act as this account in the EC2 API.
    pub access_keys: Vec<String>,
}

impl Account {
    /// The AZ ID this account's AZ `name` maps to.
    pub fn az_id(&self, name: &str) -> Option<&str> {
        self.az_ids.get(name).map(String::as_str)
    }

    /// This account's name for the AZ with ID `id`.
    pub fn az_name(&self, id: &str) -> Option<&str> {
        self.az_ids
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.as_str())
    }

    /// The account's AZ map: the Region's six default zones, overridden by `explicit`.
    ///
    /// A default name whose default ID an explicit entry already claims takes the lowest
    /// unclaimed ID instead, so the map stays one-to-one as AWS's always is.
    pub fn build_az_map(
        region: &Region,
        explicit: &IndexMap<String, String>,
    ) -> IndexMap<String, String> {
        let mut names: Vec<String> = region.default_az_names();
        for name in explicit.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names.sort();
        let claimed: Vec<&String> = explicit.values().collect();
        let mut defaults_taken: Vec<String> = Vec::new();
        let mut map = IndexMap::new();
        let mut displaced = Vec::new();
        for name in &names {
            if let Some(id) = explicit.get(name) {
                map.insert(name.clone(), id.clone());
                continue;
            }
            match region.default_az_id(name) {
                Some(id) if !claimed.contains(&&id) => {
                    defaults_taken.push(id.clone());
                    map.insert(name.clone(), id);
                }
                _ => {
                    map.insert(name.clone(), String::new());
                    displaced.push(name.clone());
                }
            }
        }
        let prefix = region.az_id_prefix();
        let mut spare = (1..)
            .map(|n| format!("{prefix}-az{n}"))
            .filter(|id| !claimed.contains(&id) && !defaults_taken.contains(id));
        for name in displaced {
            if let Some(id) = spare.next() {
                map.insert(name, id);
            }
        }
        map
    }
}

/// A VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    /// The scenario's name for it.
    pub name: String,
    /// `vpc-...`
    pub id: String,
    /// The owning account's name.
    pub account: String,
    /// The primary IPv4 CIDR.
    pub cidr: Ipv4Net,
    /// `enableDnsSupport`: without it the VPC has no resolver.
    pub dns_support: bool,
    /// `enableDnsHostnames`: private DNS needs it.
    pub dns_hostnames: bool,
}

impl Vpc {
    /// The Amazon-provided resolver's address: the CIDR base plus two.
    pub fn resolver_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.cidr.network()) + 2)
    }

    /// The link-local resolver address every VPC also answers on.
    pub const LINK_LOCAL_RESOLVER: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 253);
}

/// A subnet in one Availability Zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// The scenario's name for it.
    pub name: String,
    /// `subnet-...`
    pub id: String,
    /// The VPC's name.
    pub vpc: String,
    /// The subnet's IPv4 CIDR.
    pub cidr: Ipv4Net,
    /// The AZ name in the VPC owner's account.
    pub az_name: String,
    /// The AZ ID.
    pub az_id: String,
    /// The key of its network ACL.
    pub nacl: String,
}

impl Subnet {
    /// AWS reserves the first four addresses and the last one of every subnet.
    pub fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        let offset = u32::from(ip).wrapping_sub(u32::from(self.cidr.network()));
        offset < 4 || ip == self.cidr.broadcast()
    }

    /// The addresses instances and ENIs may use, lowest first.
    pub fn usable(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let first = u32::from(self.cidr.network()) + 4;
        let last = u32::from(self.cidr.broadcast()).saturating_sub(1);
        (first..=last).map(Ipv4Addr::from)
    }
}

/// Who a security group rule lets in (ingress) or out to (egress).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Peer {
    /// An IPv4 CIDR.
    Cidr(Ipv4Net),
    /// The addresses of every instance and ENI that carries this group (its key).
    Group(String),
}

/// One allow rule of a security group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SgRule {
    /// The protocol.
    pub proto: Proto,
    /// The ports (every port for `all` and `icmp`).
    pub ports: PortRange,
    /// The peer.
    pub peer: Peer,
}

/// A security group: stateful allow rules on ENIs and instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    /// The key scenarios resolve to: the table name, or `VPC/default` for a VPC's implicit group.
    pub key: String,
    /// `GroupName`: the table name, or `default`.
    pub name: String,
    /// `sg-...`
    pub id: String,
    /// The VPC's name.
    pub vpc: String,
    /// Inbound allow rules.
    pub ingress: Vec<SgRule>,
    /// Outbound allow rules.
    pub egress: Vec<SgRule>,
}

/// One numbered entry of a network ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaclEntry {
    /// The rule number, 1 to 32766; lower numbers are evaluated first.
    pub rule: u16,
    /// The protocol.
    pub proto: Proto,
    /// The ports (every port for `all` and `icmp`).
    pub ports: PortRange,
    /// The source (inbound) or destination (outbound) CIDR.
    pub cidr: Ipv4Net,
    /// Allow or deny.
    pub action: RuleAction,
}

/// A network ACL: stateless, ordered rules at the subnet boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nacl {
    /// The key scenarios resolve to: the table name, or `VPC/default`.
    pub key: String,
    /// The table name, or `default`.
    pub name: String,
    /// `acl-...`
    pub id: String,
    /// The VPC's name.
    pub vpc: String,
    /// Inbound entries, sorted by rule number.
    pub inbound: Vec<NaclEntry>,
    /// Outbound entries, sorted by rule number.
    pub outbound: Vec<NaclEntry>,
}

/// A consumer host in a subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The scenario's name for it.
    pub name: String,
    /// `i-...`
    pub id: String,
    /// The subnet's name.
    pub subnet: String,
    /// Its private address.
    pub ip: Ipv4Addr,
    /// Keys of the security groups it carries.
    pub security_groups: Vec<String>,
}

/// How an on-premises network reaches its VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attachment {
    /// A Site-to-Site VPN.
    Vpn,
    /// AWS Direct Connect.
    DirectConnect,
}

/// An on-premises network attached to one VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnPremNetwork {
    /// The scenario's name for it.
    pub name: String,
    /// Its address range.
    pub cidr: Ipv4Net,
    /// The VPC it is attached to.
    pub vpc: String,
    /// How.
    pub via: Attachment,
    /// Host name to address.
    pub hosts: IndexMap<String, Ipv4Addr>,
}

/// What answers behind an endpoint service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Returns what it receives.
    Echo,
    /// Reads and discards.
    Sink,
    /// Writes without end.
    Source,
    /// A real server on loopback (in `serve`; `echo` inside `run`).
    Addr(SocketAddr),
}

impl Backend {
    /// Parses `echo`, `sink`, `source` or a loopback `HOST:PORT`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "echo" => Ok(Self::Echo),
            "sink" => Ok(Self::Sink),
            "source" => Ok(Self::Source),
            _ => {
                let addr: SocketAddr = s.parse().map_err(|_| {
                    format!("backend `{s}` is not `echo`, `sink`, `source` or an address like 127.0.0.1:9443")
                })?;
                if !addr.ip().is_loopback() {
                    return Err(format!(
                        "backend `{s}` is not on loopback: vpcesim only forwards to 127.0.0.0/8 or ::1"
                    ));
                }
                Ok(Self::Addr(addr))
            }
        }
    }
}

/// A provider's endpoint service (behind a Network Load Balancer in AWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointService {
    /// The scenario's name for it.
    pub name: String,
    /// `vpce-svc-...`
    pub id: String,
    /// `com.amazonaws.vpce.<region>.vpce-svc-...`
    pub service_name: String,
    /// The provider account's name.
    pub account: String,
    /// Whether the provider must accept each endpoint.
    pub acceptance_required: bool,
    /// AZ IDs where the provider's load balancer has zones.
    pub az_ids: Vec<String>,
    /// TCP ports it listens on.
    pub ports: Vec<u16>,
    /// The custom private DNS name, if any.
    pub private_dns_name: Option<String>,
    /// An AWS Marketplace partner service.
    pub marketplace: bool,
    /// What answers behind it.
    pub backend: Backend,
}

/// The lifecycle states of an interface endpoint, in AWS's wire spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointState {
    /// Waiting for the provider to accept.
    PendingAcceptance,
    /// Accepted, being provisioned.
    Pending,
    /// Serving traffic.
    Available,
    /// Rejected by the provider.
    Rejected,
    /// Provisioning failed (API fidelity only; never simulated).
    Failed,
    /// Being deleted.
    Deleting,
    /// Deleted; still listed.
    Deleted,
}

impl EndpointState {
    /// AWS's spelling on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingAcceptance => "pendingAcceptance",
            Self::Pending => "pending",
            Self::Available => "available",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
        }
    }

    /// Parses AWS's spelling, in any case (Terraform sees both `Pending` and `pending`).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::PendingAcceptance,
            Self::Pending,
            Self::Available,
            Self::Rejected,
            Self::Failed,
            Self::Deleting,
            Self::Deleted,
        ]
        .into_iter()
        .find(|state| state.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether the endpoint's ENIs and vpce names still exist.
    pub fn has_enis(self) -> bool {
        !matches!(self, Self::Deleting | Self::Deleted)
    }
}

impl std::fmt::Display for EndpointState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which service an endpoint connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceRef {
    /// A built-in AWS service, by its full service name.
    Aws(String),
    /// A provider's endpoint service, by its scenario name.
    Provider(String),
}

/// An interface VPC endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The scenario's name for it (its ID when created through the API).
    pub name: String,
    /// `vpce-...`
    pub id: String,
    /// The VPC's name.
    pub vpc: String,
    /// The owner (consumer) account's name.
    pub account: String,
    /// The service.
    pub service: ServiceRef,
    /// The service's full name.
    pub service_name: String,
    /// Subnet names, in the order given; one ENI each.
    pub subnets: Vec<String>,
    /// Security group keys.
    pub security_groups: Vec<String>,
    /// Whether private DNS is on.
    pub private_dns: bool,
    /// The policy document, as given.
    pub policy: Option<String>,
    /// Tags, in the order given.
    pub tags: IndexMap<String, String>,
    /// The 8-character part of its DNS names.
    pub dns_suffix: String,
    /// The lifecycle state.
    pub state: EndpointState,
    /// ENI IDs, in subnet order.
    pub enis: Vec<String>,
    /// When it was created, on the simulation clock.
    pub created_at: Duration,
}

/// A requester-managed network interface of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eni {
    /// `eni-...`
    pub id: String,
    /// The endpoint's name.
    pub endpoint: String,
    /// The subnet's name.
    pub subnet: String,
    /// Its private address.
    pub ip: Ipv4Addr,
}

/// The events a connection notification can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionEvent {
    /// An endpoint was created.
    Connect,
    /// An endpoint was accepted (automatically or by the provider).
    Accept,
    /// An endpoint was rejected.
    Reject,
    /// An endpoint entered `deleting`.
    Delete,
}

impl ConnectionEvent {
    /// AWS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "Connect",
            Self::Accept => "Accept",
            Self::Reject => "Reject",
            Self::Delete => "Delete",
        }
    }

    /// Parses AWS's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Connect, Self::Accept, Self::Reject, Self::Delete]
            .into_iter()
            .find(|e| e.as_str() == s)
    }
}

/// What a connection notification watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationTarget {
    /// One endpoint (the consumer's view), by name.
    Endpoint(String),
    /// Every endpoint of a provider's service, by name.
    Service(String),
}

/// A connection notification: events delivered to an SNS topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `vpce-nfn-...`
    pub id: String,
    /// What it watches.
    pub target: NotificationTarget,
    /// The SNS topic ARN.
    pub topic: String,
    /// The events it delivers.
    pub events: Vec<ConnectionEvent>,
}

/// The per-endpoint, per-AZ bandwidth limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bandwidth {
    /// Token-bucket rate per endpoint, per AZ, per direction, in Gbit/s.
    pub per_az_gbps: f64,
    /// Bucket size in Mbit.
    pub burst_mbit: f64,
}

impl Default for Bandwidth {
    fn default() -> Self {
        Self {
            per_az_gbps: 10.0,
            burst_mbit: 100.0,
        }
    }
}

/// Every object of one simulated Region.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// The Region.
    pub region: Region,
    /// Accounts by name.
    pub accounts: IndexMap<String, Account>,
    /// VPCs by name.
    pub vpcs: IndexMap<String, Vpc>,
    /// Subnets by name.
    pub subnets: IndexMap<String, Subnet>,
    /// Security groups by key.
    pub security_groups: IndexMap<String, SecurityGroup>,
    /// Network ACLs by key.
    pub nacls: IndexMap<String, Nacl>,
    /// Instances by name.
    pub instances: IndexMap<String, Instance>,
    /// On-premises networks by name.
    pub onprem: IndexMap<String, OnPremNetwork>,
    /// Providers' endpoint services by name.
    pub services: IndexMap<String, EndpointService>,
    /// Interface endpoints by name, in creation order.
    pub endpoints: IndexMap<String, Endpoint>,
    /// Endpoint ENIs by ID, in creation order.
    pub enis: IndexMap<String, Eni>,
    /// Connection notifications by ID.
    pub notifications: IndexMap<String, Notification>,
    /// Backends for built-in AWS services, by service name.
    pub backends: IndexMap<String, Backend>,
    /// The bandwidth limit.
    pub bandwidth: Bandwidth,
}

impl Topology {
    /// The first declared account (the default asker and owner).
    pub fn first_account(&self) -> Option<&Account> {
        self.accounts.values().next()
    }

    /// The account that owns VPC `vpc`.
    pub fn vpc_account(&self, vpc: &str) -> Option<&Account> {
        self.vpcs
            .get(vpc)
            .and_then(|v| self.accounts.get(&v.account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(cidr: &str) -> Subnet {
        Subnet {
            name: "s".into(),
            id: "subnet-abababab".into(),
            vpc: "v".into(),
            cidr: cidr.parse().unwrap(),
            az_name: "us-east-1a".into(),
            az_id: "use1-az1".into(),
            nacl: "v/default".into(),
        }
    }

    #[test]
    fn reserved_addresses_are_the_first_four_and_the_last() {
        let s = subnet("10.0.1.0/24");
        for last in [0, 1, 2, 3, 255] {
            assert!(s.is_reserved(Ipv4Addr::new(10, 0, 1, last)), "{last}");
        }
        assert!(!s.is_reserved(Ipv4Addr::new(10, 0, 1, 4)));
        assert!(!s.is_reserved(Ipv4Addr::new(10, 0, 1, 254)));
        let usable: Vec<_> = s.usable().collect();
        assert_eq!(usable.len(), 251);
        assert_eq!(usable[0], Ipv4Addr::new(10, 0, 1, 4));
        assert_eq!(usable[250], Ipv4Addr::new(10, 0, 1, 254));
        assert_eq!(subnet("10.0.0.16/28").usable().count(), 11);
    }

    #[test]
    fn resolver_is_base_plus_two() {
        let vpc = Vpc {
            name: "v".into(),
            id: "vpc-ec43eb89".into(),
            account: "a".into(),
            cidr: "10.0.0.0/16".parse().unwrap(),
            dns_support: true,
            dns_hostnames: false,
        };
        assert_eq!(vpc.resolver_addr(), Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn default_az_map_and_partial_override() {
        let region = Region::default();
        let map = Account::build_az_map(&region, &IndexMap::new());
        assert_eq!(map.len(), 6);
        assert_eq!(map["us-east-1a"], "use1-az1");
        assert_eq!(map["us-east-1f"], "use1-az6");

        let explicit: IndexMap<String, String> = [
            ("us-east-1a".to_string(), "use1-az2".to_string()),
            ("us-east-1b".to_string(), "use1-az4".to_string()),
        ]
        .into_iter()
        .collect();
        let map = Account::build_az_map(&region, &explicit);
        assert_eq!(map["us-east-1a"], "use1-az2");
        assert_eq!(map["us-east-1b"], "use1-az4");
        assert_eq!(map["us-east-1c"], "use1-az3");
        assert_eq!(map["us-east-1e"], "use1-az5");
        // 1d's default ID (az4) is claimed by 1b: it takes the lowest spare one.
        assert_eq!(map["us-east-1d"], "use1-az1");
        let mut ids: Vec<_> = map.values().collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 6, "one-to-one: {map:?}");
    }

    #[test]
    fn backend_parsing() {
        assert_eq!(Backend::parse("echo"), Ok(Backend::Echo));
        assert!(matches!(
            Backend::parse("127.0.0.1:9443"),
            Ok(Backend::Addr(_))
        ));
        assert!(
            Backend::parse("10.1.2.3:443")
                .unwrap_err()
                .contains("loopback")
        );
        assert!(Backend::parse("mirror").is_err());
    }

    #[test]
    fn states_round_trip() {
        for s in [
            "pendingAcceptance",
            "pending",
            "available",
            "rejected",
            "failed",
            "deleting",
            "deleted",
        ] {
            assert_eq!(EndpointState::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(
            EndpointState::parse("Pending"),
            Some(EndpointState::Pending)
        );
        assert_eq!(EndpointState::parse("gone"), None);
    }
}
