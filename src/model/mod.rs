//! The topology model: the objects of a simulated AWS Region and their identifiers.
//!
//! Plain data with no behaviour beyond derived facts (reserved addresses, DNS names).
//! The control plane (`crate::control`) owns every change to it; nothing here reads a
//! clock or touches a socket.

pub mod ids;
pub mod net;
pub mod region;
pub mod topology;

pub use ids::IdGen;
pub use net::{Direction, PortRange, Proto, RuleAction};
pub use region::Region;
pub use topology::*;
