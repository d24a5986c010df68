//! What sits between the reader and opcard's `Card::handle`, which takes one complete command
//! and writes its whole response: command chaining merged into one command (ISO/IEC 7816-4
//! §5.4.1), long responses served in parts with `61xx` and GET RESPONSE, short and extended
//! APDUs parsed (§5.2).
//!
//! Rules (docs/opcard-peer.md lists them for the agent's authors):
//! - CLA bit 5 (`10`) set: the command data is kept and `9000` answered; the chain ends with the
//!   first command without the bit, whose Le applies to the merged command. Every part must
//!   have the first part's CLA (bit 5 aside), INS, P1 and P2: a different command in the middle
//!   of a chain ends the chain unexecuted with `6883` (last command of the chain expected). The
//!   merged data may reach [`MAX_COMMAND`] bytes, more is `6700`.
//! - A response longer than Ne (or than `--max-response`) is cut: Ne bytes and `61xx` (xx =
//!   bytes left, `00` for 256 or more); GET RESPONSE (`00 C0 00 00 Le`) gives the next part.
//!   Without Le (Ne = 0) a response with data is all left for GET RESPONSE. Any other command
//!   drops what was left.
//! - A power cycle or reset drops a pending chain and what was left of a response.

use iso7816::command::{CommandView, FromSliceError};
use iso7816::{Instruction, Status};

/// Longest command data opcard takes, and longest response it makes: its Extended Length
/// Information (DO `7F66`) says `1DB9` for both.
pub const MAX_COMMAND: usize = 7609;
/// See [`MAX_COMMAND`].
pub const MAX_RESPONSE: usize = 7609;

/// The buffer a card writes one response into.
pub type ResponseBuffer = heapless::Vec<u8, MAX_RESPONSE>;

/// CLA bit 5: more commands of this chain follow.
const CHAIN_BIT: u8 = 0x10;
/// `9000`
const SW_OK: [u8; 2] = [0x90, 0x00];
/// `6700`: wrong length.
const SW_WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
/// `6883`: last command of the chain expected.
const SW_CHAIN_BROKEN: [u8; 2] = [0x68, 0x83];
/// `6985`: conditions of use not satisfied (GET RESPONSE with nothing left).
const SW_NOTHING_PENDING: [u8; 2] = [0x69, 0x85];
/// `6A86`: incorrect P1-P2.
const SW_WRONG_P1P2: [u8; 2] = [0x6A, 0x86];
/// `6E00`: class not supported.
const SW_WRONG_CLASS: [u8; 2] = [0x6E, 0x00];

/// Chaining and response state of one card.
#[derive(Debug, Default)]
pub struct Framing {
    /// The parts of an unfinished chain: header (CLA without bit 5, INS, P1, P2) and data.
    chain: Option<([u8; 4], Vec<u8>)>,
    /// What is left of the last response, for GET RESPONSE.
    pending: Vec<u8>,
    /// `--max-response`: the longest part of a response, whatever Ne asks.
    max_response: Option<usize>,
}

impl Framing {
    /// Framing that cuts responses at `max_response` bytes as well as at Ne.
    pub fn new(max_response: Option<usize>) -> Framing {
        Framing {
            max_response,
            ..Framing::default()
        }
    }

    /// Power off, power on or reset: chain and pending response are gone.
    pub fn reset(&mut self) {
        self.chain = None;
        self.pending.clear();
    }

    /// Answers one C-APDU, calling `execute` with each complete command (at most once).
    pub fn transmit(
        &mut self,
        apdu: &[u8],
        execute: impl FnOnce(CommandView<'_>, &mut ResponseBuffer) -> Result<(), Status>,
    ) -> Vec<u8> {
        let command = match CommandView::try_from(apdu) {
            Ok(command) => command,
            Err(e) => {
                self.reset();
                return match e {
                    FromSliceError::InvalidClass => SW_WRONG_CLASS.to_vec(),
                    _ => SW_WRONG_LENGTH.to_vec(),
                };
            }
        };
        let header = [apdu[0] & !CHAIN_BIT, apdu[1], apdu[2], apdu[3]];
        if command.instruction() == Instruction::GetResponse && self.chain.is_none() {
            return self.get_response(&command);
        }
        self.pending.clear();
        let more = apdu[0] & CHAIN_BIT != 0;
        let merged = match self.chain.take() {
            Some((chain_header, _)) if chain_header != header => {
                return SW_CHAIN_BROKEN.to_vec();
            }
            Some((_, mut data)) => {
                data.extend_from_slice(command.data());
                Some(data)
            }
            None if more => Some(command.data().to_vec()),
            None => None,
        };
        if merged.as_ref().is_some_and(|data| data.len() > MAX_COMMAND) {
            return SW_WRONG_LENGTH.to_vec();
        }
        match merged {
            Some(data) if more => {
                self.chain = Some((header, data));
                SW_OK.to_vec()
            }
            Some(data) => {
                let apdu = extended_apdu(header, &data, command.expected());
                match CommandView::try_from(apdu.as_slice()) {
                    Ok(merged) => self.execute(merged, execute),
                    Err(_) => SW_WRONG_LENGTH.to_vec(),
                }
            }
            None => self.execute(command, execute),
        }
    }

    fn execute(
        &mut self,
        command: CommandView<'_>,
        execute: impl FnOnce(CommandView<'_>, &mut ResponseBuffer) -> Result<(), Status>,
    ) -> Vec<u8> {
        let mut buffer = ResponseBuffer::new();
        match execute(command, &mut buffer) {
            Ok(()) => {
                self.pending = buffer.to_vec();
                self.next_part(command.expected())
            }
            // On an error the card's partial output is not sent.
            Err(status) => <[u8; 2]>::from(status).to_vec(),
        }
    }

    fn get_response(&mut self, command: &CommandView<'_>) -> Vec<u8> {
        if command.p1 != 0 || command.p2 != 0 {
            return SW_WRONG_P1P2.to_vec();
        }
        if self.pending.is_empty() {
            return SW_NOTHING_PENDING.to_vec();
        }
        if command.expected() == 0 {
            return SW_WRONG_LENGTH.to_vec();
        }
        self.next_part(command.expected())
    }

    /// Up to `ne` bytes of the pending response, then `9000` or `61xx`.
    fn next_part(&mut self, ne: usize) -> Vec<u8> {
        let n = ne
            .min(self.max_response.unwrap_or(usize::MAX))
            .min(self.pending.len());
        let mut response: Vec<u8> = self.pending.drain(..n).collect();
        match self.pending.len() {
            0 => response.extend_from_slice(&SW_OK),
            left => response.extend_from_slice(&[0x61, u8::try_from(left).unwrap_or(0)]),
        }
        response
    }
}

/// The C-APDU `header || Lc || data || Le` in the extended form (Le omitted when `ne` is 0,
/// Lc when there is no data), which takes any length a chain can merge to.
fn extended_apdu(header: [u8; 4], data: &[u8], ne: usize) -> Vec<u8> {
    let mut apdu = Vec::with_capacity(data.len() + 9);
    apdu.extend_from_slice(&header);
    apdu.push(0);
    if !data.is_empty() {
        let lc = u16::try_from(data.len()).unwrap_or(u16::MAX);
        apdu.extend_from_slice(&lc.to_be_bytes());
        apdu.extend_from_slice(data);
    }
    if ne > 0 {
        // 65536 is encoded 0000.
        let le = u16::try_from(ne.min(65_536) % 65_536).unwrap_or(0);
        apdu.extend_from_slice(&le.to_be_bytes());
    }
    if data.is_empty() && ne == 0 {
        apdu.truncate(4);
    }
    apdu
}

#[cfg(test)]
mod tests {
    use super::{Framing, ResponseBuffer, MAX_COMMAND};
    use iso7816::command::CommandView;
    use iso7816::Status;

    /// A card that answers every command with its own data twice and records what it saw.
    fn echo(
        seen: &mut Vec<(u8, Vec<u8>, usize)>,
    ) -> impl FnOnce(CommandView<'_>, &mut ResponseBuffer) -> Result<(), Status> + '_ {
        move |command, reply| {
            seen.push((command.p1, command.data().to_vec(), command.expected()));
            reply.extend_from_slice(command.data()).unwrap();
            reply.extend_from_slice(command.data()).unwrap();
            Ok(())
        }
    }

    #[test]
    fn chained_parts_are_executed_once_as_one_command() {
        let mut framing = Framing::new(None);
        let mut seen = Vec::new();
        assert_eq!(
            framing.transmit(&[0x10, 0xDB, 0x3F, 0xFF, 2, 1, 2], echo(&mut seen)),
            [0x90, 0x00]
        );
        assert!(seen.is_empty(), "not executed before the last part");
        assert_eq!(
            framing.transmit(&[0x10, 0xDB, 0x3F, 0xFF, 1, 3], echo(&mut seen)),
            [0x90, 0x00]
        );
        assert_eq!(
            framing.transmit(&[0x00, 0xDB, 0x3F, 0xFF, 1, 4, 0], echo(&mut seen)),
            [1, 2, 3, 4, 1, 2, 3, 4, 0x90, 0x00]
        );
        assert_eq!(seen, [(0x3F, vec![1, 2, 3, 4], 256)]);
    }

    #[test]
    fn a_different_command_inside_a_chain_breaks_it_unexecuted() {
        let mut framing = Framing::new(None);
        let mut seen = Vec::new();
        framing.transmit(&[0x10, 0xDB, 0x3F, 0xFF, 1, 1], echo(&mut seen));
        assert_eq!(
            framing.transmit(&[0x00, 0xDA, 0x00, 0x5B, 1, 2], echo(&mut seen)),
            [0x68, 0x83]
        );
        assert!(seen.is_empty());
        // The chain is gone: the same command now runs alone.
        assert_eq!(
            framing.transmit(&[0x00, 0xDA, 0x00, 0x5B, 1, 2], echo(&mut seen)),
            [0x61, 0x02],
            "no Le: the data waits for GET RESPONSE"
        );
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn merged_commands_longer_than_the_card_takes_are_refused() {
        let mut framing = Framing::new(None);
        let mut seen = Vec::new();
        let mut part = vec![0x10, 0xDB, 0x3F, 0xFF, 0, 0x10, 0x00];
        part.extend([0xAB; 4096]);
        assert_eq!(framing.transmit(&part, echo(&mut seen)), [0x90, 0x00]);
        let mut last = part.clone();
        last[0] = 0;
        last.truncate(7 + MAX_COMMAND - 4095);
        last[5..7].copy_from_slice(&u16::try_from(MAX_COMMAND - 4095).unwrap().to_be_bytes());
        assert_eq!(framing.transmit(&last, echo(&mut seen)), [0x67, 0x00]);
        assert!(seen.is_empty());
    }

    #[test]
    fn long_responses_come_in_parts_through_get_response() {
        let mut framing = Framing::new(Some(3));
        let mut seen = Vec::new();
        // 4 bytes of data, echoed twice: 8 bytes, at most 3 per response.
        let response =
            framing.transmit(&[0x00, 0xCA, 0x00, 0x6E, 4, 1, 2, 3, 4, 0], echo(&mut seen));
        assert_eq!(response, [1, 2, 3, 0x61, 5]);
        assert_eq!(
            framing.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x00], echo(&mut seen)),
            [4, 1, 2, 0x61, 2]
        );
        assert_eq!(
            framing.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x02], echo(&mut seen)),
            [3, 4, 0x90, 0x00]
        );
        assert_eq!(seen.len(), 1, "GET RESPONSE does not reach the card");
        assert_eq!(
            framing.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x00], echo(&mut seen)),
            [0x69, 0x85]
        );
    }

    #[test]
    fn another_command_or_a_reset_drops_the_rest_of_a_response() {
        let mut framing = Framing::new(None);
        let mut seen = Vec::new();
        assert_eq!(
            framing.transmit(&[0x00, 0xCA, 0x00, 0x6E, 2, 1, 2, 1], echo(&mut seen)),
            [1, 0x61, 3]
        );
        framing.reset();
        assert_eq!(
            framing.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x00], echo(&mut seen)),
            [0x69, 0x85]
        );
        framing.transmit(&[0x00, 0xCA, 0x00, 0x6E, 2, 1, 2, 1], echo(&mut seen));
        framing.transmit(&[0x00, 0xCA, 0x00, 0x6E, 1, 9, 2], echo(&mut seen));
        assert_eq!(
            framing.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x00], echo(&mut seen)),
            [0x69, 0x85],
            "the second command's whole response was sent"
        );
    }

    #[test]
    fn extended_apdus_reach_the_card_and_bad_ones_do_not() {
        let mut framing = Framing::new(None);
        let mut seen = Vec::new();
        let mut apdu = vec![0x00, 0xDB, 0x3F, 0xFF, 0x00, 0x01, 0x2C];
        apdu.extend([7; 300]);
        apdu.extend([0x00, 0x00]);
        let response = framing.transmit(&apdu, echo(&mut seen));
        assert_eq!(response.len(), 602);
        assert_eq!(response[600..], [0x90, 0x00]);
        assert_eq!(seen[0].2, 65_536);
        assert_eq!(
            framing.transmit(&[0x00, 0xDB, 0x3F], echo(&mut seen)),
            [0x67, 0x00]
        );
        assert_eq!(
            framing.transmit(&[0x00, 0xDB, 0x3F, 0xFF, 5, 1], echo(&mut seen)),
            [0x67, 0x00]
        );
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn card_errors_are_sent_without_data() {
        let mut framing = Framing::new(None);
        let response = framing.transmit(&[0x00, 0x20, 0x00, 0x83, 1, 0], |_, reply| {
            reply.extend_from_slice(&[1, 2, 3]).unwrap();
            Err(Status::SecurityStatusNotSatisfied)
        });
        assert_eq!(response, [0x69, 0x82]);
    }
}
