//! The command line: `vsc-bridge [OPTIONS]` runs the bridge; `vsc-bridge pairings list|revoke`
//! manages paired pages; `vsc-bridge station [rotate]` shows or replaces the station key;
//! `vsc-bridge doctor` checks the installation.

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// What `--help` says after the options: files, configuration, signals, exit status.
const AFTER_LONG_HELP: &str = "\
CONFIGURATION FILE
    Every option marked [config: KEY] may also be set in a TOML file, at the system-wide
    location (Linux: /etc/vsc-bridge/config.toml; Windows:
    %ProgramData%\\VSC\\vsc-bridge\\config.toml; macOS:
    /Library/Application Support/VSC/vsc-bridge/config.toml) or where --config says. Flags win
    over the file; a repeatable flag given once replaces the file's whole list. Example:

        allow_origins = [\"https://cards.issuer.example\"]
        listen = \"127.0.0.1:35900\"
        log_level = \"info\"

PAIRING
    A page from an allowed origin asks to pair; the bridge prints
    \"PAIRING CODE for ORIGIN: NNNNNNNN\" on its console (and in --pairing-code-file) and the
    clerk types it into the page. The page keeps a token; the bridge stores only its SHA-256 in
    the per-user config directory (pairings.json, owner-only): Linux
    $XDG_CONFIG_HOME/vsc-bridge or ~/.config/vsc-bridge; Windows
    %APPDATA%\\VSC\\vsc-bridge\\config; macOS ~/Library/Application Support/VSC.vsc-bridge.

STATION KEY
    The bridge is also a station of the issuer service: at its first start it makes an X25519
    key pair in the same config directory (station-key, owner-only). `vsc-bridge station`
    prints the public key and its fingerprint, which an admin compares with what the page
    enrolled; `vsc-bridge station rotate` makes a new key (envelopes sealed for the old key
    can no longer be opened). A paired page may have envelopes opened (open_envelope), at most
    30 per minute; the opened password is never logged.

STOPPING
    Ctrl-C, SIGTERM (Unix), Ctrl-Break or closing the console window (Windows): open sessions
    are ended and their cards reset before the bridge exits.

EXIT STATUS
    0 on a clean stop; 1 when it cannot start (the message says why and what to do), or when
    `doctor` found something to fix.

More: docs/branch-install.md and docs/bridge-protocol.md in the VSC sources.";

/// PC/SC readers for an authenticated web page, over a WebSocket on 127.0.0.1.
///
/// vsc-bridge is the one program a branch office installs for the VSC personalization page: it
/// listens on ws://127.0.0.1:35900/v1, accepts WebSocket connections from the allowed page
/// origins only, lets a page reach the readers once it is paired (or its origin trusted), and
/// moves APDU batches between the page and the PC/SC readers.
#[derive(Debug, Parser)]
#[command(name = "vsc-bridge", version, about, long_about, after_long_help = AFTER_LONG_HELP)]
pub struct Cli {
    /// Directory of the pairings file [default: the per-user config directory, see PAIRING].
    #[arg(long, global = true, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// Read the configuration from FILE instead of the system-wide file (which may be absent);
    /// FILE must exist.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Manage pairings or check the installation instead of running the bridge.
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
    /// Checks the installation: the PC/SC service and its readers, the configuration in force,
    /// the allowed origins, the pairings, the station key, the listening port; says what to fix
    /// (exit status 1 if anything must be fixed).
    Doctor,
    /// The station key: prints its public key and fingerprint (making the key if there is none
    /// yet), or makes a new one.
    Station {
        /// `rotate`: replace the key (envelopes sealed for the old one can no longer be opened).
        #[command(subcommand)]
        action: Option<StationAction>,
    },
}

/// `station` actions.
#[derive(Debug, Subcommand)]
pub enum StationAction {
    /// Makes a new station key. Envelopes sealed for the old key can no longer be opened: an
    /// admin revokes the old station and approves this one after comparing the new
    /// fingerprint.
    Rotate,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
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

impl LogLevel {
    /// The name as written in flags and the config file.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// Options for running the bridge (those that `doctor` shows too).
// clap prints these doc comments as --help text (plain text: bare URLs, brackets).
#[allow(rustdoc::bare_urls, rustdoc::broken_intra_doc_links)]
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Loopback address and port to listen on (127.0.0.1 or [::1] only) [default:
    /// 127.0.0.1:35900] [config: listen].
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// A page origin allowed to connect, e.g. https://cards.issuer.example (repeatable)
    /// [config: allow_origins].
    #[arg(long = "allow-origin", global = true, value_name = "URL")]
    pub allow_origin: Vec<String>,

    /// An origin authenticated without pairing (implies --allow-origin; repeatable) [config:
    /// trust_origins].
    #[arg(long = "trust-origin", global = true, value_name = "URL")]
    pub trust_origin: Vec<String>,

    /// Serve the page's static files from DIR; the bridge's own origin is then allowed.
    #[arg(long, value_name = "DIR")]
    pub serve: Option<PathBuf>,

    /// Also write each pairing code to FILE (besides the console) [config: pairing_code_file].
    #[arg(long, global = true, value_name = "FILE")]
    pub pairing_code_file: Option<PathBuf>,

    /// Use a built-in simulated reader with a blank software card instead of PC/SC.
    #[arg(long)]
    pub sim: bool,

    /// Close a socket after this many seconds without a request [default: 600] [config:
    /// idle_timeout].
    #[arg(long, global = true, value_name = "SECONDS")]
    pub idle_timeout: Option<u64>,

    /// At most this many WebSocket connections at once; more are refused with 503 [default: 8]
    /// [config: max_connections].
    #[arg(long, global = true, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Also append the log to FILE [config: log_file].
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// How long a pairing code stays valid, in seconds (shorter values are for tests).
    #[arg(long, default_value_t = 120, value_name = "SECONDS", hide = true)]
    pub pairing_code_ttl: u64,

    /// How many password envelopes one page origin may open per minute (`open_envelope`).
    #[arg(long, default_value_t = crate::station::DEFAULT_OPENS_PER_MINUTE, value_name = "N", hide = true)]
    pub envelopes_per_minute: usize,

    /// Log verbosity [default: info] [config: log_level].
    #[arg(long, global = true, value_enum, value_name = "LEVEL")]
    pub log_level: Option<LogLevel>,
}
