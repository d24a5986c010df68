//! The virtual smart card: its model, its builder (claim 2) and its opener (claim 7).
//!
//! A [`Vsc`] is the image of one real card's logical file structure for one holder: the five
//! areas of claim 3, each encoded as the EF content the card will hold:
//!
//! | area | EF content |
//! |---|---|
//! | uid | the 16 bytes of the UUID (version 7: the build time, then random bits) |
//! | public | BER-TLV data objects, one per public profile field that has a value |
//! | private | BER-TLV data objects, one per private profile field that has a value |
//! | keys | BER-TLV data objects, one per key of the profile (e.g. 32 random bytes for AES-256) |
//! | password | `80` the card password (the VSC password, canonical form), `81` the reset code |
//!
//! The password area is not written to an EF: it becomes the card's credentials. The card's
//! holder PIN starts as the card password and is then replaced by the individual PIN
//! (claim 5); the reset code stays with the VSC so a PIN can be set again later.

use rand_core::CryptoRngCore;
use uuid::Uuid;

use crate::holder::HolderData;
use crate::key::KeyObject;
use crate::password::Password;
use crate::profile::{DataArea, KeySpec, Profile};
use crate::seal::{self, OpenError, SealError, VscImage};
use crate::secret::{SecretBytes, SecretString};
use crate::tlv;

/// Tag of the card password in the password area.
const TAG_CARD_PASSWORD: &[u8] = &[0x80];
/// Tag of the reset code in the password area.
const TAG_RESET_CODE: &[u8] = &[0x81];

/// An opened (or freshly built) virtual smart card.
#[derive(Debug, Clone)]
pub struct Vsc {
    profile: Profile,
    uid: Uuid,
    public: Vec<u8>,
    private: SecretBytes,
    keys: SecretBytes,
    password: SecretBytes,
}

/// A VSC built and sealed in one step, as a batch build produces it.
#[derive(Debug)]
pub struct SealedVsc {
    /// The VSC's UID (also its file name, `<uid>.vsc`).
    pub uid: Uuid,
    /// The generated password, for the separate channel to the branch.
    pub password: Password,
    /// The sealed container bytes.
    pub bytes: Vec<u8>,
}

/// Why a VSC could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The holder's data does not fit the room the profile gives its area on the card.
    #[error("the {area} area needs {needed} bytes but profile {profile} gives it only {size} on the card: shorten the data or give the area more room in the profile")]
    AreaTooLarge {
        /// Area name.
        area: &'static str,
        /// Encoded size.
        needed: usize,
        /// EF size.
        size: usize,
        /// Profile id.
        profile: String,
    },
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// Why a sealed VSC could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenVscError {
    /// The container itself could not be opened (wrong password, damaged file, ...).
    #[error(transparent)]
    Container(#[from] OpenError),
    /// The VSC names a profile this program does not ship.
    #[error("this VSC was built with profile \"{0}\", which this program does not know: install that profile or use the issuer's program version")]
    UnknownProfile(String),
    /// The decrypted areas are not what the profile describes.
    #[error("the VSC's {area} area is malformed ({reason}): the file was produced by a faulty program; ask the issuer for a new VSC")]
    BadArea {
        /// Area name.
        area: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A VSC's identity and encoded areas, before they are put in a [`Vsc`] or sealed.
struct Areas {
    uid: Uuid,
    public: Vec<u8>,
    private: SecretBytes,
    keys: SecretBytes,
    password: SecretBytes,
}

impl Areas {
    /// Steps 2-10 of claim 2 (see [`Vsc::build`]); checks the areas fit the profile's EFs.
    fn build(
        profile: &Profile,
        holder: &HolderData,
        built_at_ms: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Areas, Password), BuildError> {
        let password = Password::generate(rng);
        let uid = time_ordered_uid(built_at_ms, rng);

        let public = tlv::encode_all(
            holder
                .public_values()
                .map(|(field, value)| (field.tag.as_slice(), value.as_bytes())),
        );
        let private = tlv::encode_all(
            holder
                .private_values()
                .map(|(field, value)| (field.tag.as_slice(), value.as_bytes())),
        );
        let created = holder.checked_on().unix_midnight().unwrap_or(0);
        let key_values: Vec<SecretBytes> = profile
            .keys_objects
            .iter()
            .map(|key| KeyObject::generate(key.kind, created, rng).encode())
            .collect();
        let keys = tlv::encode_all(
            profile
                .keys_objects
                .iter()
                .zip(&key_values)
                .map(|(spec, value)| (spec.tag.as_slice(), value.expose())),
        );
        let mut reset_code = SecretBytes::new(vec![0u8; usize::from(profile.reset.length)]);
        rng.fill_bytes(reset_code.expose_mut());
        let card_password = crate::password::canonical_generated(password.expose())
            .expect("a generated password is always canonical");
        let password_area = tlv::encode_all(
            [
                (TAG_CARD_PASSWORD, card_password.expose().as_bytes()),
                (TAG_RESET_CODE, reset_code.expose()),
            ]
            .into_iter(),
        );
        let areas = Areas {
            uid,
            public: public.expose().to_vec(),
            private,
            keys,
            password: password_area,
        };
        check_sizes(
            profile,
            [areas.public.len(), areas.private.len(), areas.keys.len()],
        )?;
        Ok((areas, password))
    }
}

/// Whether the public, private and keys areas (`lens`, in that order) fit the card.
fn check_sizes(p: &Profile, lens: [usize; 3]) -> Result<(), BuildError> {
    let [public, private, keys] = lens;
    for (area, len, size) in [
        ("public", public, Some(p.area_capacity(DataArea::Public))),
        ("private", private, Some(p.area_capacity(DataArea::Private))),
        ("keys", keys, p.keys_capacity()),
    ] {
        let Some(size) = size else {
            continue;
        };
        if len > size {
            return Err(BuildError::AreaTooLarge {
                area,
                needed: len,
                size,
                profile: p.id.clone(),
            });
        }
    }
    Ok(())
}

/// A UUID version 7 (RFC 9562 §5.7): the 48-bit Unix time in milliseconds `built_at_ms`, then
/// 74 random bits (a collision needs two builds in the same millisecond drawing the same 74
/// bits). UIDs built later sort later, so a database keyed by them (the issuer's jobs) appends
/// to its indexes instead of rewriting pages all over them. The UID tells when the VSC was
/// built, which its keys' creation date tells to the day anyway.
fn time_ordered_uid(built_at_ms: u64, rng: &mut impl CryptoRngCore) -> Uuid {
    let mut random = [0u8; 10];
    rng.fill_bytes(&mut random);
    uuid::Builder::from_unix_timestamp_millis(built_at_ms, &random).into_uuid()
}

impl Vsc {
    /// Creates the file structure from the profile, assigns a generated password and a UUID
    /// (version 7, from `built_at_ms`, the build's time in milliseconds since the Unix epoch),
    /// places the holder's data objects and a fresh key per profile key (claim 2, steps 2-10).
    pub fn build(
        profile: &Profile,
        holder: &HolderData,
        built_at_ms: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Vsc, Password), BuildError> {
        let (areas, password) = Areas::build(profile, holder, built_at_ms, rng)?;
        let vsc = Vsc {
            profile: profile.clone(),
            uid: areas.uid,
            public: areas.public,
            private: areas.private,
            keys: areas.keys,
            password: areas.password,
        };
        Ok((vsc, password))
    }

    /// Builds and seals in one step, for batch building: the same VSC as [`Vsc::build`] then
    /// [`Vsc::seal`], without copying the profile or the areas on the way.
    pub fn build_sealed(
        profile: &Profile,
        holder: &HolderData,
        built_at_ms: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SealedVsc, BuildError> {
        let (areas, password) = Areas::build(profile, holder, built_at_ms, rng)?;
        let uid = areas.uid;
        let image = VscImage {
            uid,
            profile_id: profile.id.clone(),
            profile_hash: profile.hash(),
            public: areas.public,
            private: areas.private,
            keys: areas.keys,
            password: areas.password,
        };
        let bytes = seal::seal(&image, &password, rng)?;
        Ok(SealedVsc {
            uid,
            password,
            bytes,
        })
    }

    /// Stores the VSC as a sealed container (claim 2, step 12) under `password`.
    pub fn seal(
        &self,
        password: &Password,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<u8>, SealError> {
        seal::seal(&self.image(), password, rng)
    }

    /// The plain image the container stores.
    pub fn image(&self) -> VscImage {
        VscImage {
            uid: self.uid,
            profile_id: self.profile.id.clone(),
            profile_hash: self.profile.hash(),
            public: self.public.clone(),
            private: self.private.clone(),
            keys: self.keys.clone(),
            password: self.password.clone(),
        }
    }

    /// Loads a sealed VSC with its password (claim 7), resolving its profile among the
    /// shipped ones.
    #[cfg(feature = "profile-text")]
    pub fn open(bytes: &[u8], password: &str) -> Result<Vsc, OpenVscError> {
        let header = seal::read_header(bytes)?;
        let profile = Profile::builtin(&header.profile_id)
            .ok_or_else(|| OpenVscError::UnknownProfile(header.profile_id.clone()))?;
        Vsc::open_with_profile(bytes, password, &profile)
    }

    /// Loads a sealed VSC with its password against a given profile.
    pub fn open_with_profile(
        bytes: &[u8],
        password: &str,
        profile: &Profile,
    ) -> Result<Vsc, OpenVscError> {
        let image = seal::open(bytes, password, &profile.hash())?;
        let vsc = Vsc {
            profile: profile.clone(),
            uid: image.uid,
            public: image.public,
            private: image.private,
            keys: image.keys,
            password: image.password,
        };
        vsc.check_areas()?;
        Ok(vsc)
    }

    fn check_areas(&self) -> Result<(), OpenVscError> {
        let bad = |area, reason: String| OpenVscError::BadArea { area, reason };
        for (area, bytes) in [
            ("public", self.public.as_slice()),
            ("private", self.private.expose()),
            ("keys", self.keys.expose()),
            ("password", self.password.expose()),
        ] {
            tlv::walk(bytes).map_err(|e| bad(area, e.to_string()))?;
        }
        if self.card_password().is_empty() || self.reset_code().is_empty() {
            return Err(bad(
                "password",
                "the card password or reset code is missing".into(),
            ));
        }
        check_sizes(
            &self.profile,
            [self.public.len(), self.private.len(), self.keys.len()],
        )
        .map_err(|e| bad("data", e.to_string()))
    }

    /// The card profile this VSC images.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The VSC's unique identifier.
    pub fn uid(&self) -> Uuid {
        self.uid
    }

    /// Content of the uid EF: the UUID's 16 bytes.
    pub fn uid_area(&self) -> [u8; 16] {
        *self.uid.as_bytes()
    }

    /// Content of the public EF.
    pub fn public_area(&self) -> &[u8] {
        &self.public
    }

    /// Content of the private EF (secret).
    pub fn private_area(&self) -> &SecretBytes {
        &self.private
    }

    /// Content of the keys EF (secret).
    pub fn keys_area(&self) -> &SecretBytes {
        &self.keys
    }

    fn password_object(&self, tag: &[u8]) -> SecretBytes {
        tlv::walk(self.password.expose())
            .ok()
            .and_then(|objects| objects.into_iter().find(|(t, _)| *t == tag))
            .map(|(_, value)| SecretBytes::from_slice(value))
            .unwrap_or_default()
    }

    /// The card password: the holder PIN's value until the individual PIN replaces it.
    pub fn card_password(&self) -> SecretBytes {
        self.password_object(TAG_CARD_PASSWORD)
    }

    /// The reset code (the card's reset credential), kept by the VSC.
    pub fn reset_code(&self) -> SecretBytes {
        self.password_object(TAG_RESET_CODE)
    }

    /// The public fields as `(field name, value)`, in area order.
    pub fn public_fields(&self) -> Vec<(String, String)> {
        self.fields(DataArea::Public, &self.public)
            .into_iter()
            .map(|(name, value)| (name, value.expose().to_owned()))
            .collect()
    }

    /// The private fields as `(field name, value)`, values secret.
    pub fn private_fields(&self) -> Vec<(String, SecretString)> {
        self.fields(DataArea::Private, self.private.expose())
    }

    fn fields(&self, area: DataArea, bytes: &[u8]) -> Vec<(String, SecretString)> {
        named_fields(&self.profile, area, bytes)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| (name, SecretString::new(value)))
            .collect()
    }

    /// The value of one public field, if present.
    pub fn public_value(&self, field: &str) -> Option<String> {
        self.public_fields()
            .into_iter()
            .find(|(name, _)| name == field)
            .map(|(_, value)| value)
    }

    /// Who the VSC is for, from its public area as the profile's `who` fields name it
    /// (`E-1002 Siobhán O'Brien`; see [`HolderData::who`]).
    pub fn holder(&self) -> String {
        crate::holder::who_label(&self.profile.who, |field| self.public_value(field))
    }

    /// The holder's name (the profile's `who.name`), empty if absent.
    pub fn holder_name(&self) -> String {
        self.public_value(&self.profile.who.name)
            .unwrap_or_default()
    }

    /// The issuer's name (the profile's `who.issuer`), empty if the profile names none.
    pub fn issuer_name(&self) -> String {
        self.who_value(self.profile.who.issuer.as_deref())
            .unwrap_or_default()
    }

    /// The day the VSC was issued (the profile's `who.issued_on`), when it records one.
    pub fn issued_on(&self) -> Option<String> {
        self.who_value(self.profile.who.issued_on.as_deref())
    }

    fn who_value(&self, field: Option<&str>) -> Option<String> {
        field.and_then(|field| self.public_value(field))
    }

    /// The key objects, with their profile entries, in profile order. A key object missing
    /// or malformed is left out (opening a VSC checks them all: [`Vsc::open`]).
    pub fn key_objects(&self) -> Vec<(KeySpec, KeyObject)> {
        let objects = tlv::walk(self.keys.expose()).unwrap_or_default();
        self.profile
            .keys_objects
            .iter()
            .filter_map(|spec| {
                let (_, value) = objects
                    .iter()
                    .find(|(tag, _)| *tag == spec.tag.as_slice())?;
                Some((spec.clone(), KeyObject::decode(spec.kind, value).ok()?))
            })
            .collect()
    }

    /// Each key as `(key name, fingerprint)`, in hex: the OpenPGP version 4 fingerprint of a
    /// key in an OpenPGP card's slot (what the card and `gpg --card-status` show), otherwise
    /// the first 8 bytes of the SHA-256 of the key's public key (of the key itself for a
    /// symmetric key).
    pub fn key_fingerprints(&self) -> Vec<(String, String)> {
        use sha2::Digest;
        self.key_objects()
            .into_iter()
            .map(|(spec, key)| {
                let fingerprint = match spec.slot.and_then(|slot| key.openpgp_fingerprint(slot)) {
                    Some(fingerprint) => hex::encode_upper(fingerprint),
                    None => {
                        let material = if key.public_key().is_empty() {
                            key.private_key().expose()
                        } else {
                            key.public_key()
                        };
                        hex::encode_upper(&sha2::Sha256::digest(material)[..8])
                    }
                };
                (spec.name, fingerprint)
            })
            .collect()
    }
}

/// The fields of a public area built for `profile`, as a sealed VSC's header carries it in
/// clear (`seal::Header::public`): `(field name, value)` in area order, a tag the profile does
/// not name as `tag 5F20`; `None` if the bytes are not BER-TLV. What the issuer service checks
/// an uploaded VSC against its holder record with, without the password.
pub fn read_public_area(profile: &Profile, public: &[u8]) -> Option<Vec<(String, String)>> {
    named_fields(profile, DataArea::Public, public)
}

fn named_fields(profile: &Profile, area: DataArea, bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let objects = tlv::walk(bytes).ok()?;
    Some(
        objects
            .into_iter()
            .map(|(tag, value)| {
                let name = profile
                    .fields
                    .iter()
                    .find(|f| f.area == area && f.tag == tag)
                    .map(|f| f.name.clone())
                    .unwrap_or_else(|| format!("tag {}", hex::encode_upper(tag)));
                (name, String::from_utf8_lossy(value).into_owned())
            })
            .collect(),
    )
}
