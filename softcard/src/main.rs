//! `softcard`: the strict software card behind pcscd's vpcd driver.
//!
//! It connects to the driver as a TCP client, answers control messages and C-APDUs with a
//! [`softcard::Card`], optionally persists the card after every state change (`--state`),
//! simulates a pulled card (`--tear-before`/`--tear-after`, exit code 3) and logs APDU
//! headers and status words (never data). See `docs/softcard.md`.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use softcard::state_file;
use softcard::vpcd::{Connection, Message};
use softcard::Card;

/// Exit code of a simulated tear (the card was pulled).
const EXIT_TORN: u8 = 3;
/// Retry interval while the driver is not reachable.
const RETRY_INTERVAL: Duration = Duration::from_millis(100);
/// How long to keep retrying before giving up.
const RETRY_TIMEOUT: Duration = Duration::from_secs(30);

/// A strict software ISO 7816-4/-9 file-system card for pcscd's vpcd reader.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of the vpcd driver (127.0.0.1:35963 is reader "Virtual PCD 00 00",
    /// 127.0.0.1:35964 is "Virtual PCD 00 01").
    #[arg(long, value_name = "HOST:PORT")]
    vpcd: String,
    /// Load the card from FILE (blank if it does not exist) and persist it after every APDU
    /// that changes it.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Longest response in bytes; longer ones return 61xx and GET RESPONSE delivers the rest.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    max_response: Option<u64>,
    /// Pull the card before executing C-APDU K (0-based, counted since start), exit code 3.
    #[arg(long, value_name = "K", conflicts_with = "tear_after")]
    tear_before: Option<u64>,
    /// Pull the card after executing (and persisting) C-APDU K, without responding; exit code 3.
    #[arg(long, value_name = "K")]
    tear_after: Option<u64>,
    /// Append one line per C-APDU: `CLA INS P1 P2 Lc SW` in hex (never data).
    #[arg(long, value_name = "FILE")]
    apdu_log: Option<PathBuf>,
}

/// Why the card stopped serving a connection.
enum Outcome {
    /// The driver closed the connection: reconnect.
    Disconnected,
    /// A simulated tear: exit with code 3.
    Torn,
}

/// The card, its options and its counters across reconnections.
struct Softcard {
    card: Card,
    state: Option<PathBuf>,
    tear_before: Option<u64>,
    tear_after: Option<u64>,
    apdu_log: Option<File>,
    apdu_count: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SOFTCARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("softcard: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let mut card = match &args.state {
        Some(path) => state_file::load(path).map_err(|e| e.to_string())?,
        None => Card::blank(),
    };
    card.set_max_response(
        args.max_response
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    );
    let apdu_log = match &args.apdu_log {
        Some(path) => Some(softcard::apdu_log::open(path)?),
        None => None,
    };
    let mut softcard = Softcard {
        card,
        state: args.state,
        tear_before: args.tear_before,
        tear_after: args.tear_after,
        apdu_log,
        apdu_count: 0,
    };
    loop {
        let mut connection = Connection::connect(&args.vpcd, RETRY_INTERVAL, RETRY_TIMEOUT)
            .map_err(|e| e.to_string())?;
        eprintln!("softcard: connected to {}", args.vpcd);
        tracing::info!(address = %args.vpcd, "vpcd driver reached");
        match softcard.serve(&mut connection) {
            Ok(Outcome::Torn) => return Ok(ExitCode::from(EXIT_TORN)),
            Ok(Outcome::Disconnected) => {
                tracing::info!("the vpcd driver closed the connection; reconnecting");
            }
            Err(e) => {
                tracing::warn!(error = %e, "connection to the vpcd driver lost; reconnecting")
            }
        }
        // The card stays inserted, but it lost power with the connection.
        softcard.card.reset();
    }
}

impl Softcard {
    /// Serves one connection until the driver closes it or a tear happens.
    fn serve(&mut self, connection: &mut Connection) -> std::io::Result<Outcome> {
        while let Some(message) = connection.receive()? {
            match message {
                Message::PowerOff | Message::PowerOn | Message::Reset => {
                    tracing::debug!(?message, "control");
                    self.card.reset();
                }
                Message::GetAtr => connection.send(&self.card.atr())?,
                Message::UnknownControl(payload) => {
                    tracing::warn!(len = payload.len(), "ignoring an unknown control message");
                }
                Message::Apdu(apdu) => match self.process(&apdu) {
                    Some(response) => connection.send(&response)?,
                    None => return Ok(Outcome::Torn),
                },
            }
        }
        Ok(Outcome::Disconnected)
    }

    /// Executes one C-APDU; `None` when the card is pulled at it.
    fn process(&mut self, apdu: &[u8]) -> Option<Vec<u8>> {
        let index = self.apdu_count;
        self.apdu_count += 1;
        let header = header_text(apdu);
        if self.tear_before == Some(index) {
            self.log(&header, "torn-before");
            tracing::info!(index, %header, "tear before the APDU: not executed, card pulled");
            return None;
        }
        let revision = self.card.state_revision();
        let snapshot = self.state.as_ref().map(|_| self.card.clone());
        let mut response = self.card.transmit(apdu);
        if self.card.state_revision() != revision {
            if let (Some(path), Some(snapshot)) = (&self.state, snapshot) {
                if let Err(e) = state_file::save(path, &self.card) {
                    // The EEPROM write failed: the command did not happen; 6581 is
                    // "memory failure" (ISO/IEC 7816-4 §5.6, Table 6).
                    tracing::error!(error = %e, "state not persisted; answering 6581");
                    self.card = snapshot;
                    response = vec![0x65, 0x81];
                }
            }
        }
        let sw = response
            .get(response.len().saturating_sub(2)..)
            .map(hex::encode_upper)
            .unwrap_or_default();
        if self.tear_after == Some(index) {
            self.log(&header, "torn-after");
            tracing::info!(index, %header, sw, "tear after the APDU: executed, response lost");
            return None;
        }
        self.log(&header, &sw);
        tracing::debug!(index, %header, sw, "apdu");
        Some(response)
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

/// `CLA INS P1 P2 Lc` in hex: Lc is the length of the command data field (`00` when there is
/// none; 4 hex digits when above 255); `--` marks what a malformed APDU lacks.
fn header_text(apdu: &[u8]) -> String {
    let mut parts: Vec<String> = (0..4)
        .map(|i| {
            apdu.get(i)
                .map_or_else(|| "--".to_owned(), |b| format!("{b:02X}"))
        })
        .collect();
    parts.push(match data_length(apdu) {
        Some(n) if n > 255 => format!("{n:04X}"),
        Some(n) => format!("{n:02X}"),
        None => "--".to_owned(),
    });
    parts.join(" ")
}

/// Nc of a well-formed C-APDU (ISO/IEC 7816-4 §5.2), `None` if malformed.
fn data_length(apdu: &[u8]) -> Option<usize> {
    let body = apdu.get(4..)?;
    match body {
        [] | [_] => Some(0),
        [0, hi, lo, rest @ ..] => {
            let field = usize::from(u16::from_be_bytes([*hi, *lo]));
            if rest.is_empty() {
                Some(0)
            } else if field != 0 && (rest.len() == field || rest.len() == field + 2) {
                Some(field)
            } else {
                None
            }
        }
        [lc, rest @ ..] if *lc != 0 => {
            let n = usize::from(*lc);
            (rest.len() == n || rest.len() == n + 1).then_some(n)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::header_text;

    #[test]
    fn header_text_shows_no_data() {
        assert_eq!(
            header_text(&[0, 0x20, 0, 0x81, 4, b'1', b'2', b'3', b'4']),
            "00 20 00 81 04"
        );
        assert_eq!(header_text(&[0, 0xB0, 0, 0, 0]), "00 B0 00 00 00");
        assert_eq!(header_text(&[0, 0xA4, 0, 0x0C]), "00 A4 00 0C 00");
        let mut extended = vec![0, 0xD6, 0, 0, 0, 1, 0];
        extended.extend([0xAA; 256]);
        assert_eq!(header_text(&extended), "00 D6 00 00 0100");
        assert_eq!(header_text(&[0, 0xA4]), "00 A4 -- -- --");
        assert_eq!(header_text(&[0, 0xA4, 0, 0, 5, 1]), "00 A4 00 00 --");
    }
}
