//! End-to-end tests: the real `vpcesim` binary and servers on loopback, real clients.
//! One binary, one module per part of the product.

mod api;
mod cli;
mod diagnostics;
mod dns;
mod dns_transport;
mod dns_upstream;
mod docs;
mod forwarder;
mod serve;
mod support;
mod vnet;
