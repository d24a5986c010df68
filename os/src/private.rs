//! Owner-only directories, for what a program keeps per user (pairings, later keys).
//!
//! On Unix a directory is created with mode 0700 and [`check_owner_only`] reports group or
//! other permission bits. On Windows there are no mode bits: a directory under the user's
//! profile (`%APPDATA%`) inherits the profile's ACL, which grants the user, SYSTEM and the
//! Administrators only; the programs keep their files there and do not change ACLs, so
//! [`check_owner_only`] has nothing to report.

use std::path::Path;

/// Creates `dir` and its missing parents; the directories it creates are owner-only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// `Some(what is wrong)` if others than the owner may access `path` (Unix mode bits); `None` if
/// only its owner may, or on Windows (see the module documentation).
pub fn check_owner_only(path: &Path) -> std::io::Result<Option<String>> {
    let metadata = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        Ok((mode & 0o077 != 0).then(|| {
            format!(
                "{} has mode {mode:03o}: others than its owner may access it (chmod go= {})",
                path.display(),
                path.display()
            )
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_nested_owner_only_directories() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b");
        create_private_dir(&nested).unwrap();
        create_private_dir(&nested).unwrap();
        assert!(nested.is_dir());
        assert_eq!(check_owner_only(&nested).unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let a = dir.path().join("a");
            assert_eq!(
                std::fs::metadata(&a).unwrap().permissions().mode() & 0o777,
                0o700
            );
            std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o755)).unwrap();
            let complaint = check_owner_only(&a).unwrap().unwrap();
            assert!(complaint.contains("mode 755"), "{complaint}");
        }
    }
}
