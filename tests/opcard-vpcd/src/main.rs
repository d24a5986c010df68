//! The `opcard-vpcd` program: see the library's documentation.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use opcard_vpcd::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    // `finish` + `set_global_default`, not `init`: `init` would also forward the `log` records
    // of opcard, whose debug and trace records carry command data (PINs, keys).
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OPCARD_VPCD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .finish();
    if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
        eprintln!("opcard-vpcd: logging unavailable: {e}");
    }
    match opcard_vpcd::run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("opcard-vpcd: {message}");
            ExitCode::FAILURE
        }
    }
}
