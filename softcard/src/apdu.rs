//! C-APDU parsing per ISO/IEC 7816-4 §5.2 (command-response pairs): the four cases, with short
//! (1-byte) and extended (3-byte Lc / 2- or 3-byte Le) length fields.
//!
//! This module only decodes the structure; it does not know any command. Every malformed
//! length encoding is reported as `6700` (wrong length).

use crate::sw::Sw;

/// Largest command data field this card accepts in a short APDU (`docs/card-os.md`).
const MAX_SHORT_DATA: usize = 255;
/// Largest command data field this card accepts in an extended APDU (`docs/card-os.md`).
const MAX_EXTENDED_DATA: usize = 1024;

/// A decoded command APDU borrowing its data field from the raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Command<'a> {
    /// Class byte.
    pub(crate) cla: u8,
    /// Instruction byte.
    pub(crate) ins: u8,
    /// Parameter 1.
    pub(crate) p1: u8,
    /// Parameter 2.
    pub(crate) p2: u8,
    /// Command data field (Nc bytes, possibly empty).
    pub(crate) data: &'a [u8],
    /// Ne, the maximum number of response bytes expected; `None` when Le is absent.
    /// A short Le of `00` is 256, an extended Le of `0000` is 65536.
    pub(crate) ne: Option<usize>,
}

impl<'a> Command<'a> {
    /// Parses a C-APDU (ISO/IEC 7816-4 §5.2, Table 1 and Table 2).
    pub(crate) fn parse(apdu: &'a [u8]) -> Result<Command<'a>, Sw> {
        let (header, body) = apdu.split_at_checked(4).ok_or(Sw::WRONG_LENGTH)?;
        let &[cla, ins, p1, p2] = header else {
            return Err(Sw::WRONG_LENGTH);
        };
        let (data, ne) = parse_body(body)?;
        Ok(Command {
            cla,
            ins,
            p1,
            p2,
            data,
            ne,
        })
    }

    /// P1-P2 as one 16-bit number (used as an offset by READ/UPDATE BINARY).
    pub(crate) fn p1p2(&self) -> u16 {
        u16::from_be_bytes([self.p1, self.p2])
    }
}

/// Splits the body (everything after the header) into data field and Ne.
fn parse_body(body: &[u8]) -> Result<(&[u8], Option<usize>), Sw> {
    match body {
        // Case 1: no Lc, no Le.
        [] => Ok((&[], None)),
        // Case 2S: Le only.
        [le] => Ok((&[], Some(short_ne(*le)))),
        // Extended encodings start with a 00 byte followed by at least two bytes.
        [0, rest @ ..] if rest.len() >= 2 => parse_extended(rest),
        [0, ..] => Err(Sw::WRONG_LENGTH),
        [lc, rest @ ..] => {
            let nc = usize::from(*lc);
            match rest.len().checked_sub(nc) {
                // Case 3S.
                Some(0) => Ok((rest, None)),
                // Case 4S.
                Some(1) => {
                    let (data, le) = rest.split_at(nc);
                    let ne = le.first().map(|b| short_ne(*b));
                    check_data_len(data, MAX_SHORT_DATA)?;
                    Ok((data, ne))
                }
                _ => Err(Sw::WRONG_LENGTH),
            }
        }
    }
}

/// Parses what follows the leading `00` of an extended length field.
fn parse_extended(rest: &[u8]) -> Result<(&[u8], Option<usize>), Sw> {
    let [hi, lo, tail @ ..] = rest else {
        return Err(Sw::WRONG_LENGTH);
    };
    let field = usize::from(u16::from_be_bytes([*hi, *lo]));
    if tail.is_empty() {
        // Case 2E: 00 Le1 Le2.
        return Ok((&[], Some(extended_ne(field))));
    }
    // Cases 3E and 4E: 00 Lc1 Lc2 data [Le1 Le2]; Lc 0000 is not a valid extended Lc.
    if field == 0 {
        return Err(Sw::WRONG_LENGTH);
    }
    let data = tail.get(..field).ok_or(Sw::WRONG_LENGTH)?;
    check_data_len(data, MAX_EXTENDED_DATA)?;
    match tail.get(field..) {
        Some([]) => Ok((data, None)),
        Some([le1, le2]) => Ok((
            data,
            Some(extended_ne(usize::from(u16::from_be_bytes([*le1, *le2])))),
        )),
        _ => Err(Sw::WRONG_LENGTH),
    }
}

fn check_data_len(data: &[u8], max: usize) -> Result<(), Sw> {
    if data.len() > max {
        Err(Sw::WRONG_LENGTH)
    } else {
        Ok(())
    }
}

fn short_ne(le: u8) -> usize {
    if le == 0 {
        256
    } else {
        usize::from(le)
    }
}

fn extended_ne(le: usize) -> usize {
    if le == 0 {
        65_536
    } else {
        le
    }
}

#[cfg(test)]
mod tests {
    use super::Command;
    use crate::sw::Sw;

    fn parse(bytes: &[u8]) -> Result<(Vec<u8>, Option<usize>), Sw> {
        Command::parse(bytes).map(|c| (c.data.to_vec(), c.ne))
    }

    #[test]
    fn short_cases() {
        assert_eq!(parse(&[0, 0xA4, 0, 0]), Ok((vec![], None)));
        assert_eq!(parse(&[0, 0xB0, 0, 0, 0]), Ok((vec![], Some(256))));
        assert_eq!(parse(&[0, 0xB0, 0, 0, 0x10]), Ok((vec![], Some(16))));
        assert_eq!(parse(&[0, 0xD6, 0, 0, 2, 7, 8]), Ok((vec![7, 8], None)));
        assert_eq!(
            parse(&[0, 0xA4, 0, 4, 2, 0x3F, 0, 0]),
            Ok((vec![0x3F, 0], Some(256)))
        );
        assert_eq!(
            parse(&[0, 0xA4, 0, 4, 2, 0x3F, 0, 9]),
            Ok((vec![0x3F, 0], Some(9)))
        );
        let full: Vec<u8> = [0, 0xD6, 0, 0, 0xFF].into_iter().chain([1; 255]).collect();
        assert_eq!(parse(&full).map(|(d, _)| d.len()), Ok(255));
    }

    #[test]
    fn extended_cases() {
        assert_eq!(parse(&[0, 0xB0, 0, 0, 0, 1, 0]), Ok((vec![], Some(256))));
        assert_eq!(parse(&[0, 0xB0, 0, 0, 0, 0, 0]), Ok((vec![], Some(65_536))));
        assert_eq!(
            parse(&[0, 0xD6, 0, 0, 0, 0, 2, 5, 6]),
            Ok((vec![5, 6], None))
        );
        assert_eq!(
            parse(&[0, 0xA4, 0, 4, 0, 0, 1, 5, 0, 0]),
            Ok((vec![5], Some(65_536)))
        );
        assert_eq!(
            parse(&[0, 0xA4, 0, 4, 0, 0, 1, 5, 0x01, 0x02]),
            Ok((vec![5], Some(0x102)))
        );
        let mut big = vec![0, 0xD6, 0, 0, 0, 0x04, 0x00];
        big.extend([9; 1024]);
        assert_eq!(parse(&big).map(|(d, _)| d.len()), Ok(1024));
    }

    #[test]
    fn malformed_lengths_are_6700() {
        for bad in [
            &[][..],
            &[0],
            &[0, 0xA4, 0],
            &[0, 0xA4, 0, 0, 2, 1],                // Lc 2, one byte
            &[0, 0xA4, 0, 0, 1, 1, 2, 3],          // Lc 1, three bytes
            &[0, 0xB0, 0, 0, 0, 1],                // 00 + one byte
            &[0, 0xD6, 0, 0, 0, 0, 0, 1],          // extended Lc 0000 with data
            &[0, 0xD6, 0, 0, 0, 0, 3, 1, 2],       // extended Lc 3, two bytes
            &[0, 0xD6, 0, 0, 0, 0, 1, 1, 2],       // extended, one byte Le
            &[0, 0xD6, 0, 0, 0, 0, 1, 1, 2, 3, 4], // extended, three trailing bytes
        ] {
            assert_eq!(parse(bad), Err(Sw::WRONG_LENGTH), "{bad:02X?}");
        }
        let mut too_big = vec![0, 0xD6, 0, 0, 0, 0x04, 0x01];
        too_big.extend([9; 1025]);
        assert_eq!(parse(&too_big), Err(Sw::WRONG_LENGTH));
    }
}
