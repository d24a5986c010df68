//! Turning the bytes of a holder file into text, without ever guessing.
//!
//! Holder files are UTF-8 (with or without a byte order mark). Anything else is refused with a
//! message that says how to export UTF-8 from Excel and LibreOffice, unless the clerk names the
//! file's encoding explicitly: then the bytes are decoded as that encoding. A file that is valid
//! UTF-8 with non-ASCII text is never decoded as another encoding (that would turn `é` into
//! `Ã©` on the card), and a byte the named encoding does not define is refused, never replaced.
//!
//! The encodings offered besides UTF-8 are what spreadsheets on Western European systems write
//! when asked for plain "CSV": Windows-1252 (Excel on Windows; ISO-8859-1 files read the same
//! for every printable character, as browsers treat them) and ISO-8859-15 (Latin-9). The
//! tables are the code charts of those standards, written here rather than taken from
//! `encoding_rs`: decoding by label there links every decoder's tables (the CJK ones run to
//! hundreds of kilobytes), which the page's WebAssembly size budget cannot afford.
//!
//! What this module does not do: UTF-16 (refused with advice), detection of other encodings.

use std::fmt;

use zeroize::Zeroizing;

/// A text encoding a holder file may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TextEncoding {
    /// UTF-8, the default; a leading byte order mark is skipped.
    #[default]
    Utf8,
    /// Windows-1252 ("ANSI" on Western European Windows; also read for ISO-8859-1 files).
    Windows1252,
    /// ISO-8859-15 (Latin-9).
    Iso8859_15,
}

impl TextEncoding {
    /// Every encoding, the default first.
    pub const ALL: [TextEncoding; 3] = [
        TextEncoding::Utf8,
        TextEncoding::Windows1252,
        TextEncoding::Iso8859_15,
    ];

    /// The encoding's label, as `--encoding` and the page take it (`windows-1252`).
    pub fn label(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Windows1252 => "windows-1252",
            TextEncoding::Iso8859_15 => "iso-8859-15",
        }
    }

    /// A name for people, saying where such files come from.
    pub fn description(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Windows1252 => {
                "Windows-1252 (Excel's \"CSV (Comma delimited)\" on Windows; also ISO-8859-1)"
            }
            TextEncoding::Iso8859_15 => "ISO-8859-15 (Latin-9)",
        }
    }

    /// The encoding a label names (case-insensitive; common aliases such as `cp1252`,
    /// `latin1` and `latin9` included), or `None`.
    pub fn from_label(label: &str) -> Option<TextEncoding> {
        let label = label.trim().to_ascii_lowercase();
        Some(match label.as_str() {
            "utf-8" | "utf8" => TextEncoding::Utf8,
            "windows-1252" | "cp1252" | "iso-8859-1" | "latin1" | "latin-1" => {
                TextEncoding::Windows1252
            }
            "iso-8859-15" | "latin9" | "latin-9" => TextEncoding::Iso8859_15,
            _ => return None,
        })
    }

    /// The labels accepted by [`TextEncoding::from_label`], for messages.
    pub fn labels() -> String {
        TextEncoding::ALL
            .iter()
            .map(|e| e.label())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why the bytes of a file are not text in the expected encoding. Nothing was read from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file is not UTF-8 (and no other encoding was named).
    #[error("the file is not UTF-8 text: line {line} has the byte 0x{byte:02X}, which UTF-8 does not allow there. It was probably saved as Windows-1252, Excel's \"CSV (Comma delimited)\". Save it as UTF-8 and load it again: in Excel, File > Save As > \"CSV UTF-8 (Comma delimited) (*.csv)\"; in LibreOffice Calc, File > Save As > \"Text CSV (.csv)\", tick \"Edit filter settings\" and choose the character set \"Unicode (UTF-8)\". Or, if you know the file's encoding, name it explicitly ({labels})", labels = TextEncoding::labels())]
    NotUtf8 {
        /// The line (from 1) of the first byte that is not UTF-8.
        line: usize,
        /// That byte.
        byte: u8,
    },
    /// The file starts with a UTF-16 byte order mark.
    #[error("the file is UTF-16 text (Excel's \"Unicode Text\"), which holder files cannot be. Save it as UTF-8 CSV: in Excel, File > Save As > \"CSV UTF-8 (Comma delimited) (*.csv)\"; in LibreOffice Calc, File > Save As > \"Text CSV (.csv)\" with the character set \"Unicode (UTF-8)\"")]
    Utf16,
    /// Another encoding was named, but the file is UTF-8 with non-ASCII text: decoding it
    /// as the named encoding would garble every accented letter.
    #[error("the file is UTF-8 text (line {line} has a UTF-8 encoded non-ASCII character), not {named}: load it as UTF-8, the default")]
    IsUtf8 {
        /// The encoding that was named.
        named: TextEncoding,
        /// The first line with a non-ASCII character.
        line: usize,
    },
    /// A byte that the named encoding does not define.
    #[error("line {line} has the byte 0x{byte:02X}, which is not a character in {named}: the file is in another encoding; save it as UTF-8 and load it again")]
    Undefined {
        /// The encoding that was named.
        named: TextEncoding,
        /// The line (from 1) of that byte.
        line: usize,
        /// That byte.
        byte: u8,
    },
}

/// Decodes a file's bytes as `encoding`. The text is zeroized on drop (it holds private
/// holder data); a UTF-8 byte order mark is left out.
pub fn decode(bytes: &[u8], encoding: TextEncoding) -> Result<Zeroizing<String>, DecodeError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(DecodeError::Utf16);
    }
    let line_at = |offset: usize| bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
    let utf8 = std::str::from_utf8(bytes);
    match encoding {
        TextEncoding::Utf8 => match utf8 {
            Ok(text) => {
                let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
                Ok(Zeroizing::new(text.to_owned()))
            }
            Err(error) => {
                let at = error.valid_up_to();
                Err(DecodeError::NotUtf8 {
                    line: line_at(at),
                    byte: bytes[at],
                })
            }
        },
        single_byte => {
            if let Ok(text) = utf8 {
                if let Some(at) = text.bytes().position(|b| !b.is_ascii()) {
                    return Err(DecodeError::IsUtf8 {
                        named: single_byte,
                        line: line_at(at),
                    });
                }
            }
            // Sized for the worst case (3 UTF-8 bytes per input byte), so the buffer holding
            // private data never reallocates and leaves a copy behind.
            let mut text = Zeroizing::new(String::with_capacity(bytes.len() * 3));
            for (at, &byte) in bytes.iter().enumerate() {
                match decode_byte(single_byte, byte) {
                    Some(c) => text.push(c),
                    None => {
                        return Err(DecodeError::Undefined {
                            named: single_byte,
                            line: line_at(at),
                            byte,
                        })
                    }
                }
            }
            Ok(text)
        }
    }
}

/// One byte of a single-byte encoding, or `None` where the encoding defines no character.
fn decode_byte(encoding: TextEncoding, byte: u8) -> Option<char> {
    match (encoding, byte) {
        (_, 0x00..=0x7F) => Some(char::from(byte)),
        (TextEncoding::Windows1252, 0x80..=0x9F) => WINDOWS_1252_80_9F[usize::from(byte - 0x80)],
        (TextEncoding::Iso8859_15, _) => Some(match byte {
            0xA4 => '\u{20AC}',
            0xA6 => '\u{0160}',
            0xA8 => '\u{0161}',
            0xB4 => '\u{017D}',
            0xB8 => '\u{017E}',
            0xBC => '\u{0152}',
            0xBD => '\u{0153}',
            0xBE => '\u{0178}',
            // The C1 controls 0x80-0x9F decode as themselves; holder validation refuses them.
            other => char::from(other),
        }),
        // Windows-1252 0xA0-0xFF is ISO-8859-1, which is Unicode's first 256 code points.
        (_, other) => Some(char::from(other)),
    }
}

/// Windows-1252's 0x80-0x9F (Microsoft's code page chart; 0x81, 0x8D, 0x8F, 0x90 and 0x9D
/// are undefined).
const WINDOWS_1252_80_9F: [Option<char>; 32] = [
    Some('\u{20AC}'), // 80 euro sign
    None,             // 81
    Some('\u{201A}'), // 82 single low-9 quotation mark
    Some('\u{0192}'), // 83 f with hook
    Some('\u{201E}'), // 84 double low-9 quotation mark
    Some('\u{2026}'), // 85 horizontal ellipsis
    Some('\u{2020}'), // 86 dagger
    Some('\u{2021}'), // 87 double dagger
    Some('\u{02C6}'), // 88 modifier circumflex
    Some('\u{2030}'), // 89 per mille sign
    Some('\u{0160}'), // 8A S with caron
    Some('\u{2039}'), // 8B single left-pointing angle quotation mark
    Some('\u{0152}'), // 8C ligature OE
    None,             // 8D
    Some('\u{017D}'), // 8E Z with caron
    None,             // 8F
    None,             // 90
    Some('\u{2018}'), // 91 left single quotation mark
    Some('\u{2019}'), // 92 right single quotation mark
    Some('\u{201C}'), // 93 left double quotation mark
    Some('\u{201D}'), // 94 right double quotation mark
    Some('\u{2022}'), // 95 bullet
    Some('\u{2013}'), // 96 en dash
    Some('\u{2014}'), // 97 em dash
    Some('\u{02DC}'), // 98 small tilde
    Some('\u{2122}'), // 99 trade mark sign
    Some('\u{0161}'), // 9A s with caron
    Some('\u{203A}'), // 9B single right-pointing angle quotation mark
    Some('\u{0153}'), // 9C ligature oe
    None,             // 9D
    Some('\u{017E}'), // 9E z with caron
    Some('\u{0178}'), // 9F Y with diaeresis
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_or_without_bom_is_read_as_is() {
        let text = "holder_name\nJosé Álvarez\n";
        assert_eq!(*decode(text.as_bytes(), TextEncoding::Utf8).unwrap(), text);
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        assert_eq!(*decode(&with_bom, TextEncoding::Utf8).unwrap(), text);
    }

    #[test]
    fn windows_1252_is_refused_unless_named() {
        // "Siobhán" and "José Álvarez" as Excel writes them on Windows.
        let bytes = b"holder_name\nSiobh\xE1n\nJos\xE9 \xC1lvarez \x80\x92\n";
        let error = decode(bytes, TextEncoding::Utf8).unwrap_err();
        assert_eq!(
            error,
            DecodeError::NotUtf8 {
                line: 2,
                byte: 0xE1
            }
        );
        let message = error.to_string();
        assert!(message.contains("CSV UTF-8 (Comma delimited)"), "{message}");
        assert!(message.contains("Unicode (UTF-8)"), "{message}");
        assert!(message.contains("windows-1252"), "{message}");
        assert_eq!(
            *decode(bytes, TextEncoding::Windows1252).unwrap(),
            "holder_name\nSiobhán\nJosé Álvarez €\u{2019}\n"
        );
    }

    #[test]
    fn latin9_has_its_own_letters() {
        assert_eq!(
            *decode(b"\xA4\xA6\xBD\xE9", TextEncoding::Iso8859_15).unwrap(),
            "€Šœé"
        );
        assert_eq!(
            *decode(b"\xA4\xE9", TextEncoding::Windows1252).unwrap(),
            "¤é"
        );
    }

    #[test]
    fn utf8_text_is_never_decoded_as_another_encoding() {
        let error = decode("a\nJosé\n".as_bytes(), TextEncoding::Windows1252).unwrap_err();
        assert_eq!(
            error,
            DecodeError::IsUtf8 {
                named: TextEncoding::Windows1252,
                line: 2
            }
        );
        // Plain ASCII is the same in every encoding offered.
        assert_eq!(
            *decode(b"plain", TextEncoding::Iso8859_15).unwrap(),
            "plain"
        );
    }

    #[test]
    fn undefined_bytes_and_utf16_are_refused() {
        assert_eq!(
            decode(b"ok\n\x81", TextEncoding::Windows1252).unwrap_err(),
            DecodeError::Undefined {
                named: TextEncoding::Windows1252,
                line: 2,
                byte: 0x81
            }
        );
        assert_eq!(
            decode(b"\xFF\xFEh\x00", TextEncoding::Utf8).unwrap_err(),
            DecodeError::Utf16
        );
    }

    #[test]
    fn labels_round_trip_and_aliases_are_accepted() {
        for encoding in TextEncoding::ALL {
            assert_eq!(TextEncoding::from_label(encoding.label()), Some(encoding));
        }
        assert_eq!(
            TextEncoding::from_label(" CP1252 "),
            Some(TextEncoding::Windows1252)
        );
        assert_eq!(
            TextEncoding::from_label("latin1"),
            Some(TextEncoding::Windows1252)
        );
        assert_eq!(TextEncoding::from_label("shift_jis"), None);
    }
}
