//! The opcard peer card (`opcard-vpcd`, tests/opcard-vpcd) in one of pcscd's vpcd readers.

use std::ffi::OsString;
use std::path::PathBuf;

use pcsc::Context;

use crate::card_process::{spawn_card, CardProcess};
use crate::cargo_bin::cargo_bin;

/// Command-line options of an opcard peer started by [`crate::PcscStack::opcard`].
#[derive(Debug, Clone)]
pub struct OpcardOptions {
    /// `--state FILE`: the card's flash (a factory-new card is created if missing). Start a
    /// later card with the same file to put a pulled card back.
    pub state_file: Option<PathBuf>,
    /// `--serial HEX`: the serial number in the AID (8 hex digits; default 00000000).
    pub serial: Option<[u8; 4]>,
    /// `--tear-before K`: the card disappears before processing APDU K (counted from 0, every
    /// chained part and GET RESPONSE included; exit code 3).
    pub tear_before: Option<u64>,
    /// `--tear-after K`: the card disappears after processing (and saving) APDU K, without
    /// answering it (exit code 3).
    pub tear_after: Option<u64>,
    /// `--apdu-log FILE`: one line per C-APDU, `CLA INS P1 P2 Lc SW`, never data.
    pub apdu_log: Option<PathBuf>,
    /// `--max-response N`: response parts of at most N bytes, the rest through 61xx and GET
    /// RESPONSE (whatever Le asks).
    pub max_response: Option<usize>,
    /// Wait until pcscd shows the card present before returning (default true).
    pub wait_for_card: bool,
}

impl OpcardOptions {
    /// No options, and wait for the card to be present.
    pub fn new() -> OpcardOptions {
        OpcardOptions {
            state_file: None,
            serial: None,
            tear_before: None,
            tear_after: None,
            apdu_log: None,
            max_response: None,
            wait_for_card: true,
        }
    }
}

impl Default for OpcardOptions {
    /// Same as [`OpcardOptions::new`]: waits for the card.
    fn default() -> OpcardOptions {
        OpcardOptions::new()
    }
}

/// A running `opcard-vpcd` process, killed on drop.
pub type OpcardProcess = CardProcess;

/// Starts the opcard peer in the vpcd reader of `slot` (see [`crate::PcscStack::opcard`]).
pub(crate) fn spawn_opcard(
    context: Context,
    reader: String,
    slot: u8,
    options: OpcardOptions,
) -> OpcardProcess {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(path) = &options.state_file {
        args.extend(["--state".into(), path.into()]);
    }
    if let Some(serial) = options.serial {
        args.extend(["--serial".into(), hex::encode_upper(serial).into()]);
    }
    if let Some(n) = options.max_response {
        args.extend(["--max-response".into(), n.to_string().into()]);
    }
    if let Some(k) = options.tear_before {
        args.extend(["--tear-before".into(), k.to_string().into()]);
    }
    if let Some(k) = options.tear_after {
        args.extend(["--tear-after".into(), k.to_string().into()]);
    }
    if let Some(path) = &options.apdu_log {
        args.extend(["--apdu-log".into(), path.into()]);
    }
    spawn_card(
        "opcard-vpcd",
        cargo_bin("opcard-vpcd"),
        args,
        context,
        reader,
        slot,
        options.wait_for_card,
    )
}
