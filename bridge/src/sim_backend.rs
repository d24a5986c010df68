//! The simulated reader (`--sim`): one reader, [`SIM_READER`], holding an in-process
//! `softcard::Card` (blank at start), behind the same [`Backend`] interface as PC/SC.
//!
//! The card can be removed and inserted again with the `sim_card` op; it is the same card
//! (its files survive) but powered off and on, so its volatile state (verified PINs) is gone.
//! A removal fails any session that was open on it with `card_removed`. Nothing is persisted.

use crate::backend::{run_batch, Backend, BackendError, BatchFailure, BatchOutcome, CardChannel};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use vsc_core::protocol::{CardProtocol, HexBytes, ReaderInfo, SwPattern};

/// The simulated reader's name.
pub const SIM_READER: &str = "VSC Simulated Reader 0";

struct SimState {
    card: softcard::Card,
    present: bool,
    /// Bumped at every insertion and removal; a session is valid only for its generation.
    generation: u64,
    connected: bool,
}

/// The simulated reader and its card.
pub struct SimBackend {
    state: Arc<Mutex<SimState>>,
    changed: Mutex<Option<Arc<Notify>>>,
}

impl Default for SimBackend {
    fn default() -> Self {
        Self {
            state: Arc::new(Mutex::new(SimState {
                card: softcard::Card::blank(),
                present: true,
                generation: 0,
                connected: false,
            })),
            changed: Mutex::new(None),
        }
    }
}

fn lock(state: &Mutex<SimState>) -> MutexGuard<'_, SimState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Backend for SimBackend {
    fn readers(&self) -> Result<Vec<ReaderInfo>, BackendError> {
        let state = lock(&self.state);
        Ok(vec![ReaderInfo {
            name: SIM_READER.to_owned(),
            card_present: state.present,
            atr: state.present.then(|| HexBytes::new(state.card.atr())),
        }])
    }

    fn connect(&self, reader: &str) -> Result<Box<dyn CardChannel>, BackendError> {
        if reader != SIM_READER {
            return Err(BackendError::UnknownReader(reader.to_owned()));
        }
        let mut state = lock(&self.state);
        if !state.present {
            return Err(BackendError::NoCard("the simulated reader is empty".into()));
        }
        if state.connected {
            return Err(BackendError::Busy);
        }
        state.connected = true;
        Ok(Box::new(SimChannel {
            state: Arc::clone(&self.state),
            generation: state.generation,
            atr: state.card.atr(),
        }))
    }

    fn watch(&self, changed: Arc<Notify>) {
        *self.changed.lock().unwrap_or_else(|p| p.into_inner()) = Some(changed);
    }

    fn set_simulated_card(&self, present: bool) -> Option<()> {
        {
            let mut state = lock(&self.state);
            if state.present != present {
                state.present = present;
                state.generation += 1;
                // Removal and insertion both power-cycle the card.
                state.card.reset();
            }
        }
        if let Some(changed) = self
            .changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            changed.notify_one();
        }
        Some(())
    }
}

/// A session on the simulated card.
struct SimChannel {
    state: Arc<Mutex<SimState>>,
    generation: u64,
    atr: Vec<u8>,
}

impl CardChannel for SimChannel {
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }

    fn protocol(&self) -> CardProtocol {
        CardProtocol::T1
    }

    fn transmit_batch(
        &mut self,
        apdus: &[HexBytes],
        expect: &[Option<SwPattern>],
    ) -> Result<BatchOutcome, BatchFailure> {
        // Holding the lock for the whole batch makes it one transaction.
        let mut state = lock(&self.state);
        let generation = self.generation;
        run_batch(apdus, expect, |apdu| {
            if !state.present || state.generation != generation {
                return Err(BackendError::CardRemoved(
                    " from the simulated reader".into(),
                ));
            }
            Ok(HexBytes::new(state.card.transmit(apdu)))
        })
    }

    fn disconnect_reset(self: Box<Self>) {
        let mut state = lock(&self.state);
        if state.generation == self.generation {
            state.card.reset();
        }
        state.connected = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hx(s: &str) -> HexBytes {
        HexBytes::new(hex::decode(s).unwrap())
    }

    #[test]
    fn one_session_at_a_time_and_removal_fails_it() {
        let sim = SimBackend::default();
        assert!(sim.readers().unwrap()[0].card_present);
        assert_eq!(
            sim.connect("other").err(),
            Some(BackendError::UnknownReader("other".into()))
        );
        let mut channel = sim.connect(SIM_READER).unwrap();
        assert_eq!(sim.connect(SIM_READER).err(), Some(BackendError::Busy));
        let out = channel
            .transmit_batch(&[hx("00A4000C023F00")], &[])
            .unwrap();
        assert_eq!(out.responses[0].expose(), &[0x90, 0x00]);

        sim.set_simulated_card(false).unwrap();
        assert!(!sim.readers().unwrap()[0].card_present);
        let failure = channel
            .transmit_batch(&[hx("00A4000C023F00")], &[])
            .unwrap_err();
        assert!(matches!(failure.error, BackendError::CardRemoved(_)));
        channel.disconnect_reset();
        assert!(matches!(
            sim.connect(SIM_READER).err(),
            Some(BackendError::NoCard(_))
        ));

        sim.set_simulated_card(true).unwrap();
        let channel = sim.connect(SIM_READER).unwrap();
        assert_eq!(channel.atr(), softcard::Card::blank().atr());
    }
}
