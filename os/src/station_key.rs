//! A branch station's X25519 key file (`vsc_core::envelope::StationSecretKey` in its text
//! form), shared by the bridge (`vsc-bridge station`, its `station_key`/`open_envelope` ops) and
//! the `vsc` CLI (`vsc station`, `vsc personalize --server --queue`): one file,
//! `<dir>/station-key`, so a branch PC is one station whichever of the two works the queue.
//!
//! The file is made once, owner-only and atomically ([`crate::read_or_create`]), and replaced
//! only by [`rotate`]. What it does not do: open envelopes (`vsc_core::envelope`) or decide
//! where the directory is (the programs take `--config-dir`, by default the bridge's
//! [`default_dir`]).

use std::path::{Path, PathBuf};

use vsc_core::envelope::{EnvelopeError, StationSecretKey};
use zeroize::Zeroizing;

use crate::WriteError;

/// The key file's name inside its directory.
pub const FILE_NAME: &str = "station-key";

/// The key file cannot be read, written, or understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StationKeyError {
    /// Reading or writing failed.
    #[error("station key: {0}; check the permissions of the config directory (--config-dir)")]
    Io(#[from] WriteError),
    /// The file is not a station key file.
    #[error("{}: {source}", path.display())]
    Damaged {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        source: EnvelopeError,
    },
}

/// The directory of the station key unless told otherwise: the bridge's per-user config
/// directory (`vsc-bridge`), `None` when the platform names none.
pub fn default_dir() -> Option<PathBuf> {
    crate::dirs::user_config_dir("vsc-bridge")
}

/// The key file's path in `dir`.
pub fn key_path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The station key of `dir`, created when there is none yet; and whether it was just created.
pub fn load_or_create(dir: &Path) -> Result<(StationSecretKey, bool), StationKeyError> {
    let path = key_path(dir);
    let (text, created) = crate::read_or_create(&path, || new_key_text().0)?;
    Ok((parse(&path, &text)?, created))
}

/// The station key of `dir`, if it has one (creates nothing).
pub fn load(dir: &Path) -> Result<Option<StationSecretKey>, StationKeyError> {
    let path = key_path(dir);
    match std::fs::read(&path) {
        Ok(bytes) => parse(&path, &Zeroizing::new(bytes)).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StationKeyError::Io(WriteError::Io {
            action: "read",
            path,
            source,
        })),
    }
}

/// Replaces the station key of `dir` with a new one; returns it.
pub fn rotate(dir: &Path) -> Result<StationSecretKey, StationKeyError> {
    crate::private::create_private_dir(dir).map_err(|source| {
        StationKeyError::Io(WriteError::Io {
            action: "create the directory",
            path: dir.to_path_buf(),
            source,
        })
    })?;
    let (text, key) = new_key_text();
    crate::write_atomic(
        &key_path(dir),
        &text,
        crate::Existing::Replace,
        crate::Durability::Flushed,
    )?;
    Ok(key)
}

fn new_key_text() -> (Zeroizing<Vec<u8>>, StationSecretKey) {
    let key = StationSecretKey::generate(&mut rand_core::OsRng);
    let text = Zeroizing::new(key.to_file_text().expose().as_bytes().to_vec());
    (text, key)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<StationSecretKey, StationKeyError> {
    let damaged = |source| StationKeyError::Damaged {
        path: path.to_path_buf(),
        source,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| damaged(EnvelopeError::BadKeyFile))?;
    StationSecretKey::from_file_text(text).map_err(damaged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_and_rotated_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("cfg");
        assert!(load(&cfg).unwrap().is_none());
        let (first, created) = load_or_create(&cfg).unwrap();
        assert!(created);
        let (again, created) = load_or_create(&cfg).unwrap();
        assert!(!created);
        assert_eq!(again.public_key(), first.public_key());
        assert_eq!(
            load(&cfg).unwrap().unwrap().public_key(),
            first.public_key()
        );
        assert_eq!(
            crate::private::check_owner_only(&key_path(&cfg)).unwrap(),
            None
        );
        let rotated = rotate(&cfg).unwrap();
        assert_ne!(rotated.public_key(), first.public_key());
        assert_eq!(
            load_or_create(&cfg).unwrap().0.public_key(),
            rotated.public_key()
        );
        std::fs::write(key_path(&cfg), "garbage").unwrap();
        let err = load_or_create(&cfg).unwrap_err().to_string();
        assert!(err.contains("station key file is damaged"), "{err}");
    }
}
