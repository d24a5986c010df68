//! The one PC/SC layer of the `vsc` command and the bridge, over the `pcsc` crate (PC/SC part 5
//! `SCard*` calls, served by pcscd on Linux and macOS, the Smart Card service on Windows).
//!
//! What it does:
//! - classifies every [`pcsc::Error`] into a [`Fault`] the callers turn into their own words
//!   (the CLI's messages, the bridge protocol's error codes);
//! - lists readers ([`reader_names`]; no reader is an empty list, not an error) and reads their
//!   states ([`reader_statuses`], [`wait_for_change`]);
//! - connects to the card in a reader ([`connect`]), exclusively or shared as the caller asks;
//! - carries APDUs to a connected card ([`transmit`], and [`CardTransport`], the
//!   [`vsc_core::transport::Transport`] over a card), with a receive buffer that is wiped.
//!
//! What it does not do: interpret APDUs (the engine in `vsc_core::perso` does), retry, run
//! transactions for the caller, or choose how a session ends.
//!
//! Hazards, which hold for every caller:
//! - **Dropping a [`pcsc::Card`] resets the card** (`SCardDisconnect(SCARD_RESET_CARD)`): a card
//!   left verified or mid-session loses that state. To keep it, call
//!   [`pcsc::Card::disconnect`] with [`pcsc::Disposition::LeaveCard`] instead of dropping.
//! - **Exclusive or shared**: [`pcsc::ShareMode::Exclusive`] keeps every other program off the
//!   card until disconnect (another program's connect then fails with [`Fault::Busy`]);
//!   [`pcsc::ShareMode::Shared`] lets others in between APDUs, so a multi-APDU exchange that
//!   relies on card state must run inside a transaction ([`pcsc::Card::transaction`]).
//! - **A context per thread**: a [`pcsc::Context`] may be shared, but a call blocked in it (a
//!   [`wait_for_change`] with a long timeout) blocks every other call on it; give a thread that
//!   waits its own context, and re-establish a context after [`Fault::ServiceNotRunning`] or
//!   an `InvalidHandle` (the service restarted).

#![forbid(unsafe_code)]

mod connect;
mod fault;
mod readers;
mod transport;

pub use connect::{connect, establish};
pub use fault::Fault;
pub use readers::{reader_names, reader_state, reader_statuses, wait_for_change, ReaderStatus};
pub use transport::{card_left, transmit, CardTransport};

/// The `pcsc` crate this layer is built on, for the types callers hold ([`pcsc::Card`],
/// [`pcsc::Context`], [`pcsc::ShareMode`], ...), so they use the same version.
pub use pcsc;
