//! `connect`: handshake latency, MSS clamping, and drops with the right reason.

use std::time::Duration;

use vpcesim::model::Proto;
use vpcesim::policy::BlockKind;
use vpcesim::vnet::{CROSS_AZ_LATENCY, PATH_MSS, PATH_MTU, SAME_AZ_LATENCY};

use super::fixture::{eni, host, network, world};

const T0: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(5);

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
