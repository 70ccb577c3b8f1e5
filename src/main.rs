//! The `vpcesim` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    vpcesim::cli::main()
}
