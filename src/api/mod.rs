//! The EC2 Query API adapter: the AWS CLI, the SDKs and Terraform drive a running
//! vpcesim with the calls they send to AWS (`--endpoint-url http://ADDR`).
//!
//! Every call goes through the same [`ControlPlane`](crate::control::ControlPlane) as
//! scenario steps, on wall time from [`ApiState::clock`]; after a call that changed
//! anything, [`ApiState::on_change`] runs with the lock held so that `serve` rebuilds its
//! DNS and policy snapshots before the next call is answered. Parsing and checking a
//! request happen before the lock is taken.
//!
//! The access key ID in the request's `Authorization` header (or
//! `X-Amz-Credential`) picks the account: the account whose `access_keys` lists it, or
//! the first account when no account lists any key or the request is unsigned.
//! **Signatures are not verified**: anyone who can reach the port acts as any account.
//!
//! Layout: `params` (form parameters parsed once into a tree, and checked),
//! [`protocol`] (XML out), `actions` (one file per group of actions), `server` (the
//! HTTP adapter and its [`Limits`]). Only `server` touches I/O.

mod actions;
mod params;
pub mod protocol;
mod server;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::control::ControlPlane;

pub use server::{Limits, router, serve};

/// What the API server shares with the rest of `serve`.
#[derive(Clone)]
pub struct ApiState {
    /// The one control plane, shared with scenario steps and snapshot builders.
    pub control: Arc<Mutex<ControlPlane>>,
    /// The control plane's `now` (time since the world started): wall time in `serve`.
    pub clock: Arc<dyn Fn() -> Duration + Send + Sync>,
    /// Called with the lock held after every call that changed the world, so that DNS
    /// answers and the forwarder see the change at once.
    pub on_change: Arc<dyn Fn(&ControlPlane) + Send + Sync>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").finish_non_exhaustive()
    }
}
