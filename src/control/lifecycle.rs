//! Lifecycle transitions that take simulated time: `pending -> available` and
//! `deleting -> deleted`, each after the provisioning delay.

use std::time::Duration;

use super::ControlPlane;
use crate::model::EndpointState;

/// A transition due at a scheduled time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Transition {
    /// The endpoint (by key) finishes provisioning.
    Provisioned(String),
    /// The endpoint finishes deleting.
    Deleted(String),
}

impl ControlPlane {
    /// Schedules `transition` after `delay`; a delay past the end of time (a huge
    /// `provisioning`) saturates instead of overflowing: it never comes due.
    pub(super) fn schedule_in(&mut self, delay: Duration, transition: Transition) {
        self.sequence += 1;
        self.schedule
            .insert((self.now.saturating_add(delay), self.sequence), transition);
    }

    /// Applies a due transition if the endpoint is still in the state it expects: a
    /// provider's reject or a delete in between wins over a late `available`.
    pub(super) fn apply_transition(&mut self, _at: Duration, transition: Transition) {
        let (key, from, to) = match &transition {
            Transition::Provisioned(key) => (key, EndpointState::Pending, EndpointState::Available),
            Transition::Deleted(key) => (key, EndpointState::Deleting, EndpointState::Deleted),
        };
        if self
            .topology
            .endpoints
            .get(key)
            .is_some_and(|e| e.state == from)
        {
            self.set_state(key, to);
            self.changed();
        }
    }
}
