//! The PC/SC backend (PC/SC Part 5 `SCard*` calls through the `pcsc` crate, served by pcscd).
//!
//! Reader listing uses one shared context, re-established when pcscd restarts; each card
//! session gets its own context so sessions on different readers never wait on each other.
//! A watcher thread blocks in `SCardGetStatusChange` on every reader plus the
//! `\\?PnP?\Notification` pseudo-reader and reports changes. A batch of more than one APDU runs
//! inside one `SCardBeginTransaction`/`SCardEndTransaction`; a session ends with
//! `SCardDisconnect(SCARD_RESET_CARD)`. The PC/SC calls and the classification of their errors
//! are the shared layer's ([`vsc_pcsc`]); this file maps its faults to the protocol's errors.

use crate::backend::{run_batch, Backend, BackendError, BatchFailure, BatchOutcome, CardChannel};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use vsc_core::protocol::{CardProtocol, HexBytes, ReaderInfo, SwPattern};
use vsc_pcsc::pcsc::{self, Card, Context, Disposition, ReaderState, ShareMode, State};
use vsc_pcsc::Fault;
use zeroize::Zeroizing;

/// PC/SC readers through pcscd.
#[derive(Default)]
pub struct PcscBackend {
    context: Mutex<Option<Context>>,
}

fn service_error(fault: Fault) -> BackendError {
    match fault {
        Fault::ServiceNotRunning(_) => BackendError::Service(SERVICE_NOT_RUNNING.into()),
        other => BackendError::Service(other.to_string()),
    }
}

/// What to do when the platform's PC/SC service does not answer.
#[cfg(windows)]
pub const SERVICE_NOT_RUNNING: &str = "the Smart Card service (SCardSvr) is not running; \
     Windows starts it when a reader is plugged in: plug in the reader (an administrator can \
     also run `sc start SCardSvr`)";
/// What to do when the platform's PC/SC service does not answer.
#[cfg(target_os = "macos")]
pub const SERVICE_NOT_RUNNING: &str = "the smart card service (CryptoTokenKit) does not answer; \
     plug in the reader, and check that its driver is installed";
/// What to do when the platform's PC/SC service does not answer.
#[cfg(not(any(windows, target_os = "macos")))]
pub const SERVICE_NOT_RUNNING: &str = "pcscd is not running; start it (systemctl start \
     pcscd.socket, or install the pcscd package) and install the reader's driver (e.g. libccid)";

fn query_readers(context: &Context) -> Result<Vec<ReaderInfo>, Fault> {
    // A reader that leaves between listing and asking fails the asking: list again. Never an
    // empty list instead: the reader watcher would take it for every card gone and reset the
    // cards of the other readers mid-run.
    let mut attempts = 0;
    let statuses = loop {
        let names = vsc_pcsc::reader_names(context)?;
        match vsc_pcsc::reader_statuses(context, &names) {
            Ok(statuses) => break statuses,
            Err(Fault::UnknownReader(_)) if attempts < 3 => attempts += 1,
            Err(e) => return Err(e),
        }
    };
    Ok(statuses
        .into_iter()
        .filter(vsc_pcsc::ReaderStatus::known)
        .map(|s| {
            let present = s.card_present();
            ReaderInfo {
                card_present: present,
                atr: (present && !s.atr.is_empty()).then(|| HexBytes::from(&s.atr[..])),
                name: s.name,
            }
        })
        .collect())
}

impl Backend for PcscBackend {
    fn readers(&self) -> Result<Vec<ReaderInfo>, BackendError> {
        let mut guard = self.context.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..2 {
            if guard.is_none() {
                *guard = Some(vsc_pcsc::establish().map_err(service_error)?);
            }
            let Some(context) = guard.as_ref() else {
                continue;
            };
            match query_readers(context) {
                Ok(readers) => return Ok(readers),
                // pcscd restarted under us: a fresh context, once.
                Err(Fault::ServiceNotRunning(_) | Fault::Other(pcsc::Error::InvalidHandle)) => {
                    *guard = None;
                }
                Err(e) => return Err(service_error(e)),
            }
        }
        Err(BackendError::Service(
            "pcscd does not answer; is it running?".into(),
        ))
    }

    fn connect(&self, reader: &str) -> Result<Box<dyn CardChannel>, BackendError> {
        let context = vsc_pcsc::establish().map_err(service_error)?;
        let card =
            vsc_pcsc::connect(&context, reader, ShareMode::Exclusive).map_err(
                |fault| match fault {
                    Fault::UnknownReader(_) => BackendError::UnknownReader(reader.to_owned()),
                    Fault::NoCard(_) | Fault::CardRemoved(_) => {
                        BackendError::NoCard("the reader is empty".into())
                    }
                    Fault::Unresponsive(e) => {
                        BackendError::NoCard(format!("the card does not answer ({e})"))
                    }
                    Fault::Busy(_) => BackendError::Busy,
                    other => service_error(other),
                },
            )?;
        let status = card
            .status2_owned()
            .map_err(|e| BackendError::NoCard(e.to_string()))?;
        let protocol = match status.protocol2() {
            Some(pcsc::Protocol::T0) => CardProtocol::T0,
            _ => CardProtocol::T1,
        };
        Ok(Box::new(PcscChannel {
            card,
            atr: status.atr().to_vec(),
            protocol,
            buffer: Zeroizing::new(vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED]),
        }))
    }

    fn watch(&self, changed: Arc<Notify>) {
        let spawned = std::thread::Builder::new()
            .name("pcsc-watcher".into())
            .spawn(move || watch_loop(&changed));
        if let Err(e) = spawned {
            tracing::error!(%e, "cannot start the PC/SC watcher thread; readers_changed events are off");
        }
    }
}

/// Blocks in `SCardGetStatusChange` forever, notifying `changed` on every change.
fn watch_loop(changed: &Notify) {
    loop {
        let context = match vsc_pcsc::establish() {
            Ok(c) => c,
            Err(_) => {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        watch_with(&context, changed);
        changed.notify_one();
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Watches with one context until it fails.
fn watch_with(context: &Context, changed: &Notify) {
    let mut states = vec![ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE)];
    loop {
        // Keep the watched set equal to the reader list (plus the PnP pseudo-reader).
        let names = match vsc_pcsc::reader_names(context) {
            Ok(names) => names,
            Err(_) => return,
        };
        states.retain(|s| {
            s.name() == pcsc::PNP_NOTIFICATION() || names.iter().any(|n| n.as_c_str() == s.name())
        });
        for name in &names {
            if !states.iter().any(|s| s.name() == name.as_c_str()) {
                states.push(ReaderState::new(name.clone(), State::UNAWARE));
            }
        }
        match vsc_pcsc::wait_for_change(context, &mut states, Duration::from_secs(30)) {
            Ok(true) => {
                let mut any = false;
                for state in &mut states {
                    if state.event_state().contains(State::CHANGED) {
                        any = true;
                    }
                    state.sync_current_state();
                }
                if any {
                    changed.notify_one();
                }
            }
            Ok(false) => {}
            Err(Fault::UnknownReader(_)) => {
                // A reader vanished between listing and waiting: list again.
                changed.notify_one();
            }
            Err(_) => return,
        }
    }
}

/// One exclusive PC/SC card connection.
struct PcscChannel {
    card: Card,
    atr: Vec<u8>,
    protocol: CardProtocol,
    /// The receive buffer, allocated once per session: each response is wiped from it as soon
    /// as it is copied out (and after a failed transmit), and the whole buffer on drop.
    buffer: Zeroizing<Vec<u8>>,
}

fn transmit_error(fault: Fault) -> BackendError {
    if fault.card_gone() {
        BackendError::CardRemoved(format!(" ({fault})"))
    } else {
        BackendError::Transmit(fault.to_string())
    }
}

/// A response without SW1 SW2: the card was pulled if the reader says so within a moment,
/// otherwise the card misbehaved.
fn missing_status_word(card: &Card) -> BackendError {
    for _ in 0..20 {
        if vsc_pcsc::card_left(card).is_some() {
            return BackendError::CardRemoved(String::new());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    BackendError::Transmit("the card answered without a status word".into())
}

fn transmit_one(card: &Card, apdu: &[u8], buffer: &mut [u8]) -> Result<HexBytes, BackendError> {
    let response = vsc_pcsc::transmit(card, apdu, buffer).map_err(transmit_error)?;
    let used = response.len();
    let out = (used >= 2).then(|| HexBytes::from(response));
    zeroize::Zeroize::zeroize(&mut buffer[..used]);
    // No status word: vpcd (and some readers) report a card pulled mid-command this way.
    out.ok_or_else(|| missing_status_word(card))
}

impl CardChannel for PcscChannel {
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }

    fn protocol(&self) -> CardProtocol {
        self.protocol
    }

    fn transmit_batch(
        &mut self,
        apdus: &[HexBytes],
        expect: &[Option<SwPattern>],
    ) -> Result<BatchOutcome, BatchFailure> {
        let buffer = &mut self.buffer[..];
        if apdus.len() <= 1 {
            // A single SCardTransmit is atomic already; skip the two transaction round trips.
            return run_batch(apdus, expect, |apdu| transmit_one(&self.card, apdu, buffer));
        }
        let transaction = self.card.transaction().map_err(|e| BatchFailure {
            error: transmit_error(e.into()),
            completed: 0,
        })?;
        let outcome = run_batch(apdus, expect, |apdu| {
            transmit_one(&transaction, apdu, buffer)
        });
        if let Err((_, e)) = transaction.end(Disposition::LeaveCard) {
            tracing::warn!(%e, "ending the PC/SC transaction failed");
        }
        outcome
    }

    fn disconnect_reset(self: Box<Self>) {
        if let Err((card, e)) = self.card.disconnect(Disposition::ResetCard) {
            tracing::warn!(%e, "resetting the card on disconnect failed; dropping the handle (which resets too)");
            drop(card);
        }
    }
}
