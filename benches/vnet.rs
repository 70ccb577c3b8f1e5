//! Simulated bytes per wall second of a transfer through one endpoint at the default
//! 10 Gbps: real bytes through both smoltcp stacks, the fabric, policy and bucket,
//! checked by digest. Criterion's throughput is simulated payload bytes per wall second.
//!
//! Run: `cargo bench --bench vnet`. For the 10 GB figure, `cargo bench --bench
//! vnet -- --ten-gb` runs one 10 GB transfer and prints its wall time.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use vpcesim::scenario::Direction;

#[path = "support/vnet_world.rs"]
mod vnet_world;

const TIMEOUT: Duration = Duration::from_secs(5);

fn transfer(c: &mut Criterion) {
    let mut group = c.benchmark_group("vnet");
    group.sample_size(10);
    for (name, bytes, direction, streams) in [
        (
            "upload_1GB_1stream",
            1_000_000_000u64,
            Direction::Upload,
            1u32,
        ),
        (
            "download_1GB_1stream",
            1_000_000_000,
            Direction::Download,
            1,
        ),
        ("upload_1GB_4streams", 1_000_000_000, Direction::Upload, 4),
    ] {
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(name, |b| {
            b.iter(|| {
                let (mut net, from, dst) = vnet_world::world();
                let r = net.transfer(
                    Duration::ZERO,
                    &from,
                    dst,
                    bytes,
                    direction,
                    streams,
                    TIMEOUT,
                );
                assert!(r.completed && r.digest_ok, "{r:?}");
                r.gbps
            });
        });
    }
    group.finish();
}

/// One 10 GB upload at 10 Gbps (8 s simulated), timed once on the wall clock.
fn ten_gb() {
    let bytes = 10_000_000_000u64;
    let (mut net, from, dst) = vnet_world::world();
    let start = Instant::now();
    let r = net.transfer(
        Duration::ZERO,
        &from,
        dst,
        bytes,
        Direction::Upload,
        1,
        TIMEOUT,
    );
    let wall = start.elapsed().as_secs_f64();
    assert!(r.completed && r.digest_ok, "{r:?}");
    println!(
        "10 GB upload at 10 Gbps: simulated {:.4} s payload ({:.3} Gbit/s), wall {:.2} s, {:.2} GB simulated per wall second, digest ok, {:?}",
        r.payload_seconds,
        r.gbps,
        wall,
        bytes as f64 / wall / 1e9,
        net.stats()
    );
}

criterion_group!(benches, transfer);

fn main() {
    if std::env::args().any(|a| a == "--ten-gb") {
        ten_gb();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
