//! One test per row of the flow-decision table (docs/behaviour.md §5),
//! plus connection tracking, on a topology loaded from a scenario file.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::control::ControlPlane;
use crate::model::{NaclEntry, Peer, PortRange, RuleAction, SgRule};

const TOPOLOGY: &str = r#"
name = "policy"

[accounts.consumer]
id = "111111111111"

[accounts.provider]
id = "222222222222"

[vpcs.main]
account = "consumer"
cidr = "10.0.0.0/16"
dns_hostnames = true

[vpcs.other]
account = "consumer"
cidr = "10.1.0.0/16"

[subnets.app-a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
nacl = "app"

[subnets.app-b]
vpc = "main"
cidr = "10.0.2.0/24"
az = "us-east-1b"
nacl = "app"

[subnets.ep-a]
vpc = "main"
cidr = "10.0.10.0/24"
az = "us-east-1a"
nacl = "ep"

[subnets.ep-b]
vpc = "main"
cidr = "10.0.11.0/24"
az = "us-east-1b"
nacl = "ep"

[subnets.other-a]
vpc = "other"
cidr = "10.1.1.0/24"
az = "us-east-1a"

[nacls.app]
vpc = "main"
inbound = [ { rule = 100, proto = "all", cidr = "0.0.0.0/0", action = "allow" } ]
outbound = [ { rule = 100, proto = "all", cidr = "0.0.0.0/0", action = "allow" } ]

[nacls.ep]
vpc = "main"
inbound = [ { rule = 100, proto = "all", cidr = "0.0.0.0/0", action = "allow" } ]
outbound = [ { rule = 100, proto = "all", cidr = "0.0.0.0/0", action = "allow" } ]

[security_groups.web]
vpc = "main"

[security_groups.endpoint-sg]
vpc = "main"
ingress = [
  { proto = "tcp", ports = "0-65535", sg = "web" },
  { proto = "tcp", ports = 443, cidr = "192.168.0.0/16" },
]

[instances.web-1]
subnet = "app-a"
ip = "10.0.1.10"
security_groups = ["web"]

[instances.web-b]
subnet = "app-b"
ip = "10.0.2.10"
security_groups = ["web"]

[instances.db-1]
subnet = "app-a"
ip = "10.0.1.20"

[instances.ep-host]
subnet = "ep-a"
ip = "10.0.10.50"
security_groups = ["web"]

[instances.other-1]
subnet = "other-a"
ip = "10.1.1.10"

[onprem.office]
cidr = "192.168.0.0/16"
vpc = "main"
via = "vpn"
hosts = { laptop = "192.168.1.20" }

[onprem.branch]
cidr = "172.16.0.0/16"
vpc = "other"
via = "vpn"
hosts = { kiosk = "172.16.1.20" }

[services.payments]
account = "provider"
acceptance_required = true
az_ids = ["use1-az1", "use1-az2"]
ports = [443]

[endpoints.kinesis]
vpc = "main"
service = "com.amazonaws.us-east-1.kinesis-streams"
subnets = ["ep-a", "ep-b"]
security_groups = ["endpoint-sg"]

[endpoints.pay]
vpc = "main"
service = "payments"
subnets = ["ep-a"]
security_groups = ["endpoint-sg"]
"#;

struct World {
    control: ControlPlane,
}

impl World {
    fn new() -> Self {
        let mut scenario =
            crate::scenario::parse(Path::new("policy.toml"), TOPOLOGY).expect("topology loads");
        scenario.control.advance(Duration::ZERO);
        Self {
            control: scenario.control,
        }
    }

    fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot::compile(self.control.topology())
    }

    fn eni_ip(&self, endpoint: &str, index: usize) -> Ipv4Addr {
        let t = self.control.topology();
        t.enis[&t.endpoints[endpoint].enis[index]].ip
    }

    fn decide(&self, from: &str, dst: Ipv4Addr, port: u16) -> Verdict {
        decide_with(&self.snapshot(), from, dst, port)
    }

    fn set_nacl(
        &mut self,
        key: &str,
        inbound: Option<Vec<NaclEntry>>,
        outbound: Option<Vec<NaclEntry>>,
    ) {
        self.control
            .set_nacl(Duration::ZERO, key, inbound, outbound)
            .expect("nacl exists");
    }
}

fn decide_with(policy: &PolicySnapshot, from: &str, dst: Ipv4Addr, port: u16) -> Verdict {
    let src = policy.host(from).map_or(Ipv4Addr::UNSPECIFIED, |h| h.ip);
    policy.decide(&Initiator::Host(from.into()), &tcp(src, dst, port))
}

fn tcp(src: Ipv4Addr, dst: Ipv4Addr, port: u16) -> FlowKey {
    FlowKey {
        src,
        src_port: 40_000,
        dst,
        dst_port: port,
        proto: Proto::Tcp,
    }
}

fn entry(rule: u16, ports: PortRange, cidr: &str, action: RuleAction) -> NaclEntry {
    NaclEntry {
        rule,
        proto: Proto::Tcp,
        ports,
        cidr: cidr.parse().unwrap(),
        action,
    }
}

fn allow_all(rule: u16) -> NaclEntry {
    NaclEntry {
        rule,
        proto: Proto::All,
        ports: PortRange::ALL,
        cidr: "0.0.0.0/0".parse().unwrap(),
        action: RuleAction::Allow,
    }
}

fn blocked(v: &Verdict) -> BlockedBy {
    v.blocked_by()
        .cloned()
        .unwrap_or_else(|| panic!("expected a block, got {v:?}"))
}

fn nacl_block(direction: &'static str, name: &str, rule: &str, subnet: &str) -> BlockedBy {
    BlockedBy {
        kind: BlockKind::NetworkAcl,
        direction: Some(direction),
        name: Some(name.into()),
        rule: Some(rule.into()),
        subnet: Some(subnet.into()),
    }
}

#[test]
fn allowed_flow_names_the_eni_and_az() {
    let w = World::new();
    let e = w.eni_ip("kinesis", 0);
    let Verdict::Allow(a) = w.decide("web-1", e, 443) else {
        panic!("blocked")
    };
    let t = w.control.topology();
    assert_eq!(a.endpoint, "kinesis");
    assert_eq!(a.eni, t.endpoints["kinesis"].enis[0]);
    assert_eq!(a.az_id, "use1-az1");
    assert_eq!(a.consumer_subnet.as_deref(), Some("app-a"));
    assert_eq!(a.eni_subnet, "ep-a");
    assert!(a.same_az);
    let Verdict::Allow(b) = w.decide("web-1", w.eni_ip("kinesis", 1), 443) else {
        panic!("blocked")
    };
    assert!(!b.same_az, "cross-AZ use of an ENI is allowed");
    assert_eq!(b.az_id, "use1-az2");
}

#[test]
fn row_no_route() {
    let w = World::new();
    let e = w.eni_ip("kinesis", 0);
    let no_route = BlockedBy::kind(BlockKind::NoRoute);
    // A public address, another instance, an ENI seen from another VPC, an on-premises
    // network attached to another VPC, an unknown host.
    assert_eq!(
        blocked(&w.decide("web-1", Ipv4Addr::new(52, 94, 0, 1), 443)),
        no_route
    );
    assert_eq!(
        blocked(&w.decide("web-1", Ipv4Addr::new(10, 0, 1, 20), 443)),
        no_route
    );
    assert_eq!(blocked(&w.decide("other-1", e, 443)), no_route);
    assert_eq!(blocked(&w.decide("kiosk", e, 443)), no_route);
    assert_eq!(blocked(&w.decide("nobody", e, 443)), no_route);
    // No route comes first: even UDP to a public address is no_route.
    let p = w.snapshot();
    let udp = FlowKey {
        proto: Proto::Udp,
        ..tcp(Ipv4Addr::new(10, 0, 1, 10), Ipv4Addr::new(8, 8, 8, 8), 53)
    };
    assert_eq!(
        blocked(&p.decide(&Initiator::Host("web-1".into()), &udp)),
        no_route
    );
}

#[test]
fn row_direction() {
    let w = World::new();
    let p = w.snapshot();
    let flow = tcp(w.eni_ip("pay", 0), Ipv4Addr::new(10, 0, 1, 10), 22);
    assert_eq!(
        blocked(&p.decide(&Initiator::Provider("payments".into()), &flow)).kind,
        BlockKind::Direction
    );
}

#[test]
fn row_endpoint_state() {
    let mut w = World::new();
    let e = w.eni_ip("pay", 0);
    let state = BlockedBy::kind(BlockKind::EndpointState);
    assert_eq!(
        blocked(&w.decide("web-1", e, 443)),
        state,
        "pendingAcceptance"
    );
    w.control
        .accept_endpoint(Duration::ZERO, "provider", "pay")
        .unwrap();
    assert_eq!(
        blocked(&w.decide("web-1", e, 443)),
        state,
        "pending until provisioned"
    );
    w.control.advance(Duration::from_secs(1));
    assert!(matches!(w.decide("web-1", e, 443), Verdict::Allow(_)));
    w.control
        .reject_endpoint(Duration::from_secs(1), "provider", "pay")
        .unwrap();
    assert_eq!(blocked(&w.decide("web-1", e, 443)), state, "rejected");
    w.control
        .delete_endpoint(Duration::from_secs(1), "consumer", "pay")
        .unwrap();
    assert_eq!(
        blocked(&w.decide("web-1", e, 443)),
        BlockedBy::kind(BlockKind::NoRoute),
        "deleting: no ENI"
    );
}

#[test]
fn row_protocol() {
    let w = World::new();
    let p = w.snapshot();
    let e = w.eni_ip("kinesis", 0);
    for proto in [Proto::Udp, Proto::Icmp] {
        let flow = FlowKey {
            proto,
            ..tcp(Ipv4Addr::new(10, 0, 1, 10), e, 443)
        };
        assert_eq!(
            blocked(&p.decide(&Initiator::Host("web-1".into()), &flow)),
            BlockedBy::kind(BlockKind::Protocol)
        );
    }
}

#[test]
fn row_consumer_sg_egress() {
    let mut w = World::new();
    w.control
        .set_security_group(Duration::ZERO, "web", None, Some(vec![]))
        .unwrap();
    let b = blocked(&w.decide("web-1", w.eni_ip("kinesis", 0), 443));
    assert_eq!(b.kind, BlockKind::SecurityGroup);
    assert_eq!(b.direction, Some("egress"));
    assert_eq!(b.name.as_deref(), Some("web"));
    // An egress rule that references the endpoint's group matches the ENI addresses.
    let to_endpoints = SgRule {
        proto: Proto::Tcp,
        ports: PortRange::single(443),
        peer: Peer::Group("endpoint-sg".into()),
    };
    w.control
        .set_security_group(Duration::ZERO, "web", None, Some(vec![to_endpoints]))
        .unwrap();
    assert!(matches!(
        w.decide("web-1", w.eni_ip("kinesis", 1), 443),
        Verdict::Allow(_)
    ));
}

#[test]
fn row_consumer_nacl_outbound() {
    let mut w = World::new();
    w.set_nacl(
        "app",
        None,
        Some(vec![
            entry(50, PortRange::single(443), "10.0.10.0/24", RuleAction::Deny),
            allow_all(100),
        ]),
    );
    assert_eq!(
        blocked(&w.decide("web-1", w.eni_ip("kinesis", 0), 443)),
        nacl_block("outbound", "app", "50", "app-a")
    );
    // The other ENI's subnet is not denied.
    assert!(matches!(
        w.decide("web-1", w.eni_ip("kinesis", 1), 443),
        Verdict::Allow(_)
    ));
}

#[test]
fn row_eni_nacl_inbound() {
    let mut w = World::new();
    w.set_nacl(
        "ep",
        Some(vec![entry(
            100,
            PortRange::single(80),
            "0.0.0.0/0",
            RuleAction::Allow,
        )]),
        None,
    );
    assert_eq!(
        blocked(&w.decide("web-1", w.eni_ip("kinesis", 0), 443)),
        nacl_block("inbound", "ep", "*", "ep-a")
    );
}

#[test]
fn row_eni_sg_ingress() {
    let w = World::new();
    // db-1 carries the default group, which the endpoint's group does not allow.
    let b = blocked(&w.decide("db-1", w.eni_ip("kinesis", 0), 443));
    assert_eq!(b.kind, BlockKind::SecurityGroup);
    assert_eq!(b.direction, Some("ingress"));
    assert_eq!(b.name.as_deref(), Some("endpoint-sg"));
    assert_eq!(
        b.to_string(),
        "security group endpoint-sg ingress: no rule allows it"
    );
}

#[test]
fn row_listener() {
    let w = World::new();
    assert_eq!(
        blocked(&w.decide("web-1", w.eni_ip("kinesis", 0), 8443)),
        BlockedBy::kind(BlockKind::NoListener)
    );
}

#[test]
fn row_reply_eni_nacl_outbound() {
    let mut w = World::new();
    // Replies to ephemeral ports are not allowed out of the endpoint subnet.
    w.set_nacl(
        "ep",
        None,
        Some(vec![entry(
            100,
            PortRange::single(443),
            "0.0.0.0/0",
            RuleAction::Allow,
        )]),
    );
    let b = blocked(&w.decide("web-1", w.eni_ip("kinesis", 0), 443));
    assert_eq!(b, nacl_block("outbound", "ep", "*", "ep-a"));
    assert_eq!(
        b.to_string(),
        "network ACL ep (subnet ep-a) outbound rule *"
    );
}

#[test]
fn row_reply_consumer_nacl_inbound() {
    let mut w = World::new();
    w.set_nacl(
        "app",
        Some(vec![
            entry(
                10,
                PortRange {
                    low: 32768,
                    high: 60999,
                },
                "10.0.10.0/24",
                RuleAction::Deny,
            ),
            allow_all(100),
        ]),
        None,
    );
    assert_eq!(
        blocked(&w.decide("web-1", w.eni_ip("kinesis", 0), 443)),
        nacl_block("inbound", "app", "10", "app-a")
    );
}

#[test]
fn nacls_are_skipped_within_a_subnet() {
    let mut w = World::new();
    w.set_nacl("ep", Some(vec![]), Some(vec![]));
    // ep-host shares ep-a with the ENI: no NACL applies.
    assert!(matches!(
        w.decide("ep-host", w.eni_ip("kinesis", 0), 443),
        Verdict::Allow(_)
    ));
    // The ENI in ep-b is across a boundary (of the same NACL).
    assert_eq!(
        blocked(&w.decide("ep-host", w.eni_ip("kinesis", 1), 443)),
        nacl_block("outbound", "ep", "*", "ep-a")
    );
}

#[test]
fn on_prem_meets_only_the_eni_side() {
    let mut w = World::new();
    let e = w.eni_ip("kinesis", 0);
    let Verdict::Allow(a) = w.decide("laptop", e, 443) else {
        panic!("blocked")
    };
    assert_eq!(a.consumer_subnet, None);
    assert!(!a.same_az);
    // Its own address meets the ENI's group (which allows 192.168/16 on 443 only) ...
    w.control
        .set_security_group(
            Duration::ZERO,
            "endpoint-sg",
            Some(vec![SgRule {
                proto: Proto::Tcp,
                ports: PortRange::single(443),
                peer: Peer::Group("web".into()),
            }]),
            None,
        )
        .unwrap();
    assert_eq!(
        blocked(&w.decide("laptop", e, 443)).direction,
        Some("ingress")
    );
    // ... and the ENI subnet's NACL, both legs.
    let mut w = World::new();
    w.set_nacl(
        "ep",
        Some(vec![allow_all(100)]),
        Some(vec![entry(
            100,
            PortRange::single(443),
            "0.0.0.0/0",
            RuleAction::Allow,
        )]),
    );
    assert_eq!(
        blocked(&w.decide("laptop", e, 443)),
        nacl_block("outbound", "ep", "*", "ep-a")
    );
    let host = w.snapshot().host("laptop").unwrap();
    assert_eq!(
        host,
        HostInfo {
            ip: Ipv4Addr::new(192, 168, 1, 20),
            vpc: None,
            az_id: None
        }
    );
    assert_eq!(
        w.snapshot().host("web-1").unwrap().vpc.as_deref(),
        Some("main")
    );
}

#[test]
fn the_first_check_in_order_is_reported() {
    let mut w = World::new();
    // Everything blocks: the consumer's group egress is reported first.
    w.control
        .set_security_group(Duration::ZERO, "web", None, Some(vec![]))
        .unwrap();
    w.control
        .set_security_group(Duration::ZERO, "endpoint-sg", Some(vec![]), None)
        .unwrap();
    w.set_nacl("app", Some(vec![]), Some(vec![]));
    w.set_nacl("ep", Some(vec![]), Some(vec![]));
    let e = w.eni_ip("kinesis", 0);
    assert_eq!(
        blocked(&w.decide("web-1", e, 443)).direction,
        Some("egress")
    );
    w.control
        .set_security_group(
            Duration::ZERO,
            "web",
            None,
            Some(vec![SgRule {
                proto: Proto::All,
                ports: PortRange::ALL,
                peer: Peer::Cidr("0.0.0.0/0".parse().unwrap()),
            }]),
        )
        .unwrap();
    assert_eq!(
        blocked(&w.decide("web-1", e, 443)),
        nacl_block("outbound", "app", "*", "app-a")
    );
    w.set_nacl("app", None, Some(vec![allow_all(1)]));
    assert_eq!(
        blocked(&w.decide("web-1", e, 443)),
        nacl_block("inbound", "ep", "*", "ep-a")
    );
    w.set_nacl("ep", Some(vec![allow_all(1)]), None);
    assert_eq!(
        blocked(&w.decide("web-1", e, 443)).direction,
        Some("ingress")
    );
    w.control
        .set_security_group(
            Duration::ZERO,
            "endpoint-sg",
            Some(vec![SgRule {
                proto: Proto::Tcp,
                ports: PortRange::single(443),
                peer: Peer::Group("web".into()),
            }]),
            None,
        )
        .unwrap();
    assert_eq!(
        blocked(&w.decide("web-1", e, 8443)).kind,
        BlockKind::SecurityGroup,
        "SG ingress before listener"
    );
    assert_eq!(
        blocked(&w.decide("web-1", e, 443)),
        nacl_block("outbound", "ep", "*", "ep-a")
    );
    w.set_nacl("ep", None, Some(vec![allow_all(1)]));
    assert_eq!(
        blocked(&w.decide("web-1", e, 443)),
        nacl_block("inbound", "app", "*", "app-a")
    );
    w.set_nacl("app", Some(vec![allow_all(1)]), None);
    assert!(matches!(w.decide("web-1", e, 443), Verdict::Allow(_)));
}

#[test]
fn a_new_group_allows_all_egress() {
    let w = World::new();
    let web = &w.control.topology().security_groups["web"];
    assert!(web.ingress.is_empty());
    // web-b (in app-b) carries only web, whose egress the file did not give.
    assert!(matches!(
        w.decide("web-b", w.eni_ip("kinesis", 0), 443),
        Verdict::Allow(_)
    ));
}

#[test]
fn tracking_keeps_flows_through_group_changes_and_cuts_them_on_nacl_changes() {
    let mut w = World::new();
    let e = w.eni_ip("kinesis", 0);
    let from = Initiator::Host("web-1".into());
    let flow = tcp(Ipv4Addr::new(10, 0, 1, 10), e, 443);
    assert!(matches!(
        w.snapshot().decide(&from, &flow),
        Verdict::Allow(_)
    ));
    w.control
        .set_security_group(Duration::ZERO, "endpoint-sg", Some(vec![]), None)
        .unwrap();
    w.control
        .set_security_group(Duration::ZERO, "web", None, Some(vec![]))
        .unwrap();
    let p = w.snapshot();
    assert_eq!(
        p.recheck(&from, &flow),
        None,
        "security groups are stateful"
    );
    assert!(
        matches!(p.decide(&from, &flow), Verdict::Block(_)),
        "but a new flow is blocked"
    );
    w.set_nacl(
        "ep",
        Some(vec![
            entry(5, PortRange::ALL, "10.0.1.10/32", RuleAction::Deny),
            allow_all(100),
        ]),
        None,
    );
    assert_eq!(
        w.snapshot().recheck(&from, &flow),
        Some(nacl_block("inbound", "ep", "5", "ep-a"))
    );
}

#[test]
fn tracking_cuts_flows_on_state_changes_and_removed_enis() {
    let mut w = World::new();
    let from = Initiator::Host("web-1".into());
    let e0 = w.eni_ip("kinesis", 0);
    let e1 = w.eni_ip("kinesis", 1);
    let f0 = tcp(Ipv4Addr::new(10, 0, 1, 10), e0, 443);
    let f1 = tcp(Ipv4Addr::new(10, 0, 1, 10), e1, 443);
    let modify = crate::control::ModifyEndpoint {
        remove_subnets: vec!["ep-b".into()],
        ..Default::default()
    };
    w.control
        .modify_endpoint(Duration::ZERO, "consumer", "kinesis", &modify)
        .unwrap();
    let p = w.snapshot();
    assert_eq!(p.recheck(&from, &f0), None);
    assert_eq!(
        p.recheck(&from, &f1),
        Some(BlockedBy::kind(BlockKind::NoRoute))
    );
    w.control
        .delete_endpoint(Duration::ZERO, "consumer", "kinesis")
        .unwrap();
    assert_eq!(
        w.snapshot().recheck(&from, &f0),
        Some(BlockedBy::kind(BlockKind::NoRoute))
    );
}

#[test]
fn ephemeral_ports_go_in_sequence_and_wrap_round_the_range() {
    use super::{EPHEMERAL_PORTS, ephemeral_port};
    assert_eq!(ephemeral_port(0), 32768);
    assert_eq!(ephemeral_port(1), 32769);
    let last = u64::from(EPHEMERAL_PORTS.1 - EPHEMERAL_PORTS.0);
    assert_eq!(ephemeral_port(last), 60999);
    assert_eq!(ephemeral_port(last + 1), 32768);
}
