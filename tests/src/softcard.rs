//! A softcard process connected to one of pcscd's vpcd readers.

use pcsc::Context;

use crate::card_process::{spawn_card, CardOptions, CardProcess};
use crate::cargo_bin::cargo_bin;

/// Command-line options of a softcard started by [`crate::PcscStack::softcard`].
pub type SoftcardOptions = CardOptions;

/// A running `softcard --vpcd` process, killed on drop.
pub type SoftcardProcess = CardProcess;

/// Starts a softcard in the vpcd reader of `slot` (see [`crate::PcscStack::softcard`]).
pub(crate) fn spawn_softcard(
    context: Context,
    reader: String,
    slot: u8,
    options: SoftcardOptions,
) -> SoftcardProcess {
    assert!(
        options.serial.is_none(),
        "a softcard has no serial number option: `serial` is for the opcard peer"
    );
    spawn_card(
        "softcard",
        cargo_bin("softcard"),
        options.common_args(),
        context,
        reader,
        slot,
        options.wait_for_card,
    )
}
