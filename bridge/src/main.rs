//! `vsc-bridge`: the only native program a branch office installs. It lets an authenticated
//! personalization page push APDU batches to a card in a local PC/SC reader, over a WebSocket on
//! the loopback interface, and nothing else (protocol: `docs/bridge-protocol.md`; what it
//! defends against: `docs/threat-model.md`).
//!
//! It does not understand cards: it moves APDUs between a page and a reader, checks who is
//! asking, and resets the card when a session ends. `--sim` replaces PC/SC with a built-in
//! simulated reader holding a software card. It is also a branch *station* of the issuer
//! service: it holds an X25519 key that opens the VSC password envelopes sealed for it, for a
//! paired page (`station`). Settings come from flags over a configuration file (`settings`);
//! `vsc-bridge doctor` checks an installation (`doctor`). It builds for
//! Linux, Windows and macOS: what differs lives in `shutdown` and in the `vsc-os` crate
//! (installation: `docs/branch-install.md`).
#![forbid(unsafe_code)]

mod app;
mod backend;
mod cli;
mod connection;
mod doctor;
mod http;
mod logging;
mod origin;
mod pairing;
mod pairing_store;
mod pcsc_backend;
mod server;
mod sessions;
mod settings;
mod shutdown;
mod sim_backend;
mod static_files;
mod station;

use app::{App, Config};
use backend::Backend;
use clap::Parser;
use cli::{Cli, Command, LogLevel, PairingsAction, RunArgs, StationAction};
use pairing_store::PairingStore;
use settings::{ConfigFile, Settings};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::filter::LevelFilter;

/// A reason the bridge cannot start or a subcommand fails (the operator's setup is at fault).
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(
        "--listen {0} is not a loopback address; the bridge only listens on 127.0.0.1 or [::1]"
    )]
    NotLoopback(std::net::SocketAddr),
    #[error("{addr} is already in use (is another vsc-bridge running?); stop it or choose another port with --listen")]
    PortTaken { addr: std::net::SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Origin(#[from] origin::BadOrigin),
    #[error("--serve {0}: not a directory")]
    ServeDir(PathBuf),
    #[error("no config directory: the platform names no home directory for this user; pass --config-dir")]
    NoConfigDir,
    #[error(transparent)]
    Config(#[from] settings::ConfigError),
    #[error("--max-connections must be at least 1")]
    NoConnections,
    #[error("--idle-timeout must be at least 1 second")]
    NoIdle,
    #[error(transparent)]
    Store(#[from] pairing_store::StoreError),
    #[error(transparent)]
    Log(#[from] logging::LogFileError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("no pairing with id {0:?}; see `vsc-bridge pairings list`")]
    NoSuchPairing(String),
    #[error("doctor found {0} thing(s) to fix (listed above)")]
    DoctorFound(usize),
    #[error(transparent)]
    Station(#[from] station::StationKeyError),
    #[error("--envelopes-per-minute must be at least 1")]
    NoEnvelopes,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vsc-bridge: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), StartError> {
    let config_dir = match cli.config_dir {
        Some(dir) => dir,
        None => PairingStore::default_dir().ok_or(StartError::NoConfigDir)?,
    };
    let store = PairingStore::new(config_dir);
    let config = ConfigFile::load(cli.config.as_deref());
    match cli.command {
        Some(Command::Pairings {
            action: PairingsAction::List,
        }) => {
            let pairings = store.list()?;
            if pairings.is_empty() {
                println!("no paired pages ({})", store.path().display());
            }
            for p in pairings {
                println!(
                    "{}  {}  created {} (unix time)",
                    p.id, p.origin, p.created_unix
                );
            }
            Ok(())
        }
        Some(Command::Pairings {
            action: PairingsAction::Revoke { id },
        }) => {
            if store.revoke(&id)? {
                println!("revoked {id}");
                Ok(())
            } else {
                Err(StartError::NoSuchPairing(id))
            }
        }
        Some(Command::Station { action: None }) => {
            let (key, created) = station::load_or_create(store.dir())?;
            let public = key.public_key();
            println!("station public key: {}", public.to_hex());
            println!("fingerprint: {}", public.fingerprint());
            println!(
                "key file: {}{}",
                station::key_path(store.dir()).display(),
                if created { " (made now)" } else { "" }
            );
            Ok(())
        }
        Some(Command::Station {
            action: Some(StationAction::Rotate),
        }) => {
            let key = station::rotate(store.dir())?;
            let public = key.public_key();
            println!("new station public key: {}", public.to_hex());
            println!("fingerprint: {}", public.fingerprint());
            println!(
                "Envelopes sealed for the old key can no longer be opened. At the issuer, an admin \
                 revokes this station's old key and approves it again after an operator enrols it \
                 from the page and the fingerprints match; jobs queued with envelopes for the old \
                 key are reissued or served by another station of the branch. A running \
                 vsc-bridge uses the new key from its next envelope on."
            );
            Ok(())
        }
        Some(Command::Doctor) => {
            let problems = doctor::run(&cli.run, config, &store);
            if problems == 0 {
                Ok(())
            } else {
                Err(StartError::DoctorFound(problems))
            }
        }
        None => {
            let config = config?;
            let settings = Settings::resolve(&cli.run, &config.settings);
            serve(cli.run, settings, &config, store)
        }
    }
}

fn serve(
    args: RunArgs,
    settings: Settings,
    file: &ConfigFile,
    store: PairingStore,
) -> Result<(), StartError> {
    let level = match settings.log_level.value {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
    };
    logging::init(level, settings.log_file.value.as_deref())?;
    let listen = settings.listen.value;
    if !listen.ip().is_loopback() {
        return Err(StartError::NotLoopback(listen));
    }
    if settings.max_connections.value == 0 {
        return Err(StartError::NoConnections);
    }
    if settings.idle_timeout.value == 0 {
        return Err(StartError::NoIdle);
    }
    if args.envelopes_per_minute == 0 {
        return Err(StartError::NoEnvelopes);
    }
    if let Some(dir) = &args.serve {
        if !dir.is_dir() {
            return Err(StartError::ServeDir(dir.clone()));
        }
    }
    let (mut allowed, trusted) = normalized_origins(&settings)?;

    let listener = std::net::TcpListener::bind(listen).map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => StartError::PortTaken { addr: listen },
        _ => StartError::Listen {
            addr: listen,
            source,
        },
    })?;
    let local = listener.local_addr().map_err(|source| StartError::Listen {
        addr: listen,
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| StartError::Listen {
            addr: local,
            source,
        })?;
    if args.serve.is_some() {
        allowed.extend(origin::HandshakePolicy::own_origins(local.port()));
    }

    let config = Config {
        allowed_origins: allowed,
        trusted_origins: trusted,
        serve_dir: args.serve.clone(),
        pairing_code_file: settings.pairing_code_file.value.clone(),
        idle_timeout: Duration::from_secs(settings.idle_timeout.value),
        max_sockets: settings.max_connections.value,
        port: local.port(),
        pairing_code_ttl: Duration::from_secs(args.pairing_code_ttl),
    };
    let (key, created) = station::load_or_create(store.dir())?;
    eprintln!(
        "vsc-bridge station key fingerprint: {}{}",
        key.public_key().fingerprint(),
        if created { " (new key)" } else { "" }
    );
    let station = station::Station::new(store.dir().to_path_buf(), key, args.envelopes_per_minute);
    let backend: Arc<dyn Backend> = if args.sim {
        Arc::new(sim_backend::SimBackend::default())
    } else {
        Arc::new(pcsc_backend::PcscBackend::default())
    };

    let config_file = if file.found {
        eprintln!("vsc-bridge: configuration from {}", file.path.display());
        file.path.display().to_string()
    } else {
        format!("none ({} does not exist)", file.path.display())
    };
    // This thread accepts connections, answers plain HTTP and runs the reader watcher; every
    // WebSocket connection then gets a thread and a runtime of its own (`server`), so nothing
    // here ever waits on a card. Reader queries and resets run on blocking threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|source| StartError::Listen {
                addr: local,
                source,
            })?;
        tracing::info!(
            origins = ?config.allowed_origins,
            trusted = ?config.trusted_origins,
            sim = args.sim,
            config_file = %config_file,
            "starting"
        );
        let app = App::new(config, backend, store, station);
        tokio::spawn(Arc::clone(&app).watch_readers());
        eprintln!(
            "vsc-bridge listening on ws://{local}{}",
            vsc_core::protocol::ENDPOINT_PATH
        );
        if args.serve.is_some() {
            eprintln!("vsc-bridge serving the page at http://{local}/");
        }
        tokio::select! {
            () = server::run(Arc::clone(&app), listener) => {}
            () = shutdown::requested() => {
                tracing::info!("stopping: resetting open sessions");
                app.end_all_sessions().await;
            }
        }
        Ok(())
    })
}

/// The allowed origins (trusted ones included) and the trusted ones, normalized.
fn normalized_origins(settings: &Settings) -> Result<(Vec<String>, Vec<String>), StartError> {
    let mut trusted = Vec::new();
    for o in &settings.trust_origins.value {
        trusted.push(origin::normalize_origin(o)?);
    }
    let mut allowed = trusted.clone();
    for o in &settings.allow_origins.value {
        allowed.push(origin::normalize_origin(o)?);
    }
    Ok((allowed, trusted))
}
