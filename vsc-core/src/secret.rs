//! Zeroizing containers for secrets, with a redacted `Debug`.
//!
//! Every password, PIN, key and decrypted area in this crate lives in one of these types, so a
//! secret is wiped from memory when dropped and never printed by `{:?}` (logs, panics, errors).

use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Secret bytes: zeroized on drop, shown as `Sensitive(<n bytes>)` by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`; the caller's buffer is moved, not copied.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new secret buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The secret bytes. Do not log or format them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Mutable access, for building a secret in place.
    pub fn expose_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    /// Appends `more`. When the buffer must grow, the bytes move to a new buffer and the old
    /// one is wiped as it is dropped, so no copy of the secret is left in freed memory (which
    /// `Vec::extend_from_slice` would do).
    pub fn extend_from_slice(&mut self, more: &[u8]) {
        let needed = self.0.len() + more.len();
        if needed > self.0.capacity() {
            let mut grown = Vec::with_capacity(needed.max(2 * self.0.capacity()).max(64));
            grown.extend_from_slice(&self.0);
            // The old buffer is zeroized when its `Zeroizing` wrapper drops here.
            self.0 = Zeroizing::new(grown);
        }
        self.0.extend_from_slice(more);
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sensitive(<{} bytes>)", self.0.len())
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

/// A secret string: zeroized on drop, shown as `Sensitive(<redacted>)` by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Takes ownership of `text`.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The secret text. Do not log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(<redacted>)")
    }
}

impl From<String> for SecretString {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl From<&str> for SecretString {
    fn from(text: &str) -> Self {
        Self::new(text.to_owned())
    }
}

/// Wipes a plain buffer that briefly held a secret (for APIs that hand out `Vec<u8>`).
pub fn wipe(buffer: &mut Vec<u8>) {
    buffer.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extending_keeps_the_bytes() {
        let mut bytes = SecretBytes::default();
        for chunk in [&b"abc"[..], &[7; 100], b"", &[1; 300]] {
            bytes.extend_from_slice(chunk);
        }
        assert_eq!(bytes.len(), 403);
        assert_eq!(&bytes.expose()[..3], b"abc");
        assert_eq!(bytes.expose()[402], 1);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let bytes = SecretBytes::from_slice(b"123456");
        let text = SecretString::from("correct horse");
        assert_eq!(format!("{bytes:?}"), "Sensitive(<6 bytes>)");
        assert_eq!(format!("{text:?}"), "Sensitive(<redacted>)");
        assert!(!format!("{bytes:?}{text:?}").contains("123456"));
    }
}
