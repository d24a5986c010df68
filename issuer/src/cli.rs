//! The command line: `init`, `serve`, `users add`, `branches add`, `audit verify|checkpoint|export`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The default database.
pub const DEFAULT_DB: &str = "sqlite://vsc-issuer.db";

/// vsc-issuer: the VSC issuer service (records, jobs, branch queues, audit) and its
/// administration.
#[derive(Debug, Parser)]
#[command(name = "vsc-issuer", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The database to use.
#[derive(Debug, Args, Clone)]
pub struct DbArg {
    /// sqlite://PATH (a file) or postgres://USER@HOST:PORT/DBNAME.
    #[arg(long, default_value = DEFAULT_DB)]
    pub db: String,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the schema (and the SQLite file), the service's signing key and the first admin
    /// account, whose generated password is printed once.
    Init {
        /// The database.
        #[command(flatten)]
        db: DbArg,
        /// Name of the first admin account.
        #[arg(long, default_value = "admin")]
        admin: String,
    },
    /// Serve the API and the page.
    Serve(ServeArgs),
    /// Manage user accounts.
    Users {
        /// The subcommand.
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Manage branches.
    Branches {
        /// The subcommand.
        #[command(subcommand)]
        command: BranchesCommand,
    },
    /// Check, checkpoint or export the audit chain.
    Audit {
        /// The subcommand.
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// `serve`'s options.
// clap prints these doc comments as --help text (plain text: bare URLs, brackets).
#[allow(rustdoc::bare_urls, rustdoc::broken_intra_doc_links)]
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The database.
    #[command(flatten)]
    pub db: DbArg,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// The origin browsers reach the service at (https://cards.example behind a proxy);
    /// default http://LISTEN, or https://LISTEN with --tls-cert. State-changing requests must
    /// carry exactly this Origin.
    #[arg(long)]
    pub origin: Option<String>,
    /// PEM file of the TLS certificate chain (with --tls-key: serve https).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the TLS private key.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Directory holding index.html, app.js, style.css and web/pkg/.
    #[arg(long, default_value = ".")]
    pub page_dir: PathBuf,
    /// Seconds without a request that end a session (30 minutes).
    #[arg(long, default_value_t = 1800)]
    pub session_idle_seconds: u64,
    /// Seconds after sign-in that end a session, whatever happens (12 hours).
    #[arg(long, default_value_t = 43_200)]
    pub session_max_seconds: u64,
    /// Sign-in attempts a minute from one client address, on this instance (0: no limit).
    #[arg(long, default_value_t = 30)]
    pub sign_ins_per_minute: u32,
    /// Failed sign-ins in a row that lock an account.
    #[arg(long, default_value_t = 5)]
    pub lockout_after: u32,
    /// Minutes an account stays locked.
    #[arg(long, default_value_t = 15)]
    pub lockout_minutes: u64,
    /// Seconds a claim's lease lasts (and each renewal).
    #[arg(long, default_value_t = 600)]
    pub lease_seconds: u64,
    /// Most database connections this instance opens.
    #[arg(long, default_value_t = 16)]
    pub max_connections: u32,
}

/// `users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user account.
    Add {
        /// The user name.
        name: String,
        /// admin, clerk, approver, operator or auditor.
        #[arg(long)]
        role: String,
        /// The operator's branch.
        #[arg(long)]
        branch: Option<String>,
        /// A file holding the password (its first line).
        #[arg(long)]
        password_file: PathBuf,
        /// The database.
        #[command(flatten)]
        db: DbArg,
    },
}

/// `branches` subcommands.
#[derive(Debug, Subcommand)]
pub enum BranchesCommand {
    /// Create a branch.
    Add {
        /// The branch id.
        id: String,
        /// Its name.
        #[arg(long)]
        name: String,
        /// The database.
        #[command(flatten)]
        db: DbArg,
    },
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the chain; name the first altered, deleted or reordered row.
    Verify {
        /// The database.
        #[command(flatten)]
        db: DbArg,
        /// A checkpoint kept from `audit checkpoint`, to catch a rewrite of the whole chain.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Print the chain's size and head hash, signed with the service's key (JSON), to keep
    /// elsewhere.
    Checkpoint {
        /// The database.
        #[command(flatten)]
        db: DbArg,
    },
    /// Print every row as JSON lines.
    Export {
        /// The database.
        #[command(flatten)]
        db: DbArg,
    },
}
