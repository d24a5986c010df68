//! The one-method transport trait, and APDU batches as the engine hands them to a transport.
//!
//! A transport moves one command APDU to a card and its response back: the softcard
//! in-process, PC/SC in the `vsc` command, the bridge's WebSocket in the page. The engine in
//! [`crate::perso`] never knows which. Transports that can send many APDUs at once (the
//! bridge's `transmit` op) take a whole [`Batch`]; others run it with [`run_batch`].

use crate::apdu::{Command, Response, SwPattern};

/// Moves APDUs to one card.
pub trait Transport {
    /// Sends one encoded command APDU and returns the raw response (data + SW1 SW2).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError>;
}

/// Why a transport could not deliver an APDU or its response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The card left the reader (or lost power) during the exchange.
    #[error("the card was removed from the reader")]
    CardRemoved,
    /// Anything else: the reader, the bridge or the connection failed.
    #[error("{0}")]
    Failed(String),
}

/// One APDU of a batch and the status words that let the batch go on.
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// The command.
    pub command: Command,
    /// The batch stops after the first response whose status word does not match.
    pub expect: SwPattern,
}

/// APDUs sent in order, stopping at the first unexpected status word (bridge protocol,
/// `transmit` with `expect`).
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// The APDUs in order.
    pub items: Vec<BatchItem>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a command expecting `9000`.
    pub fn push(&mut self, command: Command) {
        self.push_expecting(command, SwPattern::OK);
    }

    /// Appends a command with its own expected status word pattern.
    pub fn push_expecting(&mut self, command: Command, expect: SwPattern) {
        self.items.push(BatchItem { command, expect });
    }

    /// Number of APDUs.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch holds no APDU.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Runs a batch one APDU at a time: returns the responses up to and including the first one
/// whose status word does not match its pattern.
pub fn run_batch(
    transport: &mut dyn Transport,
    batch: &Batch,
) -> Result<Vec<Response>, TransportError> {
    let mut responses = Vec::with_capacity(batch.len());
    for item in &batch.items {
        let mut raw = transport.transmit(item.command.to_bytes().expose())?;
        let parsed = Response::parse(&raw);
        crate::secret::wipe(&mut raw);
        let response = parsed.map_err(|e| TransportError::Failed(e.to_string()))?;
        let matched = item.expect.matches(response.sw.0);
        responses.push(response);
        if !matched {
            break;
        }
    }
    Ok(responses)
}
