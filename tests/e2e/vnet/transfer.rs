//! `transfer`: digests, the bucket's rate, streams sharing a bucket.

use vpcesim::scenario::Direction;

use super::fixture::{T0, TIMEOUT, eni, host, network, world};

fn within(value: f64, target: f64, tolerance: f64) -> bool {
    (value - target).abs() <= target * tolerance
}

#[test]
fn upload_delivers_every_byte_intact() {
    let control = world("");
    let mut net = network(&control);
    let bytes = 3_000_001;
    let r = net.transfer(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        bytes,
        Direction::Upload,
        1,
        TIMEOUT,
    );
    assert!(r.completed && r.digest_ok, "{r:?}");
    assert_eq!(r.bytes, bytes);
    assert!(r.finished_at > T0 && r.payload_seconds > 0.0, "{r:?}");
}

#[test]
fn download_delivers_every_byte_intact() {
    let control = world("");
    let mut net = network(&control);
    let bytes = 2_500_000;
    let r = net.transfer(
        T0,
        &host("web-b"),
        eni(&control, "kinesis", 443),
        bytes,
        Direction::Download,
        1,
        TIMEOUT,
    );
    assert!(r.completed && r.digest_ok, "{r:?}");
    assert_eq!(r.bytes, bytes);
}

#[test]
fn segments_are_clamped_to_the_path_mtu() {
    let control = world("");
    let mut net = network(&control);
    let r = net.transfer(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        1_000_000,
        Direction::Upload,
        1,
        TIMEOUT,
    );
    assert!(r.completed, "{r:?}");
    let stats = net.stats();
    // The instance (MTU 9001) offers an MSS of 8961; the fabric clamps it to 8460, and
    // full-sized segments then fill the 8500-byte path MTU exactly.
    assert_eq!(stats.largest_mss, vpcesim::vnet::PATH_MSS);
    assert_eq!(stats.largest_packet, vpcesim::vnet::PATH_MTU);
    assert_eq!(stats.dropped_mtu, 0);
}

#[test]
fn two_streams_each_deliver_intact() {
    // One upload split over two streams: each stream's bytes, from its own offset of the
    // pattern, check out. (That a misplaced segment changes the digest is the pattern's
    // unit test, `vnet::apps`.)
    let control = world("");
    let mut net = network(&control);
    let a = net.transfer(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        100_000,
        Direction::Upload,
        2,
        TIMEOUT,
    );
    assert!(a.completed && a.digest_ok, "{a:?}");
    assert_eq!(a.bytes, 100_000);
}

#[test]
fn one_stream_reaches_the_configured_rate() {
    let control = world("[bandwidth]\nper_az_gbps = 1\nburst_mbit = 10\n");
    let mut net = network(&control);
    let bytes = 1_000_000_000;
    let r = net.transfer(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        bytes,
        Direction::Upload,
        1,
        TIMEOUT,
    );
    assert!(r.completed && r.digest_ok, "{r:?}");
    eprintln!("{r:?} {:?}", net.stats());
    assert!(within(r.gbps, 1.0, 0.02), "{r:?}");
    assert!(within(r.payload_seconds, 8.0, 0.02), "{r:?}");
}

#[test]
fn four_streams_share_one_bucket() {
    let control = world("[bandwidth]\nper_az_gbps = 1\nburst_mbit = 10\n");
    let mut net = network(&control);
    let bytes = 250_000_000;
    let r = net.transfer(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        bytes,
        Direction::Upload,
        4,
        TIMEOUT,
    );
    assert!(r.completed && r.digest_ok, "{r:?}");
    assert_eq!(r.bytes, bytes);
    // Four streams do not go faster than the one bucket they share.
    eprintln!("{r:?} {:?}", net.stats());
    assert!(within(r.gbps, 1.0, 0.02), "{r:?}");
}

#[test]
fn download_has_its_own_bucket_at_the_same_rate() {
    let control = world("[bandwidth]\nper_az_gbps = 1\nburst_mbit = 10\n");
    let mut net = network(&control);
    let up = net.transfer(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        125_000_000,
        Direction::Upload,
        1,
        TIMEOUT,
    );
    // Right after the upload drained the upload bucket, a download still starts with
    // a full bucket of its own.
    let down = net.transfer(
        up.finished_at,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        125_000_000,
        Direction::Download,
        1,
        TIMEOUT,
    );
    assert!(down.completed && down.digest_ok, "{down:?}");
    assert!(within(down.gbps, 1.0, 0.02), "{down:?}");
}

#[test]
fn a_transfer_beyond_the_limit_is_refused_at_once() {
    let control = world("");
    let mut net = network(&control);
    let wall = std::time::Instant::now();
    let r = net.transfer(
        T0,
        &host("web-a"),
        eni(&control, "kinesis", 443),
        1_000_000 * 1_000_000_000_000, // 1,000,000 TB
        Direction::Upload,
        1,
        TIMEOUT,
    );
    assert!(!r.completed && r.bytes == 0, "{r:?}");
    assert_eq!(r.finished_at, T0);
    assert!(wall.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(vpcesim::vnet::MAX_TRANSFER_BYTES, 1_000_000_000_000);
}
