//! GnuPG as an independent reader of OpenPGP cards: `gpg --card-status` in a temporary home
//! whose scdaemon uses pcscd, parsed into [`GpgCardStatus`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::scdaemon::{self, CardKey};

/// The DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// A temporary GnuPG home (`GNUPGHOME`) whose scdaemon reads cards through pcscd (not its own
/// CCID driver), shares the reader with other PC/SC clients and looks at one reader only.
///
/// Every call leaves no GnuPG process behind: `gpg-agent` and `scdaemon` are stopped
/// (`gpgconf --kill all`) after each [`GnupgHome::card_status`] and on drop, so the card is
/// free for the next client.
pub struct GnupgHome {
    dir: TempDir,
}

impl GnupgHome {
    /// A home whose scdaemon uses the pcscd reader named `reader` (e.g. "Virtual PCD 00 00").
    pub fn new(reader: &str) -> GnupgHome {
        // tempfile creates the directory with mode 0700, which GnuPG requires.
        let dir = tempfile::Builder::new()
            .prefix("vsc-gnupg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary GnuPG home: {e}"));
        let conf = format!("disable-ccid\npcsc-shared\nreader-port {reader}\n");
        std::fs::write(dir.path().join("scdaemon.conf"), conf)
            .unwrap_or_else(|e| panic!("cannot write scdaemon.conf: {e}"));
        GnupgHome { dir }
    }

    /// The home directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `gpg --card-status --with-colons`, parsed. Panics with gpg's output if it fails.
    pub fn card_status(&self) -> GpgCardStatus {
        let output = Command::new("gpg")
            .arg("--homedir")
            .arg(self.path())
            .args(["--batch", "--no-tty", "--with-colons", "--card-status"])
            .output()
            .unwrap_or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    panic!("gpg not found: run scripts/test, which installs gnupg and scdaemon")
                }
                _ => panic!("cannot run gpg: {e}"),
            });
        self.stop_daemons();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "gpg --card-status failed ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        GpgCardStatus::parse(&stdout).unwrap_or_else(|e| {
            panic!("cannot parse gpg --card-status --with-colons ({e}):\n{stdout}")
        })
    }

    /// Has the card make a signature with its signature key (`PKSIGN OPENPGP.1`) over
    /// `digest`, announced as a SHA-256 hash, through GnuPG's scdaemon; `pin` answers its PIN
    /// inquiry. The signature as the card returned it (Ed25519: R || S; ECDSA: r || s).
    pub fn sign(&self, pin: &str, digest: &[u8; 32]) -> Vec<u8> {
        scdaemon::run(
            &scdaemon_path(),
            self.path(),
            CardKey::Signature,
            pin,
            digest,
        )
    }

    /// Has the card sign `digest` with an ECDSA (e.g. NIST P-256) authentication key
    /// (`PKAUTH OPENPGP.3`, INTERNAL AUTHENTICATE) through scdaemon; `pin` answers its PIN
    /// inquiry. The signature as the card returned it (r || s).
    ///
    /// scdaemon expects a DigestInfo for such a key and strips its 19-byte prefix before the
    /// card sees the data: the digest goes wrapped in the SHA-256 DigestInfo, so the card
    /// receives exactly `digest`.
    pub fn authenticate_ecdsa(&self, pin: &str, digest: &[u8; 32]) -> Vec<u8> {
        let data = [&SHA256_DIGEST_INFO[..], &digest[..]].concat();
        scdaemon::run(
            &scdaemon_path(),
            self.path(),
            CardKey::Authentication,
            pin,
            &data,
        )
    }

    /// Has the card sign `message` with an EdDSA (Ed25519) authentication key through
    /// scdaemon, as [`GnupgHome::authenticate_ecdsa`] does. The signature (R || S).
    ///
    /// scdaemon 2.2 drops the first 15 bytes of the data for such a key (measured: 32 bytes in,
    /// 17 to the card): 15 zero bytes go first, so the card signs exactly `message`.
    pub fn authenticate_eddsa(&self, pin: &str, message: &[u8]) -> Vec<u8> {
        let data = [&[0u8; 15][..], message].concat();
        scdaemon::run(
            &scdaemon_path(),
            self.path(),
            CardKey::Authentication,
            pin,
            &data,
        )
    }

    /// `gpgconf --kill all` for this home: gpg-agent and the scdaemon it started.
    fn stop_daemons(&self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.path())
            .args(["--kill", "all"])
            .output();
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        self.stop_daemons();
    }
}

/// Where scdaemon is installed (`/usr/lib/gnupg/scdaemon` on Debian), as gpgconf says.
fn scdaemon_path() -> PathBuf {
    let output = Command::new("gpgconf")
        .arg("--list-components")
        .output()
        .unwrap_or_else(|e| panic!("cannot run gpgconf (install gnupg): {e}"));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            (fields.next() == Some("scdaemon"))
                .then(|| fields.nth(1).map(PathBuf::from))
                .flatten()
        })
        .unwrap_or_else(|| panic!("gpgconf lists no scdaemon: install scdaemon"))
}

/// What `gpg --card-status --with-colons` shows of an OpenPGP card. Text fields are unescaped
/// (`\x3a` is `:`); a field the card does not have is empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GpgCardStatus {
    /// The reader's name.
    pub reader: String,
    /// The application identifier, 32 hex digits.
    pub aid: String,
    /// The specification version, e.g. "0304".
    pub version: String,
    /// The serial number, 8 hex digits.
    pub serial: String,
    /// The given name: the part of the cardholder name (DO 5B) after `<<`, `<` shown as space.
    pub given_name: String,
    /// The surname: the part of the cardholder name before `<<`.
    pub surname: String,
    /// Language preferences (DO 5F2D), e.g. "ende".
    pub language: String,
    /// Salutation from DO 5F35: "m", "f" or "u" (unknown, not applicable or not set).
    pub sex: String,
    /// URL of the public key (DO 5F50).
    pub url: String,
    /// Login data (DO 5E).
    pub login: String,
    /// Private DOs gpg could read (0101 is 1, 0102 is 2, ...), as text.
    pub private_dos: BTreeMap<u8, String>,
    /// Whether a signature needs PW1 each time (PW status byte 1).
    pub signature_pin_forced: bool,
    /// The OpenPGP algorithm number of each key slot (signature, decryption, authentication):
    /// 1 RSA, 18 ECDH, 19 ECDSA, 22 EdDSA.
    pub key_algorithms: [u8; 3],
    /// Curve name or RSA bits of each key slot, e.g. "Ed25519", "Curve25519", "NIST P-256".
    pub key_attributes: [String; 3],
    /// Retry counters of PW1, the resetting code and PW3.
    pub pin_retries: [u8; 3],
    /// The digital signature counter.
    pub signature_counter: u32,
    /// Fingerprint of each key slot (DO C7-C9), 40 uppercase hex digits; `None` when unset.
    pub fingerprints: [Option<String>; 3],
    /// Generation time of each key slot (DO CE-D0), seconds since 1970; `None` when zero.
    pub creation_times: [Option<u64>; 3],
}

impl GpgCardStatus {
    /// Parses the `--with-colons` lines; an error names the line that does not parse.
    pub fn parse(text: &str) -> Result<GpgCardStatus, String> {
        let mut status = GpgCardStatus::default();
        for line in text.lines() {
            let fields: Vec<String> = line.split(':').map(unescape).collect();
            let field = |i: usize| fields.get(i).cloned().unwrap_or_default();
            let bad = || format!("unexpected line {line:?}");
            match fields[0].as_str() {
                "Reader" => {
                    status.reader = field(1);
                    status.aid = field(3);
                }
                "version" => status.version = field(1),
                "serial" => status.serial = field(1),
                "name" => {
                    status.given_name = field(1);
                    status.surname = field(2);
                }
                "lang" => status.language = field(1),
                "sex" => status.sex = field(1),
                "url" => status.url = field(1),
                "login" => status.login = field(1),
                "forcepin" => status.signature_pin_forced = field(1) == "1",
                "private_do" => {
                    let n = field(1).parse().map_err(|_| bad())?;
                    status.private_dos.insert(n, field(2));
                }
                "keyattr" => {
                    let slot = slot_index(&field(1)).ok_or_else(bad)?;
                    status.key_algorithms[slot] = field(2).parse().map_err(|_| bad())?;
                    status.key_attributes[slot] = field(3);
                }
                "pinretry" => {
                    for (i, retries) in status.pin_retries.iter_mut().enumerate() {
                        *retries = field(i + 1).parse().map_err(|_| bad())?;
                    }
                }
                "sigcount" => status.signature_counter = field(1).parse().map_err(|_| bad())?,
                "fpr" => {
                    for (i, fingerprint) in status.fingerprints.iter_mut().enumerate() {
                        let hex = field(i + 1);
                        *fingerprint = (!hex.is_empty()).then_some(hex);
                    }
                }
                "fprtime" => {
                    for (i, time) in status.creation_times.iter_mut().enumerate() {
                        let seconds: u64 = field(i + 1).parse().map_err(|_| bad())?;
                        *time = (seconds != 0).then_some(seconds);
                    }
                }
                _ => {}
            }
        }
        if status.aid.is_empty() {
            return Err("no Reader line with the card's AID".into());
        }
        Ok(status)
    }
}

/// "1" -> 0 (signature), "2" -> 1 (decryption), "3" -> 2 (authentication).
fn slot_index(field: &str) -> Option<usize> {
    match field {
        "1" => Some(0),
        "2" => Some(1),
        "3" => Some(2),
        _ => None,
    }
}

/// Undoes gpg's colon-listing escapes: `\xHH` is the byte HH, `\\` a backslash.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i..i + 4) {
            Some([b'\\', b'x', hi, lo]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                let hex = [*hi, *lo];
                let text = std::str::from_utf8(&hex).unwrap_or("3f");
                out.push(u8::from_str_radix(text, 16).unwrap_or(b'?'));
                i += 4;
                continue;
            }
            _ => {}
        }
        if bytes.get(i..i + 2) == Some(b"\\\\") {
            out.push(b'\\');
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::GpgCardStatus;

    #[test]
    fn parses_a_personalized_card() {
        let text = "Reader:Virtual PCD 00 00:AID:D2760001240103040000000000000000:openpgp-card:
version:0304:
vendor:0000:test card:
serial:00000000:
name:Jane:Doe:
lang:ende:
sex:f:
url:https\\x3a//example.org/jane.asc:
login:jdoe:
forcepin:1:::
keyattr:1:22:Ed25519:
keyattr:2:18:Curve25519:
keyattr:3:19:NIST P-256:
maxpinlen:127:127:127:
pinretry:3:0:3:
sigcount:1:::
kdf:off:
private_do:2:vsc-uuid-1234:
cafpr::::
fpr:0101010101010101010101010101010101010101::0303030303030303030303030303030303030303:
fprtime:1700000000:0:1700000002:
";
        let status = GpgCardStatus::parse(text).unwrap();
        assert_eq!(status.reader, "Virtual PCD 00 00");
        assert_eq!(status.aid, "D2760001240103040000000000000000");
        assert_eq!(
            (status.given_name.as_str(), status.surname.as_str()),
            ("Jane", "Doe")
        );
        assert_eq!(status.url, "https://example.org/jane.asc");
        assert_eq!(status.private_dos[&2], "vsc-uuid-1234");
        assert_eq!(status.key_algorithms, [22, 18, 19]);
        assert_eq!(status.key_attributes[2], "NIST P-256");
        assert_eq!(status.pin_retries, [3, 0, 3]);
        assert_eq!(status.signature_counter, 1);
        assert!(status.signature_pin_forced);
        assert_eq!(status.fingerprints[1], None);
        assert_eq!(
            status.fingerprints[2].as_deref(),
            Some("0303030303030303030303030303030303030303")
        );
        assert_eq!(
            status.creation_times,
            [Some(1_700_000_000), None, Some(1_700_000_002)]
        );
    }

    #[test]
    fn output_without_a_card_is_an_error() {
        assert!(GpgCardStatus::parse("").is_err());
        assert!(
            GpgCardStatus::parse("Reader:x:AID:D276:openpgp-card:\nsigcount:many:::\n")
                .unwrap_err()
                .contains("sigcount")
        );
    }
}
