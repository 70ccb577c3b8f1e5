//! Sessions of EC2 Query requests through the API's router
//! (`vpcesim_fuzz::api` says what is checked and how an input is read).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vpcesim_fuzz::api::{World, check};

static WORLD: LazyLock<World> = LazyLock::new(World::load);

fuzz_target!(|input: &[u8]| check(&WORLD, input));
