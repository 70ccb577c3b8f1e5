//! DescribeVpcEndpointServices: the catalog and providers' services, as the caller's
//! account sees them (its AZ names, only the AZs it shares with the service).

use indexmap::IndexMap;

use super::{Call, keep, next_token, one, paginate};
use crate::api::protocol::Xml;
use crate::control::{ApiError, ErrorCode, ServiceInfo};

pub(super) fn describe_services(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let names = p.list("ServiceName");
    let filters = p.filters()?;
    let control = &*call.control;
    let all = control.all_services();
    for name in &names {
        if !all.iter().any(|s| &s.service_name == name) {
            return Err(ApiError::new(
                ErrorCode::InvalidServiceName,
                format!("The Vpc Endpoint Service '{name}' does not exist"),
            ));
        }
    }
    let region = control.topology().region.name().to_string();
    let mut selected: Vec<(ServiceInfo, IndexMap<String, String>)> = Vec::new();
    for s in all {
        if !names.is_empty() && !names.contains(&s.service_name) {
            continue;
        }
        let tags = if s.is_aws() {
            Default::default()
        } else {
            control.tags_of(&s.service_id)
        };
        let passes = keep(&filters, &tags, |name| match name {
            "service-name" => one(&s.service_name),
            "service-type" => one("Interface"),
            "owner" => one(&s.owner),
            "service-region" => one(&region),
            "supported-ip-address-types" => one("ipv4"),
            _ => None,
        })?;
        if passes {
            selected.push((s, tags));
        }
    }
    let (page, token) = paginate(selected, p, 1000)?;
    let mut details = Vec::new();
    for (s, tags) in &page {
        details.push((s, tags, control.service_azs(s, call.caller)?));
    }
    let mut x = Xml::new();
    x.strings("serviceNameSet", page.iter().map(|(s, _)| &s.service_name));
    x.set("serviceDetailSet", details, |x, (s, tags, azs)| {
        x.text("serviceName", &s.service_name);
        x.text("serviceId", &s.service_id);
        x.set("serviceType", ["Interface"], |x, t| {
            x.text("serviceType", t)
        });
        x.text("serviceRegion", &region);
        x.strings("availabilityZoneIdSet", &azs.ids);
        x.strings("availabilityZoneSet", &azs.names);
        x.text("owner", &s.owner);
        x.strings("baseEndpointDnsNameSet", &s.base_endpoint_dns_names);
        x.opt(
            "privateDnsName",
            s.private_dns_names.first().map(String::as_str),
        );
        if !s.private_dns_names.is_empty() {
            x.set("privateDnsNameSet", &s.private_dns_names, |x, n| {
                x.text("privateDnsName", n);
            });
        }
        x.bool("vpcEndpointPolicySupported", s.policy_supported);
        x.bool("acceptanceRequired", s.acceptance_required);
        x.bool("managesVpcEndpoints", false);
        x.text("payerResponsibility", "ServiceOwner");
        x.tag_set(tags);
        if !s.private_dns_names.is_empty() {
            x.text("privateDnsNameVerificationState", "verified");
        }
        x.strings("supportedIpAddressTypeSet", ["ipv4"]);
    });
    next_token(&mut x, token.as_deref());
    Ok(x)
}
