//! `vpcesim services`: the built-in catalog.

use std::process::ExitCode;

use anyhow::Context;

use super::Format;
use crate::control::ControlPlane;
use crate::model::{Region, Topology};

pub(super) fn run(region: &str, format: Format) -> anyhow::Result<ExitCode> {
    let region = Region::parse(region).context("--region")?;
    let topology = Topology {
        region,
        ..Topology::default()
    };
    let control = ControlPlane::new(topology, 0, Default::default());
    let services = control.all_services();
    match format {
        Format::Json => {
            let details: Vec<_> = services
                .iter()
                .map(|s| control.service_detail_json(s, None))
                .collect();
            outln!("{}", serde_json::to_string_pretty(&details)?);
        }
        Format::Text => {
            let width = services
                .iter()
                .map(|s| s.service_name.len())
                .max()
                .unwrap_or(0);
            for s in &services {
                let ports: Vec<String> = s.ports.iter().map(u16::to_string).collect();
                outln!(
                    "{:width$}  {:45}  tcp/{}",
                    s.service_name,
                    s.private_dns_names.join(", "),
                    ports.join(",")
                );
            }
            outln!("{} services", services.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
