//! Holder records: one record as JSON, and the shipped profiles records are checked against.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vsc_core::profile::Profile;

use crate::BodyError;

/// A shipped profile by id (parsed once per process).
pub fn profile(id: &str) -> Result<&'static Profile, BodyError> {
    static PROFILES: std::sync::OnceLock<Vec<Profile>> = std::sync::OnceLock::new();
    let profiles = PROFILES.get_or_init(|| {
        Profile::builtin_ids()
            .iter()
            .filter_map(|id| Profile::builtin(id))
            .collect()
    });
    profiles
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| BodyError::UnknownProfile(id.to_owned()))
}

/// The body of `POST /api/records`: the values are checked by `vsc-core`'s holder rules
/// (`holder::validate_record`) against [`OneRecord::profile`].
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OneRecord {
    /// The profile's id.
    pub profile: String,
    /// The values by column.
    pub values: BTreeMap<String, String>,
}

impl OneRecord {
    /// The record's profile, if it is a shipped one.
    pub fn profile(&self) -> Result<&'static Profile, BodyError> {
        profile(&self.profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_profiles_are_refused_with_the_known_ones() {
        assert_eq!(profile("iso7816-generic").unwrap().id, "iso7816-generic");
        let e = profile("nope").unwrap_err().to_string();
        assert!(
            e.starts_with("unknown profile \"nope\"; known profiles: "),
            "{e}"
        );
        assert!(e.contains("iso7816-generic"), "{e}");
    }
}
