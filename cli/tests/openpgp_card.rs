//! `vsc personalize` of `openpgp-card` VSCs onto the opcard peer (an OpenPGP card this project
//! did not write) in pcscd's vpcd reader, read back with independent host tools: GnuPG
//! (`gpg --card-status`, signing through scdaemon) and OpenSC's `openpgp-tool`. What they read
//! must be what `vsc inspect` shows for the VSC. A tear at every APDU is proven in-process
//! (tests/opcard-vpcd/tests/engine.rs); here a few, through the real stack.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{build_batch, build_batch_with_profile, ok, pin_of, run, s, texts, Built, GOOD_CSV};
use ed25519_dalek::Verifier as _;
use sha2::{Digest as _, Sha256};
use vsc_core::profile::KeySlot;
use vsc_core::vsc::Vsc;
use vsc_tests::{openpgp_tool_info, GnupgHome, OpcardOptions, PcscStack, SoftcardOptions};

/// Holders for the openpgp-card profile: everything its own data objects hold, and a holder
/// with only what is required.
const OPENPGP_CSV: &str = "\
holder_name,holder_id,language,sex,url,expiry_date,email,date_of_birth
Jane Doe,jdoe,ende,2,https://keys.example.org/jdoe.asc,2031-12-31,jane@example.org,1985-07-14
John Roe,jroe,,,,2030-01-01,,
";

fn personalize(vsc: &Built, reader: &str, mailer: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "personalize",
        s(&vsc.file),
        "--password-file",
        s(&vsc.password_file),
        "--reader",
        reader,
        "--pin-mailer",
        s(mailer),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// The VSC, opened with its password.
fn open(vsc: &Built) -> Vsc {
    Vsc::open(&std::fs::read(&vsc.file).unwrap(), &vsc.password).expect("the VSC opens")
}

/// The fingerprints `vsc inspect` shows, by key name.
fn inspected_fingerprints(vsc: &Built) -> Vec<(String, String)> {
    let out = ok(&run(&[
        "inspect",
        s(&vsc.file),
        "--password-file",
        s(&vsc.password_file),
    ]));
    let keys = out
        .split_once("keys shown as fingerprints")
        .expect("a keys section")
        .1;
    keys.lines()
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next().unwrap().to_owned();
            (name, words.next().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn gpg_and_openpgp_tool_read_back_what_vsc_inspect_shows_and_the_card_signs_with_the_vscs_key() {
    let batch = build_batch_with_profile("openpgp-card", OPENPGP_CSV);
    let built = &batch.vscs[0];
    let vsc = open(built);
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.opcard(0, OpcardOptions::new());

    let mailer = batch.dir.path().join("mailer.html");
    let output = personalize(built, &reader, &mailer, &[]);
    let stdout = ok(&output);
    let (_, stderr) = texts(&output);
    assert!(stdout.trim_end().ends_with(": verified"), "{stdout}");
    assert!(stdout.contains("Jane Doe"), "{stdout}");
    assert!(!stdout.contains(&built.password) && !stderr.contains(&built.password));
    let pin = pin_of(&mailer);
    assert_eq!(pin.len(), 6, "OpenPGP PW1: 6 digits");

    let fingerprints = inspected_fingerprints(built);
    let names: Vec<&str> = fingerprints.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["signature", "decryption", "authentication"]);
    let expected: Vec<Option<String>> = fingerprints.iter().map(|(_, f)| Some(f.clone())).collect();
    assert!(expected.iter().all(|f| f.as_ref().unwrap().len() == 40));
    let created: Vec<Option<u64>> = vsc
        .key_objects()
        .iter()
        .map(|(_, key)| Some(u64::from(key.created())))
        .collect();

    let gnupg = GnupgHome::new(&reader);
    let status = gnupg.card_status();
    let name = [status.given_name.as_str(), status.surname.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(name, "Jane Doe", "{status:?}");
    assert_eq!(status.url, "https://keys.example.org/jdoe.asc");
    assert_eq!(status.login, "jdoe");
    assert_eq!(status.language, "ende");
    assert_eq!(status.sex, "f");
    assert_eq!(status.fingerprints.to_vec(), expected, "gpg's fingerprints");
    assert_eq!(status.creation_times.to_vec(), created, "gpg's key dates");
    assert_eq!(
        status.key_attributes,
        ["Ed25519", "Curve25519", "Ed25519"].map(String::from)
    );
    assert_eq!(status.pin_retries, [3, 3, 3]);

    let info = openpgp_tool_info(0);
    assert_eq!(info.name.as_deref(), Some("Jane Doe"));
    assert_eq!(
        info.url.as_deref(),
        Some("https://keys.example.org/jdoe.asc")
    );
    assert_eq!(info.account.as_deref(), Some("jdoe"));
    assert_eq!(
        info.keys.clone().map(|k| k.fingerprint).to_vec(),
        expected,
        "openpgp-tool's fingerprints"
    );

    // The card signs with the VSC's signature key, unlocked by the PIN of the mailer.
    let digest: [u8; 32] = Sha256::digest(b"signed at the branch counter").into();
    let signature = gnupg.sign(&pin, &digest);
    let signature = ed25519_dalek::Signature::from_slice(&signature)
        .unwrap_or_else(|e| panic!("not an Ed25519 signature ({e}): {signature:02X?}"));
    let public = vsc
        .key_objects()
        .into_iter()
        .find(|(spec, _)| spec.slot == Some(KeySlot::Signature))
        .expect("a signature key")
        .1;
    let public: [u8; 32] = public.public_key().try_into().unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&public)
        .unwrap()
        .verify(&digest, &signature)
        .expect("the card's signature verifies against the VSC's public key");
    assert_eq!(gnupg.card_status().signature_counter, 1);
}

#[test]
fn a_second_run_sets_a_new_pin_and_another_vsc_is_refused() {
    let batch = build_batch_with_profile("openpgp-card", OPENPGP_CSV);
    let (first, second) = (&batch.vscs[0], &batch.vscs[1]);
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.opcard(0, OpcardOptions::new());
    let dir = batch.dir.path();
    ok(&personalize(first, &reader, &dir.join("m1.html"), &[]));
    let first_pin = pin_of(&dir.join("m1.html"));

    let output = personalize(first, &reader, &dir.join("m2.html"), &["--new-pin"]);
    let stdout = ok(&output);
    let (_, stderr) = texts(&output);
    assert!(stdout.trim_end().ends_with(": verified"), "{stdout}");
    assert!(
        stderr.contains("Setting a new PIN with the reset code"),
        "{stderr}"
    );
    let new_pin = pin_of(&dir.join("m2.html"));
    assert_ne!(first_pin, new_pin);
    // The new PIN signs; GnuPG saw three tries left, none spent.
    let digest: [u8; 32] = Sha256::digest(b"after a forgotten PIN").into();
    let gnupg = GnupgHome::new(&reader);
    assert_eq!(gnupg.sign(&new_pin, &digest).len(), 64);
    assert_eq!(gnupg.card_status().pin_retries[0], 3);
    drop(gnupg);

    let output = personalize(second, &reader, &dir.join("m3.html"), &[]);
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("this card already holds VSC {}", first.uid)),
        "{stderr}"
    );
    assert!(!dir.join("m3.html").exists());
}

#[test]
fn a_card_of_the_other_type_is_named_in_words() {
    let openpgp = build_batch_with_profile("openpgp-card", OPENPGP_CSV);
    let iso = build_batch(GOOD_CSV);
    let stack = PcscStack::start();
    let _opcard = stack.opcard(0, OpcardOptions::new());
    let _softcard = stack.softcard(1, SoftcardOptions::new());
    let dir = openpgp.dir.path();

    let output = personalize(
        &openpgp.vscs[0],
        &stack.reader_name(1),
        &dir.join("a.html"),
        &[],
    );
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("this is not an OpenPGP card")
            && stderr.contains("put an OpenPGP card in the reader"),
        "{stderr}"
    );

    let output = personalize(
        &iso.vscs[0],
        &stack.reader_name(0),
        &dir.join("b.html"),
        &[],
    );
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("this is not an ISO 7816-4 file-system card"),
        "{stderr}"
    );
    assert!(!dir.join("a.html").exists() && !dir.join("b.html").exists());
}

#[test]
fn a_card_pulled_mid_run_is_finished_by_the_next_run() {
    let batch = build_batch_with_profile("openpgp-card", OPENPGP_CSV);
    let built = &batch.vscs[0];
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let dir = batch.dir.path();
    // A few points of the run through the real stack: in the key imports, before activation,
    // after it.
    for (k, before) in [(3, true), (20, false), (38, false)] {
        let state = dir.join(format!("card-{k}.state"));
        let mailer = dir.join(format!("mailer-{k}.html"));
        let mut torn = stack.opcard(
            0,
            OpcardOptions {
                state_file: Some(state.clone()),
                tear_before: before.then_some(k),
                tear_after: (!before).then_some(k),
                ..OpcardOptions::new()
            },
        );
        let output = personalize(built, &reader, &mailer, &[]);
        let (stdout, stderr) = texts(&output);
        assert!(!output.status.success(), "k={k}:\n{stdout}{stderr}");
        assert!(!stdout.contains("verified"), "k={k}: {stdout}");
        assert!(!mailer.exists(), "k={k}: no PIN mailer for a failed run");
        assert_eq!(
            torn.wait_exit(Duration::from_secs(10)),
            Some(3),
            "k={k}: the card tore; vsc said:\n{stdout}{stderr}\nthe card said:\n{}",
            torn.log_text()
        );
        torn.kill();

        let mut card = stack.opcard(
            0,
            OpcardOptions {
                state_file: Some(state),
                ..OpcardOptions::new()
            },
        );
        let output = personalize(built, &reader, &mailer, &["--new-pin"]);
        let stdout = ok(&output);
        assert!(stdout.trim_end().ends_with(": verified"), "k={k}: {stdout}");
        let status = GnupgHome::new(&reader).card_status();
        assert_eq!(status.login, "jdoe", "k={k}");
        card.kill();
    }
}
