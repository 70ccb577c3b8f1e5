//! The TCP forwarder over real loopback sockets: one binary, one module per concern.

mod blocked;
mod bounds;
mod relay;
mod support;
mod tracking;
