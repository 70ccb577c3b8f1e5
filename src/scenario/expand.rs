//! Placeholder expansion: `{NAME}` is endpoint NAME's regional DNS name and `{NAME@AZ}`
//! its zonal name in AZ (the owner's AZ name), expanded in place inside longer names.

use super::bindings::Bindings;
use crate::control::ControlPlane;
use crate::control::names::{regional_name, zonal_name};
use crate::control::service::ServiceInfo;

/// A piece of a text that may hold placeholders.
#[derive(Debug, PartialEq)]
pub(super) enum Piece<'t> {
    /// Text that stays as it is.
    Text(&'t str),
    /// `{NAME}` or `{NAME@AZ}`; `inner` is what stands between the braces.
    Placeholder {
        inner: &'t str,
        name: &'t str,
        az: Option<&'t str>,
    },
}

/// Splits `text` into plain text and placeholders; the error names an unclosed `{`.
pub(super) fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("`{text}` has a `{{` without a closing `}}`"))?;
        let inner = &rest[open + 1..open + close];
        let (name, az) = match inner.split_once('@') {
            Some((n, az)) => (n, Some(az)),
            None => (inner, None),
        };
        out.push(Piece::Placeholder { inner, name, az });
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Expands every placeholder of `text` against the world as it is now; a name means
/// the endpoint most recently created under it (`bindings`).
///
/// An endpoint keeps its names for its whole life, so a placeholder expands even while
/// the endpoint is deleted (and then simply does not resolve).
pub(super) fn expand(
    control: &ControlPlane,
    bindings: &Bindings,
    text: &str,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 64);
    let topology = control.topology();
    for piece in pieces(text)? {
        let (inner, name, az) = match piece {
            Piece::Text(t) => {
                out.push_str(t);
                continue;
            }
            Piece::Placeholder { inner, name, az } => (inner, name, az),
        };
        let endpoint = topology.endpoints.get(bindings.key(name)).ok_or_else(|| {
            format!("placeholder `{{{inner}}}`: endpoint `{name}` does not exist (yet)")
        })?;
        let service = ServiceInfo::of(topology, &endpoint.service).ok_or_else(|| {
            format!("placeholder `{{{inner}}}`: the endpoint's service no longer exists")
        })?;
        out.push_str(&match az {
            Some(az) => zonal_name(topology, endpoint, &service, az),
            None => regional_name(topology, endpoint, &service),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_splits_into_plain_pieces_and_placeholders() {
        assert_eq!(
            pieces("bucket.{s3}:443/{k@us-east-1a}").unwrap(),
            vec![
                Piece::Text("bucket."),
                Piece::Placeholder {
                    inner: "s3",
                    name: "s3",
                    az: None
                },
                Piece::Text(":443/"),
                Piece::Placeholder {
                    inner: "k@us-east-1a",
                    name: "k",
                    az: Some("us-east-1a")
                },
            ]
        );
        assert_eq!(pieces("").unwrap(), vec![]);
        assert_eq!(
            pieces("a{b").unwrap_err(),
            "`a{b` has a `{` without a closing `}`"
        );
    }
}
