//! The PC/SC side of the `vsc` command: connecting to a reader through pcscd, and a
//! [`Transport`] over a connected card.
//!
//! What it does not do: interpret APDUs (the engine in `vsc_core::perso` does), or retry.

use std::ffi::CString;

use pcsc::{Context, Protocols, Scope, ShareMode};
use vsc_core::transport::{Transport, TransportError};
use zeroize::Zeroizing;

use crate::error::CliError;

/// Connects to pcscd, with a message saying what to do when it is not running.
pub fn context() -> Result<Context, CliError> {
    Context::establish(Scope::User).map_err(|e| {
        CliError::Pcsc(format!(
            "cannot reach pcscd, the PC/SC service ({e}): start it (systemctl start pcscd, or \
             pcscd as root) and try again"
        ))
    })
}

/// The readers pcscd knows, by name.
pub fn reader_names(context: &Context) -> Result<Vec<String>, CliError> {
    match context.list_readers_owned() {
        Ok(names) => Ok(names
            .into_iter()
            .map(|name| name.to_string_lossy().into_owned())
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(CliError::Pcsc(format!(
            "pcscd cannot list its readers: {e}"
        ))),
    }
}

/// Connects to the card in `reader` for this program's exclusive use.
pub fn connect(context: &Context, reader: &str) -> Result<pcsc::Card, CliError> {
    let name = CString::new(reader)
        .map_err(|_| CliError::Input("a reader name cannot contain a NUL byte".into()))?;
    context
        .connect(&name, ShareMode::Exclusive, Protocols::ANY)
        .map_err(|e| {
            CliError::Pcsc(match e {
                pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable => format!(
                    "there is no reader named {reader:?}: `vsc readers` lists the readers and \
                     their exact names"
                ),
                pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard => {
                    format!("there is no card in reader {reader:?}: insert one and run again")
                }
                pcsc::Error::SharingViolation => format!(
                    "another program is using the card in {reader:?}: close it and run again"
                ),
                pcsc::Error::UnpoweredCard
                | pcsc::Error::UnresponsiveCard
                | pcsc::Error::UnsupportedCard => format!(
                    "the card in {reader:?} does not answer ({e}): check that it is inserted \
                     the right way round, or try another card"
                ),
                other => format!("cannot connect to the card in {reader:?}: {other}"),
            })
        })
}

/// A [`Transport`] over a connected PC/SC card (or a transaction on one, which dereferences to
/// it). The receive buffer is wiped when the transport is dropped.
pub struct PcscTransport<'a> {
    card: &'a pcsc::Card,
    buffer: Zeroizing<Vec<u8>>,
}

impl<'a> PcscTransport<'a> {
    /// A transport sending to `card`.
    pub fn new(card: &'a pcsc::Card) -> PcscTransport<'a> {
        PcscTransport {
            card,
            buffer: Zeroizing::new(vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED]),
        }
    }
}

impl Transport for PcscTransport<'_> {
    /// SCardTransmit (PC/SC part 5 §3.1.4): one command APDU, its response.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self.card.transmit(apdu, &mut self.buffer) {
            Ok(response) => Ok(response.to_vec()),
            Err(
                pcsc::Error::RemovedCard
                | pcsc::Error::ResetCard
                | pcsc::Error::NoSmartcard
                | pcsc::Error::UnpoweredCard,
            ) => Err(TransportError::CardRemoved),
            Err(e) => Err(TransportError::Failed(format!("the reader failed ({e})"))),
        }
    }
}
