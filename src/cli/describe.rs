//! `vpcesim describe`: a scenario's endpoints, as `aws ec2 describe-vpc-endpoints` shows them.

use std::path::Path;
use std::process::ExitCode;

use super::Format;
use crate::control::names::dns_entries;
use crate::scenario::load_file;

pub(super) fn run(file: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let scenario = match load_file(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", e.render().trim_end());
            return Ok(ExitCode::FAILURE);
        }
    };
    let control = &scenario.control;
    match format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&control.describe_endpoints_json())?
        ),
        Format::Text => {
            let topology = control.topology();
            for endpoint in topology.endpoints.values() {
                outln!(
                    "{} {} ({}) in {} -> {}  private DNS {}",
                    endpoint.name,
                    endpoint.id,
                    endpoint.state,
                    endpoint.vpc,
                    endpoint.service_name,
                    if endpoint.private_dns { "on" } else { "off" }
                );
                for eni in &endpoint.enis {
                    let eni = &topology.enis[eni];
                    let subnet = &topology.subnets[&eni.subnet];
                    outln!(
                        "  {} {} in {} ({}, {})",
                        eni.id,
                        eni.ip,
                        subnet.name,
                        subnet.az_name,
                        subnet.az_id
                    );
                }
                for entry in dns_entries(topology, endpoint) {
                    outln!("  {} ({})", entry.name, entry.hosted_zone_id);
                }
            }
            if topology.endpoints.is_empty() {
                outln!("no endpoints");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
