//! Card agents: the card-specific commands of a personalization (claim 10's "card agent").
//!
//! A [`CardAgent`] turns an opened VSC into APDU batches for one card type, one step of the
//! personalization at a time: find out what the card holds, undo an unfinished run, write,
//! activate, read back, and set the PIN. The steps speak of data and credentials, not of
//! files, so data-object cards fit the same trait: the OpenPGP card's `write` is a series of
//! PUT DATA and key imports, its `erase` a TERMINATE DF + ACTIVATE FILE, its `probe` a GET
//! DATA of the object that holds the VSC UID. The engine in [`crate::perso`] decides the
//! order, handles `61xx`/`6Cxx`, chaining and extended APDUs, and never builds a command
//! itself.
//!
//! How PIV (NIST SP 800-73-4) would fit, without changing the trait: `probe` SELECTs the PIV
//! application and GETs the CHUID (`5FC102`), whose GUID holds the VSC UUID (blank: no
//! CHUID; this VSC's: the UUID matches); `write` authenticates with the card's management key
//! (GENERAL AUTHENTICATE, the default key, with a witness) and PUTs the CHUID, the holder's
//! data objects and, for on-card keys, GENERATE ASYMMETRIC KEY PAIR per slot; `activate`
//! changes the management key to one kept in the VSC's keys area, and the PUK to the reset
//! code; `read_back` compares the CHUID and the objects, and the public keys GENERATE
//! returned, which it finds in [`StepInput::earlier`] (the write step's responses), since a
//! key generated on the card is known to the VSC only through them; `set_pin` and
//! `reset_pin` are CHANGE REFERENCE DATA and RESET RETRY COUNTER on the PIV PIN (`80`) with
//! the PUK (`81`).

mod iso7816_fs;
mod openpgp;

pub use iso7816_fs::Iso7816FsAgent;
pub use openpgp::OpenPgpAgent;

use uuid::Uuid;

use crate::apdu::Response;
use crate::pin::Pin;
use crate::profile::{Layout, Profile};
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
#[non_exhaustive]
pub enum AgentError {
    /// The card is not of the agent's type (its application is not there, or it does not
    /// speak the commands); says what the card answered.
    #[error("{0}")]
    WrongCardType(String),
    /// The card answered a step with an unexpected status word.
    #[error("{0}")]
    Unexpected(String),
    /// A data object or key on the card does not match the VSC after writing.
    #[error("the card's {0} does not match the VSC")]
    ObjectMismatch(String),
    /// The card's content does not match the VSC after writing.
    #[error("the card's {area} area does not match the VSC (first difference at byte {offset})")]
    Mismatch {
        /// Area name.
        area: &'static str,
        /// First differing byte.
        offset: usize,
    },
}

/// What a card accepts at the APDU level, as the probe found it (capped by the profile). The
/// engine shapes every command to it: a command with more data than a short APDU carries goes
/// as an extended APDU when the card takes those, else as a chain (ISO 7816-4 §5.4.1), else it
/// is refused as too long for the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Largest command data field the card takes in one APDU.
    pub max_command_data: usize,
    /// Largest response data the card returns to one APDU.
    pub max_response_data: usize,
    /// Whether the card takes extended Lc/Le (ISO 7816-4 §5.1).
    pub extended: bool,
    /// Whether the card takes command chaining (CLA bit 5, ISO 7816-4 §5.4.1).
    pub chaining: bool,
}

impl Link {
    /// The limits a profile states for its card.
    pub fn of_profile(profile: &Profile) -> Link {
        Link {
            max_command_data: profile.card.max_command_data,
            max_response_data: profile.card.max_response_data,
            extended: profile.card.extended_apdus,
            chaining: false,
        }
    }
}

/// What the probe found: the card's state and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// What the card holds.
    pub state: CardState,
    /// What the card accepts.
    pub link: Link,
}

/// The credential that opens the holder's data for the read-back.
#[derive(Debug, Clone, Copy)]
pub enum HolderCredential<'a> {
    /// The card's initial one, set by the personalization (a file-system card's card
    /// password; an OpenPGP card's factory PW1).
    Initial,
    /// The individual PIN just set.
    Pin(&'a Pin),
}

/// What a step's commands may depend on: the VSC, what the probe found, and every response
/// of the steps run so far in this session (so a step can use what an earlier one read, e.g.
/// a public key a card generated).
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// The VSC being personalized.
    pub vsc: &'a Vsc,
    /// What the probe found.
    pub probe: &'a Probe,
    /// The steps run so far, with their commands and responses, in order.
    pub earlier: &'a [StepRecord],
}

/// One step the engine ran: its batch and the responses (fixups resolved, one per command, up
/// to the first unexpected status word).
#[derive(Debug, Clone)]
pub struct StepRecord {
    /// Which step.
    pub step: crate::perso::Step,
    /// Its commands.
    pub batch: Batch,
    /// Their responses.
    pub responses: Vec<Response>,
}

/// The card-specific half of a personalization.
///
/// The engine sends the batches one after another in one card session, in one of these
/// orders: probe, \[erase\], write, activate, read back, set PIN; or probe, (the clerk
/// confirms,) reset PIN, read back. A batch may rely on what the one before it selected;
/// only the reset-PIN batch, which follows a pause for the clerk's answer, selects again. A
/// step whose batch is empty is skipped. Commands may carry more data than one APDU: the
/// engine chains them or sends them extended as the card's [`Link`] allows, and handles
/// `61xx`/`6Cxx`. If the card is reset in between anyway, the next command fails with a
/// status word, the run stops, and the next run starts from the probe.
pub trait CardAgent {
    /// A short name of the card type, for messages.
    fn card_type(&self) -> &'static str;

    /// Commands that find out what the card holds; the batch may stop early.
    fn probe(&self) -> Batch;

    /// Reads the probe's responses (as many as came back before the batch stopped).
    fn classify(&self, responses: &[Response]) -> Result<Probe, AgentError>;

    /// Commands that undo an unfinished personalization this VSC started, leaving the card
    /// blank.
    fn erase(&self, step: &StepInput) -> Batch;

    /// Commands that write every area, key and credential (claim 7), leaving the card not
    /// yet activated.
    fn write(&self, step: &StepInput) -> Batch;

    /// Commands that close the personalization window: afterwards the card says it holds
    /// this VSC, and nothing of it is writable without the VSC's secrets.
    fn activate(&self, step: &StepInput) -> Batch;

    /// Commands that present `credential` and read back everything readable.
    fn read_back(&self, step: &StepInput, credential: HolderCredential) -> Batch;

    /// Compares what [`CardAgent::read_back`] returned with the VSC.
    fn check_read_back(
        &self,
        step: &StepInput,
        batch: &Batch,
        responses: &[Response],
    ) -> Result<(), AgentError>;

    /// Commands that give the holder its individual PIN after a first personalization
    /// (claim 5), and verify it.
    fn set_pin(&self, step: &StepInput, new: &Pin) -> Batch;

    /// Commands that set `new` through the reset code the VSC keeps, and verify it.
    fn reset_pin(&self, step: &StepInput, new: &Pin) -> Batch;
}

/// The agent for a profile's card type.
pub fn for_profile(profile: &Profile) -> Box<dyn CardAgent + Send + Sync> {
    match &profile.layout {
        Layout::FileSystem(fs) => Box::new(Iso7816FsAgent::new(profile, fs)),
        Layout::OpenPgp => Box::new(OpenPgpAgent::new(profile)),
    }
}
