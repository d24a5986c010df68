//! The APDU log a card process appends one line per command to (`--apdu-log FILE`), for the
//! softcard and the opcard peer alike.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Opens `path` for appending (created if missing), or says what is wrong with it.
pub fn open(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            format!(
                "cannot open the APDU log {}: {e}; check the path and its permissions",
                path.display()
            )
        })
}
