//! Power loss ("tear") injection: a card in a reader that loses power at a chosen APDU, for
//! tests of personalization that must recover from a card pulled at any point.
//!
//! The model is that of a card whose every command is atomic (as EEPROM transactions make it):
//! the torn command either did not happen at all or happened completely.

use crate::card::Card;

/// When the power is lost, counted in APDUs (0-based) since the [`FaultyCard`] was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// APDU `k` is not executed.
    Before(u64),
    /// APDU `k` is executed (the state changes) but its response is lost.
    After(u64),
}

/// The power was lost: this APDU, and every later one, gets no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the card lost power at APDU {at} (simulated tear): no response; take the card out \
     (FaultyCard::into_card) and start a new session"
)]
pub struct Torn {
    /// Index of the APDU at which the power was lost.
    pub at: u64,
}

/// A card in a reader that loses power at a chosen APDU.
#[derive(Debug)]
pub struct FaultyCard {
    card: Card,
    tear: Tear,
    next_index: u64,
    torn_at: Option<u64>,
}

impl FaultyCard {
    /// Puts `card` in a reader that will lose power as `tear` says.
    pub fn new(card: Card, tear: Tear) -> FaultyCard {
        FaultyCard {
            card,
            tear,
            next_index: 0,
            torn_at: None,
        }
    }

    /// Sends one APDU. `Before(k)`: APDU `k` is not executed; `After(k)`: it is executed but
    /// its response is lost. Either way APDU `k` and every later call return `Err(Torn)`, and
    /// the card's volatile state is reset.
    pub fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Torn> {
        if let Some(at) = self.torn_at {
            return Err(Torn { at });
        }
        let index = self.next_index;
        self.next_index += 1;
        match self.tear {
            Tear::Before(k) if k == index => {}
            Tear::After(k) if k == index => {
                self.card.transmit(apdu);
            }
            _ => return Ok(self.card.transmit(apdu)),
        }
        self.card.reset();
        self.torn_at = Some(index);
        Err(Torn { at: index })
    }

    /// Whether the power has been lost.
    pub fn is_torn(&self) -> bool {
        self.torn_at.is_some()
    }

    /// Takes the card out of the reader: the card as it is now, with its volatile state
    /// cleared (taking a card out is a power loss too).
    pub fn into_card(mut self) -> Card {
        self.card.reset();
        self.card
    }
}
