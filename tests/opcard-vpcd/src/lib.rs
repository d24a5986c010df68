//! `opcard-vpcd`: the `opcard` OpenPGP card 3.4 implementation (Nitrokey's, published on
//! crates.io; not written by this project) as a virtual card in pcscd's vpcd reader, so the
//! OpenPGP card agent can be proven against a card it was not written with.
//!
//! What it does: connects to the vpcd driver (with softcard's vpcd connection); runs opcard on trussed's
//! software platform; merges command chains, serves long responses with `61xx` and GET
//! RESPONSE, takes extended APDUs (`framing`); resets the card's volatile state on power off,
//! power on and reset; keeps the persistent state in a file (`--state`, `flash`); simulates a
//! pulled card (`--tear-before`/`--tear-after`, exit code 3) and logs APDU headers and status
//! words, never data. What it does not do: change opcard's behaviour in any way, or offer RSA
//! (opcard's `rsa*` features are off). See docs/opcard-peer.md.
//!
//! The same card runs in the test's own process too ([`with_card`]): thousands of runs of the
//! personalization engine against it (a tear at every APDU) take seconds, where pcscd would
//! take minutes.
#![forbid(unsafe_code)]

mod dispatch;
mod flash;
mod framing;
mod in_process;
mod platform;
mod runner;

pub use in_process::{with_card, InProcessCard};
pub use runner::run;

use std::path::PathBuf;

use clap::Parser;

/// The `opcard` OpenPGP card in pcscd's vpcd reader.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Args {
    /// Address of the vpcd driver (127.0.0.1:35963 is reader "Virtual PCD 00 00",
    /// 127.0.0.1:35964 is "Virtual PCD 00 01").
    #[arg(long, value_name = "HOST:PORT")]
    pub vpcd: String,
    /// Load the card from FILE (a factory-new card if it does not exist) and save it after
    /// every APDU that changes it, before the response is sent.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// The card's serial number in the AID (8 hex digits; default 00000000).
    #[arg(long, value_name = "HEX", value_parser = parse_serial)]
    pub serial: Option<[u8; 4]>,
    /// Longest response part in bytes, whatever Le asks; the rest comes with 61xx and GET
    /// RESPONSE.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_response: Option<u64>,
    /// Pull the card before executing C-APDU K (0-based, counted since start, every chained
    /// part and GET RESPONSE included); exit code 3.
    #[arg(long, value_name = "K", conflicts_with = "tear_after")]
    pub tear_before: Option<u64>,
    /// Pull the card after executing (and saving) C-APDU K, without responding; exit code 3.
    #[arg(long, value_name = "K")]
    pub tear_after: Option<u64>,
    /// Append one line per C-APDU: `CLA INS P1 P2 Lc SW` in hex (never data).
    #[arg(long, value_name = "FILE")]
    pub apdu_log: Option<PathBuf>,
}

/// `--serial 0A0B0C0D` -> `[0x0A, 0x0B, 0x0C, 0x0D]`.
fn parse_serial(text: &str) -> Result<[u8; 4], String> {
    let wanted = "8 hex digits, e.g. 0000ABCD";
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{text:?} is not {wanted}"));
    }
    let value = u32::from_str_radix(text, 16).map_err(|e| format!("{text:?}: {e}; {wanted}"))?;
    Ok(value.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::parse_serial;

    #[test]
    fn serial_is_eight_hex_digits() {
        assert_eq!(parse_serial("0000abCD"), Ok([0, 0, 0xAB, 0xCD]));
        for bad in ["", "123", "0000ABCDE", "0000ABCG", "+0000ABC"] {
            let err = parse_serial(bad).unwrap_err();
            assert!(err.contains("8 hex digits"), "{bad}: {err}");
        }
    }
}
