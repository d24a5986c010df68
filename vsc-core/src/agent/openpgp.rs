//! The card agent of the OpenPGP card application, version 3.4 (the "Functional
//! Specification of the OpenPGP application on ISO Smart Card Operating Systems", cited below
//! by section): YubiKey, Nitrokey, Gnuk, SmartPGP and `opcard` speak it.
//!
//! Where the VSC goes on the card:
//!
//! | VSC | OpenPGP card |
//! |---|---|
//! | uid | private use DO `0102` (readable by anyone, written with PW3): the UUID and a state byte, `00` while the personalization runs, `01` once it is activated |
//! | public fields | their own DO when the field's tag is one (`5B` Name, `5E` Login data, `5F2D` Language, `5F35` Sex, `5F50` URL); the others as BER-TLV in private use DO `0101` (readable by anyone, written with PW1) |
//! | private fields | BER-TLV in private use DO `0103` (read and written with PW1) |
//! | keys | the signature, decryption and authentication slots: algorithm attributes, the imported key, its fingerprint and creation date |
//! | card password | PW3, the admin PIN |
//! | reset code | the resetting code (DO `D3`) |
//! | individual PIN | PW1, set with PW3 after the read-back, or later with the resetting code |
//!
//! The UUID is written first, marked as running: a card pulled at any APDU names the VSC
//! that started it, which then erases it (blocking PW3, TERMINATE DF, ACTIVATE FILE: the
//! card's factory reset, §7.2.16-17) and starts again. A card that names no VSC but holds
//! keys or data is refused as someone else's; this agent never erases a card its VSC did not
//! start.

use std::sync::Arc;

use uuid::Uuid;

use crate::apdu::{Command, Response, StatusWord, SwPattern};
use crate::field::{DataArea, FieldSpec};
use crate::key::KeyObject;
use crate::pin::Pin;
use crate::profile::{openpgp, KeyKind, KeySlot, Profile};
use crate::secret::SecretBytes;
use crate::tlv;
use crate::transport::Batch;
use crate::vsc::Vsc;

use super::{AgentError, CardAgent, CardState, HolderCredential, Link, Probe, StepInput};

/// The OpenPGP application's AID prefix: RID D2 76 00 01 24, application 01 (§4.2.1).
const AID: [u8; 6] = [0xD2, 0x76, 0x00, 0x01, 0x24, 0x01];
/// PW1 and PW3 as every card ships them (§4.3).
const FACTORY_PW1: &[u8] = b"123456";
const FACTORY_PW3: &[u8] = b"12345678";
/// PW references (P2 of VERIFY, §7.2.2): PW1 for signing, PW1 for other operations, PW3.
const PW1_SIGN: u8 = 0x81;
const PW1_OTHER: u8 = 0x82;
const PW3: u8 = 0x83;
/// A value that is never PW3: this product's admin PINs are 28 Base32 characters and the
/// factory one is digits. Presented until PW3 blocks, to erase an unfinished card.
const NOT_PW3: &[u8] = b"vsc-erase";
/// The state byte after the UUID in DO `0102`.
const RUNNING: u8 = 0x00;
const ACTIVATED: u8 = 0x01;
/// SELECT answered "selected file in termination state" (ISO 7816-4 §5.6, §7.2.16).
const SW_TERMINATED: StatusWord = StatusWord(0x6285);

/// DO tags (§4.4.1).
const DO_APPLICATION_DATA: [u8; 2] = [0x00, 0x6E];
const DO_CARDHOLDER: [u8; 2] = [0x00, 0x65];
const DO_PRIVATE_1: [u8; 2] = [0x01, 0x01];
const DO_PRIVATE_2: [u8; 2] = [0x01, 0x02];
const DO_PRIVATE_3: [u8; 2] = [0x01, 0x03];
const DO_RESETTING_CODE: [u8; 2] = [0x00, 0xD3];

/// The agent for `layout = "openpgp-card"` profiles.
#[derive(Debug, Clone)]
pub struct OpenPgpAgent {
    /// The profile's ceiling of the card's limits.
    ceiling: Link,
    fields: Vec<Arc<FieldSpec>>,
}

impl OpenPgpAgent {
    /// An agent for the OpenPGP cards `profile` describes.
    pub fn new(profile: &Profile) -> Self {
        Self {
            ceiling: Link::of_profile(profile),
            fields: profile.fields.clone(),
        }
    }

    /// The public fields stored in a standard DO of their own, as `(DO tag, field)`.
    fn standard_fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.fields
            .iter()
            .map(Arc::as_ref)
            .filter(|f| f.area == DataArea::Public && is_standard(&f.tag))
    }

    /// The content of a private use DO: the area's fields that have no standard DO, as
    /// BER-TLV, in area order.
    fn container(&self, vsc: &Vsc, area: DataArea) -> SecretBytes {
        let bytes = match area {
            DataArea::Public => SecretBytes::from_slice(vsc.public_area()),
            DataArea::Private => vsc.private_area().clone(),
        };
        let objects = tlv::walk(bytes.expose()).unwrap_or_default();
        tlv::encode_all(objects.into_iter().filter(|(tag, _)| !is_standard(tag)))
    }

    /// The value of the standard DO `tag` in the VSC (empty when the field has no value).
    fn standard_value(vsc: &Vsc, tag: &[u8]) -> Vec<u8> {
        tlv::walk(vsc.public_area())
            .unwrap_or_default()
            .into_iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.to_vec())
            .unwrap_or_default()
    }

    /// The key objects of the VSC, by slot.
    fn keys(vsc: &Vsc) -> Vec<(KeySlot, KeyObject)> {
        vsc.key_objects()
            .into_iter()
            .filter_map(|(spec, key)| Some((spec.slot?, key)))
            .collect()
    }

    fn uid_value(vsc: &Vsc, state: u8) -> Vec<u8> {
        let mut value = vsc.uid().as_bytes().to_vec();
        value.push(state);
        value
    }
}

impl CardAgent for OpenPgpAgent {
    fn card_type(&self) -> &'static str {
        "OpenPGP card"
    }

    fn probe(&self) -> Batch {
        let mut batch = Batch::new();
        batch.push(select());
        batch.push(get_data(DO_APPLICATION_DATA));
        batch.push(get_data(DO_CARDHOLDER));
        batch.push(get_data(DO_PRIVATE_2));
        batch
    }

    fn classify(&self, responses: &[Response]) -> Result<Probe, AgentError> {
        let Some(selected) = responses.first() else {
            return Err(AgentError::Unexpected("the card sent no answer".into()));
        };
        if selected.sw == SW_TERMINATED {
            // A factory reset stopped between TERMINATE DF and ACTIVATE FILE: whatever the
            // card held is gone; activating it gives a blank card.
            return Ok(Probe {
                state: CardState::Unfinished { owner: None },
                link: self.ceiling,
            });
        }
        if selected.sw != StatusWord::OK {
            return Err(AgentError::WrongCardType(format!(
                "it has no OpenPGP application: SELECT of it answered {}, {}",
                selected.sw,
                selected.sw.status()
            )));
        }
        let answer = |i: usize, what: &str| -> Result<&Response, AgentError> {
            match responses.get(i) {
                Some(r) if r.sw == StatusWord::OK => Ok(r),
                Some(r) => Err(AgentError::Unexpected(format!(
                    "the card refused to read its {what} ({})",
                    r.sw
                ))),
                None => Err(AgentError::Unexpected("the probe stopped early".into())),
            }
        };
        let application = answer(1, "application related data")?.data();
        let cardholder = answer(2, "cardholder related data")?.data();
        let owner_do = answer(3, "private use data object 0102")?.data();
        let link = link_of(application, self.ceiling);
        let state = match owner_do {
            [] => {
                let has_keys = tlv::find(application, &[0xC5])
                    .is_some_and(|fps| fps.iter().any(|&b| b != 0));
                let has_name = tlv::find(cardholder, &[0x5B]).is_some_and(|n| !n.is_empty());
                if has_keys || has_name {
                    return Err(AgentError::Unexpected(
                        "this OpenPGP card already holds keys or a name of an owner this product does not know; it only writes to a blank card: if the card may be reused, reset it to its factory state first (gpg --card-edit, admin, factory-reset)".into(),
                    ));
                }
                CardState::Blank
            }
            [uuid @ .., state] if uuid.len() == 16 && (*state == RUNNING || *state == ACTIVATED) => {
                let owner = Uuid::from_slice(uuid)
                    .map_err(|_| AgentError::Unexpected("DO 0102 holds no UUID".into()))?;
                if *state == ACTIVATED {
                    CardState::Personalized { owner }
                } else {
                    CardState::Unfinished { owner: Some(owner) }
                }
            }
            _ => {
                return Err(AgentError::Unexpected(
                    "the card's private use data object 0102 holds data that is not a VSC's: the card belongs to an owner this product does not know; it only writes to a blank card".into(),
                ))
            }
        };
        Ok(Probe { state, link })
    }

    fn erase(&self, step: &StepInput) -> Batch {
        let mut batch = Batch::new();
        let terminated = step
            .earlier
            .first()
            .and_then(|probe| probe.responses.first())
            .is_some_and(|r| r.sw == SW_TERMINATED);
        if !terminated {
            // TERMINATE DF needs PW3 verified or blocked (§7.2.16); its value may be the
            // factory one or this VSC's, depending on where the run stopped: block it.
            let tries = pw3_tries(step).unwrap_or(3).max(1);
            for _ in 0..tries {
                batch.push_expecting(verify(PW3, SecretBytes::from_slice(NOT_PW3)), any_sw());
            }
            // §7.2.16 TERMINATE DF.
            batch.push(Command::new(0x00, 0xE6, 0x00, 0x00));
        }
        // §7.2.17 ACTIVATE FILE: the card is back to its factory state, the application
        // selected.
        batch.push(Command::new(0x00, 0x44, 0x00, 0x00));
        batch
    }

    fn write(&self, step: &StepInput) -> Batch {
        let vsc = step.vsc;
        let mut batch = Batch::new();
        batch.push(verify(PW3, SecretBytes::from_slice(FACTORY_PW3)));
        // The UUID first, marked as running: from here on the card names this VSC.
        batch.push(put_data(DO_PRIVATE_2, Self::uid_value(vsc, RUNNING)));
        for field in self.standard_fields() {
            let value = Self::standard_value(vsc, &field.tag);
            if !value.is_empty() {
                batch.push(put_data(do_tag(&field.tag), value));
            }
        }
        let public = self.container(vsc, DataArea::Public);
        let private = self.container(vsc, DataArea::Private);
        if !public.is_empty() || !private.is_empty() {
            // DOs 0101 and 0103 are written with PW1 verified for other operations (§4.4.1).
            batch.push(verify(PW1_OTHER, SecretBytes::from_slice(FACTORY_PW1)));
        }
        if !public.is_empty() {
            batch.push(put_data(DO_PRIVATE_1, public.expose().to_vec()));
        }
        if !private.is_empty() {
            batch.push(put_data_secret(DO_PRIVATE_3, private));
        }
        for (slot, key) in Self::keys(vsc) {
            let number = slot_index(slot);
            // §4.4.3.10 algorithm attributes C1-C3, before the key they describe.
            batch.push(put_data(
                [0x00, 0xC1 + number],
                algorithm_attributes(key.kind(), slot),
            ));
            batch.push(import_key(slot, &key));
            if let Some(fingerprint) = key.openpgp_fingerprint(slot) {
                // §4.4.3.5 fingerprints C7-C9, §4.4.3.6 generation dates CE-D0.
                batch.push(put_data([0x00, 0xC7 + number], fingerprint.to_vec()));
            }
            batch.push(put_data(
                [0x00, 0xCE + number],
                key.created().to_be_bytes().to_vec(),
            ));
        }
        // §4.4.3.4 resetting code (DO D3), written with PW3.
        batch.push(put_data_secret(DO_RESETTING_CODE, vsc.reset_code()));
        batch
    }

    fn activate(&self, step: &StepInput) -> Batch {
        let vsc = step.vsc;
        let admin = vsc.card_password();
        let mut old_and_new = SecretBytes::from_slice(FACTORY_PW3);
        old_and_new.extend_from_slice(admin.expose());
        let mut batch = Batch::new();
        // §7.2.3 CHANGE REFERENCE DATA of PW3: factory value, then the VSC's admin PIN.
        batch.push(Command::new(0x00, 0x24, 0x00, PW3).with_sensitive_data(old_and_new));
        batch.push(verify(PW3, admin));
        batch.push(put_data(DO_PRIVATE_2, Self::uid_value(vsc, ACTIVATED)));
        batch
    }

    fn read_back(&self, step: &StepInput, credential: HolderCredential) -> Batch {
        let pw1 = match credential {
            HolderCredential::Initial => SecretBytes::from_slice(FACTORY_PW1),
            HolderCredential::Pin(pin) => pin.to_reference_data(),
        };
        let vsc = step.vsc;
        let public = !self.container(vsc, DataArea::Public).is_empty();
        let private = !self.container(vsc, DataArea::Private).is_empty();
        let mut batch = Batch::new();
        if private {
            // DO 0103 is read with PW1 verified for other operations (§4.4.1).
            batch.push(verify(PW1_OTHER, pw1));
        }
        batch.push(get_data(DO_APPLICATION_DATA));
        batch.push(get_data(DO_CARDHOLDER));
        batch.push(get_data(DO_PRIVATE_2));
        // Only what was written is read: a DO left out keeps the factory value the erase
        // or the blank card gave it, and `check_read_back` skips it alike.
        for field in self.standard_fields() {
            let in_cardholder_data = is_in_cardholder_data(&field.tag);
            if !in_cardholder_data && !Self::standard_value(vsc, &field.tag).is_empty() {
                batch.push(get_data(do_tag(&field.tag)));
            }
        }
        if public {
            batch.push(get_data(DO_PRIVATE_1));
        }
        if private {
            batch.push(get_data(DO_PRIVATE_3));
        }
        for (slot, _) in Self::keys(step.vsc) {
            batch.push(read_public_key(slot));
        }
        batch
    }

    fn check_read_back(
        &self,
        step: &StepInput,
        batch: &Batch,
        responses: &[Response],
    ) -> Result<(), AgentError> {
        if responses.len() != batch.len() {
            return Err(AgentError::Unexpected("the read-back stopped early".into()));
        }
        let vsc = step.vsc;
        let mismatch = |what: &str| AgentError::ObjectMismatch(what.to_owned());
        let read = |tag: [u8; 2]| -> Option<&[u8]> {
            batch
                .items
                .iter()
                .zip(responses)
                .find(|(item, _)| {
                    item.command.ins == 0xCA && [item.command.p1, item.command.p2] == tag
                })
                .map(|(_, r)| r.data())
        };
        if read(DO_PRIVATE_2) != Some(Self::uid_value(vsc, ACTIVATED).as_slice()) {
            return Err(mismatch("private use data object 0102 (the VSC UUID)"));
        }
        let cardholder = read(DO_CARDHOLDER).unwrap_or_default();
        for field in self.standard_fields() {
            let expected = Self::standard_value(vsc, &field.tag);
            if expected.is_empty() {
                // Not written: the card keeps its factory value.
                continue;
            }
            let found = if is_in_cardholder_data(&field.tag) {
                tlv::find(cardholder, &field.tag)
            } else {
                read(do_tag(&field.tag))
            };
            if found.unwrap_or_default() != expected.as_slice() {
                return Err(mismatch(&format!(
                    "{} ({})",
                    field.label,
                    hex::encode_upper(&field.tag)
                )));
            }
        }
        if read(DO_PRIVATE_1).unwrap_or_default() != self.container(vsc, DataArea::Public).expose()
        {
            return Err(mismatch("private use data object 0101 (public fields)"));
        }
        if read(DO_PRIVATE_3).unwrap_or_default() != self.container(vsc, DataArea::Private).expose()
        {
            return Err(mismatch("private use data object 0103 (private fields)"));
        }
        let application = read(DO_APPLICATION_DATA).unwrap_or_default();
        let fingerprints = tlv::find(application, &[0xC5]).unwrap_or_default();
        let dates = tlv::find(application, &[0xCD]).unwrap_or_default();
        let public_keys = batch
            .items
            .iter()
            .zip(responses)
            .filter(|(item, _)| item.command.ins == 0x47)
            .map(|(_, r)| r.data());
        for ((slot, key), answer) in Self::keys(vsc).into_iter().zip(public_keys) {
            let n = usize::from(slot_index(slot));
            let point = tlv::find(answer, &[0x86]).unwrap_or_default();
            // A 25519 point may come back with the 0x40 prefix some cards add.
            let point = match point {
                [0x40, rest @ ..] if rest.len() == 32 => rest,
                other => other,
            };
            let slot_name = slot.as_str();
            if point != key.public_key() {
                return Err(mismatch(&format!("{slot_name} public key")));
            }
            let fingerprint = key.openpgp_fingerprint(slot).unwrap_or_default();
            if fingerprints.get(n * 20..n * 20 + 20) != Some(fingerprint.as_slice()) {
                return Err(mismatch(&format!("{slot_name} key fingerprint")));
            }
            if dates.get(n * 4..n * 4 + 4) != Some(key.created().to_be_bytes().as_slice()) {
                return Err(mismatch(&format!("{slot_name} key creation date")));
            }
        }
        Ok(())
    }

    fn set_pin(&self, step: &StepInput, new: &Pin) -> Batch {
        let mut batch = Batch::new();
        batch.push(verify(PW3, step.vsc.card_password()));
        // §7.2.4 RESET RETRY COUNTER, P1 02: with PW3 verified, the new PW1 only.
        batch.push(
            Command::new(0x00, 0x2C, 0x02, PW1_SIGN).with_sensitive_data(new.to_reference_data()),
        );
        batch.push(verify(PW1_SIGN, new.to_reference_data()));
        batch
    }

    fn reset_pin(&self, step: &StepInput, new: &Pin) -> Batch {
        // The clerk answered a question before this batch; the card may have been reset.
        let mut batch = Batch::new();
        batch.push(select());
        let mut data = step.vsc.reset_code();
        data.extend_from_slice(new.to_reference_data().expose());
        // §7.2.4 RESET RETRY COUNTER, P1 00: the resetting code, then the new PW1.
        batch.push(Command::new(0x00, 0x2C, 0x00, PW1_SIGN).with_sensitive_data(data));
        batch.push(verify(PW1_SIGN, new.to_reference_data()));
        batch
    }
}

/// Whether a public field's tag is a standard DO of its own.
fn is_standard(tag: &[u8]) -> bool {
    openpgp::STANDARD_DOS.iter().any(|(t, _, _)| *t == tag)
}

/// Whether a standard DO comes inside the cardholder related data (DO 65, §4.4.1), which
/// the read-back gets in one GET DATA.
fn is_in_cardholder_data(tag: &[u8]) -> bool {
    matches!(tag, [0x5B] | [0x5F, 0x2D] | [0x5F, 0x35])
}

/// The P1-P2 of GET DATA / PUT DATA for a one- or two-byte DO tag (§7.2.6).
fn do_tag(tag: &[u8]) -> [u8; 2] {
    match tag {
        [one] => [0x00, *one],
        [hi, lo] => [*hi, *lo],
        _ => [0x00, 0x00],
    }
}

/// The slot's number: 0 signature, 1 decryption, 2 authentication (the order of C1-C3,
/// C7-C9, CE-D0 and of the fingerprints in C5).
fn slot_index(slot: KeySlot) -> u8 {
    match slot {
        KeySlot::Signature => 0,
        KeySlot::Decryption => 1,
        KeySlot::Authentication => 2,
    }
}

/// The control reference template naming a slot (§4.4.3.12): `B6`, `B8` or `A4`, empty.
fn crt(slot: KeySlot) -> [u8; 2] {
    match slot {
        KeySlot::Signature => [0xB6, 0x00],
        KeySlot::Decryption => [0xB8, 0x00],
        KeySlot::Authentication => [0xA4, 0x00],
    }
}

/// §4.4.3.10 algorithm attributes: the algorithm id, then the curve's OID.
fn algorithm_attributes(kind: KeyKind, slot: KeySlot) -> Vec<u8> {
    const ED25519: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01];
    const CV25519: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01];
    const P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
    let (algorithm, oid) = match (kind, slot) {
        (KeyKind::X25519, _) => (0x12, CV25519),
        (KeyKind::P256, KeySlot::Decryption) => (0x12, P256),
        (KeyKind::P256, _) => (0x13, P256),
        _ => (0x16, ED25519),
    };
    let mut value = vec![algorithm];
    value.extend_from_slice(oid);
    value
}

/// §4.4.3.12 private key template, sent with PUT DATA odd (`DB`, P1-P2 `3FFF`): the
/// extended header list `4D` holding the slot's CRT, the template `7F48` of lengths (`92`
/// private key, `99` public key) and the concatenation `5F48`. The private key goes
/// big-endian and full length (an X25519 scalar is reversed from RFC 7748's little-endian);
/// the public key is prefixed `40` for the 25519 curves, as a P-256 point is by its `04`.
fn import_key(slot: KeySlot, key: &KeyObject) -> Command {
    let mut private = key.private_key().clone();
    if key.kind() == KeyKind::X25519 {
        private.expose_mut().reverse();
    }
    let mut public = Vec::with_capacity(key.public_key().len() + 1);
    if key.kind() != KeyKind::P256 {
        public.push(0x40);
    }
    public.extend_from_slice(key.public_key());
    let header = length_template(&[(&[0x92], private.len()), (&[0x99], public.len())]);
    let mut concatenation = SecretBytes::new(Vec::with_capacity(private.len() + public.len()));
    concatenation.extend_from_slice(private.expose());
    concatenation.extend_from_slice(&public);
    let mut inner = SecretBytes::new(Vec::with_capacity(concatenation.len() + 32));
    inner.extend_from_slice(&crt(slot));
    tlv::put(inner.expose_mut(), &[0x7F, 0x48], &header);
    tlv::put(inner.expose_mut(), &[0x5F, 0x48], concatenation.expose());
    let mut data = SecretBytes::new(Vec::with_capacity(inner.len() + 4));
    tlv::put(data.expose_mut(), &[0x4D], inner.expose());
    Command::new(0x00, 0xDB, 0x3F, 0xFF).with_sensitive_data(data)
}

/// A template of tags and lengths without values (ISO 7816-4 §8.5.2, as §4.4.3.12 uses it).
fn length_template(entries: &[(&[u8], usize)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, len) in entries {
        tlv::put_header(&mut out, tag, *len);
    }
    out
}

/// What the probe's application related data say of the card's limits (§4.4.3.12 extended
/// length information `7F66`, §4.1.3.3 historical bytes' card capabilities), capped by the
/// profile's.
fn link_of(application: &[u8], ceiling: Link) -> Link {
    let mut link = Link {
        max_command_data: ceiling.max_command_data.min(255),
        max_response_data: ceiling.max_response_data.min(256),
        extended: false,
        chaining: false,
    };
    if let Some(historical) = tlv::find(application, &[0x5F, 0x52]) {
        if let Some(capabilities) = card_capabilities(historical) {
            link.chaining = capabilities & 0x80 != 0;
        }
    }
    if let Some(info) = tlv::find(application, &[0x7F, 0x66]) {
        let sizes: Vec<usize> = tlv::walk(info)
            .unwrap_or_default()
            .into_iter()
            .filter(|(tag, v)| *tag == [0x02] && v.len() == 2)
            .map(|(_, v)| usize::from(u16::from_be_bytes([v[0], v[1]])))
            .collect();
        if let [command, response] = sizes[..] {
            if ceiling.extended {
                link.extended = true;
                link.max_command_data = command.min(ceiling.max_command_data).max(1);
                link.max_response_data = response.min(ceiling.max_response_data).max(1);
            }
        }
    }
    link
}

/// The third byte of the card capabilities (compact TLV tag 7, length 3) in historical bytes
/// whose category indicator is 00 (ISO 7816-4 §8.1.1.2.7).
fn card_capabilities(historical: &[u8]) -> Option<u8> {
    let (&category, mut rest) = historical.split_first()?;
    if category != 0x00 {
        return None;
    }
    while let Some((&header, tail)) = rest.split_first() {
        let len = usize::from(header & 0x0F);
        let value = tail.get(..len)?;
        if header >> 4 == 0x7 && len == 3 {
            return Some(value[2]);
        }
        rest = &tail[len..];
    }
    None
}

/// PW3's retry counter from the probe's PW status bytes (`C4`, §4.4.3.9, byte 7).
fn pw3_tries(step: &StepInput) -> Option<usize> {
    let probe = step.earlier.first()?;
    let application = probe.responses.get(1)?.data();
    let status = tlv::find(application, &[0xC4])?;
    status.get(6).map(|&n| usize::from(n))
}

/// §7.2.1 SELECT of the OpenPGP application by its AID prefix.
fn select() -> Command {
    Command::new(0x00, 0xA4, 0x04, 0x00).with_data(AID.to_vec())
}

/// §7.2.6 GET DATA of a DO.
fn get_data(tag: [u8; 2]) -> Command {
    Command::new(0x00, 0xCA, tag[0], tag[1]).with_le(256)
}

/// §7.2.8 PUT DATA of a DO.
fn put_data(tag: [u8; 2], value: Vec<u8>) -> Command {
    Command::new(0x00, 0xDA, tag[0], tag[1]).with_data(value)
}

/// §7.2.8 PUT DATA of a DO whose value is secret (never logged).
fn put_data_secret(tag: [u8; 2], value: SecretBytes) -> Command {
    Command::new(0x00, 0xDA, tag[0], tag[1]).with_sensitive_data(value)
}

/// §7.2.14 GENERATE ASYMMETRIC KEY PAIR, P1 81: read the slot's public key.
fn read_public_key(slot: KeySlot) -> Command {
    Command::new(0x00, 0x47, 0x81, 0x00)
        .with_data(crt(slot).to_vec())
        .with_le(256)
}

/// §7.2.2 VERIFY of a PW.
fn verify(reference: u8, value: SecretBytes) -> Command {
    Command::new(0x00, 0x20, 0x00, reference).with_sensitive_data(value)
}

/// Any status word: for commands whose answer only matters later.
fn any_sw() -> SwPattern {
    SwPattern::parse("XXXX").unwrap_or(SwPattern::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_templates_hold_tags_and_lengths_only() {
        assert_eq!(
            length_template(&[(&[0x92], 32), (&[0x99], 33)]),
            [0x92, 0x20, 0x99, 0x21]
        );
        assert_eq!(length_template(&[(&[0x92], 200)]), [0x92, 0x81, 0xC8]);
    }

    #[test]
    fn card_capabilities_come_from_the_historical_bytes() {
        // Category 00, card service data 31 xx, card capabilities 73 C0 01 80, status 05 90 00.
        let historical = [0x00, 0x31, 0xF5, 0x73, 0xC0, 0x01, 0x80, 0x05, 0x90, 0x00];
        assert_eq!(card_capabilities(&historical), Some(0x80));
        assert_eq!(card_capabilities(&[0x80]), None);
        assert_eq!(card_capabilities(&[0x00, 0x73, 0xC0]), None);
    }

    #[test]
    fn algorithm_attributes_name_the_curves() {
        assert_eq!(
            hex::encode_upper(algorithm_attributes(KeyKind::Ed25519, KeySlot::Signature)),
            "162B06010401DA470F01"
        );
        assert_eq!(
            hex::encode_upper(algorithm_attributes(KeyKind::X25519, KeySlot::Decryption)),
            "122B060104019755010501"
        );
        assert_eq!(
            hex::encode_upper(algorithm_attributes(KeyKind::P256, KeySlot::Authentication)),
            "132A8648CE3D030107"
        );
        assert_eq!(
            hex::encode_upper(algorithm_attributes(KeyKind::P256, KeySlot::Decryption)),
            "122A8648CE3D030107"
        );
    }
}
