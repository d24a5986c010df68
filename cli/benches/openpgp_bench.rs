//! OpenPGP card benchmarks (run with `cargo bench -p vsc-cli --bench openpgp_bench`; set
//! `VSC_BENCH_QUICK=1` for the short run the test command uses). They print figures and
//! ratios and assert nothing about time:
//!
//! 1. APDUs a full personalization of an `openpgp-card` VSC sends to the opcard peer through
//!    pcscd, against the minimum defined below (goal <= 1.05), for a holder with every field
//!    and one with only the required ones.
//! 2. The time of a whole `vsc personalize` (process start to verified) through pcscd against
//!    the opcard peer, beside the same for the ISO softcard in the same run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vsc_core::profile::{DataArea, Profile};
use vsc_core::vsc::Vsc;
use vsc_tests::{opensc_apdus, OpcardOptions, PcscStack, SoftcardOptions};

/// A holder with every field of the openpgp-card profile, and one with the required ones.
const OPENPGP_CSV: &str = "\
holder_name,holder_id,language,sex,url,expiry_date,email,date_of_birth
Jane Doe,jdoe,ende,2,https://keys.example.org/jdoe.asc,2031-12-31,jane@example.org,1985-07-14
John Roe,jroe,,,,2030-01-01,,
";
const ISO_CSV: &str = "holder_name,holder_id,expiry_date\nJane Doe,J-1,2031-12-31\n";

/// SELECT of the OpenPGP application and GET DATA of its application related data (DO 6E).
const SELECT: &str = "00A4040006D27600012401";
const GET_APPLICATION_DATA: &str = "00CA006E00";

/// The tags of the standard data objects inside the cardholder related data (DO 65), which
/// the read-back gets in one GET DATA.
const IN_CARDHOLDER_DATA: [&[u8]; 3] = [&[0x5B], &[0x5F, 0x2D], &[0x5F, 0x35]];

/// One built VSC.
struct Built {
    file: PathBuf,
    password_file: PathBuf,
    vsc: Vsc,
}

fn main() {
    let quick = std::env::var_os("VSC_BENCH_QUICK").is_some_and(|v| v != "0");
    let runs = if quick { 3 } else { 15 };
    println!(
        "OpenPGP card benchmarks ({} run, {runs} personalizations per card type; \
         VSC_BENCH_QUICK=1 for the quick one)",
        if quick { "quick" } else { "full" }
    );
    let work = tempfile::tempdir().expect("temporary directory");
    let openpgp = build(work.path(), "openpgp-card", OPENPGP_CSV);
    let iso = build(work.path(), "iso7816-generic", ISO_CSV);
    let stack = PcscStack::start();
    let reader = stack.reader_name(0);

    // The application related data's length on a factory-new card (what the probe reads).
    let blank_application_data_len = {
        let _card = stack.opcard(0, OpcardOptions::new());
        application_data_len()
    };

    for (name, built) in [
        ("every field", &openpgp[0]),
        ("required fields", &openpgp[1]),
    ] {
        let card = stack.opcard(0, OpcardOptions::new());
        let (_, sent) = personalize(built, &reader, work.path());
        // Its length once personalized (what the read-back reads): keys make it longer.
        let personalized_len = application_data_len();
        drop(card);
        let minimum = minimum_apdus(&built.vsc, blank_application_data_len, personalized_len);
        println!(
            "bench: OpenPGP personalization APDUs, holder with {name}: {sent} sent, minimum \
             {minimum}"
        );
        println!(
            "ratio APDUs sent / minimum, OpenPGP card, holder with {name}: {:.3} (goal <= 1.05)",
            sent as f64 / minimum as f64
        );
    }

    let mut opcard_times = Vec::new();
    let mut softcard_times = Vec::new();
    for _ in 0..runs {
        let card = stack.opcard(0, OpcardOptions::new());
        opcard_times.push(personalize(&openpgp[0], &reader, work.path()).0);
        drop(card);
        let card = stack.softcard(0, SoftcardOptions::new());
        softcard_times.push(personalize(&iso[0], &reader, work.path()).0);
        drop(card);
    }
    let (opcard, softcard) = (median(&mut opcard_times), median(&mut softcard_times));
    println!(
        "bench: `vsc personalize` through pcscd, median of {runs} (process start to verified): \
         OpenPGP VSC onto the opcard peer {:.0} ms; ISO VSC onto the softcard {:.0} ms",
        millis(opcard),
        millis(softcard)
    );
    println!(
        "ratio personalization time opcard / softcard: {:.1}",
        millis(opcard) / millis(softcard).max(1e-3)
    );
}

/// The length of the application related data (DO 6E) of the card in reader 0, read with
/// the SELECT and GET DATA an OpenPGP client sends.
fn application_data_len() -> usize {
    let responses = opensc_apdus(0, &[SELECT, GET_APPLICATION_DATA]);
    // The first response and its status word: 61xx says xx more bytes wait for a GET
    // RESPONSE.
    let answer = &responses[1];
    let (data, sw) = answer.split_at(answer.len() - 2);
    data.len() + if sw[0] == 0x61 { usize::from(sw[1]) } else { 0 }
}

/// `vsc build --profile PROFILE` of `csv`; the VSCs in CSV order.
fn build(dir: &Path, profile: &str, csv: &str) -> Vec<Built> {
    let out = dir.join(profile);
    let csv_path = dir.join(format!("{profile}.csv"));
    std::fs::write(&csv_path, csv).expect("write the CSV");
    let output = vsc()
        .args(["build", "--profile", profile, "--csv"])
        .arg(&csv_path)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run vsc build");
    assert!(
        output.status.success(),
        "vsc build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sheet = std::fs::read_to_string(out.join("passwords.csv")).expect("passwords.csv");
    sheet
        .lines()
        .skip(1)
        .enumerate()
        .map(|(i, line)| {
            // file,uid,password,holder (vsc_core::batch).
            let cells: Vec<&str> = line.splitn(4, ',').collect();
            let file = out.join(cells[0]);
            let password_file = out.join(format!("password-{i}"));
            std::fs::write(&password_file, cells[2]).expect("password file");
            let vsc = Vsc::open(&std::fs::read(&file).expect("the VSC"), cells[2])
                .expect("the VSC opens");
            Built {
                file,
                password_file,
                vsc,
            }
        })
        .collect()
}

/// The `vsc` binary, checking dates against the tests' fixed day.
fn vsc() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vsc"));
    command.env("SOURCE_DATE_EPOCH", "1796126400");
    command
}

/// One `vsc personalize` onto the card in `reader`: its wall time and the APDUs it reported.
fn personalize(built: &Built, reader: &str, dir: &Path) -> (Duration, usize) {
    common::personalize(
        &built.file,
        &built.password_file,
        reader,
        &dir.join("bench-mailer.html"),
    )
}

/// The fewest APDUs that personalize a blank OpenPGP card with `vsc` under the method's
/// rules (the card names the VSC before anything else is written, everything written is read
/// back, the holder's PIN is set last), one command per object:
///
/// - probe: SELECT; GET DATA of the application related data (6E), the cardholder related
///   data (65) and private use DO 0102;
/// - write: VERIFY PW3; DO 0102 (the UUID, running); each standard DO that has a value;
///   VERIFY PW1 (82) and DOs 0101 and 0103 when they have content; per key its algorithm
///   attributes, the key import, its fingerprint and its date; the resetting code;
/// - activate: CHANGE REFERENCE DATA of PW3, VERIFY PW3 with its new value (the
///   specification does not say a change leaves PW3 verified), DO 0102 (activated);
/// - read-back: VERIFY PW1 (82) when 0103 has content; 6E, 65 and 0102; each standard DO
///   outside 65 that has a value; 0101 and 0103 when they have content; each public key
///   (GENERATE ASYMMETRIC KEY PAIR, P1 81);
/// - PIN: VERIFY PW3 (the PIN step may come in a later card session than the activation);
///   RESET RETRY COUNTER of PW1 with PW3 verified; VERIFY of the new PIN;
///
/// and a GET RESPONSE for each reading of 6E whose length exceeds the profile's response
/// ceiling (in the probe the card's limits are not known yet; the read-back keeps to the
/// profile's ceiling, which is a property of the reader path). The probe reads a blank
/// card's 6E, the read-back a personalized one's, longer by the keys' attributes.
fn minimum_apdus(vsc: &Vsc, blank_application_len: usize, personalized_len: usize) -> usize {
    let profile: &Profile = vsc.profile();
    let max_read = profile.card.max_response_data.max(1);
    let standard_set: Vec<&[u8]> = profile
        .fields_in(DataArea::Public)
        .filter(|field| is_standard(&field.tag))
        .filter(|field| {
            vsc.public_value(&field.name)
                .is_some_and(|value| !value.is_empty())
        })
        .map(|field| field.tag.as_slice())
        .collect();
    let public_rest = profile
        .fields_in(DataArea::Public)
        .any(|field| !is_standard(&field.tag) && vsc.public_value(&field.name).is_some());
    let private_rest = !vsc.private_area().is_empty();
    let containers = usize::from(public_rest) + usize::from(private_rest);
    let keys = vsc.key_objects().len();
    let reads = |len: usize| len.div_ceil(max_read).max(1);

    let probe = 1 + reads(blank_application_len) + 2;
    let write =
        1 + 1 + standard_set.len() + usize::from(containers > 0) + containers + 4 * keys + 1;
    let activate = 3;
    let outside_65 = standard_set
        .iter()
        .filter(|tag| !IN_CARDHOLDER_DATA.contains(tag))
        .count();
    // VERIFY PW1 only to read DO 0103.
    let read_back =
        usize::from(private_rest) + reads(personalized_len) + 2 + outside_65 + containers + keys;
    // VERIFY PW3, RESET RETRY COUNTER, VERIFY of the new PIN.
    let pin = 3;
    probe + write + activate + read_back + pin
}

/// A tag of one of the card's own data objects the profile may map a field to.
fn is_standard(tag: &[u8]) -> bool {
    matches!(
        tag,
        [0x5B] | [0x5E] | [0x5F, 0x2D] | [0x5F, 0x35] | [0x5F, 0x50]
    )
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
