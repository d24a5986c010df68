//! Core benchmarks of the `vsc` command (run with `cargo bench -p vsc-cli`; set
//! `VSC_BENCH_QUICK=1` for the short run the test command uses). They print figures and
//! ratios and assert nothing about time:
//!
//! 1. Build + seal in-process on one core (VSCs per second, goal >= 10,000/s), and the whole
//!    `vsc build` command on a CSV of the same size, files written and flushed.
//! 2. APDUs a full personalization sends (counted over the in-process softcard) against the
//!    theoretical minimum for the data (goal <= 1.05), for a typical and a largest holder.
//! 3. Time per APDU through pcscd + vpcd + `softcard --vpcd` against the in-process softcard
//!    (the stack's overhead), and a whole `vsc personalize` through the stack.

mod common;

use std::ffi::CString;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand_core::OsRng;
use vsc_core::holder::HolderData;
use vsc_core::perso::{self, Personalization};
use vsc_core::profile::{Access, Profile};
use vsc_core::transport::{Transport, TransportError};
use vsc_core::vsc::Vsc;
use vsc_pcsc::pcsc::{Context, Protocols, Scope, ShareMode};
use vsc_tests::{PcscStack, SoftcardOptions};

/// SELECT MF by FID, no response data (ISO 7816-4 §11.2.2): the cheapest real command.
const SELECT_MF: [u8; 7] = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00];

/// Sizes of one run.
struct Sizes {
    build_rows: usize,
    stack_apdus: usize,
    in_process_apdus: usize,
}

fn main() {
    let quick = std::env::var_os("VSC_BENCH_QUICK").is_some_and(|v| v != "0");
    let sizes = if quick {
        Sizes {
            build_rows: 1_000,
            stack_apdus: 200,
            in_process_apdus: 20_000,
        }
    } else {
        Sizes {
            build_rows: 10_000,
            stack_apdus: 2_000,
            in_process_apdus: 200_000,
        }
    };
    println!(
        "core benchmarks ({} run; VSC_BENCH_QUICK=1 for the quick one)",
        if quick { "quick" } else { "full" }
    );
    let profile = Profile::builtin("iso7816-generic").expect("built-in profile");
    let work = tempfile::tempdir().expect("temporary directory");

    build_in_process(&profile, sizes.build_rows);
    let out = build_command(work.path(), sizes.build_rows);
    apdus_against_minimum(&profile);
    stack_overhead(&sizes, &out);
}

/// `rows` holders in CSV, with accented and CJK names.
fn csv_text(rows: usize) -> String {
    let mut text =
        String::from("holder_name,holder_id,issuer_name,expiry_date,email,date_of_birth,address\n");
    for i in 0..rows {
        let _ = writeln!(
            text,
            "Émile Nguyễn-Müller {i} 田中,ID-{i:06},Banque Étoile,2031-12-31,holder{i}@example.org,1980-02-29,\"{i} rue de l'Église, 75001 Paris\""
        );
    }
    text
}

/// The holders of a UTF-8 CSV text, as `vsc build` reads them (dates checked against the
/// tests' fixed day).
fn parse_csv(
    profile: &Profile,
    text: &str,
) -> Result<Vec<HolderData>, vsc_core::holder_csv::CsvError> {
    let options = vsc_core::holder_csv::CsvOptions {
        encoding: vsc_core::text_encoding::TextEncoding::Utf8,
        today: vsc_tests::test_day(),
    };
    vsc_core::holder_csv::read(profile, text.as_bytes(), &options).map(|rows| rows.into_holders())
}

fn build_in_process(profile: &Profile, rows: usize) {
    let text = csv_text(rows);
    let started = Instant::now();
    let holders = parse_csv(profile, &text).expect("valid CSV");
    let parse = started.elapsed();
    let started = Instant::now();
    let mut bytes = 0usize;
    for holder in &holders {
        let sealed = Vsc::build_sealed(profile, holder, vsc_tests::test_built_at_ms(), &mut OsRng)
            .expect("build");
        bytes += sealed.bytes.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = rows as f64 / seconds;
    println!(
        "bench: build+seal in-process, 1 core: {rows} VSCs in {seconds:.3} s = {rate:.0} VSCs/s \
         ({:.1} us each, {} bytes each; goal >= 10000/s); CSV parse+validate {:.0} rows/s",
        seconds * 1e6 / rows as f64,
        bytes / rows.max(1),
        rows as f64 / parse.as_secs_f64()
    );
    println!(
        "ratio build+seal rate / goal (10000/s): {:.2}",
        rate / 10_000.0
    );
}

/// Runs the `vsc build` command on a `rows`-row CSV; returns its output directory.
fn build_command(dir: &Path, rows: usize) -> std::path::PathBuf {
    let csv = dir.join("holders.csv");
    std::fs::write(&csv, csv_text(rows)).expect("write CSV");
    let out = dir.join("out");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_vsc"))
        .args(["build", "--profile", "iso7816-generic", "--csv"])
        .arg(&csv)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run vsc build");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "vsc build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "bench: `vsc build` command, {rows}-row CSV, {cores} core(s), {rows} files written and \
         flushed: {seconds:.2} s = {:.0} VSCs/s (process start to exit)",
        rows as f64 / seconds
    );
    out
}

/// A transport over the in-process softcard that counts APDUs.
struct Counting {
    card: softcard::Card,
    apdus: usize,
}

impl Transport for Counting {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.apdus += 1;
        Ok(self.card.transmit(apdu))
    }
}

/// The fewest APDUs that can personalize and verify `vsc` on a blank generic card:
///
/// - structural: 2 probe (SELECT of the MF, which tells this card OS from another card
///   type, then of the application, answered 6A82 on a blank card), SELECT of the DF before
///   it is activated, CREATE FILE of the DF and of each of the 4 EFs, ACTIVATE FILE of each EF
///   and of the DF, and one SELECT per EF read back;
/// - writes: ceil(area bytes / max command data) UPDATE BINARY per area;
/// - reads: ceil(readable bytes / max response data) READ BINARY per readable area;
/// - PIN: set the card password and the reset code, VERIFY the card password (for the
///   private area), CHANGE REFERENCE DATA to the new PIN and VERIFY it.
fn minimum_apdus(profile: &Profile, vsc: &Vsc) -> usize {
    let max_write = profile.card.max_command_data.max(1);
    let max_read = profile.card.max_response_data.max(1);
    let fs = profile
        .file_system()
        .expect("the generic profile is a file-system card");
    let areas = [
        (fs.uid.read, vsc.uid_area().len()),
        (fs.public.read, vsc.public_area().len()),
        (fs.private.read, vsc.private_area().len()),
        (fs.keys.read, vsc.keys_area().len()),
    ];
    let readable: Vec<usize> = areas
        .iter()
        .filter(|(read, len)| *read != Access::Never && *len > 0)
        .map(|(_, len)| *len)
        .collect();
    let structural = 2 + 1 + 1 + areas.len() + areas.len() + 1 + readable.len();
    let writes: usize = areas.iter().map(|(_, len)| len.div_ceil(max_write)).sum();
    let reads: usize = readable.iter().map(|len| len.div_ceil(max_read)).sum();
    let pin = 2 + 1 + 2;
    structural + writes + reads + pin
}

fn largest_holder(profile: &Profile) -> HolderData {
    let fill = |n: usize| "🙂".repeat(n);
    let email = format!("{}@example.org", "a".repeat(128 - "@example.org".len()));
    let csv = format!(
        "holder_name,holder_id,issuer_name,expiry_date,email,date_of_birth,address\n\
         {},{},{},2031-12-31,{email},1980-02-29,{}\n",
        fill(64),
        fill(32),
        fill(64),
        fill(200)
    );
    parse_csv(profile, &csv)
        .expect("the largest holder is valid")
        .remove(0)
}

fn apdus_against_minimum(profile: &Profile) {
    let typical = parse_csv(profile, &csv_text(1)).expect("valid").remove(0);
    for (name, holder) in [
        ("typical holder", typical),
        ("largest holder", largest_holder(profile)),
    ] {
        let (vsc, _) =
            Vsc::build(profile, &holder, vsc_tests::test_built_at_ms(), &mut OsRng).expect("build");
        let minimum = minimum_apdus(profile, &vsc);
        let data = vsc.public_area().len() + vsc.private_area().len() + vsc.keys_area().len() + 16;
        let mut transport = Counting {
            card: softcard::Card::blank(),
            apdus: 0,
        };
        let engine = Personalization::new(vsc, &mut OsRng);
        let outcome = perso::run(engine, &mut transport, |_| {}, |_| true).expect("personalized");
        assert_eq!(
            outcome.apdus, transport.apdus,
            "the engine counts what it sends"
        );
        println!(
            "bench: personalization APDUs, {name} ({data} area bytes): {} sent, theoretical \
             minimum {minimum}",
            transport.apdus
        );
        println!(
            "ratio APDUs sent / minimum, {name}: {:.3} (goal <= 1.05)",
            transport.apdus as f64 / minimum as f64
        );
    }
}

/// Per-APDU time through the real stack against the in-process card, and one whole
/// `vsc personalize` through the stack with a VSC from `built`.
fn stack_overhead(sizes: &Sizes, built: &Path) {
    let mut card = softcard::Card::blank();
    let started = Instant::now();
    for _ in 0..sizes.in_process_apdus {
        let response = card.transmit(std::hint::black_box(&SELECT_MF));
        assert_eq!(response, [0x90, 0x00]);
    }
    let in_process = started.elapsed() / sizes.in_process_apdus as u32;

    let stack = PcscStack::start();
    let reader = stack.reader_name(0);
    let mut softcard = stack.softcard(0, SoftcardOptions::new());
    let context = Context::establish(Scope::User).expect("pcscd answers");
    let name = CString::new(reader.clone()).expect("reader name");
    let card = context
        .connect(&name, ShareMode::Exclusive, Protocols::ANY)
        .expect("connect to the softcard");
    let mut buffer = [0u8; 258];
    for _ in 0..20 {
        card.transmit(&SELECT_MF, &mut buffer).expect("warm-up");
    }
    let started = Instant::now();
    for _ in 0..sizes.stack_apdus {
        let response = card.transmit(&SELECT_MF, &mut buffer).expect("transmit");
        assert_eq!(response, [0x90, 0x00]);
    }
    let through_stack = started.elapsed() / sizes.stack_apdus as u32;
    drop(card);
    println!(
        "bench: per-APDU time through pcscd+vpcd+softcard: {:.1} us ({} SELECTs, pcsc crate \
         transmit loop)",
        micros(through_stack),
        sizes.stack_apdus
    );
    println!(
        "bench: per-APDU time, in-process softcard: {:.2} us ({} SELECTs)",
        micros(in_process),
        sizes.in_process_apdus
    );
    println!(
        "ratio per-APDU time stack / in-process: {:.0}",
        micros(through_stack) / micros(in_process).max(1e-6)
    );

    // One whole personalization through the stack with the first VSC of the build.
    let passwords = std::fs::read_to_string(built.join("passwords.csv")).expect("passwords.csv");
    // file,uid,password,holder (vsc_core::batch).
    let row: Vec<&str> = passwords
        .lines()
        .nth(1)
        .expect("a VSC in passwords.csv")
        .splitn(4, ',')
        .collect();
    let (file, password) = (row[0], row[2]);
    let password_file = built.join("bench-password");
    std::fs::write(&password_file, password).expect("password file");
    let (elapsed, apdus) = common::personalize(
        &built.join(file),
        &password_file,
        &reader,
        &built.join("bench-mailer.html"),
    );
    println!(
        "bench: `vsc personalize` through pcscd+vpcd+softcard: {:.0} ms for {apdus} APDUs \
         (process start to verified)",
        elapsed.as_secs_f64() * 1e3
    );
    softcard.kill();
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
