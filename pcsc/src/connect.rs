//! Reaching the PC/SC service and connecting to the card in a reader.

use pcsc::{Card, Context, Protocols, Scope, ShareMode};

use crate::{reader_names, Fault};

/// A context with the PC/SC service (`SCardEstablishContext`, user scope).
pub fn establish() -> Result<Context, Fault> {
    Context::establish(Scope::User).map_err(Fault::from)
}

/// Connects to the card in `reader` (`SCardConnect`, T=0 or T=1, whichever the card speaks) in
/// `mode`. The reader must be one [`reader_names`] lists: any other name, one with a NUL byte
/// included, is [`Fault::UnknownReader`] whatever the service would have said.
///
/// Dropping the returned card resets it (the crate docs say more).
pub fn connect(context: &Context, reader: &str, mode: ShareMode) -> Result<Card, Fault> {
    let name = reader_names(context)?
        .into_iter()
        .find(|name| name.as_bytes() == reader.as_bytes())
        .ok_or(Fault::UnknownReader(pcsc::Error::UnknownReader))?;
    context
        .connect(&name, mode, Protocols::ANY)
        .map_err(Fault::from)
}
