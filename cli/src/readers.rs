//! `vsc readers`: the PC/SC readers pcscd knows, and whether each holds a card.

use crate::error::CliError;
use crate::pcsc_messages;

/// Runs `vsc readers`: one line per reader, `NAME<TAB>card present (ATR ...)` or
/// `NAME<TAB>no card`.
pub fn run() -> Result<(), CliError> {
    let context = pcsc_messages::context()?;
    let names = pcsc_messages::reader_names(&context)?;
    if names.is_empty() {
        outln!("no readers: connect a PC/SC reader (pcscd sees none)");
        return Ok(());
    }
    let statuses = vsc_pcsc::reader_statuses(&context, &names)
        .map_err(pcsc_messages::status_error("the readers"))?;
    for status in &statuses {
        let what = if status.card_present() {
            let mut text = format!("card present (ATR {})", hex_spaced(&status.atr));
            if status.in_use() {
                text.push_str(", in use by another program");
            }
            text
        } else if status.empty() {
            "no card".to_owned()
        } else {
            "state unknown".to_owned()
        };
        outln!("{}\t{what}", status.name);
    }
    Ok(())
}

/// Bytes as upper-case hex separated by spaces.
pub fn hex_spaced(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}
