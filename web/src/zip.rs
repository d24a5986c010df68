//! A minimal ZIP writer for batch downloads: entries are stored (no compression), since sealed
//! VSCs are ciphertext and would not shrink.
//!
//! Layout per the PKWARE APPNOTE 6.3.10: for each entry a local file header (§4.3.7) and the
//! data, then one central directory header per entry (§4.3.12), then the end of central
//! directory record (§4.3.16). Names are UTF-8 (general purpose flag bit 11, §4.4.4).
//!
//! What it does not do: compression, ZIP64 (a batch is far below 65,535 entries and 4 GiB:
//! larger input is refused), encryption, or reading archives.

/// Signature of a local file header (APPNOTE §4.3.7).
const LOCAL_HEADER: u32 = 0x0403_4b50;
/// Signature of a central directory file header (APPNOTE §4.3.12).
const CENTRAL_HEADER: u32 = 0x0201_4b50;
/// Signature of the end of central directory record (APPNOTE §4.3.16).
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
/// "Version needed to extract": 1.0, stored entries (APPNOTE §4.4.3).
const VERSION_NEEDED: u16 = 10;
/// "Version made by": 3.0 on MS-DOS (upper byte 0), the usual value of simple writers.
const VERSION_MADE_BY: u16 = 30;
/// General purpose flag bit 11: names and comments are UTF-8 (APPNOTE §4.4.4).
const FLAG_UTF8: u16 = 1 << 11;
/// Compression method 0: stored (APPNOTE §4.4.5).
const METHOD_STORED: u16 = 0;
/// MS-DOS date 1980-01-01 (the earliest a ZIP can say), time 00:00.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;

/// Why an archive could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    /// More entries or bytes than a ZIP without ZIP64 can hold.
    #[error("the batch is too large for one ZIP file ({0}); build it in smaller batches")]
    TooLarge(&'static str),
    /// Two entries with the same name.
    #[error("two files in the batch are both named {0}")]
    DuplicateName(String),
}

/// Builds a ZIP archive of `(name, content)` entries, stored, in the given order.
pub fn write(entries: &[(String, &[u8])]) -> Result<Vec<u8>, ZipError> {
    if entries.len() > usize::from(u16::MAX) {
        return Err(ZipError::TooLarge("more than 65,535 files"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (name, _) in entries {
        if name.len() > usize::from(u16::MAX) {
            return Err(ZipError::TooLarge("a file name longer than 65,535 bytes"));
        }
        if !seen.insert(name.as_str()) {
            return Err(ZipError::DuplicateName(name.clone()));
        }
    }
    let too_large = || ZipError::TooLarge("more than 4 GiB");
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = u32::try_from(out.len()).map_err(|_| too_large())?;
        let size = u32::try_from(data.len()).map_err(|_| too_large())?;
        let crc = crc32(data);
        let name_len = name.len() as u16;

        put32(&mut out, LOCAL_HEADER);
        put16(&mut out, VERSION_NEEDED);
        put16(&mut out, FLAG_UTF8);
        put16(&mut out, METHOD_STORED);
        put16(&mut out, DOS_TIME);
        put16(&mut out, DOS_DATE);
        put32(&mut out, crc);
        put32(&mut out, size); // compressed size
        put32(&mut out, size); // uncompressed size
        put16(&mut out, name_len);
        put16(&mut out, 0); // extra field length
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        put32(&mut central, CENTRAL_HEADER);
        put16(&mut central, VERSION_MADE_BY);
        put16(&mut central, VERSION_NEEDED);
        put16(&mut central, FLAG_UTF8);
        put16(&mut central, METHOD_STORED);
        put16(&mut central, DOS_TIME);
        put16(&mut central, DOS_DATE);
        put32(&mut central, crc);
        put32(&mut central, size);
        put32(&mut central, size);
        put16(&mut central, name_len);
        put16(&mut central, 0); // extra field length
        put16(&mut central, 0); // comment length
        put16(&mut central, 0); // disk number start
        put16(&mut central, 0); // internal attributes
        put32(&mut central, 0); // external attributes
        put32(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let directory_offset = u32::try_from(out.len()).map_err(|_| too_large())?;
    let directory_size = u32::try_from(central.len()).map_err(|_| too_large())?;
    out.extend_from_slice(&central);
    let count = entries.len() as u16;
    put32(&mut out, END_OF_CENTRAL_DIRECTORY);
    put16(&mut out, 0); // this disk
    put16(&mut out, 0); // disk with the central directory
    put16(&mut out, count); // entries on this disk
    put16(&mut out, count); // entries in all
    put32(&mut out, directory_size);
    put32(&mut out, directory_offset);
    put16(&mut out, 0); // comment length
    u32::try_from(out.len()).map_err(|_| too_large())?;
    Ok(out)
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// CRC-32 as ZIP uses it (APPNOTE §4.4.7: polynomial 0x04C11DB7, reflected as 0xEDB88320,
/// initial value and final XOR 0xFFFFFFFF).
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = crc_table();
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn archive_structure_is_consistent() {
        let a: &[u8] = b"first";
        let b: &[u8] = &[0u8, 1, 2, 255];
        let zip = write(&[("a.vsc".into(), a), ("é.vsc".into(), b)]).unwrap();
        let le32 = |at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().unwrap());
        let le16 = |at: usize| u16::from_le_bytes(zip[at..at + 2].try_into().unwrap());
        assert_eq!(le32(0), LOCAL_HEADER);
        let end = zip.len() - 22;
        assert_eq!(le32(end), END_OF_CENTRAL_DIRECTORY);
        assert_eq!(le16(end + 10), 2);
        let dir_offset = le32(end + 16) as usize;
        assert_eq!(le32(dir_offset), CENTRAL_HEADER);
        // The second central header points at the second local header, whose data follows.
        let second_central = dir_offset + 46 + "a.vsc".len();
        assert_eq!(le32(second_central), CENTRAL_HEADER);
        let second_local = le32(second_central + 42) as usize;
        assert_eq!(le32(second_local), LOCAL_HEADER);
        assert_eq!(le32(second_local + 14), crc32(b));
        let name_len = le16(second_local + 26) as usize;
        assert_eq!(
            &zip[second_local + 30..second_local + 30 + name_len],
            "é.vsc".as_bytes()
        );
        let data_at = second_local + 30 + name_len;
        assert_eq!(&zip[data_at..data_at + 4], b);
    }

    #[test]
    fn duplicate_names_are_refused() {
        let data: &[u8] = b"x";
        let error = write(&[("a".into(), data), ("a".into(), data)]).unwrap_err();
        assert_eq!(error, ZipError::DuplicateName("a".into()));
    }
}
