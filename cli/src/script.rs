//! `vsc script`: the APDUs of a first personalization as a pcsc-tools `scriptor` script, so a
//! blank card can be personalized without this product (`scriptor -r READER -p T=1 FILE`).
//!
//! The script is what the engine sends to a blank card when nothing goes wrong: the agent's
//! write, activate, read-back (with the card password) and PIN change batches, in that order.
//! It cannot check anything itself: scriptor prints every response, and each must end in
//! `90 00`. The new PIN is generated here and is only inside the script (and on the PIN mailer
//! when `--pin-mailer` is given). Commands carrying secrets are preceded by a `# SENSITIVE`
//! comment; the whole file is a secret.

use std::fmt::Write as _;
use std::path::PathBuf;

use rand_core::OsRng;
use vsc_core::apdu::Command;
use vsc_core::perso;
use vsc_core::pin::{Pin, PinMailer};
use vsc_core::secret::SecretString;
use vsc_core::vsc::Vsc;

use crate::atomic_file::{self, Existing};
use crate::error::CliError;
use crate::password_input::{self, PasswordArgs};
use crate::pin_mailer;
use crate::vsc_file;

/// Options of `vsc script`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sealed VSC file.
    file: PathBuf,
    #[command(flatten)]
    password: PasswordArgs,
    /// Write the script to FILE (atomically, owner-only) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write the PIN mailer (printable HTML) for the PIN the script sets.
    #[arg(long, value_name = "FILE")]
    pin_mailer: Option<PathBuf>,
    /// The profile the VSC was built with, if it is not a built-in one (id or file path).
    #[arg(long, value_name = "NAME|PATH")]
    profile: Option<String>,
}

/// Runs `vsc script`.
pub fn run(args: &Args) -> Result<(), CliError> {
    let bytes = vsc_file::read(&args.file)?;
    let password = password_input::read(&args.password, "VSC password")?;
    let vsc = vsc_file::open(&args.file, &bytes, &password, args.profile.as_deref())?;
    let pin = Pin::generate(vsc.profile().pin.length, &mut OsRng);
    let script = render(&vsc, &pin)?;
    match &args.out {
        Some(path) => atomic_file::write(path, script.expose().as_bytes(), Existing::Replace)?,
        None => out!("{}", script.expose()),
    }
    let mut where_pin = String::from(
        "inside the script (the CHANGE REFERENCE DATA command marked SENSITIVE, after the card \
         password, as ASCII digits)",
    );
    if let Some(path) = &args.pin_mailer {
        let mailer = PinMailer {
            holder_name: vsc.holder_name(),
            issuer_name: vsc.issuer_name(),
            uid: vsc.uid(),
            pin,
            replacement: false,
        };
        atomic_file::write(
            path,
            pin_mailer::html(&mailer).expose().as_bytes(),
            Existing::Replace,
        )?;
        let _ = write!(where_pin, " and on the PIN mailer {}", path.display());
    }
    eprintln!(
        "the script sets a new {}-digit PIN, which is {where_pin}; the script holds the card's \
         secrets (private data, keys, card password, reset code, PIN): keep it like the VSC \
         password and delete it once the card is done. Run it on a blank card with: scriptor -r \
         READER -p T=1 {}",
        vsc.profile().pin.length,
        args.out
            .as_ref()
            .map_or("SCRIPT".into(), |p| p.display().to_string())
    );
    Ok(())
}

/// The script text for a first personalization of a blank card with `pin` as the new PIN.
pub fn render(vsc: &Vsc, pin: &Pin) -> Result<SecretString, CliError> {
    let steps = perso::blank_card_plan(vsc, pin)?;
    let total: usize = steps.iter().map(|(_, batch)| batch.len()).sum();
    // Sized up front (hex with spaces triples the bytes; a comment line per APDU): the text
    // holds secrets and must not reallocate, which would leave a copy in freed memory.
    let capacity = 2048
        + steps
            .iter()
            .flat_map(|(_, batch)| &batch.items)
            .map(|item| 3 * item.command.to_bytes().len() + 160)
            .sum::<usize>();
    let mut out = String::with_capacity(capacity);
    let _ = write!(
        out,
        "# VSC personalization script for pcsc-tools scriptor: scriptor -r READER -p T=1 FILE\n\
         # VSC {uid}, profile {profile}, card type: {card}\n\
         # For a BLANK card. {total} APDUs; every response must end in 90 00, and READ BINARY\n\
         # responses must equal the VSC's areas (compare the public one with `vsc inspect`).\n\
         # This file holds secrets (private data, keys, card password, reset code, new PIN):\n\
         # keep it like the VSC password and delete it after use.\n\
         reset\n",
        uid = vsc.uid(),
        profile = vsc.profile().id,
        card = vsc.profile().layout.card_type(),
    );
    for (step, batch) in &steps {
        let _ = write!(out, "\n# {} ({} APDUs)\n", step.label(), batch.len());
        for item in &batch.items {
            let command = &item.command;
            if command.is_sensitive() {
                let _ = writeln!(
                    out,
                    "# SENSITIVE: {} carries {}",
                    command_name(command),
                    secret_kind(command)
                );
            }
            let bytes = command.to_bytes();
            for (i, byte) in bytes.expose().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{byte:02X}");
            }
            out.push('\n');
        }
    }
    debug_assert!(out.len() <= capacity, "the script outgrew its buffer");
    Ok(SecretString::new(out))
}

/// The command's name (ISO 7816-4 §11 and ISO 7816-9 §7 instruction bytes).
fn command_name(command: &Command) -> &'static str {
    match command.ins {
        0xA4 => "SELECT",
        0xB0 => "READ BINARY",
        0xD6 => "UPDATE BINARY",
        0xE0 => "CREATE FILE",
        0xE4 => "DELETE FILE",
        0x44 => "ACTIVATE FILE",
        0x20 => "VERIFY",
        0x24 => "CHANGE REFERENCE DATA",
        0x2C => "RESET RETRY COUNTER",
        0xC0 => "GET RESPONSE",
        _ => "a command",
    }
}

/// What secret a sensitive command carries, for its comment.
fn secret_kind(command: &Command) -> &'static str {
    match (command.ins, command.p1) {
        (0xD6, _) => "private data or secret keys",
        (0x20, _) => "the PIN or card password being verified",
        (0x24, 0x01) => "a credential's first value (card password or reset code)",
        (0x24, _) => "the current card password followed by the new PIN",
        (0x2C, _) => "the reset code followed by the new PIN",
        _ => "secret data",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_marks_every_sensitive_command_and_contains_the_pin() {
        let profile = vsc_core::profile::Profile::builtin("iso7816-generic").unwrap();
        let csv = "holder_name,holder_id,email,date_of_birth,address\nAda,1,a@b.example,1990-01-02,Here\n";
        let options = vsc_core::holder_csv::CsvOptions {
            encoding: vsc_core::text_encoding::TextEncoding::Utf8,
            today: vsc_tests::test_day(),
        };
        let holders = vsc_core::holder_csv::read(&profile, csv.as_bytes(), &options)
            .unwrap()
            .into_holders();
        let (vsc, _) = Vsc::build(
            &profile,
            &holders[0],
            vsc_tests::test_built_at_ms(),
            &mut OsRng,
        )
        .unwrap();
        let pin = Pin::from_digits("482913").unwrap();
        let text = render(&vsc, &pin).unwrap();
        let lines: Vec<&str> = text.expose().lines().collect();
        assert_eq!(lines.iter().filter(|l| **l == "reset").count(), 1);
        let pin_hex = "34 38 32 39 31 33";
        let with_pin: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].contains(pin_hex) && !lines[i].starts_with('#'))
            .collect();
        assert_eq!(
            with_pin.len(),
            2,
            "CHANGE REFERENCE DATA and VERIFY carry the PIN"
        );
        for i in with_pin {
            assert!(lines[i - 1].starts_with("# SENSITIVE"), "{}", lines[i - 1]);
        }
        for line in lines
            .iter()
            .filter(|l| !l.starts_with('#') && !l.is_empty() && **l != "reset")
        {
            assert!(
                line.split(' ')
                    .all(|b| b.len() == 2 && u8::from_str_radix(b, 16).is_ok()),
                "{line}"
            );
        }
    }
}
