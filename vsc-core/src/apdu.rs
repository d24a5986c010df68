//! APDU commands and responses (ISO/IEC 7816-4 §5).
//!
//! A [`Command`] knows whether its data is sensitive (a PIN, a key, a private area): then its
//! `Debug` shows only the header, and its encoded bytes come back in a zeroizing buffer.
//! Status words are a plain `u16` with a [`Status`] view that names the ones this project
//! meets, with an `Other` fallback for the rest.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::secret::SecretBytes;

/// A command APDU (ISO 7816-4 §5.1): header, optional data, optional expected length.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    data: SecretBytes,
    /// Expected response length (`Ne`); `None` means no response data is expected.
    pub le: Option<usize>,
    sensitive: bool,
}

impl Command {
    /// A command with no data and no expected response data (case 1).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: SecretBytes::default(),
            le: None,
            sensitive: false,
        }
    }

    /// Adds non-secret command data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = SecretBytes::new(data.into());
        self
    }

    /// Adds secret command data: it is redacted in `Debug` and in any log of this command.
    pub fn with_sensitive_data(mut self, data: SecretBytes) -> Self {
        self.data = data;
        self.sensitive = true;
        self
    }

    /// Sets the expected response length (`Ne`, 1..=65536).
    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// The command data. Treat it as secret when [`Command::is_sensitive`] is true.
    pub fn data(&self) -> &[u8] {
        self.data.expose()
    }

    /// Whether the data must never be logged or shown.
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }

    /// A copy with another class byte, data and Le, as sensitive as this one: one link of a
    /// command chain (ISO 7816-4 §5.4.1).
    pub fn with_body(&self, cla: u8, data: &[u8], le: Option<usize>) -> Command {
        Command {
            cla,
            ins: self.ins,
            p1: self.p1,
            p2: self.p2,
            data: SecretBytes::from_slice(data),
            le,
            sensitive: self.sensitive,
        }
    }

    /// Whether this command needs the extended length encoding (ISO 7816-4 §5.1).
    pub fn needs_extended(&self) -> bool {
        self.data.len() > 255 || self.le.is_some_and(|le| le > 256)
    }

    /// Encodes the command: short encoding when it fits, extended otherwise (ISO 7816-4 §5.1,
    /// cases 1 to 4). The bytes are returned zeroizing since they may hold secrets.
    pub fn to_bytes(&self) -> SecretBytes {
        let mut out = Vec::with_capacity(self.data.len() + 9);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let nc = self.data.len();
        if !self.needs_extended() {
            if nc > 0 {
                out.push(nc as u8);
                out.extend_from_slice(self.data.expose());
            }
            if let Some(le) = self.le {
                out.push(if le == 256 { 0 } else { le as u8 });
            }
        } else {
            out.push(0);
            if nc > 0 {
                out.extend_from_slice(&(nc as u16).to_be_bytes());
                out.extend_from_slice(self.data.expose());
            }
            if let Some(le) = self.le {
                let le = if le >= 65536 { 0 } else { le as u16 };
                out.extend_from_slice(&le.to_be_bytes());
            }
        }
        SecretBytes::new(out)
    }

    /// The header and the length of the data: what may be logged or reported of a command.
    pub fn header(&self) -> CommandHeader {
        CommandHeader {
            cla: self.cla,
            ins: self.ins,
            p1: self.p1,
            p2: self.p2,
            lc: self.data.len(),
        }
    }

    /// The header as logged: `CLA INS P1 P2 Lc` in hex, never the data.
    pub fn header_text(&self) -> String {
        self.header().to_string()
    }
}

/// What may be shown of a command APDU (ISO 7816-4 §5.1): its four header bytes and the length
/// of its data, never the data. Displays as `00 DA 00 5B Lc=12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandHeader {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Bytes of command data (`Lc`; 0 when there are none).
    pub lc: usize,
}

impl fmt::Display for CommandHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02X} {:02X} {:02X} {:02X} Lc={}",
            self.cla, self.ins, self.p1, self.p2, self.lc
        )
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Command({}", self.header_text())?;
        if self.sensitive {
            f.write_str(" data=<sensitive>")?;
        } else if !self.data.is_empty() {
            write!(f, " data={}", hex::encode_upper(self.data.expose()))?;
        }
        if let Some(le) = self.le {
            write!(f, " Le={le}")?;
        }
        f.write_str(")")
    }
}

/// A response APDU (ISO 7816-4 §5.1): data then the status word SW1 SW2.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    data: SecretBytes,
    /// The status word.
    pub sw: StatusWord,
}

impl Response {
    /// Splits raw response bytes into data and status word.
    pub fn parse(bytes: &[u8]) -> Result<Self, MalformedResponse> {
        if bytes.len() < 2 {
            return Err(MalformedResponse { len: bytes.len() });
        }
        let (data, sw) = bytes.split_at(bytes.len() - 2);
        Ok(Self {
            data: SecretBytes::from_slice(data),
            sw: StatusWord(u16::from_be_bytes([sw[0], sw[1]])),
        })
    }

    /// A response built from parts.
    pub fn new(data: SecretBytes, sw: StatusWord) -> Self {
        Self { data, sw }
    }

    /// The response data (may be secret; do not log).
    pub fn data(&self) -> &[u8] {
        self.data.expose()
    }

    /// Takes the data out.
    pub fn into_data(self) -> SecretBytes {
        self.data
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Response({} bytes, SW={})", self.data.len(), self.sw)
    }
}

/// A response shorter than the two status bytes: the card or the transport is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the card sent a {len}-byte response, shorter than the 2-byte status word")]
pub struct MalformedResponse {
    /// Length received.
    pub len: usize,
}

/// A status word SW1 SW2 (ISO 7816-4 §5.6).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `9000`: normal processing.
    pub const OK: StatusWord = StatusWord(0x9000);

    /// SW1.
    pub fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// SW2.
    pub fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// What the status word means.
    pub fn status(self) -> Status {
        match (self.sw1(), self.sw2()) {
            (0x90, 0x00) => Status::Success,
            (0x61, n) => Status::MoreData(n),
            (0x6C, n) => Status::WrongLe(n),
            (0x63, n) if n & 0xF0 == 0xC0 => Status::VerificationFailed {
                tries_left: n & 0x0F,
            },
            (0x65, 0x81) => Status::MemoryFailure,
            (0x67, 0x00) => Status::WrongLength,
            (0x69, 0x82) => Status::SecurityNotSatisfied,
            (0x69, 0x83) => Status::AuthenticationBlocked,
            (0x69, 0x85) => Status::ConditionsNotSatisfied,
            (0x69, 0x86) => Status::CommandNotAllowed,
            (0x6A, 0x80) => Status::IncorrectData,
            (0x6A, 0x82) => Status::FileNotFound,
            (0x6A, 0x84) => Status::NotEnoughMemory,
            (0x6A, 0x86) => Status::IncorrectP1P2,
            (0x6A, 0x88) => Status::ReferencedDataNotFound,
            (0x6A, 0x89) => Status::FileExists,
            (0x6B, 0x00) => Status::WrongOffset,
            (0x6D, 0x00) => Status::InsNotSupported,
            (0x6E, 0x00) => Status::ClaNotSupported,
            _ => Status::Other(self.0),
        }
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.status())
    }
}

/// The status words this project acts on (ISO 7816-4 §5.6, tables 5 and 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `9000`.
    Success,
    /// `61xx`: xx more bytes available with GET RESPONSE (`00` = 256 or more).
    MoreData(u8),
    /// `6Cxx`: wrong Le; xx is the exact length available.
    WrongLe(u8),
    /// `63Cx`: verification failed, x tries left.
    VerificationFailed {
        /// Tries left.
        tries_left: u8,
    },
    /// `6581`.
    MemoryFailure,
    /// `6700`.
    WrongLength,
    /// `6982`.
    SecurityNotSatisfied,
    /// `6983`.
    AuthenticationBlocked,
    /// `6985`.
    ConditionsNotSatisfied,
    /// `6986`.
    CommandNotAllowed,
    /// `6A80`.
    IncorrectData,
    /// `6A82`.
    FileNotFound,
    /// `6A84`.
    NotEnoughMemory,
    /// `6A86`.
    IncorrectP1P2,
    /// `6A88`.
    ReferencedDataNotFound,
    /// `6A89`.
    FileExists,
    /// `6B00`.
    WrongOffset,
    /// `6D00`.
    InsNotSupported,
    /// `6E00`.
    ClaNotSupported,
    /// Any other status word.
    Other(u16),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Status::Success => "success",
            Status::MoreData(_) => "more response data available",
            Status::WrongLe(_) => "wrong expected length",
            Status::VerificationFailed { tries_left } => {
                return write!(f, "verification failed, {tries_left} tries left")
            }
            Status::MemoryFailure => "memory failure",
            Status::WrongLength => "wrong length",
            Status::SecurityNotSatisfied => "security status not satisfied",
            Status::AuthenticationBlocked => "authentication method blocked",
            Status::ConditionsNotSatisfied => "conditions of use not satisfied",
            Status::CommandNotAllowed => "command not allowed",
            Status::IncorrectData => "incorrect data",
            Status::FileNotFound => "file not found",
            Status::NotEnoughMemory => "not enough memory",
            Status::IncorrectP1P2 => "incorrect P1-P2",
            Status::ReferencedDataNotFound => "referenced data not found",
            Status::FileExists => "file already exists",
            Status::WrongOffset => "offset outside the file",
            Status::InsNotSupported => "instruction not supported",
            Status::ClaNotSupported => "class not supported",
            Status::Other(_) => "unexpected status",
        };
        f.write_str(text)
    }
}

/// A status-word pattern of `transmit`'s `expect`: four hex digits where `X` (or `x`) matches
/// any nibble, e.g. `"9000"`, `"61XX"`, `"63CX"` (protocol section "Messages", `transmit`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SwPattern {
    value: u16,
    mask: u16,
}

/// A text that is not a status-word pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a status word pattern: expected 4 characters, each a hex digit or X (e.g. \"9000\", \"61XX\")")]
pub struct BadSwPattern(String);

impl SwPattern {
    /// Matches exactly `9000`.
    pub const OK: SwPattern = SwPattern::exact(0x9000);

    /// A pattern matching exactly `sw`.
    pub const fn exact(sw: u16) -> Self {
        Self {
            value: sw,
            mask: 0xFFFF,
        }
    }

    /// Parses `"9000"`, `"61XX"` and the like.
    pub fn parse(text: &str) -> Result<Self, BadSwPattern> {
        let bad = || BadSwPattern(text.chars().take(16).collect());
        // Four ASCII characters, so four bytes (anything else is refused below).
        if text.len() != 4 {
            return Err(bad());
        }
        let (mut value, mut mask) = (0u16, 0u16);
        for byte in text.bytes() {
            value <<= 4;
            mask <<= 4;
            if byte == b'X' || byte == b'x' {
                continue;
            }
            let nibble = char::from(byte).to_digit(16).ok_or_else(bad)?;
            value |= nibble as u16;
            mask |= 0xF;
        }
        Ok(Self { value, mask })
    }

    /// Whether the status word `sw` (SW1 << 8 | SW2) matches.
    pub fn matches(&self, sw: u16) -> bool {
        sw & self.mask == self.value
    }

    /// Whether a whole response APDU (data + SW1 SW2) ends with a matching status word; a
    /// response shorter than 2 bytes never matches.
    pub fn matches_response(&self, response: &[u8]) -> bool {
        match response {
            [.., sw1, sw2] => self.matches(u16::from_be_bytes([*sw1, *sw2])),
            _ => false,
        }
    }
}

impl fmt::Display for SwPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for shift in [12u16, 8, 4, 0] {
            if (self.mask >> shift) & 0xF == 0 {
                f.write_str("X")?;
            } else {
                write!(f, "{:X}", (self.value >> shift) & 0xF)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SwPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SwPattern({self})")
    }
}

impl std::str::FromStr for SwPattern {
    type Err = BadSwPattern;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for SwPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SwPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PatternVisitor;
        impl de::Visitor<'_> for PatternVisitor {
            type Value = SwPattern;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a status-word pattern: 4 hex digits, X for any digit (e.g. 9000, 61XX)",
                )
            }
            // Borrowed when the JSON string has no escapes: no allocation per pattern.
            fn visit_str<E: de::Error>(self, text: &str) -> Result<SwPattern, E> {
                SwPattern::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(PatternVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_shows_the_four_bytes_and_the_length_never_the_data() {
        let command = Command::new(0x00, 0xDA, 0x00, 0x5B).with_data(b"Siobh\xc3\xa1n".to_vec());
        let header = command.header();
        assert_eq!((header.ins, header.p2, header.lc), (0xDA, 0x5B, 8));
        assert_eq!(header.to_string(), "00 DA 00 5B Lc=8");
        assert_eq!(command.header_text(), header.to_string());
    }

    #[test]
    fn encodes_the_four_cases_short_and_extended() {
        // Case 1.
        assert_eq!(
            Command::new(0, 0x44, 0, 0).to_bytes().expose(),
            [0, 0x44, 0, 0]
        );
        // Case 2 short, Le 256 is 00.
        let c = Command::new(0, 0xB0, 0, 0).with_le(256);
        assert_eq!(c.to_bytes().expose(), [0, 0xB0, 0, 0, 0]);
        // Case 3 short.
        let c = Command::new(0, 0xD6, 0, 2).with_data(vec![1, 2]);
        assert_eq!(c.to_bytes().expose(), [0, 0xD6, 0, 2, 2, 1, 2]);
        // Case 4 short.
        let c = Command::new(0, 0xA4, 4, 4)
            .with_data(vec![0xAA])
            .with_le(256);
        assert_eq!(c.to_bytes().expose(), [0, 0xA4, 4, 4, 1, 0xAA, 0]);
        // Case 3 extended.
        let c = Command::new(0, 0xD6, 0, 0).with_data(vec![7; 300]);
        let bytes = c.to_bytes();
        assert_eq!(&bytes.expose()[..7], [0, 0xD6, 0, 0, 0, 0x01, 0x2C]);
        assert_eq!(bytes.len(), 7 + 300);
        // Case 2 extended.
        let c = Command::new(0, 0xB0, 0, 0).with_le(1000);
        assert_eq!(c.to_bytes().expose(), [0, 0xB0, 0, 0, 0, 0x03, 0xE8]);
    }

    #[test]
    fn sensitive_data_is_redacted_in_debug() {
        let c =
            Command::new(0, 0x20, 0, 0x81).with_sensitive_data(SecretBytes::from_slice(b"123456"));
        let text = format!("{c:?}");
        assert!(text.contains("<sensitive>"), "{text}");
        assert!(!text.contains("313233"), "{text}");
        let r = Response::parse(&[0x31, 0x32, 0x90, 0x00]).unwrap();
        assert!(!format!("{r:?}").contains("3132"));
    }

    #[test]
    fn status_words_and_patterns() {
        assert_eq!(
            StatusWord(0x63C2).status(),
            Status::VerificationFailed { tries_left: 2 }
        );
        assert_eq!(StatusWord(0x6110).status(), Status::MoreData(0x10));
        assert_eq!(StatusWord(0x6F00).status(), Status::Other(0x6F00));
        let p = SwPattern::parse("61XX").unwrap();
        assert!(p.matches(0x6105));
        assert!(!p.matches(0x6205));
        assert_eq!(p.to_string(), "61XX");
        assert!(SwPattern::parse("9G00").is_err());
        assert!(SwPattern::parse("900").is_err());
        // Four bytes but not four ASCII characters.
        assert!(SwPattern::parse("9é0").is_err());
        assert!(SwPattern::parse("ÄÄ").is_err());
        assert!(Response::parse(&[0x90]).is_err());
    }
}
