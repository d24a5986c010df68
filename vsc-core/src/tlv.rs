//! BER-TLV data objects in zeroizing buffers (ISO/IEC 7816-4 §6.3).
//!
//! Structured TLV (the FCP templates of [`crate::agent`]) is built with the `iso7816-tlv`
//! crate. The areas of a VSC hold secrets, and that crate copies values into plain `Vec`s that
//! are never wiped; so area contents are written and walked here, in place, over buffers that
//! are zeroized. Tags are checked with `iso7816-tlv`'s `Tag`.

use crate::secret::SecretBytes;

/// Why bytes are not a sequence of BER-TLV data objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlvError {
    /// The bytes end inside a tag, a length or a value.
    #[error("a data object is cut short at byte {offset}")]
    Truncated {
        /// Where the object starts.
        offset: usize,
    },
    /// A length field longer than 3 bytes or in indefinite form.
    #[error("a data object at byte {offset} has an unsupported length field")]
    BadLength {
        /// Where the object starts.
        offset: usize,
    },
    /// Tag bytes that are not a valid BER tag.
    #[error("invalid BER-TLV tag {tag}")]
    BadTag {
        /// The tag in hex.
        tag: String,
    },
}

/// Checks that `tag` is one complete, valid BER-TLV tag.
pub fn check_tag(tag: &[u8]) -> Result<(), TlvError> {
    let bad = || TlvError::BadTag {
        tag: hex::encode_upper(tag),
    };
    if tag.is_empty() || tag.len() > 3 {
        return Err(bad());
    }
    let value = tag.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let parsed = iso7816_tlv::ber::Tag::try_from(value).map_err(|_| bad())?;
    if parsed.to_bytes() != tag {
        return Err(bad());
    }
    Ok(())
}

/// Size of one encoded data object with a value of `value_len` bytes.
pub fn encoded_len(tag: &[u8], value_len: usize) -> usize {
    tag.len() + length_field_len(value_len) + value_len
}

fn length_field_len(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        _ => 3,
    }
}

/// Appends one primitive data object. The caller sized `out` (see [`encoded_len`]) so a
/// secret never moves to a reallocated buffer that is not wiped.
pub fn put(out: &mut Vec<u8>, tag: &[u8], value: &[u8]) {
    put_header(out, tag, value.len());
    out.extend_from_slice(value);
}

/// Appends a tag and a definite length field (ISO 7816-4 §6.3: one byte below 128, `81 xx`
/// below 256, `82 xx xx` below 65,536), without a value: a data object's header, or an entry
/// of a template of lengths (§8.5.2).
pub fn put_header(out: &mut Vec<u8>, tag: &[u8], len: usize) {
    debug_assert!(len <= 0xFFFF);
    out.extend_from_slice(tag);
    match len {
        n @ 0..=0x7F => out.push(n as u8),
        n @ 0x80..=0xFF => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
}

/// The value of the first data object tagged `tag` in `bytes`, searching inside constructed
/// objects (tag bit 6 set) too: for card answers such as an OpenPGP card's application
/// related data. `None` when absent or when the bytes are not BER-TLV.
pub fn find<'a>(bytes: &'a [u8], tag: &[u8]) -> Option<&'a [u8]> {
    for (found, value) in walk(bytes).ok()? {
        if found == tag {
            return Some(value);
        }
        if found[0] & 0x20 != 0 {
            if let Some(inner) = find(value, tag) {
                return Some(inner);
            }
        }
    }
    None
}

/// Encodes `(tag, value)` pairs into one zeroizing buffer.
pub fn encode_all<'a>(objects: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> SecretBytes {
    let total = objects.clone().map(|(t, v)| encoded_len(t, v.len())).sum();
    let mut out = SecretBytes::new(Vec::with_capacity(total));
    for (tag, value) in objects {
        put(out.expose_mut(), tag, value);
    }
    out
}

/// One data object borrowed from its encoding: `(tag bytes, value)`.
pub type Object<'a> = (&'a [u8], &'a [u8]);

/// Walks a sequence of data objects, borrowing tags and values from `bytes`.
pub fn walk(bytes: &[u8]) -> Result<Vec<Object<'_>>, TlvError> {
    let mut objects = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let truncated = TlvError::Truncated { offset: start };
        // Tag: one byte, or more when the low five bits are all set (ISO 7816-4 §6.3).
        let mut end = at + 1;
        if bytes[at] & 0x1F == 0x1F {
            loop {
                let b = *bytes.get(end).ok_or(truncated.clone())?;
                end += 1;
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        let tag = &bytes[at..end];
        check_tag(tag)?;
        at = end;
        let first = *bytes.get(at).ok_or(truncated.clone())?;
        at += 1;
        let len = match first {
            0..=0x7F => usize::from(first),
            0x81 => {
                let n = *bytes.get(at).ok_or(truncated.clone())?;
                at += 1;
                usize::from(n)
            }
            0x82 => {
                let hi = *bytes.get(at).ok_or(truncated.clone())?;
                let lo = *bytes.get(at + 1).ok_or(truncated.clone())?;
                at += 2;
                usize::from(u16::from_be_bytes([hi, lo]))
            }
            _ => return Err(TlvError::BadLength { offset: start }),
        };
        let value = bytes.get(at..at + len).ok_or(truncated)?;
        at += len;
        objects.push((tag, value));
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_sizes_use_the_shortest_length_field() {
        assert_eq!(encoded_len(&[0xC1], 0), 2);
        assert_eq!(encoded_len(&[0xC1], 127), 129);
        assert_eq!(encoded_len(&[0x5F, 0x20], 128), 132);
        assert_eq!(encoded_len(&[0x5F, 0x20], 256), 261);
    }

    #[test]
    fn round_trip_with_long_lengths() {
        let long = vec![0x41; 300];
        let mid = vec![0x42; 200];
        let objects: Vec<(&[u8], &[u8])> = vec![
            (&[0x5F, 0x20], b"Jo"),
            (&[0x80], &mid),
            (&[0xDF, 0x01], &long),
        ];
        let bytes = encode_all(objects.iter().copied());
        assert_eq!(&bytes.expose()[..5], [0x5F, 0x20, 0x02, b'J', b'o']);
        assert_eq!(&bytes.expose()[5..8], [0x80, 0x81, 200]);
        assert_eq!(walk(bytes.expose()).unwrap(), objects);
        // The crate agrees on the encoding.
        let parsed = iso7816_tlv::ber::Tlv::parse_all(bytes.expose());
        assert_eq!(parsed.len(), 3);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(walk(&[0x5F]).is_err());
        assert!(walk(&[0x80, 0x05, 1]).is_err());
        assert!(walk(&[0x80, 0x84, 0, 0, 0, 1]).is_err());
        assert!(check_tag(&[0x5F, 0x20]).is_ok());
        assert!(check_tag(&[0x5F]).is_err());
        assert!(check_tag(&[0x00]).is_err());
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let _ = walk(&[a, b, a, b]);
            }
        }
    }
}
