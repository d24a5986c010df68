//! APDUs through OpenSC's `opensc-tool`, a PC/SC client independent of this workspace.

use std::process::Command;

/// Runs `opensc-tool -c default -r <reader index> -s <apdu> ...` (hex APDUs, one card
/// session) and returns each response APDU's bytes: data followed by SW1 SW2.
///
/// `-c default` keeps OpenSC from probing the card with its own commands. Panics with
/// opensc-tool's output if it fails or answers fewer responses than APDUs sent.
pub fn opensc_apdus(reader_index: usize, apdus: &[&str]) -> Vec<Vec<u8>> {
    let mut command = Command::new("opensc-tool");
    command.args(["-c", "default", "-r", &reader_index.to_string()]);
    for apdu in apdus {
        command.args(["-s", apdu]);
    }
    let output = command.output().unwrap_or_else(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            panic!("opensc-tool not found: run scripts/test, which installs opensc")
        }
        _ => panic!("cannot run opensc-tool: {e}"),
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let responses = parse_responses(&stdout);
    assert!(
        output.status.success() && responses.len() == apdus.len(),
        "opensc-tool -r {reader_index} answered {} responses to {} APDUs ({}):\n{stdout}{stderr}",
        responses.len(),
        apdus.len(),
        output.status
    );
    responses
}

/// Parses opensc-tool's `Received (SW1=0x90, SW2=0x00)` lines and the hex dump lines that
/// follow them (16 bytes as `XX ` in the first 48 columns, then an ASCII column).
fn parse_responses(stdout: &str) -> Vec<Vec<u8>> {
    let mut responses = Vec::new();
    let mut current: Option<(Vec<u8>, [u8; 2])> = None;
    for line in stdout.lines() {
        if let Some(sw) = parse_status_line(line) {
            if let Some((mut data, sw)) = current.take() {
                data.extend_from_slice(&sw);
                responses.push(data);
            }
            current = Some((Vec::new(), sw));
        } else if line.starts_with("Sending:") || line.starts_with("Using reader") {
            if let Some((mut data, sw)) = current.take() {
                data.extend_from_slice(&sw);
                responses.push(data);
            }
        } else if let Some((data, _)) = current.as_mut() {
            data.extend(parse_dump_line(line));
        }
    }
    if let Some((mut data, sw)) = current.take() {
        data.extend_from_slice(&sw);
        responses.push(data);
    }
    responses
}

/// One line of OpenSC's `util_hex_dump_asc`: n bytes as `XX `, then (only on lines after the
/// first) padding to 16 columns, then n ASCII characters. The ASCII column may itself look
/// like hex, so the byte count is found from the line's layout, not by scanning tokens.
pub(crate) fn parse_dump_line(line: &str) -> Vec<u8> {
    let bytes = line.as_bytes();
    for n in (1..=16).rev() {
        let Some(hex_part) = bytes.get(..3 * n) else {
            continue;
        };
        let rest = &bytes[3 * n..];
        let padding = 3 * (16 - n);
        let layout_fits = rest.len() == n
            || (rest.len() == padding + n && rest[..padding].iter().all(|&b| b == b' '));
        let hex_fits = hex_part
            .chunks(3)
            .all(|c| c[0].is_ascii_hexdigit() && c[1].is_ascii_hexdigit() && c[2] == b' ');
        if layout_fits && hex_fits {
            return hex_part
                .chunks(3)
                .filter_map(|c| u8::from_str_radix(std::str::from_utf8(&c[..2]).ok()?, 16).ok())
                .collect();
        }
    }
    Vec::new()
}

/// `Received (SW1=0x90, SW2=0x00)` or `...:` -> `[0x90, 0x00]`.
fn parse_status_line(line: &str) -> Option<[u8; 2]> {
    let rest = line.strip_prefix("Received (SW1=0x")?;
    let (sw1, rest) = rest.split_once(", SW2=0x")?;
    let sw2 = rest.get(..2)?;
    Some([
        u8::from_str_radix(sw1, 16).ok()?,
        u8::from_str_radix(sw2, 16).ok()?,
    ])
}

#[cfg(test)]
mod tests {
    use super::parse_responses;

    #[test]
    fn parses_status_only_and_data_responses() {
        // A full dump line, a padded second line, and a short first line (not padded) whose
        // ASCII column looks like hex.
        let out = [
            "Using reader with a card: Virtual PCD 00 00",
            "Sending: 00 A4 00 0C 02 3F 00 ",
            "Received (SW1=0x90, SW2=0x00)",
            "Sending: 00 B0 00 00 12 ",
            "Received (SW1=0x90, SW2=0x00):",
            "62 0A 82 01 38 83 02 3F 00 8A 01 05 41 42 43 44 b...8.?.....ABCD",
            &format!("{:<48}EF", "45 46 "),
            "Sending: 00 B0 00 00 02 ",
            "Received (SW1=0x90, SW2=0x00):",
            "41 42 AB",
            "Sending: 00 B0 00 00 00 ",
            "Received (SW1=0x6B, SW2=0x00)",
        ]
        .join("\n");
        let responses = parse_responses(&out);
        assert_eq!(responses.len(), 4);
        assert_eq!(responses[0], [0x90, 0x00]);
        assert_eq!(
            hex::encode_upper(&responses[1]),
            "620A82013883023F008A01054142434445469000"
        );
        assert_eq!(responses[2], [0x41, 0x42, 0x90, 0x00]);
        assert_eq!(responses[3], [0x6B, 0x00]);
    }
}
