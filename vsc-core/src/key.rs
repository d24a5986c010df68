//! The key objects of a VSC's keys area: generated when the VSC is built, kept encrypted in
//! the VSC, and written to the card by its agent.
//!
//! A symmetric key (AES-256) is its 32 bytes. A key pair (Ed25519, X25519, NIST P-256) is its
//! creation time (4 bytes, seconds since 1970, big-endian: midnight UTC of the day the holder
//! data was checked), the 32-byte private key (an Ed25519 seed, an X25519 scalar as RFC 7748
//! writes it, a P-256 scalar big-endian) and the public key (32 bytes for the 25519 curves,
//! the uncompressed SEC 1 point of 65 bytes for P-256). Storing the public key spares every
//! reader the curve arithmetic; [`KeyObject::decode`] checks it matches the private key.
//!
//! An OpenPGP card names its keys by their version 4 fingerprints (RFC 4880 §12.2):
//! [`KeyObject::openpgp_fingerprint`] computes them the way OpenPGP software does for the same
//! key and creation time, so `vsc inspect`, the card and `gpg --card-status` agree.
//!
//! What this module does not do: sign or decrypt (the card does), or store keys anywhere.

use std::fmt;

use rand_core::CryptoRngCore;
use sha1::{Digest, Sha1};

use crate::profile::{KeyKind, KeySlot};
use crate::secret::SecretBytes;

/// Bytes of every private key this module generates.
pub const PRIVATE_LEN: usize = 32;

/// OID of Ed25519 in OpenPGP (RFC 4880bis §9.2: 1.3.6.1.4.1.11591.15.1), DER content bytes.
const OID_ED25519: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01];
/// OID of Curve25519 for ECDH in OpenPGP (1.3.6.1.4.1.3029.1.5.1).
const OID_CV25519: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01];
/// OID of NIST P-256 (1.2.840.10045.3.1.7).
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// OpenPGP public-key algorithm ids (RFC 4880 §9.1, RFC 6637 §5, RFC 4880bis §9.1).
const ALGO_ECDH: u8 = 18;
const ALGO_ECDSA: u8 = 19;
const ALGO_EDDSA: u8 = 22;

/// The KDF parameters of an ECDH key (RFC 6637 §9): SHA-256 and AES-128, what OpenPGP
/// software uses for Curve25519 and P-256 keys.
const ECDH_KDF: &[u8] = &[0x03, 0x01, 0x08, 0x07];

/// One key of a VSC. The private key is zeroized on drop and redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyObject {
    kind: KeyKind,
    created: u32,
    private: SecretBytes,
    public: Vec<u8>,
}

impl fmt::Debug for KeyObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyObject")
            .field("kind", &self.kind)
            .field("created", &self.created)
            .field("public", &hex::encode_upper(&self.public))
            .finish_non_exhaustive()
    }
}

/// Why stored key bytes are not a key of their kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The value has the wrong length.
    #[error("a {kind} key object has {expected} bytes, this one {found}")]
    Length {
        /// The kind, as profiles name it.
        kind: &'static str,
        /// Its length.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// The public key does not belong to the private key.
    #[error("the {0} key object's public key does not belong to its private key")]
    Mismatch(&'static str),
    /// The private key is not a valid scalar of the curve.
    #[error("the {0} key object's private key is not valid for its curve")]
    Invalid(&'static str),
}

impl KeyObject {
    /// A new key of `kind`, created at `created` (seconds since 1970).
    pub fn generate(kind: KeyKind, created: u32, rng: &mut impl CryptoRngCore) -> KeyObject {
        loop {
            let mut private = SecretBytes::new(vec![0u8; PRIVATE_LEN]);
            rng.fill_bytes(private.expose_mut());
            if kind == KeyKind::X25519 {
                // Clamped as RFC 7748 §5 uses it, so every reader of the scalar, a card that
                // takes it as it is included, computes the same public key.
                let bytes = private.expose_mut();
                bytes[0] &= 248;
                bytes[31] &= 127;
                bytes[31] |= 64;
            }
            // Only a P-256 scalar can be out of range (probability below 2^-32).
            if let Ok(key) = KeyObject::from_private(kind, created, private) {
                return key;
            }
        }
    }

    /// The key with this private key, its public key derived.
    fn from_private(
        kind: KeyKind,
        created: u32,
        private: SecretBytes,
    ) -> Result<KeyObject, KeyError> {
        let public = public_of(kind, private.expose())?;
        Ok(KeyObject {
            kind,
            // A symmetric key carries no creation time.
            created: if kind == KeyKind::Aes256 { 0 } else { created },
            private,
            public,
        })
    }

    /// The value of the key object in the keys area.
    pub fn encode(&self) -> SecretBytes {
        let mut out = SecretBytes::new(Vec::with_capacity(self.kind.object_len()));
        if self.kind != KeyKind::Aes256 {
            out.extend_from_slice(&self.created.to_be_bytes());
        }
        out.extend_from_slice(self.private.expose());
        out.extend_from_slice(&self.public);
        out
    }

    /// Reads a key object's value, checking its length and that its public key is its
    /// private key's.
    pub fn decode(kind: KeyKind, bytes: &[u8]) -> Result<KeyObject, KeyError> {
        if bytes.len() != kind.object_len() {
            return Err(KeyError::Length {
                kind: kind.as_str(),
                expected: kind.object_len(),
                found: bytes.len(),
            });
        }
        if kind == KeyKind::Aes256 {
            return Ok(KeyObject {
                kind,
                created: 0,
                private: SecretBytes::from_slice(bytes),
                public: Vec::new(),
            });
        }
        let created = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let private = SecretBytes::from_slice(&bytes[4..4 + PRIVATE_LEN]);
        let key = KeyObject::from_private(kind, created, private)?;
        if key.public != bytes[4 + PRIVATE_LEN..] {
            return Err(KeyError::Mismatch(kind.as_str()));
        }
        Ok(key)
    }

    /// The key's type.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Creation time, seconds since 1970 (0 for a symmetric key).
    pub fn created(&self) -> u32 {
        self.created
    }

    /// The private key (or the symmetric key). Secret: it goes to the card only.
    pub fn private_key(&self) -> &SecretBytes {
        &self.private
    }

    /// The public key (empty for a symmetric key).
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The version 4 fingerprint (RFC 4880 §12.2) of the key as an OpenPGP card's `slot`
    /// uses it (ECDH in the decryption slot, EdDSA or ECDSA in the others); `None` for a
    /// symmetric key.
    pub fn openpgp_fingerprint(&self, slot: KeySlot) -> Option<[u8; 20]> {
        let (algo, oid, kdf) = match (self.kind, slot) {
            (KeyKind::Aes256, _) => return None,
            (KeyKind::Ed25519, _) => (ALGO_EDDSA, OID_ED25519, None),
            (KeyKind::X25519, _) => (ALGO_ECDH, OID_CV25519, Some(ECDH_KDF)),
            (KeyKind::P256, KeySlot::Decryption) => (ALGO_ECDH, OID_P256, Some(ECDH_KDF)),
            (KeyKind::P256, _) => (ALGO_ECDSA, OID_P256, None),
        };
        // The public point as an MPI: the 25519 curves prefix the native point with 0x40
        // (RFC 4880bis §13.2), P-256 writes the SEC 1 point as it is.
        let mut point = Vec::with_capacity(self.public.len() + 1);
        if self.kind != KeyKind::P256 {
            point.push(0x40);
        }
        point.extend_from_slice(&self.public);
        let bits = mpi_bits(&point);
        let mut body = Vec::with_capacity(16 + oid.len() + point.len());
        body.push(4);
        body.extend_from_slice(&self.created.to_be_bytes());
        body.push(algo);
        body.push(oid.len() as u8);
        body.extend_from_slice(oid);
        body.extend_from_slice(&bits.to_be_bytes());
        body.extend_from_slice(&point);
        if let Some(kdf) = kdf {
            body.extend_from_slice(kdf);
        }
        let mut hash = Sha1::new();
        hash.update([0x99]);
        hash.update((body.len() as u16).to_be_bytes());
        hash.update(&body);
        Some(hash.finalize().into())
    }
}

/// The bit length of a big-endian number, as an OpenPGP MPI states it (RFC 4880 §3.2).
fn mpi_bits(bytes: &[u8]) -> u16 {
    let Some(first) = bytes.iter().position(|&b| b != 0) else {
        return 0;
    };
    let len = (bytes.len() - first) as u32 * 8 - bytes[first].leading_zeros();
    len as u16
}

/// The public key of a private key of `kind`.
fn public_of(kind: KeyKind, private: &[u8]) -> Result<Vec<u8>, KeyError> {
    let bytes: [u8; PRIVATE_LEN] = private
        .try_into()
        .map_err(|_| KeyError::Invalid(kind.as_str()))?;
    Ok(match kind {
        KeyKind::Aes256 => Vec::new(),
        KeyKind::Ed25519 => ed25519_dalek::SigningKey::from_bytes(&bytes)
            .verifying_key()
            .to_bytes()
            .to_vec(),
        KeyKind::X25519 => {
            x25519_dalek::x25519(bytes, x25519_dalek::X25519_BASEPOINT_BYTES).to_vec()
        }
        KeyKind::P256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            let secret = p256::SecretKey::from_slice(&bytes)
                .map_err(|_| KeyError::Invalid(kind.as_str()))?;
            secret
                .public_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn every_kind_round_trips_and_checks_its_public_key() {
        for kind in KeyKind::ALL {
            let key = KeyObject::generate(kind, 1_796_083_200, &mut OsRng);
            assert_eq!(key.public_key().len(), kind.public_len());
            let bytes = key.encode();
            assert_eq!(bytes.len(), kind.object_len());
            assert_eq!(KeyObject::decode(kind, bytes.expose()).unwrap(), key);
            if kind != KeyKind::Aes256 {
                let mut wrong = bytes.expose().to_vec();
                *wrong.last_mut().unwrap() ^= 1;
                assert!(KeyObject::decode(kind, &wrong).is_err(), "{kind:?}");
            }
            assert!(!format!("{key:?}").contains(&hex::encode_upper(key.private_key().expose())));
        }
    }

    #[test]
    fn ed25519_public_keys_follow_rfc_8032() {
        // RFC 8032 §7.1, TEST 1.
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let key =
            KeyObject::from_private(KeyKind::Ed25519, 0, SecretBytes::from_slice(&seed)).unwrap();
        assert_eq!(
            hex::encode(key.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
    }

    #[test]
    fn x25519_public_keys_follow_rfc_7748() {
        // RFC 7748 §6.1: Alice's private key and public key.
        let scalar =
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap();
        let key =
            KeyObject::from_private(KeyKind::X25519, 0, SecretBytes::from_slice(&scalar)).unwrap();
        assert_eq!(
            hex::encode(key.public_key()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
    }

    #[test]
    fn fingerprints_are_version_4_and_depend_on_time_and_slot() {
        let key = KeyObject::generate(KeyKind::P256, 1_700_000_000, &mut OsRng);
        let signing = key.openpgp_fingerprint(KeySlot::Signature).unwrap();
        let decrypting = key.openpgp_fingerprint(KeySlot::Decryption).unwrap();
        assert_ne!(signing, decrypting, "ECDSA and ECDH packets differ");
        let later = KeyObject {
            created: 1_700_000_001,
            ..key.clone()
        };
        assert_ne!(
            later.openpgp_fingerprint(KeySlot::Signature).unwrap(),
            signing
        );
        let aes = KeyObject::generate(KeyKind::Aes256, 0, &mut OsRng);
        assert_eq!(aes.openpgp_fingerprint(KeySlot::Signature), None);
        assert_eq!(mpi_bits(&[0x40, 0xFF]), 15);
        assert_eq!(mpi_bits(&[0x04]), 3);
    }
}
