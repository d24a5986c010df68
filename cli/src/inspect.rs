//! `vsc inspect`: what a sealed VSC holds.
//!
//! Without the password: the clear header (format, UID, profile, key derivation) and the
//! public area. With it: every area; private fields in full, keys only as fingerprints, and
//! the password area only named (the card password and reset code are never printed).

use std::path::PathBuf;

use vsc_core::profile::{DataArea, Profile};
use vsc_core::seal::{self, Header, Kdf};
use vsc_core::tlv;

use crate::error::CliError;
use crate::password_input::{self, PasswordArgs};
use crate::profile_arg;
use crate::vsc_file;

/// Options of `vsc inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sealed VSC file.
    file: PathBuf,
    #[command(flatten)]
    password: PasswordArgs,
    /// Ask for the password on the terminal (without --password-file, only the clear header
    /// and public area are shown).
    #[arg(long, conflicts_with = "password_file")]
    ask_password: bool,
    /// The profile the VSC was built with, if it is not a built-in one (id or file path).
    #[arg(long, value_name = "NAME|PATH")]
    profile: Option<String>,
}

/// Runs `vsc inspect`, printing to standard output.
pub fn run(args: &Args) -> Result<(), CliError> {
    let bytes = vsc_file::read(&args.file)?;
    let header = seal::read_header(&bytes).map_err(|e| CliError::Open {
        path: args.file.clone(),
        source: e.into(),
    })?;
    let profile = match &args.profile {
        Some(spec) => Some(profile_arg::load(spec)?),
        None => Profile::builtin(&header.profile_id),
    };
    print_header(&header, profile.as_ref());
    outln!("public area ({} bytes):", header.public.len());
    let public = public_fields(&header.public, profile.as_ref());
    print_fields(
        public
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );

    if args.password.password_file.is_none() && !args.ask_password {
        outln!("private area: encrypted (give --password-file FILE or --ask-password to show it)");
        outln!("keys area: encrypted");
        outln!("password area: encrypted");
        return Ok(());
    }
    let password = password_input::read(&args.password, "VSC password")?;
    let vsc = vsc_file::open(&args.file, &bytes, &password, args.profile.as_deref())?;
    outln!("private area ({} bytes):", vsc.private_area().len());
    let private = vsc.private_fields();
    print_fields(
        private
            .iter()
            .map(|(name, value)| (name.as_str(), value.expose())),
    );
    outln!(
        "keys area ({} bytes), keys shown as fingerprints (OpenPGP v4 for card slots, else first 8 bytes of SHA-256):",
        vsc.keys_area().len()
    );
    for (name, fingerprint) in vsc.key_fingerprints() {
        outln!("  {name:<16} {fingerprint}");
    }
    outln!("password area: present (card password and reset code; never shown)");
    Ok(())
}

fn print_header(header: &Header, profile: Option<&Profile>) {
    outln!("format:   sealed VSC, version {}", header.version);
    outln!("uid:      {}", header.uid);
    let matching = match profile {
        Some(p) if p.hash() == header.profile_hash => {
            format!(" ({}, matches this program's)", p.name)
        }
        Some(_) => {
            " (differs from the profile loaded here: opening needs the exact profile)".into()
        }
        None => " (not a built-in profile: give --profile FILE to name its fields)".into(),
    };
    outln!("profile:  {}{matching}", header.profile_id);
    outln!("profile SHA-256: {}", hex::encode(header.profile_hash));
    let kdf = match header.kdf {
        Kdf::Hkdf => "HKDF-SHA256 (generated password)".to_owned(),
        Kdf::Argon2id { m_kib, t, p } => {
            format!("Argon2id m={m_kib} KiB t={t} p={p} (chosen password)")
        }
    };
    outln!("key derivation: {kdf}");
}

/// The public area's data objects as `(field name, text)`, named by the profile when known.
fn public_fields(area: &[u8], profile: Option<&Profile>) -> Vec<(String, String)> {
    let Ok(objects) = tlv::walk(area) else {
        return vec![("(malformed)".into(), hex::encode_upper(area))];
    };
    objects
        .into_iter()
        .map(|(tag, value)| {
            let name = profile
                .and_then(|p| {
                    p.fields_in(DataArea::Public)
                        .find(|f| f.tag == tag)
                        .map(|f| f.name.clone())
                })
                .unwrap_or_else(|| format!("tag {}", hex::encode_upper(tag)));
            (name, String::from_utf8_lossy(value).into_owned())
        })
        .collect()
}

/// Prints `name value` lines; private values are printed straight from their secret buffers.
fn print_fields<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) {
    let mut any = false;
    for (name, value) in fields {
        any = true;
        out!("  {name:<16} ");
        // Line breaks inside a value (addresses) are indented under it.
        for (i, line) in value.split('\n').enumerate() {
            if i > 0 {
                out!("\n  {:<16} ", "");
            }
            out!("{line}");
        }
        outln!();
    }
    if !any {
        outln!("  (no data objects)");
    }
}
