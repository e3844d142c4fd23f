//! The `invois` command. Thin: each subcommand lives in its own module and calls a library.

use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "invois", version, about = "MyInvois e-invoicing toolkit")]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}
