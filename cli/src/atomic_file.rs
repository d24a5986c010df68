//! Whole-file writes that never leave a half-written file, for every file `vsc` writes (sealed
//! VSCs, passwords, scripts with secrets, PIN mailers): the shared writer of `vsc-os`
//! ([`vsc_os::atomic`]; owner-only files, temporary file renamed over the target), with its
//! errors as [`CliError`]s.
//!
//! [`write()`] flushes the file to disk before the rename. A batch of many files uses
//! [`write_unflushed`] for each and then one [`flush_file_system`], which costs one flush
//! instead of one per file on Linux (10,000 `fsync`s take about 9 s on the development
//! machine).

use std::path::Path;

use vsc_os::{write_atomic, Durability, WriteError};

use crate::error::CliError;

pub use vsc_os::Existing;

/// Writes `bytes` to `path` atomically. With [`Existing::Keep`] an existing `path` is an error
/// and is left as it was.
pub fn write(path: &Path, bytes: &[u8], existing: Existing) -> Result<(), CliError> {
    write_atomic(path, bytes, existing, Durability::Flushed).map_err(|e| cli_error(path, e))
}

/// Same as [`write()`] without flushing the file to disk first: the target holds the whole
/// content or does not exist, but after a crash it may be empty until
/// [`flush_file_system`] has run.
pub fn write_unflushed(path: &Path, bytes: &[u8], existing: Existing) -> Result<(), CliError> {
    write_atomic(path, bytes, existing, Durability::Unflushed).map_err(|e| cli_error(path, e))
}

/// Flushes every file written in `dir` to disk (see [`vsc_os::durable::flush_file_system`]).
pub fn flush_file_system(dir: &Path) -> Result<(), CliError> {
    vsc_os::durable::flush_file_system(dir)
        .map_err(|e| CliError::io("flush to disk the files in", dir, e))
}

fn cli_error(target: &Path, error: WriteError) -> CliError {
    match error {
        WriteError::Exists(_) => CliError::Input(error.to_string()),
        WriteError::Io {
            action,
            path,
            source,
        } => CliError::Io {
            action,
            path,
            source,
        },
        other => CliError::Io {
            action: "write",
            path: target.to_path_buf(),
            source: other.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_file_is_kept_with_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write(&path, b"one", Existing::Keep).unwrap();
        let err = write_unflushed(&path, b"two", Existing::Keep).unwrap_err();
        assert!(matches!(err, CliError::Input(_)), "{err}");
        assert!(err.to_string().contains("left untouched"), "{err}");
        flush_file_system(dir.path()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        let err = write(&dir.path().join("missing/a"), b"x", Existing::Replace).unwrap_err();
        assert!(matches!(err, CliError::Io { .. }), "{err}");
    }
}
