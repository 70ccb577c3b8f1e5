//! One flow decision with 1,000 security group rules (on each side) and 20 NACL entries
//! per direction: the target is under 1 µs.
//!
//! `cargo bench --bench policy`

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use vpcesim::policy::{FlowKey, Initiator, PolicySnapshot, Proto, Verdict};

/// A topology whose matching rules are the last ones: every rule is evaluated.
fn topology() -> String {
    let mut s = String::from(
        r#"name = "bench"
[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true
[subnets.app]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
nacl = "big"
[subnets.ep]
vpc = "main"
cidr = "10.0.2.0/24"
az = "us-east-1a"
nacl = "big"
[instances.web]
subnet = "app"
ip = "10.0.1.10"
security_groups = ["web"]
[endpoints.kinesis]
vpc = "main"
service = "com.amazonaws.us-east-1.kinesis-streams"
subnets = ["ep"]
security_groups = ["endpoint-sg"]
"#,
    );
    let rules = |out: &mut String, last: &str| {
        for i in 0..999u32 {
            let _ = writeln!(
                out,
                "  {{ proto = \"tcp\", ports = {}, cidr = \"172.{}.{}.0/24\" }},",
                1000 + i % 50,
                16 + i / 250,
                i % 250
            );
        }
        let _ = writeln!(out, "  {last},");
    };
    s.push_str("[security_groups.web]\nvpc = \"main\"\negress = [\n");
    rules(
        &mut s,
        r#"{ proto = "tcp", ports = 443, cidr = "10.0.2.0/24" }"#,
    );
    s.push_str("]\n[security_groups.endpoint-sg]\nvpc = \"main\"\ningress = [\n");
    rules(&mut s, r#"{ proto = "tcp", ports = 443, sg = "web" }"#);
    s.push_str("]\n");
    let nacl = |out: &mut String, dir: &str| {
        let _ = writeln!(out, "{dir} = [");
        for i in 1..20u32 {
            let _ = writeln!(
                out,
                "  {{ rule = {}, proto = \"udp\", ports = {}, cidr = \"192.168.{i}.0/24\", action = \"deny\" }},",
                i * 10,
                5000 + i
            );
        }
        let _ = writeln!(
            out,
            "  {{ rule = 1000, proto = \"tcp\", ports = \"0-65535\", cidr = \"10.0.0.0/16\", action = \"allow\" }},\n]"
        );
    };
    s.push_str("[nacls.big]\nvpc = \"main\"\n");
    nacl(&mut s, "inbound");
    nacl(&mut s, "outbound");
    s
}

fn bench(c: &mut Criterion) {
    let mut scenario = vpcesim::scenario::parse(Path::new("bench.toml"), &topology())
        .expect("bench topology loads");
    scenario.control.advance(Duration::ZERO);
    let topology = scenario.control.topology();
    let eni = topology.enis.values().next().expect("one ENI").ip;
    let policy = PolicySnapshot::compile(topology);
    let from = Initiator::Host("web".into());
    let flow = FlowKey {
        src: Ipv4Addr::new(10, 0, 1, 10),
        src_port: 40_000,
        dst: eni,
        dst_port: 443,
        proto: Proto::Tcp,
    };
    assert!(
        matches!(policy.decide(&from, &flow), Verdict::Allow(_)),
        "the bench flow is allowed"
    );
    c.bench_function("decide_1000_sg_rules_20_nacl_entries", |b| {
        b.iter(|| policy.decide(black_box(&from), black_box(&flow)))
    });
    c.bench_function("recheck_1000_sg_rules_20_nacl_entries", |b| {
        b.iter(|| policy.recheck(black_box(&from), black_box(&flow)))
    });
    c.bench_function("compile_bench_topology", |b| {
        b.iter(|| PolicySnapshot::compile(black_box(topology)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
