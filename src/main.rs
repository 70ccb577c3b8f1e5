//! The `vpcesim` command.

use std::process::ExitCode;

/// mimalloc rather than glibc's allocator: each forwarded connection allocates and frees
/// two relay buffers and its task, where glibc spent about 5 % of the forwarder's CPU
/// (its bins and their consolidation). With mimalloc the forwarder's CPU per short
/// connection went from 42-43 µs to 39-40 µs (`benches/tcp_compare.sh`'s figure, same
/// run); DNS queries per CPU-second were unchanged.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    vpcesim::cli::main()
}
