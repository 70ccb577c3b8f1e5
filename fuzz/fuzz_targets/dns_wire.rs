//! Raw DNS queries through the answer path of the UDP and TCP servers
//! (`vpcesim_fuzz::dns` says what is checked and how an input is read).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vpcesim_fuzz::dns::{World, check};

static WORLD: LazyLock<World> = LazyLock::new(World::load);

fuzz_target!(|input: &[u8]| check(&WORLD, input));
