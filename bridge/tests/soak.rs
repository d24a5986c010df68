//! Soak: personalizations in a row through `vsc-bridge` over pcscd, each into a fresh softcard
//! behind a vpcd reader, a third of them pulled at an APDU (`--tear-before`/`--tear-after`, the
//! tear points spread over every APDU of a run) and personalized again once put back. Every
//! card ends verified or refused with a reason; a verified card is checked in its state file,
//! not through the bridge (nothing falsely verified); the bridge's memory and open descriptors
//! are printed before and after and must stay flat.
//!
//! `VSC_SOAK_CARDS=N` sets the number of cards: 300 by default (about 3 minutes: pcscd takes
//! about 0.4 s to notice each card coming and going), 1000 for the full soak of
//! docs/benchmarks.md (about 9 minutes).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use rand_core::OsRng;
use serde_json::{json, Value};
use vsc_core::holder;
use vsc_core::perso::Personalization;
use vsc_core::pin::Pin;
use vsc_core::profile::Profile;
use vsc_core::vsc::Vsc;
use vsc_tests::{PcscStack, SoftcardOptions, SoftcardProcess};

/// Cards personalized by default (scripts/test).
const DEFAULT_CARDS: usize = 300;
/// How much the bridge's resident memory may grow over the whole soak, in KiB.
const RSS_MARGIN_KIB: u64 = 4096;
/// How many more descriptors the bridge may hold after the soak than before it.
const FD_MARGIN: usize = 2;

fn build_vsc(profile: &Profile, i: usize) -> Vsc {
    let mut values = BTreeMap::new();
    let names = [
        "Ada Lovelace",
        "Siobhán O'Brien",
        "田中 太郎",
        "José Álvarez",
        "Zoë Ørsted",
    ];
    values.insert("holder_name".to_owned(), names[i % names.len()].to_owned());
    values.insert("holder_id".to_owned(), format!("S-{i:05}"));
    values.insert("email".to_owned(), format!("holder{i}@example.org"));
    values.insert(
        "address".to_owned(),
        format!("{i} Soak Street, Springfield"),
    );
    let holder = holder::validate_record(profile, &values, vsc_tests::test_day()).unwrap();
    Vsc::build(profile, &holder, vsc_tests::test_built_at_ms(), &mut OsRng)
        .unwrap()
        .0
}

/// Whether the card saved in `state` holds `vsc`, activated, with `pin` as its holder PIN.
fn state_holds(state: &std::path::Path, vsc: &Vsc, pin: &Pin) -> Result<(), String> {
    let card = softcard::state_file::load(state).map_err(|e| e.to_string())?;
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
        let on_card = card.file_content(aid, ef.fid).unwrap_or_default();
        if on_card.get(..content.len()) != Some(&content[..]) {
            return Err(format!("EF {:04X} does not hold its area", ef.fid));
        }
    }
    if !card.credential_matches(aid, p.pin.reference, pin.expose().as_bytes()) {
        return Err("the holder PIN is not the one reported".into());
    }
    Ok(())
}

/// Ends `session` whether or not the bridge already ended it (a pulled card ends it).
fn end_session(client: &mut Client, session: &Value) {
    let reply = client.request("disconnect", json!({"session": session}));
    if reply["ok"] != true {
        assert_eq!(reply["error"]["code"], "unknown_session", "{reply}");
    }
}

#[derive(Default)]
struct Figures {
    verified: usize,
    refused: Vec<String>,
    torn: usize,
    recovered: usize,
    falsely_verified: usize,
}

impl Figures {
    fn add(&mut self, other: Figures) {
        self.verified += other.verified;
        self.refused.extend(other.refused);
        self.torn += other.torn;
        self.recovered += other.recovered;
        self.falsely_verified += other.falsely_verified;
    }
}

/// What every card of a soak shares.
struct Soak<'a> {
    stack: &'a PcscStack,
    profile: Profile,
    dir: std::path::PathBuf,
    /// APDUs of a whole run, to spread the tear points over (0: no tears yet).
    apdus_per_run: usize,
}

impl Soak<'_> {
    /// Card `i` in the reader of `slot`: a fresh softcard, pulled at an APDU for one card in
    /// three (the point moves through every APDU of a run) and then put back and personalized
    /// again. Returns the APDUs its first run took when it was not torn.
    fn card(&self, client: &mut Client, slot: u8, i: usize, figures: &mut Figures) -> usize {
        let reader = self.stack.reader_name(slot);
        let state = self.dir.join(format!("card-{i}.json"));
        let vsc = build_vsc(&self.profile, i);
        let tear_at =
            (i % 3 == 1 && self.apdus_per_run > 0).then(|| (i / 3 * 7) % self.apdus_per_run);
        let mut options = SoftcardOptions::new();
        options.state_file = Some(state.clone());
        match tear_at {
            Some(k) if (i / 3) % 2 == 0 => options.tear_before = Some(k as u64),
            Some(k) => options.tear_after = Some(k as u64),
            None => {}
        }
        let mut card: SoftcardProcess = self.stack.softcard(slot, options);
        let session = client.ok("connect", json!({"reader": reader}))["session"].clone();
        let engine = Personalization::new(vsc.clone(), &mut OsRng);
        let (mut result, _) = personalize(client, &session, engine);
        end_session(client, &session);
        if result.is_err() && tear_at.is_some() {
            assert_eq!(
                card.wait_exit(Duration::from_secs(10)),
                Some(3),
                "card {i}: the run failed ({:?}) but the softcard was not torn",
                result.as_ref().err()
            );
            figures.torn += 1;
            card.kill();
            let mut options = SoftcardOptions::new();
            options.state_file = Some(state.clone());
            card = self.stack.softcard(slot, options);
            let session = connect_when_free(client, &reader);
            let engine = Personalization::new(vsc.clone(), &mut OsRng);
            result = personalize(client, &session, engine).0;
            end_session(client, &session);
            if result.is_ok() {
                figures.recovered += 1;
            }
        }
        card.kill();
        let mut apdus = 0;
        match result {
            Ok(outcome) => {
                if let Err(why) = state_holds(&state, &vsc, &outcome.pin) {
                    figures.falsely_verified += 1;
                    panic!("card {i} was reported verified, but {why}");
                }
                figures.verified += 1;
                apdus = outcome.apdus;
            }
            Err(error) => {
                let reason = error.to_string();
                assert!(!reason.is_empty(), "card {i} refused without a reason");
                figures.refused.push(format!("card {i}: {reason}"));
            }
        }
        let _ = std::fs::remove_file(&state);
        apdus
    }
}

#[test]
fn cards_in_a_row_with_tears_end_verified_or_refused_and_the_bridge_stays_flat() {
    let cards: usize = std::env::var("VSC_SOAK_CARDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CARDS)
        .max(2);
    // State files where fsync is cheap: the softcard saves after every APDU that changes it.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::Builder::new().prefix("vsc-soak-").tempdir_in(shm)
    } else {
        tempfile::Builder::new().prefix("vsc-soak-").tempdir()
    }
    .unwrap();
    let stack = PcscStack::start();
    let bridge = Bridge::start_logging("info", &["--trust-origin", ORIGIN]);
    let hello = |client: &mut Client| {
        assert_eq!(client.ok("hello", json!({"protocol": 1}))["paired"], true);
    };
    let mut soak = Soak {
        stack: &stack,
        profile: Profile::builtin("iso7816-generic").unwrap(),
        dir: dir.path().to_owned(),
        apdus_per_run: 0,
    };
    let mut figures = Figures::default();
    let started = Instant::now();
    // Card 0 alone: it warms the bridge up and measures a run for the tear points.
    let mut client = bridge.connect();
    hello(&mut client);
    soak.apdus_per_run = soak.card(&mut client, 0, 0, &mut figures);
    let (rss_before, fds_before) = rss_and_fds(bridge.child.pid());
    // Then two clerks at once, each with a reader of its own (pcscd notices a card coming or
    // going within about 0.4 s per reader; two readers halve the wait per card).
    let soak = &soak;
    let results: Vec<Figures> = std::thread::scope(|scope| {
        let workers: Vec<_> = [0u8, 1]
            .into_iter()
            .map(|slot| {
                let bridge = &bridge;
                scope.spawn(move || {
                    let mut client = bridge.connect();
                    hello(&mut client);
                    let mut figures = Figures::default();
                    for i in (1..cards).filter(|i| i % 2 == usize::from(slot)) {
                        soak.card(&mut client, slot, i, &mut figures);
                    }
                    figures
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for result in results {
        figures.add(result);
    }
    let elapsed = started.elapsed();
    // The two clerks' sockets are closed (give the bridge a moment to see it); the first
    // one's is still open, as it was for the first measurement.
    std::thread::sleep(Duration::from_millis(200));
    let (rss_after, fds_after) = rss_and_fds(bridge.child.pid());
    drop(client);
    println!(
        "soak: {cards} cards through vsc-bridge over pcscd in {:.0} s ({:.0} ms per card): personalized {}, torn {}, recovered {}, refused {}, falsely verified {} (goal 0)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / cards as f64,
        figures.verified,
        figures.torn,
        figures.recovered,
        figures.refused.len(),
        figures.falsely_verified,
    );
    println!(
        "soak: vsc-bridge RSS {rss_before} KiB after the first card, {rss_after} KiB after the last (goal: at most {RSS_MARGIN_KIB} KiB more); open descriptors {fds_before} -> {fds_after} (goal: at most {FD_MARGIN} more)"
    );
    for refusal in &figures.refused {
        println!("  refused: {refusal}");
    }
    assert_eq!(figures.verified + figures.refused.len(), cards);
    assert_eq!(
        figures.recovered, figures.torn,
        "every torn card is personalized once put back"
    );
    assert!(
        figures.refused.is_empty(),
        "cards refused: {:?}",
        figures.refused
    );
    assert!(
        rss_after <= rss_before + RSS_MARGIN_KIB,
        "the bridge grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert!(
        fds_after <= fds_before + FD_MARGIN,
        "the bridge holds {fds_after} descriptors, {fds_before} before"
    );
}
