//! vpcesim simulates the data plane of AWS PrivateLink interface endpoints: private
//! DNS with per-VPC views, security groups and network ACLs, and a TCP-only forwarder,
//! on a topology described in a scenario file.
//!
//! The crate is a map of the product:
//! - [`model`]: the objects of a Region (accounts, VPCs, subnets, groups, ACLs,
//!   instances, services, endpoints) and their identifiers;
//! - [`catalog`]: the built-in AWS services;
//! - [`control`]: the sans-IO control plane that owns every change, on simulated time;
//! - [`dns`]: private DNS, compiled per-VPC views, and their servers;
//! - [`forwarder`]: the tokio TCP forwarder of `serve --forward`, with flow logs;
//! - [`policy`]: security groups, network ACLs, the flow decision and token buckets;
//! - [`scenario`]: the scenario file format, loading and validation;
//! - [`vnet`]: the packet-level virtual network on simulated time;
//! - [`api`]: the EC2 Query API that the AWS CLI and SDKs drive;
//! - [`cli`]: the `vpcesim` command line.

pub mod api;
pub mod catalog;
pub mod cli;
pub mod control;
pub mod dns;
pub mod forwarder;
pub mod model;
pub mod policy;
pub mod scenario;
pub mod vnet;
