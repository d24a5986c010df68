//! Logging setup: `tracing` events of this crate only, to stderr and optionally to a file.
//!
//! Only the `vsc_bridge` target is enabled, whatever the environment says: the WebSocket and
//! PC/SC libraries' own logs (which may print frames, hence APDU data) are never installed.
//! What this crate logs is chosen so no APDU data, response data, PIN, key, token or pairing code
//! ever appears: APDU headers, status words, lengths, origins, readers, session ids.

use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// A log file that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the log file {path}: {source}; check --log-file")]
pub struct LogFileError {
    path: String,
    source: std::io::Error,
}

/// Installs the global subscriber at `level`, to stderr and to `file` (appended) if given.
pub fn init(level: LevelFilter, file: Option<&Path>) -> Result<(), LogFileError> {
    let targets = Targets::new().with_target("vsc_bridge", level);
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .with_filter(targets.clone());
    let file_layer = match file {
        Some(path) => {
            let out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| LogFileError {
                    path: path.display().to_string(),
                    source,
                })?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(Mutex::new(out))
                    .with_filter(targets),
            )
        }
        None => None,
    };
    let subscriber = tracing_subscriber::registry().with(stderr).with(file_layer);
    // Only fails if a subscriber is already installed, which main never does twice.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}
