//! `vsc`, the command line of the VSC product.
//!
//! - `vsc build`: one sealed VSC per CSV row, and `passwords.csv` for the branch.
//! - `vsc inspect`: what a sealed VSC holds (secrets redacted).
//! - `vsc script`: the personalization APDUs as a pcsc-tools `scriptor` script.
//! - `vsc readers`: the PC/SC readers and their cards.
//! - `vsc personalize`: a VSC onto a card through PC/SC, verified, with a new PIN.
//! - `vsc build --server URL --branch B`: the batch uploaded to the issuer service, each
//!   password sealed for the branch's stations; `vsc personalize --server URL --queue`: the
//!   branch queue worked from a terminal that is a station (`vsc station`).
//!
//! Passwords are never taken from the command line (other users can read it in the process
//! list): `--password-file FILE`, `--password-file -` (standard input) or a prompt; the
//! issuer account's from `--credentials FILE` or a prompt. Secrets
//! never reach an error message. All card logic is in `vsc-core`; this crate only does I/O.
//! See `docs/cli.md`.
#![forbid(unsafe_code)]

/// Writes to standard output like `print!`/`println!`, except that a closed pipe
/// (`vsc inspect FILE | head`) ends the program quietly instead of panicking.
macro_rules! out {
    (@write $method:ident, $($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = std::io::stdout().$method(format_args!($($arg)*)) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
    ($($arg:tt)*) => { out!(@write write_fmt, $($arg)*) };
}

/// [`out!`] with a line break.
macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => { out!("{}\n", format_args!($($arg)*)) };
}

mod atomic_file;
mod build;
mod clock;
mod error;
mod inspect;
mod issuer_client;
mod password_input;
mod pcsc_messages;
mod personalize;
mod pin_mailer;
mod profile_arg;
mod queue;
mod readers;
mod script;
mod station;
mod upload;
mod vsc_file;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

/// Build virtual smart cards (VSCs) and personalize real cards from them.
#[derive(Debug, Parser)]
#[command(name = "vsc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build one sealed VSC per CSV row, and passwords.csv for the branch.
    Build(build::Args),
    /// Show what a sealed VSC holds (with the password, every area; secrets redacted).
    Inspect(inspect::Args),
    /// Write the APDUs that personalize a blank card as a pcsc-tools scriptor script.
    Script(script::Args),
    /// List the PC/SC readers and whether each holds a card.
    Readers,
    /// Personalize the card in a PC/SC reader from a VSC, verify it and set a new PIN; or,
    /// with --server URL --queue, the VSCs of the issuer's branch queue, card after card.
    Personalize(personalize::Args),
    /// Show this terminal's station key (made on first use) and its fingerprint; with
    /// --server URL --enrol NAME, enrol it at the issuer.
    Station(station::Args),
}

/// Exit code for bad usage or input (as clap uses).
const EXIT_USAGE: u8 = 2;
/// Exit code for every other failure.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let argv: Vec<_> = std::env::args_os().collect();
    if let Some(message) = password_input::refuse_password_on_argv(&argv) {
        eprintln!("vsc: {message}");
        return ExitCode::from(EXIT_USAGE);
    }
    let cli = Cli::parse_from(argv);
    let result = match &cli.command {
        Command::Build(args) => build::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Script(args) => script::run(args),
        Command::Readers => readers::run(),
        Command::Personalize(args) => personalize::run(args),
        Command::Station(args) => station::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vsc: {error}");
            ExitCode::from(match error {
                CliError::Input(_) | CliError::InvalidRows { .. } => EXIT_USAGE,
                _ => EXIT_FAILURE,
            })
        }
    }
}
