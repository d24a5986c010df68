//! `softcard`: a strict software implementation of the generic ISO/IEC 7816-4/-9 file-system
//! card described in `docs/card-os.md`.
//!
//! What it does:
//! - [`Card`] executes C-APDUs (short and extended, ISO/IEC 7816-4 §5.2) against an in-memory
//!   file system (MF, DFs, transparent EFs), two credentials per DF, life-cycle states and
//!   compact access conditions, and answers with the status words the card OS contract lists.
//! - [`FaultyCard`] wraps a card and simulates a power loss ("tear") before or after a chosen
//!   APDU, for tests of interrupted personalization; [`ChaosCard`] puts a card behind a
//!   reader that garbles, cuts, pads or loses responses and resets the card ([`Fault`]).
//! - [`vpcd`] speaks the framing of pcscd's `vpcd` driver, so the `softcard` binary can sit in a
//!   "Virtual PCD" reader; [`state_file`] persists a card atomically, as EEPROM would.
//!
//! What it does not do: secure messaging, command chaining, record or BER-TLV EFs, nested DFs,
//! any cryptography, or any command not in `docs/card-os.md` (answered `6D00`/`6E00`).
//! It does not depend on `vsc-core`: it is an independent implementation of the same contract.
#![forbid(unsafe_code)]

mod apdu;
pub mod apdu_log;
mod card;
mod chaos;
mod credential;
mod faulty;
mod fcp;
mod fs;
pub mod state_file;
mod sw;
pub mod vpcd;

pub use card::{Card, StateError};
pub use chaos::{ChaosCard, Fault, LostResponse};
pub use faulty::{FaultyCard, Tear, Torn};
