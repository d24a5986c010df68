//! The bridge as a branch *station* (bridge protocol, "Station ops"): it holds an X25519 key
//! pair that opens the VSC password envelopes an issuer sealed for it.
//!
//! The secret key lives in `<config-dir>/station-key` (`vsc_os::station_key`, the file `vsc
//! personalize --server --queue` uses too: owner-only, written once, atomically), created at
//! the bridge's first start or by `vsc-bridge station`; `vsc-bridge station rotate` replaces it. Opening is `vsc_core::envelope::open_parts`, the
//! code the issuer's page seals with. `open_envelope` is limited per page origin
//! ([`Station::admit`]); every failure is one `envelope_invalid`.
//!
//! What it does not do: log a ciphertext or a plaintext (the connection logs that an envelope
//! was opened, for which origin and job, and its size), or decide who may ask (the connection
//! answers authenticated pages only).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vsc_core::envelope::{EnvelopeError, StationSecretKey};
use vsc_core::secret::SecretBytes;
pub use vsc_os::station_key::{key_path, load, load_or_create, rotate, StationKeyError};

/// Envelopes a page origin may open per [`WINDOW`] unless the operator says otherwise.
pub const DEFAULT_OPENS_PER_MINUTE: usize = 30;

/// The rate-limit window.
pub const WINDOW: Duration = Duration::from_secs(60);

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
