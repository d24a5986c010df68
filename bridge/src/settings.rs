//! The settings in force: each one from a flag, else from the configuration file, else its
//! default (flags win). The file is TOML at the platform's system-wide location
//! (`vsc_os::dirs::system_config_file`: `/etc/vsc-bridge/config.toml` on Linux,
//! `%ProgramData%\VSC\vsc-bridge\config.toml` on Windows,
//! `/Library/Application Support/VSC/vsc-bridge/config.toml` on macOS), where an administrator
//! or a package puts it, or wherever `--config FILE` says. A missing system-wide file means
//! defaults; a missing `--config` file, an unknown key or a bad value is an error naming the
//! file.
//!
//! A repeatable flag given at least once (`--allow-origin`, `--trust-origin`) replaces the
//! file's whole list.

use crate::cli::{LogLevel, RunArgs};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The default listening address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:35900";
/// The default idle timeout, seconds.
pub const DEFAULT_IDLE_TIMEOUT: u64 = 600;
/// The default connection limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8;

/// The configuration file's keys (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// `listen = "127.0.0.1:35900"`.
    pub listen: Option<SocketAddr>,
    /// `allow_origins = ["https://cards.issuer.example"]`.
    pub allow_origins: Option<Vec<String>>,
    /// `trust_origins = [...]`: authenticated without pairing.
    pub trust_origins: Option<Vec<String>>,
    /// `log_level = "info"`.
    pub log_level: Option<LogLevel>,
    /// `log_file = "/var/log/..."` (absolute).
    pub log_file: Option<PathBuf>,
    /// `pairing_code_file = "..."` (absolute).
    pub pairing_code_file: Option<PathBuf>,
    /// `idle_timeout = 600` (seconds).
    pub idle_timeout: Option<u64>,
    /// `max_connections = 8`.
    pub max_connections: Option<usize>,
}

/// The configuration file that was looked for, and what it holds.
#[derive(Debug)]
pub struct ConfigFile {
    /// Where it was looked for.
    pub path: PathBuf,
    /// Whether it exists (a missing system-wide file means defaults).
    pub found: bool,
    /// Its settings (all `None` when not found).
    pub settings: FileSettings,
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config FILE` names a file that does not exist.
    #[error("the configuration file {0} does not exist; check --config")]
    Missing(PathBuf),
    /// It cannot be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// It is not valid (TOML syntax, unknown key, wrong type).
    #[error("the configuration file {path} is not valid: {why}; fix it (keys: listen, allow_origins, trust_origins, log_level, log_file, pairing_code_file, idle_timeout, max_connections) or move it away")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        why: String,
    },
    /// A file path in it is relative.
    #[error("the configuration file {path}: {key} must be an absolute path, not {value}")]
    RelativePath {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
    },
}

impl ConfigFile {
    /// Loads `explicit` (from `--config`), or the system-wide file if it exists.
    pub fn load(explicit: Option<&Path>) -> Result<ConfigFile, ConfigError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => vsc_os::dirs::system_config_file("vsc-bridge"),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if explicit.is_some() {
                    return Err(ConfigError::Missing(path));
                }
                return Ok(ConfigFile {
                    path,
                    found: false,
                    settings: FileSettings::default(),
                });
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let settings: FileSettings = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.clone(),
            why: e.to_string().trim().replace('\n', " "),
        })?;
        for (key, value) in [
            ("log_file", &settings.log_file),
            ("pairing_code_file", &settings.pairing_code_file),
        ] {
            if let Some(value) = value.as_ref().filter(|v| !v.is_absolute()) {
                return Err(ConfigError::RelativePath {
                    path,
                    key,
                    value: value.display().to_string(),
                });
            }
        }
        Ok(ConfigFile {
            path,
            found: true,
            settings,
        })
    }
}

/// Where a setting's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// The configuration file.
    File,
    /// The built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Flag => "flag",
            Source::File => "config file",
            Source::Default => "default",
        })
    }
}

/// A value and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value in force.
    pub value: T,
    /// Its source.
    pub source: Source,
}

fn pick<T>(flag: Option<T>, file: Option<T>, default: T) -> Setting<T> {
    match (flag, file) {
        (Some(value), _) => Setting {
            value,
            source: Source::Flag,
        },
        (None, Some(value)) => Setting {
            value,
            source: Source::File,
        },
        (None, None) => Setting {
            value: default,
            source: Source::Default,
        },
    }
}

/// Every setting the file may hold, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The listening address.
    pub listen: Setting<SocketAddr>,
    /// Allowed origins as written (normalized when the bridge starts).
    pub allow_origins: Setting<Vec<String>>,
    /// Trusted origins as written.
    pub trust_origins: Setting<Vec<String>>,
    /// The log level.
    pub log_level: Setting<LogLevel>,
    /// The log file.
    pub log_file: Setting<Option<PathBuf>>,
    /// The pairing code file.
    pub pairing_code_file: Setting<Option<PathBuf>>,
    /// Idle timeout, seconds.
    pub idle_timeout: Setting<u64>,
    /// Connection limit.
    pub max_connections: Setting<usize>,
}

impl Settings {
    /// Flags over the file over defaults.
    pub fn resolve(args: &RunArgs, file: &FileSettings) -> Settings {
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        Settings {
            listen: pick(
                args.listen,
                file.listen,
                DEFAULT_LISTEN.parse().expect("a valid default address"),
            ),
            allow_origins: pick(
                list(&args.allow_origin),
                file.allow_origins.clone(),
                Vec::new(),
            ),
            trust_origins: pick(
                list(&args.trust_origin),
                file.trust_origins.clone(),
                Vec::new(),
            ),
            log_level: pick(args.log_level, file.log_level, LogLevel::Info),
            log_file: pick(
                args.log_file.clone().map(Some),
                file.log_file.clone().map(Some),
                None,
            ),
            pairing_code_file: pick(
                args.pairing_code_file.clone().map(Some),
                file.pairing_code_file.clone().map(Some),
                None,
            ),
            idle_timeout: pick(args.idle_timeout, file.idle_timeout, DEFAULT_IDLE_TIMEOUT),
            max_connections: pick(
                args.max_connections,
                file.max_connections,
                DEFAULT_MAX_CONNECTIONS,
            ),
        }
    }

    /// One line per setting: name, value, source (for `doctor` and the start-up log).
    pub fn lines(&self) -> Vec<String> {
        fn list(v: &[String]) -> String {
            if v.is_empty() {
                "(none)".into()
            } else {
                v.join(" ")
            }
        }
        fn path(p: &Option<PathBuf>) -> String {
            p.as_ref()
                .map_or_else(|| "(none)".into(), |p| p.display().to_string())
        }
        let line =
            |name: &str, value: String, source: Source| format!("{name:<18} {value}  ({source})");
        vec![
            line("listen", self.listen.value.to_string(), self.listen.source),
            line(
                "allow_origins",
                list(&self.allow_origins.value),
                self.allow_origins.source,
            ),
            line(
                "trust_origins",
                list(&self.trust_origins.value),
                self.trust_origins.source,
            ),
            line(
                "log_level",
                self.log_level.value.name().into(),
                self.log_level.source,
            ),
            line("log_file", path(&self.log_file.value), self.log_file.source),
            line(
                "pairing_code_file",
                path(&self.pairing_code_file.value),
                self.pairing_code_file.source,
            ),
            line(
                "idle_timeout",
                format!("{} s", self.idle_timeout.value),
                self.idle_timeout.source,
            ),
            line(
                "max_connections",
                self.max_connections.value.to_string(),
                self.max_connections.source,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(flags: &[&str]) -> RunArgs {
        let mut argv = vec!["vsc-bridge"];
        argv.extend_from_slice(flags);
        crate::cli::Cli::parse_from(argv).run
    }

    fn file(text: &str) -> Result<ConfigFile, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        ConfigFile::load(Some(&path))
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let loaded = file(
            "listen = \"127.0.0.1:4000\"\nallow_origins = [\"https://a.example\", \"https://b.example\"]\nlog_level = \"debug\"\n",
        )
        .unwrap();
        assert!(loaded.found);
        let s = Settings::resolve(
            &args(&["--allow-origin", "https://c.example"]),
            &loaded.settings,
        );
        assert_eq!(s.listen.value, "127.0.0.1:4000".parse().unwrap());
        assert_eq!(s.listen.source, Source::File);
        assert_eq!(s.allow_origins.value, vec!["https://c.example".to_owned()]);
        assert_eq!(s.allow_origins.source, Source::Flag);
        assert_eq!(s.log_level.value, LogLevel::Debug);
        assert_eq!(s.idle_timeout.value, DEFAULT_IDLE_TIMEOUT);
        assert_eq!(s.idle_timeout.source, Source::Default);
        let s = Settings::resolve(
            &args(&["--listen", "127.0.0.1:5000", "--log-level", "warn"]),
            &loaded.settings,
        );
        assert_eq!(s.listen.value, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(s.log_level.value, LogLevel::Warn);
        assert_eq!(s.allow_origins.value.len(), 2);
        assert!(s
            .lines()
            .iter()
            .any(|l| l.contains("https://a.example https://b.example")
                && l.contains("(config file)")));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = file("listen = 35900\n").unwrap_err().to_string();
        assert!(
            err.contains("is not valid") && err.contains("listen"),
            "{err}"
        );
        let err = file("allow_origin = [\"https://a.example\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field") && err.contains("allow_origins"),
            "{err}"
        );
        let err = file("log_level = \"loud\"\n").unwrap_err().to_string();
        assert!(err.contains("log_level") || err.contains("loud"), "{err}");
        let err = file("log_file = \"bridge.log\"\n").unwrap_err().to_string();
        assert!(err.contains("must be an absolute path"), "{err}");
        let missing = std::path::Path::new("/nonexistent/vsc-bridge.toml");
        let err = ConfigFile::load(Some(missing)).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn the_shipped_template_means_defaults_and_every_example_in_it_is_valid() {
        let template = include_str!("../../packaging/config.toml");
        let commented: FileSettings = toml::from_str(template).unwrap();
        let defaults = Settings::resolve(&args(&[]), &commented);
        assert!(defaults.lines().iter().all(|l| l.ends_with("(default)")));
        // Remove the "# " before every example setting, as an administrator would.
        let uncommented: Vec<&str> = template
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(key, _)| {
                        key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
                {
                    rest
                }
                _ => line,
            })
            .collect();
        let all: FileSettings = toml::from_str(&uncommented.join("\n")).unwrap();
        let resolved = Settings::resolve(&args(&[]), &all);
        assert!(
            resolved
                .lines()
                .iter()
                .all(|l| l.ends_with("(config file)")),
            "every key has an example: {:#?}",
            resolved.lines()
        );
        assert_eq!(
            resolved.allow_origins.value,
            vec!["https://cards.issuer.example".to_owned()]
        );
    }
}
