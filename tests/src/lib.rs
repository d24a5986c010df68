//! Shared harness for the end-to-end tests in `tests/tests/*.rs`.
//!
//! It builds workspace binaries on demand ([`cargo_bin`]), gives a test exclusive use of the
//! machine's PC/SC stack ([`PcscStack`]: a cross-process lock plus a `pcscd` it starts when
//! none answers), runs software cards behind pcscd's vpcd readers ([`SoftcardProcess`], and
//! the independent OpenPGP card [`OpcardProcess`]), guards any other child process
//! ([`ChildGuard`]), runs a throw-away PostgreSQL cluster ([`PostgresCluster`]) and the issuer
//! service ([`issuer`]), talks to a reader through independent PC/SC clients: OpenSC
//! ([`opensc_apdus`], [`openpgp_tool_info`]) and GnuPG ([`GnupgHome`]: `gpg --card-status`,
//! signing through scdaemon), runs cross-built Windows programs under Wine
//! ([`under_wine`]), and pins a benchmark's processes to CPUs ([`pin_to_cpu`]).
//!
//! Every process it starts is killed when its guard is dropped; logs (stderr and stdout) go to
//! temporary files that are printed, and kept on disk, when the test is panicking.
//!
//! It does not install anything: `scripts/test` installs pcscd, vpcd, OpenSC and GnuPG first. It
//! only knows the vpcd readers "Virtual PCD 00 00" and "Virtual PCD 00 01" (TCP ports 35963
//! and 35964 on 127.0.0.1).
#![forbid(unsafe_code)]

mod card_process;
mod cargo_bin;
mod child;
mod cpu;
mod gnupg;
pub mod issuer;
mod opcard;
mod openpgp_tool;
mod opensc;
mod pcsc_stack;
mod postgres;
mod scdaemon;
mod softcard;
mod wait;
mod wine;

pub use card_process::{CardOptions, CardProcess};
pub use cargo_bin::cargo_bin;
pub use child::ChildGuard;
pub use cpu::pin_to_cpu;
pub use gnupg::{GnupgHome, GpgCardStatus};
pub use opcard::{OpcardOptions, OpcardProcess};
pub use openpgp_tool::{
    openpgp_tool_info, openpgp_tool_private_do, OpenpgpToolInfo, OpenpgpToolKey,
};
pub use opensc::opensc_apdus;
pub use pcsc_stack::PcscStack;
pub use postgres::PostgresCluster;
pub use softcard::{SoftcardOptions, SoftcardProcess};
pub use wait::{free_port, wait_until};
pub use wine::{under_wine, windows_program, wine_share};

/// The day tests check holder dates against: fixed, so that fixtures with expiry dates and
/// dates of birth keep their verdicts whenever the tests run.
pub fn test_day() -> vsc_core::date::Date {
    vsc_core::date::Date::from_ymd(2026, 12, 1).expect("a real date")
}

/// The time tests build VSCs at (their UIDs' time, milliseconds since the Unix epoch):
/// midnight UTC of [`test_day`], fixed like it.
pub fn test_built_at_ms() -> u64 {
    u64::from(
        test_day()
            .unix_midnight()
            .expect("the test day is after 1970"),
    ) * 1000
}
