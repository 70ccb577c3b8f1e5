//! `connect`: handshake latency, MSS clamping, and drops with the right reason.

use vpcesim::model::Proto;
use vpcesim::policy::BlockKind;
use vpcesim::vnet::{CROSS_AZ_LATENCY, PATH_MSS, PATH_MTU, SAME_AZ_LATENCY};

use super::fixture::{T0, TIMEOUT, eni, host, network, world};

#[test]
fn handshake_takes_one_round_trip_within_an_az() {
    let control = world("");
    let mut net = network(&control);
    let r = net.connect(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        Proto::Tcp,
        TIMEOUT,
    );
    assert!(r.connected, "{r:?} {:?}", net.stats());
    assert_eq!(r.blocked_by, None);
    assert_eq!(r.finished_at - T0, SAME_AZ_LATENCY * 2);
}

#[test]
fn handshake_takes_one_round_trip_across_azs() {
    let control = world("");
    let mut net = network(&control);
    let r = net.connect(
        T0,
        &host("web-b"),
        eni(&control, "kinesis", 443),
        Proto::Tcp,
        TIMEOUT,
    );
    assert!(r.connected, "{r:?}");
    assert_eq!(r.finished_at - T0, CROSS_AZ_LATENCY * 2);
}

#[test]
fn a_nacl_that_drops_the_syn_ack_makes_the_client_time_out() {
    let nacl = r#"
[nacls.endpoint-nacl]
vpc = "main"
inbound = [ { rule = 100, proto = "tcp", ports = 443, cidr = "10.0.0.0/16", action = "allow" } ]
outbound = [ { rule = 100, proto = "tcp", ports = 443, cidr = "10.0.0.0/16", action = "allow" } ]
"#;
    let control = super::fixture::world_with_nacl(nacl, r#"nacl = "endpoint-nacl""#);
    let mut net = network(&control);
    let r = net.connect(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        Proto::Tcp,
        TIMEOUT,
    );
    assert!(!r.connected, "{r:?}");
    assert_eq!(r.finished_at, T0 + TIMEOUT);
    let b = r.blocked_by.expect("blocked");
    assert_eq!(b.kind, BlockKind::NetworkAcl);
    assert_eq!(b.direction, Some("outbound"));
    assert_eq!(b.subnet.as_deref(), Some("ep-a"));
    assert_eq!(b.rule.as_deref(), Some("*"));
    // The SYNs reached the ENI (which answered); what came back was dropped.
    let stats = net.stats();
    assert!(
        stats.delivered >= 1 && stats.dropped_policy >= 1,
        "{stats:?}"
    );
}

#[test]
fn a_nacl_on_the_forward_path_drops_the_syn() {
    let nacl = r#"
[nacls.endpoint-nacl]
vpc = "main"
inbound = [ { rule = 100, proto = "tcp", ports = 22, cidr = "10.0.0.0/16", action = "allow" } ]
outbound = [ { rule = 100, proto = "all", cidr = "0.0.0.0/0", action = "allow" } ]
"#;
    let control = super::fixture::world_with_nacl(nacl, r#"nacl = "endpoint-nacl""#);
    let mut net = network(&control);
    let r = net.connect(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        Proto::Tcp,
        TIMEOUT,
    );
    assert!(!r.connected);
    let b = r.blocked_by.expect("blocked");
    assert_eq!(
        (b.kind, b.direction),
        (BlockKind::NetworkAcl, Some("inbound"))
    );
    // Nothing reached the ENI.
    assert_eq!(net.stats().delivered, 0, "{:?}", net.stats());
}

#[test]
fn udp_to_an_available_endpoint_is_dropped_for_its_protocol() {
    let control = world("");
    let mut net = network(&control);
    let r = net.connect(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        Proto::Udp,
        TIMEOUT,
    );
    assert!(!r.connected, "{r:?}");
    assert_eq!(r.blocked_by.map(|b| b.kind), Some(BlockKind::Protocol));
    assert_eq!(r.finished_at, T0 + TIMEOUT);
}

#[test]
fn a_flow_started_by_the_provider_is_dropped_for_its_direction() {
    let control = world("");
    let mut net = network(&control);
    let provider = vpcesim::policy::Initiator::Provider("payments".into());
    let r = net.connect(
        T0,
        &provider,
        eni(&control, "kinesis", 443),
        Proto::Tcp,
        TIMEOUT,
    );
    assert!(!r.connected, "{r:?}");
    assert_eq!(r.blocked_by.map(|b| b.kind), Some(BlockKind::Direction));
}

#[test]
fn a_port_the_service_does_not_listen_on_times_out() {
    let control = world("");
    let mut net = network(&control);
    let r = net.connect(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 80),
        Proto::Tcp,
        TIMEOUT,
    );
    assert!(!r.connected);
    assert_eq!(r.blocked_by.map(|b| b.kind), Some(BlockKind::NoListener));
}

#[test]
fn an_on_premises_host_sees_cross_az_latency() {
    let control = world("");
    let mut net = network(&control);
    let r = net.connect(
        T0,
        &host("laptop"),
        eni(&control, "kinesis", 443),
        Proto::Tcp,
        TIMEOUT,
    );
    assert!(r.connected, "{r:?}");
    assert_eq!(r.finished_at - T0, CROSS_AZ_LATENCY * 2);
}

#[test]
fn the_vpc_resolver_answers_over_simulated_udp() {
    use std::cell::RefCell;
    use vpcesim::vnet::DnsView;
    let control = world("");
    let mut net = network(&control);
    let seen: RefCell<Vec<(DnsView, Vec<u8>)>> = RefCell::new(Vec::new());
    let resolver = |view: &DnsView, query: &[u8], max: u16| {
        assert!(usize::from(max) >= 512);
        seen.borrow_mut().push((view.clone(), query.to_vec()));
        let mut answer = query.to_vec();
        answer[2] |= 0x80;
        answer
    };
    let query = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];
    let (answer, at) = net.resolve(T0, "web-b", &query, &resolver);
    assert_eq!(answer[..2], [0x12, 0x34]);
    assert_eq!(answer[2] & 0x80, 0x80);
    assert_eq!(at - T0, SAME_AZ_LATENCY * 2);
    let (_, at) = net.resolve(T0, "laptop", &query, &resolver);
    assert_eq!(at - T0, CROSS_AZ_LATENCY * 2);
    let views: Vec<DnsView> = seen.borrow().iter().map(|(v, _)| v.clone()).collect();
    assert_eq!(views, vec![DnsView::Vpc("main".into()), DnsView::Public]);
    assert_eq!(seen.borrow()[0].1, query);
}

#[test]
fn dns_to_the_resolver_is_never_filtered() {
    // A NACL that denies everything on the instance's subnet does not stop DNS.
    let nacl = r#"
[nacls.closed]
vpc = "main"
inbound = []
outbound = []
"#;
    let src_nacl = nacl.to_string() + "\n";
    let control = super::fixture::world_with_nacl(&src_nacl, r#"nacl = "closed""#);
    let mut net = network(&control);
    // UDP probe to the link-local resolver from an instance: a datagram comes back.
    let dst = std::net::SocketAddrV4::new(vpcesim::vnet::LINK_LOCAL_RESOLVER, 53);
    let r = net.connect(T0, &host("web-a"), dst, Proto::Udp, TIMEOUT);
    assert!(r.connected, "{r:?}");
    assert_eq!(r.finished_at - T0, SAME_AZ_LATENCY * 2);
    // TCP through the closed ACL to the ENI is blocked.
    let r = net.connect(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        Proto::Tcp,
        TIMEOUT,
    );
    assert_eq!(r.blocked_by.map(|b| b.kind), Some(BlockKind::NetworkAcl));
}

#[test]
fn the_mtu_constants_fit_together() {
    assert_eq!(usize::from(PATH_MSS) + 40, PATH_MTU);
}

#[test]
fn ephemeral_ports_are_taken_in_sequence_per_host() {
    // The endpoint subnet's ACL lets replies go back to port 32768 only: the first
    // connection from a host (port 32768) gets through, its second (32769) does not,
    // and another host starts its own sequence at 32768.
    let nacl = r#"
[nacls.endpoint-nacl]
vpc = "main"
inbound = [ { rule = 100, proto = "all", cidr = "0.0.0.0/0", action = "allow" } ]
outbound = [ { rule = 100, proto = "tcp", ports = 32768, cidr = "10.0.0.0/16", action = "allow" } ]
"#;
    let control = super::fixture::world_with_nacl(nacl, r#"nacl = "endpoint-nacl""#);
    let mut net = network(&control);
    let dst = eni(&control, "kinesis", 443);
    let first = net.connect(T0, &host("web-a"), dst, Proto::Tcp, TIMEOUT);
    assert!(first.connected, "{first:?}");
    let second = net.connect(first.finished_at, &host("web-a"), dst, Proto::Tcp, TIMEOUT);
    assert!(!second.connected);
    assert_eq!(
        second.blocked_by.map(|b| b.kind),
        Some(BlockKind::NetworkAcl)
    );
    let other = net.connect(second.finished_at, &host("web-b"), dst, Proto::Tcp, TIMEOUT);
    assert!(other.connected, "{other:?}");
}

#[test]
fn an_update_applies_new_rules_to_the_next_connection() {
    let mut control = world("");
    let mut net = network(&control);
    let dst = eni(&control, "kinesis", 443);
    assert!(
        net.connect(T0, &host("web-a"), dst, Proto::Tcp, TIMEOUT)
            .connected
    );
    control
        .set_security_group(T0, "endpoint-sg", Some(Vec::new()), None)
        .expect("the group exists");
    let topology = control.topology();
    net.update(topology, vpcesim::policy::PolicySnapshot::compile(topology));
    let r = net.connect(T0, &host("web-a"), dst, Proto::Tcp, TIMEOUT);
    assert_eq!(
        r.blocked_by.map(|b| (b.kind, b.direction)),
        Some((BlockKind::SecurityGroup, Some("ingress")))
    );
}

#[test]
fn a_blocked_connect_skips_its_huge_timeout_at_once() {
    // The SYN is dropped (no rule for port 22); only the client's retransmission timer
    // is left, so simulated time jumps from event to event instead of costing wall time.
    let control = world("");
    let mut net = network(&control);
    let timeout = std::time::Duration::from_secs(1_000_000_000);
    let wall = std::time::Instant::now();
    let r = net.connect(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 22),
        Proto::Tcp,
        timeout,
    );
    assert!(!r.connected, "{r:?}");
    assert_eq!(r.finished_at, T0 + timeout);
    assert!(
        wall.elapsed() < std::time::Duration::from_millis(500),
        "took {:?}",
        wall.elapsed()
    );
}

#[test]
fn a_timeout_past_the_end_of_time_saturates() {
    let control = world("");
    let mut net = network(&control);
    let r = net.connect(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 22),
        Proto::Tcp,
        std::time::Duration::MAX,
    );
    assert!(!r.connected, "{r:?}");
    assert_eq!(r.finished_at, std::time::Duration::MAX);
    let r = net.transfer(
        std::time::Duration::MAX - std::time::Duration::from_secs(1),
        &host("web-a"),
        eni(&control, "kinesis", 443),
        1_000_000,
        vpcesim::model::Direction::Upload,
        1,
        std::time::Duration::MAX,
    );
    assert!(!r.completed, "{r:?}");
    assert_eq!(r.finished_at, std::time::Duration::MAX);
}
