//! The branch clerk's side of a sealed VSC: show its public area before asking for the
//! password ([`inspect`]), then open it ([`open`]); a ZIP batch of VSCs is taken apart first
//! ([`zip_entries`]).
//!
//! What this module does not do: personalize (see [`crate::perso_driver`] and
//! [`crate::bridge`]), or keep the password: it is used once and wiped.

use serde::Serialize;
use vsc_core::profile::DataArea;
use vsc_core::seal::{self, Kdf, OpenError};
use vsc_core::tlv;
use vsc_core::vsc::{OpenVscError, Vsc};

use crate::error::{Code, WebError};

/// What a sealed VSC says about itself without its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VscSummary {
    /// The VSC's UID.
    pub uid: String,
    /// The profile id it was built with.
    pub profile_id: String,
    /// The profile's name, when this page ships that profile.
    pub profile_name: Option<String>,
    /// Whether the password is a generated one (28 characters in groups of four).
    pub generated_password: bool,
    /// Who the VSC is for (the profile's `who` fields), when this page ships its profile.
    pub holder: String,
    /// The public data objects, in area order.
    pub public: Vec<PublicValue>,
}

/// One public data object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicValue {
    /// Field name (`holder_name`), or `tag XX` for a tag the profile does not know.
    pub name: String,
    /// Label for people (`Cardholder name`).
    pub label: String,
    /// The value as text.
    pub value: String,
}

/// Reads the clear part of a sealed VSC: who the card is for, without the password.
pub fn inspect(bytes: &[u8]) -> Result<VscSummary, WebError> {
    let header = seal::read_header(bytes).map_err(|e| open_error(&e))?;
    let profile = crate::profiles::find(&header.profile_id).ok();
    let objects = tlv::walk(&header.public).map_err(|e| {
        WebError::new(
            Code::BadVscFile,
            format!("the VSC's public area is malformed ({e}); ask the issuer for a new VSC"),
        )
    })?;
    let holder = profile
        .as_ref()
        .map(|p| {
            vsc_core::holder::who_label(&p.who, |field| {
                let tag = &p.field(field)?.tag;
                objects
                    .iter()
                    .find(|(t, _)| t == tag)
                    .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
            })
        })
        .unwrap_or_default();
    let public = objects
        .into_iter()
        .map(|(tag, value)| {
            let field = profile.as_ref().and_then(|p| {
                p.fields
                    .iter()
                    .find(|f| f.area == DataArea::Public && f.tag == tag)
            });
            let name = field.map_or_else(
                || format!("tag {}", hex::encode_upper(tag)),
                |f| f.name.clone(),
            );
            PublicValue {
                label: field.map_or_else(|| name.clone(), |f| f.label.clone()),
                name,
                value: String::from_utf8_lossy(value).into_owned(),
            }
        })
        .collect();
    Ok(VscSummary {
        uid: header.uid.to_string(),
        profile_id: header.profile_id,
        profile_name: profile.map(|p| p.name),
        generated_password: matches!(header.kdf, Kdf::Hkdf),
        holder,
        public,
    })
}

/// Largest file of a ZIP batch taken as a VSC candidate (a sealed VSC is at most about 4 MiB).
const MAX_ZIPPED_VSC: usize = 5 << 20;

/// The `.vsc` files of a ZIP batch in archive order; other files (a password sheet zipped by
/// mistake, a `__MACOSX` folder) are left out. Deflated ones are still to be inflated.
pub fn zip_entries(bytes: &[u8]) -> Result<Vec<crate::zip::Entry>, WebError> {
    let entries = crate::zip::read(bytes, MAX_ZIPPED_VSC).map_err(|e| {
        WebError::new(
            Code::BadVscFile,
            format!("this ZIP file cannot be opened: {e}"),
        )
    })?;
    let vscs: Vec<crate::zip::Entry> = entries
        .into_iter()
        .filter(|e| {
            let name = e.name.as_bytes();
            name.len() > 4
                && name[name.len() - 4..].eq_ignore_ascii_case(b".vsc")
                && !e.name.starts_with("__MACOSX/")
        })
        .collect();
    if vscs.is_empty() {
        return Err(WebError::new(
            Code::BadVscFile,
            "this ZIP file holds no .vsc file: choose the ZIP of VSCs the issuer sent, or one VSC file",
        ));
    }
    Ok(vscs)
}

/// Opens a sealed VSC with its password against the shipped profiles.
pub fn open(bytes: &[u8], password: &str) -> Result<Vsc, WebError> {
    let header = seal::read_header(bytes).map_err(|e| open_error(&e))?;
    let profile = crate::profiles::find(&header.profile_id).map_err(|_| {
        WebError::new(
            Code::VscNotOpened,
            OpenVscError::UnknownProfile(header.profile_id.clone()).to_string(),
        )
    })?;
    Vsc::open_with_profile(bytes, password, &profile).map_err(|e| match e {
        OpenVscError::Container(e) => open_error(&e),
        other => WebError::new(Code::VscNotOpened, other.to_string()),
    })
}

fn open_error(error: &OpenError) -> WebError {
    let code = match error {
        OpenError::WrongPassword | OpenError::PasswordForm(_) => Code::WrongPassword,
        OpenError::Tampered | OpenError::ProfileMismatch { .. } => Code::VscNotOpened,
        _ => Code::BadVscFile,
    };
    WebError::new(code, error.to_string())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use rand_core::OsRng;
    use std::collections::BTreeMap;

    fn sealed() -> (Vec<u8>, String) {
        let profile = crate::profiles::find("iso7816-generic").unwrap();
        let values: BTreeMap<String, String> = [
            ("holder_name", "Ada Lovelace"),
            ("holder_id", "A-1"),
            ("email", "ada@example.org"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let holder =
            vsc_core::holder::validate_record(&profile, &values, vsc_tests::test_day()).unwrap();
        let built = Vsc::build_sealed(&profile, &holder, vsc_tests::test_built_at_ms(), &mut OsRng)
            .unwrap();
        (built.bytes, built.password.expose().to_owned())
    }

    #[test]
    fn the_public_area_shows_without_the_password() {
        let (bytes, _) = sealed();
        let summary = inspect(&bytes).unwrap();
        assert!(summary.generated_password);
        assert_eq!(summary.profile_id, "iso7816-generic");
        let name = &summary.public[0];
        assert_eq!(
            (name.name.as_str(), name.label.as_str(), name.value.as_str()),
            ("holder_name", "Cardholder name", "Ada Lovelace")
        );
        // Private values are not in the clear part.
        assert!(summary.public.iter().all(|v| v.value != "ada@example.org"));
    }

    #[test]
    fn wrong_password_and_damaged_files_have_their_own_codes() {
        let (mut bytes, password) = sealed();
        assert_eq!(
            open(&bytes, &password)
                .unwrap()
                .public_value("holder_name")
                .as_deref(),
            Some("Ada Lovelace")
        );
        let wrong = "0000-0000-0000-0000-0000-0000-0000";
        assert_eq!(open(&bytes, wrong).unwrap_err().code, "wrong_password");
        assert_eq!(open(&bytes, "typo").unwrap_err().code, "wrong_password");
        bytes[40] ^= 1;
        assert_eq!(inspect(&bytes).unwrap_err().code, "bad_vsc_file");
        assert_eq!(inspect(b"not a vsc").unwrap_err().code, "bad_vsc_file");
    }
}
