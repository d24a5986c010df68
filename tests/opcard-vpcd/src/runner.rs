//! The card in the reader: opcard on trussed's software platform, served to the vpcd driver,
//! with the state file, the simulated tears and the APDU log.
//!
//! The vpcd connection is softcard's (`softcard::vpcd`): it re-arms `TCP_QUICKACK` between
//! reading a message's length and its payload, which vpcd writes separately. The `vpicc`
//! crate reads both with `read_exact` on a socket it owns, so every APDU waited for a delayed
//! ACK: 50 ms per APDU through it against well under 1 ms this way (docs/opcard-peer.md).

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use iso7816::command::CommandView;
use softcard::vpcd::{Connection, Message};

use crate::flash::Flash;
use crate::framing::Framing;
use crate::in_process::store_config;
use crate::platform;
use crate::Args;

/// Exit code of a simulated tear (the card was pulled).
const EXIT_TORN: u8 = 3;
/// Retry interval while the driver is not reachable.
const RETRY_INTERVAL: Duration = Duration::from_millis(100);
/// How long to keep retrying before giving up.
const RETRY_TIMEOUT: Duration = Duration::from_secs(30);
/// The historical bytes of opcard's default options (its DO `5F52`), repeated in the ATR:
/// category `00`, card service data `31 F5`, card capabilities `73 C0 01 60` (selection by
/// full and partial DF name; extended Lc and Le; extended length information in DO `7F66`;
/// note: no command chaining bit), life cycle `05` (operational; DO `5F52` says `03` once the
/// application is terminated, the ATR does not follow), status `90 00`.
const HISTORICAL_BYTES: [u8; 10] = [0x00, 0x31, 0xF5, 0x73, 0xC0, 0x01, 0x60, 0x05, 0x90, 0x00];

/// Runs the card until it is torn (exit code 3) or the driver stays unreachable (an error).
pub fn run(args: Args) -> Result<ExitCode, String> {
    let (flash, factory_new) = match &args.state {
        Some(path) => match Flash::load(path) {
            Ok(Some(flash)) => (flash, false),
            Ok(None) => (Flash::erased(), true),
            Err(e) => return Err(format!("state file {}: {e}", path.display())),
        },
        None => (Flash::erased(), true),
    };
    let apdu_log = match &args.apdu_log {
        Some(path) => Some(softcard::apdu_log::open(path)?),
        None => None,
    };
    let store = store_config(&flash, factory_new);
    let mut options = opcard::Options::default();
    if let Some(serial) = args.serial {
        options.serial = serial;
    }
    let max_response = args
        .max_response
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    platform::with_client(store, |client| {
        let mut reader = Reader {
            card: opcard::Card::new(client, options),
            framing: Framing::new(max_response),
            atr: atr(&HISTORICAL_BYTES),
            flash,
            state: args.state.clone(),
            saved_revision: None,
            tear_before: args.tear_before,
            tear_after: args.tear_after,
            apdu_log,
            apdu_count: 0,
        };
        // A factory-new card is saved at once, so the file exists from the start.
        reader.save_if_changed()?;
        reader.serve(&args.vpcd)
    })
}

/// The card, the framing around it and everything that happens at an APDU.
struct Reader<C: opcard::Client> {
    card: opcard::Card<C>,
    framing: Framing,
    atr: Vec<u8>,
    flash: Flash,
    state: Option<PathBuf>,
    /// The flash revision last written to the state file.
    saved_revision: Option<u64>,
    tear_before: Option<u64>,
    tear_after: Option<u64>,
    apdu_log: Option<File>,
    apdu_count: u64,
}

/// Why the card stopped serving a connection.
enum Outcome {
    /// The driver closed the connection: reconnect.
    Disconnected,
    /// A simulated tear: exit with code 3.
    Torn,
}

impl<C: opcard::Client> Reader<C> {
    /// Serves connection after connection until a tear: the driver closing one is a power
    /// loss, not the card leaving the reader.
    fn serve(&mut self, address: &str) -> Result<ExitCode, String> {
        loop {
            let mut connection = Connection::connect(address, RETRY_INTERVAL, RETRY_TIMEOUT)
                .map_err(|e| e.to_string())?;
            eprintln!("opcard-vpcd: connected to {address}");
            tracing::info!(address, "vpcd driver reached");
            match self.serve_connection(&mut connection) {
                Ok(Outcome::Torn) => return Ok(ExitCode::from(EXIT_TORN)),
                Ok(Outcome::Disconnected) => {
                    tracing::info!("the vpcd driver closed the connection; reconnecting");
                }
                Err(ServeError::Io(e)) => {
                    tracing::warn!(error = %e, "connection to the vpcd driver lost; reconnecting");
                }
                Err(ServeError::Save(message)) => return Err(message),
            }
            // The card stays inserted, but it lost power with the connection.
            self.power_cycle()?;
        }
    }

    /// Serves one connection until the driver closes it or a tear happens.
    fn serve_connection(&mut self, connection: &mut Connection) -> Result<Outcome, ServeError> {
        while let Some(message) = connection.receive().map_err(ServeError::Io)? {
            match message {
                Message::PowerOff | Message::PowerOn | Message::Reset => {
                    tracing::debug!(?message, "control");
                    self.power_cycle().map_err(ServeError::Save)?;
                }
                Message::GetAtr => connection.send(&self.atr).map_err(ServeError::Io)?,
                Message::UnknownControl(payload) => {
                    tracing::warn!(len = payload.len(), "ignoring an unknown control message");
                }
                Message::Apdu(apdu) => match self.process(&apdu)? {
                    Some(response) => connection.send(&response).map_err(ServeError::Io)?,
                    None => return Ok(Outcome::Torn),
                },
            }
        }
        Ok(Outcome::Disconnected)
    }

    /// Power off, power on or reset: opcard's volatile state (PIN verification, selected DO)
    /// and the framing's pending chain and response are gone; the flash stays.
    fn power_cycle(&mut self) -> Result<(), String> {
        self.card.reset();
        self.framing.reset();
        self.save_if_changed()
    }

    /// Writes the state file if the flash changed since the last write.
    fn save_if_changed(&mut self) -> Result<(), String> {
        let Some(path) = &self.state else {
            return Ok(());
        };
        let revision = self.flash.revision();
        if self.saved_revision == Some(revision) {
            return Ok(());
        }
        vsc_os::write_atomic(
            path,
            &self.flash.to_state(),
            vsc_os::Existing::Replace,
            vsc_os::Durability::Flushed,
        )
        .map_err(|e| {
            format!(
                "cannot write the state file {}: {e}; the card stops, as its flash failed \
                 (check free space and the permissions of the directory)",
                path.display()
            )
        })?;
        self.saved_revision = Some(revision);
        Ok(())
    }

    /// Executes one C-APDU and saves the state before answering; `None` when the card is
    /// pulled at it. A state that cannot be saved stops the card without an answer (what the
    /// APDU did cannot be undone in the mounted file system).
    fn process(&mut self, apdu: &[u8]) -> Result<Option<Vec<u8>>, ServeError> {
        let index = self.apdu_count;
        self.apdu_count += 1;
        let header = header_text(apdu);
        if self.tear_before == Some(index) {
            self.log(&header, "torn-before");
            tracing::info!(index, %header, "tear before the APDU: not executed, card pulled");
            return Ok(None);
        }
        let card = &mut self.card;
        let response = self
            .framing
            .transmit(apdu, |command, reply| card.handle(command, reply));
        self.save_if_changed().map_err(ServeError::Save)?;
        let sw = sw_text(&response);
        if self.tear_after == Some(index) {
            self.log(&header, "torn-after");
            tracing::info!(index, %header, sw, "tear after the APDU: executed, response lost");
            return Ok(None);
        }
        self.log(&header, &sw);
        tracing::debug!(index, %header, sw, "apdu");
        Ok(Some(response))
    }

    fn log(&mut self, header: &str, outcome: &str) {
        if let Some(file) = self.apdu_log.as_mut() {
            // One write per line, so a reader never sees half a line.
            let line = format!("{header} {outcome}\n");
            if let Err(e) = file.write_all(line.as_bytes()) {
                tracing::warn!(error = %e, "cannot append to the APDU log");
            }
        }
    }
}

/// Why serving a connection stopped early.
enum ServeError {
    /// The connection failed: reconnect.
    Io(std::io::Error),
    /// The state file cannot be written: stop.
    Save(String),
}

/// A T=1 ATR (ISO/IEC 7816-3 §8.2) carrying `historical` bytes: `3B`, T0, TD1 `80`, TD2 `01`
/// (T=0 then T=1 offered), the historical bytes, TCK.
fn atr(historical: &[u8]) -> Vec<u8> {
    let k = u8::try_from(historical.len().min(15)).unwrap_or(15);
    let mut atr = vec![0x3B, 0x80 | k, 0x80, 0x01];
    atr.extend_from_slice(&historical[..usize::from(k)]);
    let tck = atr[1..].iter().fold(0, |acc, b| acc ^ b);
    atr.push(tck);
    atr
}

/// `CLA INS P1 P2 Lc` in hex: Lc is the length of the command data (`00` when there is none,
/// 4 hex digits above 255, `--` when the APDU is malformed). Never the data itself.
fn header_text(apdu: &[u8]) -> String {
    let mut parts: Vec<String> = (0..4)
        .map(|i| {
            apdu.get(i)
                .map_or_else(|| "--".to_owned(), |b| format!("{b:02X}"))
        })
        .collect();
    parts.push(match CommandView::try_from(apdu) {
        Ok(command) if command.data().len() > 255 => format!("{:04X}", command.data().len()),
        Ok(command) => format!("{:02X}", command.data().len()),
        Err(_) => "--".to_owned(),
    });
    parts.join(" ")
}

/// SW1 SW2 of a response in hex.
fn sw_text(response: &[u8]) -> String {
    response
        .get(response.len().saturating_sub(2)..)
        .map(|sw| sw.iter().map(|b| format!("{b:02X}")).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{atr, header_text, sw_text, HISTORICAL_BYTES};

    #[test]
    fn atr_carries_the_historical_bytes_and_a_valid_check_byte() {
        let atr = atr(&HISTORICAL_BYTES);
        assert_eq!(
            atr,
            [
                0x3B, 0x8A, 0x80, 0x01, 0x00, 0x31, 0xF5, 0x73, 0xC0, 0x01, 0x60, 0x05, 0x90, 0x00,
                0x88
            ]
        );
        assert_eq!(atr[1..].iter().fold(0, |acc, b| acc ^ b), 0, "TCK");
    }

    #[test]
    fn header_text_shows_no_data() {
        assert_eq!(
            header_text(&[0, 0x20, 0, 0x83, 8, b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8']),
            "00 20 00 83 08"
        );
        let mut extended = vec![0x10, 0xDB, 0x3F, 0xFF, 0, 1, 0];
        extended.extend([0xAA; 256]);
        assert_eq!(header_text(&extended), "10 DB 3F FF 0100");
        assert_eq!(header_text(&[0, 0xA4]), "00 A4 -- -- --");
        assert_eq!(sw_text(&[1, 2, 0x90, 0x00]), "9000");
    }
}
