//! A card behind a faulty reader ("chaos card"): every exchange may have its response
//! corrupted, cut, padded, lost, or answered by the reader instead of the card, and the card
//! may be reset between two commands. For tests that the personalization engine never
//! believes a card holds what it does not, whatever the link does.
//!
//! The caller picks the [`Fault`] of each exchange (from a seeded random generator, or from a
//! fuzzer's bytes). The faults garble, shorten or drop; none invents success: a status word
//! `9000` reaches the caller only for a command the card executed with `9000`, and data that
//! reaches the caller is the card's own, cut short, or followed by extra bytes.

use crate::card::Card;

/// What happens to one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: the card answers.
    None,
    /// The command never reaches the card; the reader answers `sw` itself (a `61xx` or
    /// `6Cxx` without end, a random error). A `9000` here is answered as `6F00` instead.
    NotSent {
        /// The status word the reader answers.
        sw: u16,
    },
    /// The card executes the command, then its status word is replaced by `sw` on the way
    /// back (a `9000` replaces only a `9000`; any other word is kept).
    SwReplaced {
        /// The status word that arrives.
        sw: u16,
    },
    /// The card executes the command; only the first `len` bytes of its response arrive.
    Truncated {
        /// Bytes that arrive.
        len: usize,
    },
    /// The card executes the command; `extra` bytes arrive between its data and its status
    /// word.
    Oversized {
        /// The bytes added.
        extra: Vec<u8>,
    },
    /// The response is lost (the reader reports an error); `executed` says whether the card
    /// executed the command first.
    Lost {
        /// Whether the card executed the command.
        executed: bool,
    },
    /// The card is reset (its volatile state cleared, as by a power cycle) before it receives
    /// the command, which it then executes.
    ResetBefore,
}

/// The reader reported an error instead of a response ([`Fault::Lost`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the reader lost the response (simulated fault)")]
pub struct LostResponse;

/// A [`Card`] behind a reader that inflicts the [`Fault`] the caller names on each exchange.
#[derive(Debug, Clone)]
pub struct ChaosCard {
    card: Card,
}

impl ChaosCard {
    /// Puts `card` behind the faulty reader.
    pub fn new(card: Card) -> ChaosCard {
        ChaosCard { card }
    }

    /// Sends one APDU through the reader with `fault`.
    pub fn transmit(&mut self, apdu: &[u8], fault: &Fault) -> Result<Vec<u8>, LostResponse> {
        match fault {
            Fault::None => Ok(self.card.transmit(apdu)),
            Fault::NotSent { sw } => {
                let sw = if *sw == 0x9000 { 0x6F00 } else { *sw };
                Ok(sw.to_be_bytes().to_vec())
            }
            Fault::SwReplaced { sw } => {
                let mut response = self.card.transmit(apdu);
                let at = response.len() - 2;
                if *sw != 0x9000 || response[at..] == [0x90, 0x00] {
                    response[at..].copy_from_slice(&sw.to_be_bytes());
                }
                Ok(response)
            }
            Fault::Truncated { len } => {
                let mut response = self.card.transmit(apdu);
                response.truncate(*len);
                Ok(response)
            }
            Fault::Oversized { extra } => {
                let mut response = self.card.transmit(apdu);
                let at = response.len() - 2;
                response.splice(at..at, extra.iter().copied());
                Ok(response)
            }
            Fault::Lost { executed } => {
                if *executed {
                    self.card.transmit(apdu);
                }
                Err(LostResponse)
            }
            Fault::ResetBefore => {
                self.card.reset();
                Ok(self.card.transmit(apdu))
            }
        }
    }

    /// The card, for an independent look at what it holds.
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// Takes the card out of the faulty reader (its volatile state cleared, as taking a card
    /// out is a power loss).
    pub fn into_card(mut self) -> Card {
        self.card.reset();
        self.card
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SELECT of the MF: `9000` on a blank card.
    const SELECT_MF: [u8; 7] = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00];
    /// SELECT of a DF that does not exist: `6A82`.
    const SELECT_MISSING: [u8; 7] = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x12, 0x34];

    #[test]
    fn no_fault_invents_success() {
        let mut chaos = ChaosCard::new(Card::blank());
        let sent = chaos.transmit(&SELECT_MISSING, &Fault::NotSent { sw: 0x9000 });
        assert_eq!(sent, Ok(vec![0x6F, 0x00]));
        let replaced = chaos.transmit(&SELECT_MISSING, &Fault::SwReplaced { sw: 0x9000 });
        assert_eq!(replaced, Ok(vec![0x6A, 0x82]), "a failure stays a failure");
        let replaced = chaos.transmit(&SELECT_MF, &Fault::SwReplaced { sw: 0x6581 });
        assert_eq!(replaced, Ok(vec![0x65, 0x81]));
    }

    #[test]
    fn responses_are_cut_padded_or_lost() {
        let mut chaos = ChaosCard::new(Card::blank());
        let cut = chaos.transmit(&SELECT_MF, &Fault::Truncated { len: 1 });
        assert_eq!(cut, Ok(vec![0x90]));
        let padded = chaos.transmit(&SELECT_MF, &Fault::Oversized { extra: vec![1, 2] });
        assert_eq!(padded, Ok(vec![1, 2, 0x90, 0x00]));
        let lost = chaos.transmit(&SELECT_MF, &Fault::Lost { executed: true });
        assert_eq!(lost, Err(LostResponse));
        let reset = chaos.transmit(&SELECT_MF, &Fault::ResetBefore);
        assert_eq!(reset, Ok(vec![0x90, 0x00]));
        assert!(chaos.into_card().is_blank());
    }
}
