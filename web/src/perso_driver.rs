//! The plain-Rust half of personalizing over the bridge: turning the engine's batches into
//! bridge `transmit` requests and the replies back into responses (bridge protocol v1,
//! `docs/bridge-protocol.md`, op `transmit`), saying bridge errors in plain words, and
//! collecting the progress and the PIN mailer for the page.
//!
//! The WebSocket itself is in [`crate::bridge`]; this module has no I/O, so it is tested
//! natively.

use serde::Serialize;
use vsc_core::agent::CardState;
use vsc_core::apdu::Response;
use vsc_core::perso::{Outcome, PersoError, Personalization, Step};
use vsc_core::pin::Pin;
use vsc_core::protocol::{HexBytes, Op, SessionId, TransmitReply};
use vsc_core::transport::{Batch, TransportError};

use crate::error::{Code, WebError};

/// The `transmit` request for one batch: every APDU in hex and its expected status word
/// pattern, so the bridge stops at the first surprise (protocol, op `transmit`).
pub fn transmit_op(session: SessionId, batch: &Batch) -> Op {
    let apdus = batch
        .items
        .iter()
        .map(|item| HexBytes::new(item.command.to_bytes().expose().to_vec()))
        .collect();
    let expect = batch.items.iter().map(|item| Some(item.expect)).collect();
    Op::Transmit {
        session,
        apdus,
        expect: Some(expect),
    }
}

/// The responses of a `transmit` reply to a batch of `sent` APDUs, checked: at least one, at
/// most `sent`, each ending with a status word.
pub fn responses(reply: TransmitReply, sent: usize) -> Result<Vec<Response>, TransportError> {
    if reply.responses.is_empty() || reply.responses.len() > sent {
        return Err(TransportError::Failed(format!(
            "the bridge returned {} responses for {sent} commands",
            reply.responses.len()
        )));
    }
    reply
        .responses
        .iter()
        .map(|raw| {
            Response::parse(raw.expose()).map_err(|e| {
                TransportError::Failed(format!("the bridge returned a malformed response: {e}"))
            })
        })
        .collect()
}

/// A bridge protocol error (`code`, the bridge's own `message`) in plain words for the clerk,
/// saying what to do. The code is kept so scripts can branch on it.
pub fn bridge_error(code: &str, bridge_message: &str) -> WebError {
    let advice = match code {
        "not_authenticated" => "This page is not paired with the bridge, or the bridge no longer knows the pairing. Press Connect, then type the pairing code the bridge shows.",
        "pairing_failed" => "The pairing code is wrong or has expired. Press Connect to get a new code, and type it exactly as the bridge shows it.",
        "rate_limited" => "Too many attempts from this page in the last minute (pairing codes, or password envelopes opened). Wait a minute, then try again.",
        "envelope_invalid" => "The bridge cannot open this job's password envelope: it was sealed for another station key (was this bridge's key rotated, or is this another PC's bridge?) or for another job. Release the job and ask the issuer to reissue it for this station.",
        "busy" => "The reader is in use by another program or another browser tab. Close that program or tab (or wait until it is done), then try again.",
        "no_card" => "There is no card in the reader. Insert a blank card, then try again.",
        "unknown_reader" => "That reader is no longer connected. Plug it in or choose another reader, then try again.",
        "card_removed" => "The card was removed from the reader. Put it back and press Personalize again with the same VSC: the card is finished or restarted cleanly.",
        "transmit_failed" => "The reader could not exchange commands with the card. Check that the card is inserted correctly, then press Personalize again with the same VSC.",
        "reader_error" => "The smart card service on this PC failed (is pcscd running?). Restart it or the bridge, then try again.",
        "unsupported_protocol" => "The bridge speaks another protocol version than this page. Update vsc-bridge or this page so both come from the same release.",
        "bad_request" | "unknown_session" => "The bridge and this page disagree (a version mismatch or a lost session). Reload the page and press Connect again.",
        _ => "The bridge refused the request.",
    };
    let detail = bridge_message.trim();
    let message = if detail.is_empty() {
        advice.to_owned()
    } else {
        format!("{advice} (The bridge said: {detail})")
    };
    WebError::with_code(code, message)
}

/// What the page shows while a card is being personalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressReport {
    /// The step in progress (`Writing the card`).
    pub step: &'static str,
    /// Every step taken so far, in order, the last one in progress.
    pub steps: Vec<&'static str>,
    /// APDUs answered so far.
    pub apdus_done: usize,
    /// APDUs the run is expected to need in all.
    pub apdus_planned: usize,
}

/// Follows one personalization: the steps seen and the last transport error's code.
#[derive(Debug, Default)]
pub struct Tracker {
    steps: Vec<Step>,
    transport_code: Option<String>,
}

impl Tracker {
    /// A tracker for a new run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the engine's progress and returns the report for the page.
    pub fn progress(&mut self, engine: &Personalization) -> ProgressReport {
        let progress = engine.progress();
        if self.steps.last() != Some(&progress.step) {
            self.steps.push(progress.step);
        }
        ProgressReport {
            step: progress.step.label(),
            steps: self.steps.iter().map(|s| s.label()).collect(),
            apdus_done: progress.apdus_done,
            apdus_planned: progress.apdus_planned,
        }
    }

    /// Tells the engine the batch did not go through, remembering the bridge's code (a
    /// `card_removed` becomes [`TransportError::CardRemoved`]).
    pub fn transport_failed(&mut self, engine: &mut Personalization, error: WebError) {
        let transport = if error.code == "card_removed" {
            TransportError::CardRemoved
        } else {
            TransportError::Failed(error.message.clone())
        };
        self.transport_code = Some(error.code);
        engine.transport_failed(transport);
    }

    /// The page's error for a failed run.
    pub fn error(&self, error: PersoError) -> WebError {
        let mut web = self.coded(&error);
        web.card_untouched = error.card_untouched();
        web
    }

    fn coded(&self, error: &PersoError) -> WebError {
        match error {
            PersoError::ForeignCard { .. } => WebError::new(Code::ForeignCard, error.to_string()),
            PersoError::WrongCardType { .. } => {
                WebError::new(Code::WrongCardType, error.to_string())
            }
            PersoError::UnusableCard { .. } => WebError::new(Code::UnusableCard, error.to_string()),
            PersoError::Refused { .. } => WebError::new(Code::CardRefused, error.to_string()),
            PersoError::Mismatch(_) => WebError::new(Code::ReadBackMismatch, error.to_string()),
            PersoError::Transport { source, .. } => {
                let code = match source {
                    TransportError::CardRemoved => "card_removed",
                    _ => self.transport_code.as_deref().unwrap_or("transmit_failed"),
                };
                WebError::with_code(code, error.to_string())
            }
            PersoError::NewPinDeclined { .. } => {
                WebError::new(Code::NewPinDeclined, error.to_string())
            }
            _ => WebError::new(Code::Internal, error.to_string()),
        }
    }
}

/// The PIN mailer and a summary of the run, for the page's print view. The PIN is zeroized
/// when this is dropped.
#[derive(Debug)]
pub struct Mailer {
    /// Holder name, from the public area.
    pub holder_name: String,
    /// Issuer name, from the public area.
    pub issuer_name: String,
    /// The VSC UID now on the card.
    pub uid: String,
    /// The individual PIN (show once, store nowhere).
    pub pin: Pin,
    /// The steps taken, as labels.
    pub steps: Vec<&'static str>,
    /// What the card held before, in words.
    pub found: &'static str,
    /// APDUs exchanged.
    pub apdus: usize,
    /// Whether the PIN replaces the one the card had.
    pub replacement: bool,
}

impl From<Outcome> for Mailer {
    fn from(outcome: Outcome) -> Self {
        let mailer = outcome.pin_mailer();
        Self {
            replacement: mailer.replacement,
            holder_name: mailer.holder_name,
            issuer_name: mailer.issuer_name,
            uid: mailer.uid.to_string(),
            pin: mailer.pin,
            steps: outcome.steps.iter().map(|s| s.label()).collect(),
            found: match outcome.found {
                CardState::Blank => "a blank card",
                CardState::Unfinished { .. } => "an unfinished personalization, which was redone",
                CardState::Personalized { .. } => {
                    "this VSC's card, already personalized: a replacement PIN was set"
                }
            },
            apdus: outcome.apdus,
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use rand_core::OsRng;
    use std::collections::BTreeMap;
    use vsc_core::protocol::{Reply, ReplyBody, ReplyKind, Request, ServerMessage};
    use vsc_core::vsc::Vsc;

    fn engine() -> Personalization {
        let profile = crate::profiles::find("iso7816-generic").unwrap();
        let values: BTreeMap<String, String> = [("holder_name", "Ada"), ("holder_id", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let holder =
            vsc_core::holder::validate_record(&profile, &values, vsc_tests::test_day()).unwrap();
        let (vsc, _) =
            Vsc::build(&profile, &holder, vsc_tests::test_built_at_ms(), &mut OsRng).unwrap();
        Personalization::new(vsc, &mut OsRng)
    }

    /// Runs the engine against an in-process softcard, going through the exact JSON frames
    /// the page and the bridge exchange.
    #[test]
    fn a_run_through_wire_frames_personalizes_a_softcard() {
        let mut card = softcard::Card::blank();
        let mut engine = engine();
        let mut tracker = Tracker::new();
        let mut id = 0;
        while let Some(batch) = engine.next_batch() {
            let sent = batch.len();
            id += 1;
            let frame = Request {
                id,
                op: transmit_op(7, batch),
            }
            .to_json();
            // The bridge's side: parse, run with `expect`, reply.
            let request = Request::parse(&frame).unwrap();
            let Op::Transmit {
                session: 7,
                apdus,
                expect: Some(expect),
            } = request.op
            else {
                panic!("not a transmit");
            };
            let mut out = Vec::new();
            let mut stopped_at = None;
            for (i, apdu) in apdus.iter().enumerate() {
                let response = card.transmit(apdu.expose());
                let ok = expect[i].is_none_or(|p| p.matches_response(&response));
                out.push(HexBytes::new(response));
                if !ok {
                    stopped_at = Some(i as u32);
                    break;
                }
            }
            let reply = Reply::ok(
                id,
                ReplyBody::Transmit(TransmitReply {
                    responses: out,
                    stopped_at,
                }),
            )
            .to_json();
            let ServerMessage::Reply(Reply {
                result: Ok(ReplyBody::Transmit(reply)),
                ..
            }) = ServerMessage::parse(&reply, |_| Some(ReplyKind::Transmit)).unwrap()
            else {
                panic!("not a transmit reply");
            };
            engine.receive(responses(reply, sent).unwrap());
            tracker.progress(&engine);
        }
        let report = tracker.progress(&engine);
        assert_eq!(report.step, Step::SetPin.label());
        assert!(report.steps.contains(&Step::Write.label()));
        let mailer = Mailer::from(engine.finish().unwrap());
        assert_eq!(mailer.holder_name, "Ada");
        assert_eq!(mailer.pin.expose().len(), 6);
        assert_eq!(mailer.found, "a blank card");
    }

    #[test]
    fn a_removed_card_keeps_its_code_and_says_what_to_do() {
        let mut engine = engine();
        let mut tracker = Tracker::new();
        tracker.transport_failed(&mut engine, bridge_error("card_removed", "card gone"));
        assert!(engine.next_batch().is_none());
        let error = tracker.error(engine.finish().unwrap_err());
        assert_eq!(error.code, "card_removed");
        // Removed while it was being checked: nothing was written, its job goes back untouched.
        assert!(
            error.message.contains("nothing was written"),
            "{}",
            error.message
        );
        assert!(error.message.contains("run again"), "{}", error.message);
        assert!(error.card_untouched);
    }

    #[test]
    fn other_transport_failures_keep_the_bridge_code() {
        let mut engine = engine();
        let mut tracker = Tracker::new();
        tracker.transport_failed(&mut engine, WebError::new(Code::BridgeClosed, "closed"));
        let error = tracker.error(engine.finish().unwrap_err());
        assert_eq!(error.code, "bridge_closed");
    }

    #[test]
    fn bad_replies_are_transport_failures() {
        let empty = TransmitReply {
            responses: vec![],
            stopped_at: None,
        };
        assert!(responses(empty, 1).is_err());
        let short = TransmitReply {
            responses: vec![HexBytes::new(vec![0x90])],
            stopped_at: None,
        };
        assert!(responses(short, 1).is_err());
        let too_many = TransmitReply {
            responses: vec![HexBytes::new(vec![0x90, 0]), HexBytes::new(vec![0x90, 0])],
            stopped_at: None,
        };
        assert!(responses(too_many, 1).is_err());
    }

    #[test]
    fn bridge_errors_are_explained_with_what_to_do() {
        let busy = bridge_error("busy", "reader held by another client");
        assert_eq!(busy.code, "busy");
        assert!(busy.message.contains("in use by another program"));
        assert!(busy.message.contains("reader held by another client"));
        let unpaired = bridge_error("not_authenticated", "");
        assert!(unpaired.message.contains("pairing code"));
        assert!(!unpaired.message.contains("The bridge said"));
    }
}
