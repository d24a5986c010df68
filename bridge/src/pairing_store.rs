//! The paired pages: `<config-dir>/pairings.json`, holding for each pairing an id, the origin
//! it is bound to, and the SHA-256 of its token (never the token itself).
//!
//! Every write goes through the shared atomic writer of `vsc-os` (temporary file, flush,
//! rename, flush of the directory), so a crash never leaves half a file. The directory and the
//! file are owner-only (modes 0700 and 0600 on Unix; on Windows they live in the user's profile,
//! see `docs/branch-install.md`).
//! It does not lock across processes: `vsc-bridge pairings revoke` while the bridge is pairing
//! can lose one of the two updates (the operator then pairs or revokes again).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;
use vsc_core::secret::SecretString;

/// The file name inside the config directory.
pub const FILE_NAME: &str = "pairings.json";

/// One paired origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingRecord {
    /// A short id for `vsc-bridge pairings revoke <id>`.
    pub id: String,
    /// The origin the token is bound to.
    pub origin: String,
    /// Hex SHA-256 of the token.
    pub token_sha256: String,
    /// When it was created (seconds since the Unix epoch).
    pub created_unix: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    version: u32,
    pairings: Vec<PairingRecord>,
}

/// A failure reading or writing the pairings file (the operator's environment is at fault).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file or directory could not be read or written.
    #[error("cannot {what} {path}: {source}; check the permissions of the config directory (--config-dir)")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not what this bridge writes.
    #[error("{path} is not a valid pairings file ({why}); move it away to start afresh (every page must then pair again)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        why: String,
    },
    /// The system random generator failed.
    #[error("the system random generator failed: {0}")]
    Random(String),
}

/// The pairings file of one config directory.
#[derive(Debug, Clone)]
pub struct PairingStore {
    dir: PathBuf,
}

/// Hex SHA-256 of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), StoreError> {
    getrandom::getrandom(buf).map_err(|e| StoreError::Random(e.to_string()))
}

impl PairingStore {
    /// The store in `dir` (created on first write).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The default config directory, per user: `$XDG_CONFIG_HOME/vsc-bridge` or
    /// `~/.config/vsc-bridge` on Linux, `%APPDATA%\VSC\vsc-bridge\config` on Windows,
    /// `~/Library/Application Support/VSC.vsc-bridge` on macOS.
    pub fn default_dir() -> Option<PathBuf> {
        vsc_os::dirs::user_config_dir("vsc-bridge")
    }

    /// The directory holding the pairings file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pairings file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// All pairings (none when the file does not exist yet).
    pub fn list(&self) -> Result<Vec<PairingRecord>, StoreError> {
        Ok(self.load()?.pairings)
    }

    /// The pairing whose token is `token` and whose origin is `origin`, if any.
    pub fn find(&self, origin: &str, token: &str) -> Result<Option<PairingRecord>, StoreError> {
        let hash = token_hash(token);
        Ok(self.load()?.pairings.into_iter().find(|p| {
            bool::from(p.token_sha256.as_bytes().ct_eq(hash.as_bytes())) && p.origin == origin
        }))
    }

    /// Creates a pairing for `origin`; returns its record and the token (shown once).
    pub fn add(&self, origin: &str) -> Result<(PairingRecord, SecretString), StoreError> {
        let mut file = self.load()?;
        let mut token_bytes = zeroize::Zeroizing::new([0u8; 32]);
        random_bytes(token_bytes.as_mut())?;
        let token = SecretString::new(hex::encode(token_bytes.as_ref()));
        let id = loop {
            let mut id = [0u8; 4];
            random_bytes(&mut id)?;
            let id = hex::encode(id);
            if !file.pairings.iter().any(|p| p.id == id) {
                break id;
            }
        };
        let created_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let record = PairingRecord {
            id,
            origin: origin.to_owned(),
            token_sha256: token_hash(token.expose()),
            created_unix,
        };
        file.pairings.push(record.clone());
        self.save(&file)?;
        Ok((record, token))
    }

    /// Removes the pairing `id`; `false` if there was none.
    pub fn revoke(&self, id: &str) -> Result<bool, StoreError> {
        let mut file = self.load()?;
        let before = file.pairings.len();
        file.pairings.retain(|p| p.id != id);
        if file.pairings.len() == before {
            return Ok(false);
        }
        self.save(&file)?;
        Ok(true)
    }

    fn load(&self) -> Result<StoreFile, StoreError> {
        let path = self.path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StoreFile {
                    version: 1,
                    pairings: Vec::new(),
                })
            }
            Err(source) => {
                return Err(StoreError::Io {
                    what: "read",
                    path,
                    source,
                })
            }
        };
        let file: StoreFile = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            why: e.to_string(),
        })?;
        if file.version != 1 {
            return Err(StoreError::Corrupt {
                path,
                why: format!("unknown version {}", file.version),
            });
        }
        Ok(file)
    }

    fn save(&self, file: &StoreFile) -> Result<(), StoreError> {
        vsc_os::private::create_private_dir(&self.dir).map_err(|source| StoreError::Io {
            what: "create the directory",
            path: self.dir.clone(),
            source,
        })?;
        let path = self.path();
        let mut text = serde_json::to_string_pretty(file).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            why: e.to_string(),
        })?;
        text.push('\n');
        write_private(&path, text.as_bytes())
    }
}

/// Writes `bytes` to `path` atomically, owner-only and flushed to disk.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    vsc_os::write_atomic(
        path,
        bytes,
        vsc_os::Existing::Replace,
        vsc_os::Durability::Flushed,
    )
    .map_err(|e| match e {
        vsc_os::WriteError::Io { source, .. } => StoreError::Io {
            what: "write",
            path: path.to_path_buf(),
            source,
        },
        other => StoreError::Io {
            what: "replace",
            path: path.to_path_buf(),
            source: other.into(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_find_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = PairingStore::new(dir.path().join("cfg"));
        assert!(store.list().unwrap().is_empty());
        let (record, token) = store.add("https://a.example").unwrap();
        assert!(token.expose().len() >= 32, "at least 128 bits");
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(
            !text.contains(token.expose()),
            "the token itself is never stored"
        );
        assert_eq!(
            store
                .find("https://a.example", token.expose())
                .unwrap()
                .unwrap()
                .id,
            record.id
        );
        assert!(store
            .find("https://b.example", token.expose())
            .unwrap()
            .is_none());
        assert!(store.find("https://a.example", "wrong").unwrap().is_none());
        assert!(!store.revoke("nope").unwrap());
        assert!(store.revoke(&record.id).unwrap());
        assert!(store
            .find("https://a.example", token.expose())
            .unwrap()
            .is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&store.path()), 0o600);
            assert_eq!(mode(store.dir()), 0o700);
        }
    }

    #[test]
    fn corrupt_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "{not json").unwrap();
        let store = PairingStore::new(dir.path().to_path_buf());
        let err = store.list().unwrap_err().to_string();
        assert!(err.contains("not a valid pairings file"), "{err}");
    }
}
