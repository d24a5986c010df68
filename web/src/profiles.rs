//! The shipped card profiles as the page lists them: id, name, description and the holder-data
//! fields the issuer clerk fills in.
//!
//! What this module does not do: parse profile text (see [`vsc_core::profile`]) or validate
//! values (see [`crate::issue`]).

use std::sync::OnceLock;

use serde::Serialize;
use vsc_core::profile::{DataArea, Profile};

use crate::error::{Code, WebError};

/// One profile, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileInfo {
    /// Profile id (`iso7816-generic`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// One or two sentences for the issuer.
    pub description: String,
    /// The holder-data fields, in profile order (the order of the form).
    pub fields: Vec<FieldInfo>,
}

/// One holder-data field: an input of the form and a column of the CSV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldInfo {
    /// Field name (`holder_name`).
    pub name: String,
    /// Label for people (`Cardholder name`).
    pub label: String,
    /// CSV column and form input name.
    pub column: String,
    /// `"public"` (readable without a PIN) or `"private"` (personal data, encrypted).
    pub area: &'static str,
    /// `"text"`, `"ascii"`, `"date"`, `"email"` or `"digits"`.
    pub kind: &'static str,
    /// Whether a value must be given.
    pub required: bool,
    /// Value used when the input is left empty.
    pub default: Option<String>,
    /// Maximum length in characters.
    pub max_len: usize,
    /// For a date: `"after-today"`, `"before-today"`, `"up-to-today"`, or none.
    pub range: Option<&'static str>,
}

impl ProfileInfo {
    /// The page's view of a validated profile.
    pub fn of(profile: &Profile) -> Self {
        Self {
            id: profile.id.clone(),
            name: profile.name.clone(),
            description: profile.description.clone(),
            fields: profile
                .fields
                .iter()
                .map(|f| FieldInfo {
                    name: f.name.clone(),
                    label: f.label.clone(),
                    column: f.column.clone(),
                    area: match f.area {
                        DataArea::Public => "public",
                        DataArea::Private => "private",
                    },
                    kind: f.kind.as_str(),
                    required: f.required,
                    default: f.default.clone(),
                    max_len: f.max_len,
                    range: f.range.map(|r| r.as_str()),
                })
                .collect(),
        }
    }
}

/// The shipped profiles, as `build.rs` read and checked them when the page was built.
fn catalog() -> &'static [Profile] {
    static CATALOG: OnceLock<Vec<Profile>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        // Written by build.rs from profiles that passed every check; it always reads back.
        serde_json::from_str(include_str!(concat!(env!("OUT_DIR"), "/profiles.json")))
            .unwrap_or_default()
    })
}

/// Every shipped profile, in the order the core lists them.
pub fn list() -> Vec<ProfileInfo> {
    catalog().iter().map(ProfileInfo::of).collect()
}

/// The shipped profile `id`, or an error naming the known ones.
pub fn find(id: &str) -> Result<Profile, WebError> {
    catalog()
        .iter()
        .find(|p| p.id == id)
        .cloned()
        .ok_or_else(|| {
            let known: Vec<&str> = catalog().iter().map(|p| p.id.as_str()).collect();
            WebError::new(
                Code::UnknownProfile,
                format!(
                    "there is no card profile \"{id}\" in this page; choose one of: {}",
                    known.join(", ")
                ),
            )
        })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn lists_the_generic_profile_with_its_fields() {
        let profiles = list();
        let generic = profiles
            .iter()
            .find(|p| p.id == "iso7816-generic")
            .expect("the generic profile ships");
        let name = &generic.fields[0];
        assert_eq!(name.column, "holder_name");
        assert_eq!(name.label, "Cardholder name");
        assert!(name.required);
        assert_eq!(name.area, "public");
        assert!(generic
            .fields
            .iter()
            .any(|f| f.area == "private" && f.kind == "email"));
    }

    #[test]
    fn unknown_profile_is_an_error_naming_the_known_ones() {
        let error = find("nope").unwrap_err();
        assert_eq!(error.code, "unknown_profile");
        assert!(error.message.contains("iso7816-generic"));
    }
}
