//! The provider's side through the API: endpoint service configurations (create,
//! modify, delete, list) and the connections to them.
//!
//! A service configuration created through the API becomes an [`EndpointService`] named
//! by its ID and owned by the caller, in every AZ of the caller's account. Its load
//! balancer ARNs are stored and reported, not modelled: the service listens on 443 with
//! an `echo` backend, as a `[services]` table without `ports` and `backend` does.

use std::time::Duration;

use super::service::provider_service_name;
use super::{ApiError, ControlPlane, ErrorCode};
use crate::model::{Backend, Endpoint, EndpointService, EndpointState, ServiceRef};

/// What the API keeps about a service beyond the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `NetworkLoadBalancerArns`, stored and reported only.
    pub nlb_arns: Vec<String>,
}

/// A `CreateVpcEndpointServiceConfiguration` call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateServiceConfiguration {
    /// Whether the provider must accept each endpoint (AWS's default: true).
    pub acceptance_required: Option<bool>,
    /// A custom private DNS name.
    pub private_dns_name: Option<String>,
    /// Network Load Balancer ARNs.
    pub nlb_arns: Vec<String>,
}

/// A `ModifyVpcEndpointServiceConfiguration` call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyServiceConfiguration {
    /// New acceptance setting.
    pub acceptance_required: Option<bool>,
    /// A new private DNS name.
    pub private_dns_name: Option<String>,
    /// Remove the private DNS name.
    pub remove_private_dns_name: bool,
    /// NLB ARNs to add.
    pub add_nlb_arns: Vec<String>,
    /// NLB ARNs to remove.
    pub remove_nlb_arns: Vec<String>,
}

fn service_not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidVpcEndpointServiceIdNotFound,
        format!("The Vpc Endpoint Service Id '{id}' does not exist"),
    )
}

/// A private DNS name must be a domain name: dot-separated labels of letters, digits
/// and hyphens (a leading `*.` aside).
fn check_domain(name: &str) -> Result<(), ApiError> {
    let body = name.strip_prefix("*.").unwrap_or(name);
    let ok = body.len() <= 253
        && body.contains('.')
        && body.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("The private DNS name '{name}' is not a valid domain name"),
        ))
    }
}

/// Endpoints in these states hold a connection that keeps a service from going away.
fn is_connected(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint.state,
        EndpointState::PendingAcceptance | EndpointState::Pending | EndpointState::Available
    )
}

impl ControlPlane {
    /// `CreateVpcEndpointServiceConfiguration` for `caller` (an account name).
    pub fn create_service_configuration(
        &mut self,
        now: Duration,
        caller: &str,
        request: &CreateServiceConfiguration,
    ) -> Result<EndpointService, ApiError> {
        self.advance(now);
        let account = self.topology.accounts.get(caller).ok_or_else(|| {
            ApiError::new(ErrorCode::AuthFailure, format!("No account '{caller}'"))
        })?;
        let az_ids: Vec<String> = account.az_ids.values().cloned().collect();
        if request.nlb_arns.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "A service configuration needs at least one Network Load Balancer ARN",
            ));
        }
        if let Some(name) = &request.private_dns_name {
            check_domain(name)?;
        }
        self.may_commit()?;
        let id = self.fresh_id("vpce-svc", "");
        let service = EndpointService {
            name: id.clone(),
            service_name: provider_service_name(&self.topology.region, &id),
            id: id.clone(),
            account: caller.to_string(),
            acceptance_required: request.acceptance_required.unwrap_or(true),
            az_ids,
            ports: vec![443],
            private_dns_name: request.private_dns_name.clone(),
            marketplace: false,
            backend: Backend::Echo,
        };
        self.topology.services.insert(id.clone(), service.clone());
        self.service_configs.insert(
            id,
            ServiceConfig {
                nlb_arns: request.nlb_arns.clone(),
            },
        );
        self.changed();
        Ok(service)
    }

    /// `ModifyVpcEndpointServiceConfiguration`. Endpoints already waiting keep waiting
    /// when acceptance is turned off, as in AWS.
    pub fn modify_service_configuration(
        &mut self,
        now: Duration,
        caller: &str,
        service_id: &str,
        request: &ModifyServiceConfiguration,
    ) -> Result<(), ApiError> {
        self.advance(now);
        let key = self.owned_service(caller, service_id)?;
        if request.remove_private_dns_name && request.private_dns_name.is_some() {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterCombination,
                "PrivateDnsName and RemovePrivateDnsName cannot be given together",
            ));
        }
        if let Some(name) = &request.private_dns_name {
            check_domain(name)?;
        }
        let mut arns = self.nlb_arns(&key).to_vec();
        arns.retain(|a| !request.remove_nlb_arns.contains(a));
        for arn in &request.add_nlb_arns {
            if !arns.contains(arn) {
                arns.push(arn.clone());
            }
        }
        let arns_change = arns != self.nlb_arns(&key);
        if arns_change && self.connections_to(&key).any(is_connected) {
            return Err(ApiError::new(
                ErrorCode::ExistingVpcEndpointConnections,
                format!(
                    "The service {service_id} has endpoint connections: its load balancers cannot change"
                ),
            ));
        }
        if arns.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "A service configuration needs at least one Network Load Balancer ARN",
            ));
        }
        self.may_commit()?;
        let service = &mut self.topology.services[&key];
        if let Some(on) = request.acceptance_required {
            service.acceptance_required = on;
        }
        if request.remove_private_dns_name {
            service.private_dns_name = None;
        }
        if let Some(name) = &request.private_dns_name {
            service.private_dns_name = Some(name.clone());
        }
        // A changed private name changes the answers of every endpoint of the service.
        let affected: Vec<String> = self.connections_to(&key).map(|e| e.name.clone()).collect();
        for endpoint in affected {
            self.touch(super::Touched::Endpoint(endpoint));
        }
        self.service_configs.entry(key).or_default().nlb_arns = arns;
        self.changed();
        Ok(())
    }

    /// `DeleteVpcEndpointServiceConfigurations`, one ID: refused while endpoints are
    /// connected (`pendingAcceptance`, `pending` or `available`).
    pub fn delete_service_configuration(
        &mut self,
        now: Duration,
        caller: &str,
        service_id: &str,
    ) -> Result<(), ApiError> {
        self.advance(now);
        let key = self.owned_service(caller, service_id)?;
        if self.connections_to(&key).any(is_connected) {
            return Err(ApiError::new(
                ErrorCode::ExistingVpcEndpointConnections,
                format!("Service {service_id} has existing VPC endpoint connections"),
            ));
        }
        self.may_commit()?;
        self.topology.services.shift_remove(&key);
        self.service_configs.shift_remove(&key);
        self.topology.notifications.retain(
            |_, n| !matches!(&n.target, crate::model::NotificationTarget::Service(s) if *s == key),
        );
        self.changed();
        Ok(())
    }

    /// The services `caller` provides, in declaration and creation order.
    pub fn services_of(&self, caller: &str) -> Vec<&EndpointService> {
        self.topology
            .services
            .values()
            .filter(|s| s.account == caller)
            .collect()
    }

    /// The load balancer ARNs stored for the service with key `key`.
    pub fn nlb_arns(&self, key: &str) -> &[String] {
        self.service_configs
            .get(key)
            .map_or(&[], |c| c.nlb_arns.as_slice())
    }

    /// The endpoints connected to any of `caller`'s services (`DescribeVpcEndpointConnections`).
    pub fn connections_of(&self, caller: &str) -> Vec<&Endpoint> {
        self.topology
            .endpoints
            .values()
            .filter(|e| match &e.service {
                ServiceRef::Provider(name) => self
                    .topology
                    .services
                    .get(name)
                    .is_some_and(|s| s.account == caller),
                ServiceRef::Aws(_) => false,
            })
            .collect()
    }

    /// The key of the service with ID `id` that `caller` provides.
    pub fn owned_service(&self, caller: &str, id: &str) -> Result<String, ApiError> {
        self.topology
            .services
            .values()
            .find(|s| s.id == id && s.account == caller)
            .map(|s| s.name.clone())
            .ok_or_else(|| service_not_found(id))
    }

    fn connections_to<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Endpoint> + 'a {
        self.topology
            .endpoints
            .values()
            .filter(move |e| matches!(&e.service, ServiceRef::Provider(s) if s == key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::CreateEndpoint;
    use crate::control::testkit::two_accounts;

    const NLB: &str =
        "arn:aws:elasticloadbalancing:us-east-1:222222222222:loadbalancer/net/nlb/0123456789abcdef";

    fn create(cp: &mut ControlPlane) -> EndpointService {
        cp.create_service_configuration(
            Duration::ZERO,
            "p",
            &CreateServiceConfiguration {
                acceptance_required: None,
                private_dns_name: None,
                nlb_arns: vec![NLB.into()],
            },
        )
        .unwrap()
    }

    #[test]
    fn created_service_takes_endpoints_and_needs_acceptance() {
        let mut cp = two_accounts();
        let svc = create(&mut cp);
        assert!(
            svc.id.starts_with("vpce-svc-") && svc.id.len() == 26,
            "{}",
            svc.id
        );
        assert_eq!(
            svc.service_name,
            format!("com.amazonaws.vpce.us-east-1.{}", svc.id)
        );
        assert_eq!(
            svc.az_ids.len(),
            6,
            "every AZ of the provider: {:?}",
            svc.az_ids
        );
        assert!(svc.acceptance_required, "AWS's default");
        assert_eq!(cp.nlb_arns(&svc.name), [NLB.to_string()]);
        assert_eq!(cp.services_of("p").len(), 2);
        assert!(cp.services_of("c").is_empty());

        let ep = cp
            .create_endpoint(
                Duration::ZERO,
                "c",
                &CreateEndpoint {
                    vpc: "main".into(),
                    service: svc.service_name.clone(),
                    subnets: vec!["a".into()],
                    ..CreateEndpoint::default()
                },
            )
            .unwrap();
        assert_eq!(ep.state, EndpointState::PendingAcceptance);
        assert_eq!(cp.connections_of("p").len(), 1);
        assert!(cp.connections_of("c").is_empty());

        let err = cp
            .delete_service_configuration(Duration::ZERO, "p", &svc.id)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::ExistingVpcEndpointConnections);
        cp.reject_endpoint(Duration::ZERO, "p", &ep.id).unwrap();
        cp.delete_service_configuration(Duration::ZERO, "p", &svc.id)
            .unwrap();
        assert_eq!(cp.services_of("p").len(), 1);
    }

    #[test]
    fn modify_and_ownership() {
        let mut cp = two_accounts();
        let svc = create(&mut cp);
        let err = cp
            .modify_service_configuration(
                Duration::ZERO,
                "c",
                &svc.id,
                &ModifyServiceConfiguration::default(),
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidVpcEndpointServiceIdNotFound);
        cp.modify_service_configuration(
            Duration::ZERO,
            "p",
            &svc.id,
            &ModifyServiceConfiguration {
                acceptance_required: Some(false),
                private_dns_name: Some("api.example.com".into()),
                add_nlb_arns: vec!["arn:b".into()],
                ..ModifyServiceConfiguration::default()
            },
        )
        .unwrap();
        let got = &cp.topology().services[&svc.name];
        assert!(!got.acceptance_required);
        assert_eq!(got.private_dns_name.as_deref(), Some("api.example.com"));
        assert_eq!(cp.nlb_arns(&svc.name).len(), 2);

        let err = cp
            .modify_service_configuration(
                Duration::ZERO,
                "p",
                &svc.id,
                &ModifyServiceConfiguration {
                    private_dns_name: Some("bad name".into()),
                    ..ModifyServiceConfiguration::default()
                },
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        let err = cp
            .modify_service_configuration(
                Duration::ZERO,
                "p",
                &svc.id,
                &ModifyServiceConfiguration {
                    remove_nlb_arns: vec![NLB.into(), "arn:b".into()],
                    ..ModifyServiceConfiguration::default()
                },
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParameter);
    }
}
