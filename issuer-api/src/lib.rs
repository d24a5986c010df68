//! The issuer service's JSON request bodies (`vsc-issuer`'s API), and the checks the service
//! makes on a body before it touches the database: names, roles and branches, password policy,
//! station keys, envelope and `.vsc` shapes, sizes, result reports.
//!
//! Every body refuses unknown fields, as the service does, and writes back to the JSON it
//! reads ([`serde::Serialize`]). A failed check is a [`BodyError`], whose text is the message
//! the service answers with (422).
//!
//! What it does not do: HTTP, the database, or any check that needs stored state (whether a
//! branch, record or station exists, who the caller is). The query strings of `GET` endpoints
//! stay with the service's handlers.
#![forbid(unsafe_code)]

pub mod admin;
mod error;
pub mod fields;
pub mod jobs;
pub mod names;
pub mod password;
pub mod queue;
pub mod records;
pub mod session;
pub mod stations;

pub use error::BodyError;
