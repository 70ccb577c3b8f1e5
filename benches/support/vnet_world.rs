//! The world both network benches use: one instance and one endpoint ENI in the same
//! AZ, at the default bandwidth (10 Gbps per endpoint, per AZ, per direction).

use std::net::SocketAddrV4;
use std::path::Path;
use std::time::Duration;

use vpcesim::policy::{Initiator, PolicySnapshot};
use vpcesim::vnet::Network;

const WORLD: &str = r#"
name = "vnet-bench"
region = "us-east-1"
seed = 11

[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true

[subnets.app-a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"

[instances.producer]
subnet = "app-a"

[endpoints.kinesis]
vpc = "main"
service = "com.amazonaws.us-east-1.kinesis-streams"
subnets = ["app-a"]
"#;

/// A fresh network, the producer and the ENI's address on 443.
pub(crate) fn world() -> (Network, Initiator, SocketAddrV4) {
    let scenario =
        vpcesim::scenario::parse(Path::new("vnet-bench.toml"), WORLD).expect("bench world loads");
    let mut control = scenario.control;
    control.advance(Duration::ZERO);
    let topology = control.topology();
    let eni = topology.enis.values().next().expect("one ENI").ip;
    let net = Network::new(topology, PolicySnapshot::compile(topology), scenario.seed);
    (
        net,
        Initiator::Host("producer".into()),
        SocketAddrV4::new(eni, 443),
    )
}
