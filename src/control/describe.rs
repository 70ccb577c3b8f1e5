//! The control plane's state in the shapes of EC2's describe calls, as the AWS CLI
//! prints them (`aws ec2 describe-vpc-endpoints`, `describe-vpc-endpoint-services`).

use serde_json::{Value, json};

use super::names::dns_entries;
use super::service::ServiceInfo;
use super::{ApiError, ControlPlane, ErrorCode};
use crate::catalog;
use crate::model::{Account, Endpoint, ServiceRef};

/// The full-access policy AWS reports when an endpoint was given none, byte for byte as
/// the AWS guide's `create-vpc-endpoint` output shows it.
pub const DEFAULT_POLICY: &str = "{\n  \"Statement\": [\n    {\n      \"Action\": \"*\", \n      \"Effect\": \"Allow\", \n      \"Principal\": \"*\", \n      \"Resource\": \"*\"\n    }\n  ]\n}";

/// An endpoint's AZs and a service's AZs, named in one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAzs {
    /// AZ names in the asker's account, sorted.
    pub names: Vec<String>,
    /// The matching AZ IDs.
    pub ids: Vec<String>,
}

impl ControlPlane {
    /// One `VpcEndpoint` object of `describe-vpc-endpoints`.
    pub fn describe_endpoint_json(&self, endpoint: &Endpoint) -> Value {
        let t = &self.topology;
        let vpc_id = t
            .vpcs
            .get(&endpoint.vpc)
            .map(|v| v.id.clone())
            .unwrap_or_default();
        let subnet_ids: Vec<&str> = endpoint
            .subnets
            .iter()
            .filter_map(|s| t.subnets.get(s))
            .map(|s| s.id.as_str())
            .collect();
        let groups: Vec<Value> = endpoint
            .security_groups
            .iter()
            .filter_map(|g| t.security_groups.get(g))
            .map(|g| json!({"GroupId": g.id, "GroupName": g.name}))
            .collect();
        let entries: Vec<Value> = dns_entries(t, endpoint)
            .into_iter()
            .map(|e| json!({"DnsName": e.name, "HostedZoneId": e.hosted_zone_id}))
            .collect();
        let tags: Vec<Value> = endpoint
            .tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        let owner = t
            .accounts
            .get(&endpoint.account)
            .map(|a| a.id.clone())
            .unwrap_or_default();
        json!({
            "VpcEndpointId": endpoint.id,
            "VpcEndpointType": "Interface",
            "VpcId": vpc_id,
            "ServiceName": endpoint.service_name,
            "State": endpoint.state.as_str(),
            "PolicyDocument": endpoint.policy.as_deref().unwrap_or(DEFAULT_POLICY),
            "RouteTableIds": [],
            "SubnetIds": subnet_ids,
            "Groups": groups,
            "IpAddressType": "ipv4",
            "DnsOptions": {"DnsRecordIpType": "ipv4"},
            "PrivateDnsEnabled": endpoint.private_dns,
            "RequesterManaged": false,
            "NetworkInterfaceIds": endpoint.enis,
            "DnsEntries": entries,
            "CreationTimestamp": self.timestamp(endpoint.created_at),
            "Tags": tags,
            "OwnerId": owner,
        })
    }

    /// `{"VpcEndpoints": [...]}` for every endpoint, in creation order.
    pub fn describe_endpoints_json(&self) -> Value {
        let endpoints: Vec<Value> = self
            .topology
            .endpoints
            .values()
            .map(|e| self.describe_endpoint_json(e))
            .collect();
        json!({ "VpcEndpoints": endpoints })
    }

    /// The AZs of `service` that `asker` (an account name) also has, named in the
    /// asker's account: a provider's zones are matched by AZ ID (docs/behaviour.md §9).
    pub fn service_azs(&self, service: &ServiceInfo, asker: &str) -> Result<ServiceAzs, ApiError> {
        let account = self.topology.accounts.get(asker).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameter,
                format!("No account named '{asker}'"),
            )
        })?;
        Ok(common_azs(account, service))
    }

    /// `describe_service`: the service's AZs as the asker names them.
    pub fn describe_service(
        &self,
        service: &str,
        asker: &str,
    ) -> Result<(ServiceInfo, ServiceAzs), ApiError> {
        let info = ServiceInfo::find(&self.topology, service).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidServiceName,
                format!("The Vpc Endpoint Service '{service}' does not exist"),
            )
        })?;
        let azs = self.service_azs(&info, asker)?;
        Ok((info, azs))
    }

    /// A `ServiceDetail` of `describe-vpc-endpoint-services`, as `asker` sees it.
    pub fn service_detail_json(&self, service: &ServiceInfo, asker: Option<&Account>) -> Value {
        let azs = match asker {
            Some(account) => common_azs(account, service),
            None => {
                let default = Account {
                    name: String::new(),
                    id: String::new(),
                    az_ids: Account::build_az_map(&self.topology.region, &Default::default()),
                    access_keys: Vec::new(),
                };
                common_azs(&default, service)
            }
        };
        let private_names: Vec<Value> = service
            .private_dns_names
            .iter()
            .map(|n| json!({"PrivateDnsName": n}))
            .collect();
        let mut detail = json!({
            "ServiceName": service.service_name,
            "ServiceId": service.service_id,
            "ServiceType": [{"ServiceType": "Interface"}],
            "ServiceRegion": self.topology.region.name(),
            "AvailabilityZoneIds": azs.ids,
            "AvailabilityZones": azs.names,
            "Owner": service.owner,
            "BaseEndpointDnsNames": service.base_endpoint_dns_names,
            "PrivateDnsName": service.private_dns_names.first(),
            "PrivateDnsNames": private_names,
            "VpcEndpointPolicySupported": service.policy_supported,
            "AcceptanceRequired": service.acceptance_required,
            "ManagesVpcEndpoints": false,
            "PayerResponsibility": "ServiceOwner",
            "Tags": [],
            "PrivateDnsNameVerificationState": "verified",
            "SupportedIpAddressTypes": ["ipv4"],
        });
        if service.private_dns_names.is_empty()
            && let Some(map) = detail.as_object_mut()
        {
            map.remove("PrivateDnsName");
            map.remove("PrivateDnsNames");
            map.remove("PrivateDnsNameVerificationState");
        }
        detail
    }

    /// Every service an account can see: the catalog, then providers' services.
    pub fn all_services(&self) -> Vec<ServiceInfo> {
        let mut out: Vec<ServiceInfo> = catalog::services(&self.topology.region)
            .iter()
            .filter_map(|c| {
                ServiceInfo::of(&self.topology, &ServiceRef::Aws(c.service_name.clone()))
            })
            .collect();
        out.extend(self.topology.services.keys().filter_map(|name| {
            ServiceInfo::of(&self.topology, &ServiceRef::Provider(name.clone()))
        }));
        out
    }
}

fn common_azs(account: &Account, service: &ServiceInfo) -> ServiceAzs {
    let mut pairs: Vec<(String, String)> = account
        .az_ids
        .iter()
        .filter(|(_, id)| service.serves_az(id))
        .map(|(name, id)| (name.clone(), id.clone()))
        .collect();
    pairs.sort();
    ServiceAzs {
        names: pairs.iter().map(|(n, _)| n.clone()).collect(),
        ids: pairs.into_iter().map(|(_, i)| i).collect(),
    }
}
