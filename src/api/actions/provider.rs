//! The provider's calls: Create, Describe, Modify and Delete
//! VpcEndpointServiceConfiguration(s), Accept and RejectVpcEndpointConnections,
//! DescribeVpcEndpointConnections.

use super::endpoints::write_dns_entries;
use super::{
    Call, account_id, keep, next_token, one, paginate, record, required_list, returns_true,
    unsuccessful,
};
use crate::api::protocol::Xml;
use crate::control::{
    ApiError, ControlPlane, CreateServiceConfiguration, ErrorCode, ModifyServiceConfiguration,
    ServiceInfo,
};
use crate::model::{EndpointService, IdGen, ServiceRef};

/// The `ServiceConfiguration` shape.
fn write_configuration(x: &mut Xml, control: &ControlPlane, s: &EndpointService) {
    let t = control.topology();
    let account = t.accounts.get(&s.account);
    let mut zones: Vec<(String, String)> = s
        .az_ids
        .iter()
        .map(|id| {
            let name = account.and_then(|a| a.az_name(id)).unwrap_or_default();
            (name.to_string(), id.clone())
        })
        .collect();
    zones.sort();
    x.set("serviceType", ["Interface"], |x, k| {
        x.text("serviceType", k)
    });
    x.text("serviceId", &s.id);
    x.text("serviceName", &s.service_name);
    x.text("serviceState", "Available");
    x.strings("availabilityZoneIdSet", zones.iter().map(|(_, id)| id));
    x.strings("availabilityZoneSet", zones.iter().map(|(name, _)| name));
    x.bool("acceptanceRequired", s.acceptance_required);
    x.bool("managesVpcEndpoints", false);
    x.strings("networkLoadBalancerArnSet", control.nlb_arns(&s.name));
    x.strings("gatewayLoadBalancerArnSet", Vec::<&str>::new());
    x.strings("supportedIpAddressTypeSet", ["ipv4"]);
    x.strings(
        "baseEndpointDnsNameSet",
        [format!("{}.{}.vpce.amazonaws.com", s.id, t.region)],
    );
    if let Some(name) = &s.private_dns_name {
        x.text("privateDnsName", name);
        let token = IdGen::new(0).dns_suffix(&format!("{}/{name}", s.id), 0);
        x.elem("privateDnsNameConfiguration", |x| {
            x.text("state", "verified");
            x.text("type", "TXT");
            x.text("value", &format!("vpce:{token}"));
            x.text("name", &format!("_{token}"));
        });
    }
    x.text("payerResponsibility", "ServiceOwner");
    x.tag_set(&control.tags_of(&s.id));
    x.bool("remoteAccessEnabled", false);
}

fn no_gateway_balancers(call: &Call<'_>, prefix: &str) -> Result<(), ApiError> {
    if call.params.list(prefix).is_empty() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "vpcesim models Network Load Balancer services only, not Gateway Load Balancers",
        ))
    }
}

pub(super) fn create(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    no_gateway_balancers(call, "GatewayLoadBalancerArn")?;
    let tags = p.tag_specifications("vpc-endpoint-service")?;
    let request = CreateServiceConfiguration {
        acceptance_required: p.bool("AcceptanceRequired")?,
        private_dns_name: p.get("PrivateDnsName").map(str::to_string),
        nlb_arns: p.list("NetworkLoadBalancerArn"),
    };
    let service = call
        .control
        .create_service_configuration(call.now, call.caller, &request)?;
    if !tags.is_empty() {
        let pairs: Vec<(String, String)> = tags.into_iter().collect();
        call.control.create_tags(
            call.now,
            call.caller,
            std::slice::from_ref(&service.id),
            &pairs,
        )?;
    }
    let mut x = Xml::new();
    x.elem("serviceConfiguration", |x| {
        write_configuration(x, call.control, &service);
    });
    x.opt("clientToken", p.get("ClientToken"));
    Ok(x)
}

pub(super) fn describe(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let ids = p.list("ServiceId");
    let filters = p.filters()?;
    let control = &*call.control;
    let mine = control.services_of(call.caller);
    for id in &ids {
        if !mine.iter().any(|s| &s.id == id) {
            return Err(ApiError::new(
                ErrorCode::InvalidVpcEndpointServiceIdNotFound,
                format!("The Vpc Endpoint Service Id '{id}' does not exist"),
            ));
        }
    }
    let mut selected = Vec::new();
    for s in mine {
        if !ids.is_empty() && !ids.contains(&s.id) {
            continue;
        }
        let passes = keep(&filters, &control.tags_of(&s.id), |name| match name {
            "service-name" => one(&s.service_name),
            "service-id" => one(&s.id),
            "service-state" => one("Available"),
            "supported-ip-address-types" => one("ipv4"),
            _ => None,
        })?;
        if passes {
            selected.push(s);
        }
    }
    let (page, token) = paginate(selected, p, 1000)?;
    let mut x = Xml::new();
    x.set("serviceConfigurationSet", page, |x, s| {
        write_configuration(x, control, s);
    });
    next_token(&mut x, token.as_deref());
    Ok(x)
}

pub(super) fn modify(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let id = p.required("ServiceId")?;
    no_gateway_balancers(call, "AddGatewayLoadBalancerArn")?;
    let request = ModifyServiceConfiguration {
        acceptance_required: p.bool("AcceptanceRequired")?,
        private_dns_name: p.get("PrivateDnsName").map(str::to_string),
        remove_private_dns_name: p.bool("RemovePrivateDnsName")?.unwrap_or(false),
        add_nlb_arns: p.list("AddNetworkLoadBalancerArn"),
        remove_nlb_arns: p.list("RemoveNetworkLoadBalancerArn"),
    };
    call.control
        .modify_service_configuration(call.now, call.caller, id, &request)?;
    Ok(returns_true())
}

pub(super) fn delete(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let ids = required_list(call.params, "ServiceId")?;
    let mut failures = Vec::new();
    for id in ids {
        let result = call
            .control
            .delete_service_configuration(call.now, call.caller, &id);
        record(&mut failures, id, result);
    }
    let mut x = Xml::new();
    unsuccessful(&mut x, &failures);
    Ok(x)
}

/// Accept or reject each endpoint of `VpcEndpointId.N` on the caller's `ServiceId`.
fn decide(call: &mut Call<'_>, accept: bool) -> Result<Xml, ApiError> {
    let service_id = call.params.required("ServiceId")?;
    let key = call.control.owned_service(call.caller, service_id)?;
    let ids = required_list(call.params, "VpcEndpointId")?;
    let mut failures = Vec::new();
    for id in ids {
        let of_service = call
            .control
            .topology()
            .endpoints
            .values()
            .any(|e| e.id == id && matches!(&e.service, ServiceRef::Provider(s) if *s == key));
        let result = if !of_service {
            Err(ApiError::new(
                ErrorCode::InvalidVpcEndpointIdNotFound,
                format!("The Vpc Endpoint Id '{id}' does not exist for service {service_id}"),
            ))
        } else if accept {
            call.control
                .accept_endpoint(call.now, call.caller, &id)
                .map(|_| ())
        } else {
            call.control
                .reject_endpoint(call.now, call.caller, &id)
                .map(|_| ())
        };
        record(&mut failures, id, result);
    }
    let mut x = Xml::new();
    unsuccessful(&mut x, &failures);
    Ok(x)
}

pub(super) fn accept(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    decide(call, true)
}

pub(super) fn reject(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    decide(call, false)
}

pub(super) fn describe_connections(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let filters = p.filters()?;
    let control = &*call.control;
    let t = control.topology();
    let region = t.region.name().to_string();
    let mut selected = Vec::new();
    for e in control.connections_of(call.caller) {
        let service_id = ServiceInfo::of(t, &e.service)
            .map(|s| s.service_id)
            .unwrap_or_default();
        let owner = account_id(control, &e.account);
        let passes = keep(&filters, &Default::default(), |name| match name {
            "service-id" => one(&service_id),
            "vpc-endpoint-owner" => one(&owner),
            "vpc-endpoint-state" => one(e.state.as_str()),
            "vpc-endpoint-id" => one(&e.id),
            "ip-address-type" => one("ipv4"),
            "vpc-endpoint-region" => one(&region),
            _ => None,
        })?;
        if passes {
            selected.push((e, service_id, owner));
        }
    }
    let (page, token) = paginate(selected, p, 1000)?;
    let mut x = Xml::new();
    x.set(
        "vpcEndpointConnectionSet",
        page,
        |x, (e, service_id, owner)| {
            let key = match &e.service {
                ServiceRef::Provider(key) => key.as_str(),
                ServiceRef::Aws(_) => "",
            };
            x.text("serviceId", &service_id);
            x.text("vpcEndpointId", &e.id);
            x.text("vpcEndpointOwner", &owner);
            x.text("vpcEndpointState", e.state.as_str());
            x.text("creationTimestamp", &control.timestamp(e.created_at));
            write_dns_entries(x, control, e);
            x.strings("networkLoadBalancerArnSet", control.nlb_arns(key));
            x.strings("gatewayLoadBalancerArnSet", Vec::<&str>::new());
            x.text("ipAddressType", "ipv4");
            x.tag_set(&e.tags);
            x.text("vpcEndpointRegion", &region);
        },
    );
    next_token(&mut x, token.as_deref());
    Ok(x)
}
