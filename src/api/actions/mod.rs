//! The actions the API answers, one file per group, and what they share: the call
//! context, filters and pagination.

mod endpoints;
mod network;
mod notifications;
mod provider;
mod services;
mod tags;

use std::time::Duration;

use indexmap::IndexMap;

use super::protocol::{Filter, Params, Xml, glob};
use crate::control::{ApiError, ControlPlane, ErrorCode};
use crate::model::ids::is_valid_id;

/// One call: the control plane (locked), the caller's account name, `now`, the parameters.
pub(crate) struct Call<'a> {
    pub(crate) control: &'a mut ControlPlane,
    pub(crate) caller: &'a str,
    pub(crate) now: Duration,
    pub(crate) params: &'a Params,
}

/// An action: reads the call, changes the world through the control plane, and
/// writes the response body.
pub(crate) type Handler = fn(&mut Call<'_>) -> Result<Xml, ApiError>;

/// The handler of `action`, if vpcesim answers it.
pub(crate) fn find(action: &str) -> Option<Handler> {
    let handler: Handler = match action {
        "DescribeVpcEndpointServices" => services::describe_services,
        "CreateVpcEndpoint" => endpoints::create,
        "DescribeVpcEndpoints" => endpoints::describe,
        "ModifyVpcEndpoint" => endpoints::modify,
        "DeleteVpcEndpoints" => endpoints::delete,
        "CreateVpcEndpointConnectionNotification" => notifications::create,
        "DescribeVpcEndpointConnectionNotifications" => notifications::describe,
        "ModifyVpcEndpointConnectionNotification" => notifications::modify,
        "DeleteVpcEndpointConnectionNotifications" => notifications::delete,
        "AcceptVpcEndpointConnections" => provider::accept,
        "RejectVpcEndpointConnections" => provider::reject,
        "DescribeVpcEndpointConnections" => provider::describe_connections,
        "CreateVpcEndpointServiceConfiguration" => provider::create,
        "DescribeVpcEndpointServiceConfigurations" => provider::describe,
        "ModifyVpcEndpointServiceConfiguration" => provider::modify,
        "DeleteVpcEndpointServiceConfigurations" => provider::delete,
        "DescribeVpcs" => network::describe_vpcs,
        "DescribeVpcAttribute" => network::describe_vpc_attribute,
        "ModifyVpcAttribute" => network::modify_vpc_attribute,
        "DescribeSubnets" => network::describe_subnets,
        "DescribeSecurityGroups" => network::describe_security_groups,
        "DescribeNetworkInterfaces" => network::describe_network_interfaces,
        "CreateTags" => tags::create,
        "DeleteTags" => tags::delete,
        _ => return None,
    };
    Some(handler)
}

/// Whether an object passes every filter. `field` gives the object's values for a
/// filter name, `None` for a name the action does not know (an error, as in EC2);
/// `tag:KEY` and `tag-key` are answered from `tags`. A filter passes when any of its
/// values (`*` and `?` patterns) matches any of the object's values.
pub(crate) fn keep(
    filters: &[Filter],
    tags: &IndexMap<String, String>,
    field: impl Fn(&str) -> Option<Vec<String>>,
) -> Result<bool, ApiError> {
    for filter in filters {
        let values: Vec<String> = if let Some(key) = filter.name.strip_prefix("tag:") {
            tags.get(key).cloned().into_iter().collect()
        } else if filter.name == "tag-key" {
            tags.keys().cloned().collect()
        } else {
            field(&filter.name).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    format!("The filter '{}' is invalid", filter.name),
                )
            })?
        };
        let hit = filter
            .values
            .iter()
            .any(|pattern| values.iter().any(|v| glob(pattern, v)));
        if !hit {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One value as a filter's value list.
pub(crate) fn one(value: impl Into<String>) -> Option<Vec<String>> {
    Some(vec![value.into()])
}

const TOKEN_PREFIX: &str = "vpcesim-page-";

/// The smallest `MaxResults` EC2 accepts.
const MIN_RESULTS: i64 = 5;

/// Cuts `items` to the page that `MaxResults` and `NextToken` ask for; the token of the
/// next page when there is one. `MaxResults` runs from 5 to `cap` (1,000): below 5 is
/// `InvalidParameterValue`, above `cap` gives `cap`, as EC2 does.
pub(crate) fn paginate<T>(
    items: Vec<T>,
    params: &Params,
    cap: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match params.get("NextToken") {
        None | Some("") => 0,
        Some(token) => token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|n| usize::from_str_radix(n, 16).ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidNextToken,
                    format!("The token '{token}' is invalid"),
                )
            })?,
    };
    let size = match params.int("MaxResults")? {
        None => cap,
        Some(n) if n < MIN_RESULTS => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValue,
                format!(
                    "Value ( {n} ) for parameter maxResults is invalid. Expecting a value between {MIN_RESULTS} and {cap}."
                ),
            ));
        }
        Some(n) => usize::try_from(n).unwrap_or(cap).min(cap),
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(size).collect();
    let end = start + page.len();
    let next = (end < total).then(|| format!("{TOKEN_PREFIX}{end:x}"));
    Ok((page, next))
}

/// Writes `<nextToken>` when there is a next page.
pub(crate) fn next_token(x: &mut Xml, token: Option<&str>) {
    x.opt("nextToken", token);
}

/// Checks that `id` has the shape of a `prefix-` ID, else `code` (a `.Malformed` one).
pub(crate) fn check_id(id: &str, prefix: &str, code: ErrorCode) -> Result<(), ApiError> {
    if is_valid_id(prefix, id) {
        Ok(())
    } else {
        Err(ApiError::new(
            code,
            format!("Invalid Id: '{id}' (expecting '{prefix}-xxxxxxxxxxxxxxxxx')"),
        ))
    }
}

/// Records one item of a batch call: an error is a failure, except a dry run's
/// "would have succeeded".
pub(crate) fn record(
    failures: &mut Vec<(String, ApiError)>,
    id: String,
    result: Result<(), ApiError>,
) {
    if let Err(error) = result
        && error.code != ErrorCode::DryRunOperation
    {
        failures.push((id, error));
    }
}

/// `<unsuccessful>` of a batch call: each failed ID with its error.
pub(crate) fn unsuccessful(x: &mut Xml, failures: &[(String, ApiError)]) {
    x.set("unsuccessful", failures, |x, (id, error)| {
        x.elem("error", |x| {
            x.text("code", error.code.as_str());
            x.text("message", &error.message);
        });
        x.text("resourceId", id);
    });
}

/// A `<return>true</return>` body.
pub(crate) fn returns_true() -> Xml {
    let mut x = Xml::new();
    x.bool("return", true);
    x
}

/// A list parameter that must have at least one item.
pub(crate) fn required_list(params: &Params, prefix: &str) -> Result<Vec<String>, ApiError> {
    let items = params.list(prefix);
    if items.is_empty() {
        return Err(ApiError::new(
            ErrorCode::MissingParameter,
            format!("The request must contain the parameter {prefix}"),
        ));
    }
    Ok(items)
}

/// The ID of an account (by name), or empty.
pub(crate) fn account_id(control: &ControlPlane, account: &str) -> String {
    control
        .topology()
        .accounts
        .get(account)
        .map(|a| a.id.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(body: &str) -> Params {
        Params::parse("", body.as_bytes()).unwrap()
    }

    #[test]
    fn pages_and_tokens() {
        let items: Vec<u32> = (0..11).collect();
        let (page, next) = paginate(items.clone(), &params("MaxResults=5"), 1000).unwrap();
        assert_eq!(page, [0, 1, 2, 3, 4]);
        let token = next.unwrap();
        let (page, next) = paginate(
            items.clone(),
            &params(&format!("MaxResults=5&NextToken={token}")),
            1000,
        )
        .unwrap();
        assert_eq!(page, [5, 6, 7, 8, 9]);
        let (page, next) = paginate(
            items.clone(),
            &params(&format!("MaxResults=5&NextToken={}", next.unwrap())),
            1000,
        )
        .unwrap();
        assert_eq!((page, next), (vec![10], None));
        let (page, _) = paginate(items.clone(), &params("MaxResults=5000"), 3).unwrap();
        assert_eq!(page.len(), 3);
        assert_eq!(
            paginate(items.clone(), &params("NextToken=garbage"), 1000)
                .unwrap_err()
                .code,
            ErrorCode::InvalidNextToken
        );
        for below in ["MaxResults=0", "MaxResults=4", "MaxResults=-1"] {
            assert_eq!(
                paginate(items.clone(), &params(below), 1000)
                    .unwrap_err()
                    .code,
                ErrorCode::InvalidParameterValue,
                "{below}"
            );
        }
    }

    #[test]
    fn filters_match_any_value_and_tags() {
        let tags: IndexMap<String, String> = [("Name".to_string(), "web".to_string())].into();
        let field = |name: &str| match name {
            "vpc-id" => one("vpc-1"),
            _ => None,
        };
        let f = |name: &str, values: &[&str]| Filter {
            name: name.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        assert!(keep(&[f("vpc-id", &["vpc-2", "vpc-1"])], &tags, field).unwrap());
        assert!(!keep(&[f("vpc-id", &["vpc-2"])], &tags, field).unwrap());
        assert!(
            keep(
                &[f("tag:Name", &["w*"]), f("tag-key", &["Name"])],
                &tags,
                field
            )
            .unwrap()
        );
        assert!(!keep(&[f("tag:Env", &["*"])], &tags, field).unwrap());
        assert_eq!(
            keep(&[f("color", &["red"])], &tags, field)
                .unwrap_err()
                .code,
            ErrorCode::InvalidParameterValue
        );
    }
}
