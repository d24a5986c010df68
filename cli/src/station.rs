//! `vsc station`: this terminal as a branch *station* of the issuer service, with the X25519 key
//! `vsc personalize --server --queue` opens password envelopes with.
//!
//! The key is the bridge's: `station-key` in the bridge's config directory (or `--station-dir
//! DIR`), read, and made on first use, by `vsc_os::station_key`, the code `vsc-bridge` runs. So
//! a branch PC is one station, enrolled once, whether its page (through the bridge) or this
//! terminal works the queue. `vsc station` prints the public key and its fingerprint (those
//! `vsc-bridge station` prints); with `--server URL --enrol NAME` it also enrols the station at
//! the operator's branch, for an admin to approve after comparing the fingerprint.
//!
//! What it does not do: approve (an admin does), or rotate (`vsc-bridge station rotate`).

use std::path::PathBuf;

use serde_json::json;
use vsc_core::envelope::{StationPublicKey, StationSecretKey};
use vsc_os::station_key;

use crate::error::CliError;
use crate::issuer_client::{CredentialArgs, Credentials, Session};

/// The `--station-dir` option.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// The directory of this station's key file, station-key (made on first use, owner-only)
    /// [default: the bridge's config directory, so the terminal and the bridge are one station].
    #[arg(long, value_name = "DIR")]
    pub station_dir: Option<PathBuf>,
}

/// Options of `vsc station`.
// clap prints these doc comments as --help text (plain text: bare URLs, brackets).
#[allow(rustdoc::bare_urls, rustdoc::broken_intra_doc_links)]
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    key: KeyArgs,
    /// Enrol this station at the signed-in operator's branch under NAME (with --server).
    #[arg(long, value_name = "NAME", requires = "server")]
    enrol: Option<String>,
    /// The issuer service to enrol at (https://cards.issuer.example).
    #[arg(long, value_name = "URL", requires = "enrol")]
    server: Option<String>,
    #[command(flatten)]
    credentials: CredentialArgs,
}

/// The directory `args` name.
fn key_dir(args: &KeyArgs) -> Result<PathBuf, CliError> {
    match &args.station_dir {
        Some(dir) => Ok(dir.clone()),
        None => station_key::default_dir().ok_or_else(|| {
            CliError::Input(
                "this system names no config directory for the user: give --station-dir DIR".into(),
            )
        }),
    }
}

/// The station key `args` name, made when there is none; its file, and whether it was just
/// made.
pub fn load_or_create(args: &KeyArgs) -> Result<(StationSecretKey, PathBuf, bool), CliError> {
    let dir = key_dir(args)?;
    let (key, created) = station_key::load_or_create(&dir).map_err(|e| {
        CliError::Input(format!(
            "{e}; or give --station-dir DIR for another key (then enrol that station)"
        ))
    })?;
    Ok((key, station_key::key_path(&dir), created))
}

/// Runs `vsc station`.
pub fn run(args: &Args) -> Result<(), CliError> {
    let (key, path, created) = load_or_create(&args.key)?;
    let public = key.public_key();
    outln!("station public key: {}", public.to_hex());
    outln!("fingerprint: {}", public.fingerprint());
    outln!(
        "key file: {}{}",
        path.display(),
        if created { " (made now)" } else { "" }
    );
    if let (Some(name), Some(server)) = (&args.enrol, &args.server) {
        let credentials = Credentials::read(&args.credentials)?;
        let mut session = Session::sign_in(server, &credentials)?;
        let answer = session.post(
            "/api/stations",
            &json!({ "name": name, "public_key": public.to_hex() }),
        )?;
        let station = &answer["station"];
        outln!(
            "enrolled as station {} of branch {}: an admin approves it after checking that the \
             issuer shows the fingerprint {}",
            station["id"].as_str().unwrap_or("?"),
            station["branch"].as_str().unwrap_or("?"),
            public.fingerprint()
        );
        session.sign_out();
    }
    Ok(())
}

/// The id of the approved station whose key is `key` at the signed-in operator's branch, or
/// an error saying what to do (enrol, wait for approval).
pub fn approved_id(session: &mut Session, key: &StationPublicKey) -> Result<String, CliError> {
    let list = session.get("/api/stations")?;
    let ours = list["stations"].as_array().and_then(|stations| {
        stations
            .iter()
            .find(|s| s["public_key"].as_str() == Some(key.to_hex().as_str()))
    });
    match ours {
        Some(s) if s["state"] == "approved" => Ok(s["id"].as_str().unwrap_or_default().to_owned()),
        // A revoked key stays revoked: envelopes are never sealed for it again.
        Some(s) if s["state"] == "revoked" => Err(CliError::Input(format!(
            "this station ({}) was revoked at the issuer: its key (fingerprint {}) receives no \
             more envelopes. Make a new key (`vsc-bridge station rotate`), enrol it (`vsc \
             station --server URL --enrol NAME`) and have an admin approve it",
            s["id"].as_str().unwrap_or("?"),
            key.fingerprint()
        ))),
        Some(s) => Err(CliError::Input(format!(
            "this station ({}) is {} at the issuer, not approved: an admin approves it after \
             comparing the fingerprint {}",
            s["id"].as_str().unwrap_or("?"),
            s["state"].as_str().unwrap_or("?"),
            key.fingerprint()
        ))),
        None => Err(CliError::Input(format!(
            "this station's key (fingerprint {}) is not enrolled at {}'s branch: run `vsc \
             station --server URL --enrol NAME` as the operator, then have an admin approve it",
            key.fingerprint(),
            session.user()
        ))),
    }
}
