//! The bridge as a station, end to end through its WebSocket (`--sim`): the station key made
//! at first start, `station_key` and `open_envelope` for paired pages only, envelopes of both
//! forms sealed by `vsc_core::envelope` (the page's code), refusals, the rate limit, `vsc-bridge station
//! rotate`, and a log without the password.

mod common;

use common::*;
use serde_json::{json, Value};
use vsc_core::envelope::{self, Binding, StationPublicKey};

const BRANCH: &str = "paris-1";

/// A real sealed VSC and its password.
fn sealed_vsc() -> vsc_core::vsc::SealedVsc {
    let profile = vsc_core::profile::Profile::builtin("iso7816-generic").unwrap();
    let mut values = std::collections::BTreeMap::new();
    values.insert("holder_name".to_owned(), "Siobhán O'Brien".to_owned());
    values.insert("holder_id".to_owned(), "E-1002".to_owned());
    let holder =
        vsc_core::holder::validate_record(&profile, &values, vsc_tests::test_day()).unwrap();
    vsc_core::vsc::Vsc::build_sealed(
        &profile,
        &holder,
        vsc_tests::test_built_at_ms(),
        &mut rand_core::OsRng,
    )
    .unwrap()
}

/// The `open_envelope` fields of `password` sealed to `key` for job `uid` of [`BRANCH`].
fn envelope_fields(password: &str, key: &StationPublicKey, uid: &str, vsc: &[u8]) -> Value {
    let binding = Binding::new(uid, BRANCH, vsc).unwrap();
    let sealed = envelope::seal(password, key, &binding, &mut rand_core::OsRng).unwrap();
    json!({
        "enc": hex::encode(sealed.enc),
        "ciphertext": hex::encode(&sealed.ciphertext),
        "aad": hex::encode(binding.to_aad()),
    })
}

fn station_key(client: &mut Client) -> (StationPublicKey, String) {
    let reply = client.ok("station_key", json!({}));
    let key = StationPublicKey::from_hex(reply["public_key"].as_str().unwrap()).unwrap();
    (key, reply["fingerprint"].as_str().unwrap().to_owned())
}

fn plaintext(reply: &Value) -> String {
    String::from_utf8(hex::decode(reply["plaintext"].as_str().unwrap()).unwrap()).unwrap()
}

#[test]
fn a_paired_page_gets_the_key_and_opens_envelopes_sealed_for_it() {
    let bridge = Bridge::start(&["--sim"]);
    // The key pair exists from the first start, owner-only, and the console shows its
    // fingerprint.
    let key_file = bridge.config_dir().join("station-key");
    assert!(key_file.is_file());
    assert_eq!(
        vsc_os::private::check_owner_only(&key_file).unwrap(),
        None,
        "the station key file is owner-only"
    );
    let (ok, printed) = bridge.subcommand(
        std::process::Command::new(vsc_tests::cargo_bin("vsc-bridge")),
        &["station"],
    );
    assert!(ok, "{printed}");

    // Unpaired: neither op is answered.
    let mut client = bridge.connect();
    assert_eq!(client.ok("hello", json!({"protocol": 1}))["paired"], false);
    assert_eq!(client.err("station_key", json!({})), "not_authenticated");
    let vsc = sealed_vsc();
    let uid = vsc.uid.to_string();
    let password = vsc.password.expose().to_owned();
    let bogus = StationPublicKey::from_bytes(&[9; 32]).unwrap();
    assert_eq!(
        client.err(
            "open_envelope",
            envelope_fields(&password, &bogus, &uid, &vsc.bytes)
        ),
        "not_authenticated"
    );

    bridge.pair(&mut client);
    let (key, fingerprint) = station_key(&mut client);
    assert_eq!(fingerprint, key.fingerprint());
    assert!(
        printed.contains(&format!("station public key: {}", key.to_hex()))
            && printed.contains(&format!("fingerprint: {fingerprint}")),
        "`vsc-bridge station` shows the key the page gets:\n{printed}"
    );
    assert!(
        bridge
            .log()
            .contains(&format!("station key fingerprint: {fingerprint}")),
        "the console shows the fingerprint"
    );

    // The envelope the page seals opens to the password, which opens the VSC.
    let reply = client.ok(
        "open_envelope",
        envelope_fields(&password, &key, &uid, &vsc.bytes),
    );
    let opened = plaintext(&reply);
    assert_eq!(opened, password);
    let profile = vsc_core::profile::Profile::builtin("iso7816-generic").unwrap();
    vsc_core::seal::open(&vsc.bytes, &opened, &profile.hash()).expect("the password opens the VSC");

    // The batch form (one encapsulation for a chunk of jobs, as the page's upload seals):
    // two jobs' envelopes share their enc, each opens for its own job only.
    let second = sealed_vsc();
    let sealer = envelope::StationSealer::new(&key, &mut rand_core::OsRng).unwrap();
    let batch: Vec<(Value, Binding)> = [
        (&vsc, password.as_str()),
        (&second, second.password.expose()),
    ]
    .into_iter()
    .map(|(job, job_password)| {
        let binding = Binding::new(&job.uid.to_string(), BRANCH, &job.bytes).unwrap();
        let sealed = sealer
            .seal(job_password, &binding, &mut rand_core::OsRng)
            .unwrap();
        let fields = json!({
            "enc": hex::encode(sealed.enc),
            "ciphertext": hex::encode(&sealed.ciphertext),
            "aad": hex::encode(binding.to_aad()),
        });
        (fields, binding)
    })
    .collect();
    assert_eq!(batch[0].0["enc"], batch[1].0["enc"]);
    assert_eq!(
        plaintext(&client.ok("open_envelope", batch[0].0.clone())),
        password
    );
    assert_eq!(
        plaintext(&client.ok("open_envelope", batch[1].0.clone())),
        second.password.expose()
    );
    let mut swapped = batch[1].0.clone();
    swapped["aad"] = json!(hex::encode(batch[0].1.to_aad()));
    assert_eq!(client.err("open_envelope", swapped), "envelope_invalid");

    // Refusals: one code, no detail; the connection stays usable.
    let good = envelope_fields(&password, &key, &uid, &vsc.bytes);
    let mut flipped = good.clone();
    let mut ct = hex::decode(good["ciphertext"].as_str().unwrap()).unwrap();
    ct[3] ^= 1;
    flipped["ciphertext"] = json!(hex::encode(&ct));
    let mut truncated = good.clone();
    truncated["ciphertext"] = json!(hex::encode(&ct[..ct.len() - 1]));
    let mut moved = good.clone();
    moved["aad"] = json!(hex::encode(
        Binding::new(&uid, "lyon-2", &vsc.bytes).unwrap().to_aad()
    ));
    let other_job = envelope_fields(&password, &key, &uid, b"another job's vsc");
    let mut other_job_here = other_job.clone();
    other_job_here["aad"] = good["aad"].clone();
    let for_another_station = envelope_fields(&password, &bogus, &uid, &vsc.bytes);
    let mut garbage_aad = good.clone();
    garbage_aad["aad"] = json!("00");
    for bad in [
        flipped,
        truncated,
        moved,
        other_job_here,
        for_another_station,
        garbage_aad,
    ] {
        let reply = client.request("open_envelope", bad);
        assert_eq!(reply["error"]["code"], "envelope_invalid", "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(!message.contains(&password), "{message}");
    }
    assert_eq!(
        client.err(
            "open_envelope",
            json!({"enc": "zz", "ciphertext": "", "aad": ""})
        ),
        "bad_request"
    );
    assert_eq!(
        client.err("open_envelope", json!({"enc": "00"})),
        "bad_request"
    );
    assert_eq!(plaintext(&client.ok("open_envelope", good)), password);

    // The log says envelopes were opened, for which origin and job, and never the password.
    let log = bridge.log();
    assert!(log.contains("password envelope opened"), "{log}");
    assert!(log.contains(ORIGIN) && log.contains(&uid), "{log}");
    assert!(log.contains("a password envelope did not open"), "{log}");
    for secret in [
        password.clone(),
        password.replace('-', ""),
        hex::encode(password.as_bytes()),
        hex::encode_upper(password.as_bytes()),
    ] {
        assert!(!log.contains(&secret), "the log holds {secret}:\n{log}");
    }
}

#[test]
fn open_envelope_is_rate_limited_per_page() {
    let bridge = Bridge::start(&["--sim", "--envelopes-per-minute", "3"]);
    let mut client = bridge.connect();
    bridge.pair(&mut client);
    let (key, _) = station_key(&mut client);
    let vsc = sealed_vsc();
    let uid = vsc.uid.to_string();
    let password = vsc.password.expose().to_owned();
    let good = envelope_fields(&password, &key, &uid, &vsc.bytes);
    let mut bad = good.clone();
    bad["aad"] = json!("00");
    // Failed attempts count too.
    client.ok("open_envelope", good.clone());
    assert_eq!(client.err("open_envelope", bad), "envelope_invalid");
    client.ok("open_envelope", good.clone());
    let reply = client.request("open_envelope", good.clone());
    assert_eq!(reply["error"]["code"], "rate_limited", "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wait a minute"),
        "{reply}"
    );
    // Another socket of the same page shares the budget; other ops go on.
    let mut second = bridge.connect();
    let token = {
        let (_, list) = bridge.pairings(&["list"]);
        assert!(list.contains(ORIGIN), "{list}");
        // Pair the second socket too (a second token for the same origin).
        bridge.pair(&mut second)
    };
    assert!(!token.is_empty());
    assert_eq!(second.err("open_envelope", good), "rate_limited");
    second.ok("station_key", json!({}));
    second.ok("readers", json!({}));
}

#[test]
fn rotate_makes_a_new_key_and_old_envelopes_no_longer_open() {
    let bridge = Bridge::start(&["--sim"]);
    let mut client = bridge.connect();
    bridge.pair(&mut client);
    let (old, _) = station_key(&mut client);
    let vsc = sealed_vsc();
    let uid = vsc.uid.to_string();
    let password = vsc.password.expose().to_owned();
    let for_old = envelope_fields(&password, &old, &uid, &vsc.bytes);
    client.ok("open_envelope", for_old.clone());

    let (ok, said) = bridge.subcommand(
        std::process::Command::new(vsc_tests::cargo_bin("vsc-bridge")),
        &["station", "rotate"],
    );
    assert!(ok, "{said}");
    assert!(
        said.contains("Envelopes sealed for the old key can no longer be opened"),
        "{said}"
    );
    // The running bridge uses the new key at once.
    let (new, fingerprint) = station_key(&mut client);
    assert_ne!(new, old);
    assert!(
        said.contains(&format!("fingerprint: {fingerprint}")),
        "{said}"
    );
    assert_eq!(client.err("open_envelope", for_old), "envelope_invalid");
    let for_new = envelope_fields(&password, &new, &uid, &vsc.bytes);
    assert_eq!(plaintext(&client.ok("open_envelope", for_new)), password);

    // doctor shows the new fingerprint.
    let (_, doctor) = bridge.subcommand(
        std::process::Command::new(vsc_tests::cargo_bin("vsc-bridge")),
        &["doctor", "--allow-origin", ORIGIN],
    );
    assert!(
        doctor.contains(&format!("station key: fingerprint {fingerprint}")),
        "{doctor}"
    );
}
