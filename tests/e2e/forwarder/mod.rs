//! The TCP forwarder over real loopback sockets: one binary, one module per concern.

mod blocked;
mod relay;
mod support;
mod tracking;
