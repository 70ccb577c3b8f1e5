//! Private DNS per query: lookup + encode in memory for each kind of answer, the typed
//! lookup, and queries per second over UDP on loopback (one client socket, a window of
//! 64 queries in flight).
//!
//! `cargo bench --bench dns`. The world is 2,000 endpoints in 3 AZs over 40 VPCs (the
//! size of the side-by-side comparison in `benches/dns_compare.sh`).

use std::hint::black_box;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hickory_proto::rr::RecordType;
use vpcesim::control::{ControlPlane, ServiceInfo};
use vpcesim::dns::server::{Config, DnsServer, Listener};
use vpcesim::dns::synth::{Spec, world};
use vpcesim::dns::{DnsHandle, DnsSnapshot, ViewId};

fn query(id: u16, name: &str, rtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0]);
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

fn regional(control: &ControlPlane, endpoint: &str) -> String {
    let t = control.topology();
    let e = &t.endpoints[endpoint];
    let info = ServiceInfo::of(t, &e.service).expect("service");
    vpcesim::control::names::regional_name(t, e, &info)
}

fn setup() -> (ControlPlane, DnsSnapshot) {
    let control = world(Spec {
        vpcs: 40,
        endpoints: 2000,
        azs: 3,
    });
    let snapshot = DnsSnapshot::compile(&control);
    (control, snapshot)
}

fn per_query(c: &mut Criterion) {
    let (control, snapshot) = setup();
    let ep = regional(&control, "ep-7");
    let zonal = ep.replacen(".", "-us-east-1b.", 1);
    let vpc = ViewId::Vpc("vpc-0".into());
    // vpc-0's endpoints are services 0..49 of the catalog: the first is private.
    let private = control.topology().endpoints["ep-0"].service_name.clone();
    let private = vpcesim::catalog::lookup(&control.topology().region, &private)
        .map(|s| s.private_dns_names[0].replace("*.", "x."))
        .unwrap_or_default();
    let cases: Vec<(&str, ViewId, Vec<u8>)> = vec![
        ("regional_a", ViewId::Public, query(1, &ep, 1)),
        ("zonal_a", ViewId::Public, query(1, &zonal, 1)),
        ("private_default_a", vpc.clone(), query(1, &private, 1)),
        (
            "public_default_a",
            ViewId::Public,
            query(1, "kinesis.us-east-1.amazonaws.com", 1),
        ),
        (
            "wildcard_a",
            ViewId::Public,
            query(1, "abc.execute-api.us-east-1.amazonaws.com", 1),
        ),
        ("nodata_aaaa", ViewId::Public, query(1, &ep, 28)),
        (
            "nxdomain",
            ViewId::Public,
            query(
                1,
                "vpce-00000000000000000-zzzzzzzz.ec2.us-east-1.vpce.amazonaws.com",
                1,
            ),
        ),
        ("refused", ViewId::Public, query(1, "www.example.com", 1)),
    ];
    let mut group = c.benchmark_group("dns/answer_into");
    group.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(512);
    for (name, view, q) in &cases {
        assert!(!snapshot.answer_bytes(view, q, 512).is_empty(), "{name}");
        group.bench_function(*name, |b| {
            b.iter(|| {
                snapshot.answer_into(view, black_box(q), 512, &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
    c.bench_function("dns/lookup_typed_regional_a", |b| {
        b.iter(|| black_box(snapshot.lookup(&ViewId::Public, black_box(&ep), RecordType::A)))
    });
}

fn udp_loopback(c: &mut Criterion) {
    let (control, snapshot) = setup();
    let names: Vec<String> = control
        .topology()
        .endpoints
        .keys()
        .take(500)
        .map(|e| regional(&control, e))
        .collect();
    let queries: Vec<Vec<u8>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| query(i as u16, n, 1))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let handle = Arc::new(DnsHandle::new(snapshot));
    let server = runtime
        .block_on(DnsServer::start(
            handle,
            Config {
                listeners: vec![Listener {
                    addr: "127.0.0.1:0".parse().expect("addr"),
                    view: ViewId::Public,
                }],
                upstream: None,
                ..Config::default()
            },
        ))
        .expect("server");
    let addr = server.listeners()[0].addr;
    let client = UdpSocket::bind("127.0.0.1:0").expect("client");
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    client.connect(addr).expect("connect");
    let mut group = c.benchmark_group("dns/udp_loopback");
    group.throughput(Throughput::Elements(1));
    group.bench_function("window_64", |b| {
        b.iter_custom(|iters| {
            let mut buf = [0u8; 1500];
            let start = Instant::now();
            let (mut sent, mut got) = (0u64, 0u64);
            while got < iters {
                while sent < iters && sent - got < 64 {
                    let _ = client.send(&queries[(sent as usize) % queries.len()]);
                    sent += 1;
                }
                match client.recv(&mut buf) {
                    Ok(_) => got += 1,
                    // A lost datagram: count it so the run ends (bounded).
                    Err(_) => got += sent - got,
                }
            }
            start.elapsed()
        })
    });
    group.finish();
    runtime.block_on(server.shutdown());
}

criterion_group!(benches, per_query, udp_loopback);
criterion_main!(benches);
