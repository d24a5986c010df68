//! The personalization engine against the strict softcard, in-process: full runs, re-runs,
//! refusals, response fixups (61xx/6Cxx) and a power loss at every APDU.

use std::collections::BTreeMap;

use rand_core::OsRng;
use softcard::{Card, FaultyCard, Tear};
use vsc_core::agent::CardState;
use vsc_core::date::Date;
use vsc_core::holder::{self, HolderData};
use vsc_core::perso::{self, NewPinQuestion, Outcome, PersoError, Personalization, Step};
use vsc_core::pin::Pin;
use vsc_core::profile::{FileSystemLayout, Profile};
use vsc_core::transport::{Transport, TransportError};
use vsc_core::vsc::Vsc;

/// When the test VSCs are built (their UIDs' time, milliseconds since the Unix epoch): any
/// time will do.
const BUILT_AT_MS: u64 = 1_796_083_200_000;

struct InProcess<'a>(&'a mut Card);

impl Transport for InProcess<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.0.transmit(apdu))
    }
}

struct Torn<'a>(&'a mut FaultyCard);

impl Transport for Torn<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.0
            .transmit(apdu)
            .map_err(|_| TransportError::CardRemoved)
    }
}

/// The day holder dates are checked against in these tests.
fn today() -> Date {
    Date::from_ymd(2026, 12, 1).unwrap()
}

fn profile() -> Profile {
    Profile::builtin("iso7816-generic").expect("the generic profile ships")
}

fn holder(name: &str) -> HolderData {
    let mut values = BTreeMap::new();
    values.insert("holder_name".to_owned(), name.to_owned());
    values.insert("holder_id".to_owned(), "ID-4711".to_owned());
    values.insert("expiry_date".to_owned(), "2031-12-31".to_owned());
    values.insert("email".to_owned(), "emile@example.org".to_owned());
    values.insert("date_of_birth".to_owned(), "1990-02-28".to_owned());
    values.insert(
        "address".to_owned(),
        "12 rue de l'Église, 75004 Paris, France; a long address to need several APDUs ".repeat(2),
    );
    holder::validate_record(&profile(), &values, today()).expect("valid holder data")
}

fn vsc(name: &str) -> Vsc {
    Vsc::build(&profile(), &holder(name), BUILT_AT_MS, &mut OsRng)
        .unwrap()
        .0
}

/// The file-system layout of the VSC's profile.
fn fs(vsc: &Vsc) -> &FileSystemLayout {
    vsc.profile().file_system().expect("a file-system profile")
}

fn personalize(vsc: &Vsc, card: &mut Card) -> Result<Outcome, PersoError> {
    let engine = Personalization::new(vsc.clone(), &mut OsRng);
    perso::run(engine, &mut InProcess(card), |_| {}, |_| true)
}

/// The card holds exactly the VSC: every EF equals its area (zero-padded), the application is
/// activated, the PIN is the outcome's and the reset code the VSC's.
fn assert_card_holds(card: &Card, vsc: &Vsc, pin: &Pin) {
    let p = fs(vsc);
    let aid = &p.df.aid;
    assert_eq!(
        card.life_cycle(aid, None),
        Some(0x05),
        "application activated"
    );
    for (ef, content) in [
        (&p.uid, vsc.uid_area().to_vec()),
        (&p.public, vsc.public_area().to_vec()),
        (&p.private, vsc.private_area().expose().to_vec()),
        (&p.keys, vsc.keys_area().expose().to_vec()),
    ] {
        let on_card = card.file_content(aid, ef.fid).expect("EF exists");
        assert_eq!(on_card.len(), ef.size);
        assert_eq!(&on_card[..content.len()], &content[..], "EF {:04X}", ef.fid);
        assert!(on_card[content.len()..].iter().all(|&b| b == 0));
        assert_eq!(card.life_cycle(aid, Some(ef.fid)), Some(0x05));
    }
    assert!(card.credential_matches(aid, p.pin.reference, pin.expose().as_bytes()));
    assert!(card.credential_matches(aid, p.reset.reference, vsc.reset_code().expose()));
}

#[test]
fn personalizes_a_blank_card_and_the_card_equals_the_vsc() {
    let vsc = vsc("Émile Nguyễn-Müller 田中");
    let mut card = Card::blank();
    let mut progress = Vec::new();
    let engine = Personalization::new(vsc.clone(), &mut OsRng);
    let outcome = perso::run(
        engine,
        &mut InProcess(&mut card),
        |p| progress.push(p.clone()),
        |_| true,
    )
    .expect("personalization succeeds");
    assert_eq!(outcome.found, CardState::Blank);
    assert_eq!(
        outcome.steps,
        [
            Step::CheckCard,
            Step::Write,
            Step::Activate,
            Step::Verify,
            Step::SetPin
        ]
    );
    assert_eq!(outcome.holder_name, "Émile Nguyễn-Müller 田中");
    assert_eq!(outcome.pin.expose().len(), 6);
    assert_card_holds(&card, &vsc, &outcome.pin);
    assert!(progress
        .windows(2)
        .all(|w| w[0].apdus_done <= w[1].apdus_done));
    let last = progress.last().unwrap();
    assert_eq!(last.apdus_done, outcome.apdus);
    // Nothing is writable any more: the card refuses UPDATE BINARY on the public EF.
    card.reset();
    let mut select = vec![0x00, 0xA4, 0x04, 0x0C, fs(&vsc).df.aid.len() as u8];
    select.extend_from_slice(&fs(&vsc).df.aid);
    assert_eq!(card.transmit(&select), [0x90, 0x00]);
    let fid = fs(&vsc).public.fid.to_be_bytes();
    assert_eq!(
        card.transmit(&[0x00, 0xA4, 0x00, 0x0C, 0x02, fid[0], fid[1]]),
        [0x90, 0x00]
    );
    assert_eq!(
        card.transmit(&[0x00, 0xD6, 0x00, 0x00, 0x01, 0x41]),
        [0x69, 0x82]
    );
}

#[test]
fn running_again_on_its_own_card_sets_a_new_pin_through_the_reset_code() {
    let vsc = vsc("Ada Lovelace");
    let mut card = Card::blank();
    let first = personalize(&vsc, &mut card).unwrap();
    card.reset();
    let second = personalize(&vsc, &mut card).unwrap();
    assert_eq!(second.found, CardState::Personalized { owner: vsc.uid() });
    assert_eq!(
        second.steps,
        [Step::CheckCard, Step::ResetPin, Step::Verify]
    );
    assert_ne!(first.pin, second.pin, "a new PIN was generated");
    assert_card_holds(&card, &vsc, &second.pin);
    assert!(!first.is_replacement() && !first.pin_mailer().replacement);
    assert!(second.is_replacement() && second.pin_mailer().replacement);
}

#[test]
fn a_new_pin_is_only_set_once_the_clerk_confirms() {
    let vsc = vsc("Ada Lovelace");
    let mut card = Card::blank();
    let first = personalize(&vsc, &mut card).unwrap();
    card.reset();

    // Declined: nothing is written, the holder's PIN still works.
    let mut asked: Vec<NewPinQuestion> = Vec::new();
    let engine = Personalization::new(vsc.clone(), &mut OsRng);
    let declined = perso::run(
        engine,
        &mut InProcess(&mut card),
        |_| {},
        |question| {
            asked.push(question.clone());
            false
        },
    );
    assert!(matches!(declined, Err(PersoError::NewPinDeclined { uid }) if uid == vsc.uid()));
    assert!(
        !declined.unwrap_err().card_untouched(),
        "the card holds this VSC: a queued job does not go back as if it were blank"
    );
    assert_eq!(asked.len(), 1);
    let question = &asked[0];
    assert_eq!(question.uid, vsc.uid());
    assert_eq!(question.holder, "ID-4711 Ada Lovelace");
    assert_eq!(question.issued_on.as_deref(), Some("2026-12-01"));
    assert_eq!(
        question.to_string(),
        format!(
            "this card already holds VSC {}: it was issued to ID-4711 Ada Lovelace on \
             2026-12-01. Set a new PIN? The PIN the holder has now will stop working.",
            vsc.uid()
        )
    );
    card.reset();
    assert_card_holds(&card, &vsc, &first.pin);

    // A blank card is never asked about.
    let mut blank = Card::blank();
    let engine = Personalization::new(vsc.clone(), &mut OsRng);
    let outcome = perso::run(
        engine,
        &mut InProcess(&mut blank),
        |_| {},
        |_| panic!("a blank card needs no confirmation"),
    );
    assert!(outcome.is_ok());
}

#[test]
fn the_engine_waits_for_an_answer_and_refuses_a_stray_one() {
    let vsc = vsc("Grace Hopper");
    let mut card = Card::blank();
    personalize(&vsc, &mut card).unwrap();
    card.reset();
    let mut engine = Personalization::new(vsc.clone(), &mut OsRng);
    while let Some(batch) = engine.next_batch() {
        let responses = vsc_core::transport::run_batch(&mut InProcess(&mut card), batch).unwrap();
        engine.receive(responses);
    }
    assert!(engine.question().is_some(), "paused on the question");
    assert!(engine.next_batch().is_none());
    engine.answer(true);
    assert!(engine.question().is_none());
    assert!(engine.next_batch().is_some(), "the reset batch follows");

    let mut fresh = Personalization::new(vsc, &mut OsRng);
    fresh.answer(true);
    assert!(matches!(fresh.finish(), Err(PersoError::Driver(_))));
}

#[test]
fn a_card_holding_another_vsc_is_refused_with_its_uid() {
    let mine = vsc("Alice");
    let other = vsc("Bob");
    let mut card = Card::blank();
    personalize(&other, &mut card).unwrap();
    card.reset();
    let error = personalize(&mine, &mut card).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, PersoError::ForeignCard { owner, .. } if owner == other.uid()));
    assert!(error.card_untouched(), "the job goes back untouched");
    assert!(text.contains(&other.uid().to_string()), "{text}");

    // Unfinished by another VSC: also refused, and left alone.
    let mut card = Card::blank();
    let mut faulty = FaultyCard::new(card, Tear::Before(12));
    let engine = Personalization::new(other.clone(), &mut OsRng);
    let torn = perso::run(engine, &mut Torn(&mut faulty), |_| {}, |_| true).unwrap_err();
    assert!(
        !torn.card_untouched(),
        "a torn card was written to: its job is reported failed"
    );
    card = faulty.into_card();
    let error = personalize(&mine, &mut card).unwrap_err();
    assert!(error.to_string().contains("unfinished"), "{error}");
    assert!(error.to_string().contains(&other.uid().to_string()));
    assert_eq!(
        card.file_content(&fs(&other).df.aid, fs(&other).uid.fid)
            .unwrap(),
        other.uid_area().to_vec()
    );
}

#[test]
fn a_card_lost_while_it_is_checked_is_untouched_and_still_blank() {
    let vsc = vsc("Alice");
    let mut faulty = FaultyCard::new(Card::blank(), Tear::Before(1));
    let engine = Personalization::new(vsc.clone(), &mut OsRng);
    let error = perso::run(engine, &mut Torn(&mut faulty), |_| {}, |_| true).unwrap_err();
    assert!(
        matches!(
            error,
            PersoError::Transport {
                step: Step::CheckCard,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.card_untouched(),
        "its job goes back untouched, the card not spoiled"
    );
    let text = error.to_string();
    assert!(text.contains("nothing was written"), "{text}");
    assert!(!text.contains("unfinished"), "{text}");
    // The card is as it was: it takes the VSC in a new session.
    let mut card = faulty.into_card();
    card.reset();
    let outcome = personalize(&vsc, &mut card).unwrap();
    assert_card_holds(&card, &vsc, &outcome.pin);
}

#[test]
fn long_responses_through_get_response_and_wrong_le() {
    let vsc = vsc("Grace Hopper");
    let mut card = Card::blank();
    card.set_max_response(Some(32));
    let outcome = personalize(&vsc, &mut card).unwrap();
    card.set_max_response(None);
    assert_card_holds(&card, &vsc, &outcome.pin);

    // A reader that asks for 256 bytes on every first READ BINARY: the card answers 6Cxx.
    struct GreedyLe<'a> {
        card: &'a mut Card,
        seen: std::collections::HashSet<Vec<u8>>,
        wrong_le: usize,
    }
    impl Transport for GreedyLe<'_> {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            if apdu.len() == 5 && apdu[1] == 0xB0 && self.seen.insert(apdu.to_vec()) {
                let mut greedy = apdu.to_vec();
                greedy[4] = 0;
                let response = self.card.transmit(&greedy);
                if response.len() == 2 && response[0] == 0x6C {
                    self.wrong_le += 1;
                    return Ok(response);
                }
            }
            Ok(self.card.transmit(apdu))
        }
    }
    let vsc = self::vsc("Katherine Johnson");
    let mut card = Card::blank();
    let mut transport = GreedyLe {
        card: &mut card,
        seen: Default::default(),
        wrong_le: 0,
    };
    let engine = Personalization::new(vsc.clone(), &mut OsRng);
    let outcome = perso::run(engine, &mut transport, |_| {}, |_| true).unwrap();
    assert!(
        transport.wrong_le > 0,
        "the card answered 6Cxx at least once"
    );
    assert_card_holds(&card, &vsc, &outcome.pin);
}

/// Pull the card before and after every APDU of a first run: the torn run never reports
/// success, and the next run with the same VSC finishes and verifies.
#[test]
fn a_power_loss_at_any_apdu_is_recovered_by_the_next_run() {
    let vsc = vsc("Tear Test");
    let mut reference = Card::blank();
    let total = personalize(&vsc, &mut reference).unwrap().apdus as u64;
    assert!(total > 20);
    for k in 0..total {
        for tear in [Tear::Before(k), Tear::After(k)] {
            let mut faulty = FaultyCard::new(Card::blank(), tear);
            let engine = Personalization::new(vsc.clone(), &mut OsRng);
            let torn = perso::run(engine, &mut Torn(&mut faulty), |_| {}, |_| true);
            assert!(
                matches!(torn, Err(PersoError::Transport { .. })),
                "k={k}: a torn run must not report success: {torn:?}"
            );
            let mut card = faulty.into_card();
            let outcome = personalize(&vsc, &mut card)
                .unwrap_or_else(|e| panic!("k={k}: the next run failed: {e}"));
            assert_card_holds(&card, &vsc, &outcome.pin);
        }
    }
}

#[test]
fn a_tear_during_the_recovery_run_is_recovered_too() {
    let vsc = vsc("Twice Torn");
    let total = personalize(&vsc, &mut Card::blank()).unwrap().apdus as u64;
    for k in [3, 9, 16, total - 3, total - 1] {
        let mut faulty = FaultyCard::new(Card::blank(), Tear::After(k));
        let engine = Personalization::new(vsc.clone(), &mut OsRng);
        assert!(perso::run(engine, &mut Torn(&mut faulty), |_| {}, |_| true).is_err());
        let mut faulty = FaultyCard::new(faulty.into_card(), Tear::Before(k % 10 + 3));
        let engine = Personalization::new(vsc.clone(), &mut OsRng);
        let second = perso::run(engine, &mut Torn(&mut faulty), |_| {}, |_| true);
        assert!(second.is_err(), "k={k}: {second:?}");
        let mut card = faulty.into_card();
        let outcome = personalize(&vsc, &mut card).unwrap();
        assert_card_holds(&card, &vsc, &outcome.pin);
    }
}

#[test]
fn the_pin_never_appears_in_debug_output_of_the_outcome_or_engine() {
    let vsc = vsc("Debug Check");
    let mut card = Card::blank();
    let engine = Personalization::new(vsc.clone(), &mut OsRng);
    let engine_debug = format!("{engine:?}");
    let outcome = perso::run(engine, &mut InProcess(&mut card), |_| {}, |_| true).unwrap();
    let text = format!("{outcome:?}{engine_debug}{vsc:?}");
    assert!(!text.contains(outcome.pin.expose()), "{text}");
    assert!(!text.contains("emile@example.org"));
}

/// The generic profile with other card capabilities: small APDUs (several chunks per area) or
/// extended APDUs (one chunk per area). The card and the read-back must agree either way.
#[test]
fn chunking_follows_the_profile_capabilities() {
    let text = include_str!("../../profiles/iso7816-generic.toml");
    for (command, response, extended) in [(40, 24, false), (1024, 1024, true)] {
        let changed = text
            .replace(
                "max_command_data = 255",
                &format!("max_command_data = {command}"),
            )
            .replace(
                "max_response_data = 256",
                &format!("max_response_data = {response}"),
            )
            .replace(
                "extended_apdus = false",
                &format!("extended_apdus = {extended}"),
            );
        let profile = Profile::parse(&changed).expect("the changed profile is valid");
        let mut values = BTreeMap::new();
        values.insert("holder_name".to_owned(), "Chunk Test".to_owned());
        values.insert("holder_id".to_owned(), "C-1".to_owned());
        values.insert("address".to_owned(), "Long Street 1, ".repeat(12));
        let holder = holder::validate_record(&profile, &values, today()).unwrap();
        let vsc = Vsc::build(&profile, &holder, BUILT_AT_MS, &mut OsRng)
            .unwrap()
            .0;
        let mut card = Card::blank();
        let mut apdus = Vec::new();
        struct Recording<'a>(&'a mut Card, &'a mut Vec<Vec<u8>>);
        impl Transport for Recording<'_> {
            fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
                self.1.push(apdu.to_vec());
                Ok(self.0.transmit(apdu))
            }
        }
        let engine = Personalization::new(vsc.clone(), &mut OsRng);
        let outcome = perso::run(
            engine,
            &mut Recording(&mut card, &mut apdus),
            |_| {},
            |_| true,
        )
        .unwrap();
        assert_card_holds(&card, &vsc, &outcome.pin);
        // UPDATE BINARY data: header, then Lc in one byte (short) or three (extended).
        let writes: Vec<usize> = apdus
            .iter()
            .filter(|a| a[1] == 0xD6)
            .map(|a| if a[4] == 0 { a.len() - 7 } else { a.len() - 5 })
            .collect();
        assert!(writes.iter().all(|&n| n <= command), "{writes:?}");
        let area_bytes =
            vsc.public_area().len() + vsc.private_area().len() + vsc.keys_area().len() + 16;
        assert_eq!(writes.iter().sum::<usize>(), area_bytes);
        if extended {
            assert_eq!(writes.len(), 4, "one extended APDU per area: {writes:?}");
        } else {
            assert!(writes.len() >= area_bytes / command, "{writes:?}");
        }
    }
}

/// A card that answers `61xx` to every GET RESPONSE without ever delivering data must not keep
/// the engine busy forever.
#[test]
fn endless_more_data_answers_end_the_run() {
    struct Endless<'a>(&'a mut Card);
    impl Transport for Endless<'_> {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            if apdu[1] == 0xB0 || apdu[1] == 0xC0 {
                return Ok(vec![0x61, 0x10]);
            }
            Ok(self.0.transmit(apdu))
        }
    }
    let vsc = vsc("Endless");
    let mut card = Card::blank();
    let engine = Personalization::new(vsc, &mut OsRng);
    let mut sent = 0;
    let mut transport = Endless(&mut card);
    let result = perso::run(engine, &mut transport, |p| sent = p.apdus_done, |_| true);
    let error = result.unwrap_err();
    assert!(matches!(error, PersoError::UnusableCard { .. }), "{error}");
    assert!(sent < 400, "gave up after {sent} APDUs");
}
