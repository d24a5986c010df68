//! `vsc personalize`, `vsc readers` and `vsc script` through the real stack: pcscd, its vpcd
//! readers and `softcard --vpcd` processes, checked with independent clients (`opensc-tool`,
//! pcsc-tools' `scriptor`). Each test holds the PC/SC stack lock for its whole duration.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{build_batch, ok, pin_of, run, s, texts, Built, GOOD_CSV};
use vsc_tests::{opensc_apdus, PcscStack, SoftcardOptions};

/// The generic profile's application AID.
const AID: &str = "F05653430001";
/// The generic profile's public EF.
const PUBLIC_EF: &str = "5002";

/// `vsc personalize FILE --password-file F --reader READER --pin-mailer OUT`.
fn personalize(vsc: &Built, reader: &str, mailer: &Path) -> Output {
    personalize_with(vsc, reader, mailer, &[])
}

/// [`personalize`] with `--new-pin`: a card that already holds the VSC gets a new PIN.
fn personalize_new_pin(vsc: &Built, reader: &str, mailer: &Path) -> Output {
    personalize_with(vsc, reader, mailer, &["--new-pin"])
}

fn personalize_with(vsc: &Built, reader: &str, mailer: &Path, extra: &[&str]) -> Output {
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

/// The VSC's public area, from its clear header.
fn public_area(vsc: &Built) -> Vec<u8> {
    let bytes = std::fs::read(&vsc.file).unwrap();
    vsc_core::seal::read_header(&bytes).unwrap().public
}

/// Reads the public EF back through opensc-tool (ISO 7816-4 §11.2.2 SELECT by DF name and by
/// FID, §11.3.3 READ BINARY) and checks it against the VSC.
fn assert_public_area_on_card(slot: usize, vsc: &Built) {
    let public = public_area(vsc);
    assert!(!public.is_empty() && public.len() <= 256);
    let select_app = format!("00A4040C{:02X}{AID}", AID.len() / 2);
    let select_ef = format!("00A4000C02{PUBLIC_EF}");
    let read = format!("00B00000{:02X}", public.len() % 256);
    let responses = opensc_apdus(slot, &[&select_app, &select_ef, &read]);
    assert_eq!(responses[0], [0x90, 0x00], "SELECT application");
    assert_eq!(responses[1], [0x90, 0x00], "SELECT public EF");
    let (data, sw) = responses[2].split_at(responses[2].len() - 2);
    assert_eq!(sw, [0x90, 0x00], "READ BINARY");
    assert_eq!(
        hex::encode_upper(data),
        hex::encode_upper(&public),
        "public area on the card"
    );
}

/// VERIFY of the holder PIN (reference 81) through opensc-tool; returns the status word.
fn verify_pin(slot: usize, pin: &str) -> [u8; 2] {
    let select_app = format!("00A4040C{:02X}{AID}", AID.len() / 2);
    let verify = format!("00200081{:02X}{}", pin.len(), hex::encode_upper(pin));
    let responses = opensc_apdus(slot, &[&select_app, &verify]);
    let last = &responses[1];
    [last[last.len() - 2], last[last.len() - 1]]
}

#[test]
fn personalize_writes_the_vsc_and_opensc_reads_it_back() {
    let batch = build_batch(GOOD_CSV);
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.softcard(0, SoftcardOptions::new());
    let vsc = &batch.vscs[0];
    let mailer = batch.dir.path().join("mailer-1.html");

    let output = personalize(vsc, &reader, &mailer);
    let stdout = ok(&output);
    let (_, stderr) = texts(&output);
    assert!(stdout.trim_end().ends_with(": verified"), "{stdout}");
    assert!(stdout.contains(&vsc.uid) && stdout.contains("Émile Nguyễn-Müller 🙂 田中"));
    for step in [
        "Checking the card",
        "Writing the card",
        "Activating the card",
        "Reading the card back",
        "Setting the individual PIN",
    ] {
        assert!(stderr.contains(step), "step {step:?} not shown:\n{stderr}");
    }
    assert!(!stderr.contains(&vsc.password) && !stdout.contains(&vsc.password));
    let first_pin = pin_of(&mailer);
    assert_eq!(first_pin.len(), 6);
    assert!(
        !stdout.contains(&first_pin) && !stderr.contains(&first_pin),
        "PIN only on the mailer"
    );
    assert_public_area_on_card(0, vsc);
    assert_eq!(
        verify_pin(0, &first_pin),
        [0x90, 0x00],
        "the PIN on the mailer is the card's"
    );

    // Again with the same VSC: without a terminal to confirm on and without --new-pin, the
    // card is left as it is, and the clerk is told who it was issued to, when, and what to do.
    let mailer2 = batch.dir.path().join("mailer-2.html");
    let output = personalize(vsc, &reader, &mailer2);
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "this card already holds VSC {}: it was issued to E-1 Émile Nguyễn-Müller 🙂 田中 on 2026-12-01. Set a new PIN?",
            vsc.uid
        )),
        "{stderr}"
    );
    assert!(stderr.contains("add --new-pin"), "{stderr}");
    assert!(!mailer2.exists(), "no PIN mailer when no PIN was set");
    assert_eq!(
        verify_pin(0, &first_pin),
        [0x90, 0x00],
        "the holder's PIN still works"
    );

    // Confirmed: re-verified, and a replacement PIN replaces the first one.
    let output = personalize_new_pin(vsc, &reader, &mailer2);
    let stdout = ok(&output);
    let (_, stderr) = texts(&output);
    assert!(stderr.contains("replacement PIN"), "{stderr}");
    let mailer_html = std::fs::read_to_string(&mailer2).unwrap();
    assert!(
        mailer_html.contains("<h1>Your new card PIN</h1>"),
        "{mailer_html}"
    );
    assert!(mailer_html.contains("This PIN replaces the PIN your card had until now"));
    assert!(stdout.trim_end().ends_with(": verified"), "{stdout}");
    assert!(
        stderr.contains("Setting a new PIN with the reset code"),
        "{stderr}"
    );
    let second_pin = pin_of(&mailer2);
    assert_ne!(first_pin, second_pin);
    assert_eq!(
        verify_pin(0, &second_pin),
        [0x90, 0x00],
        "the new PIN works"
    );
    assert_eq!(
        verify_pin(0, &first_pin)[0],
        0x63,
        "the first PIN no longer works"
    );
    assert_eq!(
        verify_pin(0, &second_pin),
        [0x90, 0x00],
        "and resets the retry counter"
    );

    // Another VSC on that card is refused, naming the VSC the card holds.
    let other = &batch.vscs[1];
    let output = personalize(other, &reader, &batch.dir.path().join("mailer-3.html"));
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("this card already holds VSC {}", vsc.uid)),
        "{stderr}"
    );
    assert!(!batch.dir.path().join("mailer-3.html").exists());
    assert_public_area_on_card(0, vsc);
}

#[test]
fn a_card_pulled_mid_run_is_finished_by_the_next_run() {
    let batch = build_batch(GOOD_CSV);
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let vsc = &batch.vscs[0];
    // How many APDUs a first run of this VSC takes, on a blank card of its own.
    let total = {
        let mut card = stack.softcard(0, SoftcardOptions::new());
        let stdout = ok(&personalize(
            vsc,
            &reader,
            &batch.dir.path().join("count.html"),
        ));
        card.kill();
        let count = stdout
            .split(" APDUs")
            .next()
            .and_then(|t| t.rsplit('(').next());
        count
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no count: {stdout}"))
    };
    assert!(total > 20, "{total} APDUs");
    // Tear after APDU k (0-based) for k spread over the whole run, from the first SELECT to the
    // final VERIFY of the new PIN.
    let mut ks: Vec<u64> = (0..=6).map(|i| i * (total - 1) / 6).collect();
    ks.dedup();
    for k in ks {
        let state = batch.dir.path().join(format!("card-{k}.json"));
        let mailer = batch.dir.path().join(format!("mailer-{k}.html"));
        let mut torn = stack.softcard(
            0,
            SoftcardOptions {
                state_file: Some(state.clone()),
                tear_after: Some(k),
                ..SoftcardOptions::new()
            },
        );
        let output = personalize(vsc, &reader, &mailer);
        let (stdout, stderr) = texts(&output);
        assert!(
            !output.status.success(),
            "k={k}: a torn run must fail:\n{stdout}{stderr}"
        );
        assert!(!stdout.contains("verified"), "k={k}: {stdout}");
        assert!(!mailer.exists(), "k={k}: no PIN mailer for a failed run");
        assert_eq!(
            torn.wait_exit(Duration::from_secs(10)),
            Some(3),
            "k={k}: the card tore; vsc said:\n{stdout}{stderr}\nsoftcard said:\n{}",
            torn.log_text()
        );
        torn.kill();

        let mut card = stack.softcard(
            0,
            SoftcardOptions {
                state_file: Some(state.clone()),
                ..SoftcardOptions::new()
            },
        );
        // A tear after activation leaves the card holding this VSC: finishing it sets the PIN
        // through the reset code, which the clerk confirms (--new-pin).
        let output = personalize_new_pin(vsc, &reader, &mailer);
        let stdout = ok(&output);
        assert!(stdout.trim_end().ends_with(": verified"), "k={k}: {stdout}");
        assert_public_area_on_card(0, vsc);
        assert_eq!(verify_pin(0, &pin_of(&mailer)), [0x90, 0x00], "k={k}");
        // Waits until pcscd has seen the card go, so the next card is not mistaken for it.
        card.kill();
    }
}

#[test]
fn readers_lists_the_vpcd_readers_with_card_presence() {
    let stack = PcscStack::start();
    let _card = stack.softcard(0, SoftcardOptions::new());
    let out = ok(&run(&["readers"]));
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{out}"))
            .to_owned()
    };
    assert!(
        line(&stack.reader_name(0)).contains("\tcard present (ATR 3B 8A 80 01"),
        "{out}"
    );
    assert!(line(&stack.reader_name(1)).ends_with("\tno card"), "{out}");
}

#[test]
fn personalize_refuses_bad_readers_and_a_pin_with_nowhere_to_go() {
    let batch = build_batch(GOOD_CSV);
    let stack = PcscStack::start();
    let vsc = &batch.vscs[0];
    // No --pin-mailer and no terminal: refused before the card is touched.
    let output = run(&[
        "personalize",
        s(&vsc.file),
        "--password-file",
        s(&vsc.password_file),
        "--reader",
        &stack.reader_name(0),
    ]);
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--pin-mailer"), "{stderr}");

    let mailer = batch.dir.path().join("m.html");
    let output = personalize(vsc, "No Such Reader", &mailer);
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("no reader named \"No Such Reader\"") && stderr.contains("vsc readers"),
        "{stderr}"
    );

    let output = personalize(vsc, &stack.reader_name(1), &mailer);
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("no card in reader"), "{stderr}");
}

#[test]
fn scriptor_runs_the_script_on_a_blank_card() {
    let batch = build_batch(GOOD_CSV);
    let vsc = &batch.vscs[0];
    let script = batch.dir.path().join("perso.script");
    let mailer = batch.dir.path().join("script-mailer.html");
    ok(&run(&[
        "script",
        s(&vsc.file),
        "--password-file",
        s(&vsc.password_file),
        "--out",
        s(&script),
        "--pin-mailer",
        s(&mailer),
    ]));
    let commands = std::fs::read_to_string(&script)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#') && *l != "reset")
        .count();

    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let _card = stack.softcard(0, SoftcardOptions::new());
    let output = Command::new("scriptor")
        .args(["-r", &reader, "-p", "T=1", s(&script)])
        .output()
        .expect("run scriptor (pcsc-tools)");
    let (stdout, stderr) = texts(&output);
    assert!(
        output.status.success(),
        "scriptor failed:\n{stdout}{stderr}"
    );
    // scriptor prints each response as `< XX XX ...` over one or more lines, the last one
    // ending with `SW1 SW2 : meaning`.
    let mut responses = Vec::new();
    let mut current: Option<String> = None;
    for line in stdout.lines() {
        if line.starts_with("< ") && !line.starts_with("< OK: ") {
            current = Some(String::new());
        }
        if let Some(text) = current.as_mut() {
            text.push_str(line.trim_start_matches("< ").trim_end());
            text.push(' ');
            if line.contains(" : ") {
                responses.extend(current.take());
            }
        }
    }
    assert_eq!(
        responses.len(),
        commands,
        "one response per APDU:\n{stdout}"
    );
    for response in &responses {
        let bytes = response.split(" : ").next().unwrap();
        assert!(
            bytes.ends_with("90 00"),
            "every APDU answers 9000: {response}\n{stdout}"
        );
    }
    assert_public_area_on_card(0, vsc);
    let pin = pin_of(&mailer);
    assert_eq!(
        verify_pin(0, &pin),
        [0x90, 0x00],
        "the script set the mailer's PIN"
    );

    // The product recognizes the card as personalized by this VSC and verifies all of it.
    let output = personalize_new_pin(vsc, &reader, &batch.dir.path().join("after-script.html"));
    assert!(ok(&output).trim_end().ends_with(": verified"));
}
