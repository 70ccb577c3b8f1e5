//! End-to-end tests: the real `vpcesim` binary, real sockets, real clients.

mod api;
mod cli;
