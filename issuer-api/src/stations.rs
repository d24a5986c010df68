//! Enrolling a station (a branch's `vsc-bridge`).

use serde::{Deserialize, Serialize};
use vsc_core::envelope::StationPublicKey;

use crate::names::MAX_NAME;
use crate::BodyError;

/// The body of `POST /api/stations`.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Enrol {
    /// The station's name (stored trimmed).
    pub name: String,
    /// 64 hex digits, as the bridge's `station_key` gives it.
    pub public_key: String,
}

impl Enrol {
    /// The station's key, then its name trimmed (1 to [`MAX_NAME`] characters).
    pub fn check(&self) -> Result<(StationPublicKey, &str), BodyError> {
        let key = StationPublicKey::from_hex(&self.public_key).map_err(BodyError::StationKey)?;
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(BodyError::StationName);
        }
        Ok((key, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_station_has_a_key_and_a_name() {
        let key = "11".repeat(32);
        let body = Enrol {
            name: " Desk 1 ".into(),
            public_key: key.clone(),
        };
        assert_eq!(body.check().unwrap().1, "Desk 1");
        let body = Enrol {
            name: "  ".into(),
            public_key: key,
        };
        assert!(matches!(body.check(), Err(BodyError::StationName)));
        let body = Enrol {
            name: "Desk".into(),
            public_key: "abcd".into(),
        };
        assert!(body
            .check()
            .unwrap_err()
            .to_string()
            .starts_with("public_key: "));
    }
}
