//! Where a VSC program keeps its per-user files and where an administrator puts its
//! system-wide configuration, per platform convention.
//!
//! | | per-user directory ([`user_config_dir`]) | system-wide file ([`system_config_file`]) |
//! |---|---|---|
//! | Linux and other Unix | `$XDG_CONFIG_HOME/APP` or `~/.config/APP` | `/etc/APP/config.toml` |
//! | macOS | `~/Library/Application Support/VSC.APP` | `/Library/Application Support/VSC/APP/config.toml` |
//! | Windows | `%APPDATA%\VSC\APP\config` | `%ProgramData%\VSC\APP\config.toml` |

use std::path::PathBuf;

/// The organization name in per-platform paths (macOS bundle id, Windows folders).
const ORGANIZATION: &str = "VSC";

/// The per-user directory of program `app` (e.g. `vsc-bridge`); `None` when the user has no
/// home directory the platform can name.
pub fn user_config_dir(app: &str) -> Option<PathBuf> {
    directories::ProjectDirs::from("", ORGANIZATION, app).map(|dirs| dirs.config_dir().to_owned())
}

/// The system-wide configuration file of program `app`, where an administrator or a package
/// puts it (it may not exist).
pub fn system_config_file(app: &str) -> PathBuf {
    system_config_dir(app).join("config.toml")
}

#[cfg(windows)]
fn system_config_dir(app: &str) -> PathBuf {
    let program_data = std::env::var_os("ProgramData")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(r"C:\ProgramData"), PathBuf::from);
    program_data.join(ORGANIZATION).join(app)
}

#[cfg(target_os = "macos")]
fn system_config_dir(app: &str) -> PathBuf {
    PathBuf::from("/Library/Application Support")
        .join(ORGANIZATION)
        .join(app)
}

#[cfg(not(any(windows, target_os = "macos")))]
fn system_config_dir(app: &str) -> PathBuf {
    PathBuf::from("/etc").join(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_locations() {
        assert_eq!(
            system_config_file("vsc-bridge"),
            PathBuf::from("/etc/vsc-bridge/config.toml")
        );
        // Only the process's own environment decides, which a test must not change (other
        // tests run in parallel): the directory ends in the program's name either way.
        if let Some(dir) = user_config_dir("vsc-bridge") {
            assert!(dir.ends_with("vsc-bridge"), "{}", dir.display());
            assert!(dir.is_absolute());
        }
    }
}
