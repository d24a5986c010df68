//! Whole-file writes that never leave a half-written file: the bytes go to a temporary file in
//! the target's directory, which is flushed to disk and renamed over the target; the directory
//! is then flushed so that the rename itself survives a power loss ([`crate::durable`]). On
//! failure the temporary file is removed and the target is as it was.
//!
//! Files are created readable and writable by their owner only: mode 0600 on Unix; on Windows
//! a new file takes the ACL of its directory, which for the programs' own directories in the
//! user's profile grants the user, SYSTEM and Administrators only.
//!
//! Renaming over an existing file is atomic on POSIX file systems and on NTFS (`MoveFileExW`).

use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::durable;

/// What to do when the target already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it.
    Replace,
    /// Fail with [`WriteError::Exists`], leaving it untouched.
    Keep,
}

/// How far a write goes before [`write_atomic`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The file and its directory entry are on disk: it survives a power loss.
    Flushed,
    /// The target holds the whole content or does not exist, but after a crash it may be empty
    /// until [`durable::flush_file_system`] has run (one flush for a batch of files).
    Unflushed,
}

/// Why an atomic write failed; the target is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The target exists and [`Existing::Keep`] was asked.
    #[error("{} already exists and was left untouched: move it away first", .0.display())]
    Exists(PathBuf),
    /// The operating system refused a step.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// The step ("create a temporary file in", "write a temporary file in", "write", ...).
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl From<WriteError> for std::io::Error {
    /// The same failure as an `io::Error` of the kind the operating system gave, the message
    /// naming the step and the path.
    fn from(error: WriteError) -> Self {
        let kind = match &error {
            WriteError::Exists(_) => std::io::ErrorKind::AlreadyExists,
            WriteError::Io { source, .. } => source.kind(),
        };
        std::io::Error::new(kind, error)
    }
}

impl WriteError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> WriteError {
        let path = path.to_path_buf();
        move |source| WriteError::Io {
            action,
            path,
            source,
        }
    }
}

/// Writes `bytes` to `path` atomically, owner-only, as far as `durability` says.
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    existing: Existing,
    durability: Durability,
) -> Result<(), WriteError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // tempfile creates the file with mode 0600 on Unix and removes it when dropped unpersisted.
    let mut file = tempfile::Builder::new()
        .prefix(".vsc-tmp-")
        .tempfile_in(dir)
        .map_err(WriteError::io("create a temporary file in", dir))?;
    file.write_all(bytes)
        .and_then(|()| match durability {
            Durability::Flushed => file.as_file().sync_all(),
            Durability::Unflushed => Ok(()),
        })
        .map_err(WriteError::io("write a temporary file in", dir))?;
    match existing {
        Existing::Replace => file
            .persist(path)
            .map(drop)
            .map_err(|e| WriteError::io("write", path)(e.error))?,
        Existing::Keep => file.persist_noclobber(path).map(drop).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                WriteError::Exists(path.to_path_buf())
            } else {
                WriteError::io("write", path)(e.error)
            }
        })?,
    }
    if durability == Durability::Flushed {
        durable::sync_dir(dir).map_err(WriteError::io("flush to disk the directory", dir))?;
    }
    Ok(())
}

/// Reads the file at `path`, or, when there is none, creates it atomically and owner-only
/// (flushed) with the bytes `make` returns, and its directory owner-only
/// ([`crate::private::create_private_dir`]). Returns the content and whether this call created
/// it. When two processes create it at once, one wins and both return its content. For a file
/// holding a secret (a key): the content is wiped when dropped.
pub fn read_or_create(
    path: &Path,
    make: impl FnOnce() -> Zeroizing<Vec<u8>>,
) -> Result<(Zeroizing<Vec<u8>>, bool), WriteError> {
    match std::fs::read(path) {
        Ok(bytes) => return Ok((Zeroizing::new(bytes), false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(WriteError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            })
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private::create_private_dir(dir)
            .map_err(WriteError::io("create the directory", dir))?;
    }
    let bytes = make();
    match write_atomic(path, &bytes, Existing::Keep, Durability::Flushed) {
        Ok(()) => Ok((bytes, true)),
        Err(WriteError::Exists(_)) => std::fs::read(path)
            .map(|bytes| (Zeroizing::new(bytes), false))
            .map_err(WriteError::io("read", path)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<std::ffi::OsString> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_replaces_or_keeps_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        for durability in [Durability::Flushed, Durability::Unflushed] {
            let _ = std::fs::remove_file(&path);
            write_atomic(&path, b"one", Existing::Keep, durability).unwrap();
            let err = write_atomic(&path, b"two", Existing::Keep, durability).unwrap_err();
            assert!(matches!(err, WriteError::Exists(_)), "{err}");
            assert!(err.to_string().contains("left untouched"), "{err}");
            assert_eq!(std::fs::read(&path).unwrap(), b"one");
            write_atomic(&path, b"three", Existing::Replace, durability).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"three");
            assert_eq!(names(dir.path()), vec![std::ffi::OsString::from("a.txt")]);
        }
    }

    #[test]
    fn a_failed_write_leaves_the_target_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: the rename fails after the temporary file was
        // written.
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), b"x").unwrap();
        let err =
            write_atomic(&target, b"new", Existing::Replace, Durability::Flushed).unwrap_err();
        assert!(err.to_string().contains("cannot write"), "{err}");
        assert_eq!(names(dir.path()), vec![std::ffi::OsString::from("taken")]);
        let missing = dir.path().join("no-such-dir").join("f");
        let err = write_atomic(&missing, b"x", Existing::Replace, Durability::Flushed).unwrap_err();
        assert!(
            err.to_string().contains("create a temporary file in"),
            "{err}"
        );
    }

    #[test]
    fn read_or_create_makes_the_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg").join("key");
        let (first, created) = read_or_create(&path, || Zeroizing::new(b"one".to_vec())).unwrap();
        assert!(created);
        assert_eq!(first.as_slice(), b"one");
        let (again, created) = read_or_create(&path, || unreachable!("the file exists")).unwrap();
        assert!(!created);
        assert_eq!(again.as_slice(), b"one");
        assert_eq!(crate::private::check_owner_only(&path).unwrap(), None);
        assert_eq!(
            crate::private::check_owner_only(&dir.path().join("cfg")).unwrap(),
            None
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_atomic(&path, b"s", Existing::Replace, Durability::Flushed).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
