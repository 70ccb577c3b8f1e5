//! Connection notifications as the EC2 API manages them: create on behalf of a caller,
//! modify, delete, and list what a caller owns (docs/behaviour.md §7).
//!
//! A notification belongs to whoever owns what it watches: the endpoint's owner for an
//! endpoint notification, the provider for a service notification.

use std::time::Duration;

use super::{ApiError, ControlPlane, ErrorCode};
use crate::model::{ConnectionEvent, Notification, NotificationTarget};

/// What a `CreateVpcEndpointConnectionNotification` call watches, by AWS ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchedId {
    /// `VpcEndpointId`.
    Endpoint(String),
    /// `ServiceId` (`vpce-svc-...`).
    Service(String),
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidConnectionNotification,
        format!("The connection notification ID '{id}' does not exist"),
    )
}

/// Parses AWS event names; an unknown one is an `InvalidParameter`.
pub fn parse_events(names: &[String]) -> Result<Vec<ConnectionEvent>, ApiError> {
    let mut events = Vec::new();
    for name in names {
        let event = ConnectionEvent::parse(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameter,
                format!(
                    "Invalid connection event '{name}': expected Accept, Connect, Delete or Reject"
                ),
            )
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        return Err(ApiError::new(
            ErrorCode::MissingParameter,
            "The request must contain the parameter ConnectionEvents",
        ));
    }
    Ok(events)
}

/// An SNS topic ARN: `arn:<partition>:sns:<region>:<account>:<name>`.
fn check_topic(topic: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = topic.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty();
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("Invalid SNS topic ARN '{topic}'"),
        ))
    }
}

impl ControlPlane {
    /// The account (name) a notification belongs to, if what it watches still exists.
    pub fn notification_owner(&self, notification: &Notification) -> Option<&str> {
        match &notification.target {
            NotificationTarget::Endpoint(name) => self
                .topology
                .endpoints
                .get(name)
                .map(|e| e.account.as_str()),
            NotificationTarget::Service(name) => {
                self.topology.services.get(name).map(|s| s.account.as_str())
            }
        }
    }

    /// `CreateVpcEndpointConnectionNotification` for `caller`: the endpoint or service must
    /// be the caller's, the topic an SNS ARN.
    pub fn create_notification_for(
        &mut self,
        now: Duration,
        caller: &str,
        watched: &WatchedId,
        topic: &str,
        events: Vec<ConnectionEvent>,
    ) -> Result<Notification, ApiError> {
        self.advance(now);
        check_topic(topic)?;
        let target = match watched {
            WatchedId::Endpoint(id) => {
                let key = self.endpoint_key(id)?;
                if self.topology.endpoints[&key].account != caller {
                    return Err(ApiError::new(
                        ErrorCode::InvalidVpcEndpointIdNotFound,
                        format!("The Vpc Endpoint Id '{id}' does not exist"),
                    ));
                }
                NotificationTarget::Endpoint(key)
            }
            WatchedId::Service(id) => NotificationTarget::Service(self.owned_service(caller, id)?),
        };
        self.create_notification(target, topic, events)
    }

    /// `ModifyVpcEndpointConnectionNotification`: a new topic, new events, or both.
    pub fn modify_notification(
        &mut self,
        now: Duration,
        caller: &str,
        id: &str,
        topic: Option<&str>,
        events: Option<Vec<ConnectionEvent>>,
    ) -> Result<(), ApiError> {
        self.advance(now);
        self.owned_notification(caller, id)?;
        if let Some(topic) = topic {
            check_topic(topic)?;
        }
        if let Some(events) = &events
            && events.is_empty()
        {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "ConnectionEvents must name at least one event",
            ));
        }
        self.may_commit()?;
        let notification = &mut self.topology.notifications[id];
        if let Some(topic) = topic {
            notification.topic = topic.to_string();
        }
        if let Some(events) = events {
            notification.events = events;
        }
        self.changed();
        Ok(())
    }

    /// `DeleteVpcEndpointConnectionNotifications`, one ID.
    pub fn delete_notification(
        &mut self,
        now: Duration,
        caller: &str,
        id: &str,
    ) -> Result<(), ApiError> {
        self.advance(now);
        self.owned_notification(caller, id)?;
        self.may_commit()?;
        self.topology.notifications.shift_remove(id);
        self.changed();
        Ok(())
    }

    /// The notifications `caller` owns, in creation order.
    pub fn notifications_of(&self, caller: &str) -> Vec<&Notification> {
        self.topology
            .notifications
            .values()
            .filter(|n| self.notification_owner(n) == Some(caller))
            .collect()
    }

    fn owned_notification(&self, caller: &str, id: &str) -> Result<(), ApiError> {
        match self.topology.notifications.get(id) {
            Some(n) if self.notification_owner(n) == Some(caller) => Ok(()),
            _ => Err(not_found(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::testkit::two_accounts;

    fn world() -> (ControlPlane, String, String) {
        let cp = two_accounts();
        let id = cp.topology().endpoints["kin"].id.clone();
        (cp, "c".to_string(), id)
    }

    const TOPIC: &str = "arn:aws:sns:us-east-2:123456789012:EndpointNotification";

    #[test]
    fn create_modify_delete_round_trip() {
        let (mut cp, owner, endpoint_id) = world();
        let events = parse_events(&["Accept".into(), "Reject".into()]).unwrap();
        let n = cp
            .create_notification_for(
                Duration::ZERO,
                &owner,
                &WatchedId::Endpoint(endpoint_id.clone()),
                TOPIC,
                events,
            )
            .unwrap();
        assert!(n.id.starts_with("vpce-nfn-"), "{}", n.id);
        assert_eq!(cp.notifications_of(&owner).len(), 1);
        assert!(cp.notifications_of("someone-else").is_empty());

        let topic2 = "arn:aws:sns:us-east-2:123456789012:mytopic";
        cp.modify_notification(
            Duration::ZERO,
            &owner,
            &n.id,
            Some(topic2),
            Some(vec![ConnectionEvent::Accept]),
        )
        .unwrap();
        let got = &cp.topology().notifications[&n.id];
        assert_eq!(got.topic, topic2);
        assert_eq!(got.events, vec![ConnectionEvent::Accept]);

        let err = cp
            .delete_notification(Duration::ZERO, "someone-else", &n.id)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConnectionNotification);
        cp.delete_notification(Duration::ZERO, &owner, &n.id)
            .unwrap();
        assert!(cp.topology().notifications.is_empty());
        let err = cp
            .delete_notification(Duration::ZERO, &owner, &n.id)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConnectionNotification);
    }

    #[test]
    fn bad_topic_events_and_foreign_endpoint_fail() {
        let (mut cp, owner, endpoint_id) = world();
        let watched = WatchedId::Endpoint(endpoint_id);
        let events = vec![ConnectionEvent::Accept];
        let err = cp
            .create_notification_for(Duration::ZERO, &owner, &watched, "topic", events.clone())
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        let err = cp
            .create_notification_for(Duration::ZERO, "nobody", &watched, TOPIC, events.clone())
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidVpcEndpointIdNotFound);
        let err = cp
            .create_notification_for(
                Duration::ZERO,
                &owner,
                &WatchedId::Service("vpce-svc-00000000000000000".into()),
                TOPIC,
                events,
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidVpcEndpointServiceIdNotFound);
        assert_eq!(
            parse_events(&["Bogus".into()]).unwrap_err().code,
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            parse_events(&[]).unwrap_err().code,
            ErrorCode::MissingParameter
        );
    }
}
