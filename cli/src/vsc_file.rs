//! Reading a sealed VSC file and opening it with its password and profile.

use std::path::Path;

use vsc_core::profile::Profile;
use vsc_core::secret::SecretString;
use vsc_core::vsc::Vsc;

use crate::error::CliError;
use crate::profile_arg;

/// Largest file accepted as a VSC (a sealed VSC is a few kilobytes; areas are capped at 1 MiB).
const MAX_VSC_FILE: u64 = 8 << 20;

/// The bytes of a sealed VSC file.
pub fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    let metadata =
        std::fs::metadata(path).map_err(|e| CliError::io("read the VSC file", path, e))?;
    if metadata.len() > MAX_VSC_FILE {
        return Err(CliError::Input(format!(
            "{} is {} bytes, far larger than any sealed VSC: is it the right file?",
            path.display(),
            metadata.len()
        )));
    }
    std::fs::read(path).map_err(|e| CliError::io("read the VSC file", path, e))
}

/// Opens `bytes` (read from `path`) with `password`, against the profile given with
/// `--profile` or else the built-in profile the file names.
pub fn open(
    path: &Path,
    bytes: &[u8],
    password: &SecretString,
    profile: Option<&str>,
) -> Result<Vsc, CliError> {
    let opened = match profile {
        Some(spec) => {
            let profile: Profile = profile_arg::load(spec)?;
            Vsc::open_with_profile(bytes, password.expose(), &profile)
        }
        None => Vsc::open(bytes, password.expose()),
    };
    opened.map_err(|source| CliError::Open {
        path: path.to_path_buf(),
        source,
    })
}
