//! The card's EEPROM on disk: load a [`Card`] from a state file and store it atomically with
//! the shared writer of `vsc-os` (temporary file in the same directory, fsync, rename, fsync of
//! the directory; owner-only), so the file always holds either the old or the new state, even
//! after `kill -9` or a power loss.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::card::{Card, StateError};

/// A state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateFileError {
    /// Reading failed (other than "does not exist").
    #[error(
        "cannot read the softcard state file {path}: {source}; check the path and its permissions"
    )]
    Read {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The content is not a valid state.
    #[error("the softcard state file {path} cannot be loaded: {source}")]
    Invalid {
        /// The state file.
        path: PathBuf,
        /// Why.
        source: StateError,
    },
    /// Writing failed; the previous state is still in place.
    #[error(
        "cannot write the softcard state file {path}: {source}; the previous state is still \
         in place (check free space and permissions of its directory)"
    )]
    Write {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Loads the card from `path`, or a blank card if the file does not exist.
pub fn load(path: &Path) -> Result<Card, StateFileError> {
    match fs::read(path) {
        Ok(bytes) => Card::from_state(&bytes).map_err(|source| StateFileError::Invalid {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Card::blank()),
        Err(source) => Err(StateFileError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Stores the card's persistent state at `path` atomically.
pub fn save(path: &Path, card: &Card) -> Result<(), StateFileError> {
    let write = vsc_os::write_atomic(
        path,
        &card.to_state(),
        vsc_os::Existing::Replace,
        vsc_os::Durability::Flushed,
    );
    write.map_err(|error| StateFileError::Write {
        path: path.to_owned(),
        source: match error {
            vsc_os::WriteError::Io { source, .. } => source,
            other => io::Error::from(other),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::{load, save, StateFileError};
    use crate::card::Card;

    #[test]
    fn missing_file_is_a_blank_card_and_saves_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.json");
        assert!(load(&path).unwrap().is_blank());
        let mut card = Card::blank();
        let fcp = [
            0x62, 0x0C, 0x82, 0x01, 0x38, 0x83, 0x02, 0x10, 0x00, 0x84, 0x03, 0xA0, 0x00, 0x01,
        ];
        let mut create = vec![0x00, 0xE0, 0x00, 0x00, fcp.len() as u8];
        create.extend(fcp);
        assert_eq!(card.transmit(&create), [0x90, 0x00]);
        save(&path, &card).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.life_cycle(&[0xA0, 0x00, 0x01], None), Some(0x01));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn garbage_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.json");
        std::fs::write(&path, b"{ not json").unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, StateFileError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("delete it"), "{err}");
    }
}
