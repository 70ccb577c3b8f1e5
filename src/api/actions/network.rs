//! DescribeVpcs, DescribeVpcAttribute, ModifyVpcAttribute, DescribeSubnets,
//! DescribeSecurityGroups and DescribeNetworkInterfaces (the endpoints' requester-managed
//! ENIs), each limited to the caller's account.

use super::{Call, account_id, keep, next_token, one, paginate, returns_true};
use crate::api::protocol::Xml;
use crate::control::{ApiError, ControlPlane, ErrorCode};
use crate::model::{Peer, Proto, SgRule};

/// The account that AWS's requester-managed endpoint ENIs name as `RequesterId`:
/// AWS does not document it; vpcesim reports this fixed one.
pub(crate) const ENI_REQUESTER_ID: &str = "727180483921";

fn not_found(code: ErrorCode, what: &str, id: &str) -> ApiError {
    ApiError::new(code, format!("The {what} ID '{id}' does not exist"))
}

/// Fails on the first of `ids` that `known` does not contain.
fn all_known(
    ids: &[String],
    known: &[String],
    code: ErrorCode,
    what: &str,
) -> Result<(), ApiError> {
    match ids.iter().find(|id| !known.contains(id)) {
        Some(id) => Err(not_found(code, what, id)),
        None => Ok(()),
    }
}

pub(super) fn describe_vpcs(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let ids = p.list("VpcId");
    let filters = p.filters()?;
    let control = &*call.control;
    let mine: Vec<_> = control
        .topology()
        .vpcs
        .values()
        .filter(|v| v.account == call.caller)
        .collect();
    let known: Vec<String> = mine.iter().map(|v| v.id.clone()).collect();
    all_known(&ids, &known, ErrorCode::InvalidVpcIdNotFound, "vpc")?;
    let owner = account_id(control, call.caller);
    let mut selected = Vec::new();
    for v in mine {
        if !ids.is_empty() && !ids.contains(&v.id) {
            continue;
        }
        let tags = control.tags_of(&v.id);
        let passes = keep(&filters, &tags, |name| match name {
            "vpc-id" => one(&v.id),
            "owner-id" => one(&owner),
            "cidr" | "cidr-block-association.cidr-block" => one(v.cidr.to_string()),
            "state" => one("available"),
            "is-default" => one("false"),
            _ => None,
        })?;
        if passes {
            selected.push((v, tags));
        }
    }
    let (page, token) = paginate(selected, p, 1000)?;
    let mut x = Xml::new();
    x.set("vpcSet", page, |x, (v, tags)| {
        x.text("vpcId", &v.id);
        x.text("ownerId", &owner);
        x.text("state", "available");
        x.text("cidrBlock", &v.cidr.to_string());
        x.set("cidrBlockAssociationSet", [&v.cidr], |x, cidr| {
            x.text(
                "associationId",
                &v.id.replacen("vpc-", "vpc-cidr-assoc-", 1),
            );
            x.text("cidrBlock", &cidr.to_string());
            x.elem("cidrBlockState", |x| x.text("state", "associated"));
        });
        x.text("instanceTenancy", "default");
        x.bool("isDefault", false);
        x.tag_set(&tags);
    });
    next_token(&mut x, token.as_deref());
    Ok(x)
}

fn owned_vpc(control: &ControlPlane, caller: &str, id: &str) -> Result<String, ApiError> {
    control
        .topology()
        .vpcs
        .values()
        .find(|v| v.id == id && v.account == caller)
        .map(|v| v.name.clone())
        .ok_or_else(|| not_found(ErrorCode::InvalidVpcIdNotFound, "vpc", id))
}

pub(super) fn describe_vpc_attribute(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let id = p.required("VpcId")?;
    let attribute = p.required("Attribute")?;
    let key = owned_vpc(call.control, call.caller, id)?;
    let vpc = &call.control.topology().vpcs[&key];
    let value = match attribute {
        "enableDnsSupport" => vpc.dns_support,
        "enableDnsHostnames" => vpc.dns_hostnames,
        "enableNetworkAddressUsageMetrics" => false,
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValue,
                format!("Value ({other}) for parameter attribute is invalid. Unknown attribute."),
            ));
        }
    };
    let mut x = Xml::new();
    x.text("vpcId", id);
    x.elem(attribute, |x| x.bool("value", value));
    Ok(x)
}

pub(super) fn modify_vpc_attribute(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let id = p.required("VpcId")?;
    let support = p.bool("EnableDnsSupport.Value")?;
    let hostnames = p.bool("EnableDnsHostnames.Value")?;
    if p.get("EnableNetworkAddressUsageMetrics.Value").is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "vpcesim models only the DNS attributes of a VPC",
        ));
    }
    match (support, hostnames) {
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterCombination,
                "Only one attribute can be modified at a time",
            ));
        }
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::MissingParameter,
                "The request must contain EnableDnsSupport or EnableDnsHostnames",
            ));
        }
        _ => {}
    }
    let key = owned_vpc(call.control, call.caller, id)?;
    call.control
        .set_vpc_attributes(call.now, &key, support, hostnames)?;
    Ok(returns_true())
}

pub(super) fn describe_subnets(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let ids = p.list("SubnetId");
    let filters = p.filters()?;
    let control = &*call.control;
    let t = control.topology();
    let mine: Vec<_> = t
        .subnets
        .values()
        .filter(|s| t.vpcs.get(&s.vpc).is_some_and(|v| v.account == call.caller))
        .collect();
    let known: Vec<String> = mine.iter().map(|s| s.id.clone()).collect();
    all_known(&ids, &known, ErrorCode::InvalidSubnetIdNotFound, "subnet")?;
    let owner = account_id(control, call.caller);
    let mut selected = Vec::new();
    for s in mine {
        if !ids.is_empty() && !ids.contains(&s.id) {
            continue;
        }
        let vpc_id = t.vpcs.get(&s.vpc).map(|v| v.id.clone()).unwrap_or_default();
        let tags = control.tags_of(&s.id);
        let passes = keep(&filters, &tags, |name| match name {
            "subnet-id" => one(&s.id),
            "vpc-id" => one(&vpc_id),
            "availability-zone" => one(&s.az_name),
            "availability-zone-id" => one(&s.az_id),
            "cidr-block" | "cidr" | "cidrBlock" => one(s.cidr.to_string()),
            "owner-id" => one(&owner),
            "state" => one("available"),
            "default-for-az" => one("false"),
            _ => None,
        })?;
        if passes {
            selected.push((s, vpc_id, tags));
        }
    }
    let (page, token) = paginate(selected, p, 1000)?;
    let mut x = Xml::new();
    x.set("subnetSet", page, |x, (s, vpc_id, tags)| {
        let used = t.instances.values().filter(|i| i.subnet == s.name).count()
            + t.enis.values().filter(|e| e.subnet == s.name).count();
        let free = s.usable().count().saturating_sub(used);
        x.text("subnetId", &s.id);
        x.text(
            "subnetArn",
            &format!("arn:aws:ec2:{}:{owner}:subnet/{}", t.region, s.id),
        );
        x.text("state", "available");
        x.text("ownerId", &owner);
        x.text("vpcId", &vpc_id);
        x.text("cidrBlock", &s.cidr.to_string());
        x.text("availableIpAddressCount", &free.to_string());
        x.text("availabilityZone", &s.az_name);
        x.text("availabilityZoneId", &s.az_id);
        x.bool("defaultForAz", false);
        x.bool("mapPublicIpOnLaunch", false);
        x.tag_set(&tags);
    });
    next_token(&mut x, token.as_deref());
    Ok(x)
}

/// One `IpPermission` per rule.
fn write_permissions(
    x: &mut Xml,
    name: &str,
    control: &ControlPlane,
    owner: &str,
    rules: &[SgRule],
) {
    let t = control.topology();
    x.set(name, rules, |x, rule| {
        x.text("ipProtocol", &rule.proto.number().to_string());
        if rule.proto.has_ports() {
            x.text("fromPort", &rule.ports.low.to_string());
            x.text("toPort", &rule.ports.high.to_string());
        } else if rule.proto == Proto::Icmp {
            x.text("fromPort", "-1");
            x.text("toPort", "-1");
        }
        let groups: Vec<&str> = match &rule.peer {
            Peer::Group(key) => t
                .security_groups
                .get(key)
                .map(|g| g.id.as_str())
                .into_iter()
                .collect(),
            Peer::Cidr(_) => Vec::new(),
        };
        x.set("groups", groups, |x, id| {
            x.text("userId", owner);
            x.text("groupId", id);
        });
        let ranges: Vec<String> = match &rule.peer {
            Peer::Cidr(net) => vec![net.to_string()],
            Peer::Group(_) => Vec::new(),
        };
        x.set("ipRanges", ranges, |x, cidr| x.text("cidrIp", &cidr));
        x.strings("ipv6Ranges", Vec::<&str>::new());
        x.strings("prefixListIds", Vec::<&str>::new());
    });
}

pub(super) fn describe_security_groups(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let ids = p.list("GroupId");
    let names = p.list("GroupName");
    let filters = p.filters()?;
    let control = &*call.control;
    let t = control.topology();
    let mine: Vec<_> = t
        .security_groups
        .values()
        .filter(|g| t.vpcs.get(&g.vpc).is_some_and(|v| v.account == call.caller))
        .collect();
    let known: Vec<String> = mine.iter().map(|g| g.id.clone()).collect();
    all_known(
        &ids,
        &known,
        ErrorCode::InvalidGroupNotFound,
        "security group",
    )?;
    let known_names: Vec<String> = mine.iter().map(|g| g.name.clone()).collect();
    all_known(
        &names,
        &known_names,
        ErrorCode::InvalidGroupNotFound,
        "security group",
    )?;
    let owner = account_id(control, call.caller);
    let mut selected = Vec::new();
    for g in mine {
        if (!ids.is_empty() && !ids.contains(&g.id))
            || (!names.is_empty() && !names.contains(&g.name))
        {
            continue;
        }
        let vpc_id = t.vpcs.get(&g.vpc).map(|v| v.id.clone()).unwrap_or_default();
        let tags = control.tags_of(&g.id);
        let passes = keep(&filters, &tags, |name| match name {
            "group-id" => one(&g.id),
            "group-name" => one(&g.name),
            "vpc-id" => one(&vpc_id),
            "owner-id" => one(&owner),
            _ => None,
        })?;
        if passes {
            selected.push((g, vpc_id, tags));
        }
    }
    let (page, token) = paginate(selected, p, 1000)?;
    let mut x = Xml::new();
    x.set("securityGroupInfo", page, |x, (g, vpc_id, tags)| {
        x.text("ownerId", &owner);
        x.text("groupId", &g.id);
        x.text("groupName", &g.name);
        let description = if g.name == "default" {
            "default VPC security group".to_string()
        } else {
            format!("security group {}", g.name)
        };
        x.text("groupDescription", &description);
        x.text("vpcId", &vpc_id);
        write_permissions(x, "ipPermissions", control, &owner, &g.ingress);
        write_permissions(x, "ipPermissionsEgress", control, &owner, &g.egress);
        x.text(
            "securityGroupArn",
            &format!("arn:aws:ec2:{}:{owner}:security-group/{}", t.region, g.id),
        );
        x.tag_set(&tags);
    });
    next_token(&mut x, token.as_deref());
    Ok(x)
}

pub(super) fn describe_network_interfaces(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let ids = p.list("NetworkInterfaceId");
    let filters = p.filters()?;
    let control = &*call.control;
    let t = control.topology();
    let mine: Vec<_> = t
        .enis
        .values()
        .filter(|e| {
            t.endpoints
                .get(&e.endpoint)
                .is_some_and(|ep| ep.account == call.caller)
        })
        .collect();
    let known: Vec<String> = mine.iter().map(|e| e.id.clone()).collect();
    all_known(
        &ids,
        &known,
        ErrorCode::InvalidParameterValue,
        "networkInterface",
    )?;
    let owner = account_id(control, call.caller);
    let mut selected = Vec::new();
    for eni in mine {
        if !ids.is_empty() && !ids.contains(&eni.id) {
            continue;
        }
        let (Some(endpoint), Some(subnet)) =
            (t.endpoints.get(&eni.endpoint), t.subnets.get(&eni.subnet))
        else {
            continue;
        };
        let vpc_id = t
            .vpcs
            .get(&subnet.vpc)
            .map(|v| v.id.clone())
            .unwrap_or_default();
        let groups: Vec<(String, String)> = endpoint
            .security_groups
            .iter()
            .filter_map(|g| t.security_groups.get(g))
            .map(|g| (g.id.clone(), g.name.clone()))
            .collect();
        let description = format!("VPC Endpoint Interface {}", endpoint.id);
        let tags = control.tags_of(&eni.id);
        let passes = keep(&filters, &tags, |name| match name {
            "network-interface-id" => one(&eni.id),
            "vpc-id" => one(&vpc_id),
            "subnet-id" => one(&subnet.id),
            "availability-zone" => one(&subnet.az_name),
            "description" => one(&description),
            "interface-type" => one("vpc_endpoint"),
            "requester-managed" => one("true"),
            "requester-id" => one(ENI_REQUESTER_ID),
            "owner-id" => one(&owner),
            "status" => one("in-use"),
            "private-ip-address" | "addresses.private-ip-address" => one(eni.ip.to_string()),
            "group-id" => Some(groups.iter().map(|(id, _)| id.clone()).collect()),
            "group-name" => Some(groups.iter().map(|(_, n)| n.clone()).collect()),
            _ => None,
        })?;
        if passes {
            selected.push((eni, subnet, vpc_id, groups, description, tags));
        }
    }
    let (page, token) = paginate(selected, p, 1000)?;
    let mut x = Xml::new();
    x.set(
        "networkInterfaceSet",
        page,
        |x, (eni, subnet, vpc_id, groups, description, tags)| {
            let octets = eni.ip.octets();
            let mac = format!(
                "02:00:{:02x}:{:02x}:{:02x}:{:02x}",
                octets[0], octets[1], octets[2], octets[3]
            );
            let dns = format!("ip-{}.ec2.internal", eni.ip.to_string().replace('.', "-"));
            x.text("networkInterfaceId", &eni.id);
            x.text("subnetId", &subnet.id);
            x.text("vpcId", &vpc_id);
            x.text("availabilityZone", &subnet.az_name);
            x.text("availabilityZoneId", &subnet.az_id);
            x.text("description", &description);
            x.text("ownerId", &owner);
            x.text("requesterId", ENI_REQUESTER_ID);
            x.bool("requesterManaged", true);
            x.text("status", "in-use");
            x.text("macAddress", &mac);
            x.text("privateIpAddress", &eni.ip.to_string());
            x.text("privateDnsName", &dns);
            x.bool("sourceDestCheck", true);
            x.set("groupSet", &groups, |x, (id, name)| {
                x.text("groupId", id);
                x.text("groupName", name);
            });
            x.set("privateIpAddressesSet", [eni.ip], |x, ip| {
                x.text("privateIpAddress", &ip.to_string());
                x.text("privateDnsName", &dns);
                x.bool("primary", true);
            });
            x.text("interfaceType", "vpc_endpoint");
            x.tag_set(&tags);
        },
    );
    next_token(&mut x, token.as_deref());
    Ok(x)
}
