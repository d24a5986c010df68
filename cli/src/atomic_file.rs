//! Whole-file writes that never leave a half-written file: a temporary file in the target's
//! directory, written, then renamed over the target (rename is atomic on POSIX file systems).
//! Files are created readable and writable by their owner only (mode 0600), which suits every
//! file `vsc` writes (sealed VSCs, passwords, scripts with secrets, PIN mailers).
//!
//! [`write`] flushes the file to disk before the rename. A batch of many files uses
//! [`write_unflushed`] for each and then one [`flush_file_system`], which costs one flush
//! instead of one per file (10,000 `fsync`s take about 9 s on the development machine).

use std::io::Write;
use std::path::Path;

use crate::error::CliError;

/// What to do when the target already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it.
    Replace,
    /// Fail, leaving it untouched.
    Keep,
}

/// Writes `bytes` to `path` atomically. With [`Existing::Keep`] an existing `path` is an error
/// and is left as it was.
pub fn write(path: &Path, bytes: &[u8], existing: Existing) -> Result<(), CliError> {
    write_file(path, bytes, existing, true)
}

/// Same as [`write`] without flushing the file to disk first: the target holds the whole
/// content or does not exist, but after a crash it may be empty until
/// [`flush_file_system`] has run.
pub fn write_unflushed(path: &Path, bytes: &[u8], existing: Existing) -> Result<(), CliError> {
    write_file(path, bytes, existing, false)
}

/// Flushes every written file of the file system holding `dir` to disk (syncfs(2)).
pub fn flush_file_system(dir: &Path) -> Result<(), CliError> {
    let handle = std::fs::File::open(dir).map_err(|e| CliError::io("open", dir, e))?;
    rustix::fs::syncfs(&handle)
        .map_err(|e| CliError::io("flush to disk the files in", dir, e.into()))
}

fn write_file(path: &Path, bytes: &[u8], existing: Existing, flush: bool) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".vsc-tmp-")
        .tempfile_in(dir)
        .map_err(|e| CliError::io("create a temporary file in", dir, e))?;
    file.write_all(bytes)
        .and_then(|()| {
            if flush {
                file.as_file().sync_data()
            } else {
                Ok(())
            }
        })
        .map_err(|e| CliError::io("write a temporary file in", dir, e))?;
    match existing {
        Existing::Replace => file
            .persist(path)
            .map(drop)
            .map_err(|e| CliError::io("write", path, e.error)),
        Existing::Keep => file.persist_noclobber(path).map(drop).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                CliError::Input(format!(
                    "{} already exists and was left untouched: move it away first",
                    path.display()
                ))
            } else {
                CliError::io("write", path, e.error)
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replaces_or_keeps_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write(&path, b"one", Existing::Keep).unwrap();
        assert!(write(&path, b"two", Existing::Keep).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write(&path, b"three", Existing::Replace).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
