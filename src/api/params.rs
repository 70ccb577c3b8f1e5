//! The parameters of one request, parsed once into a tree of their dotted names.
//!
//! `Filter.2.Value.1=x` becomes the path `Filter` / `2` / `Value` / `1`, so a list
//! (`SubnetId.N`), the filters and the tags are read by walking one node's children:
//! the work is linear in the size of the request however many filters or IDs it
//! names. [`Params::parse`] also checks what every action shares, before the request
//! goes near the control plane: the characters of every name and value, the number of
//! parameters, list indexes, and EC2's caps on filters.

use std::collections::HashMap;

use indexmap::IndexMap;

use crate::control::{ApiError, ErrorCode};

/// The most parameters one request may carry. The largest request vpcesim answers
/// (1,000 IDs, or 50 filters of 200 values, plus tags) needs about half of this.
pub const MAX_PARAMETERS: usize = 25_000;

/// The most items of one list (`VpcEndpointId.N`, `SubnetId.N`, ...): list indexes run
/// from 1 to this.
pub const MAX_LIST_ITEMS: usize = 1000;

/// EC2's cap on `Filter.N` per request (`FilterLimitExceeded` above it).
pub const MAX_FILTERS: usize = 50;

/// EC2's cap on `Filter.N.Value.M` per filter (`FilterLimitExceeded` above it).
pub const MAX_FILTER_VALUES: usize = 200;

/// One `Filter.N`: a name and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `Filter.N.Name`.
    pub name: String,
    /// `Filter.N.Value.M`, in M order.
    pub values: Vec<String>,
}

/// One dotted-name segment: a value and the segments below it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    value: Option<String>,
    children: HashMap<String, Self>,
}

impl Node {
    fn child(&self, segment: &str) -> Option<&Self> {
        self.children.get(segment)
    }

    /// The node at dotted `path` below this one.
    fn find(&self, path: &str) -> Option<&Self> {
        path.split('.')
            .try_fold(self, |node, segment| node.child(segment))
    }

    /// The numbered children (`1`, `2`, ...) in index order. Indexes were checked at
    /// parse time, so every numeric child is in range.
    fn items(&self) -> Vec<&Self> {
        let mut items: Vec<(u32, &Self)> = self
            .children
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
            .collect();
        items.sort_unstable_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, node)| node).collect()
    }

    fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

/// The parameters of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    root: Node,
}

/// Why a string cannot go into an EC2 document: the first character XML 1.0 forbids
/// (C0 controls but tab, newline and carriage return; U+FFFE, U+FFFF), with its
/// position in characters.
pub fn forbidden_char(text: &str) -> Option<(usize, char)> {
    text.chars().enumerate().find(|(_, c)| !is_xml_char(*c))
}

/// Whether XML 1.0 allows `c` in a document (surrogates cannot occur in a `str`).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

fn bad_char(key: &str, what: &str, position: usize, c: char) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidParameterValue,
        format!(
            "The {what} of parameter {} has a character that is not allowed (U+{:04X}) at position {position}",
            printable(key),
            u32::from(c)
        ),
    )
}

/// `text` with every character XML forbids written as U+FFFD, for error messages.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
        .collect()
}

impl Params {
    /// Parses the query string and the form body (a key in both takes the body's value)
    /// and checks the request's shape: characters, parameter count, list indexes and
    /// filter caps.
    pub fn parse(query: &str, body: &[u8]) -> Result<Self, ApiError> {
        let mut root = Node::default();
        let pairs = form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(body));
        for (count, (key, value)) in pairs.enumerate() {
            if count == MAX_PARAMETERS {
                return Err(ApiError::new(
                    ErrorCode::InvalidQueryParameter,
                    format!("The request has more than {MAX_PARAMETERS} parameters"),
                ));
            }
            if let Some((at, c)) = forbidden_char(&key) {
                return Err(bad_char(&key, "name", at, c));
            }
            if let Some((at, c)) = forbidden_char(&value) {
                return Err(bad_char(&key, "value", at, c));
            }
            let segments: Vec<&str> = key.split('.').collect();
            let mut node = &mut root;
            for (depth, segment) in segments.iter().enumerate() {
                check_index(&key, &segments[..depth], segment)?;
                node = node.children.entry((*segment).to_string()).or_default();
            }
            node.value = Some(value.into_owned());
        }
        Ok(Self { root })
    }

    /// Every parameter's value, sorted (for the one-line log of a change).
    pub(crate) fn values(&self) -> impl Iterator<Item = &str> {
        let mut stack = vec![&self.root];
        let mut out = Vec::new();
        while let Some(node) = stack.pop() {
            out.extend(node.value());
            stack.extend(node.children.values());
        }
        out.sort_unstable();
        out.into_iter()
    }

    /// A parameter's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.root.find(key).and_then(Node::value)
    }

    /// A parameter that must be there: `MissingParameter` otherwise.
    pub fn required(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing(key))
    }

    /// A boolean parameter (`true`/`false`, any case).
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(invalid_value(key, v)),
        }
    }

    /// An integer parameter.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|v| v.parse::<i64>().map_err(|_| invalid_value(key, v)))
            .transpose()
    }

    /// The list `prefix.1`, `prefix.2`, ... in index order (indexes need not be dense).
    pub fn list(&self, prefix: &str) -> Vec<String> {
        self.root.find(prefix).map_or_else(Vec::new, |node| {
            node.items()
                .into_iter()
                .filter_map(|item| item.value().map(str::to_string))
                .collect()
        })
    }

    /// Every `Filter.N` (`Filter.N.Name`, `Filter.N.Value.M`).
    pub fn filters(&self) -> Result<Vec<Filter>, ApiError> {
        let Some(filters) = self.root.child("Filter") else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (n, filter) in filters.items().into_iter().enumerate() {
            let name = filter
                .child("Name")
                .and_then(Node::value)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| missing(&format!("Filter.{}.Name", n + 1)))?;
            let values = filter.child("Value").map_or_else(Vec::new, |v| {
                v.items()
                    .into_iter()
                    .filter_map(|item| item.value().map(str::to_string))
                    .collect()
            });
            out.push(Filter {
                name: name.to_string(),
                values,
            });
        }
        Ok(out)
    }

    /// `prefix.N.Key` / `prefix.N.Value` pairs (`Tag.N`, `TagSpecification.1.Tag.N`);
    /// a missing value is `None`.
    pub fn tags(&self, prefix: &str) -> Vec<(String, Option<String>)> {
        self.root.find(prefix).map_or_else(Vec::new, |node| {
            node.items()
                .into_iter()
                .filter_map(|item| {
                    let key = item.child("Key")?.value()?.to_string();
                    let value = item
                        .child("Value")
                        .and_then(Node::value)
                        .map(str::to_string);
                    Some((key, value))
                })
                .collect()
        })
    }

    /// The tags of every `TagSpecification.N` whose `ResourceType` is `resource_type`.
    pub fn tag_specifications(
        &self,
        resource_type: &str,
    ) -> Result<IndexMap<String, String>, ApiError> {
        let mut out = IndexMap::new();
        let Some(specs) = self.root.child("TagSpecification") else {
            return Ok(out);
        };
        for (n, spec) in specs.items().into_iter().enumerate() {
            let kind = spec
                .child("ResourceType")
                .and_then(Node::value)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| missing(&format!("TagSpecification.{}.ResourceType", n + 1)))?;
            if kind != resource_type {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    format!(
                        "'{kind}' is not a valid taggable resource type for this operation; expected '{resource_type}'"
                    ),
                ));
            }
            let Some(tags) = spec.child("Tag") else {
                continue;
            };
            for tag in tags.items() {
                if let Some(key) = tag.child("Key").and_then(Node::value) {
                    let value = tag.child("Value").and_then(Node::value).unwrap_or("");
                    out.insert(key.to_string(), value.to_string());
                }
            }
        }
        Ok(out)
    }
}

/// A segment of digits is a list index, from 1 to the list's cap: [`MAX_FILTERS`] for
/// `Filter.N` and [`MAX_FILTER_VALUES`] for `Filter.N.Value.M` (`FilterLimitExceeded`
/// above them, as EC2 answers), [`MAX_LIST_ITEMS`] for every other list. An index out
/// of range (`VpcEndpointId.0`, `VpcEndpointId.99999999999`) is an error rather than
/// an item quietly dropped; indexes need not be dense.
fn check_index(key: &str, parents: &[&str], segment: &str) -> Result<(), ApiError> {
    if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    let (cap, code, what) = match parents {
        ["Filter"] => (MAX_FILTERS, ErrorCode::FilterLimitExceeded, "filters"),
        ["Filter", _, "Value"] => (
            MAX_FILTER_VALUES,
            ErrorCode::FilterLimitExceeded,
            "values per filter",
        ),
        _ => (
            MAX_LIST_ITEMS,
            ErrorCode::InvalidParameterValue,
            "items per list",
        ),
    };
    match segment.parse::<usize>() {
        Ok(n) if (1..=cap).contains(&n) => Ok(()),
        _ => Err(ApiError::new(
            code,
            format!(
                "The parameter {} has the list index {segment}: list indexes run from 1 to {cap} (at most {cap} {what})",
                printable(key)
            ),
        )),
    }
}

fn missing(key: &str) -> ApiError {
    ApiError::new(
        ErrorCode::MissingParameter,
        format!("The request must contain the parameter {key}"),
    )
}

fn invalid_value(key: &str, value: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidParameterValue,
        format!(
            "Value ({}) for parameter {key} is invalid",
            printable(value)
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;
    use std::time::{Duration, Instant};

    use super::*;

    fn parse(body: &str) -> Result<Params, ApiError> {
        Params::parse("", body.as_bytes())
    }

    fn code(body: &str) -> ErrorCode {
        parse(body).expect_err("the request should be refused").code
    }

    #[test]
    fn flattened_lists_filters_and_tags() {
        let body = b"Action=CreateVpcEndpoint&SubnetId.2=subnet-b&SubnetId.1=subnet-a&SubnetId.10=subnet-j\
&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1&Filter.1.Value.2=vpc-2&Filter.2.Name=tag%3AName&Filter.2.Value.1=a%20b\
&TagSpecification.1.ResourceType=vpc-endpoint&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=x";
        let p = Params::parse("Version=2016-11-15", body).unwrap();
        assert_eq!(p.get("Action"), Some("CreateVpcEndpoint"));
        assert_eq!(p.get("Version"), Some("2016-11-15"));
        assert_eq!(p.list("SubnetId"), ["subnet-a", "subnet-b", "subnet-j"]);
        let f = p.filters().unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].values, ["vpc-1", "vpc-2"]);
        assert_eq!(f[1].name, "tag:Name");
        assert_eq!(f[1].values, ["a b"]);
        assert_eq!(p.tag_specifications("vpc-endpoint").unwrap()["Name"], "x");
        assert_eq!(
            p.tag_specifications("vpc").unwrap_err().code,
            ErrorCode::InvalidParameterValue
        );
        assert_eq!(
            p.required("VpcId").unwrap_err().code,
            ErrorCode::MissingParameter
        );
        let bad = parse("DryRun=maybe&Filter.1.Value.1=x").unwrap();
        assert_eq!(
            bad.bool("DryRun").unwrap_err().code,
            ErrorCode::InvalidParameterValue
        );
        assert_eq!(bad.filters().unwrap_err().code, ErrorCode::MissingParameter);
    }

    #[test]
    fn the_body_wins_over_the_query_string() {
        let p = Params::parse("Action=A&Version=1", b"Action=B").unwrap();
        assert_eq!(p.get("Action"), Some("B"));
        assert_eq!(p.get("Version"), Some("1"));
    }

    #[test]
    fn list_indexes_out_of_range_are_refused_not_dropped() {
        for body in [
            "VpcEndpointId.99999999999=vpce-1",
            "VpcEndpointId.0=vpce-1",
            "VpcEndpointId.1001=vpce-1",
            "SubnetId.4294967296=subnet-1",
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidParameterValue, "{body}");
            assert!(
                err.message.contains("list index"),
                "{body}: {}",
                err.message
            );
        }
        let p = parse("VpcEndpointId.1000=vpce-1").unwrap();
        assert_eq!(p.list("VpcEndpointId"), ["vpce-1"]);
    }

    #[test]
    fn filter_caps_are_ec2s() {
        let mut body = String::new();
        for n in 1..=MAX_FILTERS {
            write!(body, "Filter.{n}.Name=vpc-id&Filter.{n}.Value.1=x&").unwrap();
        }
        assert_eq!(parse(&body).unwrap().filters().unwrap().len(), MAX_FILTERS);
        body.push_str("Filter.51.Name=vpc-id");
        assert_eq!(code(&body), ErrorCode::FilterLimitExceeded);

        let mut body = String::from("Filter.1.Name=vpc-id");
        for m in 1..=MAX_FILTER_VALUES {
            write!(body, "&Filter.1.Value.{m}=x").unwrap();
        }
        assert_eq!(
            parse(&body).unwrap().filters().unwrap()[0].values.len(),
            200
        );
        body.push_str("&Filter.1.Value.201=x");
        assert_eq!(code(&body), ErrorCode::FilterLimitExceeded);
    }

    #[test]
    fn control_characters_are_refused_in_names_and_values() {
        for body in [
            "Tag.1.Key=a&Tag.1.Value=%00",
            "Tag.1.Key=%01",
            "Tag.1.Value=a%EF%BF%BEb",
            "Tag.1.Value=%EF%BF%BF",
            "Tag%01.1.Key=k",
            "PolicyDocument=%1B",
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidParameterValue, "{body}");
            assert!(
                err.message.chars().all(is_xml_char),
                "the message itself must be XML-safe: {:?}",
                err.message
            );
        }
        let ok =
            parse("PolicyDocument=%7B%0A%09%22a%22%3A1%0D%0A%7D&Tag.1.Value=caf%C3%A9").unwrap();
        assert_eq!(ok.get("PolicyDocument"), Some("{\n\t\"a\":1\r\n}"));
    }

    /// The request that once held the control plane for 24 s: it is now refused at the
    /// 51st filter, and a request just under the parameter cap parses in linear time.
    #[test]
    fn a_hundred_thousand_filters_are_refused_quickly() {
        let mut body = String::with_capacity(2 << 20);
        for n in 1..=100_000 {
            write!(body, "Filter.{n}.Name=vpc-id&").unwrap();
        }
        let started = Instant::now();
        let err = parse(&body).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(err.code, ErrorCode::FilterLimitExceeded);

        let mut body = String::new();
        for n in 1..=MAX_LIST_ITEMS {
            for m in 1..=25 {
                write!(body, "X.{n}.Value.{m}=v&").unwrap();
            }
        }
        let started = Instant::now();
        let p = parse(&body).unwrap();
        assert_eq!(p.list("X.1000.Value").len(), 25);
        assert_eq!(
            code(&format!("{body}Y=1")),
            ErrorCode::InvalidQueryParameter,
            "parameter 25,001"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}
