//! Scale check for private DNS: 50,000 endpoints in 3 AZs across 1,000 VPCs must load and
//! compile in under 2 s and 1 GiB, and one endpoint created, modified or deleted must
//! reach the answers within 10 ms.
//!
//! `cargo bench --bench dns_scale` (release). Prints each figure and PASS/FAIL against
//! the target; exits non-zero on a FAIL. Knobs: `ENDPOINTS`, `VPCS`, `AZS`, `ROUNDS`.

use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use vpcesim::control::{CreateEndpoint, ModifyEndpoint};
use vpcesim::dns::synth::{Spec, world};
use vpcesim::dns::{DnsHandle, DnsSnapshot, ViewId};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory of this process (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let spec = Spec {
        vpcs: env("VPCS", 1000),
        endpoints: env("ENDPOINTS", 50_000),
        azs: env("AZS", 3),
    };
    let rounds = env("ROUNDS", 21);
    let mut failed = false;

    let t0 = Instant::now();
    let mut control = world(spec);
    let built = t0.elapsed();
    let t1 = Instant::now();
    let snapshot = DnsSnapshot::compile(&control);
    let compiled = t1.elapsed();
    let rss = peak_rss_mib();
    let load_ok = built + compiled < Duration::from_secs(2) && rss < 1024.0;
    failed |= !load_ok;
    println!(
        "world: {} endpoints x {} AZs in {} VPCs, {} vpce names",
        control.topology().endpoints.len(),
        spec.azs,
        spec.vpcs,
        snapshot.vpce_name_count()
    );
    println!(
        "load {:.1} ms + compile {:.1} ms = {:.1} ms, peak RSS {rss:.0} MiB (target < 2000 ms, < 1024 MiB): {}",
        built.as_secs_f64() * 1e3,
        compiled.as_secs_f64() * 1e3,
        (built + compiled).as_secs_f64() * 1e3,
        verdict(load_ok)
    );
    let handle = DnsHandle::new(snapshot);

    // One change at a time: the control-plane call, then the snapshot update and swap.
    let mut control_times = Vec::new();
    let mut create = Vec::new();
    let mut modify = Vec::new();
    let mut delete = Vec::new();
    let vpc = "vpc-0";
    for round in 0..rounds {
        let now = Duration::from_secs(round as u64 + 1);
        // Free a slot in vpc-0 (its quota is 50; ep-0..ep-49 live there), then create in it.
        let t = Instant::now();
        let victim = format!("ep-{round}");
        control
            .delete_endpoint(now, "default", &victim)
            .expect("delete");
        control_times.push(t.elapsed());
        let t = Instant::now();
        handle.refresh(&control);
        delete.push(t.elapsed());
        let name = handle.load();
        assert_eq!(
            name.lookup(&ViewId::Public, &regional(&control, &victim), RecordType::A)
                .rcode,
            hickory_proto::op::ResponseCode::NXDomain
        );

        let t = Instant::now();
        let created = control
            .create_endpoint(
                now,
                "default",
                &CreateEndpoint {
                    vpc: vpc.into(),
                    service: "com.amazonaws.us-east-1.s3".into(),
                    subnets: vec![format!("{vpc}-us-east-1a"), format!("{vpc}-us-east-1b")],
                    ..CreateEndpoint::default()
                },
            )
            .expect("create");
        control_times.push(t.elapsed());
        let t = Instant::now();
        handle.refresh(&control);
        create.push(t.elapsed());
        let got = handle.load().lookup(
            &ViewId::Public,
            &regional(&control, &created.name),
            RecordType::A,
        );
        assert_eq!(got.addresses().len(), 2, "the new endpoint answers");

        let t = Instant::now();
        let target = format!("ep-{}", 100 + round);
        control
            .modify_endpoint(
                now,
                "default",
                &target,
                &ModifyEndpoint {
                    private_dns: Some(false),
                    ..ModifyEndpoint::default()
                },
            )
            .expect("modify");
        control_times.push(t.elapsed());
        let t = Instant::now();
        handle.refresh(&control);
        modify.push(t.elapsed());
    }
    let worst = [
        median(create.clone()),
        median(modify.clone()),
        median(delete.clone()),
    ];
    let max_all = create
        .iter()
        .chain(&modify)
        .chain(&delete)
        .max()
        .copied()
        .unwrap_or_default();
    let change_ok = max_all < Duration::from_millis(10);
    failed |= !change_ok;
    println!(
        "update after one change, median of {rounds}: create {:.2} ms, modify {:.2} ms, delete {:.2} ms; max {:.2} ms (target < 10 ms): {}",
        worst[0].as_secs_f64() * 1e3,
        worst[1].as_secs_f64() * 1e3,
        worst[2].as_secs_f64() * 1e3,
        max_all.as_secs_f64() * 1e3,
        verdict(change_ok)
    );
    println!(
        "  (the control-plane calls themselves: median {:.2} ms, max {:.2} ms; a full compile: {:.1} ms)",
        median(control_times.clone()).as_secs_f64() * 1e3,
        control_times
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3,
        compiled.as_secs_f64() * 1e3
    );
    // A change that touches no DNS (a NACL): the cost of finding out.
    let mut scan = Vec::new();
    for round in 0..rounds {
        control
            .set_nacl(
                Duration::from_secs(100 + round as u64),
                "vpc-1/default",
                None,
                None,
            )
            .expect("set_nacl");
        let t = Instant::now();
        handle.refresh(&control);
        scan.push(t.elapsed());
    }
    println!(
        "update after a change that touches no DNS: median {:.2} ms",
        median(scan).as_secs_f64() * 1e3
    );
    // The incremental result equals a full compile.
    let full = DnsSnapshot::compile(&control);
    let current = handle.load();
    for name in control.topology().endpoints.keys().take(2000) {
        let n = regional(&control, name);
        for view in [ViewId::Public, ViewId::Vpc("vpc-0".into())] {
            assert_eq!(
                full.lookup(&view, &n, RecordType::A),
                current.lookup(&view, &n, RecordType::A),
                "{n}"
            );
        }
    }
    println!("incremental snapshot == full compile on 4,000 lookups: PASS");
    if failed {
        std::process::exit(1);
    }
}

fn regional(control: &vpcesim::control::ControlPlane, endpoint: &str) -> String {
    let t = control.topology();
    let e = &t.endpoints[endpoint];
    let info = vpcesim::control::ServiceInfo::of(t, &e.service).expect("service");
    vpcesim::control::names::regional_name(t, e, &info)
}
