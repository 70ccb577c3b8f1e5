//! Scenario text through the loader that `vpcesim check` uses
//! (`vpcesim_fuzz::scenario` says what is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| vpcesim_fuzz::scenario::check(input));
