//! A topology with every case, a real echo server, and client helpers.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vpcesim::control::ControlPlane;
use vpcesim::forwarder::{
    FlowLog, ForwardContext, ForwardOptions, ForwardSpec, Forwarder, HostResolver,
};
use vpcesim::model::Bandwidth;
use vpcesim::policy::PolicySnapshot;

use crate::support::eni_ip;

/// A real echo server on loopback; returns its address.
pub(crate) async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                if tokio::io::copy(&mut r, &mut w).await.is_ok() {
                    let _ = w.shutdown().await;
                }
            });
        }
    });
    addr
}

/// A loopback port that nobody listens on.
pub(crate) async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

fn topology(real: SocketAddr, refusing: SocketAddr) -> String {
    format!(
        r#"
name = "forwarder"

[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true

[vpcs.other]
cidr = "10.1.0.0/16"

[subnets.app-a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"

[subnets.locked]
vpc = "main"
cidr = "10.0.3.0/24"
az = "us-east-1a"
nacl = "locked"

[subnets.ep-a]
vpc = "main"
cidr = "10.0.10.0/24"
az = "us-east-1a"
nacl = "ep"

[subnets.other-a]
vpc = "other"
cidr = "10.1.1.0/24"
az = "us-east-1a"

[nacls.locked]
vpc = "main"
inbound = [ {{ rule = 100, proto = "all", cidr = "0.0.0.0/0", action = "allow" }} ]
outbound = [ {{ rule = 100, proto = "tcp", ports = 80, cidr = "0.0.0.0/0", action = "allow" }} ]

[nacls.ep]
vpc = "main"
inbound = [ {{ rule = 100, proto = "all", cidr = "0.0.0.0/0", action = "allow" }} ]
outbound = [ {{ rule = 100, proto = "all", cidr = "0.0.0.0/0", action = "allow" }} ]

[security_groups.web]
vpc = "main"

[security_groups.endpoint-sg]
vpc = "main"
ingress = [ {{ proto = "tcp", ports = "0-65535", sg = "web" }} ]

[instances.web-1]
subnet = "app-a"
ip = "10.0.1.10"
security_groups = ["web"]

[instances.db-1]
subnet = "app-a"
ip = "10.0.1.20"

[instances.jail-1]
subnet = "locked"
ip = "10.0.3.10"
security_groups = ["web"]

[instances.other-1]
subnet = "other-a"
ip = "10.1.1.10"

[services.real]
az_ids = ["use1-az1"]
ports = [443]
backend = "{real}"

[services.refusing]
az_ids = ["use1-az1"]
ports = [443]
backend = "{refusing}"

[services.gated]
az_ids = ["use1-az1"]
ports = [443]
acceptance_required = true

[services.bulk]
az_ids = ["use1-az1"]
ports = [443]
backend = "sink"

[endpoints.kinesis]
vpc = "main"
service = "com.amazonaws.us-east-1.kinesis-streams"
subnets = ["ep-a"]
security_groups = ["endpoint-sg"]

[endpoints.real]
vpc = "main"
service = "real"
subnets = ["ep-a"]
security_groups = ["endpoint-sg"]

[endpoints.refusing]
vpc = "main"
service = "refusing"
subnets = ["ep-a"]
security_groups = ["endpoint-sg"]

[endpoints.gated]
vpc = "main"
service = "gated"
subnets = ["ep-a"]
security_groups = ["endpoint-sg"]

[endpoints.bulk]
vpc = "main"
service = "bulk"
subnets = ["ep-a"]
security_groups = ["endpoint-sg"]
"#
    )
}

/// The world of one test: its control plane, forwarding context and flow log.
pub(crate) struct World {
    pub(crate) control: ControlPlane,
    pub(crate) context: ForwardContext,
    pub(crate) flow_log: PathBuf,
    _dir: tempfile::TempDir,
    pub(crate) forwarders: Vec<Forwarder>,
}

impl World {
    pub(crate) async fn new() -> Self {
        Self::with_bandwidth(Bandwidth {
            per_az_gbps: 1000.0,
            burst_mbit: 1000.0,
        })
        .await
    }

    pub(crate) async fn with_bandwidth(bandwidth: Bandwidth) -> Self {
        Self::with(
            bandwidth,
            ForwardOptions {
                buffer_size: 64 * 1024,
                hold: Duration::from_secs(30),
                ..ForwardOptions::default()
            },
        )
        .await
    }

    /// A world whose forwarder has `options` (its bounds).
    pub(crate) async fn with_options(options: ForwardOptions) -> Self {
        Self::with(
            Bandwidth {
                per_az_gbps: 1000.0,
                burst_mbit: 1000.0,
            },
            options,
        )
        .await
    }

    async fn with(bandwidth: Bandwidth, options: ForwardOptions) -> Self {
        let (real, refusing) = (echo_server().await, closed_port().await);
        let mut scenario =
            vpcesim::scenario::parse(Path::new("forwarder.toml"), &topology(real, refusing))
                .expect("topology loads");
        scenario.control.advance(Duration::ZERO);
        let control = scenario.control;
        let mut names: HashMap<String, Ipv4Addr> = HashMap::new();
        for name in ["kinesis", "real", "refusing", "gated", "bulk"] {
            names.insert(format!("{name}.test"), eni_ip(&control, name));
        }
        let resolver: Arc<dyn HostResolver> = Arc::new(names);
        let dir = tempfile::tempdir().unwrap();
        let flow_log = dir.path().join("flows.log");
        let log = FlowLog::create(&flow_log, true, 1024).unwrap();
        let policy = Arc::new(PolicySnapshot::compile(control.topology()));
        let context = ForwardContext::new(policy, bandwidth, resolver, Some(log), options);
        Self {
            control,
            context,
            flow_log,
            _dir: dir,
            forwarders: Vec::new(),
        }
    }

    /// Starts a forwarder for `FROM@HOST:PORT` on a free loopback port; returns its address.
    pub(crate) async fn forward(&mut self, target: &str) -> SocketAddr {
        let spec: ForwardSpec = format!("127.0.0.1:0={target}").parse().unwrap();
        let f = Forwarder::bind(&self.context, spec).await.unwrap();
        let addr = f.local_addr();
        self.forwarders.push(f);
        addr
    }

    /// Compiles the control plane's topology and applies it to live flows.
    pub(crate) fn apply(&self) -> usize {
        self.context
            .apply(Arc::new(PolicySnapshot::compile(self.control.topology())))
    }

    /// Waits (at most 2 s) for a flow log line containing every one of `parts`.
    pub(crate) async fn log_line(&self, parts: &[&str]) -> String {
        for _ in 0..200 {
            let text = std::fs::read_to_string(&self.flow_log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                return line.to_string();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "no flow log line with {parts:?} in:\n{}",
            std::fs::read_to_string(&self.flow_log).unwrap_or_default()
        );
    }
}

/// Asserts that the connection is silent: nothing comes back and it is not closed.
pub(crate) async fn assert_silent(stream: &mut TcpStream) {
    stream.write_all(b"anyone there?").await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(400), stream.read(&mut buf)).await;
    assert!(read.is_err(), "expected silence, got {read:?}");
}

/// Sends `msg`, half-closes, and returns everything read until end of stream.
pub(crate) async fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    stream.write_all(msg).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("reply within 10 s")
        .expect("read");
    out
}
