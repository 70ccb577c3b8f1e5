//! Connection notifications (docs/behaviour.md §7): events delivered to SNS topics.
//!
//! AWS does not document the message body; the JSON shape here is vpcesim's own.

use std::time::Duration;

use serde::Serialize;

use super::{ApiError, ControlPlane, ErrorCode};
use crate::model::{ConnectionEvent, Notification, NotificationTarget, ServiceRef};

/// A lifecycle event of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Event {
    pub(super) event: ConnectionEvent,
    pub(super) endpoint: String,
    pub(super) at: Duration,
}

/// One message delivered to a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// `Connect`, `Accept`, `Reject` or `Delete`.
    pub event: String,
    /// The endpoint's ID.
    pub vpc_endpoint_id: String,
    /// The service's `vpce-svc-` ID.
    pub service_id: String,
    /// The endpoint owner's account ID.
    pub vpc_endpoint_owner: String,
    /// The endpoint's state after the event.
    pub vpc_endpoint_state: String,
    /// When, as an ISO 8601 timestamp.
    pub time: String,
}

impl ControlPlane {
    /// Adds a notification; it receives events from now on.
    pub fn create_notification(
        &mut self,
        target: NotificationTarget,
        topic: &str,
        events: Vec<ConnectionEvent>,
    ) -> Result<Notification, ApiError> {
        match &target {
            NotificationTarget::Endpoint(name) => {
                self.endpoint_key(name)?;
            }
            NotificationTarget::Service(name) if !self.topology.services.contains_key(name) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidVpcEndpointServiceIdNotFound,
                    format!("The service '{name}' does not exist"),
                ));
            }
            NotificationTarget::Service(_) => {}
        }
        if events.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "ConnectionEvents must name at least one event",
            ));
        }
        self.may_commit()?;
        let id = self.fresh_id("vpce-nfn", topic);
        let notification = Notification {
            id: id.clone(),
            target,
            topic: topic.to_string(),
            events,
        };
        self.topology.notifications.insert(id, notification.clone());
        self.changed();
        Ok(notification)
    }

    /// The messages a topic has received so far, in order.
    pub fn deliveries(&self, topic: &str) -> &[Delivery] {
        self.deliveries.get(topic).map_or(&[], Vec::as_slice)
    }

    pub(super) fn deliver(&mut self, event: Event) {
        let Some(endpoint) = self.topology.endpoints.get(&event.endpoint) else {
            return;
        };
        let service_id = super::ServiceInfo::of(&self.topology, &endpoint.service)
            .map(|s| s.service_id)
            .unwrap_or_default();
        let owner = self
            .topology
            .accounts
            .get(&endpoint.account)
            .map(|a| a.id.clone())
            .unwrap_or_default();
        let delivery = Delivery {
            event: event.event.as_str().to_string(),
            vpc_endpoint_id: endpoint.id.clone(),
            service_id,
            vpc_endpoint_owner: owner,
            vpc_endpoint_state: endpoint.state.as_str().to_string(),
            time: self.timestamp(event.at),
        };
        let topics: Vec<String> = self
            .topology
            .notifications
            .values()
            .filter(|n| n.events.contains(&event.event))
            .filter(|n| match (&n.target, &endpoint.service) {
                (NotificationTarget::Endpoint(name), _) => *name == endpoint.name,
                (NotificationTarget::Service(name), ServiceRef::Provider(svc)) => name == svc,
                (NotificationTarget::Service(_), ServiceRef::Aws(_)) => false,
            })
            .map(|n| n.topic.clone())
            .collect();
        for topic in topics {
            self.deliveries
                .entry(topic)
                .or_default()
                .push(delivery.clone());
        }
    }
}
