//! Integration tests of the packet-level network (`vpcesim::vnet`).

mod connect;
mod fixture;
mod transfer;
