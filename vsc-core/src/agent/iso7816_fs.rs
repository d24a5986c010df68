//! The card agent of the generic ISO 7816-4/-9 file-system card (`docs/card-os.md`).
//!
//! Layout on the card: one DF under the MF (FID and proprietary AID from the profile) holding
//! transparent EFs `uid`, `public`, `private` and `keys`, and two credentials: the holder PIN
//! and the reset code. The `uid` EF is created and written first, so from the second APDU on
//! an unfinished card names the VSC it belongs to.

use iso7816_tlv::ber::{Tag, Tlv, Value};
use uuid::Uuid;

use crate::apdu::{Command, Response, StatusWord};
use crate::pin::Pin;
use crate::profile::{Access, EfSpec, FileSystemLayout, Profile};
use crate::secret::SecretBytes;
use crate::transport::Batch;
use crate::vsc::Vsc;

use super::{AgentError, CardAgent, CardState, HolderCredential, Link, Probe, StepInput};

/// The MF's FID (ISO 7816-4 §7.1.1).
const MF: u16 = 0x3F00;
/// Life-cycle status bytes (ISO 7816-4 §7.4.10, table 15).
const LCS_CREATION: u8 = 0x01;
const LCS_ACTIVATED: u8 = 0x05;
/// Security-condition bytes of the compact format (ISO 7816-4 §7.4.3.1).
const SC_ALWAYS: u8 = 0x00;
const SC_USER_AUTH: u8 = 0x10;
const SC_NEVER: u8 = 0xFF;

/// The agent for `layout = "iso7816-fs"` profiles.
#[derive(Debug, Clone)]
pub struct Iso7816FsAgent {
    link: Link,
    fs: FileSystemLayout,
}

impl Iso7816FsAgent {
    /// An agent for the cards `profile` describes with file-system `layout`.
    pub fn new(profile: &Profile, layout: &FileSystemLayout) -> Self {
        Self {
            link: Link::of_profile(profile),
            fs: layout.clone(),
        }
    }

    fn max_write(&self) -> usize {
        self.link.max_command_data.max(1)
    }

    fn max_read(&self) -> usize {
        self.link.max_response_data.clamp(1, 65536)
    }

    /// The EFs in the order they are created and written.
    fn files(&self) -> [(&'static str, &EfSpec); 4] {
        let fs = &self.fs;
        [
            ("uid", &fs.uid),
            ("public", &fs.public),
            ("private", &fs.private),
            ("keys", &fs.keys),
        ]
    }

    fn area_content<'v>(&self, vsc: &'v Vsc, area: &str) -> std::borrow::Cow<'v, [u8]> {
        match area {
            "uid" => std::borrow::Cow::Owned(vsc.uid_area().to_vec()),
            "public" => std::borrow::Cow::Borrowed(vsc.public_area()),
            "private" => std::borrow::Cow::Borrowed(vsc.private_area().expose()),
            _ => std::borrow::Cow::Borrowed(vsc.keys_area().expose()),
        }
    }

    fn select_df(&self) -> Command {
        select_by_name(&self.fs.df.aid, false)
    }

    /// `ins` (CHANGE REFERENCE DATA or RESET RETRY COUNTER) with P1 00 for the holder PIN:
    /// data = `first` (current PIN or reset code) followed by the new PIN; then VERIFY of it.
    fn set_pin_after(&self, ins: u8, first: &SecretBytes, new: &Pin) -> Batch {
        let reference = self.fs.pin.reference;
        let new_data = new.to_reference_data();
        let mut data = SecretBytes::new(Vec::with_capacity(first.len() + new_data.len()));
        data.extend_from_slice(first.expose());
        data.extend_from_slice(new_data.expose());
        let mut batch = Batch::new();
        batch.push(Command::new(0x00, ins, 0x00, reference).with_sensitive_data(data));
        batch.push(verify(reference, new_data));
        batch
    }
}

impl Iso7816FsAgent {
    /// What the probe's responses say the card holds.
    fn state(&self, responses: &[Response]) -> Result<CardState, AgentError> {
        let Some(mf) = responses.first() else {
            return Err(AgentError::Unexpected("the card sent no answer".into()));
        };
        if mf.sw != StatusWord::OK {
            return Err(AgentError::WrongCardType(format!(
                "it has no file system this product knows: SELECT of its MF answered {}, {}",
                mf.sw,
                mf.sw.status()
            )));
        }
        let responses = &responses[1..];
        let Some(first) = responses.first() else {
            return Err(AgentError::Unexpected("the probe stopped early".into()));
        };
        if first.sw == StatusWord(0x6A82) {
            return Ok(CardState::Blank);
        }
        if first.sw != StatusWord::OK {
            return Err(AgentError::Unexpected(format!(
                "the card answered SELECT of the VSC application with {:?}: it is not a {}",
                first.sw,
                self.card_type()
            )));
        }
        let lcs = life_cycle(first.data()).ok_or_else(|| {
            AgentError::Unexpected("the application's FCP has no life-cycle status".into())
        })?;
        let owner = match (responses.get(1), responses.get(2)) {
            (Some(select), _) if select.sw == StatusWord(0x6A82) => None,
            (Some(_), Some(read)) if read.sw == StatusWord::OK => {
                let bytes: [u8; 16] = read.data().try_into().map_err(|_| {
                    AgentError::Unexpected("the uid file does not hold 16 bytes".into())
                })?;
                (bytes != [0; 16]).then(|| Uuid::from_bytes(bytes))
            }
            (Some(_), Some(read)) => {
                return Err(AgentError::Unexpected(format!(
                    "the card refused to read its uid file ({:?})",
                    read.sw
                )))
            }
            (Some(select), None) => {
                return Err(AgentError::Unexpected(format!(
                    "the card refused to select its uid file ({:?})",
                    select.sw
                )))
            }
            (None, _) => return Err(AgentError::Unexpected("the probe stopped early".into())),
        };
        match (lcs, owner) {
            (LCS_CREATION, owner) => Ok(CardState::Unfinished { owner }),
            (LCS_ACTIVATED, Some(owner)) => Ok(CardState::Personalized { owner }),
            (LCS_ACTIVATED, None) => Err(AgentError::Unexpected(
                "the card is activated but names no VSC: it was not personalized by this product"
                    .into(),
            )),
            (other, _) => Err(AgentError::Unexpected(format!(
                "the application is in life-cycle state {other:02X}, which this product does not handle"
            ))),
        }
    }
}

impl CardAgent for Iso7816FsAgent {
    fn card_type(&self) -> &'static str {
        "ISO 7816-4/-9 file-system card"
    }

    fn probe(&self) -> Batch {
        let mut batch = Batch::new();
        // The MF first: a card without this file system (an OpenPGP card, say) is told apart
        // from a blank one, which has an MF but not the application DF.
        batch.push(select_fid(MF));
        batch.push(select_by_name(&self.fs.df.aid, true));
        batch.push(select_fid(self.fs.uid.fid));
        batch.push(read_binary(0, 16));
        batch
    }

    fn classify(&self, responses: &[Response]) -> Result<Probe, AgentError> {
        let state = self.state(responses)?;
        Ok(Probe {
            state,
            link: self.link,
        })
    }

    fn erase(&self, _step: &StepInput) -> Batch {
        let mut batch = Batch::new();
        batch.push(select_fid(MF));
        // ISO 7816-9 §7.2 DELETE FILE: the DF and everything under it; only in creation state.
        batch.push(Command::new(0x00, 0xE4, 0x00, 0x00).with_data(self.fs.df.fid.to_be_bytes()));
        batch
    }

    fn write(&self, step: &StepInput) -> Batch {
        let vsc = step.vsc;
        let mut batch = Batch::new();
        // DFs are created under the MF whatever the current DF is (docs/card-os.md).
        batch.push(create_file(df_fcp(self.fs.df.fid, &self.fs.df.aid)));
        for (area, ef) in self.files() {
            batch.push(create_file(ef_fcp(ef)));
            let content = self.area_content(vsc, area);
            for (offset, chunk) in chunks(&content, self.max_write()) {
                let data = SecretBytes::from_slice(chunk);
                let command = update_binary(offset, data, area != "public" && area != "uid");
                batch.push(command);
            }
        }
        batch.push(set_credential(self.fs.pin.reference, vsc.card_password()));
        batch.push(set_credential(self.fs.reset.reference, vsc.reset_code()));
        batch
    }

    fn activate(&self, _step: &StepInput) -> Batch {
        // The write left the application DF current; its EFs are activated by FID.
        let mut batch = Batch::new();
        for (_, ef) in self.files() {
            batch.push(activate_file(Some(ef.fid)));
        }
        batch.push(self.select_df());
        batch.push(activate_file(None));
        batch
    }

    fn read_back(&self, step: &StepInput, credential: HolderCredential) -> Batch {
        let vsc = step.vsc;
        let credential = match credential {
            HolderCredential::Initial => vsc.card_password(),
            HolderCredential::Pin(pin) => pin.to_reference_data(),
        };
        let mut batch = Batch::new();
        batch.push(verify(self.fs.pin.reference, credential));
        for (area, ef) in self.files() {
            if ef.read == Access::Never {
                continue;
            }
            let len = self.area_content(vsc, area).len();
            if len == 0 {
                continue;
            }
            batch.push(select_fid(ef.fid));
            let mut offset = 0;
            while offset < len {
                let n = (len - offset).min(self.max_read());
                batch.push(read_binary(offset, n));
                offset += n;
            }
        }
        batch
    }

    fn check_read_back(
        &self,
        step: &StepInput,
        batch: &Batch,
        responses: &[Response],
    ) -> Result<(), AgentError> {
        let vsc = step.vsc;
        if responses.len() != batch.len() {
            return Err(AgentError::Unexpected("the read-back stopped early".into()));
        }
        let mut read = SecretBytes::default();
        let mut expected = SecretBytes::default();
        let mut areas = Vec::new();
        for (area, ef) in self.files() {
            if ef.read != Access::Never {
                let content = self.area_content(vsc, area);
                areas.push((area, expected.len(), content.len()));
                expected.extend_from_slice(&content);
            }
        }
        for (item, response) in batch.items.iter().zip(responses) {
            if item.command.ins == 0xB0 {
                // Each answer must be exactly as long as asked: a card that moved bytes from
                // one READ BINARY to the next would otherwise pass the comparison below.
                let asked = item.command.le.unwrap_or(0);
                if response.data().len() != asked {
                    return Err(AgentError::Unexpected(format!(
                        "the card answered READ BINARY with {} bytes instead of {asked}",
                        response.data().len()
                    )));
                }
                read.extend_from_slice(response.data());
            }
        }
        let first_difference = expected
            .expose()
            .iter()
            .zip(read.expose())
            .position(|(a, b)| a != b)
            .or_else(|| (expected.len() != read.len()).then_some(expected.len().min(read.len())));
        match first_difference {
            None => Ok(()),
            Some(at) => {
                let (area, start, _) = areas
                    .iter()
                    .copied()
                    .rfind(|(_, start, _)| *start <= at)
                    .unwrap_or(("uid", 0, 0));
                Err(AgentError::Mismatch {
                    area,
                    offset: at - start,
                })
            }
        }
    }

    fn set_pin(&self, step: &StepInput, new: &Pin) -> Batch {
        // ISO 7816-4 §11.5.7 CHANGE REFERENCE DATA, P1 00: the card password, then the PIN.
        self.set_pin_after(0x24, &step.vsc.card_password(), new)
    }

    fn reset_pin(&self, step: &StepInput, new: &Pin) -> Batch {
        let reset_code = step.vsc.reset_code();
        // The clerk confirms a new PIN between the probe and this batch; the card may have
        // been reset meanwhile (Windows resets a card whose transaction idles 5 s), so the DF
        // is selected again first.
        let mut batch = Batch::new();
        batch.push(select_by_name(&self.fs.df.aid, false));
        // ISO 7816-4 §11.5.10 RESET RETRY COUNTER, P1 00: resetting code then new reference data.
        batch
            .items
            .extend(self.set_pin_after(0x2C, &reset_code, new).items);
        batch
    }
}

/// Splits `data` into `(offset, chunk)` pieces of at most `max` bytes.
fn chunks(data: &[u8], max: usize) -> impl Iterator<Item = (usize, &[u8])> {
    data.chunks(max).enumerate().map(move |(i, c)| (i * max, c))
}

/// ISO 7816-4 §11.2.2 SELECT, P1 00 (by FID), P2 0C (no response data).
fn select_fid(fid: u16) -> Command {
    Command::new(0x00, 0xA4, 0x00, 0x0C).with_data(fid.to_be_bytes())
}

/// ISO 7816-4 §11.2.2 SELECT, P1 04 (by DF name); P2 04 returns the FCP, 0C nothing.
fn select_by_name(aid: &[u8], with_fcp: bool) -> Command {
    let command =
        Command::new(0x00, 0xA4, 0x04, if with_fcp { 0x04 } else { 0x0C }).with_data(aid.to_vec());
    if with_fcp {
        command.with_le(256)
    } else {
        command
    }
}

/// ISO 7816-4 §11.3.3 READ BINARY with a 15-bit offset in P1-P2.
fn read_binary(offset: usize, len: usize) -> Command {
    Command::new(0x00, 0xB0, (offset >> 8) as u8 & 0x7F, offset as u8).with_le(len)
}

/// ISO 7816-4 §11.3.5 UPDATE BINARY with a 15-bit offset in P1-P2.
fn update_binary(offset: usize, data: SecretBytes, sensitive: bool) -> Command {
    let command = Command::new(0x00, 0xD6, (offset >> 8) as u8 & 0x7F, offset as u8);
    if sensitive {
        command.with_sensitive_data(data)
    } else {
        command.with_data(data.expose().to_vec())
    }
}

/// ISO 7816-9 §7.1 CREATE FILE with an FCP template.
fn create_file(fcp: Vec<u8>) -> Command {
    Command::new(0x00, 0xE0, 0x00, 0x00).with_data(fcp)
}

/// ISO 7816-9 §7.4 ACTIVATE FILE: a child of the current DF by FID, or the current file.
fn activate_file(fid: Option<u16>) -> Command {
    let command = Command::new(0x00, 0x44, 0x00, 0x00);
    match fid {
        Some(fid) => command.with_data(fid.to_be_bytes()),
        None => command,
    }
}

/// ISO 7816-4 §11.5.6 VERIFY, P1 00, P2 the credential reference.
fn verify(reference: u8, value: SecretBytes) -> Command {
    Command::new(0x00, 0x20, 0x00, reference).with_sensitive_data(value)
}

/// ISO 7816-4 §11.5.7 CHANGE REFERENCE DATA, P1 01: new reference data only (creation state).
fn set_credential(reference: u8, value: SecretBytes) -> Command {
    Command::new(0x00, 0x24, 0x01, reference).with_sensitive_data(value)
}

/// One primitive TLV; `tag` is always one of this file's valid one-byte primitive tags.
fn tlv(tag: u8, value: Vec<u8>) -> Tlv {
    let tag = Tag::try_from(tag).expect("tag constants are valid BER tags");
    Tlv::new(tag, Value::Primitive(value)).expect("tag constants are primitive")
}

fn fcp(objects: Vec<Tlv>) -> Vec<u8> {
    let tag = Tag::try_from(0x62u8).expect("62 is a valid constructed tag");
    Tlv::new(tag, Value::Constructed(objects))
        .expect("62 is constructed")
        .to_vec()
}

/// FCP of the application DF (ISO 7816-4 §7.4, table 12): descriptor `38`, FID, DF name,
/// life cycle creation.
fn df_fcp(fid: u16, aid: &[u8]) -> Vec<u8> {
    fcp(vec![
        tlv(0x82, vec![0x38]),
        tlv(0x83, fid.to_be_bytes().to_vec()),
        tlv(0x84, aid.to_vec()),
        tlv(0x8A, vec![LCS_CREATION]),
    ])
}

/// FCP of a transparent working EF: descriptor `01`, FID, size, life cycle, and compact
/// security attributes for UPDATE BINARY (b2) and READ BINARY (b1) (ISO 7816-4 §7.4.3.1).
fn ef_fcp(ef: &EfSpec) -> Vec<u8> {
    let sc = |access: Access| match access {
        Access::Always => SC_ALWAYS,
        Access::Pin => SC_USER_AUTH,
        Access::Never => SC_NEVER,
    };
    fcp(vec![
        tlv(0x82, vec![0x01]),
        tlv(0x83, ef.fid.to_be_bytes().to_vec()),
        tlv(0x80, (ef.size as u16).to_be_bytes().to_vec()),
        tlv(0x8A, vec![LCS_CREATION]),
        tlv(0x8C, vec![0x03, sc(ef.update), sc(ef.read)]),
    ])
}

/// The life-cycle status byte (`8A`) of an FCP template.
fn life_cycle(fcp: &[u8]) -> Option<u8> {
    let tlv = Tlv::from_bytes(fcp).ok()?;
    let tag = Tag::try_from(0x8Au8).ok()?;
    match tlv.find(&tag)?.value() {
        Value::Primitive(v) if v.len() == 1 => Some(v[0]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fcp_templates_are_well_formed() {
        let df = df_fcp(0x5000, &[0xF0, 0x56, 0x53, 0x43, 0x00, 0x01]);
        assert_eq!(
            hex::encode_upper(&df),
            "6212820138830250008406F056534300018A0101"
        );
        assert_eq!(life_cycle(&df), Some(LCS_CREATION));
    }

    #[test]
    fn chunks_cover_the_data() {
        let data = vec![1u8; 600];
        let parts: Vec<_> = chunks(&data, 255).collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2].0, 510);
        assert_eq!(parts[2].1.len(), 90);
    }
}
