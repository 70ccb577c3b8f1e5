//! A small world for the network tests: one VPC with two application subnets in two
//! AZs, an endpoint subnet in the first, an on-premises office and a provider service.

use std::net::SocketAddrV4;
use std::path::Path;
use std::time::Duration;

use vpcesim::control::ControlPlane;
use vpcesim::policy::{Initiator, PolicySnapshot};
use vpcesim::vnet::Network;

/// When the tests' steps start, in simulated time.
pub(crate) const T0: Duration = Duration::from_secs(1);
/// How long a step may take, in simulated time.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

/// The base topology; `extra` is appended (bandwidth, NACLs, ...).
pub(crate) fn world(extra: &str) -> ControlPlane {
    world_with_nacl(extra, "")
}

/// The base topology with `ep_nacl` (a `nacl = "..."` line) on the endpoint subnet.
pub(crate) fn world_with_nacl(extra: &str, ep_nacl: &str) -> ControlPlane {
    let src = format!(
        r#"
name = "vnet-test"
region = "us-east-1"
seed = 7

[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true

[subnets.app-a]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"

[subnets.app-b]
vpc = "main"
cidr = "10.0.2.0/24"
az = "us-east-1b"

[subnets.ep-a]
vpc = "main"
cidr = "10.0.11.0/24"
az = "us-east-1a"
{ep_nacl}

[instances.web-a]
subnet = "app-a"

[instances.web-b]
subnet = "app-b"

[onprem.office]
cidr = "192.168.0.0/16"
vpc = "main"
via = "vpn"
hosts = {{ laptop = "192.168.1.20" }}

[services.payments]
account = "provider"
az_ids = ["use1-az1", "use1-az2"]
ports = [443]
backend = "echo"

[accounts.provider]
id = "222222222222"

[security_groups.endpoint-sg]
vpc = "main"
ingress = [
  {{ proto = "tcp", ports = "0-65535", cidr = "10.0.0.0/16" }},
  {{ proto = "tcp", ports = 443, cidr = "192.168.0.0/16" }},
]

[endpoints.kinesis]
vpc = "main"
service = "com.amazonaws.us-east-1.kinesis-streams"
subnets = ["ep-a"]
security_groups = ["endpoint-sg"]
{extra}
"#
    );
    let scenario =
        vpcesim::scenario::parse(Path::new("vnet-test.toml"), &src).expect("fixture loads");
    let mut control = scenario.control;
    control.advance(Duration::ZERO);
    control
}

/// The network over `control`'s topology now.
pub(crate) fn network(control: &ControlPlane) -> Network {
    let topology = control.topology();
    Network::new(topology, PolicySnapshot::compile(topology), 7)
}

/// The address of endpoint `name`'s first ENI, on `port`.
pub(crate) fn eni(control: &ControlPlane, name: &str, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(crate::support::eni_ip(control, name), port)
}

/// A host initiator.
pub(crate) fn host(name: &str) -> Initiator {
    Initiator::Host(name.to_string())
}
