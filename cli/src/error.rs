//! The errors of the `vsc` command: each says what is wrong, whose fault it is and what to do.
//!
//! Messages never contain a secret: passwords, PINs, keys and private data only ever reach a
//! file the user asked for (or the terminal, for a PIN shown once).

use std::path::{Path, PathBuf};

use vsc_core::perso::PersoError;
use vsc_core::vsc::{BuildError, OpenVscError};

/// Why a `vsc` subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file or directory could not be read, written or created.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being done ("read the CSV file", "create the output directory", ...).
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The user's input is not usable (bad profile, missing password, existing file...).
    #[error("{0}")]
    Input(String),
    /// Rows of the CSV file are invalid (each was printed before this error).
    #[error("{count} problem(s) in {}; nothing was built: fix the file and run again", .csv.display())]
    InvalidRows {
        /// Number of problems.
        count: usize,
        /// The CSV file.
        csv: PathBuf,
    },
    /// A VSC could not be built for one holder.
    #[error("holder {holder} (row {index} of the valid holders): {source}")]
    Build {
        /// The holder's id (public), or `?`.
        holder: String,
        /// 1-based position among the holders.
        index: usize,
        /// Why.
        source: BuildError,
    },
    /// The VSC file could not be opened.
    #[error("{}: {source}", .path.display())]
    Open {
        /// The VSC file.
        path: PathBuf,
        /// Why.
        source: OpenVscError,
    },
    /// PC/SC (pcscd or the reader) failed.
    #[error("{0}")]
    Pcsc(String),
    /// The issuer service refused, or could not be reached; the message says what to do.
    #[error("{0}")]
    Issuer(String),
    /// The personalization engine stopped; its message says what to do.
    #[error(transparent)]
    Perso(#[from] PersoError),
}

impl CliError {
    /// An I/O error on `path` while doing `action`.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> CliError {
        CliError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
