//! Create, Describe, Modify and Delete VpcEndpointConnectionNotification(s).

use super::{
    Call, keep, next_token, one, paginate, record, required_list, returns_true, unsuccessful,
};
use crate::api::protocol::Xml;
use crate::control::{ApiError, ControlPlane, ErrorCode, ServiceInfo, WatchedId, parse_events};
use crate::model::{Notification, NotificationTarget};

/// The IDs of what a notification watches: (service ID, endpoint ID).
fn watched_ids(control: &ControlPlane, n: &Notification) -> (Option<String>, Option<String>) {
    let t = control.topology();
    match &n.target {
        NotificationTarget::Endpoint(key) => match t.endpoints.get(key) {
            Some(e) => (
                ServiceInfo::of(t, &e.service).map(|s| s.service_id),
                Some(e.id.clone()),
            ),
            None => (None, None),
        },
        NotificationTarget::Service(key) => (t.services.get(key).map(|s| s.id.clone()), None),
    }
}

/// The `ConnectionNotification` shape.
fn write_notification(x: &mut Xml, control: &ControlPlane, n: &Notification) {
    let (service, endpoint) = watched_ids(control, n);
    x.text("connectionNotificationId", &n.id);
    x.opt("serviceId", service.as_deref());
    x.opt("vpcEndpointId", endpoint.as_deref());
    x.text("connectionNotificationType", "Topic");
    x.text("connectionNotificationArn", &n.topic);
    x.strings("connectionEvents", n.events.iter().map(|e| e.as_str()));
    x.text("connectionNotificationState", "Enabled");
    x.text("serviceRegion", control.topology().region.name());
}

pub(super) fn create(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let watched = match (p.get("ServiceId"), p.get("VpcEndpointId")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterCombination,
                "Specify either ServiceId or VpcEndpointId, not both",
            ));
        }
        (Some(service), None) => WatchedId::Service(service.to_string()),
        (None, Some(endpoint)) => WatchedId::Endpoint(endpoint.to_string()),
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::MissingParameter,
                "The request must contain the parameter ServiceId or VpcEndpointId",
            ));
        }
    };
    let topic = p.required("ConnectionNotificationArn")?;
    let events = parse_events(&p.list("ConnectionEvents"))?;
    let n = call
        .control
        .create_notification_for(call.now, call.caller, &watched, topic, events)?;
    let mut x = Xml::new();
    x.elem("connectionNotification", |x| {
        write_notification(x, call.control, &n);
    });
    x.opt("clientToken", p.get("ClientToken"));
    Ok(x)
}

pub(super) fn describe(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let filters = p.filters()?;
    let control = &*call.control;
    let mine = control.notifications_of(call.caller);
    let wanted = p.get("ConnectionNotificationId");
    if let Some(id) = wanted
        && !mine.iter().any(|n| n.id == id)
    {
        return Err(ApiError::new(
            ErrorCode::InvalidConnectionNotification,
            format!("The connection notification ID '{id}' does not exist"),
        ));
    }
    let mut selected = Vec::new();
    for n in mine {
        if wanted.is_some_and(|id| id != n.id) {
            continue;
        }
        let (service, endpoint) = watched_ids(control, n);
        let passes = keep(&filters, &Default::default(), |name| match name {
            "connection-notification-arn" => one(&n.topic),
            "connection-notification-id" => one(&n.id),
            "connection-notification-state" => one("Enabled"),
            "connection-notification-type" => one("Topic"),
            "service-id" => Some(service.iter().cloned().collect()),
            "vpc-endpoint-id" => Some(endpoint.iter().cloned().collect()),
            _ => None,
        })?;
        if passes {
            selected.push(n);
        }
    }
    let (page, token) = paginate(selected, p, 1000)?;
    let mut x = Xml::new();
    x.set("connectionNotificationSet", page, |x, n| {
        write_notification(x, control, n);
    });
    next_token(&mut x, token.as_deref());
    Ok(x)
}

pub(super) fn modify(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let p = call.params;
    let id = p.required("ConnectionNotificationId")?;
    let topic = p.get("ConnectionNotificationArn");
    let events = p.list("ConnectionEvents");
    let events = if events.is_empty() {
        None
    } else {
        Some(parse_events(&events)?)
    };
    if topic.is_none() && events.is_none() {
        return Err(ApiError::new(
            ErrorCode::MissingParameter,
            "The request must contain ConnectionNotificationArn or ConnectionEvents",
        ));
    }
    call.control
        .modify_notification(call.now, call.caller, id, topic, events)?;
    Ok(returns_true())
}

pub(super) fn delete(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let ids = required_list(call.params, "ConnectionNotificationId")?;
    let mut failures = Vec::new();
    for id in ids {
        let result = call.control.delete_notification(call.now, call.caller, &id);
        record(&mut failures, id, result);
    }
    let mut x = Xml::new();
    unsuccessful(&mut x, &failures);
    Ok(x)
}
