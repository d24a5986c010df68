//! Chaos cards: thousands of seeded personalizations through a reader that garbles, cuts, pads
//! and loses responses, answers `61xx`/`6Cxx` without end and resets the card at random points
//! (`softcard::ChaosCard`). Whatever happens, the engine never panics, never reports success
//! unless the card (looked at directly, not through the engine) holds the VSC and the PIN it
//! reports, and the next run over an honest reader finishes cleanly.
//!
//! `VSC_CHAOS_RUNS=N` changes the number of seeds (default 5000); `VSC_CHAOS_SEED=S` replays
//! one seed and prints every fault it injects.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};
use rand_core::OsRng;
use softcard::{Card, ChaosCard, Fault};
use vsc_core::date::Date;
use vsc_core::holder;
use vsc_core::perso::{self, PersoError, Personalization};
use vsc_core::pin::Pin;
use vsc_core::profile::Profile;
use vsc_core::transport::{Transport, TransportError};
use vsc_core::vsc::Vsc;

/// When the test VSCs are built (their UIDs' time, milliseconds since the Unix epoch): any
/// time will do.
const BUILT_AT_MS: u64 = 1_796_083_200_000;

/// Seeds run by default: a few seconds.
const DEFAULT_RUNS: u64 = 5000;
/// More APDUs than any run may take, faults included: the engine gives up long before.
const APDU_LIMIT: usize = 5000;

/// The faulty reader: draws each exchange's fault from a seeded generator.
struct Chaos<'a> {
    card: &'a mut ChaosCard,
    rng: TestRng,
    /// Chance of a fault on each exchange.
    rate: f64,
    /// Exchanges still to answer with `61xx`/`6Cxx` without reaching the card.
    endless: usize,
    endless_sw: u16,
    apdus: usize,
    faults: usize,
    trace: Option<Vec<String>>,
}

impl Chaos<'_> {
    fn next_fault(&mut self) -> Fault {
        if self.endless > 0 {
            self.endless -= 1;
            return Fault::NotSent {
                sw: self.endless_sw,
            };
        }
        if !self.rng.random_bool(self.rate) {
            return Fault::None;
        }
        let rng = &mut self.rng;
        match rng.random_range(0..8) {
            0 => Fault::NotSent {
                sw: rng.random_range(0..=u16::MAX),
            },
            1 => Fault::SwReplaced {
                sw: rng.random_range(0..=u16::MAX),
            },
            2 => Fault::Truncated {
                len: rng.random_range(0..40),
            },
            3 => Fault::Oversized {
                extra: (0..rng.random_range(1..300))
                    .map(|_| rng.random())
                    .collect(),
            },
            4 => Fault::Lost {
                executed: rng.random_bool(0.5),
            },
            5 => Fault::ResetBefore,
            // A stretch of 61xx (GET RESPONSE asked for ever) or 6Cxx (resend asked for ever).
            _ => {
                self.endless = rng.random_range(1..600);
                self.endless_sw =
                    if rng.random_bool(0.5) { 0x6100 } else { 0x6C00 } | rng.random_range(0..=0xFF);
                Fault::NotSent {
                    sw: self.endless_sw,
                }
            }
        }
    }
}

impl Transport for Chaos<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.apdus += 1;
        assert!(
            self.apdus <= APDU_LIMIT,
            "the engine sent more than {APDU_LIMIT} APDUs: it does not give up"
        );
        let fault = self.next_fault();
        if fault != Fault::None {
            self.faults += 1;
        }
        if let Some(trace) = &mut self.trace {
            trace.push(format!(
                "APDU {} {:02X?}: {fault:?}",
                self.apdus,
                &apdu[..4]
            ));
        }
        self.card
            .transmit(apdu, &fault)
            .map_err(|e| TransportError::Failed(e.to_string()))
    }
}

struct Honest<'a>(&'a mut Card);

impl Transport for Honest<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.0.transmit(apdu))
    }
}

fn vsc() -> Vsc {
    let profile = Profile::builtin("iso7816-generic").unwrap();
    let mut values = BTreeMap::new();
    for (column, value) in [
        ("holder_name", "Chaos Ç. Card 混沌"),
        ("holder_id", "CH-0001"),
        ("expiry_date", "2031-12-31"),
        ("email", "chaos@example.org"),
        ("date_of_birth", "1980-01-31"),
        ("address", &"Rue du Désordre 7, 1000 Bruxelles; ".repeat(5)),
    ] {
        values.insert(column.to_owned(), value.to_owned());
    }
    let today = Date::from_ymd(2026, 12, 1).unwrap();
    let holder = holder::validate_record(&profile, &values, today).unwrap();
    Vsc::build(&profile, &holder, BUILT_AT_MS, &mut OsRng)
        .unwrap()
        .0
}

/// Whether `card`, looked at directly, holds `vsc` activated with `pin` as its holder PIN.
fn card_holds(card: &Card, vsc: &Vsc, pin: &Pin) -> Result<(), String> {
    let p = vsc.profile().file_system().expect("a file-system profile");
    let aid = &p.df.aid;
    if card.life_cycle(aid, None) != Some(0x05) {
        return Err("the application is not activated".into());
    }
    for (ef, content) in [
        (&p.uid, vsc.uid_area().to_vec()),
        (&p.public, vsc.public_area().to_vec()),
        (&p.private, vsc.private_area().expose().to_vec()),
        (&p.keys, vsc.keys_area().expose().to_vec()),
    ] {
        let on_card = card
            .file_content(aid, ef.fid)
            .ok_or(format!("EF {:04X} is missing", ef.fid))?;
        if on_card.get(..content.len()) != Some(&content[..]) {
            return Err(format!("EF {:04X} does not hold its area", ef.fid));
        }
        if card.life_cycle(aid, Some(ef.fid)) != Some(0x05) {
            return Err(format!("EF {:04X} is not activated", ef.fid));
        }
    }
    if !card.credential_matches(aid, p.pin.reference, pin.expose().as_bytes()) {
        return Err("the holder PIN is not the one reported".into());
    }
    if !card.credential_matches(aid, p.reset.reference, vsc.reset_code().expose()) {
        return Err("the reset code is not the VSC's".into());
    }
    Ok(())
}

/// What a chaos run ended with, for the figures.
fn kind(result: &Result<vsc_core::perso::Outcome, PersoError>) -> &'static str {
    match result {
        Ok(_) => "verified",
        Err(PersoError::Transport { .. }) => "transport error",
        Err(PersoError::Refused { .. }) => "refused by the card",
        Err(PersoError::Mismatch(_)) => "read-back mismatch",
        Err(PersoError::UnusableCard { .. }) => "unusable card",
        Err(PersoError::ForeignCard { .. }) => "foreign card",
        Err(PersoError::NewPinDeclined { .. }) => "new PIN declined",
        Err(PersoError::WrongCardType { .. }) => "wrong card type",
        Err(PersoError::Driver(_)) => "driver error",
        Err(_) => "other error",
    }
}

#[derive(Default)]
struct Tally {
    runs: usize,
    apdus: usize,
    faults: usize,
    outcomes: HashMap<&'static str, usize>,
    falsely_verified: usize,
    recovered: usize,
}

/// One seed: one or two chaos runs on a blank card, then an honest run on the same card.
fn run_seed(vsc: &Vsc, seed: u64, trace: bool, tally: &mut Tally) {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let rate = [0.01, 0.05, 0.2, 0.5][rng.random_range(0..4)];
    let chaos_runs = if seed % 4 == 0 { 2 } else { 1 };
    let mut chaos = ChaosCard::new(Card::blank());
    for run in 0..chaos_runs {
        let pin = Pin::from_digits(&format!("{:06}", rng.random_range(0..1_000_000))).unwrap();
        let mut transport = Chaos {
            card: &mut chaos,
            rng: TestRng::from_seed(RngAlgorithm::ChaCha, &rng.random::<[u8; 32]>()),
            rate,
            endless: 0,
            endless_sw: 0,
            apdus: 0,
            faults: 0,
            trace: trace.then(Vec::new),
        };
        let engine = Personalization::with_pin(vsc.clone(), pin.clone());
        let result = perso::run(engine, &mut transport, |_| {}, |_| true);
        if let Some(lines) = &transport.trace {
            println!("seed {seed}, chaos run {run}:\n  {}", lines.join("\n  "));
            println!("  -> {result:?}");
        }
        tally.runs += 1;
        tally.apdus += transport.apdus;
        tally.faults += transport.faults;
        *tally.outcomes.entry(kind(&result)).or_default() += 1;
        match &result {
            Ok(outcome) => {
                if let Err(why) = card_holds(chaos.card(), vsc, &outcome.pin) {
                    tally.falsely_verified += 1;
                    panic!("seed {seed} run {run}: the engine reported success but {why} (replay: VSC_CHAOS_SEED={seed})");
                }
            }
            Err(PersoError::Driver(message)) => {
                panic!("seed {seed} run {run}: the engine broke its own contract: {message} (replay: VSC_CHAOS_SEED={seed})")
            }
            Err(error) => assert!(
                !error.to_string().is_empty(),
                "seed {seed}: an error without a reason"
            ),
        }
    }
    let mut card = chaos.into_card();
    let engine = Personalization::new(vsc.clone(), &mut OsRng);
    let outcome = perso::run(engine, &mut Honest(&mut card), |_| {}, |_| true)
        .unwrap_or_else(|e| {
            panic!("seed {seed}: the honest run after chaos failed: {e} (replay: VSC_CHAOS_SEED={seed})")
        });
    card_holds(&card, vsc, &outcome.pin)
        .unwrap_or_else(|why| panic!("seed {seed}: the honest run reported success but {why}"));
    tally.recovered += 1;
}

#[test]
fn chaos_never_yields_a_false_success_and_an_honest_run_always_recovers() {
    let vsc = vsc();
    let mut tally = Tally::default();
    if let Ok(seed) = std::env::var("VSC_CHAOS_SEED") {
        let seed = seed.parse().expect("VSC_CHAOS_SEED is a number");
        run_seed(&vsc, seed, true, &mut tally);
        return;
    }
    let seeds = std::env::var("VSC_CHAOS_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_RUNS);
    let started = std::time::Instant::now();
    for seed in 0..seeds {
        run_seed(&vsc, seed, false, &mut tally);
    }
    let mut outcomes: Vec<_> = tally.outcomes.iter().collect();
    outcomes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let outcomes: Vec<String> = outcomes.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "chaos: {seeds} seeds, {} chaos runs ({} APDUs, {} faults injected): {}; recovered by the next honest run {}/{seeds}; falsely verified {} (goal 0); {:.1} s",
        tally.runs,
        tally.apdus,
        tally.faults,
        outcomes.join(", "),
        tally.recovered,
        tally.falsely_verified,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(tally.recovered as u64, seeds);
}
