//! Card agents: the card-specific commands of a personalization (claim 10's "card agent").
//!
//! A [`CardAgent`] turns an opened VSC into APDU batches for one card type, one step of the
//! personalization at a time: find out what the card holds, undo an unfinished run, write,
//! activate, read back, and set the PIN. The steps speak of data and credentials, not of
//! files, so data-object cards (OpenPGP card, PIV) fit the same trait: their `write` is a
//! series of PUT DATA, their `erase` a TERMINATE + ACTIVATE, their `probe` a GET DATA of the
//! object that holds the VSC UID. The engine in [`crate::perso`] decides the order, handles
//! `61xx`/`6Cxx`, and never builds a command itself.

mod iso7816_fs;

pub use iso7816_fs::Iso7816FsAgent;

use uuid::Uuid;

use crate::apdu::Response;
use crate::pin::Pin;
use crate::profile::{AgentKind, Profile};
use crate::secret::SecretBytes;
use crate::transport::Batch;
use crate::vsc::Vsc;

/// What a card holds, as far as personalization is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardState {
    /// Nothing of this profile on the card.
    Blank,
    /// A personalization was started and not finished; `owner` is the VSC UID it wrote, if it
    /// got that far.
    Unfinished {
        /// The UID found on the card.
        owner: Option<Uuid>,
    },
    /// Personalized and activated for the VSC with this UID.
    Personalized {
        /// The UID found on the card.
        owner: Uuid,
    },
}

/// A card answer the agent cannot make sense of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// The card answered a step with an unexpected status word.
    #[error("{0}")]
    Unexpected(String),
    /// The card's content does not match the VSC after writing.
    #[error("the card's {area} area does not match the VSC (first difference at byte {offset})")]
    Mismatch {
        /// Area name.
        area: &'static str,
        /// First differing byte.
        offset: usize,
    },
}

/// The card-specific half of a personalization.
///
/// The engine sends the batches one after another in one card session and nothing in between,
/// always in one of these orders: probe, [erase], write, activate, read back, change PIN; or
/// probe, reset PIN, read back. So a batch may rely on what the one before it selected, and
/// spends no APDU re-selecting. If the card is reset in between anyway, the next command fails
/// with a status word, the run stops, and the next run starts from the probe.
pub trait CardAgent {
    /// A short name of the card type, for messages.
    fn card_type(&self) -> &'static str;

    /// Commands that find out what the card holds; the batch may stop early.
    fn probe(&self) -> Batch;

    /// Reads the probe's responses (as many as came back before the batch stopped).
    fn classify(&self, responses: &[Response]) -> Result<CardState, AgentError>;

    /// Commands that undo an unfinished personalization, leaving the card blank.
    fn erase(&self) -> Batch;

    /// Commands that create the structure and write every area and credential (claim 7),
    /// leaving the card not yet activated.
    fn write(&self, vsc: &Vsc) -> Batch;

    /// Commands that close the personalization window: afterwards nothing is writable.
    fn activate(&self) -> Batch;

    /// Commands that present `credential` for the holder PIN and read back every readable area.
    fn read_back(&self, vsc: &Vsc, credential: &SecretBytes) -> Batch;

    /// Compares what [`CardAgent::read_back`] returned with the VSC.
    fn check_read_back(
        &self,
        vsc: &Vsc,
        batch: &Batch,
        responses: &[Response],
    ) -> Result<(), AgentError>;

    /// Commands that replace the current holder credential with `new` (claim 5) and verify it.
    fn change_pin(&self, current: &SecretBytes, new: &Pin) -> Batch;

    /// Commands that set `new` through the reset credential, and verify it.
    fn reset_pin(&self, reset_code: &SecretBytes, new: &Pin) -> Batch;
}

/// The agent for a profile's card type.
pub fn for_profile(profile: &Profile) -> Box<dyn CardAgent + Send + Sync> {
    match profile.agent {
        AgentKind::Iso7816Fs => Box::new(Iso7816FsAgent::new(profile)),
    }
}
