//! End-to-end tests: the real servers on loopback, real clients. One binary, one module
//! per part of the product.

mod dns;
mod support;
