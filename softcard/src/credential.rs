//! The two credentials of a DF (`docs/card-os.md`, "Credentials"): the holder PIN (reference
//! `81`) and the reset code (reference `82`), each with a retry counter.
//!
//! Values are kept in zeroizing buffers, compared in constant time and never printed.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Which credential a command references (P2 of VERIFY, CHANGE REFERENCE DATA, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialRef {
    /// `81`: the holder PIN.
    HolderPin,
    /// `82`: the reset code (PUK-like).
    ResetCode,
}

impl CredentialRef {
    /// The credential a reference byte names, if any.
    pub(crate) fn from_reference(reference: u8) -> Option<CredentialRef> {
        match reference {
            0x81 => Some(CredentialRef::HolderPin),
            0x82 => Some(CredentialRef::ResetCode),
            _ => None,
        }
    }

    /// Allowed length of the reference data, in bytes.
    pub(crate) fn length_bounds(self) -> std::ops::RangeInclusive<usize> {
        match self {
            CredentialRef::HolderPin => 4..=32,
            CredentialRef::ResetCode => 8..=32,
        }
    }

    /// The retry limit the counter is set to when the credential is set or unblocked.
    pub(crate) fn retry_limit(self) -> u8 {
        match self {
            CredentialRef::HolderPin => 3,
            CredentialRef::ResetCode => 10,
        }
    }
}

/// A set credential: its reference data and retry counter.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Credential {
    #[serde(with = "secret_hex")]
    value: Zeroizing<Vec<u8>>,
    tries_left: u8,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("value", &"<redacted>")
            .field("tries_left", &self.tries_left)
            .finish()
    }
}

impl Credential {
    /// A new credential with its counter at the limit of `reference`.
    pub(crate) fn new(reference: CredentialRef, value: &[u8]) -> Credential {
        Credential {
            value: Zeroizing::new(value.to_vec()),
            tries_left: reference.retry_limit(),
        }
    }

    /// Length of the reference data (the card knows it, the caller does not).
    pub(crate) fn len(&self) -> usize {
        self.value.len()
    }

    /// Tries left before the credential is blocked.
    pub(crate) fn tries_left(&self) -> u8 {
        self.tries_left
    }

    /// Whether the retry counter has reached 0.
    pub(crate) fn is_blocked(&self) -> bool {
        self.tries_left == 0
    }

    /// Constant-time comparison with a candidate value (no counter change).
    pub(crate) fn matches(&self, candidate: &[u8]) -> bool {
        if candidate.len() != self.value.len() {
            return false;
        }
        let diff = self
            .value
            .iter()
            .zip(candidate)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }

    /// Records a failed attempt; returns the tries left.
    pub(crate) fn record_failure(&mut self) -> u8 {
        self.tries_left = self.tries_left.saturating_sub(1);
        self.tries_left
    }

    /// Restores the counter to the limit; returns whether it changed.
    pub(crate) fn restore(&mut self, reference: CredentialRef) -> bool {
        let limit = reference.retry_limit();
        let changed = self.tries_left != limit;
        self.tries_left = limit;
        changed
    }

    /// Whether a deserialized credential respects the bounds of `reference`.
    pub(crate) fn is_consistent(&self, reference: CredentialRef) -> bool {
        reference.length_bounds().contains(&self.value.len())
            && self.tries_left <= reference.retry_limit()
    }
}

/// Serde helpers storing a secret as hex inside the (local, card-side) state file.
mod secret_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(
        value: &Zeroizing<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(hex::encode(value.as_slice()));
        serializer.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Zeroizing<Vec<u8>>, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        hex::decode(text.as_str())
            .map(Zeroizing::new)
            .map_err(|_| serde::de::Error::custom("a credential value is not valid hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::{Credential, CredentialRef};

    #[test]
    fn counter_and_matching() {
        let mut pin = Credential::new(CredentialRef::HolderPin, b"1234");
        assert_eq!(pin.tries_left(), 3);
        assert!(pin.matches(b"1234"));
        assert!(!pin.matches(b"12345"));
        assert!(!pin.matches(b"1235"));
        assert_eq!(pin.record_failure(), 2);
        assert_eq!(pin.record_failure(), 1);
        assert_eq!(pin.record_failure(), 0);
        assert!(pin.is_blocked());
        assert_eq!(pin.record_failure(), 0);
        assert!(pin.restore(CredentialRef::HolderPin));
        assert!(!pin.restore(CredentialRef::HolderPin));
        assert_eq!(
            Credential::new(CredentialRef::ResetCode, b"12345678").tries_left(),
            10
        );
    }

    #[test]
    fn debug_never_shows_the_value() {
        let pin = Credential::new(CredentialRef::HolderPin, b"9876");
        let text = format!("{pin:?}");
        assert!(
            !text.contains("9876") && !text.contains("39383736"),
            "{text}"
        );
    }
}
