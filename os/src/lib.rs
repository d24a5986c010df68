//! `vsc-os`: the few things the VSC programs (`vsc`, `vsc-bridge`, `softcard`) do differently on
//! Linux, macOS and Windows, each in one small module chosen at compile time:
//!
//! - [`atomic`]: whole-file writes that never leave a half-written file (temporary file, flush,
//!   rename, flush of the directory), created owner-only, and a file created once then read
//!   (a key);
//! - [`durable`]: making renames and batches of writes durable (`fsync` of a directory and
//!   `syncfs(2)` on Linux; per-file `FlushFileBuffers` on Windows);
//! - [`private`]: owner-only directories (mode 0700 on Unix; on Windows the inherited ACL of the
//!   user's profile);
//! - [`dirs`]: where a program's per-user data and its system-wide configuration file live;
//! - [`station_key`]: a branch station's key file, the one the bridge and the `vsc` CLI share.
//!
//! It does not parse configuration, handle signals or talk to PC/SC: those belong to the
//! programs. It holds no unsafe code: every platform call goes through `std`, `tempfile`,
//! `rustix` or `directories`.
#![forbid(unsafe_code)]

pub mod atomic;
pub mod dirs;
pub mod durable;
pub mod private;
pub mod station_key;

pub use atomic::{read_or_create, write_atomic, Durability, Existing, WriteError};
