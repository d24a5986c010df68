//! Carrying APDUs to a connected card: [`transmit`], and [`CardTransport`], the
//! [`Transport`] the personalization engine drives.

use pcsc::Card;
use vsc_core::transport::{Transport, TransportError};
use zeroize::{Zeroize, Zeroizing};

use crate::Fault;

/// Sends `apdu` to `card` and returns the response, which lies in `buffer`
/// (`SCardTransmit`, PC/SC part 5 §3.1.4; `buffer` should hold
/// [`pcsc::MAX_BUFFER_SIZE_EXTENDED`] bytes). On failure the buffer is wiped and the fault is
/// [`Fault::CardRemoved`] when the reader says the card is gone, since some drivers report a
/// pulled card as a communication error. `card` may be a transaction, which dereferences to
/// its card.
pub fn transmit<'b>(card: &Card, apdu: &[u8], buffer: &'b mut [u8]) -> Result<&'b [u8], Fault> {
    // The response is the start of `buffer` (its length is all that leaves the match, so the
    // buffer can be wiped on the failure path).
    let used = match card.transmit(apdu, buffer) {
        Ok(response) => response.len(),
        Err(error) => {
            // Nothing should have been written, but leave no partial response behind.
            buffer.zeroize();
            let fault = Fault::from(error);
            if fault.card_gone() {
                return Err(fault);
            }
            return Err(card_left(card).map_or(fault, |_| Fault::CardRemoved(error)));
        }
    };
    Ok(&buffer[..used])
}

/// Asks the reader whether the card is still there (`SCardStatus`): the fault saying it left,
/// or `None` when it is there (or the reader cannot say).
pub fn card_left(card: &Card) -> Option<Fault> {
    match card.status2_owned() {
        Err(e) => Some(Fault::from(e)).filter(Fault::card_gone),
        Ok(status) if status.status().intersects(pcsc::Status::ABSENT) => {
            Some(Fault::CardRemoved(pcsc::Error::RemovedCard))
        }
        Ok(_) => None,
    }
}

/// A [`Transport`] over a connected card (or a transaction on one, which dereferences to it).
/// Each response is wiped from the receive buffer once copied out, and the buffer on drop.
pub struct CardTransport<'a> {
    card: &'a Card,
    buffer: Zeroizing<Vec<u8>>,
}

impl<'a> CardTransport<'a> {
    /// A transport sending to `card`.
    pub fn new(card: &'a Card) -> CardTransport<'a> {
        CardTransport {
            card,
            buffer: Zeroizing::new(vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED]),
        }
    }
}

impl Transport for CardTransport<'_> {
    /// One command APDU, its response (`SCardTransmit`, PC/SC part 5 §3.1.4).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let response = transmit(self.card, apdu, &mut self.buffer).map_err(|fault| {
            if fault.card_gone() {
                TransportError::CardRemoved
            } else {
                TransportError::Failed(format!("the reader failed ({fault})"))
            }
        })?;
        let out = response.to_vec();
        let used = out.len();
        self.buffer[..used].zeroize();
        Ok(out)
    }
}
