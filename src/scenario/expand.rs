//! Placeholder expansion: `{NAME}` is endpoint NAME's regional DNS name and `{NAME@AZ}`
//! its zonal name in AZ (the owner's AZ name), expanded in place inside longer names.

use crate::control::ControlPlane;
use crate::control::names::{regional_name, zonal_name};
use crate::control::service::ServiceInfo;

/// Expands every placeholder of `text` against the world as it is now.
///
/// An endpoint keeps its names for its whole life, so a placeholder expands even while
/// the endpoint is deleted (and then simply does not resolve).
pub(super) fn expand(control: &ControlPlane, text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("`{text}` has a `{{` without a closing `}}`"))?;
        let inner = &rest[open + 1..open + close];
        let (name, az) = match inner.split_once('@') {
            Some((n, az)) => (n, Some(az)),
            None => (inner, None),
        };
        let topology = control.topology();
        let endpoint = topology.endpoints.get(name).ok_or_else(|| {
            format!("placeholder `{{{inner}}}`: endpoint `{name}` does not exist (yet)")
        })?;
        let service = ServiceInfo::of(topology, &endpoint.service).ok_or_else(|| {
            format!("placeholder `{{{inner}}}`: the endpoint's service no longer exists")
        })?;
        out.push_str(&match az {
            Some(az) => zonal_name(topology, endpoint, &service, az),
            None => regional_name(topology, endpoint, &service),
        });
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
