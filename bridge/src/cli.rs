//! The command line: `vsc-bridge [OPTIONS]` runs the bridge; `vsc-bridge pairings list|revoke`
//! manages paired pages.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// PC/SC readers for an authenticated web page, over a WebSocket on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "vsc-bridge", version, about)]
pub struct Cli {
    /// Directory of the pairings file [default: $XDG_CONFIG_HOME/vsc-bridge or ~/.config/vsc-bridge].
    #[arg(long, global = true, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// Manage pairings instead of running the bridge.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of the bridge itself.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Paired pages: list them, or revoke one.
    Pairings {
        /// What to do.
        #[command(subcommand)]
        action: PairingsAction,
    },
}

/// `pairings` actions.
#[derive(Debug, Subcommand)]
pub enum PairingsAction {
    /// Lists paired pages: id, origin, creation time.
    List,
    /// Revokes a pairing: its token stops working at the page's next hello.
    Revoke {
        /// The id shown by `pairings list`.
        id: String,
    },
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Connections, sessions, batches (default).
    Info,
    /// Also every APDU header and status word.
    Debug,
}

/// Options for running the bridge.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Loopback address and port to listen on (127.0.0.1 or [::1] only).
    #[arg(long, default_value = "127.0.0.1:35900", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,

    /// A page origin allowed to connect, e.g. https://issuer.example (repeatable).
    #[arg(long = "allow-origin", value_name = "URL")]
    pub allow_origin: Vec<String>,

    /// An origin authenticated without pairing (implies --allow-origin; repeatable).
    #[arg(long = "trust-origin", value_name = "URL")]
    pub trust_origin: Vec<String>,

    /// Serve the page's static files from DIR; the bridge's own origin is then allowed.
    #[arg(long, value_name = "DIR")]
    pub serve: Option<PathBuf>,

    /// Also write each pairing code to FILE (besides the console).
    #[arg(long, value_name = "FILE")]
    pub pairing_code_file: Option<PathBuf>,

    /// Use a built-in simulated reader with a blank software card instead of PC/SC.
    #[arg(long)]
    pub sim: bool,

    /// Close a socket after this many seconds without a request.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub idle_timeout: u64,

    /// At most this many WebSocket connections at once; more are refused with 503.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_connections: usize,

    /// Also append the log to FILE.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// How long a pairing code stays valid, in seconds (shorter values are for tests).
    #[arg(long, default_value_t = 120, value_name = "SECONDS", hide = true)]
    pub pairing_code_ttl: u64,

    /// Log verbosity.
    #[arg(long, value_enum, default_value = "info")]
    pub log_level: LogLevel,
}
