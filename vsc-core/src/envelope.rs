//! The password envelope: a VSC password sealed to one branch station with HPKE (RFC 9180).
//!
//! The issuer's page (through wasm) and `vsc build --server` seal each VSC password for every
//! approved station of the target branch ([`seal`]); a station, `vsc-bridge` or
//! `vsc personalize --server --queue`, opens the envelope with its X25519 secret key ([`open`]).
//! Both sides run this one module. The suite is fixed: base mode, DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, AES-256-GCM, `info` = [`INFO`].
//!
//! An envelope comes in one of two forms, and [`open`] takes either:
//!
//! - **single** ([`seal`]): HPKE single-shot; the ciphertext is the context's first AEAD
//!   message (`Seal` at sequence number 0), as bridge-protocol.md's `open_envelope` describes.
//! - **batch** ([`StationSealer`]): one HPKE encapsulation seals the passwords of many jobs for
//!   one station (the page's upload makes one per chunk of records and station, since an X25519
//!   encapsulation in wasm costs ten times the build of a VSC). Each job's key is the context's
//!   exported secret (RFC 9180 §5.3) for [`BATCH_KEY_LABEL`] followed by the job's binding,
//!   32 bytes; the ciphertext is a random 12-byte nonce, then AES-256-GCM of the password under
//!   that key with the binding as associated data, then the tag. The envelopes of one chunk
//!   share their `enc`; no two share a key, since no two jobs share a binding.
//!
//! The associated data is a [`Binding`]: the job id (the VSC UID), the branch id and the
//! SHA-256 of the sealed `.vsc` bytes, encoded one way ([`Binding::to_aad`]). An envelope moved
//! to another job, another branch or beside another `.vsc` does not open. Every opening failure
//! (wrong key, wrong binding, truncated or altered envelope) is the one
//! [`EnvelopeError::Invalid`], which says nothing an attacker could use.
//!
//! Station keys: [`StationSecretKey`] (zeroized on drop, redacted `Debug`, stored by its owner
//! in the text form of [`StationSecretKey::to_file_text`]) and [`StationPublicKey`] (hex on the
//! wire, 64 digits), with the [`StationPublicKey::fingerprint`] that a bridge's console and the
//! issuer's admin view show side by side.
//!
//! What this module does not do: store keys, talk to a bridge or a server, or decide which
//! stations get envelopes.

use std::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::secret::{SecretBytes, SecretString};

/// HPKE `info` of every password envelope.
pub const INFO: &[u8] = b"vsc-password/1";
/// Length of a station public key, and of an envelope's encapsulated key (`enc`).
pub const KEY_LEN: usize = 32;
/// Length of the AES-256-GCM tag at the end of every ciphertext.
pub const TAG_LEN: usize = 16;
/// Largest ciphertext an envelope may have (a sealed VSC password is far smaller).
pub const MAX_CIPHERTEXT: usize = 1024;
/// Length of the random nonce at the head of a batch envelope's ciphertext.
pub const NONCE_LEN: usize = 12;
/// The first bytes of the HPKE exporter context that gives a batch envelope's key; the
/// binding's encoding ([`Binding::to_aad`]) follows them.
pub const BATCH_KEY_LABEL: &[u8] = b"vsc-password-key/1";
/// Largest job id or branch id a binding holds, in bytes.
pub const MAX_ID_LEN: usize = 255;

/// The first bytes of every binding's encoding (names the encoding's version).
const AAD_MAGIC: &[u8] = b"vsc-envelope-aad/1";
/// The first word of a station key file.
const KEY_FILE_TAG: &str = "vsc-station-key/1";

type Kem = X25519HkdfSha256;
type Kdf = HkdfSha256;
type Aead = AesGcm256;

/// What went wrong with a key, a binding or an envelope. Messages never hold key material or
/// the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// A station public key that is not 32 bytes of hex.
    #[error(
        "a station public key is 64 hex digits (32 bytes, X25519), as `vsc-bridge station` and \
         the bridge's station_key give it; {0}"
    )]
    BadPublicKey(String),
    /// A public key no envelope can be sealed to (a low-order X25519 point).
    #[error(
        "this station public key cannot receive envelopes (it is not a usable X25519 key); \
         enrol the station again with the key its bridge shows"
    )]
    UnusableKey,
    /// A job id or branch id that a binding cannot hold.
    #[error("the envelope binding's {field} must have 1 to {MAX_ID_LEN} bytes")]
    BadBinding {
        /// `job id` or `branch id`.
        field: &'static str,
    },
    /// A station key file that is not one this module wrote.
    #[error(
        "the station key file is damaged (expected `{KEY_FILE_TAG}` and 64 hex digits); \
         restore it from a backup, or make a new key (envelopes sealed for the old one can then \
         no longer be opened)"
    )]
    BadKeyFile,
    /// A password too long for any envelope to carry (its ciphertext would pass
    /// [`MAX_CIPHERTEXT`]).
    #[error(
        "a password of {0} bytes is too long to seal in an envelope (at most {max} bytes); \
         choose a shorter one",
        max = MAX_CIPHERTEXT - NONCE_LEN - TAG_LEN
    )]
    PasswordTooLong(usize),
    /// The envelope does not open with this key and binding: sealed for another station or
    /// another job, truncated, or altered. Deliberately says no more.
    #[error(
        "the password envelope does not open: it was sealed for another station key or another \
         job, or it was damaged"
    )]
    Invalid,
}

/// An envelope: the HPKE encapsulated key and the ciphertext of the password (with its tag).
/// Neither is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The encapsulated key (the sender's ephemeral X25519 public key).
    pub enc: [u8; KEY_LEN],
    /// The AES-256-GCM ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// What an envelope is bound to (its HPKE associated data): the job, the branch, and the exact
/// sealed `.vsc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    job_id: String,
    branch_id: String,
    vsc_sha256: [u8; 32],
}

impl Binding {
    /// The binding of the envelope for job `job_id` (the VSC UID) of branch `branch_id`, whose
    /// sealed bytes are `vsc`.
    pub fn new(job_id: &str, branch_id: &str, vsc: &[u8]) -> Result<Binding, EnvelopeError> {
        Binding::from_digest(job_id, branch_id, Sha256::digest(vsc).into())
    }

    /// The same, from the SHA-256 of the `.vsc` bytes.
    pub fn from_digest(
        job_id: &str,
        branch_id: &str,
        vsc_sha256: [u8; 32],
    ) -> Result<Binding, EnvelopeError> {
        for (field, value) in [("job id", job_id), ("branch id", branch_id)] {
            if value.is_empty() || value.len() > MAX_ID_LEN {
                return Err(EnvelopeError::BadBinding { field });
            }
        }
        Ok(Binding {
            job_id: job_id.to_owned(),
            branch_id: branch_id.to_owned(),
            vsc_sha256,
        })
    }

    /// The job id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The branch id.
    pub fn branch_id(&self) -> &str {
        &self.branch_id
    }

    /// The SHA-256 of the sealed `.vsc`.
    pub fn vsc_sha256(&self) -> &[u8; 32] {
        &self.vsc_sha256
    }

    /// The associated data: `vsc-envelope-aad/1`, then the job id and the branch id each
    /// after its length in one byte, then the 32 bytes of the SHA-256.
    pub fn to_aad(&self) -> Vec<u8> {
        let mut aad =
            Vec::with_capacity(AAD_MAGIC.len() + 2 + self.job_id.len() + self.branch_id.len() + 32);
        aad.extend_from_slice(AAD_MAGIC);
        for value in [&self.job_id, &self.branch_id] {
            // At most MAX_ID_LEN (255) bytes, checked when the binding was made.
            aad.push(value.len() as u8);
            aad.extend_from_slice(value.as_bytes());
        }
        aad.extend_from_slice(&self.vsc_sha256);
        aad
    }

    /// Reads associated data written by [`Binding::to_aad`] (a bridge reads what the page
    /// sent, to log which job an envelope was for). Anything else is [`EnvelopeError::Invalid`].
    pub fn from_aad(aad: &[u8]) -> Result<Binding, EnvelopeError> {
        let rest = aad.strip_prefix(AAD_MAGIC).ok_or(EnvelopeError::Invalid)?;
        let (job_id, rest) = take_field(rest)?;
        let (branch_id, rest) = take_field(rest)?;
        let vsc_sha256: [u8; 32] = rest.try_into().map_err(|_| EnvelopeError::Invalid)?;
        Binding::from_digest(job_id, branch_id, vsc_sha256).map_err(|_| EnvelopeError::Invalid)
    }
}

fn take_field(bytes: &[u8]) -> Result<(&str, &[u8]), EnvelopeError> {
    let (&len, rest) = bytes.split_first().ok_or(EnvelopeError::Invalid)?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(EnvelopeError::Invalid);
    }
    let (value, rest) = rest.split_at(len);
    let value = std::str::from_utf8(value).map_err(|_| EnvelopeError::Invalid)?;
    Ok((value, rest))
}

/// A station's public key: where envelopes are sealed to.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StationPublicKey([u8; KEY_LEN]);

impl StationPublicKey {
    /// The key from its 32 bytes; a low-order point (RFC 7748 §6.1: every shared secret
    /// with it is all zeros, RFC 9180 §7.1.4 refuses it) is [`EnvelopeError::UnusableKey`].
    pub fn from_bytes(bytes: &[u8]) -> Result<StationPublicKey, EnvelopeError> {
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
            EnvelopeError::BadPublicKey(format!("this one has {} bytes", bytes.len()))
        })?;
        // Clamped scalars are multiples of 8, so any one of them sends a point of order 1, 2,
        // 4 or 8 (and only such a point) to zero.
        if x25519_dalek::x25519([1; KEY_LEN], bytes) == [0; KEY_LEN] {
            return Err(EnvelopeError::UnusableKey);
        }
        Ok(StationPublicKey(bytes))
    }

    /// The key from 64 hex digits (either case; surrounding spaces ignored).
    pub fn from_hex(text: &str) -> Result<StationPublicKey, EnvelopeError> {
        let bytes = hex::decode(text.trim()).map_err(|_| {
            EnvelopeError::BadPublicKey(format!(
                "this one is {} characters and not all hex digits",
                text.trim().chars().count()
            ))
        })?;
        StationPublicKey::from_bytes(&bytes)
    }

    /// The key as HPKE's recipient key, which both forms of sealing start from.
    fn recipient(&self) -> Result<<Kem as hpke::Kem>::PublicKey, EnvelopeError> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(&self.0).map_err(|_| EnvelopeError::UnusableKey)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key as 64 lower-case hex digits (its form on the wire and in the issuer's API).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The fingerprint people compare: the first 16 bytes of the key's SHA-256, as 8 groups of
    /// 4 hex digits (`3f1a 09c2 ...`).
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0);
        let digits = hex::encode(&digest[..16]);
        let groups: Vec<&str> = (0..digits.len())
            .step_by(4)
            .map(|i| &digits[i..i + 4])
            .collect();
        groups.join(" ")
    }
}

impl serde::Serialize for StationPublicKey {
    /// As 64 lower-case hex digits.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for StationPublicKey {
    /// From 64 hex digits.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        StationPublicKey::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for StationPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StationPublicKey({})", self.fingerprint())
    }
}

/// A station's secret key: opens the envelopes sealed to its public key. Zeroized on drop;
/// `Debug` shows only the public key's fingerprint.
#[derive(Clone)]
pub struct StationSecretKey {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: StationPublicKey,
}

impl StationSecretKey {
    /// A new random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> StationSecretKey {
        let (secret, public) = Kem::gen_keypair_with_rng(&mut Rng010(rng));
        StationSecretKey::from_parts(secret, &public)
    }

    /// The key from its 32 secret bytes (as [`StationSecretKey::to_bytes`] gave them).
    pub fn from_bytes(bytes: &[u8]) -> Result<StationSecretKey, EnvelopeError> {
        let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map_err(|_| EnvelopeError::BadKeyFile)?;
        let public = Kem::sk_to_pk(&secret);
        Ok(StationSecretKey::from_parts(secret, &public))
    }

    fn from_parts(
        secret: <Kem as hpke::Kem>::PrivateKey,
        public: &<Kem as hpke::Kem>::PublicKey,
    ) -> StationSecretKey {
        let public = StationPublicKey(public.to_bytes().into());
        StationSecretKey { secret, public }
    }

    /// The 32 secret bytes. Store them owner-only; never log them.
    pub fn to_bytes(&self) -> SecretBytes {
        let bytes = Zeroizing::new(<[u8; KEY_LEN]>::from(self.secret.to_bytes()));
        SecretBytes::from_slice(bytes.as_ref())
    }

    /// The key file's text: `vsc-station-key/1 <64 hex digits>` and a line break.
    pub fn to_file_text(&self) -> SecretString {
        let digits = Zeroizing::new(hex::encode(self.to_bytes().expose()));
        // Sized up front: a growing String would leave copies of the digits behind.
        let mut text = String::with_capacity(KEY_FILE_TAG.len() + digits.len() + 2);
        text.push_str(KEY_FILE_TAG);
        text.push(' ');
        text.push_str(&digits);
        text.push('\n');
        SecretString::new(text)
    }

    /// Reads a key file's text written by [`StationSecretKey::to_file_text`].
    pub fn from_file_text(text: &str) -> Result<StationSecretKey, EnvelopeError> {
        let digits = text
            .trim()
            .strip_prefix(KEY_FILE_TAG)
            .ok_or(EnvelopeError::BadKeyFile)?
            .trim();
        let bytes = Zeroizing::new(hex::decode(digits).map_err(|_| EnvelopeError::BadKeyFile)?);
        StationSecretKey::from_bytes(&bytes)
    }

    /// The public key that goes with this key.
    pub fn public_key(&self) -> StationPublicKey {
        self.public
    }
}

impl fmt::Debug for StationSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "StationSecretKey(<redacted>, public {})",
            self.public.fingerprint()
        )
    }
}

/// Seals `password` (the VSC password's text) to `station`, bound to `binding`.
pub fn seal(
    password: &str,
    station: &StationPublicKey,
    binding: &Binding,
    rng: &mut impl CryptoRngCore,
) -> Result<Envelope, EnvelopeError> {
    check_password_len(password)?;
    seal_with_info(
        INFO,
        station,
        &binding.to_aad(),
        password.as_bytes(),
        &mut Rng010(rng),
    )
}

/// Seals the passwords of many jobs for one station with one HPKE encapsulation (the batch
/// form of the module docs): make one per station and chunk of jobs, then [`StationSealer::seal`]
/// each job's password. Holds the HPKE sender context (its secrets are wiped on drop).
pub struct StationSealer {
    enc: [u8; KEY_LEN],
    context: hpke::aead::AeadCtxS<Aead, Kdf, Kem>,
}

impl StationSealer {
    /// A sealer for `station`: one encapsulation, a fresh ephemeral key.
    pub fn new(
        station: &StationPublicKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<StationSealer, EnvelopeError> {
        let (enc, context) = hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(
            &OpModeS::Base,
            &station.recipient()?,
            INFO,
            &mut Rng010(rng),
        )
        .map_err(|_| EnvelopeError::UnusableKey)?;
        Ok(StationSealer {
            enc: enc.to_bytes().into(),
            context,
        })
    }

    /// Seals `password` bound to `binding`: an envelope with this sealer's `enc` and a
    /// ciphertext that only this job's key opens.
    pub fn seal(
        &self,
        password: &str,
        binding: &Binding,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Envelope, EnvelopeError> {
        check_password_len(password)?;
        let aad = binding.to_aad();
        let cipher = batch_cipher(|context, key| self.context.export(context, key), &aad)?;
        let mut nonce = [0; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        // Sized up front: the password is encrypted in place, and no reallocation may leave a
        // clear copy behind.
        let mut ciphertext = Vec::with_capacity(NONCE_LEN + password.len() + TAG_LEN);
        ciphertext.extend_from_slice(&nonce);
        ciphertext.extend_from_slice(password.as_bytes());
        let tag = cipher
            .encrypt_inout_detached(
                &Nonce::from(nonce),
                &aad,
                ciphertext[NONCE_LEN..].as_mut().into(),
            )
            .map_err(|_| EnvelopeError::PasswordTooLong(password.len()))?;
        ciphertext.extend_from_slice(&tag);
        Ok(Envelope {
            enc: self.enc,
            ciphertext,
        })
    }
}

impl fmt::Debug for StationSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StationSealer(enc {})", hex::encode(self.enc))
    }
}

fn check_password_len(password: &str) -> Result<(), EnvelopeError> {
    if NONCE_LEN + password.len() + TAG_LEN > MAX_CIPHERTEXT {
        return Err(EnvelopeError::PasswordTooLong(password.len()));
    }
    Ok(())
}

/// The AES-256-GCM cipher of a batch envelope bound to `aad`, keyed by the HPKE context's
/// exported secret (`export(exporter context, out)`).
fn batch_cipher(
    export: impl FnOnce(&[u8], &mut [u8]) -> Result<(), hpke::HpkeError>,
    aad: &[u8],
) -> Result<Aes256Gcm, EnvelopeError> {
    let mut context = Vec::with_capacity(BATCH_KEY_LABEL.len() + aad.len());
    context.extend_from_slice(BATCH_KEY_LABEL);
    context.extend_from_slice(aad);
    let mut key = Zeroizing::new([0; 32]);
    export(&context, key.as_mut()).map_err(|_| EnvelopeError::Invalid)?;
    Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| EnvelopeError::Invalid)
}

/// Opens `envelope` (either form) with the station's `key`, checking that it is bound to
/// `binding`. The plaintext is the password's text (UTF-8), zeroized on drop. Every failure
/// is [`EnvelopeError::Invalid`].
pub fn open(
    envelope: &Envelope,
    key: &StationSecretKey,
    binding: &Binding,
) -> Result<SecretBytes, EnvelopeError> {
    open_with_info(
        INFO,
        key,
        &envelope.enc,
        &envelope.ciphertext,
        &binding.to_aad(),
    )
}

/// Opens an envelope given as its raw parts (as a bridge receives them from a page): `enc`,
/// `ciphertext` and the associated data `aad`, which must be a binding's encoding. Every
/// failure, a malformed part included, is [`EnvelopeError::Invalid`].
pub fn open_parts(
    enc: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
    key: &StationSecretKey,
) -> Result<SecretBytes, EnvelopeError> {
    Binding::from_aad(aad)?;
    open_with_info(INFO, key, enc, ciphertext, aad)
}

/// HPKE single-shot seal in the envelope suite, with any `info` (the RFC's test vectors use
/// their own).
fn seal_with_info(
    info: &[u8],
    station: &StationPublicKey,
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut Rng010<'_, impl CryptoRngCore>,
) -> Result<Envelope, EnvelopeError> {
    let (enc, ciphertext) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &station.recipient()?,
        info,
        plaintext,
        aad,
        rng,
    )
    .map_err(|_| EnvelopeError::UnusableKey)?;
    Ok(Envelope {
        enc: enc.to_bytes().into(),
        ciphertext,
    })
}

/// Opens an envelope of either form in the envelope suite, with any `info`: one HPKE
/// decapsulation, then the batch form's exported key, then the single form's first message.
fn open_with_info(
    info: &[u8],
    key: &StationSecretKey,
    enc: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<SecretBytes, EnvelopeError> {
    if enc.len() != KEY_LEN || ciphertext.len() < TAG_LEN || ciphertext.len() > MAX_CIPHERTEXT {
        return Err(EnvelopeError::Invalid);
    }
    let enc =
        <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| EnvelopeError::Invalid)?;
    let mut context =
        hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, &key.secret, &enc, info)
            .map_err(|_| EnvelopeError::Invalid)?;
    if let Some(opened) = open_batch(&context, ciphertext, aad) {
        return Ok(opened);
    }
    context
        .open(ciphertext, aad)
        .map(SecretBytes::new)
        .map_err(|_| EnvelopeError::Invalid)
}

/// The batch form's password, if `ciphertext` is one under this context's key for `aad`.
fn open_batch(
    context: &hpke::aead::AeadCtxR<Aead, Kdf, Kem>,
    ciphertext: &[u8],
    aad: &[u8],
) -> Option<SecretBytes> {
    if ciphertext.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, rest) = ciphertext.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    let cipher = batch_cipher(|context_bytes, key| context.export(context_bytes, key), aad).ok()?;
    let mut plain = SecretBytes::from_slice(body);
    cipher
        .decrypt_inout_detached(
            &Nonce::try_from(nonce).ok()?,
            aad,
            plain.expose_mut().as_mut_slice().into(),
            &Tag::try_from(tag).ok()?,
        )
        .ok()?;
    Some(plain)
}

/// The caller's generator (rand_core 0.6, as the rest of this crate takes) seen through the
/// rand_core 0.10 traits that `hpke` asks for.
struct Rng010<'a, R: CryptoRngCore>(&'a mut R);

impl<R: CryptoRngCore> hpke::rand_core::TryRng for Rng010<'_, R> {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl<R: CryptoRngCore> hpke::rand_core::TryCryptoRng for Rng010<'_, R> {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    /// RFC 9180's test vectors (the JSON published with the RFC), the one entry for this
    /// module's suite: mode_base (0), DHKEM(X25519, HKDF-SHA256) (0x0020), HKDF-SHA256
    /// (0x0001), AES-256-GCM (0x0002).
    mod rfc9180 {
        pub const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
        pub const IKM_E: &str = "2cd7c601cefb3d42a62b04b7a9041494c06c7843818e0ce28a8f704ae7ab20f9";
        pub const IKM_R: &str = "dac33b0e9db1b59dbbea58d59a14e7b5896e9bdf98fad6891e99d1686492b9ee";
        pub const SK_RM: &str = "497b4502664cfea5d5af0b39934dac72242a74f8480451e1aee7d6a53320333d";
        pub const PK_RM: &str = "430f4b9859665145a6b1ba274024487bd66f03a2dd577d7753c68d7d7d00c00c";
        pub const SK_EM: &str = "179d4b53b6365c45b600c4163b61d95cbc2f4d9e36f1695558dce265ab8bab11";
        pub const ENC: &str = "6c93e09869df3402d7bf231bf540fadd35cd56be14f97178f0954db94b7fc256";
        pub const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
        /// (sequence number, aad, ct)
        pub const ENCRYPTIONS: [(u64, &str, &str); 4] = [
            (0, "436f756e742d30", "e5d84cd531cfb583096e7cfa9641bd3079cf3a91cda813c52deb5f512be9931980a41de125a925cdad859d5b7a"),
            (1, "436f756e742d31", "2c43aff25343fdbff864506f0818b9d87df84ea01b1a2144d23b4d40c26bf655fdf197fe40297a8aebeed5cc2d"),
            (2, "436f756e742d32", "e0a8f2cf92ff61215edbb8c55dc31fe9e2eb42a5685867bb6854211542099f9e940c4b41c192bc390835b1a5f7"),
            (4, "436f756e742d34", "448a8892f261cbb6bf5b7b64a4fae8a2c86492494b069c10525895d871c27c2f12cd17e0588fedaba9f7b0cd4c"),
        ];
    }

    fn unhex(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    /// A "generator" that hands out fixed bytes: the vector's ikmE.
    struct Fixed(Vec<u8>);

    impl rand_core::RngCore for Fixed {
        fn next_u32(&mut self) -> u32 {
            unreachable!("only fill_bytes is used")
        }
        fn next_u64(&mut self) -> u64 {
            unreachable!("only fill_bytes is used")
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            assert_eq!(dest.len(), self.0.len(), "the ephemeral key takes 32 bytes");
            dest.copy_from_slice(&self.0);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rand_core::CryptoRng for Fixed {}

    #[test]
    fn rfc9180_vectors_of_this_suite_pass() {
        use rfc9180::*;
        // The recipient key pair from ikmR, and the published secret key, are one key.
        let (derived, public) = Kem::derive_keypair(&unhex(IKM_R));
        assert_eq!(public.to_bytes().as_slice(), unhex(PK_RM));
        let station = StationSecretKey::from_bytes(&unhex(SK_RM)).unwrap();
        assert_eq!(station.public_key().to_hex(), PK_RM);
        assert!(derived == station.secret);
        // The ephemeral key pair from ikmE, and the published one, are one key.
        let (eph, eph_public) = Kem::derive_keypair(&unhex(IKM_E));
        let published_eph = <Kem as hpke::Kem>::PrivateKey::from_bytes(&unhex(SK_EM)).unwrap();
        assert!(eph == published_eph);
        assert_eq!(eph_public.to_bytes().as_slice(), unhex(ENC));

        // Sealing through this module's code with the vector's randomness gives the vector's
        // enc and first ciphertext; opening it gives the plaintext back.
        let (_, aad0, ct0) = ENCRYPTIONS[0];
        let envelope = seal_with_info(
            &unhex(INFO),
            &station.public_key(),
            &unhex(aad0),
            &unhex(PT),
            &mut Rng010(&mut Fixed(unhex(IKM_E))),
        )
        .unwrap();
        assert_eq!(hex::encode(envelope.enc), ENC);
        assert_eq!(hex::encode(&envelope.ciphertext), ct0);
        let opened = open_with_info(
            &unhex(INFO),
            &station,
            &envelope.enc,
            &envelope.ciphertext,
            &unhex(aad0),
        )
        .unwrap();
        assert_eq!(opened.expose(), unhex(PT).as_slice());

        // The same suite's context gives every published ciphertext at its sequence number.
        let mut fixed = Fixed(unhex(IKM_E));
        let (enc, mut sender) = hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(
            &OpModeS::Base,
            &public,
            &unhex(INFO),
            &mut Rng010(&mut fixed),
        )
        .unwrap();
        assert_eq!(hex::encode(enc.to_bytes()), ENC);
        let mut receiver = hpke::setup_receiver::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &station.secret,
            &enc,
            &unhex(INFO),
        )
        .unwrap();
        let mut next = 0;
        for (seq, aad, ct) in ENCRYPTIONS {
            while next < seq {
                // Sequence numbers the vectors skip still advance both contexts.
                let filler = sender.seal(b"", b"").unwrap();
                receiver.open(&filler, b"").unwrap();
                next += 1;
            }
            assert_eq!(
                hex::encode(sender.seal(&unhex(PT), &unhex(aad)).unwrap()),
                ct
            );
            assert_eq!(receiver.open(&unhex(ct), &unhex(aad)).unwrap(), unhex(PT));
            next += 1;
        }
    }

    fn job() -> (Binding, StationSecretKey) {
        let binding = Binding::new(
            "0b6f3c2e-7d4e-4a1b-9c2d-3e4f5a6b7c8d",
            "paris-1",
            b"sealed vsc bytes",
        )
        .unwrap();
        (binding, StationSecretKey::generate(&mut OsRng))
    }

    const PASSWORD: &str = "7K2M-Q9TD-4HXR-8WBN-3FJC-ZE6P-0VGS";

    #[test]
    fn an_envelope_opens_with_its_key_and_binding() {
        let (binding, key) = job();
        let envelope = seal(PASSWORD, &key.public_key(), &binding, &mut OsRng).unwrap();
        assert_eq!(envelope.ciphertext.len(), PASSWORD.len() + TAG_LEN);
        let opened = open(&envelope, &key, &binding).unwrap();
        assert_eq!(opened.expose(), PASSWORD.as_bytes());
        let parts =
            open_parts(&envelope.enc, &envelope.ciphertext, &binding.to_aad(), &key).unwrap();
        assert_eq!(parts.expose(), PASSWORD.as_bytes());
        // Two seals of one password differ (a fresh ephemeral key each time).
        let again = seal(PASSWORD, &key.public_key(), &binding, &mut OsRng).unwrap();
        assert_ne!(again.enc, envelope.enc);
    }

    #[test]
    fn every_wrong_envelope_fails_with_the_one_error() {
        let (binding, key) = job();
        let envelope = seal(PASSWORD, &key.public_key(), &binding, &mut OsRng).unwrap();
        let other_key = StationSecretKey::generate(&mut OsRng);
        let vsc_sha = *binding.vsc_sha256();
        let moved = [
            Binding::from_digest("a-different-job", "paris-1", vsc_sha).unwrap(),
            Binding::from_digest(binding.job_id(), "lyon-2", vsc_sha).unwrap(),
            Binding::new(binding.job_id(), "paris-1", b"another vsc").unwrap(),
        ];
        let mut failures = Vec::new();
        for other in &moved {
            failures.push(open(&envelope, &key, other));
        }
        failures.push(open(&envelope, &other_key, &binding));
        let mut truncated = envelope.clone();
        truncated.ciphertext.pop();
        failures.push(open(&truncated, &key, &binding));
        let mut short = envelope.clone();
        short.ciphertext.truncate(TAG_LEN - 1);
        failures.push(open(&short, &key, &binding));
        for i in 0..envelope.ciphertext.len() {
            let mut flipped = envelope.clone();
            flipped.ciphertext[i] ^= 0x01;
            failures.push(open(&flipped, &key, &binding));
        }
        for i in 0..KEY_LEN {
            let mut flipped = envelope.clone();
            flipped.enc[i] ^= 0x80;
            failures.push(open(&flipped, &key, &binding));
        }
        let aad = binding.to_aad();
        failures.push(open_parts(
            &envelope.enc[1..],
            &envelope.ciphertext,
            &aad,
            &key,
        ));
        failures.push(open_parts(
            &envelope.enc,
            &envelope.ciphertext,
            &aad[1..],
            &key,
        ));
        failures.push(open_parts(&envelope.enc, &envelope.ciphertext, b"", &key));
        let mut long_aad = aad.clone();
        long_aad.push(0);
        failures.push(open_parts(
            &envelope.enc,
            &envelope.ciphertext,
            &long_aad,
            &key,
        ));
        failures.push(open_parts(
            &envelope.enc,
            &[0; MAX_CIPHERTEXT + 1],
            &aad,
            &key,
        ));
        for failure in failures {
            assert_eq!(failure, Err(EnvelopeError::Invalid));
        }
        let message = EnvelopeError::Invalid.to_string();
        assert!(
            !message.contains(PASSWORD) && !message.contains("tag"),
            "{message}"
        );
    }

    #[test]
    fn batch_envelopes_open_each_with_its_own_binding_only() {
        let (binding, key) = job();
        let sealer = StationSealer::new(&key.public_key(), &mut OsRng).unwrap();
        let second = Binding::from_digest("job-2", "paris-1", [3; 32]).unwrap();
        let first_envelope = sealer.seal(PASSWORD, &binding, &mut OsRng).unwrap();
        let second_envelope = sealer.seal("a chosen one", &second, &mut OsRng).unwrap();
        // One encapsulation for both; each ciphertext is a nonce, the password, a tag.
        assert_eq!(first_envelope.enc, second_envelope.enc);
        assert_eq!(
            first_envelope.ciphertext.len(),
            NONCE_LEN + PASSWORD.len() + TAG_LEN
        );
        assert!(!first_envelope
            .ciphertext
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes()));
        assert_eq!(
            open(&first_envelope, &key, &binding).unwrap().expose(),
            PASSWORD.as_bytes()
        );
        assert_eq!(
            open_parts(
                &second_envelope.enc,
                &second_envelope.ciphertext,
                &second.to_aad(),
                &key
            )
            .unwrap()
            .expose(),
            b"a chosen one"
        );
        // Swapped between the two jobs, to another station, or altered: the one error.
        let other_key = StationSecretKey::generate(&mut OsRng);
        let mut failures = vec![
            open(&first_envelope, &key, &second),
            open(&second_envelope, &key, &binding),
            open(&first_envelope, &other_key, &binding),
        ];
        for i in 0..first_envelope.ciphertext.len() {
            let mut flipped = first_envelope.clone();
            flipped.ciphertext[i] ^= 0x01;
            failures.push(open(&flipped, &key, &binding));
        }
        let mut short = first_envelope.clone();
        short.ciphertext.truncate(NONCE_LEN + TAG_LEN - 1);
        failures.push(open(&short, &key, &binding));
        for failure in failures {
            assert_eq!(failure, Err(EnvelopeError::Invalid));
        }
        // A second sealer for the same station encapsulates afresh.
        let again = StationSealer::new(&key.public_key(), &mut OsRng).unwrap();
        assert_ne!(
            again.seal(PASSWORD, &binding, &mut OsRng).unwrap().enc,
            first_envelope.enc
        );
        assert!(!format!("{sealer:?}").contains(PASSWORD));
    }

    #[test]
    fn a_batch_key_is_the_exported_secret_of_the_label_and_binding() {
        // Derived by hand from the HPKE context: the exporter context is the label, then the
        // binding's encoding; AES-256-GCM under that key with the envelope's own nonce.
        let (binding, key) = job();
        let sealer = StationSealer::new(&key.public_key(), &mut OsRng).unwrap();
        let envelope = sealer.seal(PASSWORD, &binding, &mut OsRng).unwrap();
        let mut exported = [0; 32];
        let mut context = BATCH_KEY_LABEL.to_vec();
        context.extend_from_slice(&binding.to_aad());
        sealer.context.export(&context, &mut exported).unwrap();
        let cipher = Aes256Gcm::new_from_slice(&exported).unwrap();
        let (nonce, rest) = envelope.ciphertext.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plain = body.to_vec();
        cipher
            .decrypt_inout_detached(
                &Nonce::try_from(nonce).unwrap(),
                &binding.to_aad(),
                plain.as_mut_slice().into(),
                &Tag::try_from(tag).unwrap(),
            )
            .unwrap();
        assert_eq!(plain, PASSWORD.as_bytes());
    }

    #[test]
    fn a_password_too_long_for_an_envelope_is_refused_before_sealing() {
        let (binding, key) = job();
        let long = "x".repeat(MAX_CIPHERTEXT);
        let sealer = StationSealer::new(&key.public_key(), &mut OsRng).unwrap();
        assert_eq!(
            sealer.seal(&long, &binding, &mut OsRng).unwrap_err(),
            EnvelopeError::PasswordTooLong(MAX_CIPHERTEXT)
        );
        assert_eq!(
            seal(&long, &key.public_key(), &binding, &mut OsRng).unwrap_err(),
            EnvelopeError::PasswordTooLong(MAX_CIPHERTEXT)
        );
        let longest = "x".repeat(MAX_CIPHERTEXT - NONCE_LEN - TAG_LEN);
        let envelope = sealer.seal(&longest, &binding, &mut OsRng).unwrap();
        assert_eq!(envelope.ciphertext.len(), MAX_CIPHERTEXT);
        assert!(open(&envelope, &key, &binding).is_ok());
    }

    #[test]
    fn a_binding_round_trips_through_its_encoding() {
        let (binding, _) = job();
        let aad = binding.to_aad();
        assert!(aad.starts_with(AAD_MAGIC));
        assert_eq!(Binding::from_aad(&aad).unwrap(), binding);
        assert_eq!(
            Binding::new("", "b", b"x"),
            Err(EnvelopeError::BadBinding { field: "job id" })
        );
        assert_eq!(
            Binding::new("j", &"b".repeat(256), b"x"),
            Err(EnvelopeError::BadBinding { field: "branch id" })
        );
        // Lengths keep the fields apart: ("ab", "c") and ("a", "bc") differ.
        let sha = [7; 32];
        assert_ne!(
            Binding::from_digest("ab", "c", sha).unwrap().to_aad(),
            Binding::from_digest("a", "bc", sha).unwrap().to_aad()
        );
    }

    #[test]
    fn keys_round_trip_and_never_show_their_secret() {
        let key = StationSecretKey::generate(&mut OsRng);
        let text = key.to_file_text();
        let back = StationSecretKey::from_file_text(text.expose()).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let secret_hex = hex::encode(key.to_bytes().expose());
        let shown = format!("{key:?} {text:?}");
        assert!(!shown.contains(&secret_hex), "{shown}");
        assert!(shown.contains(&key.public_key().fingerprint()), "{shown}");
        for bad in ["", "vsc-station-key/1", "vsc-station-key/1 zz", "other 00"] {
            assert_eq!(
                StationSecretKey::from_file_text(bad).unwrap_err(),
                EnvelopeError::BadKeyFile
            );
        }
        let public = key.public_key();
        assert_eq!(
            StationPublicKey::from_hex(&public.to_hex().to_uppercase()).unwrap(),
            public
        );
        assert!(matches!(
            StationPublicKey::from_hex("abcd"),
            Err(EnvelopeError::BadPublicKey(_))
        ));
        assert!(matches!(
            StationPublicKey::from_hex("not hex at all"),
            Err(EnvelopeError::BadPublicKey(_))
        ));
    }

    #[test]
    fn the_fingerprint_is_sixteen_bytes_of_sha256_in_groups() {
        let key = StationPublicKey::from_bytes(&[9; 32]).unwrap();
        let digest = hex::encode(Sha256::digest([9; 32]));
        let groups: Vec<&str> = (0..32).step_by(4).map(|i| &digest[i..i + 4]).collect();
        assert_eq!(key.fingerprint(), groups.join(" "));
        assert_eq!(key.fingerprint().len(), 8 * 4 + 7);
    }

    #[test]
    fn low_order_keys_are_refused_when_read() {
        // The points of order 1, 2, 4 and 8 on Curve25519 (u = 0, 1, p - 1, and the two of
        // order 8), and u = p (non-canonical 0).
        let mut p_minus_1 = [0xff; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        let mut p = p_minus_1;
        p[0] = 0xed;
        let low_order = [
            [0; 32],
            {
                let mut one = [0; 32];
                one[0] = 1;
                one
            },
            p_minus_1,
            p,
            hex_key("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
            hex_key("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        ];
        for key in low_order {
            assert_eq!(
                StationPublicKey::from_bytes(&key).unwrap_err(),
                EnvelopeError::UnusableKey,
                "{}",
                hex::encode(key)
            );
            assert_eq!(
                StationPublicKey::from_hex(&hex::encode(key)).unwrap_err(),
                EnvelopeError::UnusableKey
            );
        }
        let station = StationSecretKey::generate(&mut OsRng).public_key();
        assert_eq!(
            StationPublicKey::from_bytes(station.as_bytes()),
            Ok(station)
        );
    }

    fn hex_key(digits: &str) -> [u8; 32] {
        hex::decode(digits).unwrap().try_into().unwrap()
    }
}
