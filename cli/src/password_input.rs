//! Getting a VSC password without it ever appearing on the command line (where every user of
//! the machine can read it in the process list): from a file, from standard input, or from an
//! interactive prompt that does not echo.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use vsc_core::secret::SecretString;
use zeroize::Zeroizing;

use crate::error::CliError;

/// The `--password-file` option shared by the commands that open a VSC.
#[derive(Debug, Clone, clap::Args)]
pub struct PasswordArgs {
    /// File whose first line is the VSC password (`-` reads it from standard input). Without
    /// it, the password is asked for on the terminal.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// Command-line options that would carry a password; refused before anything else runs.
const PASSWORD_OPTIONS: [&str; 3] = ["--password", "--pin", "--pass"];

/// If `args` (the program's arguments) try to pass a password on the command line, the
/// message that refuses it. The value itself is never repeated.
pub fn refuse_password_on_argv(args: &[std::ffi::OsString]) -> Option<String> {
    args.iter().skip(1).find_map(|arg| {
        let arg = arg.to_string_lossy();
        let name = arg.split('=').next().unwrap_or_default();
        PASSWORD_OPTIONS.contains(&name).then(|| {
            format!(
                "{name} is not accepted: passwords never go on the command line, where other \
                 users of this machine can read them; use --password-file FILE (or \
                 --password-file - for standard input), or leave it out to be asked on the \
                 terminal"
            )
        })
    })
}

/// The first line of `text`, without its line break.
fn first_line(text: &str) -> &str {
    let line = text.split('\n').next().unwrap_or_default();
    line.strip_suffix('\r').unwrap_or(line)
}

/// Reads the password from `--password-file`, or prompts on the terminal when it is absent
/// and standard input is a terminal. `what` names the password in the prompt.
pub fn read(args: &PasswordArgs, what: &str) -> Result<SecretString, CliError> {
    let text = match &args.password_file {
        Some(path) if path == Path::new("-") => {
            // Room for any password up front, so reading does not reallocate and leave copies.
            let mut text = Zeroizing::new(String::with_capacity(4096));
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::io("read the password from", Path::new("stdin"), e))?;
            text
        }
        Some(path) => {
            let bytes = Zeroizing::new(
                std::fs::read(path).map_err(|e| CliError::io("read the password file", path, e))?,
            );
            match std::str::from_utf8(&bytes) {
                Ok(text) => Zeroizing::new(text.to_owned()),
                Err(_) => {
                    return Err(CliError::Input(format!(
                        "the password file {} is not UTF-8 text: save it as UTF-8",
                        path.display()
                    )))
                }
            }
        }
        None if std::io::stdin().is_terminal() => {
            let typed = rpassword::prompt_password(format!("{what}: ")).map_err(|e| {
                CliError::io("read the password from", Path::new("the terminal"), e)
            })?;
            Zeroizing::new(typed)
        }
        None => {
            return Err(CliError::Input(
                "no password: give --password-file FILE (or --password-file - for standard \
                 input); standard input is not a terminal, so it cannot be asked for"
                    .into(),
            ))
        }
    };
    let password = SecretString::new(first_line(&text).to_owned());
    if password.expose().trim().is_empty() {
        return Err(CliError::Input(
            "the password is empty: the first line of the password file must hold it".into(),
        ));
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_strips_line_breaks_only() {
        assert_eq!(first_line("ABCD-EFGH\n"), "ABCD-EFGH");
        assert_eq!(first_line("ABCD-EFGH\r\nsecond\n"), "ABCD-EFGH");
        assert_eq!(first_line(" spaced pass "), " spaced pass ");
        assert_eq!(first_line(""), "");
    }

    #[test]
    fn password_options_are_refused_without_echoing_the_value() {
        let argv = |args: &[&str]| args.iter().map(Into::into).collect::<Vec<_>>();
        let refused = refuse_password_on_argv(&argv(&["vsc", "inspect", "--password=SECRET1"]));
        let message = refused.expect("refused");
        assert!(message.contains("--password"));
        assert!(!message.contains("SECRET1"));
        assert!(
            refuse_password_on_argv(&argv(&["vsc", "inspect", "--password-file", "f"])).is_none()
        );
    }

    #[test]
    fn reads_the_first_line_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "0123-4567\nignored\n").unwrap();
        let args = PasswordArgs {
            password_file: Some(path.clone()),
        };
        assert_eq!(read(&args, "p").unwrap().expose(), "0123-4567");
        std::fs::write(&path, "\n").unwrap();
        assert!(read(&args, "p").is_err());
    }
}
