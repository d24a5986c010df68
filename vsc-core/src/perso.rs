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

use crate::agent::{self, AgentError, CardAgent, CardState};
use crate::apdu::{Command, Response, Status, SwPattern};
use crate::pin::{Pin, PinMailer};
use crate::secret::SecretBytes;
use crate::transport::{Batch, BatchItem, Transport, TransportError};
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
    /// The card answered something this card type should never answer.
    #[error("the card is not usable for this VSC while {step}: {reason}")]
    UnusableCard {
        /// The step (label, lower case).
        step: String,
        /// What the card answered.
        reason: String,
    },
    /// A command was refused with an unexpected status word.
    #[error("the card refused a command while {step} ({command}: {sw}, {meaning}); the card may be half-personalized: run again with the same VSC to finish or restart")]
    Refused {
        /// The step (label, lower case).
        step: String,
        /// The command header.
        command: String,
        /// The status word in hex.
        sw: String,
        /// What it means.
        meaning: String,
    },
    /// The read-back differs from the VSC.
    #[error("the card does not hold what was written ({0}); the card is faulty or was tampered with: do not issue it")]
    Mismatch(String),
    /// The transport failed.
    #[error("{source} while {step}: the card is left unfinished; put it back in the reader and run again with the same VSC, which finishes or restarts it cleanly")]
    Transport {
        /// The step (label, lower case).
        step: String,
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

#[derive(Debug)]
enum Phase {
    Probe,
    /// Waiting for the clerk's answer to a [`NewPinQuestion`].
    Confirm,
    Erase,
    Write,
    Activate,
    ResetPin,
    ReadBack,
    ChangePin,
    Done,
    Failed,
}

/// A sub-exchange the engine runs on its own to complete one APDU of a batch.
#[derive(Debug)]
enum Fixup {
    /// Collecting the rest of a `61xx` response with GET RESPONSE.
    GetResponse {
        /// The data collected so far.
        data: SecretBytes,
        /// GET RESPONSE commands sent so far for this APDU.
        rounds: usize,
    },
    /// Re-sending a command with the Le a `6Cxx` named.
    Resend,
}

/// The personalization of one card from one opened VSC.
pub struct Personalization {
    vsc: Vsc,
    agent: Box<dyn CardAgent + Send + Sync>,
    pin: Pin,
    phase: Phase,
    /// The batch of the current phase, and the responses collected for it so far.
    batch: Batch,
    responses: Vec<Response>,
    /// What was last handed to the driver.
    outgoing: Batch,
    fixup: Option<Fixup>,
    found: Option<CardState>,
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
        let mut engine = Self {
            vsc,
            agent,
            pin,
            phase: Phase::Probe,
            batch: Batch::new(),
            responses: Vec::new(),
            outgoing: Batch::new(),
            fixup: None,
            found: None,
            steps: vec![Step::CheckCard],
            apdus_done: 0,
            apdus_planned: 0,
            outcome: None,
            error: None,
        };
        engine.start(batch);
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
        if !matches!(self.phase, Phase::Confirm) {
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
        if !matches!(self.phase, Phase::Confirm) {
            self.fail(PersoError::Driver(
                "answer() without an open question".into(),
            ));
        } else if set_new_pin {
            let batch = self.agent.reset_pin(&self.vsc.reset_code(), &self.pin);
            self.enter(Phase::ResetPin, Step::ResetPin, batch);
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
        let step = self.step_text();
        self.fail(PersoError::Transport {
            step,
            source: error,
        });
    }

    /// How far the run got.
    pub fn progress(&self) -> Progress {
        Progress {
            step: *self.steps.last().unwrap_or(&Step::CheckCard),
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

    fn start(&mut self, batch: Batch) {
        self.apdus_planned += batch.len();
        self.outgoing = batch.clone();
        self.batch = batch;
        self.responses.clear();
        self.fixup = None;
    }

    fn step_text(&self) -> String {
        self.progress().step.label().to_lowercase()
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
        let mut stopped = false;
        for response in received {
            if let Some(next) = self.take_response(response)? {
                // A fixup (GET RESPONSE or resend) is needed before the batch can go on.
                self.apdus_planned += 1;
                self.outgoing = next;
                return Ok(());
            }
            if let Some(last) = self.responses.last() {
                let item = &self.batch.items[self.responses.len() - 1];
                if !item.expect.matches(last.sw.0) {
                    stopped = true;
                    break;
                }
            }
        }
        if !stopped && count < sent {
            return Err(PersoError::Driver(format!(
                "the batch stopped after {count} of {sent} APDUs without an unexpected status word"
            )));
        }
        if stopped || self.responses.len() == self.batch.len() {
            return self.phase_complete(stopped);
        }
        // The rest of the phase's batch, after a fixup interrupted it.
        self.outgoing = Batch {
            items: self.batch.items[self.responses.len()..].to_vec(),
        };
        Ok(())
    }

    /// Files one response for the current APDU of the phase's batch. Returns a batch to send
    /// first when the response asks for a fixup (ISO 7816-4 §5.3.4: `61xx`, `6Cxx`).
    fn take_response(&mut self, response: Response) -> Result<Option<Batch>, PersoError> {
        let index = self.responses.len();
        let item: &BatchItem =
            self.batch.items.get(index).ok_or_else(|| {
                PersoError::Driver("more responses than APDUs in the batch".into())
            })?;
        let expected = item.expect.matches(response.sw.0);
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
                        step: self.step_text(),
                        reason: "the card keeps answering 61xx without end".into(),
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
                Ok(Some(batch))
            }
            (Status::WrongLe(n), None) if !expected => {
                self.fixup = Some(Fixup::Resend);
                let le = if n == 0 { 256 } else { usize::from(n) };
                let mut batch = Batch::new();
                batch.push_expecting(item.command.clone().with_le(le), item.expect);
                Ok(Some(batch))
            }
            (_, Some(Fixup::GetResponse { mut data, .. })) => {
                data.extend_from_slice(response.data());
                self.responses.push(Response::new(data, response.sw));
                Ok(None)
            }
            _ => {
                self.responses.push(response);
                Ok(None)
            }
        }
    }

    fn refused(&self, stopped_at: &Response) -> PersoError {
        let index = self.responses.len() - 1;
        PersoError::Refused {
            step: self.step_text(),
            command: self.batch.items[index].command.header_text(),
            sw: stopped_at.sw.to_string(),
            meaning: stopped_at.sw.status().to_string(),
        }
    }

    fn unusable(&self, error: AgentError) -> PersoError {
        PersoError::UnusableCard {
            step: self.step_text(),
            reason: error.to_string(),
        }
    }

    fn phase_complete(&mut self, stopped: bool) -> Result<(), PersoError> {
        let last = self.responses.last().cloned();
        if stopped && !matches!(self.phase, Phase::Probe) {
            let last = last.ok_or_else(|| PersoError::Driver("no response".into()))?;
            return Err(self.refused(&last));
        }
        match self.phase {
            Phase::Probe => {
                let state = self
                    .agent
                    .classify(&self.responses)
                    .map_err(|e| self.unusable(e))?;
                self.found = Some(state.clone());
                let me = self.vsc.uid();
                match state {
                    CardState::Blank => self.begin_write(),
                    CardState::Unfinished { owner: Some(owner) } if owner != me => {
                        return Err(PersoError::ForeignCard {
                            owner,
                            vsc: me,
                            state: " (personalization unfinished)",
                        })
                    }
                    CardState::Unfinished { .. } => {
                        self.enter(Phase::Erase, Step::Erase, self.agent.erase());
                    }
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
            Phase::Erase => self.begin_write(),
            Phase::Write => {
                let batch = self.agent.activate();
                self.enter(Phase::Activate, Step::Activate, batch);
            }
            Phase::Activate => {
                let batch = self.agent.read_back(&self.vsc, &self.vsc.card_password());
                self.enter(Phase::ReadBack, Step::Verify, batch);
            }
            Phase::ResetPin => {
                let batch = self
                    .agent
                    .read_back(&self.vsc, &self.pin.to_reference_data());
                self.enter(Phase::ReadBack, Step::Verify, batch);
            }
            Phase::ReadBack => {
                self.agent
                    .check_read_back(&self.vsc, &self.batch, &self.responses)
                    .map_err(|e| PersoError::Mismatch(e.to_string()))?;
                if self.steps.contains(&Step::ResetPin) {
                    self.done();
                } else {
                    let batch = self.agent.change_pin(&self.vsc.card_password(), &self.pin);
                    self.enter(Phase::ChangePin, Step::SetPin, batch);
                }
            }
            Phase::ChangePin => self.done(),
            Phase::Confirm | Phase::Done | Phase::Failed => {}
        }
        Ok(())
    }

    fn begin_write(&mut self) {
        let batch = self.agent.write(&self.vsc);
        self.enter(Phase::Write, Step::Write, batch);
    }

    fn enter(&mut self, phase: Phase, step: Step, batch: Batch) {
        self.phase = phase;
        self.steps.push(step);
        self.start(batch);
    }

    fn done(&mut self) {
        self.phase = Phase::Done;
        self.outcome = Some(Outcome {
            uid: self.vsc.uid(),
            found: self.found.clone().unwrap_or(CardState::Blank),
            steps: self.steps.clone(),
            pin: self.pin.clone(),
            holder_name: self.vsc.holder_name(),
            issuer_name: self.vsc.issuer_name(),
            apdus: self.apdus_done,
        });
    }
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
