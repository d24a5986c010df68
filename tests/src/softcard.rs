//! A softcard process connected to one of pcscd's vpcd readers.

use std::ffi::OsString;
use std::path::PathBuf;

use pcsc::Context;

use crate::card_process::{spawn_card, CardProcess};
use crate::cargo_bin::cargo_bin;

/// Command-line options of a softcard started by [`crate::PcscStack::softcard`].
#[derive(Debug, Clone)]
pub struct SoftcardOptions {
    /// `--state FILE`: the card's persistent state (a blank card is created if missing).
    pub state_file: Option<PathBuf>,
    /// `--tear-before K`: the card disappears before processing APDU K (counted from 0; exit
    /// code 3).
    pub tear_before: Option<u64>,
    /// `--tear-after K`: the card disappears after processing APDU K (counted from 0), without
    /// answering it (exit code 3).
    pub tear_after: Option<u64>,
    /// `--apdu-log FILE`: every command and response, one line each.
    pub apdu_log: Option<PathBuf>,
    /// `--max-response N`: longer responses are split with `61xx` / GET RESPONSE.
    pub max_response: Option<usize>,
    /// Wait until pcscd shows the card present before returning (default true).
    pub wait_for_card: bool,
}

impl SoftcardOptions {
    /// No options, and wait for the card to be present.
    pub fn new() -> SoftcardOptions {
        SoftcardOptions {
            state_file: None,
            tear_before: None,
            tear_after: None,
            apdu_log: None,
            max_response: None,
            wait_for_card: true,
        }
    }
}

impl Default for SoftcardOptions {
    /// Same as [`SoftcardOptions::new`]: waits for the card.
    fn default() -> SoftcardOptions {
        SoftcardOptions::new()
    }
}

/// A running `softcard --vpcd` process, killed on drop.
pub type SoftcardProcess = CardProcess;

/// Starts a softcard in the vpcd reader of `slot` (see [`crate::PcscStack::softcard`]).
pub(crate) fn spawn_softcard(
    context: Context,
    reader: String,
    slot: u8,
    options: SoftcardOptions,
) -> SoftcardProcess {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(path) = &options.state_file {
        args.extend(["--state".into(), path.into()]);
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
        "softcard",
        cargo_bin("softcard"),
        args,
        context,
        reader,
        slot,
        options.wait_for_card,
    )
}
