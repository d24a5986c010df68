//! `vsc readers`: the PC/SC readers pcscd knows, and whether each holds a card.

use std::ffi::CString;
use std::time::Duration;

use pcsc::{ReaderState, State};

use crate::error::CliError;
use crate::pcsc_transport;

/// Runs `vsc readers`: one line per reader, `NAME<TAB>card present (ATR ...)` or
/// `NAME<TAB>no card`.
pub fn run() -> Result<(), CliError> {
    let context = pcsc_transport::context()?;
    let names = pcsc_transport::reader_names(&context)?;
    if names.is_empty() {
        outln!("no readers: connect a PC/SC reader (pcscd sees none)");
        return Ok(());
    }
    let mut states: Vec<ReaderState> = names
        .iter()
        .filter_map(|name| CString::new(name.as_str()).ok())
        .map(|name| ReaderState::new(name, State::UNAWARE))
        .collect();
    context
        .get_status_change(Duration::ZERO, &mut states)
        .or_else(|e| match e {
            pcsc::Error::Timeout => Ok(()),
            e => Err(e),
        })
        .map_err(|e| CliError::Pcsc(format!("pcscd cannot report the readers' state: {e}")))?;
    for state in &states {
        let name = state.name().to_string_lossy();
        let event = state.event_state();
        let what = if event.contains(State::PRESENT) {
            let mut text = format!("card present (ATR {})", hex_spaced(state.atr()));
            if event.contains(State::EXCLUSIVE) || event.contains(State::INUSE) {
                text.push_str(", in use by another program");
            }
            text
        } else if event.contains(State::EMPTY) {
            "no card".to_owned()
        } else {
            "state unknown".to_owned()
        };
        outln!("{name}\t{what}");
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
