//! CreateVpcEndpoint, DescribeVpcEndpoints, ModifyVpcEndpoint, DeleteVpcEndpoints.

use super::{
    Call, account_id, check_id, keep, next_token, one, paginate, record, required_list,
    returns_true, unsuccessful,
};
use crate::api::protocol::Xml;
use crate::control::describe::DEFAULT_POLICY;
use crate::control::names::dns_entries;
use crate::control::{ApiError, ControlPlane, CreateEndpoint, ErrorCode, ModifyEndpoint};
use crate::model::{Endpoint, EndpointState};

/// The `VpcEndpoint` shape.
pub(super) fn write_endpoint(x: &mut Xml, control: &ControlPlane, e: &Endpoint) {
    let t = control.topology();
    x.text("vpcEndpointId", &e.id);
    x.text("vpcEndpointType", "Interface");
    x.text("vpcId", t.vpcs.get(&e.vpc).map_or("", |v| v.id.as_str()));
    x.text("serviceName", &e.service_name);
    x.text("state", e.state.as_str());
    x.text(
        "policyDocument",
        e.policy.as_deref().unwrap_or(DEFAULT_POLICY),
    );
    x.strings("routeTableIdSet", Vec::<&str>::new());
    x.strings(
        "subnetIdSet",
        e.subnets
            .iter()
            .filter_map(|s| t.subnets.get(s))
            .map(|s| &s.id),
    );
    x.set(
        "groupSet",
        e.security_groups
            .iter()
            .filter_map(|g| t.security_groups.get(g)),
        |x, g| {
            x.text("groupId", &g.id);
            x.text("groupName", &g.name);
        },
    );
    x.text("ipAddressType", "ipv4");
    x.elem("dnsOptions", |x| x.text("dnsRecordIpType", "ipv4"));
    x.bool("privateDnsEnabled", e.private_dns);
    x.bool("requesterManaged", false);
    x.strings("networkInterfaceIdSet", &e.enis);
    write_dns_entries(x, control, e);
    x.text("creationTimestamp", &control.timestamp(e.created_at));
    x.tag_set(&e.tags);
    x.text("ownerId", &account_id(control, &e.account));
    x.text("serviceRegion", t.region.name());
}

/// `<dnsEntrySet>` of an endpoint, in AWS's order.
pub(super) fn write_dns_entries(x: &mut Xml, control: &ControlPlane, e: &Endpoint) {
    x.set(
        "dnsEntrySet",
        dns_entries(control.topology(), e),
        |x, entry| {
            x.text("dnsName", &entry.name);
            x.text("hostedZoneId", &entry.hosted_zone_id);
        },
    );
}

fn check_endpoint_id(id: &str) -> Result<(), ApiError> {
    check_id(id, "vpce", ErrorCode::InvalidVpcEndpointIdMalformed)
}

pub(super) fn create(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let vpc = p.required("VpcId")?.to_string();
    let subnets = p.list("SubnetId");
    match p.get("VpcEndpointType").unwrap_or("Gateway") {
        "Interface" => {}
        "Gateway" if !subnets.is_empty() => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.",
            ));
        }
        kind @ ("Gateway" | "GatewayLoadBalancer" | "Resource" | "ServiceNetwork") => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                format!(
                    "vpcesim simulates Interface endpoints only, not {kind} (pass VpcEndpointType=Interface)"
                ),
            ));
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValue,
                format!("Value ({other}) for parameter VpcEndpointType is invalid"),
            ));
        }
    }
    if !p.list("RouteTableId").is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "Route table IDs are only supported for Gateway type VPC Endpoints.",
        ));
    }
    let request = CreateEndpoint {
        name: None,
        vpc,
        service: p.required("ServiceName")?.to_string(),
        subnets,
        security_groups: p.list("SecurityGroupId"),
        private_dns: p.bool("PrivateDnsEnabled")?,
        policy: p.get("PolicyDocument").map(str::to_string),
        tags: p.tag_specifications("vpc-endpoint")?,
        id: None,
        dns_suffix: None,
    };
    let endpoint = call
        .control
        .create_endpoint(call.now, call.caller, &request)?;
    let mut x = Xml::new();
    x.elem("vpcEndpoint", |x| {
        write_endpoint(x, call.control, &endpoint)
    });
    x.opt("clientToken", p.get("ClientToken"));
    Ok(x)
}

pub(super) fn describe(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let ids = p.list("VpcEndpointId");
    let filters = p.filters()?;
    let control = &*call.control;
    let t = control.topology();
    let mine: Vec<&Endpoint> = t
        .endpoints
        .values()
        .filter(|e| e.account == call.caller)
        .collect();
    for id in &ids {
        check_endpoint_id(id)?;
        if !mine.iter().any(|e| &e.id == id) {
            return Err(ApiError::new(
                ErrorCode::InvalidVpcEndpointIdNotFound,
                format!("The Vpc Endpoint Id '{id}' does not exist"),
            ));
        }
    }
    let mut selected = Vec::new();
    for e in mine {
        if !ids.is_empty() && !ids.contains(&e.id) {
            continue;
        }
        let vpc_id = t.vpcs.get(&e.vpc).map(|v| v.id.clone()).unwrap_or_default();
        let passes = keep(&filters, &e.tags, |name| match name {
            "service-name" => one(&e.service_name),
            "vpc-id" => one(&vpc_id),
            "vpc-endpoint-id" => one(&e.id),
            "vpc-endpoint-state" => one(e.state.as_str()),
            "vpc-endpoint-type" => one("Interface"),
            "ip-address-type" => one("ipv4"),
            "service-region" => one(t.region.name()),
            _ => None,
        })?;
        if passes {
            selected.push(e);
        }
    }
    let (page, token) = paginate(selected, p, 1000)?;
    let mut x = Xml::new();
    x.set("vpcEndpointSet", page, |x, e| write_endpoint(x, control, e));
    next_token(&mut x, token.as_deref());
    Ok(x)
}

pub(super) fn modify(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let id = p.required("VpcEndpointId")?;
    check_endpoint_id(id)?;
    if !p.list("AddRouteTableId").is_empty() || !p.list("RemoveRouteTableId").is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "Route table IDs are only supported for Gateway type VPC Endpoints.",
        ));
    }
    let reset = p.bool("ResetPolicy")?.unwrap_or(false);
    let policy = p.get("PolicyDocument").map(str::to_string);
    if reset && policy.is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterCombination,
            "PolicyDocument and ResetPolicy cannot be given together",
        ));
    }
    let request = ModifyEndpoint {
        add_subnets: p.list("AddSubnetId"),
        remove_subnets: p.list("RemoveSubnetId"),
        add_security_groups: p.list("AddSecurityGroupId"),
        remove_security_groups: p.list("RemoveSecurityGroupId"),
        private_dns: p.bool("PrivateDnsEnabled")?,
        policy: if reset {
            Some(DEFAULT_POLICY.to_string())
        } else {
            policy
        },
    };
    call.control
        .modify_endpoint(call.now, call.caller, id, &request)?;
    Ok(returns_true())
}

pub(super) fn delete(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let ids = required_list(call.params, "VpcEndpointId")?;
    let mut failures = Vec::new();
    for id in ids {
        let result = check_endpoint_id(&id).and_then(|()| {
            call.control
                .delete_endpoint(call.now, call.caller, &id)
                .map(|_: EndpointState| ())
        });
        record(&mut failures, id, result);
    }
    let mut x = Xml::new();
    unsuccessful(&mut x, &failures);
    Ok(x)
}
