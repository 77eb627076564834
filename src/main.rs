//! The `cairn` binary: parses the command line and runs the chosen job.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cairn: {err:#}");
            ExitCode::FAILURE
        }
    }
}
