//! OpenSC's `openpgp-tool` as an independent reader of OpenPGP cards, parsed into
//! [`OpenpgpToolInfo`].

use std::collections::BTreeMap;
use std::process::Command;

use crate::opensc::parse_dump_line;

/// One key slot as `openpgp-tool --key-info` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenpgpToolKey {
    /// The algorithm, e.g. "EDDSA", "ECDH", "ECDSA", "RSA2048".
    pub algorithm: String,
    /// The generation date (DO CE-D0) in seconds since 1970 (UTC); `None` when zero.
    pub created: Option<u64>,
    /// The fingerprint (DO C7-C9), 40 uppercase hex digits; `None` when all zero.
    pub fingerprint: Option<String>,
}

/// What `openpgp-tool` shows of an OpenPGP card: the card information (pretty), the
/// cardholder data objects as stored (`--raw`, text shown as is) and the keys (pretty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenpgpToolInfo {
    /// The application identifier, 32 uppercase hex digits.
    pub aid: String,
    /// The specification version, e.g. "3.4".
    pub version: String,
    /// The manufacturer's name, e.g. "test card".
    pub manufacturer: String,
    /// The serial number, 8 hex digits.
    pub serial: String,
    /// Login data (DO 5E), when set.
    pub account: Option<String>,
    /// URL (DO 5F50), when set.
    pub url: Option<String>,
    /// Cardholder name (DO 5B) as stored, e.g. "Doe<<Jane", when set.
    pub name: Option<String>,
    /// Language preferences (DO 5F2D) as stored, e.g. "ende", when set.
    pub language: Option<String>,
    /// Sex (DO 5F35) as stored, e.g. "2" (ISO 5218 female), when set.
    pub gender: Option<String>,
    /// The signature, decryption and authentication keys, in this order.
    pub keys: [OpenpgpToolKey; 3],
}

/// Runs `openpgp-tool -r <reader index> --card-info --key-info` and `... --raw --user-info`
/// and parses them. Panics with openpgp-tool's output if it fails.
pub fn openpgp_tool_info(reader_index: usize) -> OpenpgpToolInfo {
    let pretty = fields(&run(reader_index, &["--card-info", "--key-info"]));
    let raw = fields(&run(reader_index, &["--raw", "--user-info"]));
    let get = |map: &BTreeMap<String, String>, key: &str| map.get(key).cloned();
    let key = |prefix: &str| OpenpgpToolKey {
        algorithm: get(&pretty, &format!("{prefix} Algorithm")).unwrap_or_default(),
        created: get(&pretty, &format!("{prefix} Create Date"))
            .and_then(|date| parse_utc(&date))
            .filter(|&seconds| seconds != 0),
        fingerprint: get(&pretty, &format!("{prefix} Fingerprint"))
            .map(|text| text.replace(':', "").to_uppercase())
            .filter(|hex| hex.chars().any(|c| c != '0')),
    };
    OpenpgpToolInfo {
        aid: get(&pretty, "AID")
            .unwrap_or_default()
            .replace(':', "")
            .to_uppercase(),
        version: get(&pretty, "Version").unwrap_or_default(),
        manufacturer: get(&pretty, "Manufacturer").unwrap_or_default(),
        serial: get(&pretty, "Serial number").unwrap_or_default(),
        account: get(&raw, "Account"),
        url: get(&raw, "URL"),
        name: get(&raw, "Name"),
        language: get(&raw, "Language"),
        gender: get(&raw, "Gender"),
        keys: [key("Sig"), key("Dec"), key("Aut")],
    }
}

/// The content of private DO 010`n` (`openpgp-tool -r <reader index> --do <n>`), read
/// without any PIN. Panics if openpgp-tool fails (e.g. the card refuses the read).
pub fn openpgp_tool_private_do(reader_index: usize, n: u8) -> Vec<u8> {
    run(reader_index, &["--do", &n.to_string()])
        .lines()
        .flat_map(parse_dump_line)
        .collect()
}

fn run(reader_index: usize, args: &[&str]) -> String {
    let output = Command::new("openpgp-tool")
        .args(["-r", &reader_index.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                panic!("openpgp-tool not found: run scripts/test, which installs opensc")
            }
            _ => panic!("cannot run openpgp-tool: {e}"),
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "openpgp-tool -r {reader_index} {} failed ({}):\n{stdout}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `Label:   value` lines (the label has no colon; the value may). The continuation lines of
/// a hex dump (`03 03 03 03   ....`) are skipped, even when their ASCII column has a colon.
fn fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (label, value) = line.split_once(':')?;
            let label = label.trim();
            let is_label = !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
                && !label
                    .split(' ')
                    .all(|token| token.len() == 2 && token.chars().all(|c| c.is_ascii_hexdigit()));
            is_label.then(|| (label.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// "2023-11-14 22:13:20" (UTC) -> seconds since 1970.
fn parse_utc(text: &str) -> Option<u64> {
    let (date, time) = text.split_once(' ')?;
    let mut date = date.split('-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let mut time = time.split(':').map(|part| part.parse::<i64>().ok());
    let (hour, minute, second) = (time.next()??, time.next()??, time.next()??);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from 1970-01-01 to the date in the proleptic Gregorian calendar, counting years
    // from March so that the leap day comes last.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

#[cfg(test)]
mod tests {
    use super::{fields, parse_utc};

    #[test]
    fn utc_dates_become_unix_seconds() {
        assert_eq!(parse_utc("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_utc("2023-11-14 22:13:20"), Some(1_700_000_000));
        assert_eq!(parse_utc("2000-02-29 12:00:00"), Some(951_825_600));
        assert_eq!(parse_utc("2038-01-19 03:14:08"), Some(1 << 31));
        assert_eq!(parse_utc("2023-13-01 00:00:00"), None);
        assert_eq!(parse_utc("yesterday"), None);
    }

    #[test]
    fn label_lines_are_split_at_the_first_colon() {
        let map = fields(
            "AID:             d2:76:00\nURL:             https://example.org/a\n\
             Aut Fingerprint: 03:03\n03 03 03 03                                     ....\n\
             3A 3A 41                                        ::A\nDO 0102:         x\n",
        );
        assert_eq!(map["AID"], "d2:76:00");
        assert_eq!(map["URL"], "https://example.org/a");
        assert_eq!(map["Aut Fingerprint"], "03:03");
        assert_eq!(map["DO 0102"], "x");
        assert_eq!(map.len(), 4);
    }
}
