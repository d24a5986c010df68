//! ZIP archives of VSC batches: [`write()`] makes the batch download (entries stored, since
//! sealed VSCs are ciphertext and would not shrink), [`read`] takes one back, as the page made
//! it or as a person zipped it (stored or deflated entries). A deflated entry comes back
//! still compressed, with the size and CRC it must have ([`Entry::deflated`]): the page
//! inflates it with the browser's own `DecompressionStream("deflate-raw")` and checks it with
//! [`check_inflated`], so no inflater is compiled into the WebAssembly.
//!
//! Layout per the PKWARE APPNOTE 6.3.10: for each entry a local file header (§4.3.7) and the
//! data, then one central directory header per entry (§4.3.12), then the end of central
//! directory record (§4.3.16). Names are written as UTF-8 (general purpose flag bit 11,
//! §4.4.4). The archive structure is a few dozen lines here, where the `zip` crate would bring
//! encryption, ZIP64 and every compression method into the page's WebAssembly, which has a
//! size budget (docs/benchmarks.md). For the same reason the CRC-32 is computed here with a
//! 1 KiB table rather than by `crc32fast`, whose slicing-by-16 table alone is 16 KiB of
//! WebAssembly data.
//!
//! What it does not do: ZIP64 (a batch is far below 65,535 entries and 4 GiB: larger input is
//! refused), encryption, compression methods other than stored and deflate, or archives split
//! over several files.

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
#[non_exhaustive]
pub enum ZipError {
    /// More entries or bytes than a ZIP without ZIP64 can hold.
    #[error("the batch is too large for one ZIP file ({0}); build it in smaller batches")]
    TooLarge(&'static str),
    /// Two entries with the same name.
    #[error("two files in the batch are both named {0}")]
    DuplicateName(String),
    /// The bytes are not a ZIP archive this module reads.
    #[error("it is not a ZIP archive this page can read ({0})")]
    NotZip(&'static str),
    /// An entry cannot be extracted.
    #[error("the file {name} inside the ZIP cannot be read ({reason}); extract it with your archive program and load it on its own")]
    BadEntry {
        /// The entry's name.
        name: String,
        /// Why.
        reason: &'static str,
    },
}

/// Signature of an entry's data descriptor is not needed: sizes and CRC are taken from the
/// central directory, which every writer fills in.
///
/// General purpose flag bit 0: the entry is encrypted (APPNOTE §4.4.4).
const FLAG_ENCRYPTED: u16 = 1;
/// Compression method 8: deflate (APPNOTE §4.4.5).
const METHOD_DEFLATE: u16 = 8;
/// Size of the end of central directory record without its comment (APPNOTE §4.3.16).
const END_RECORD_LEN: usize = 22;
/// Size of a central directory header without its variable fields (APPNOTE §4.3.12).
const CENTRAL_HEADER_LEN: usize = 46;
/// Size of a local file header without its variable fields (APPNOTE §4.3.7).
const LOCAL_HEADER_LEN: usize = 30;

/// One file of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name (path) inside the archive.
    pub name: String,
    /// Its content, checked against its CRC; or, when [`Entry::deflated`] is set, its raw
    /// deflate stream (RFC 1951), still to be inflated and checked.
    pub data: Vec<u8>,
    /// For a deflated entry: what the inflated content must be.
    pub deflated: Option<Inflated>,
}

/// The size and CRC-32 a deflated entry's content must have once inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inflated {
    /// Its length in bytes.
    pub size: usize,
    /// Its CRC-32.
    pub crc: u32,
}

/// Checks inflated content against what its archive says of it.
pub fn check_inflated(expected: Inflated, data: &[u8]) -> bool {
    data.len() == expected.size && crc32(data) == expected.crc
}

/// Reads every file of an archive (directories are skipped), in central directory order; no
/// entry may extract to more than `max_entry` bytes.
pub fn read(bytes: &[u8], max_entry: usize) -> Result<Vec<Entry>, ZipError> {
    let le16 = |at: usize| -> Option<u16> {
        Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
    };
    let le32 = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let as_usize = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
    // The end record is the last thing in the file, followed only by its comment (< 64 KiB).
    let lowest = bytes
        .len()
        .saturating_sub(END_RECORD_LEN + usize::from(u16::MAX));
    let end = (lowest..=bytes.len().saturating_sub(END_RECORD_LEN))
        .rev()
        .find(|&at| le32(at) == Some(END_OF_CENTRAL_DIRECTORY))
        .ok_or(ZipError::NotZip("no end of central directory record"))?;
    let count = le16(end + 10).ok_or(ZipError::NotZip("truncated"))?;
    let directory = le32(end + 16).ok_or(ZipError::NotZip("truncated"))?;
    if count == u16::MAX || directory == u32::MAX {
        return Err(ZipError::NotZip("ZIP64 archives are not supported"));
    }
    let mut at = as_usize(directory);
    let mut entries = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let field = |offset: usize| le16(at + offset).ok_or(ZipError::NotZip("truncated"));
        let field32 = |offset: usize| le32(at + offset).ok_or(ZipError::NotZip("truncated"));
        if field32(0)? != CENTRAL_HEADER {
            return Err(ZipError::NotZip("damaged central directory"));
        }
        let (flags, method) = (field(8)?, field(10)?);
        let (crc, compressed, size) = (field32(16)?, field32(20)?, field32(24)?);
        let (name_len, extra_len, comment_len) = (field(28)?, field(30)?, field(32)?);
        let local = as_usize(field32(42)?);
        let name_start = at + CENTRAL_HEADER_LEN;
        let name = bytes
            .get(name_start..name_start + usize::from(name_len))
            .ok_or(ZipError::NotZip("truncated"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        at = name_start + usize::from(name_len) + usize::from(extra_len) + usize::from(comment_len);
        if name.ends_with('/') {
            continue;
        }
        let bad = |reason| ZipError::BadEntry {
            name: name.clone(),
            reason,
        };
        if flags & FLAG_ENCRYPTED != 0 {
            return Err(bad("it is encrypted"));
        }
        if as_usize(size) > max_entry {
            return Err(bad("it is larger than any VSC"));
        }
        let local_name = le16(local + 26).ok_or_else(|| bad("truncated"))?;
        let local_extra = le16(local + 28).ok_or_else(|| bad("truncated"))?;
        if le32(local) != Some(LOCAL_HEADER) {
            return Err(bad("damaged local header"));
        }
        let start = local + LOCAL_HEADER_LEN + usize::from(local_name) + usize::from(local_extra);
        let stored = bytes
            .get(start..start.saturating_add(as_usize(compressed)))
            .ok_or_else(|| bad("truncated"))?;
        let expected = Inflated {
            size: as_usize(size),
            crc,
        };
        let deflated = match method {
            METHOD_STORED if check_inflated(expected, stored) => None,
            METHOD_STORED => {
                return Err(bad("its checksum does not match: the archive is damaged"))
            }
            METHOD_DEFLATE => Some(expected),
            _ => {
                return Err(bad(
                    "it uses a compression method other than stored or deflate",
                ))
            }
        };
        entries.push(Entry {
            name,
            data: stored.to_vec(),
            deflated,
        });
    }
    Ok(entries)
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
///
/// Written here rather than taken from `crc32fast` for the wasm size budget: its 16 KiB
/// slice-by-16 table made the page's module 16.7 KB larger gzipped (2026-12-01), for a
/// checksum over a few kilobytes of VSC files.
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
        // The standard check value of CRC-32/ISO-HDLC, the CRC of APPNOTE §4.4.7.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn what_is_written_reads_back() {
        let a: &[u8] = b"first";
        let b: &[u8] = &[0u8, 1, 2, 255];
        let zip = write(&[("a.vsc".into(), a), ("é.vsc".into(), b)]).unwrap();
        let entries = read(&zip, 1 << 20).unwrap();
        assert_eq!(
            entries,
            [
                Entry {
                    name: "a.vsc".into(),
                    data: a.to_vec(),
                    deflated: None,
                },
                Entry {
                    name: "é.vsc".into(),
                    data: b.to_vec(),
                    deflated: None,
                },
            ]
        );
    }

    #[test]
    fn deflated_entries_and_directories_are_read() {
        let data = b"a VSC that compresses: ".repeat(40);
        let deflated = miniz_oxide::deflate::compress_to_vec(&data, 6);
        let mut zip = write(&[("dir/".into(), &[][..]), ("x.vsc".into(), &deflated[..])]).unwrap();
        // Turn the second entry into a deflated one of the original size, as an archive tool
        // writes it: method 8 and the uncompressed size and CRC, in both headers.
        let second_local = LOCAL_HEADER_LEN + "dir/".len();
        let end = zip.len() - END_RECORD_LEN;
        let directory = u32::from_le_bytes(zip[end + 16..end + 20].try_into().unwrap()) as usize;
        let second_central = directory + CENTRAL_HEADER_LEN + "dir/".len();
        for (header, method_at, crc_at, size_at) in
            [(second_local, 8, 14, 22), (second_central, 10, 16, 24)]
        {
            zip[header + method_at..header + method_at + 2]
                .copy_from_slice(&METHOD_DEFLATE.to_le_bytes());
            zip[header + crc_at..header + crc_at + 4].copy_from_slice(&crc32(&data).to_le_bytes());
            zip[header + size_at..header + size_at + 4]
                .copy_from_slice(&(data.len() as u32).to_le_bytes());
        }
        let entries = read(&zip, 1 << 20).unwrap();
        assert_eq!(entries.len(), 1, "the directory is skipped");
        let expected = entries[0].deflated.expect("deflated");
        let inflated = miniz_oxide::inflate::decompress_to_vec(&entries[0].data).unwrap();
        assert!(check_inflated(expected, &inflated));
        assert_eq!(inflated, data);
        assert!(!check_inflated(expected, &inflated[1..]));
        assert!(
            matches!(read(&zip, 100), Err(ZipError::BadEntry { .. })),
            "over the limit"
        );
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let zip = write(&[("a.vsc".into(), &b"first"[..])]).unwrap();
        assert!(matches!(read(b"not a zip", 10), Err(ZipError::NotZip(_))));
        for cut in 0..zip.len() {
            let _ = read(&zip[..cut], 1 << 20);
        }
        for at in 0..zip.len() {
            let mut damaged = zip.clone();
            damaged[at] ^= 0x5A;
            let _ = read(&damaged, 1 << 20);
        }
        let mut flipped = zip.clone();
        flipped[LOCAL_HEADER_LEN + "a.vsc".len()] ^= 1;
        assert!(matches!(
            read(&flipped, 1 << 20),
            Err(ZipError::BadEntry { .. })
        ));
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
