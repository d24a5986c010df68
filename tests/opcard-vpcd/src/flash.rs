//! The card's flash: the two persistent trussed storages ("internal" and "external") as littlefs
//! images held in memory, saved to and loaded from one state file.
//!
//! opcard keeps its state and keys in the external storage and trussed-auth its PINs in the
//! internal one; the volatile storage is RAM and is lost when the card loses power, as on a
//! token. Keeping the images in memory lets the runner write the state file once per APDU,
//! atomically (temporary file, fsync, rename), so a pulled card always leaves the state of a
//! whole number of APDUs behind.
//!
//! State file layout: [`MAGIC`] (16 bytes), the internal image, the external image
//! ([`IMAGE_SIZE`] bytes each).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use littlefs2::consts::{U512, U8};
use littlefs2::driver::Storage;
use littlefs2::fs::Filesystem;
use littlefs2::io::{Error, Result};

/// Erase block size of the simulated flash.
const BLOCK_SIZE: usize = 512;
/// Erase blocks per storage.
const BLOCK_COUNT: usize = 128;
/// Bytes of one storage image (64 KiB).
pub const IMAGE_SIZE: usize = BLOCK_SIZE * BLOCK_COUNT;
/// First bytes of a state file; the version changes if the layout ever does.
pub const MAGIC: &[u8; 16] = b"opcard-vpcd 1\n\0\0";

/// One of the persistent storages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// trussed's internal storage (trussed-auth: PINs, the resetting code).
    Internal,
    /// trussed's external storage (opcard's data objects and keys).
    External,
}

impl Area {
    fn index(self) -> usize {
        match self {
            Area::Internal => 0,
            Area::External => 1,
        }
    }
}

/// Why a state file cannot be loaded.
#[derive(Debug)]
pub enum StateFileError {
    /// Reading the file failed (other than "it does not exist").
    Read(std::io::Error),
    /// The file does not start with [`MAGIC`] or has the wrong length.
    NotAState {
        /// Its length in bytes.
        len: usize,
    },
    /// One of the images is not a littlefs file system.
    Corrupt(Area),
}

impl std::fmt::Display for StateFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateFileError::Read(e) => write!(f, "cannot read it: {e}"),
            StateFileError::NotAState { len } => write!(
                f,
                "it is not an opcard-vpcd state file ({len} bytes; expected {} bytes starting \
                 with {:?}); delete it to start from a factory-new card",
                MAGIC.len() + 2 * IMAGE_SIZE,
                String::from_utf8_lossy(MAGIC).trim_end_matches(['\0', '\n'])
            ),
            StateFileError::Corrupt(area) => write!(
                f,
                "its {area:?} storage is not a valid file system; delete the file to start \
                 from a factory-new card"
            ),
        }
    }
}

/// The simulated flash, shared between the trussed service (which reads and writes it through
/// [`AreaStorage`]) and the runner (which saves it).
#[derive(Clone)]
pub struct Flash {
    inner: Arc<Mutex<Images>>,
}

struct Images {
    areas: [Vec<u8>; 2],
    /// Incremented by every write or erase: tells the runner whether to save.
    revision: u64,
}

impl Flash {
    /// Erased flash (every byte `FF`): the storages must be formatted before use.
    pub fn erased() -> Flash {
        Flash::from_images(vec![0xFF; IMAGE_SIZE], vec![0xFF; IMAGE_SIZE])
    }

    fn from_images(internal: Vec<u8>, external: Vec<u8>) -> Flash {
        Flash {
            inner: Arc::new(Mutex::new(Images {
                areas: [internal, external],
                revision: 0,
            })),
        }
    }

    /// Loads the flash from a state file; `Ok(None)` if the file does not exist.
    pub fn load(path: &Path) -> std::result::Result<Option<Flash>, StateFileError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateFileError::Read(e)),
        };
        Flash::from_state(&bytes).map(Some)
    }

    /// Parses the bytes of a state file, checking that both images mount.
    pub fn from_state(bytes: &[u8]) -> std::result::Result<Flash, StateFileError> {
        let not_a_state = StateFileError::NotAState { len: bytes.len() };
        let images = bytes.strip_prefix(MAGIC.as_slice()).ok_or(not_a_state)?;
        if images.len() != 2 * IMAGE_SIZE {
            return Err(StateFileError::NotAState { len: bytes.len() });
        }
        let (internal, external) = images.split_at(IMAGE_SIZE);
        let flash = Flash::from_images(internal.to_vec(), external.to_vec());
        for area in [Area::Internal, Area::External] {
            if !Filesystem::is_mountable(&mut flash.storage(area)) {
                return Err(StateFileError::Corrupt(area));
            }
        }
        Ok(flash)
    }

    /// The bytes of the state file.
    pub fn to_state(&self) -> Vec<u8> {
        let images = self.lock();
        let mut bytes = Vec::with_capacity(MAGIC.len() + 2 * IMAGE_SIZE);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&images.areas[0]);
        bytes.extend_from_slice(&images.areas[1]);
        bytes
    }

    /// Changes so far: equal revisions mean equal content.
    pub fn revision(&self) -> u64 {
        self.lock().revision
    }

    /// A littlefs storage driver for one area.
    pub fn storage(&self, area: Area) -> AreaStorage {
        AreaStorage {
            flash: self.clone(),
            area: area.index(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Images> {
        // A panic elsewhere cannot leave the bytes half-updated: each operation is one copy.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The littlefs driver of one area of a [`Flash`]: reads, writes and erases its image.
pub struct AreaStorage {
    flash: Flash,
    area: usize,
}

impl AreaStorage {
    /// The image range `offset..offset + len`, or `Error::IO` if it is outside the image.
    fn range(offset: usize, len: usize) -> Result<std::ops::Range<usize>> {
        match offset.checked_add(len) {
            Some(end) if end <= IMAGE_SIZE => Ok(offset..end),
            _ => Err(Error::IO),
        }
    }
}

impl Storage for AreaStorage {
    const READ_SIZE: usize = 16;
    const WRITE_SIZE: usize = 16;
    const BLOCK_SIZE: usize = BLOCK_SIZE;
    const BLOCK_COUNT: usize = BLOCK_COUNT;
    const BLOCK_CYCLES: isize = -1;
    type CACHE_SIZE = U512;
    type LOOKAHEAD_SIZE = U8;

    fn read(&mut self, offset: usize, buffer: &mut [u8]) -> Result<usize> {
        let range = Self::range(offset, buffer.len())?;
        buffer.copy_from_slice(&self.flash.lock().areas[self.area][range]);
        Ok(buffer.len())
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<usize> {
        let range = Self::range(offset, data.len())?;
        let mut images = self.flash.lock();
        images.areas[self.area][range].copy_from_slice(data);
        images.revision += 1;
        Ok(data.len())
    }

    fn erase(&mut self, offset: usize, len: usize) -> Result<usize> {
        let range = Self::range(offset, len)?;
        let mut images = self.flash.lock();
        images.areas[self.area][range].fill(0xFF);
        images.revision += 1;
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::{Area, Flash, StateFileError, IMAGE_SIZE, MAGIC};
    use littlefs2::fs::Filesystem;

    fn formatted() -> Flash {
        let flash = Flash::erased();
        for area in [Area::Internal, Area::External] {
            Filesystem::format(&mut flash.storage(area)).unwrap();
        }
        flash
    }

    #[test]
    fn formatted_flash_round_trips_through_state_bytes() {
        let flash = formatted();
        assert!(flash.revision() > 0, "formatting writes");
        let bytes = flash.to_state();
        assert_eq!(bytes.len(), MAGIC.len() + 2 * IMAGE_SIZE);
        let loaded = Flash::from_state(&bytes).unwrap();
        assert_eq!(loaded.to_state(), bytes);
    }

    #[test]
    fn foreign_or_damaged_files_are_refused_with_the_way_out() {
        let err = Flash::from_state(b"{\"softcard\": true}").err().unwrap();
        assert!(matches!(err, StateFileError::NotAState { len: 18 }));
        assert!(err.to_string().contains("delete it"), "{err}");

        let mut bytes = formatted().to_state();
        bytes.pop();
        assert!(matches!(
            Flash::from_state(&bytes),
            Err(StateFileError::NotAState { .. })
        ));

        // A formatted external image beside an erased internal one.
        let mut bytes = Flash::erased().to_state();
        let good = formatted().to_state();
        bytes[MAGIC.len() + IMAGE_SIZE..].copy_from_slice(&good[MAGIC.len() + IMAGE_SIZE..]);
        let err = Flash::from_state(&bytes).err().unwrap();
        assert!(
            matches!(err, StateFileError::Corrupt(Area::Internal)),
            "{err}"
        );
    }

    #[test]
    fn storage_refuses_out_of_range_access_instead_of_panicking() {
        use littlefs2::driver::Storage;
        let flash = Flash::erased();
        let mut storage = flash.storage(Area::External);
        let mut buffer = [0u8; 16];
        assert!(storage.read(IMAGE_SIZE - 8, &mut buffer).is_err());
        assert!(storage.write(usize::MAX, &buffer).is_err());
        assert!(storage.erase(IMAGE_SIZE, 512).is_err());
        assert_eq!(flash.revision(), 0);
        assert_eq!(storage.read(0, &mut buffer), Ok(16));
        assert_eq!(buffer, [0xFF; 16]);
    }
}
