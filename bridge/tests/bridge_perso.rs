//! A full personalization of a VSC through the bridge into a softcard over pcscd, driven by the
//! real engine as the page drives it: one `transmit` per engine batch, with `expect` patterns.

mod common;

use std::collections::BTreeMap;

use common::*;
use rand_core::OsRng;
use serde_json::json;
use vsc_core::holder;
use vsc_core::perso::Personalization;
use vsc_core::pin::Pin;
use vsc_core::profile::Profile;
use vsc_core::vsc::Vsc;
use vsc_tests::{GnupgHome, OpcardOptions, PcscStack, SoftcardOptions};

fn build_vsc(name: &str) -> Vsc {
    let profile = Profile::builtin("iso7816-generic").unwrap();
    let mut values = BTreeMap::new();
    values.insert("holder_name".to_owned(), name.to_owned());
    values.insert("holder_id".to_owned(), "B-77".to_owned());
    values.insert("email".to_owned(), "holder@example.org".to_owned());
    values.insert(
        "address".to_owned(),
        "1 Bridge Street, Springfield".to_owned(),
    );
    let holder = holder::validate_record(&profile, &values, vsc_tests::test_day()).unwrap();
    Vsc::build(&profile, &holder, vsc_tests::test_built_at_ms(), &mut OsRng)
        .unwrap()
        .0
}

#[test]
fn a_vsc_is_personalized_through_the_bridge_and_its_secrets_never_reach_the_log() {
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.softcard(0, SoftcardOptions::new());
    let bridge = Bridge::start_logging("debug", &["--trust-origin", ORIGIN]);
    let mut client = bridge.connect();
    assert_eq!(client.ok("hello", json!({"protocol": 1}))["paired"], true);
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();

    let vsc = build_vsc("Bridget Jones");
    let pin = Pin::from_digits("905127").unwrap();
    let engine = Personalization::with_pin(vsc.clone(), pin.clone());
    let (outcome, round_trips) = personalize(&mut client, &session, engine);
    let outcome = outcome.expect("personalization through the bridge succeeds");
    assert_eq!(outcome.holder_name, "Bridget Jones");
    // One round trip per step: probe, write, activate, read back, set PIN.
    assert_eq!(round_trips, 5, "one transmit per engine batch");

    // The card holds the PIN: a fresh session (the card was reset) verifies it.
    client.ok("disconnect", json!({"session": session}));
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
    let df = &vsc
        .profile()
        .file_system()
        .expect("a file-system profile")
        .df;
    let aid = hex::encode_upper(&df.aid);
    let select = format!("00A4040C{:02X}{aid}", df.aid.len());
    let verify = format!("0020008106{}", hex::encode_upper(pin.expose()));
    let reply = client.transmit(&session, &[&select, &verify]);
    assert_eq!(reply["responses"], json!(["9000", "9000"]));
    client.ok("disconnect", json!({"session": session}));

    // Running again on its own card sets a new PIN through the reset code.
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
    let (again, _) = personalize(
        &mut client,
        &session,
        Personalization::new(vsc.clone(), &mut OsRng),
    );
    assert!(again
        .expect("second run")
        .steps
        .contains(&vsc_core::perso::Step::ResetPin));
    client.ok("disconnect", json!({"session": session}));

    // The log saw the APDU headers but none of the secrets.
    let log = bridge.log();
    assert!(
        log.contains("00 20 00 81") || log.to_uppercase().contains("00200081"),
        "the log records headers"
    );
    let mut secrets = vec![
        hex::encode(pin.expose()),
        hex::encode(vsc.card_password().expose()),
        hex::encode(vsc.reset_code().expose()),
        hex::encode(vsc.keys_area().expose()),
        hex::encode(vsc.private_area().expose()),
        String::from_utf8(vsc.card_password().expose().to_vec()).unwrap(),
        "holder@example.org".to_owned(),
    ];
    secrets.extend(secrets.clone().iter().map(|s| s.to_uppercase()));
    for secret in secrets {
        assert!(
            !log.contains(&secret),
            "the bridge log holds a secret ({} chars)",
            secret.len()
        );
    }
    // Key bytes in any 8-byte window never appear either.
    for window in vsc.keys_area().expose().windows(8) {
        assert!(!log.to_lowercase().contains(&hex::encode(window)));
    }
}

/// An `openpgp-card` VSC through the bridge into the opcard peer: the page's path for the
/// second card type. GnuPG reads the holder and the VSC's key fingerprints back.
#[test]
fn an_openpgp_vsc_is_personalized_through_the_bridge_and_gpg_reads_it_back() {
    let profile = Profile::builtin("openpgp-card").unwrap();
    let mut values = BTreeMap::new();
    for (field, value) in [
        ("holder_name", "Bridget Jones"),
        ("holder_id", "bjones"),
        ("url", "https://keys.example.org/bjones.asc"),
        ("expiry_date", "2031-12-31"),
    ] {
        values.insert(field.to_owned(), value.to_owned());
    }
    let holder = holder::validate_record(&profile, &values, vsc_tests::test_day()).unwrap();
    let vsc = Vsc::build(&profile, &holder, vsc_tests::test_built_at_ms(), &mut OsRng)
        .unwrap()
        .0;

    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.opcard(0, OpcardOptions::new());
    let bridge = Bridge::start(&["--trust-origin", ORIGIN]);
    let mut client = bridge.connect();
    assert_eq!(client.ok("hello", json!({"protocol": 1}))["paired"], true);
    let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
    let engine = Personalization::new(vsc.clone(), &mut OsRng);
    let (outcome, round_trips) = personalize(&mut client, &session, engine);
    let outcome = outcome.expect("personalization of the OpenPGP card through the bridge");
    assert_eq!(outcome.holder_name, "Bridget Jones");
    // One transmit per engine batch, and one more for each GET RESPONSE the 269 bytes of
    // application related data (DO 6E) need after 61xx, in the probe and in the read-back.
    assert_eq!(
        round_trips, 7,
        "batches and their GET RESPONSE continuations"
    );
    client.ok("disconnect", json!({"session": session}));
    drop(bridge);

    let status = GnupgHome::new(&reader).card_status();
    assert_eq!(status.login, "bjones");
    assert_eq!(status.url, "https://keys.example.org/bjones.asc");
    let fingerprints: Vec<Option<String>> = vsc
        .key_fingerprints()
        .into_iter()
        .map(|(_, fingerprint)| Some(fingerprint))
        .collect();
    assert_eq!(status.fingerprints.to_vec(), fingerprints);
}
