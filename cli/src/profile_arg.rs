//! Resolving a `--profile NAME|PATH` argument: a shipped profile by id, or a profile file.

use std::path::Path;

use vsc_core::profile::Profile;

use crate::error::CliError;

/// The profile named by `spec`: a built-in id (such as `iso7816-generic`) first, otherwise
/// the path of a profile file, parsed and validated (every problem reported with its line).
pub fn load(spec: &str) -> Result<Profile, CliError> {
    if let Some(profile) = Profile::builtin(spec) {
        return Ok(profile);
    }
    let path = Path::new(spec);
    if !path.exists() {
        return Err(CliError::Input(format!(
            "no built-in profile is named {spec:?} and no file has that path; built-in \
             profiles: {}",
            Profile::builtin_ids().join(", ")
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::io("read the profile file", path, e))?;
    Profile::parse(&text).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_file_and_unknown_profiles() {
        assert_eq!(load("iso7816-generic").unwrap().id, "iso7816-generic");
        let shipped = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../profiles/iso7816-generic.toml"
        );
        assert_eq!(load(shipped).unwrap().id, "iso7816-generic");
        let message = load("no-such-profile").unwrap_err().to_string();
        assert!(message.contains("iso7816-generic"), "{message}");
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "id = \"x\"\nagent = 3\n").unwrap();
        let message = load(bad.to_str().unwrap()).unwrap_err().to_string();
        assert!(message.contains("line"), "{message}");
    }
}
