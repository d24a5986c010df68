//! The card OS of `docs/card-os.md`: command dispatch, current-file state, access control,
//! credentials, response chaining (`61xx` + GET RESPONSE), the ATR and the persistent state.
//!
//! Every handler cites its ISO/IEC 7816 clause. Handlers validate in a fixed order: CLA, INS,
//! P1-P2, lengths, then card state, so the same malformed command always gets the same status.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::apdu::Command;
use crate::credential::{Credential, CredentialRef};
use crate::fcp::{self, FileSpec};
use crate::fs::{
    AccessRule, Df, Ef, FileSystem, LifeCycle, SecurityCondition, CAPACITY, MAX_FILES, MF_FID,
};
use crate::sw::Sw;

const INS_SELECT: u8 = 0xA4;
const INS_READ_BINARY: u8 = 0xB0;
const INS_UPDATE_BINARY: u8 = 0xD6;
const INS_VERIFY: u8 = 0x20;
const INS_CHANGE_REFERENCE_DATA: u8 = 0x24;
const INS_RESET_RETRY_COUNTER: u8 = 0x2C;
const INS_CREATE_FILE: u8 = 0xE0;
const INS_DELETE_FILE: u8 = 0xE4;
const INS_ACTIVATE_FILE: u8 = 0x44;
const INS_GET_RESPONSE: u8 = 0xC0;

/// Historical bytes of the ATR: "VSC-SOFTCD".
const HISTORICAL_BYTES: &[u8] = b"VSC-SOFTCD";
/// Name and version written into the state file.
const STATE_FORMAT: &str = "softcard-state";
const STATE_VERSION: u32 = 1;

/// A file the current-file state can point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Mf,
    Df(u16),
    Ef(u16, u16),
}

/// What a command did to the card, for UPDATE/READ access checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Update,
}

/// Response data waiting for GET RESPONSE.
#[derive(Clone)]
struct Pending {
    data: Zeroizing<Vec<u8>>,
    sw: Sw,
}

/// Volatile state: cleared by a reset, a power cycle or a tear.
#[derive(Clone, Default)]
struct Session {
    /// The current DF; `None` is the MF.
    current_df: Option<u16>,
    /// The current EF, always a child of the current DF.
    current_ef: Option<u16>,
    pin_verified: bool,
    reset_code_verified: bool,
    pending: Option<Pending>,
}

impl Session {
    fn is_verified(&self, reference: CredentialRef) -> bool {
        match reference {
            CredentialRef::HolderPin => self.pin_verified,
            CredentialRef::ResetCode => self.reset_code_verified,
        }
    }

    fn set_verified(&mut self, reference: CredentialRef, verified: bool) {
        match reference {
            CredentialRef::HolderPin => self.pin_verified = verified,
            CredentialRef::ResetCode => self.reset_code_verified = verified,
        }
    }

    /// Makes `target` the current file; leaving a DF clears its verification state.
    fn make_current(&mut self, target: Target) {
        let (df, ef) = match target {
            Target::Mf => (None, None),
            Target::Df(df) => (Some(df), None),
            Target::Ef(df, ef) => (Some(df), Some(ef)),
        };
        if df != self.current_df {
            self.pin_verified = false;
            self.reset_code_verified = false;
        }
        self.current_df = df;
        self.current_ef = ef;
    }

    fn current(&self) -> Target {
        match (self.current_df, self.current_ef) {
            (None, _) => Target::Mf,
            (Some(df), None) => Target::Df(df),
            (Some(df), Some(ef)) => Target::Ef(df, ef),
        }
    }
}

/// The persistent state as written by [`Card::to_state`].
#[derive(Serialize, Deserialize)]
struct StateDocument {
    format: String,
    version: u32,
    file_system: FileSystem,
}

/// A state given to [`Card::from_state`] cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Not JSON of the expected shape (the position is given, never the content).
    #[error(
        "the softcard state is not valid (line {line}, column {column}): it was not written by \
         this softcard or it is damaged; restore it or delete it to start with a blank card"
    )]
    Malformed {
        /// Line of the first error.
        line: usize,
        /// Column of the first error.
        column: usize,
    },
    /// Another format or version.
    #[error(
        "the softcard state has format {format:?} version {version}, but this softcard reads \
         {STATE_FORMAT:?} version {STATE_VERSION}; use the softcard that wrote it"
    )]
    UnsupportedVersion {
        /// The format name found.
        format: String,
        /// The version found.
        version: u32,
    },
    /// Well-formed, but no card could have reached this state.
    #[error(
        "the softcard state is inconsistent ({0}): it was edited or damaged; restore it or \
         delete it to start with a blank card"
    )]
    Inconsistent(String),
}

/// The card: persistent state (files, credentials, counters) and volatile state (current DF
/// and EF, verification flags, response data pending for GET RESPONSE).
#[derive(Clone)]
pub struct Card {
    fs: FileSystem,
    revision: u64,
    session: Session,
    max_response: Option<usize>,
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Card")
            .field("dfs", &self.fs.dfs.len())
            .field("files", &self.fs.file_count())
            .field("used_bytes", &self.fs.used_bytes())
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

impl Card {
    /// A blank card: the MF only, nothing selected but the MF.
    pub fn blank() -> Card {
        Card {
            fs: FileSystem::default(),
            revision: 0,
            session: Session::default(),
            max_response: None,
        }
    }

    /// The ATR (ISO/IEC 7816-3 §8.2): `3B 8A 80 01`, the historical bytes "VSC-SOFTCD", and
    /// TCK, the XOR of every byte from T0 to the last historical byte.
    pub fn atr(&self) -> Vec<u8> {
        let mut atr = vec![0x3B, 0x8A, 0x80, 0x01];
        atr.extend_from_slice(HISTORICAL_BYTES);
        let tck = atr.iter().skip(1).fold(0u8, |acc, b| acc ^ b);
        atr.push(tck);
        atr
    }

    /// Executes one C-APDU and returns the response data followed by SW1 SW2.
    /// Never panics, whatever the bytes.
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        let (mut data, sw) = match Command::parse(apdu) {
            Ok(command) => self.execute(&command),
            Err(sw) => {
                self.session.pending = None;
                (Vec::new(), sw)
            }
        };
        data.extend_from_slice(&sw.to_bytes());
        data
    }

    /// A warm reset or power cycle: clears the volatile state only (the MF becomes current,
    /// verification flags and pending response data are dropped).
    pub fn reset(&mut self) {
        self.session = Session::default();
    }

    /// Limits each response to `max` data bytes, like a T=0 reader: longer responses return
    /// their first `max` bytes with `61xx` and GET RESPONSE delivers the rest. `None` removes
    /// the limit; `Some(0)` is treated as `Some(1)`.
    pub fn set_max_response(&mut self, max: Option<usize>) {
        self.max_response = max.map(|m| m.max(1));
    }

    /// The persistent state (files, credentials, counters) as JSON.
    pub fn to_state(&self) -> Vec<u8> {
        let document = StateDocument {
            format: STATE_FORMAT.to_owned(),
            version: STATE_VERSION,
            file_system: self.fs.clone(),
        };
        serde_json::to_vec_pretty(&document).unwrap_or_default()
    }

    /// A card from a state written by [`Card::to_state`], with fresh volatile state.
    pub fn from_state(bytes: &[u8]) -> Result<Card, StateError> {
        let document: StateDocument =
            serde_json::from_slice(bytes).map_err(|e| StateError::Malformed {
                line: e.line(),
                column: e.column(),
            })?;
        if document.format != STATE_FORMAT || document.version != STATE_VERSION {
            return Err(StateError::UnsupportedVersion {
                format: document.format,
                version: document.version,
            });
        }
        document
            .file_system
            .check_invariants()
            .map_err(StateError::Inconsistent)?;
        Ok(Card {
            fs: document.file_system,
            ..Card::blank()
        })
    }

    /// A number that changes whenever the persistent state changes (not persisted itself);
    /// the `softcard` binary writes its state file when it moves.
    pub fn state_revision(&self) -> u64 {
        self.revision
    }

    /// Test oracle: the content of EF `fid` in the DF named `df_name`.
    pub fn file_content(&self, df_name: &[u8], fid: u16) -> Option<Vec<u8>> {
        Some(self.fs.df_by_name(df_name)?.ef(fid)?.content.clone())
    }

    /// Test oracle: the life-cycle status byte of the DF named `df_name` (`fid` `None`) or of
    /// its EF `fid`.
    pub fn life_cycle(&self, df_name: &[u8], fid: Option<u16>) -> Option<u8> {
        let df = self.fs.df_by_name(df_name)?;
        match fid {
            None => Some(df.life_cycle.byte()),
            Some(fid) => Some(df.ef(fid)?.life_cycle.byte()),
        }
    }

    /// Test oracle: whether credential `reference` (`81` or `82`) of the DF named `df_name` is
    /// set to `value`. Touches no counter.
    pub fn credential_matches(&self, df_name: &[u8], reference: u8, value: &[u8]) -> bool {
        self.credential(df_name, reference)
            .is_some_and(|c| c.matches(value))
    }

    /// Test oracle: the retry counter of credential `reference`; `None` if it is unset.
    pub fn tries_left(&self, df_name: &[u8], reference: u8) -> Option<u8> {
        self.credential(df_name, reference)
            .map(Credential::tries_left)
    }

    /// Whether the MF holds no DF.
    pub fn is_blank(&self) -> bool {
        self.fs.dfs.is_empty()
    }

    fn credential(&self, df_name: &[u8], reference: u8) -> Option<&Credential> {
        let reference = CredentialRef::from_reference(reference)?;
        self.fs.df_by_name(df_name)?.credential(reference)
    }

    fn touch(&mut self) {
        self.revision = self.revision.wrapping_add(1);
    }

    /// Dispatches a well-formed command (ISO/IEC 7816-4 §5.1: CLA, then INS).
    fn execute(&mut self, command: &Command<'_>) -> (Vec<u8>, Sw) {
        let is_get_response = command.cla == 0x00 && command.ins == INS_GET_RESPONSE;
        if !is_get_response {
            self.session.pending = None;
        }
        if command.cla != 0x00 {
            return (Vec::new(), Sw::CLA_NOT_SUPPORTED);
        }
        let result = match command.ins {
            INS_GET_RESPONSE => return self.get_response(command),
            INS_SELECT => self.select(command),
            INS_READ_BINARY => self.read_binary(command),
            INS_UPDATE_BINARY => self.update_binary(command).map(|()| Vec::new()),
            INS_VERIFY => self.verify(command).map(|()| Vec::new()),
            INS_CHANGE_REFERENCE_DATA => self.change_reference_data(command).map(|()| Vec::new()),
            INS_RESET_RETRY_COUNTER => self.reset_retry_counter(command).map(|()| Vec::new()),
            INS_CREATE_FILE => self.create_file(command).map(|()| Vec::new()),
            INS_DELETE_FILE => self.delete_file(command).map(|()| Vec::new()),
            INS_ACTIVATE_FILE => self.activate_file(command).map(|()| Vec::new()),
            _ => Err(Sw::INS_NOT_SUPPORTED),
        };
        match result {
            Ok(data) => self.deliver(data, Sw::OK),
            Err(sw) => (Vec::new(), sw),
        }
    }

    /// Applies the reader's maximum response length: the excess waits for GET RESPONSE.
    fn deliver(&mut self, mut data: Vec<u8>, sw: Sw) -> (Vec<u8>, Sw) {
        match self.max_response {
            Some(max) if data.len() > max => {
                let rest = Zeroizing::new(data.split_off(max));
                let more = Sw::more_data(rest.len());
                self.session.pending = Some(Pending { data: rest, sw });
                (data, more)
            }
            _ => (data, sw),
        }
    }

    /// GET RESPONSE (ISO/IEC 7816-4 §11.7.1): the next part of the pending response data.
    fn get_response(&mut self, command: &Command<'_>) -> (Vec<u8>, Sw) {
        let Some(pending) = self.session.pending.take() else {
            return (Vec::new(), Sw::CONDITIONS_NOT_SATISFIED);
        };
        let check = if command.p1p2() != 0 {
            Err(Sw::INCORRECT_P1P2)
        } else if !command.data.is_empty() {
            Err(Sw::WRONG_LENGTH)
        } else {
            command.ne.ok_or(Sw::WRONG_LENGTH)
        };
        let ne = match check {
            Ok(ne) => ne,
            Err(sw) => {
                // A malformed GET RESPONSE does not lose the data.
                self.session.pending = Some(pending);
                return (Vec::new(), sw);
            }
        };
        let limit = ne.min(self.max_response.unwrap_or(usize::MAX));
        let Pending { data, sw } = pending;
        if data.len() <= limit {
            return (data.to_vec(), sw);
        }
        let chunk = data.get(..limit).unwrap_or_default().to_vec();
        let rest = Zeroizing::new(data.get(limit..).unwrap_or_default().to_vec());
        let more = Sw::more_data(rest.len());
        self.session.pending = Some(Pending { data: rest, sw });
        (chunk, more)
    }

    /// SELECT (ISO/IEC 7816-4 §11.2.2): by FID (P1 `00`), DF name (`04`), path from the MF
    /// (`08`) or from the current DF (`09`); P2 `0C` no data, `04` the FCP.
    fn select(&mut self, command: &Command<'_>) -> Result<Vec<u8>, Sw> {
        let want_fcp = match command.p2 {
            0x0C => false,
            0x04 => true,
            _ => return Err(Sw::INCORRECT_P1P2),
        };
        let target = match command.p1 {
            0x00 => self.find_by_fid(command.data)?,
            0x04 => self.find_by_name(command.data)?,
            0x08 => self.find_by_path(Target::Mf, command.data)?,
            0x09 => self.find_by_path(self.current_df_target(), command.data)?,
            _ => return Err(Sw::INCORRECT_P1P2),
        };
        let fcp = if want_fcp {
            self.encode_fcp(target)
        } else {
            Vec::new()
        };
        if let Some(ne) = command.ne {
            if want_fcp && fcp.len() > ne {
                return Err(Sw::wrong_le(fcp.len()));
            }
        }
        self.session.make_current(target);
        Ok(fcp)
    }

    fn current_df_target(&self) -> Target {
        self.session.current_df.map_or(Target::Mf, Target::Df)
    }

    /// P1 `00`: empty data or `3F00` is the MF; otherwise an EF of the current DF, then a DF
    /// under the MF (which covers the current DF and its siblings), in ISO's search order.
    fn find_by_fid(&self, data: &[u8]) -> Result<Target, Sw> {
        let fid = match data {
            [] => return Ok(Target::Mf),
            &[hi, lo] => u16::from_be_bytes([hi, lo]),
            _ => return Err(Sw::WRONG_LENGTH),
        };
        if fid == MF_FID {
            return Ok(Target::Mf);
        }
        if let Some(df_fid) = self.session.current_df {
            if self.fs.df(df_fid).and_then(|df| df.ef(fid)).is_some() {
                return Ok(Target::Ef(df_fid, fid));
            }
        }
        if self.fs.df(fid).is_some() {
            return Ok(Target::Df(fid));
        }
        Err(Sw::FILE_NOT_FOUND)
    }

    /// P1 `04`: the DF whose name matches exactly.
    fn find_by_name(&self, data: &[u8]) -> Result<Target, Sw> {
        if data.is_empty() {
            return Err(Sw::WRONG_LENGTH);
        }
        self.fs
            .df_by_name(data)
            .map(|df| Target::Df(df.fid))
            .ok_or(Sw::FILE_NOT_FOUND)
    }

    /// P1 `08`/`09`: a path of FIDs, each a child of the previous file.
    fn find_by_path(&self, start: Target, data: &[u8]) -> Result<Target, Sw> {
        if data.is_empty() || data.len() % 2 != 0 {
            return Err(Sw::WRONG_LENGTH);
        }
        let mut at = start;
        for pair in data.chunks_exact(2) {
            let fid = u16::from_be_bytes([pair[0], pair[1]]);
            at = match at {
                Target::Mf => self
                    .fs
                    .df(fid)
                    .map(|df| Target::Df(df.fid))
                    .ok_or(Sw::FILE_NOT_FOUND)?,
                Target::Df(df_fid) => self
                    .fs
                    .df(df_fid)
                    .and_then(|df| df.ef(fid))
                    .map(|ef| Target::Ef(df_fid, ef.fid))
                    .ok_or(Sw::FILE_NOT_FOUND)?,
                Target::Ef(..) => return Err(Sw::FILE_NOT_FOUND),
            };
        }
        Ok(at)
    }

    fn encode_fcp(&self, target: Target) -> Vec<u8> {
        match target {
            Target::Mf => fcp::encode_mf(),
            Target::Df(df) => self.fs.df(df).map(fcp::encode_df).unwrap_or_default(),
            Target::Ef(df, ef) => self
                .fs
                .df(df)
                .and_then(|df| df.ef(ef))
                .map(fcp::encode_ef)
                .unwrap_or_default(),
        }
    }

    /// The current EF with its DF, or `6986`.
    fn current_ef(&self) -> Result<(&Df, &Ef), Sw> {
        let (Some(df_fid), Some(ef_fid)) = (self.session.current_df, self.session.current_ef)
        else {
            return Err(Sw::NO_CURRENT_EF);
        };
        let df = self.fs.df(df_fid).ok_or(Sw::NO_CURRENT_EF)?;
        let ef = df.ef(ef_fid).ok_or(Sw::NO_CURRENT_EF)?;
        Ok((df, ef))
    }

    /// Access control (`docs/card-os.md`, "Access conditions"): no UPDATE on an activated EF;
    /// anything goes while the EF or its DF is in creation state; otherwise the EF's compact
    /// security condition decides.
    fn check_access(&self, df: &Df, ef: &Ef, access: Access) -> Result<(), Sw> {
        if access == Access::Update && ef.life_cycle == LifeCycle::Activated {
            return Err(Sw::SECURITY_NOT_SATISFIED);
        }
        if ef.life_cycle == LifeCycle::Creation || df.life_cycle == LifeCycle::Creation {
            return Ok(());
        }
        let rule = ef.access.unwrap_or(AccessRule {
            update: SecurityCondition::Always,
            read: SecurityCondition::Always,
        });
        let condition = match access {
            Access::Read => rule.read,
            Access::Update => rule.update,
        };
        match condition {
            SecurityCondition::Always => Ok(()),
            SecurityCondition::UserAuth if self.session.pin_verified => Ok(()),
            SecurityCondition::UserAuth | SecurityCondition::Never => {
                Err(Sw::SECURITY_NOT_SATISFIED)
            }
        }
    }

    /// READ BINARY (ISO/IEC 7816-4 §11.3.3), offset in P1-P2 (b8 of P1 zero).
    fn read_binary(&mut self, command: &Command<'_>) -> Result<Vec<u8>, Sw> {
        if command.p1 & 0x80 != 0 {
            return Err(Sw::INCORRECT_P1P2);
        }
        if !command.data.is_empty() {
            return Err(Sw::WRONG_LENGTH);
        }
        let ne = command.ne.ok_or(Sw::WRONG_LENGTH)?;
        let (df, ef) = self.current_ef()?;
        self.check_access(df, ef, Access::Read)?;
        let offset = usize::from(command.p1p2());
        let left = ef
            .content
            .len()
            .checked_sub(offset)
            .filter(|left| *left > 0)
            .ok_or(Sw::WRONG_OFFSET)?;
        if ne > left {
            return Err(Sw::wrong_le(left));
        }
        Ok(ef
            .content
            .get(offset..offset + ne)
            .unwrap_or_default()
            .to_vec())
    }

    /// UPDATE BINARY (ISO/IEC 7816-4 §11.3.5), offset in P1-P2 (b8 of P1 zero).
    fn update_binary(&mut self, command: &Command<'_>) -> Result<(), Sw> {
        if command.p1 & 0x80 != 0 {
            return Err(Sw::INCORRECT_P1P2);
        }
        if command.data.is_empty() {
            return Err(Sw::WRONG_LENGTH);
        }
        let (df, ef) = self.current_ef()?;
        self.check_access(df, ef, Access::Update)?;
        let offset = usize::from(command.p1p2());
        let end = offset + command.data.len();
        let (df_fid, ef_fid) = (df.fid, ef.fid);
        let target = self
            .fs
            .df_mut(df_fid)
            .and_then(|df| df.ef_mut(ef_fid))
            .and_then(|ef| ef.content.get_mut(offset..end))
            .ok_or(Sw::NOT_ENOUGH_MEMORY)?;
        target.copy_from_slice(command.data);
        self.touch();
        Ok(())
    }

    /// The current DF (never the MF, which holds no credentials) for credential commands.
    fn credential_df(&mut self) -> Result<&mut Df, Sw> {
        let fid = self.session.current_df.ok_or(Sw::REFERENCE_NOT_FOUND)?;
        self.fs.df_mut(fid).ok_or(Sw::REFERENCE_NOT_FOUND)
    }

    /// VERIFY (ISO/IEC 7816-4 §11.5.6): P1 `00`, P2 the reference; empty data asks for the
    /// verification status.
    fn verify(&mut self, command: &Command<'_>) -> Result<(), Sw> {
        if command.p1 != 0x00 {
            return Err(Sw::INCORRECT_P1P2);
        }
        let reference = CredentialRef::from_reference(command.p2).ok_or(Sw::REFERENCE_NOT_FOUND)?;
        let verified = self.session.is_verified(reference);
        let credential = self
            .credential_df()?
            .credential_slot(reference)
            .as_mut()
            .ok_or(Sw::REFERENCE_NOT_FOUND)?;
        if command.data.is_empty() {
            return if verified {
                Ok(())
            } else if credential.is_blocked() {
                Err(Sw::AUTH_BLOCKED)
            } else {
                Err(Sw::tries_left(credential.tries_left()))
            };
        }
        if credential.is_blocked() {
            return Err(Sw::AUTH_BLOCKED);
        }
        if credential.matches(command.data) {
            if credential.restore(reference) {
                self.touch();
            }
            self.session.set_verified(reference, true);
            Ok(())
        } else {
            let tries = credential.record_failure();
            self.touch();
            self.session.set_verified(reference, false);
            Err(Sw::tries_left(tries))
        }
    }

    /// CHANGE REFERENCE DATA (ISO/IEC 7816-4 §11.5.7): P1 `01` sets a credential during
    /// personalization; P1 `00` changes it given the current value.
    fn change_reference_data(&mut self, command: &Command<'_>) -> Result<(), Sw> {
        if command.p1 > 0x01 {
            return Err(Sw::INCORRECT_P1P2);
        }
        let reference = CredentialRef::from_reference(command.p2).ok_or(Sw::REFERENCE_NOT_FOUND)?;
        let bounds = reference.length_bounds();
        let df = self.credential_df()?;
        if command.p1 == 0x01 {
            if df.life_cycle != LifeCycle::Creation {
                return Err(Sw::SECURITY_NOT_SATISFIED);
            }
            if !bounds.contains(&command.data.len()) {
                return Err(Sw::INCORRECT_DATA);
            }
            *df.credential_slot(reference) = Some(Credential::new(reference, command.data));
            self.touch();
            self.session.set_verified(reference, false);
            return Ok(());
        }
        if command.data.is_empty() {
            return Err(Sw::WRONG_LENGTH);
        }
        let credential = df
            .credential_slot(reference)
            .as_mut()
            .ok_or(Sw::REFERENCE_NOT_FOUND)?;
        if credential.is_blocked() {
            return Err(Sw::AUTH_BLOCKED);
        }
        let split = command.data.split_at_checked(credential.len());
        let Some((_, new)) = split.filter(|(current, _)| credential.matches(current)) else {
            let tries = credential.record_failure();
            self.touch();
            self.session.set_verified(reference, false);
            return Err(Sw::tries_left(tries));
        };
        let restored = credential.restore(reference);
        let result = if bounds.contains(&new.len()) {
            *credential = Credential::new(reference, new);
            Ok(())
        } else {
            Err(Sw::INCORRECT_DATA)
        };
        if restored || result.is_ok() {
            self.touch();
        }
        self.session.set_verified(reference, result.is_ok());
        result
    }

    /// RESET RETRY COUNTER (ISO/IEC 7816-4 §11.5.10) of the holder PIN with the reset code:
    /// P1 `00` reset code + new PIN, P1 `01` reset code only.
    fn reset_retry_counter(&mut self, command: &Command<'_>) -> Result<(), Sw> {
        if command.p1 > 0x01 || command.p2 != 0x81 {
            return Err(Sw::INCORRECT_P1P2);
        }
        let only_unblock = command.p1 == 0x01;
        let df = self.credential_df()?;
        if command.data.is_empty() {
            return Err(Sw::WRONG_LENGTH);
        }
        if only_unblock && df.holder_pin.is_none() {
            return Err(Sw::REFERENCE_NOT_FOUND);
        }
        let reset_code = df.reset_code.as_mut().ok_or(Sw::REFERENCE_NOT_FOUND)?;
        if reset_code.is_blocked() {
            return Err(Sw::AUTH_BLOCKED);
        }
        let split = if only_unblock {
            Some((command.data, &[][..]))
        } else {
            command.data.split_at_checked(reset_code.len())
        };
        let Some((_, new_pin)) = split.filter(|(code, _)| reset_code.matches(code)) else {
            let tries = reset_code.record_failure();
            self.touch();
            self.session.reset_code_verified = false;
            return Err(Sw::tries_left(tries));
        };
        let mut changed = reset_code.restore(CredentialRef::ResetCode);
        let result = if only_unblock {
            if let Some(pin) = df.holder_pin.as_mut() {
                changed |= pin.restore(CredentialRef::HolderPin);
            }
            Ok(())
        } else if CredentialRef::HolderPin
            .length_bounds()
            .contains(&new_pin.len())
        {
            df.holder_pin = Some(Credential::new(CredentialRef::HolderPin, new_pin));
            changed = true;
            Ok(())
        } else {
            Err(Sw::INCORRECT_DATA)
        };
        if changed {
            self.touch();
        }
        self.session.pin_verified = false;
        result
    }

    /// CREATE FILE (ISO/IEC 7816-9 §7.1) with an FCP template (ISO/IEC 7816-4 §7.4).
    fn create_file(&mut self, command: &Command<'_>) -> Result<(), Sw> {
        if command.p1p2() != 0 {
            return Err(Sw::INCORRECT_P1P2);
        }
        let spec = fcp::parse_create(command.data).map_err(|_| Sw::INCORRECT_DATA)?;
        match spec {
            FileSpec::Df { fid, name } => {
                if self.fs.df(fid).is_some() || self.fs.df_by_name(&name).is_some() {
                    return Err(Sw::FILE_EXISTS);
                }
                if self.fs.file_count() >= MAX_FILES {
                    return Err(Sw::NOT_ENOUGH_MEMORY);
                }
                self.fs.dfs.push(Df::new(fid, name));
                self.touch();
                self.session.make_current(Target::Df(fid));
            }
            FileSpec::Ef { fid, size, access } => {
                let df_fid = self
                    .session
                    .current_df
                    .ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
                let room = CAPACITY.saturating_sub(self.fs.used_bytes());
                let full = self.fs.file_count() >= MAX_FILES;
                let df = self.fs.df_mut(df_fid).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
                if df.life_cycle != LifeCycle::Creation {
                    return Err(Sw::CONDITIONS_NOT_SATISFIED);
                }
                if df.ef(fid).is_some() {
                    return Err(Sw::FILE_EXISTS);
                }
                if size > room || full {
                    return Err(Sw::NOT_ENOUGH_MEMORY);
                }
                df.efs.push(Ef {
                    fid,
                    life_cycle: LifeCycle::Creation,
                    access,
                    content: vec![0; size],
                });
                self.touch();
                self.session.make_current(Target::Ef(df_fid, fid));
            }
        }
        Ok(())
    }

    /// The file DELETE FILE and ACTIVATE FILE act on: the current file (empty data) or a child
    /// of the current DF named by its FID.
    fn file_operand(&self, data: &[u8]) -> Result<Target, Sw> {
        let fid = match data {
            [] => return Ok(self.session.current()),
            &[hi, lo] => u16::from_be_bytes([hi, lo]),
            _ => return Err(Sw::WRONG_LENGTH),
        };
        match self.session.current_df {
            None => self
                .fs
                .df(fid)
                .map(|df| Target::Df(df.fid))
                .ok_or(Sw::FILE_NOT_FOUND),
            Some(df_fid) => self
                .fs
                .df(df_fid)
                .and_then(|df| df.ef(fid))
                .map(|ef| Target::Ef(df_fid, ef.fid))
                .ok_or(Sw::FILE_NOT_FOUND),
        }
    }

    /// DELETE FILE (ISO/IEC 7816-9 §7.2): only files in creation state; the parent becomes
    /// the current file.
    fn delete_file(&mut self, command: &Command<'_>) -> Result<(), Sw> {
        if command.p1p2() != 0 {
            return Err(Sw::INCORRECT_P1P2);
        }
        match self.file_operand(command.data)? {
            Target::Mf => Err(Sw::CONDITIONS_NOT_SATISFIED),
            Target::Df(df_fid) => {
                let index = self
                    .fs
                    .dfs
                    .iter()
                    .position(|df| df.fid == df_fid && df.life_cycle == LifeCycle::Creation)
                    .ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
                self.fs.dfs.remove(index);
                self.touch();
                self.session.make_current(Target::Mf);
                Ok(())
            }
            Target::Ef(df_fid, ef_fid) => {
                let df = self.fs.df_mut(df_fid).ok_or(Sw::FILE_NOT_FOUND)?;
                let index = df
                    .efs
                    .iter()
                    .position(|ef| ef.fid == ef_fid && ef.life_cycle == LifeCycle::Creation)
                    .ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
                df.efs.remove(index);
                self.touch();
                self.session.make_current(Target::Df(df_fid));
                Ok(())
            }
        }
    }

    /// ACTIVATE FILE (ISO/IEC 7816-9 §7.4): creation state to operational activated,
    /// idempotent; a DF needs all its EFs activated and both credentials set.
    fn activate_file(&mut self, command: &Command<'_>) -> Result<(), Sw> {
        if command.p1p2() != 0 {
            return Err(Sw::INCORRECT_P1P2);
        }
        let changed = match self.file_operand(command.data)? {
            Target::Mf => false,
            Target::Df(df_fid) => {
                let df = self.fs.df_mut(df_fid).ok_or(Sw::FILE_NOT_FOUND)?;
                if df.life_cycle == LifeCycle::Activated {
                    false
                } else {
                    if !df.is_complete() {
                        return Err(Sw::CONDITIONS_NOT_SATISFIED);
                    }
                    df.life_cycle = LifeCycle::Activated;
                    true
                }
            }
            Target::Ef(df_fid, ef_fid) => {
                let ef = self
                    .fs
                    .df_mut(df_fid)
                    .and_then(|df| df.ef_mut(ef_fid))
                    .ok_or(Sw::FILE_NOT_FOUND)?;
                let changed = ef.life_cycle == LifeCycle::Creation;
                ef.life_cycle = LifeCycle::Activated;
                changed
            }
        };
        if changed {
            self.touch();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Card;

    #[test]
    fn atr_has_a_correct_tck() {
        let atr = Card::blank().atr();
        assert_eq!(&atr[..4], &[0x3B, 0x8A, 0x80, 0x01]);
        assert_eq!(&atr[4..14], b"VSC-SOFTCD");
        assert_eq!(atr.len(), 15);
        assert_eq!(atr[1..].iter().fold(0u8, |a, b| a ^ b), 0);
    }
}
