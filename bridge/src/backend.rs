//! The reader backends behind the protocol: PC/SC (`pcsc_backend`) and the simulated reader
//! (`sim_backend`), behind one small blocking interface. Callers run these methods on blocking
//! threads (`spawn_blocking`), or, for a batch, on the thread of the one connection that asked
//! (a connection has a thread and a runtime of its own); never on a thread that serves anything
//! else.
//!
//! Also the batch loop shared by both backends ([`run_batch`]): `expect` patterns, `stopped_at`,
//! and the APDU log line, which holds the header (CLA INS P1 P2 Lc) and the status word only,
//! never command or response data.

use std::sync::Arc;
use tokio::sync::Notify;
use vsc_core::protocol::{
    status_word, CardProtocol, ErrorCode, HexBytes, ProtocolError, ReaderInfo, SwPattern,
};

/// A failure of a reader operation, mapped onto the protocol's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// No reader by that name.
    #[error("no reader named {0:?}; ask for the list with the readers op")]
    UnknownReader(String),
    /// The reader is empty (or the card does not answer).
    #[error("no usable card in the reader: {0}")]
    NoCard(String),
    /// Another program holds the reader.
    #[error("the reader is in use by another program")]
    Busy,
    /// The card left during the operation.
    #[error("the card was removed{0}")]
    CardRemoved(String),
    /// The card or reader failed to carry an APDU.
    #[error("the reader failed to exchange an APDU: {0}")]
    Transmit(String),
    /// The reader service is not available.
    #[error("the reader service failed: {0}")]
    Service(String),
}

impl BackendError {
    /// The protocol error for this failure.
    pub fn to_protocol(&self) -> ProtocolError {
        let code = match self {
            BackendError::UnknownReader(_) => ErrorCode::UnknownReader,
            BackendError::NoCard(_) => ErrorCode::NoCard,
            BackendError::Busy => ErrorCode::Busy,
            BackendError::CardRemoved(_) => ErrorCode::CardRemoved,
            BackendError::Transmit(_) => ErrorCode::TransmitFailed,
            BackendError::Service(_) => ErrorCode::ReaderError,
        };
        ProtocolError::new(code, self.to_string())
    }
}

/// The readers and the way to open a card. Blocking.
pub trait Backend: Send + Sync + 'static {
    /// All readers, with card presence and ATR.
    fn readers(&self) -> Result<Vec<ReaderInfo>, BackendError>;

    /// Opens `reader`'s card exclusively.
    fn connect(&self, reader: &str) -> Result<Box<dyn CardChannel>, BackendError>;

    /// Starts watching readers and cards; `changed` is notified whenever either may have
    /// changed (spurious notifications are fine).
    fn watch(&self, changed: Arc<Notify>);

    /// Inserts (`true`) or removes the simulated card; `None` when the backend is not simulated.
    fn set_simulated_card(&self, _present: bool) -> Option<()> {
        None
    }
}

/// An open, exclusive connection to one card. Blocking.
pub trait CardChannel: Send {
    /// The card's ATR.
    fn atr(&self) -> Vec<u8>;

    /// The transmission protocol in use.
    fn protocol(&self) -> CardProtocol;

    /// Sends `apdus` in order, as one transaction, per [`run_batch`].
    fn transmit_batch(
        &mut self,
        apdus: &[HexBytes],
        expect: &[Option<SwPattern>],
    ) -> Result<BatchOutcome, BatchFailure>;

    /// Ends the connection and resets the card (no verified PIN survives).
    fn disconnect_reset(self: Box<Self>);
}

/// A batch that ran to its end or to a status word that did not match.
#[derive(Debug)]
pub struct BatchOutcome {
    /// One response per APDU sent.
    pub responses: Vec<HexBytes>,
    /// Index of the APDU whose status word did not match its pattern.
    pub stopped_at: Option<usize>,
}

/// A batch that failed part way.
#[derive(Debug)]
pub struct BatchFailure {
    /// Why.
    pub error: BackendError,
    /// How many APDUs had a response before the failure.
    pub completed: usize,
}

/// Runs a batch with `transmit` sending one APDU: stops at the first status word that does not
/// match `expect[i]` (protocol, `transmit`), logs each exchange's header and status word at
/// debug level.
pub fn run_batch(
    apdus: &[HexBytes],
    expect: &[Option<SwPattern>],
    mut transmit: impl FnMut(&[u8]) -> Result<HexBytes, BackendError>,
) -> Result<BatchOutcome, BatchFailure> {
    let mut responses = Vec::with_capacity(apdus.len());
    for (index, apdu) in apdus.iter().enumerate() {
        let response = transmit(apdu.expose()).map_err(|error| {
            tracing::warn!(index, header = %ApduHeader(apdu.expose()), %error, "APDU failed");
            BatchFailure {
                error,
                completed: index,
            }
        })?;
        let sw = status_word(response.expose());
        tracing::debug!(
            index,
            header = %ApduHeader(apdu.expose()),
            sw = %sw.map_or_else(|| "none".to_owned(), |sw| format!("{sw:04X}")),
            response_len = response.len(),
            "APDU"
        );
        let matched = match expect.get(index) {
            Some(Some(pattern)) => pattern.matches_response(response.expose()),
            _ => true,
        };
        responses.push(response);
        if !matched {
            return Ok(BatchOutcome {
                responses,
                stopped_at: Some(index),
            });
        }
    }
    Ok(BatchOutcome {
        responses,
        stopped_at: None,
    })
}

/// Displays a command APDU's header only: `CLA INS P1 P2 Lc=n` (ISO 7816-4 §5.1, short and
/// extended Lc); the data field is never shown.
pub struct ApduHeader<'a>(pub &'a [u8]);

impl std::fmt::Display for ApduHeader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = self.0;
        let Some(header) = bytes.get(..4) else {
            return write!(f, "short APDU ({} bytes)", bytes.len());
        };
        write!(
            f,
            "{:02X} {:02X} {:02X} {:02X}",
            header[0], header[1], header[2], header[3]
        )?;
        let body = &bytes[4..];
        let lc = match body {
            // Case 1 and case 2 short: no data.
            [] | [_] => 0,
            // Extended: 00 then two length bytes (case 2E has exactly 3 body bytes: Le).
            [0, hi, lo, rest @ ..] if !rest.is_empty() => {
                usize::from(u16::from_be_bytes([*hi, *lo]))
            }
            [0, _, _] => 0,
            [lc, ..] => usize::from(*lc),
        };
        write!(f, " Lc={lc}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hx(s: &str) -> HexBytes {
        HexBytes::new(hex::decode(s).unwrap())
    }

    #[test]
    fn header_never_shows_data() {
        assert_eq!(
            ApduHeader(&hex::decode("0020008108313233343536FFFF").unwrap()).to_string(),
            "00 20 00 81 Lc=8"
        );
        assert_eq!(
            ApduHeader(&hex::decode("00B0000010").unwrap()).to_string(),
            "00 B0 00 00 Lc=0"
        );
        assert_eq!(
            ApduHeader(&hex::decode("00A4000C").unwrap()).to_string(),
            "00 A4 00 0C Lc=0"
        );
        assert_eq!(
            ApduHeader(&hex::decode("00D60000000003414243").unwrap()).to_string(),
            "00 D6 00 00 Lc=3"
        );
        assert_eq!(
            ApduHeader(&hex::decode("00B00000000100").unwrap()).to_string(),
            "00 B0 00 00 Lc=0"
        );
        assert_eq!(
            ApduHeader(&[0x00, 0x20]).to_string(),
            "short APDU (2 bytes)"
        );
    }

    #[test]
    fn stops_at_the_first_unexpected_status_word() {
        let apdus = [hx("00A4000C023F00"), hx("00200081"), hx("00B00000")];
        let answers = [hx("9000"), hx("63C2"), hx("019000")];
        let mut sent = 0;
        let expect = [
            SwPattern::parse("9000").ok(),
            SwPattern::parse("9000").ok(),
            None,
        ];
        let out = run_batch(&apdus, &expect, |_| {
            sent += 1;
            Ok(answers[sent - 1].clone())
        })
        .unwrap();
        assert_eq!(out.stopped_at, Some(1));
        assert_eq!(out.responses.len(), 2);
        assert_eq!(sent, 2, "nothing is sent after the stop");

        let expect = [None, SwPattern::parse("63CX").ok()];
        let mut sent = 0;
        let out = run_batch(&apdus, &expect, |_| {
            sent += 1;
            Ok(answers[sent - 1].clone())
        })
        .unwrap();
        assert_eq!(out.stopped_at, None);
        assert_eq!(out.responses.len(), 3);
    }

    #[test]
    fn failure_reports_how_far_it_got() {
        let apdus = [hx("00A4000C"), hx("00A4000C")];
        let mut n = 0;
        let failure = run_batch(&apdus, &[], |_| {
            n += 1;
            if n == 2 {
                Err(BackendError::CardRemoved(String::new()))
            } else {
                Ok(hx("9000"))
            }
        })
        .unwrap_err();
        assert_eq!(failure.completed, 1);
        assert_eq!(failure.error.to_protocol().code, ErrorCode::CardRemoved);
    }
}
