//! `vpcesim services`: the built-in catalog, whole or filtered by `--search`.

use std::collections::HashSet;
use std::process::ExitCode;

use anyhow::Context;

use super::Format;
use crate::catalog;
use crate::control::ControlPlane;
use crate::model::{Region, Topology};

pub(super) fn run(region: &str, search: Option<&str>, format: Format) -> anyhow::Result<ExitCode> {
    let region = Region::parse(region).context("--region")?;
    let wanted: Option<HashSet<&str>> = search.map(|text| {
        catalog::search(&region, text)
            .into_iter()
            .map(|s| s.service_name.as_str())
            .collect()
    });
    let topology = Topology {
        region,
        ..Topology::default()
    };
    let control = ControlPlane::new(topology, 0, Default::default());
    let services: Vec<_> = control
        .all_services()
        .into_iter()
        .filter(|s| {
            wanted
                .as_ref()
                .is_none_or(|names| names.contains(s.service_name.as_str()))
        })
        .collect();
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
                let names = if s.private_dns_names.is_empty() {
                    "(no private DNS)".to_owned()
                } else {
                    s.private_dns_names.join(", ")
                };
                outln!(
                    "{:width$}  {:45}  tcp/{}",
                    s.service_name,
                    names,
                    ports.join(",")
                );
            }
            let count = match services.len() {
                1 => "1 service".to_owned(),
                n => format!("{n} services"),
            };
            match search {
                Some(text) => outln!("{count} matching `{text}`"),
                None => outln!("{count}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
