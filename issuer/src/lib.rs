//! The VSC issuer service: the issuer side of the method over a network (claims 6, 12, 13).
//!
//! What it does: stores holder records (validated by `vsc-core`'s holder rules) and sealed
//! VSC jobs with their password envelopes, moves jobs through the one transition table of
//! [`vsc_core::job`] (four-eyes approval, branch queues with leased claims, results, purge),
//! keeps an append-only audit chain ([`vsc_core::audit`]), serves the page, and answers a JSON
//! API with cookie sessions, roles and CSRF protection. SQLite by default, PostgreSQL for
//! several instances; all state lives in the database.
//!
//! What it does not do: build, seal or open a VSC, or see a VSC password or a PIN. The
//! clerk's page seals; the branch's bridge opens the envelope.
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit_api;
pub mod chain;
pub mod cli;
pub mod commands;
pub mod db;
pub mod endpoints;
pub mod error;
pub mod guard;
pub mod import;
pub mod jobs;
pub mod json;
pub mod openapi;
pub mod page;
pub mod password;
pub mod queue;
pub mod ratelimit;
pub mod records;
pub mod schemas;
pub mod server;
pub mod session;
pub mod state;
pub mod stations;
pub mod tx;
