//! The bridge as a branch *station* (bridge protocol, "Station ops"): it holds an X25519 key
//! pair that opens the VSC password envelopes an issuer sealed for it.
//!
//! The secret key lives in `<config-dir>/station-key` (owner-only, written once, atomically,
//! by `vsc-os`), created at the bridge's first start or by `vsc-bridge station`;
//! `vsc-bridge station rotate` replaces it. Opening is `vsc_core::envelope::open_parts`, the
//! code the issuer's page seals with. `open_envelope` is limited per page origin
//! ([`Station::admit`]); every failure is one `envelope_invalid`.
//!
//! What it does not do: log a ciphertext or a plaintext (the connection logs that an envelope
//! was opened, for which origin and job, and its size), or decide who may ask (the connection
//! answers authenticated pages only).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vsc_core::envelope::{EnvelopeError, StationSecretKey};
use vsc_core::secret::SecretBytes;

/// The key file's name inside the config directory.
pub const FILE_NAME: &str = "station-key";

/// Envelopes a page origin may open per [`WINDOW`] unless the operator says otherwise.
pub const DEFAULT_OPENS_PER_MINUTE: usize = 30;

/// The rate-limit window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The key file cannot be read, written, or understood.
#[derive(Debug, thiserror::Error)]
pub enum StationError {
    /// Reading or writing failed.
    #[error("station key: {0}; check the permissions of the config directory (--config-dir)")]
    Io(#[from] vsc_os::WriteError),
    /// The file is not a key this bridge wrote.
    #[error("{}: {source}", path.display())]
    Damaged {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        source: EnvelopeError,
    },
}

/// The key file's path in `dir`.
pub fn key_path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The station key of `dir`, created when there is none yet; and whether it was just created.
pub fn load_or_create(dir: &Path) -> Result<(StationSecretKey, bool), StationError> {
    let path = key_path(dir);
    let (text, created) = vsc_os::read_or_create(&path, || new_key_text().0)?;
    Ok((parse(&path, &text)?, created))
}

/// The station key of `dir`, if it has one (for `doctor`, which creates nothing).
pub fn load(dir: &Path) -> Result<Option<StationSecretKey>, StationError> {
    let path = key_path(dir);
    match std::fs::read(&path) {
        Ok(bytes) => parse(&path, &zeroize::Zeroizing::new(bytes)).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StationError::Io(vsc_os::WriteError::Io {
            action: "read",
            path,
            source,
        })),
    }
}

/// Replaces the station key of `dir` with a new one; returns it.
pub fn rotate(dir: &Path) -> Result<StationSecretKey, StationError> {
    vsc_os::private::create_private_dir(dir).map_err(|source| {
        StationError::Io(vsc_os::WriteError::Io {
            action: "create the directory",
            path: dir.to_path_buf(),
            source,
        })
    })?;
    let (text, key) = new_key_text();
    vsc_os::write_atomic(
        &key_path(dir),
        &text,
        vsc_os::Existing::Replace,
        vsc_os::Durability::Flushed,
    )?;
    Ok(key)
}

fn new_key_text() -> (zeroize::Zeroizing<Vec<u8>>, StationSecretKey) {
    let key = StationSecretKey::generate(&mut rand_core::OsRng);
    let text = zeroize::Zeroizing::new(key.to_file_text().expose().as_bytes().to_vec());
    (text, key)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<StationSecretKey, StationError> {
    let damaged = |source| StationError::Damaged {
        path: path.to_path_buf(),
        source,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| damaged(EnvelopeError::BadKeyFile))?;
    StationSecretKey::from_file_text(text).map_err(damaged)
}

/// The running bridge's station: its key and the per-origin budget of `open_envelope`.
///
/// The key file is read again for every station op, so `vsc-bridge station rotate` takes
/// effect at once; if it cannot be read, the key the bridge last read is used (and the failure
/// logged).
pub struct Station {
    dir: PathBuf,
    current: Mutex<StationSecretKey>,
    per_minute: usize,
    opened: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Station {
    /// The station of the config directory `dir`, whose key was just read as `key`, letting
    /// each origin open `per_minute` envelopes a minute.
    pub fn new(dir: PathBuf, key: StationSecretKey, per_minute: usize) -> Station {
        Station {
            dir,
            current: Mutex::new(key),
            per_minute,
            opened: Mutex::new(HashMap::new()),
        }
    }

    /// The key as the key file holds it now (made again if the file was deleted).
    pub fn key(&self) -> StationSecretKey {
        let read = load_or_create(&self.dir);
        let mut current = crate::sessions::lock(&self.current);
        match read {
            Ok((key, created)) => {
                if created {
                    tracing::warn!(fingerprint = %key.public_key().fingerprint(), "the station key file was missing: a new station key was made (enrol this station again)");
                } else if key.public_key() != current.public_key() {
                    tracing::info!(fingerprint = %key.public_key().fingerprint(), "the station key file changed (rotated): using the new key");
                }
                *current = key;
            }
            Err(e) => {
                tracing::error!(%e, "cannot read the station key file; using the key read before")
            }
        }
        current.clone()
    }

    /// Counts one `open_envelope` by `origin` at `now`; `false` when the origin has used its
    /// budget for the last minute (successful and failed attempts alike).
    pub fn admit(&self, origin: &str, now: Instant) -> bool {
        let mut opened = crate::sessions::lock(&self.opened);
        let log = opened.entry(origin.to_owned()).or_default();
        while log
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            log.pop_front();
        }
        if log.len() >= self.per_minute {
            return false;
        }
        log.push_back(now);
        true
    }

    /// The budget per origin and minute.
    pub fn per_minute(&self) -> usize {
        self.per_minute
    }

    /// Opens an envelope given as its parts (see `vsc_core::envelope::open_parts`) with the
    /// current key.
    pub fn open(
        &self,
        enc: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<SecretBytes, EnvelopeError> {
        vsc_core::envelope::open_parts(enc, ciphertext, aad, &self.key())
    }
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
            vsc_os::private::check_owner_only(&key_path(&cfg)).unwrap(),
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

    #[test]
    fn a_running_station_follows_its_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = load_or_create(dir.path()).unwrap();
        let station = Station::new(dir.path().to_path_buf(), key.clone(), 2);
        assert_eq!(station.key().public_key(), key.public_key());
        let rotated = rotate(dir.path()).unwrap();
        assert_eq!(station.key().public_key(), rotated.public_key());
        std::fs::write(key_path(dir.path()), "garbage").unwrap();
        assert_eq!(station.key().public_key(), rotated.public_key());
    }

    #[test]
    fn each_origin_has_its_own_budget_per_minute() {
        let dir = tempfile::tempdir().unwrap();
        let key = StationSecretKey::generate(&mut rand_core::OsRng);
        let station = Station::new(dir.path().to_path_buf(), key, 2);
        let t0 = Instant::now();
        assert!(station.admit("https://a.example", t0));
        assert!(station.admit("https://a.example", t0));
        assert!(!station.admit("https://a.example", t0));
        assert!(station.admit("https://b.example", t0));
        assert!(station.admit("https://a.example", t0 + WINDOW));
    }
}
