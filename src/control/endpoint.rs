//! Creating, modifying, deleting, accepting and rejecting interface endpoints.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use indexmap::IndexMap;

use super::lifecycle::Transition;
use super::notify::Event;
use super::service::ServiceInfo;
use super::tags::check_tag;
use super::{ApiError, ControlPlane, ENDPOINTS_PER_VPC, ErrorCode, Touched};
use crate::model::ids::{is_valid_dns_suffix, is_valid_id};
use crate::model::{ConnectionEvent, Endpoint, EndpointState, Eni};

/// A `CreateVpcEndpoint` call (or a scenario's `[endpoints.NAME]` / `create_endpoint`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateEndpoint {
    /// The scenario's name for it; the ID when absent.
    pub name: Option<String>,
    /// The VPC, by name or ID.
    pub vpc: String,
    /// The service name, or the name of a `[services]` table.
    pub service: String,
    /// Subnets, by name or ID.
    pub subnets: Vec<String>,
    /// Security groups, by name or ID; empty for the VPC's default group.
    pub security_groups: Vec<String>,
    /// Private DNS; `None` for the service's default.
    pub private_dns: Option<bool>,
    /// The policy document.
    pub policy: Option<String>,
    /// Tags.
    pub tags: IndexMap<String, String>,
    /// A fixed `vpce-...` ID.
    pub id: Option<String>,
    /// A fixed 8-character DNS suffix.
    pub dns_suffix: Option<String>,
}

/// A `ModifyVpcEndpoint` call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyEndpoint {
    /// Subnets to add, by name or ID.
    pub add_subnets: Vec<String>,
    /// Subnets to remove, by name or ID.
    pub remove_subnets: Vec<String>,
    /// Security groups to add.
    pub add_security_groups: Vec<String>,
    /// Security groups to remove.
    pub remove_security_groups: Vec<String>,
    /// Turn private DNS on or off.
    pub private_dns: Option<bool>,
    /// A new policy document.
    pub policy: Option<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, message)
}

fn not_permitted(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::OperationNotPermitted, message)
}

impl ControlPlane {
    /// Creates an interface endpoint for `caller` (an account name): one ENI per subnet,
    /// DNS entries at once, state `pending` or `pendingAcceptance`.
    pub fn create_endpoint(
        &mut self,
        now: Duration,
        caller: &str,
        request: &CreateEndpoint,
    ) -> Result<Endpoint, ApiError> {
        self.advance(now);
        let vpc = self.vpc_key(&request.vpc)?;
        if self.topology.vpcs[&vpc].account != caller {
            return Err(ApiError::new(
                ErrorCode::InvalidVpcIdNotFound,
                format!("The vpc ID '{}' does not exist", request.vpc),
            ));
        }
        let service = ServiceInfo::find(&self.topology, &request.service).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidServiceName,
                format!(
                    "The Vpc Endpoint Service '{}' does not exist",
                    request.service
                ),
            )
        })?;
        if request.subnets.is_empty() {
            return Err(invalid(
                "An Interface VPC Endpoint needs at least one subnet",
            ));
        }
        let subnets = self.resolve_subnets(&vpc, &request.subnets)?;
        self.check_zones(&service, &subnets, &[])?;
        let groups = if request.security_groups.is_empty() {
            vec![format!("{vpc}/default")]
        } else {
            self.resolve_groups(&vpc, &request.security_groups)?
        };
        if let Some(policy) = &request.policy {
            check_policy(policy)?;
        }
        for (key, value) in &request.tags {
            check_tag(key, value)?;
        }
        let private_dns = request
            .private_dns
            .unwrap_or(service.private_dns_by_default);
        if private_dns {
            self.check_private_dns(&vpc, &service, None)?;
        }
        let live = self
            .index
            .endpoints_of(&vpc)
            .iter()
            .filter(|key| self.topology.endpoints[*key].state != EndpointState::Deleted)
            .count();
        if live >= ENDPOINTS_PER_VPC {
            return Err(ApiError::new(
                ErrorCode::VpcEndpointLimitExceeded,
                "You've reached the limit on the number of VPC endpoints that you can create in the AWS Region",
            ));
        }
        if let Some(id) = &request.id {
            if !is_valid_id("vpce", id) {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    format!("Invalid id: '{id}' (expecting 'vpce-xxxxxxxxxxxxxxxxx')"),
                ));
            }
            if self.index.endpoint_ids.contains_key(id) {
                return Err(invalid(format!(
                    "The VPC endpoint ID '{id}' is already in use"
                )));
            }
        }
        if let Some(name) = request.name.as_ref().or(request.id.as_ref())
            && self.topology.endpoints.contains_key(name)
        {
            return Err(invalid(format!(
                "An endpoint named '{name}' already exists"
            )));
        }
        if let Some(s) = &request.dns_suffix
            && !is_valid_dns_suffix(s)
        {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValue,
                format!("dns_suffix '{s}' is not 8 characters of a-z and 0-9"),
            ));
        }
        let addresses = self.plan_addresses(&subnets)?;
        self.may_commit()?;

        let id = match &request.id {
            Some(id) => id.clone(),
            None => self.fresh_id("vpce", request.name.as_deref().unwrap_or("")),
        };
        let name = request.name.clone().unwrap_or_else(|| id.clone());
        let dns_suffix = match &request.dns_suffix {
            Some(s) => s.clone(),
            None => self.ids.dns_suffix(&id, 0),
        };
        let state = if service.acceptance_required {
            EndpointState::PendingAcceptance
        } else {
            EndpointState::Pending
        };
        let endpoint = Endpoint {
            name: name.clone(),
            id,
            vpc,
            account: caller.to_string(),
            service: service.reference.clone(),
            service_name: service.service_name.clone(),
            subnets: Vec::new(),
            security_groups: groups,
            private_dns,
            policy: request.policy.clone(),
            tags: request.tags.clone(),
            dns_suffix,
            state,
            enis: Vec::new(),
            created_at: self.now,
        };
        self.index.add_endpoint(&endpoint.id, &name, &endpoint.vpc);
        self.topology.endpoints.insert(name.clone(), endpoint);
        self.attach(&name, addresses);
        self.emit(&name, ConnectionEvent::Connect);
        if !service.acceptance_required {
            self.emit(&name, ConnectionEvent::Accept);
            self.schedule_in(self.provisioning, Transition::Provisioned(name.clone()));
        }
        self.touch(Touched::Endpoint(name.clone()));
        self.changed();
        Ok(self.topology.endpoints[&name].clone())
    }

    /// Modifies an endpoint: subnets and ENIs, security groups, private DNS, policy.
    /// Every change is validated before any is made.
    pub fn modify_endpoint(
        &mut self,
        now: Duration,
        caller: &str,
        endpoint: &str,
        request: &ModifyEndpoint,
    ) -> Result<(), ApiError> {
        self.advance(now);
        let key = self.owned_endpoint(caller, endpoint)?;
        let current = self.topology.endpoints[&key].clone();
        if !current.state.has_enis() {
            return Err(not_permitted(format!(
                "The VPC endpoint {} is in state {} and cannot be modified",
                current.id, current.state
            )));
        }
        let service = ServiceInfo::of(&self.topology, &current.service).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidServiceName,
                "The endpoint's service no longer exists",
            )
        })?;

        let add = self.resolve_subnets(&current.vpc, &request.add_subnets)?;
        let remove = self.resolve_subnets(&current.vpc, &request.remove_subnets)?;
        for subnet in &remove {
            if !current.subnets.contains(subnet) {
                return Err(invalid(format!(
                    "Subnet {} is not associated with the VPC endpoint {}",
                    self.topology.subnets[subnet].id, current.id
                )));
            }
        }
        let kept: Vec<String> = current
            .subnets
            .iter()
            .filter(|s| !remove.contains(s))
            .cloned()
            .collect();
        let add: Vec<String> = add.into_iter().filter(|s| !kept.contains(s)).collect();
        if kept.is_empty() && add.is_empty() {
            return Err(invalid(
                "An Interface VPC Endpoint must always have at least one subnet",
            ));
        }
        self.check_zones(&service, &add, &kept)?;

        let add_groups = self.resolve_groups(&current.vpc, &request.add_security_groups)?;
        let remove_groups = self.resolve_groups(&current.vpc, &request.remove_security_groups)?;
        let mut groups: Vec<String> = current
            .security_groups
            .iter()
            .filter(|g| !remove_groups.contains(g))
            .cloned()
            .collect();
        for group in add_groups {
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        if groups.is_empty() {
            return Err(invalid(
                "An Interface VPC Endpoint must always have at least one Security Group",
            ));
        }
        if let Some(policy) = &request.policy {
            check_policy(policy)?;
        }
        if request.private_dns == Some(true) && !current.private_dns {
            if current.state != EndpointState::Available {
                return Err(invalid(format!(
                    "Private DNS can only be enabled once the VPC endpoint {} is available (it is {})",
                    current.id, current.state
                )));
            }
            self.check_private_dns(&current.vpc, &service, Some(&key))?;
        }
        // Addresses for the added subnets before anything changes: the removed ENIs'
        // addresses are not free yet (and then quarantined), so adding and removing the
        // same full subnet fails and leaves the endpoint as it was.
        let addresses = self.plan_addresses(&add)?;
        self.may_commit()?;

        let removed_enis: Vec<String> = {
            let endpoint = &self.topology.endpoints[&key];
            endpoint
                .enis
                .iter()
                .filter(|eni| remove.contains(&self.topology.enis[*eni].subnet))
                .cloned()
                .collect()
        };
        for eni in &removed_enis {
            self.remove_eni(eni);
        }
        let endpoint = &mut self.topology.endpoints[&key];
        endpoint.enis.retain(|eni| !removed_enis.contains(eni));
        endpoint.subnets = kept;
        endpoint.security_groups = groups;
        if let Some(on) = request.private_dns {
            endpoint.private_dns = on;
        }
        if let Some(policy) = &request.policy {
            endpoint.policy = Some(policy.clone());
        }
        self.attach(&key, addresses);
        self.touch(Touched::Endpoint(key));
        self.changed();
        Ok(())
    }

    /// Deletes an endpoint (its owner only): `deleting` at once, ENIs and names gone (their
    /// addresses free again after the quarantine), `deleted` after the provisioning delay.
    /// Returns the state the response reports.
    pub fn delete_endpoint(
        &mut self,
        now: Duration,
        caller: &str,
        endpoint: &str,
    ) -> Result<EndpointState, ApiError> {
        self.advance(now);
        let key = self.endpoint_key(endpoint)?;
        let current = &self.topology.endpoints[&key];
        if current.account != caller {
            return Err(not_permitted(format!(
                "Only the owner of the VPC endpoint {} can delete it",
                current.id
            )));
        }
        if !current.state.has_enis() {
            return Err(not_permitted(format!(
                "The VPC endpoint {} is already {}",
                current.id, current.state
            )));
        }
        self.may_commit()?;
        let enis = std::mem::take(&mut self.topology.endpoints[&key].enis);
        for eni in &enis {
            self.remove_eni(eni);
        }
        self.set_state(&key, EndpointState::Deleting);
        self.emit(&key, ConnectionEvent::Delete);
        self.schedule_in(self.provisioning, Transition::Deleted(key.clone()));
        self.changed();
        Ok(EndpointState::Deleting)
    }

    /// The provider (`caller`) accepts an endpoint waiting in `pendingAcceptance`.
    pub fn accept_endpoint(
        &mut self,
        now: Duration,
        caller: &str,
        endpoint: &str,
    ) -> Result<EndpointState, ApiError> {
        self.advance(now);
        let key = self.provider_endpoint(caller, endpoint)?;
        let current = &self.topology.endpoints[&key];
        if current.state != EndpointState::PendingAcceptance {
            return Err(not_permitted(format!(
                "The VPC endpoint {} is in state {} and cannot be accepted",
                current.id, current.state
            )));
        }
        self.may_commit()?;
        self.set_state(&key, EndpointState::Pending);
        self.emit(&key, ConnectionEvent::Accept);
        self.schedule_in(self.provisioning, Transition::Provisioned(key));
        self.changed();
        Ok(EndpointState::Pending)
    }

    /// The provider (`caller`) rejects an endpoint in `pendingAcceptance` or `available`,
    /// whether it was accepted by the provider or automatically (a service without
    /// acceptance): AWS's guide says a provider can reject an endpoint "after it has been
    /// accepted (either manually or automatically) and is in the available state".
    pub fn reject_endpoint(
        &mut self,
        now: Duration,
        caller: &str,
        endpoint: &str,
    ) -> Result<EndpointState, ApiError> {
        self.advance(now);
        let key = self.provider_endpoint(caller, endpoint)?;
        let current = &self.topology.endpoints[&key];
        if !matches!(
            current.state,
            EndpointState::PendingAcceptance | EndpointState::Available
        ) {
            return Err(not_permitted(format!(
                "The VPC endpoint {} is in state {} and cannot be rejected",
                current.id, current.state
            )));
        }
        self.may_commit()?;
        self.set_state(&key, EndpointState::Rejected);
        self.emit(&key, ConnectionEvent::Reject);
        self.changed();
        Ok(EndpointState::Rejected)
    }

    fn owned_endpoint(&self, caller: &str, endpoint: &str) -> Result<String, ApiError> {
        let key = self.endpoint_key(endpoint)?;
        if self.topology.endpoints[&key].account != caller {
            return Err(ApiError::new(
                ErrorCode::InvalidVpcEndpointIdNotFound,
                format!("The Vpc Endpoint Id '{endpoint}' does not exist"),
            ));
        }
        Ok(key)
    }

    /// The endpoint, checked to be one of `caller`'s services: only a provider accepts
    /// or rejects, and never for an AWS service. Whether the state allows it is the
    /// caller's check.
    fn provider_endpoint(&self, caller: &str, endpoint: &str) -> Result<String, ApiError> {
        let key = self.endpoint_key(endpoint)?;
        let current = &self.topology.endpoints[&key];
        let service = ServiceInfo::of(&self.topology, &current.service);
        let provider = match &current.service {
            crate::model::ServiceRef::Provider(name) => {
                self.topology.services.get(name).map(|s| s.account.as_str())
            }
            crate::model::ServiceRef::Aws(_) => None,
        };
        match (service, provider) {
            (Some(_), Some(provider)) if provider == caller => Ok(key),
            (Some(service), Some(_)) => Err(not_permitted(format!(
                "Only the owner of {} can accept or reject its endpoints",
                service.service_name
            ))),
            (Some(service), None) => Err(not_permitted(format!(
                "{} is an AWS service: its endpoints are accepted automatically and cannot be accepted or rejected",
                service.service_name
            ))),
            (None, _) => Err(not_permitted("The endpoint's service no longer exists")),
        }
    }

    fn resolve_subnets(&self, vpc: &str, refs: &[String]) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        for r in refs {
            let subnet = self
                .topology
                .subnets
                .get(r)
                .or_else(|| self.topology.subnets.values().find(|s| &s.id == r))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidSubnetIdNotFound,
                        format!("The subnet ID '{r}' does not exist"),
                    )
                })?;
            if subnet.vpc != vpc {
                return Err(invalid(format!(
                    "The subnet {} does not belong to the VPC {}",
                    subnet.id, self.topology.vpcs[vpc].id
                )));
            }
            if !out.contains(&subnet.name) {
                out.push(subnet.name.clone());
            }
        }
        Ok(out)
    }

    fn resolve_groups(&self, vpc: &str, refs: &[String]) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        for r in refs {
            let scoped = format!("{vpc}/{r}");
            let group = [r.as_str(), scoped.as_str()]
                .into_iter()
                .find_map(|k| self.topology.security_groups.get(k))
                .or_else(|| self.topology.security_groups.values().find(|g| &g.id == r))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidGroupNotFound,
                        format!("The security group '{r}' does not exist"),
                    )
                })?;
            if group.vpc != vpc {
                return Err(invalid(format!(
                    "The security group {} does not belong to the VPC {}",
                    group.id, self.topology.vpcs[vpc].id
                )));
            }
            if !out.contains(&group.key) {
                out.push(group.key.clone());
            }
        }
        Ok(out)
    }

    /// At most one subnet per AZ, and only AZs the service has.
    fn check_zones(
        &self,
        service: &ServiceInfo,
        new: &[String],
        existing: &[String],
    ) -> Result<(), ApiError> {
        let mut zones: HashSet<&str> = existing
            .iter()
            .map(|s| self.topology.subnets[s].az_id.as_str())
            .collect();
        for name in new {
            let subnet = &self.topology.subnets[name];
            if !zones.insert(&subnet.az_id) {
                return Err(ApiError::new(
                    ErrorCode::DuplicateSubnetsInSameZone,
                    format!(
                        "Found another VPC endpoint subnet in the availability zone of {}. VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service.",
                        subnet.id
                    ),
                ));
            }
            if !service.serves_az(&subnet.az_id) {
                return Err(invalid(format!(
                    "The VPC endpoint service {} does not support the availability zone of the subnet: {}",
                    service.service_name, subnet.id
                )));
            }
        }
        Ok(())
    }

    /// The private DNS prerequisites of docs/behaviour.md §3; `except` is the endpoint
    /// being modified.
    fn check_private_dns(
        &self,
        vpc: &str,
        service: &ServiceInfo,
        except: Option<&str>,
    ) -> Result<(), ApiError> {
        let v = &self.topology.vpcs[vpc];
        if !(v.dns_support && v.dns_hostnames) {
            return Err(invalid(format!(
                "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for {}",
                v.id
            )));
        }
        let Some(name) = service.private_dns_names.first() else {
            return Err(invalid(format!(
                "Private DNS can't be enabled because the service {} does not provide a private DNS name.",
                service.service_name
            )));
        };
        let conflict = self.index.endpoints_of(vpc).iter().any(|key| {
            let e = &self.topology.endpoints[key];
            e.private_dns
                && e.state != EndpointState::Deleted
                && Some(e.name.as_str()) != except
                && ServiceInfo::of(&self.topology, &e.service).is_some_and(|other| {
                    other
                        .private_dns_names
                        .iter()
                        .any(|n| service.private_dns_names.contains(n))
                })
        });
        if conflict {
            return Err(invalid(format!(
                "private-dns-enabled cannot be set because there is already a conflicting DNS domain for {name} in the VPC {}",
                v.id
            )));
        }
        Ok(())
    }

    /// The lowest free address of each subnet, in order; changes nothing.
    /// `InsufficientFreeAddressesInSubnet` when a subnet has none.
    fn plan_addresses(&self, subnets: &[String]) -> Result<Vec<(String, Ipv4Addr)>, ApiError> {
        subnets
            .iter()
            .map(|name| {
                let subnet = &self.topology.subnets[name];
                let ip = self.allocator.lowest_free(subnet, self.now).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InsufficientFreeAddressesInSubnet,
                        format!(
                            "The subnet {} ({}) has no free IPv4 address for the endpoint's network interface",
                            subnet.id, subnet.cidr
                        ),
                    )
                })?;
                Ok((name.clone(), ip))
            })
            .collect()
    }

    /// Creates one ENI per planned `(subnet, address)`, in order. Cannot fail.
    fn attach(&mut self, key: &str, planned: Vec<(String, Ipv4Addr)>) {
        for (subnet_name, ip) in planned {
            self.allocator.take(&subnet_name, ip);
            let eni_key = format!("{key}/{subnet_name}/{}", self.sequence);
            let id = self.fresh_id("eni", &eni_key);
            self.topology.enis.insert(
                id.clone(),
                Eni {
                    id: id.clone(),
                    endpoint: key.to_string(),
                    subnet: subnet_name.clone(),
                    ip,
                },
            );
            let endpoint = &mut self.topology.endpoints[key];
            endpoint.subnets.push(subnet_name);
            endpoint.enis.push(id);
        }
    }

    /// Removes an ENI; its address is free again after the quarantine.
    fn remove_eni(&mut self, id: &str) {
        if let Some(eni) = self.topology.enis.shift_remove(id) {
            self.allocator.release(&eni.subnet, eni.ip, self.now);
        }
    }

    /// A new ID of `prefix` for `key`, redrawn until it is unused.
    pub(super) fn fresh_id(&mut self, prefix: &str, key: &str) -> String {
        self.sequence += 1;
        let key = if key.is_empty() {
            format!("#{}", self.sequence)
        } else {
            key.to_string()
        };
        (0..)
            .map(|attempt| self.ids.id(prefix, &key, attempt))
            .find(|id| !self.id_in_use(id))
            .unwrap_or_default()
    }

    fn id_in_use(&self, id: &str) -> bool {
        let t = &self.topology;
        self.index.endpoint_ids.contains_key(id)
            || t.enis.contains_key(id)
            || t.notifications.contains_key(id)
            || t.vpcs.values().any(|v| v.id == id)
            || t.subnets.values().any(|s| s.id == id)
            || t.services.values().any(|s| s.id == id)
    }

    pub(super) fn set_state(&mut self, key: &str, state: EndpointState) {
        self.topology.endpoints[key].state = state;
        self.touch(Touched::Endpoint(key.to_string()));
    }

    pub(super) fn emit(&mut self, key: &str, event: ConnectionEvent) {
        let endpoint = &self.topology.endpoints[key];
        let event = Event {
            event,
            endpoint: endpoint.name.clone(),
            at: self.now,
        };
        self.deliver(event);
    }
}

/// A policy must be a JSON document.
fn check_policy(policy: &str) -> Result<(), ApiError> {
    serde_json::from_str::<serde_json::Value>(policy)
        .map(|_| ())
        .map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidPolicyDocument,
                format!("The policy document is not valid JSON: {e}"),
            )
        })
}
