//! The personalization engine: a sans-I/O state machine (claims 1, 5 and 7).
//!
//! [`Personalization`] decides what happens to a card and in which order; a
//! [`crate::agent::CardAgent`] supplies the commands. The engine hands out one [`Batch`] at a
//! time ([`Personalization::next_batch`]) and takes the responses back
//! ([`Personalization::receive`]); whoever drives it owns the I/O: [`run`] for a blocking
//! [`Transport`], the page's WebSocket loop in the browser.
//!
//! The flow:
//!
//! ```text
//!   probe ─┬─ blank ─────────────────────────────┐
//!          ├─ unfinished (this VSC or nobody) ── erase ─┤
//!          │                                      write ─ activate ─ read back (card password)
//!          │                                              ─ change PIN ─ verified
//!          ├─ personalized by this VSC ── the clerk confirms ─ reset PIN (reset code)
//!          │                                   ─ read back (new PIN) ─ verified (a replacement PIN)
//!          └─ another VSC's (unfinished or personalized) ── refused, naming its UID
//! ```
//!
//! A card this VSC already personalized only gets a new PIN once the clerk has said yes to
//! [`NewPinQuestion`] ("this card was issued to … on …; set a new PIN?"): the engine pauses,
//! [`Personalization::question`] returns it, and [`Personalization::answer`] goes on or stops
//! without touching the card.
//!
//! A card pulled at any APDU is safe: until activation the next run erases and restarts; from
//! activation on, the next run takes the "personalized by this VSC" path. Success is reported
//! only after the read-back matched and the new PIN verified.
//!
//! `61xx` (more data: GET RESPONSE) and `6Cxx` (wrong Le: send again with the right Le) are
//! handled here, once, for every agent and transport.

use rand_core::CryptoRngCore;
use uuid::Uuid;

use crate::agent::{
    self, AgentError, CardAgent, CardState, HolderCredential, Link, Probe, StepInput, StepRecord,
};
use crate::apdu::{Command, CommandHeader, Response, Status, StatusWord, SwPattern};
use crate::pin::{Pin, PinMailer};
use crate::secret::SecretBytes;
use crate::transport::{Batch, Transport, TransportError};
use crate::vsc::Vsc;

/// The steps of a personalization, in the order a first run takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Finding out what the card holds.
    CheckCard,
    /// Removing an unfinished personalization.
    Erase,
    /// Creating the structure and writing the areas and credentials.
    Write,
    /// Closing the personalization window.
    Activate,
    /// Setting a new PIN through the reset code (card already personalized by this VSC).
    ResetPin,
    /// Reading every readable area back and comparing it with the VSC.
    Verify,
    /// Replacing the card password with the individual PIN.
    SetPin,
}

impl Step {
    /// The step's label in lower case, for a sentence (`while writing the card`).
    pub fn in_words(self) -> String {
        self.label().to_lowercase()
    }

    /// What the step does, for a progress list.
    pub fn label(self) -> &'static str {
        match self {
            Step::CheckCard => "Checking the card",
            Step::Erase => "Removing an unfinished personalization",
            Step::Write => "Writing the card",
            Step::Activate => "Activating the card",
            Step::ResetPin => "Setting a new PIN with the reset code",
            Step::Verify => "Reading the card back and comparing",
            Step::SetPin => "Setting the individual PIN",
        }
    }
}

/// How far a personalization got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The step in progress.
    pub step: Step,
    /// APDUs answered so far.
    pub apdus_done: usize,
    /// APDUs this run is expected to need in all (grows when a step is added).
    pub apdus_planned: usize,
}

/// A successful personalization.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The VSC written to the card.
    pub uid: Uuid,
    /// What the card held before this run.
    pub found: CardState,
    /// The steps taken, in order.
    pub steps: Vec<Step>,
    /// The individual PIN now set on the card (show once, store nowhere).
    pub pin: Pin,
    /// The holder's name, from the public area (the profile's `who.name`).
    pub holder_name: String,
    /// The issuer's name, from the public area (the profile's `who.issuer`; may be empty).
    pub issuer_name: String,
    /// APDUs exchanged in all.
    pub apdus: usize,
}

impl Outcome {
    /// Whether the PIN replaces the one the card had (the card already held this VSC).
    pub fn is_replacement(&self) -> bool {
        matches!(self.found, CardState::Personalized { .. })
    }

    /// The PIN mailer for the holder (claim 5's secure channel).
    pub fn pin_mailer(&self) -> PinMailer {
        PinMailer {
            holder_name: self.holder_name.clone(),
            issuer_name: self.issuer_name.clone(),
            uid: self.uid,
            pin: self.pin.clone(),
            replacement: self.is_replacement(),
        }
    }
}

/// The question asked before a card that already holds this VSC gets a new PIN: its holder's
/// PIN stops working, so the clerk confirms it is the card's holder who asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPinQuestion {
    /// The VSC on the card (the one being personalized).
    pub uid: Uuid,
    /// Who the card was issued to (the profile's `who` fields, e.g. `E-1002 Siobhán O'Brien`).
    pub holder: String,
    /// The day it was issued (the profile's `who.issued_on`), when the VSC records it.
    pub issued_on: Option<String>,
}

impl std::fmt::Display for NewPinQuestion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this card already holds VSC {}: it was issued to ",
            self.uid
        )?;
        if self.holder.is_empty() {
            f.write_str("its holder")?;
        } else {
            f.write_str(&self.holder)?;
        }
        if let Some(day) = &self.issued_on {
            write!(f, " on {day}")?;
        }
        f.write_str(". Set a new PIN? The PIN the holder has now will stop working.")
    }
}

/// Why a personalization stopped. Each message says whose fault it is and what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PersoError {
    /// The card already holds another VSC.
    #[error("this card already holds VSC {owner}{state}: it is not the card for VSC {vsc}; use a blank card, or personalize it with VSC {owner}")]
    ForeignCard {
        /// The UID found on the card.
        owner: Uuid,
        /// The VSC being personalized.
        vsc: Uuid,
        /// " (personalization unfinished)" or "".
        state: &'static str,
    },
    /// The card is not of the type the VSC's profile is for.
    #[error(
        "this is not {expected}, which VSC {vsc} is for ({detail}); put {expected} in the reader"
    )]
    WrongCardType {
        /// The card type the profile is for, in words (`an OpenPGP card`).
        expected: &'static str,
        /// What the card answered instead.
        detail: String,
        /// The VSC being personalized.
        vsc: Uuid,
    },
    /// The card answered something this card type should never answer.
    #[error("the card is not usable for this VSC while {}: {reason}", .step.in_words())]
    UnusableCard {
        /// The step.
        step: Step,
        /// What the card answered, as the agent read it.
        reason: AgentError,
    },
    /// A command was refused with an unexpected status word.
    #[error("the card refused a command while {} ({command}: {sw}, {}); the card may be half-personalized: run again with the same VSC to finish or restart", .step.in_words(), .sw.status())]
    Refused {
        /// The step.
        step: Step,
        /// The command refused (its header; the data is never kept).
        command: CommandHeader,
        /// The status word.
        sw: StatusWord,
    },
    /// The read-back differs from the VSC.
    #[error("the card does not hold what was written ({0}); the card is faulty or was tampered with: do not issue it")]
    Mismatch(AgentError),
    /// The transport failed.
    #[error("{source} while {}: {}", .step.in_words(), transport_advice(*.step))]
    Transport {
        /// The step.
        step: Step,
        /// The transport's error.
        source: TransportError,
    },
    /// The clerk did not confirm a new PIN for a card this VSC had already personalized.
    #[error("no new PIN was set: the card already holds VSC {uid} and was left as it was, with its holder's PIN")]
    NewPinDeclined {
        /// The VSC on the card.
        uid: Uuid,
    },
    /// The driver broke the engine's protocol (a bug in the caller, not the card).
    #[error("internal error in the personalization driver: {0}")]
    Driver(String),
}

/// What to do after the transport failed during `step`.
fn transport_advice(step: Step) -> &'static str {
    if step == Step::CheckCard {
        "nothing was written to the card; put it back in the reader and run again"
    } else {
        "the card is left unfinished; put it back in the reader and run again with the same VSC, which finishes or restarts it cleanly"
    }
}

impl PersoError {
    /// Whether the run stopped before anything was written to the card and the card holds
    /// nothing of this VSC (another VSC on it, the wrong card type, or any failure while the
    /// card was being checked, which only reads): its job is given back untouched rather than
    /// reported failed and the card spoiled. The one rule the CLI and the page follow. A new
    /// PIN declined is not untouched: that card holds this VSC from an earlier run, and a
    /// queued job that goes to a new card leaves it to be set aside.
    pub fn card_untouched(&self) -> bool {
        matches!(
            self,
            PersoError::ForeignCard { .. }
                | PersoError::WrongCardType { .. }
                | PersoError::Transport {
                    step: Step::CheckCard,
                    ..
                }
                | PersoError::UnusableCard {
                    step: Step::CheckCard,
                    ..
                }
                | PersoError::Refused {
                    step: Step::CheckCard,
                    ..
                }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Probe,
    /// Waiting for the clerk's answer to a [`NewPinQuestion`].
    Confirm,
    Erase,
    Write,
    Activate,
    ResetPin,
    ReadBack,
    SetPin,
    Done,
    Failed,
}

/// One APDU as it goes on the wire: a command of the phase's batch, or one link of its chain.
#[derive(Debug, Clone)]
struct Wire {
    command: Command,
    expect: SwPattern,
    /// The command of the phase's batch it carries.
    item: usize,
    /// Whether it is that command's last (or only) APDU, whose response is the command's.
    last: bool,
}

/// A sub-exchange the engine runs on its own to complete one command of a batch.
#[derive(Debug)]
enum Fixup {
    /// Collecting the rest of a `61xx` response with GET RESPONSE.
    GetResponse {
        /// The data collected so far.
        data: SecretBytes,
        /// GET RESPONSE commands sent so far for this command.
        rounds: usize,
    },
    /// Re-sending the last APDU of a command with the Le a `6Cxx` named.
    Resend,
}

/// The personalization of one card from one opened VSC.
pub struct Personalization {
    vsc: Vsc,
    agent: Box<dyn CardAgent + Send + Sync>,
    pin: Pin,
    phase: Phase,
    /// The batch of the current phase, and the responses collected for it so far (one per
    /// command, fixups resolved).
    batch: Batch,
    responses: Vec<Response>,
    /// The phase's commands as APDUs, and how many of them have been answered.
    wire: Vec<Wire>,
    wire_done: usize,
    /// What was last handed to the driver.
    outgoing: Batch,
    fixup: Option<Fixup>,
    probe: Option<Probe>,
    earlier: Vec<StepRecord>,
    steps: Vec<Step>,
    apdus_done: usize,
    apdus_planned: usize,
    outcome: Option<Outcome>,
    error: Option<PersoError>,
}

impl std::fmt::Debug for Personalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Personalization")
            .field("uid", &self.vsc.uid())
            .field("phase", &self.phase)
            .field("apdus_done", &self.apdus_done)
            .finish_non_exhaustive()
    }
}

impl Personalization {
    /// Prepares the personalization of a card from `vsc`, with a freshly generated PIN.
    pub fn new(vsc: Vsc, rng: &mut impl CryptoRngCore) -> Self {
        let pin = Pin::generate(vsc.profile().pin.length, rng);
        Self::with_pin(vsc, pin)
    }

    /// Same as [`Personalization::new`] with a given PIN (tests, and re-runs that must reuse one).
    pub fn with_pin(vsc: Vsc, pin: Pin) -> Self {
        let agent = agent::for_profile(vsc.profile());
        let batch = agent.probe();
        let link = Link::of_profile(vsc.profile());
        let mut engine = Self {
            vsc,
            agent,
            pin,
            phase: Phase::Probe,
            batch: Batch::new(),
            responses: Vec::new(),
            wire: Vec::new(),
            wire_done: 0,
            outgoing: Batch::new(),
            fixup: None,
            probe: None,
            earlier: Vec::new(),
            steps: vec![Step::CheckCard],
            apdus_done: 0,
            apdus_planned: 0,
            outcome: None,
            error: None,
        };
        // The probe goes out as the profile states the card; what the card says of itself
        // shapes every later step.
        if let Err(error) = engine.start(batch, link) {
            engine.fail(error);
        }
        engine
    }

    /// The batch to send next, or `None` when the run is over (see [`Personalization::finish`])
    /// or waits for an answer (see [`Personalization::question`]).
    pub fn next_batch(&self) -> Option<&Batch> {
        match self.phase {
            Phase::Done | Phase::Failed | Phase::Confirm => None,
            _ => Some(&self.outgoing),
        }
    }

    /// The question the clerk must answer before the run goes on, when it is waiting for one.
    pub fn question(&self) -> Option<NewPinQuestion> {
        if self.phase != Phase::Confirm {
            return None;
        }
        Some(NewPinQuestion {
            uid: self.vsc.uid(),
            holder: self.vsc.holder(),
            issued_on: self.vsc.issued_on(),
        })
    }

    /// Answers the open [`Personalization::question`]: `true` sets the new PIN, `false` ends
    /// the run with [`PersoError::NewPinDeclined`] and the card untouched. Without an open
    /// question this is a driver error.
    pub fn answer(&mut self, set_new_pin: bool) {
        if self.phase != Phase::Confirm {
            self.fail(PersoError::Driver(
                "answer() without an open question".into(),
            ));
        } else if set_new_pin {
            if let Err(error) = self.enter(Phase::ResetPin) {
                self.fail(error);
            }
        } else {
            self.fail(PersoError::NewPinDeclined {
                uid: self.vsc.uid(),
            });
        }
    }

    /// Takes the responses to the batch from [`Personalization::next_batch`]: one per APDU, up
    /// to and including the first whose status word did not match its `expect` pattern.
    pub fn receive(&mut self, responses: Vec<Response>) {
        if let Err(error) = self.absorb(responses) {
            self.fail(error);
        }
    }

    /// Reports that the transport failed during the current batch.
    pub fn transport_failed(&mut self, error: TransportError) {
        let step = self.step();
        self.fail(PersoError::Transport {
            step,
            source: error,
        });
    }

    /// How far the run got.
    pub fn progress(&self) -> Progress {
        Progress {
            step: self.step(),
            apdus_done: self.apdus_done,
            apdus_planned: self.apdus_planned.max(self.apdus_done),
        }
    }

    /// The result, once [`Personalization::next_batch`] returns `None`.
    pub fn finish(self) -> Result<Outcome, PersoError> {
        match (self.outcome, self.error) {
            (Some(outcome), None) => Ok(outcome),
            (_, Some(error)) => Err(error),
            (None, None) => Err(PersoError::Driver(
                "finish() called before the personalization ended (or with a question open)".into(),
            )),
        }
    }

    /// The VSC being personalized.
    pub fn vsc(&self) -> &Vsc {
        &self.vsc
    }

    fn step(&self) -> Step {
        *self.steps.last().unwrap_or(&Step::CheckCard)
    }

    /// Starts a phase's batch: plans its APDUs for the card's link and hands them out.
    fn start(&mut self, batch: Batch, link: Link) -> Result<(), PersoError> {
        let mut wire = Vec::with_capacity(batch.len());
        for (item, entry) in batch.items.iter().enumerate() {
            let links = shape(&entry.command, link).ok_or_else(|| PersoError::UnusableCard {
                step: self.step(),
                reason: AgentError::Unexpected(format!(
                    "{} carries {} bytes, more than this card takes in one command ({}), and the card chains no commands",
                    entry.command.header_text(),
                    entry.command.data().len(),
                    link.max_command_data
                )),
            })?;
            let count = links.len();
            for (i, command) in links.into_iter().enumerate() {
                let last = i + 1 == count;
                let expect = if last { entry.expect } else { SwPattern::OK };
                wire.push(Wire {
                    command,
                    expect,
                    item,
                    last,
                });
            }
        }
        self.apdus_planned += wire.len();
        self.wire = wire;
        self.wire_done = 0;
        self.batch = batch;
        self.responses.clear();
        self.fixup = None;
        self.outgoing = self.remaining_wire();
        Ok(())
    }

    /// The APDUs of the phase not answered yet, as the driver sends them.
    fn remaining_wire(&self) -> Batch {
        let mut batch = Batch::new();
        for wire in &self.wire[self.wire_done..] {
            batch.push_expecting(wire.command.clone(), wire.expect);
        }
        batch
    }

    fn fail(&mut self, error: PersoError) {
        self.phase = Phase::Failed;
        self.error = Some(error);
    }

    fn absorb(&mut self, received: Vec<Response>) -> Result<(), PersoError> {
        if matches!(self.phase, Phase::Done | Phase::Failed | Phase::Confirm) {
            return Err(PersoError::Driver(
                "responses while no batch was outstanding".into(),
            ));
        }
        if received.is_empty() || received.len() > self.outgoing.len() {
            return Err(PersoError::Driver(format!(
                "{} responses for a batch of {} APDUs",
                received.len(),
                self.outgoing.len()
            )));
        }
        self.apdus_done += received.len();
        let sent = self.outgoing.len();
        let count = received.len();
        for response in received {
            match self.take_response(response)? {
                Taken::Next => {}
                Taken::Fixup(next) => {
                    // A fixup (GET RESPONSE or resend) is needed before the batch can go on.
                    self.apdus_planned += 1;
                    self.outgoing = next;
                    return Ok(());
                }
                Taken::Stopped => return self.phase_complete(true),
            }
        }
        if count < sent {
            return Err(PersoError::Driver(format!(
                "the batch stopped after {count} of {sent} APDUs without an unexpected status word"
            )));
        }
        if self.wire_done == self.wire.len() {
            return self.phase_complete(false);
        }
        // The rest of the phase's APDUs, after a fixup interrupted them.
        self.outgoing = self.remaining_wire();
        Ok(())
    }

    /// Files one response: for a fixup, for a link of a chain, or for the last APDU of a
    /// command (ISO 7816-4 §5.3.4: `61xx` collects the rest with GET RESPONSE, `6Cxx`
    /// sends the command again with the right Le).
    fn take_response(&mut self, response: Response) -> Result<Taken, PersoError> {
        if self.wire_done >= self.wire.len() {
            return Err(PersoError::Driver(
                "more responses than APDUs in the batch".into(),
            ));
        }
        let wire = &self.wire[self.wire_done];
        if !wire.last && self.fixup.is_none() {
            // A link of a chain: the card says 9000 and waits for the rest.
            self.wire_done += 1;
            if wire.expect.matches(response.sw.0) {
                return Ok(Taken::Next);
            }
            // The chain broke: that answer is the command's.
            self.responses.push(response);
            return Ok(Taken::Stopped);
        }
        let expected = wire.expect.matches(response.sw.0);
        match (response.sw.status(), self.fixup.take()) {
            (Status::MoreData(n), fixup) if !expected => {
                let (mut data, rounds) = match fixup {
                    Some(Fixup::GetResponse { data, rounds }) => (data, rounds),
                    _ => (SecretBytes::default(), 0),
                };
                data.extend_from_slice(response.data());
                // A response is at most 65,536 bytes (ISO 7816-4 §5.1): 256 rounds of 256.
                if data.len() > 65536 || rounds >= 256 {
                    return Err(PersoError::UnusableCard {
                        step: self.step(),
                        reason: AgentError::Unexpected(
                            "the card keeps answering 61xx without end".into(),
                        ),
                    });
                }
                self.fixup = Some(Fixup::GetResponse {
                    data,
                    rounds: rounds + 1,
                });
                let le = if n == 0 { 256 } else { usize::from(n) };
                // ISO 7816-4 §11.7.1 GET RESPONSE.
                let get_response = Command::new(0x00, 0xC0, 0x00, 0x00).with_le(le);
                let mut batch = Batch::new();
                batch.push_expecting(get_response, SwPattern::OK);
                Ok(Taken::Fixup(batch))
            }
            (Status::WrongLe(n), None) if !expected => {
                self.fixup = Some(Fixup::Resend);
                let le = if n == 0 { 256 } else { usize::from(n) };
                let mut batch = Batch::new();
                batch.push_expecting(wire.command.clone().with_le(le), wire.expect);
                Ok(Taken::Fixup(batch))
            }
            (_, fixup) => {
                let response = match fixup {
                    Some(Fixup::GetResponse { mut data, .. }) => {
                        data.extend_from_slice(response.data());
                        Response::new(data, response.sw)
                    }
                    _ => response,
                };
                let item = wire.item;
                let pattern = self.batch.items[item].expect;
                self.wire_done += 1;
                let ok = pattern.matches(response.sw.0);
                self.responses.push(response);
                Ok(if ok { Taken::Next } else { Taken::Stopped })
            }
        }
    }

    fn refused(&self, stopped_at: &Response) -> PersoError {
        let index = self.responses.len() - 1;
        PersoError::Refused {
            step: self.step(),
            command: self.batch.items[index].command.header(),
            sw: stopped_at.sw,
        }
    }

    fn phase_complete(&mut self, stopped: bool) -> Result<(), PersoError> {
        let last = self.responses.last().cloned();
        if stopped && self.phase != Phase::Probe {
            let last = last.ok_or_else(|| PersoError::Driver("no response".into()))?;
            return Err(self.refused(&last));
        }
        self.earlier.push(StepRecord {
            step: self.step(),
            batch: std::mem::take(&mut self.batch),
            responses: std::mem::take(&mut self.responses),
        });
        match self.phase {
            Phase::Probe => {
                let responses = &self.earlier[0].responses;
                let probe = self.agent.classify(responses).map_err(|e| match e {
                    AgentError::WrongCardType(detail) => PersoError::WrongCardType {
                        expected: self.vsc.profile().layout.card_type(),
                        detail,
                        vsc: self.vsc.uid(),
                    },
                    other => PersoError::UnusableCard {
                        step: Step::CheckCard,
                        reason: other,
                    },
                })?;
                let state = probe.state.clone();
                self.probe = Some(probe);
                let me = self.vsc.uid();
                match state {
                    CardState::Blank => self.enter(Phase::Write)?,
                    CardState::Unfinished { owner: Some(owner) } if owner != me => {
                        return Err(PersoError::ForeignCard {
                            owner,
                            vsc: me,
                            state: " (personalization unfinished)",
                        })
                    }
                    CardState::Unfinished { .. } => self.enter(Phase::Erase)?,
                    CardState::Personalized { owner } if owner == me => {
                        self.phase = Phase::Confirm;
                    }
                    CardState::Personalized { owner } => {
                        return Err(PersoError::ForeignCard {
                            owner,
                            vsc: me,
                            state: "",
                        })
                    }
                }
            }
            Phase::Erase => self.enter(Phase::Write)?,
            Phase::Write => self.enter(Phase::Activate)?,
            Phase::Activate | Phase::ResetPin => self.enter(Phase::ReadBack)?,
            Phase::ReadBack => {
                let record = self
                    .earlier
                    .last()
                    .ok_or_else(|| PersoError::Driver("the read-back left no record".into()))?;
                let input = StepInput {
                    vsc: &self.vsc,
                    probe: self
                        .probe
                        .as_ref()
                        .ok_or_else(|| PersoError::Driver("read back before the probe".into()))?,
                    earlier: &self.earlier,
                };
                self.agent
                    .check_read_back(&input, &record.batch, &record.responses)
                    .map_err(PersoError::Mismatch)?;
                if self.steps.contains(&Step::ResetPin) {
                    self.done();
                } else {
                    self.enter(Phase::SetPin)?;
                }
            }
            Phase::SetPin => self.done(),
            Phase::Confirm | Phase::Done | Phase::Failed => {}
        }
        Ok(())
    }

    /// Enters a phase: asks the agent for its batch and starts it; an empty batch is a step
    /// this card does not need, and the engine goes straight on to the next phase.
    fn enter(&mut self, phase: Phase) -> Result<(), PersoError> {
        let step = match phase {
            Phase::Erase => Step::Erase,
            Phase::Write => Step::Write,
            Phase::Activate => Step::Activate,
            Phase::ResetPin => Step::ResetPin,
            Phase::ReadBack => Step::Verify,
            Phase::SetPin => Step::SetPin,
            _ => return Err(PersoError::Driver(format!("cannot enter {phase:?}"))),
        };
        let probe = self
            .probe
            .clone()
            .ok_or_else(|| PersoError::Driver("a step before the probe".into()))?;
        let batch = {
            let input = StepInput {
                vsc: &self.vsc,
                probe: &probe,
                earlier: &self.earlier,
            };
            match phase {
                Phase::Erase => self.agent.erase(&input),
                Phase::Write => self.agent.write(&input),
                Phase::Activate => self.agent.activate(&input),
                Phase::ResetPin => self.agent.reset_pin(&input, &self.pin),
                Phase::ReadBack if self.steps.contains(&Step::ResetPin) => self
                    .agent
                    .read_back(&input, HolderCredential::Pin(&self.pin)),
                Phase::ReadBack => self.agent.read_back(&input, HolderCredential::Initial),
                _ => self.agent.set_pin(&input, &self.pin),
            }
        };
        self.phase = phase;
        self.steps.push(step);
        if batch.is_empty() {
            self.earlier.push(StepRecord {
                step,
                batch,
                responses: Vec::new(),
            });
            return match phase {
                Phase::ReadBack => Err(PersoError::Driver(
                    "a card agent must read back something".into(),
                )),
                Phase::SetPin => {
                    self.done();
                    Ok(())
                }
                Phase::Erase => self.enter(Phase::Write),
                Phase::Write => self.enter(Phase::Activate),
                Phase::Activate | Phase::ResetPin => self.enter(Phase::ReadBack),
                _ => Ok(()),
            };
        }
        self.start(batch, probe.link)
    }

    fn done(&mut self) {
        self.phase = Phase::Done;
        self.outcome = Some(Outcome {
            uid: self.vsc.uid(),
            found: self
                .probe
                .as_ref()
                .map_or(CardState::Blank, |p| p.state.clone()),
            steps: self.steps.clone(),
            pin: self.pin.clone(),
            holder_name: self.vsc.holder_name(),
            issuer_name: self.vsc.issuer_name(),
            apdus: self.apdus_done,
        });
    }
}

/// What the engine does after filing one response.
enum Taken {
    /// Go on with the next APDU.
    Next,
    /// Send this fixup first.
    Fixup(Batch),
    /// The command's status word was not the expected one: the batch stops here.
    Stopped,
}

/// A command as APDUs for `link`: itself when it fits; a chain of short APDUs (CLA bit 5 set
/// on all but the last, ISO 7816-4 §5.4.1) when it carries more data than fits and the card
/// chains; `None` when neither works. An Le beyond what one APDU returns is lowered to what
/// fits, the rest coming back through `61xx`.
fn shape(command: &Command, link: Link) -> Option<Vec<Command>> {
    let short_max = 255;
    let one_apdu = if link.extended {
        link.max_command_data.max(1)
    } else {
        link.max_command_data.clamp(1, short_max)
    };
    let max_le = if link.extended {
        link.max_response_data.max(1)
    } else {
        256
    };
    let fit_le = |c: Command| match c.le {
        Some(le) if le > max_le => c.with_le(max_le),
        _ => c,
    };
    let data = command.data();
    if data.len() <= one_apdu {
        return Some(vec![fit_le(command.clone())]);
    }
    if !link.chaining {
        return None;
    }
    let chunk = link.max_command_data.clamp(1, short_max);
    let pieces: Vec<&[u8]> = data.chunks(chunk).collect();
    let count = pieces.len();
    Some(
        pieces
            .into_iter()
            .enumerate()
            .map(|(i, piece)| {
                let last = i + 1 == count;
                let cla = if last {
                    command.cla
                } else {
                    command.cla | 0x10
                };
                let link = command.with_body(cla, piece, if last { command.le } else { None });
                fit_le(link)
            })
            .collect(),
    )
}

/// The batches a first personalization sends to a blank card, each command shaped into APDUs
/// as the engine would for the card's stated limits: for a script a card can be personalized
/// with, without this product. The probe and its decisions are left out (the card is taken to
/// be blank), and no response is checked.
pub fn blank_card_plan(vsc: &Vsc, pin: &Pin) -> Result<Vec<(Step, Batch)>, PersoError> {
    let agent = agent::for_profile(vsc.profile());
    let probe = Probe {
        state: CardState::Blank,
        link: Link::of_profile(vsc.profile()),
    };
    let input = StepInput {
        vsc,
        probe: &probe,
        earlier: &[],
    };
    let steps = [
        (Step::Write, agent.write(&input)),
        (Step::Activate, agent.activate(&input)),
        (
            Step::Verify,
            agent.read_back(&input, HolderCredential::Initial),
        ),
        (Step::SetPin, agent.set_pin(&input, pin)),
    ];
    steps
        .into_iter()
        .map(|(step, batch)| {
            let mut shaped = Batch::new();
            for item in &batch.items {
                let links =
                    shape(&item.command, probe.link).ok_or_else(|| PersoError::UnusableCard {
                        step,
                        reason: AgentError::Unexpected(format!(
                            "{} is too long for the card the profile states",
                            item.command.header_text()
                        )),
                    })?;
                let count = links.len();
                for (i, command) in links.into_iter().enumerate() {
                    let expect = if i + 1 == count {
                        item.expect
                    } else {
                        SwPattern::OK
                    };
                    shaped.push_expecting(command, expect);
                }
            }
            Ok((step, shaped))
        })
        .collect()
}

/// Drives a personalization to its end over a blocking transport, one batch at a time,
/// calling `on_progress` after every batch and `confirm` with the question of a card that
/// already holds this VSC (`true`: set a new PIN).
pub fn run(
    mut engine: Personalization,
    transport: &mut dyn Transport,
    mut on_progress: impl FnMut(&Progress),
    mut confirm: impl FnMut(&NewPinQuestion) -> bool,
) -> Result<Outcome, PersoError> {
    loop {
        run_batches(&mut engine, transport, &mut on_progress);
        match engine.question() {
            Some(question) => {
                let yes = confirm(&question);
                engine.answer(yes);
            }
            None => return engine.finish(),
        }
    }
}

/// Sends the engine's batches over a blocking transport until it ends or waits for an answer
/// ([`Personalization::question`]), calling `on_progress` after every batch. For drivers that
/// must let go of the card while a person answers (the CLI ends its PC/SC transaction).
pub fn run_batches(
    engine: &mut Personalization,
    transport: &mut dyn Transport,
    mut on_progress: impl FnMut(&Progress),
) {
    while let Some(batch) = engine.next_batch() {
        match crate::transport::run_batch(transport, batch) {
            Ok(responses) => engine.receive(responses),
            Err(error) => engine.transport_failed(error),
        }
        on_progress(&engine.progress());
    }
}
