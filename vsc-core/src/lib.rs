//! The VSC domain: everything about virtual smart cards that is not I/O.
//!
//! What this crate does: parse and validate card profiles ([`profile`]), read holder files
//! ([`holder_csv`], [`text_encoding`]) and validate holder data ([`holder`], [`date`]), build a virtual smart card from them ([`vsc`]), seal and open the VSC container
//! ([`seal`]), generate passwords and PINs ([`password`], [`pin`]), encode APDUs ([`apdu`]),
//! turn an opened VSC into card commands ([`agent`]) and drive a personalization as a sans-I/O
//! state machine ([`perso`]). It also defines the bridge's wire types ([`protocol`]), the one
//! catalogue of error codes the bridge, the issuer service and the page share
//! ([`error_catalogue`]), the HPKE password envelope that carries a VSC password to a branch
//! station ([`envelope`]), and a job's envelopes as the issuer's API carries them
//! ([`job_envelopes`]).
//!
//! What it does not do: open files, sockets or readers. Callers bring bytes and a
//! [`transport::Transport`]; the same code runs natively and in the browser (wasm32).
#![forbid(unsafe_code)]

pub mod agent;
pub mod apdu;
pub mod audit;
pub mod batch;
pub mod date;
pub mod envelope;
pub mod error_catalogue;
pub mod field;
pub mod holder;
pub mod holder_csv;
pub mod job;
pub mod job_envelopes;
pub mod key;
pub mod password;
pub mod perso;
pub mod pin;
pub mod profile;
pub mod protocol;
pub mod seal;
pub mod secret;
pub mod text_encoding;
pub mod tlv;
pub mod transport;
pub mod vsc;
