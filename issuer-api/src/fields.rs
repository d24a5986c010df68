//! How the bodies' special fields read and write as JSON strings, for `#[serde(with = ...)]`:
//! secrets, standard base64 (the `.vsc`) and hex (keys and envelopes, as the bridge protocol
//! carries them).

/// A string held as a [`vsc_core::secret::SecretString`] (written out only to send it).
pub mod secret {
    use serde::{Deserialize, Deserializer, Serializer};
    use vsc_core::secret::SecretString;

    /// Reads a string into a [`SecretString`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }

    /// Writes the secret's text.
    pub fn serialize<S: Serializer>(value: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.expose())
    }
}

/// An optional string (absent or `null`: none) held as a [`vsc_core::secret::SecretString`].
pub mod secret_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use vsc_core::secret::SecretString;

    /// Reads an optional string into an optional [`SecretString`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        Option::<String>::deserialize(d).map(|o| o.map(SecretString::new))
    }

    /// Writes the secret's text, or `null`.
    pub fn serialize<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(secret) => s.serialize_some(secret.expose()),
            None => s.serialize_none(),
        }
    }
}

/// Bytes as standard base64 (with padding).
pub mod base64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Reads standard base64 into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("not standard base64: {e}")))
    }

    /// Writes bytes as standard base64.
    pub fn serialize<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(value))
    }

    /// Bytes as standard base64.
    pub fn encode(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// Bytes as hex digits (read in either case, written in lower case).
pub mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Reads hex digits of even length into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ::hex::decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("not hex digits of even length"))
    }

    /// Writes bytes as lower-case hex digits.
    pub fn serialize<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&::hex::encode(value))
    }
}
