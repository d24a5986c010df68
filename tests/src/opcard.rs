//! The opcard peer card (`opcard-vpcd`, tests/opcard-vpcd) in one of pcscd's vpcd readers.

use pcsc::Context;

use crate::card_process::{spawn_card, CardOptions, CardProcess};
use crate::cargo_bin::cargo_bin;

/// Command-line options of an opcard peer started by [`crate::PcscStack::opcard`].
pub type OpcardOptions = CardOptions;

/// A running `opcard-vpcd` process, killed on drop.
pub type OpcardProcess = CardProcess;

/// Starts the opcard peer in the vpcd reader of `slot` (see [`crate::PcscStack::opcard`]).
pub(crate) fn spawn_opcard(
    context: Context,
    reader: String,
    slot: u8,
    options: OpcardOptions,
) -> OpcardProcess {
    let mut args = options.common_args();
    if let Some(serial) = options.serial {
        args.extend(["--serial".into(), hex::encode_upper(serial).into()]);
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
