//! The `vsc` command's words for PC/SC faults: each call of the shared PC/SC layer
//! ([`vsc_pcsc`]) it makes, with a [`CliError`] that says what went wrong and what to do.
//!
//! What it does not do: talk PC/SC itself (the shared layer does), or retry.

use std::ffi::CString;

use vsc_pcsc::pcsc::{Card, Context, ShareMode};
use vsc_pcsc::Fault;

use crate::error::CliError;

/// Connects to pcscd, with a message saying what to do when it is not running.
pub fn context() -> Result<Context, CliError> {
    vsc_pcsc::establish().map_err(|e| {
        CliError::Pcsc(format!(
            "cannot reach pcscd, the PC/SC service ({e}): start it (systemctl start pcscd, or \
             pcscd as root) and try again"
        ))
    })
}

/// The readers pcscd knows, by name.
pub fn reader_names(context: &Context) -> Result<Vec<CString>, CliError> {
    vsc_pcsc::reader_names(context)
        .map_err(|e| CliError::Pcsc(format!("pcscd cannot list its readers: {e}")))
}

/// Connects to the card in `reader` for this program's exclusive use.
pub fn connect(context: &Context, reader: &str) -> Result<Card, CliError> {
    vsc_pcsc::connect(context, reader, ShareMode::Exclusive).map_err(|fault| {
        CliError::Pcsc(match fault {
            Fault::UnknownReader(_) => format!(
                "there is no reader named {reader:?}: `vsc readers` lists the readers and \
                 their exact names"
            ),
            Fault::NoCard(_) | Fault::CardRemoved(_) => {
                format!("there is no card in reader {reader:?}: insert one and run again")
            }
            Fault::Busy(_) => {
                format!("another program is using the card in {reader:?}: close it and run again")
            }
            Fault::Unresponsive(e) => format!(
                "the card in {reader:?} does not answer ({e}): check that it is inserted the \
                 right way round, or try another card"
            ),
            other => format!("cannot connect to the card in {reader:?}: {other}"),
        })
    })
}

/// What to say when pcscd cannot report a reader's state (`what` names the readers asked).
pub fn status_error(what: &str) -> impl FnOnce(Fault) -> CliError + '_ {
    move |e| {
        CliError::Pcsc(format!(
            "pcscd cannot report the state of {what} ({e}): is the reader still connected?"
        ))
    }
}
