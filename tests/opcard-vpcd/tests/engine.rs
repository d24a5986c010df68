//! The personalization engine and its OpenPGP agent against opcard in this process (the same
//! card and framing the vpcd runner serves): full runs checked with raw APDUs of the test's
//! own, a power loss before and after every APDU of a run, refusals, and the count of APDUs
//! against the minimum. Through pcscd, gpg and openpgp-tool: cli/tests/openpgp_card.rs.

use std::collections::BTreeMap;

use opcard_vpcd::{with_card, InProcessCard};
use rand_core::OsRng;
use vsc_core::agent::CardState;
use vsc_core::date::Date;
use vsc_core::holder;
use vsc_core::perso::{self, Outcome, PersoError, Personalization, Step};
use vsc_core::profile::{KeySlot, Profile};
use vsc_core::transport::{Transport, TransportError};
use vsc_core::vsc::Vsc;

/// When the test VSCs are built (their UIDs' time, milliseconds since the Unix epoch): any
/// time will do.
const BUILT_AT_MS: u64 = 1_796_083_200_000;

/// SELECT the OpenPGP application (OpenPGP card 3.4 §7.2.1).
const SELECT: &str = "00A4040006D27600012401";

/// When the card is pulled in a run.
#[derive(Debug, Clone, Copy)]
enum Tear {
    /// Before APDU k (0-based) reaches the card.
    Before(usize),
    /// After APDU k ran, before its response came back.
    After(usize),
}

/// The engine's transport into the in-process card, pulling it where told.
struct Reader<'r, 'c> {
    card: &'r mut InProcessCard<'c>,
    sent: usize,
    tear: Option<Tear>,
}

impl<'r, 'c> Reader<'r, 'c> {
    fn new(card: &'r mut InProcessCard<'c>, tear: Option<Tear>) -> Self {
        Reader {
            card,
            sent: 0,
            tear,
        }
    }
}

impl Transport for Reader<'_, '_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let k = self.sent;
        self.sent += 1;
        if matches!(self.tear, Some(Tear::Before(t)) if t == k) {
            return Err(TransportError::CardRemoved);
        }
        let response = self.card.transmit(apdu);
        if matches!(self.tear, Some(Tear::After(t)) if t == k) {
            return Err(TransportError::CardRemoved);
        }
        Ok(response)
    }
}

fn profile() -> Profile {
    Profile::builtin("openpgp-card").expect("the OpenPGP profile ships")
}

fn vsc(name: &str) -> Vsc {
    let mut values = BTreeMap::new();
    for (field, value) in [
        ("holder_name", name),
        ("holder_id", "jdoe"),
        ("language", "ende"),
        ("sex", "2"),
        ("url", "https://keys.example.org/jdoe.asc"),
        ("expiry_date", "2031-12-31"),
        ("email", "jane@example.org"),
        ("date_of_birth", "1985-07-14"),
    ] {
        values.insert(field.to_owned(), value.to_owned());
    }
    let today = Date::from_ymd(2026, 12, 1).unwrap();
    let holder = holder::validate_record(&profile(), &values, today).expect("valid holder data");
    Vsc::build(&profile(), &holder, BUILT_AT_MS, &mut OsRng)
        .unwrap()
        .0
}

/// One run of the engine on the card (a new PIN confirmed if asked).
fn run(vsc: &Vsc, card: &mut InProcessCard<'_>, tear: Option<Tear>) -> Result<Outcome, PersoError> {
    card.power_cycle();
    let engine = Personalization::new(vsc.clone(), &mut OsRng);
    perso::run(engine, &mut Reader::new(card, tear), |_| {}, |_| true)
}

/// A short command APDU (ISO/IEC 7816-4 §5.2): header, Lc and data when there is data, and
/// Le `00` (up to 256 bytes) when a response is expected.
fn apdu(ins: u8, p1: u8, p2: u8, data: &[u8], le: bool) -> Vec<u8> {
    let mut bytes = vec![0x00, ins, p1, p2];
    if !data.is_empty() {
        bytes.push(u8::try_from(data.len()).expect("a short APDU"));
        bytes.extend_from_slice(data);
    }
    if le {
        bytes.push(0x00);
    }
    bytes
}

/// A BER-TLV data object with a one-byte length.
fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut bytes = tag.to_vec();
    bytes.push(u8::try_from(value.len()).expect("a short value"));
    bytes.extend_from_slice(value);
    bytes
}

/// Sends `command`; its data, after asserting `9000`.
fn ok(card: &mut InProcessCard<'_>, command: &[u8]) -> Vec<u8> {
    let response = card.transmit(command);
    let (data, sw) = response.split_at(response.len() - 2);
    assert_eq!(sw, [0x90, 0x00], "{command:02X?}: {response:02X?}");
    data.to_vec()
}

/// SELECT of the application (§7.2.1).
fn select(card: &mut InProcessCard<'_>) {
    ok(card, &hex::decode(SELECT).unwrap());
}

/// GET DATA (§7.2.6) of a data object.
fn get_data(card: &mut InProcessCard<'_>, tag: u16) -> Vec<u8> {
    let [p1, p2] = tag.to_be_bytes();
    ok(card, &apdu(0xCA, p1, p2, &[], true))
}

/// VERIFY (§7.2.2) of PW1 for other operations (reference 82); the status word.
fn verify_pw1(card: &mut InProcessCard<'_>, pin: &str) -> [u8; 2] {
    let response = card.transmit(&apdu(0x20, 0x00, 0x82, pin.as_bytes(), false));
    [response[response.len() - 2], response[response.len() - 1]]
}

/// The card holds the VSC, checked with the test's own APDUs: the name and UUID, each public
/// key (GENERATE ASYMMETRIC KEY PAIR P1 81, §7.2.14), the PIN of the outcome (VERIFY PW1,
/// §7.2.2), and the X25519 secret itself (PSO: DECIPHER, §7.2.11), since a card does not
/// check an imported public key against its private key.
fn assert_card_holds(card: &mut InProcessCard<'_>, vsc: &Vsc, outcome: &Outcome) {
    card.power_cycle();
    select(card);
    let name = vsc.public_value("holder_name").expect("a name");
    assert_eq!(get_data(card, 0x5B), name.as_bytes(), "DO 5B Name");
    let mut owner = vsc.uid().as_bytes().to_vec();
    owner.push(0x01);
    assert_eq!(
        get_data(card, 0x0102),
        owner,
        "DO 0102: the UUID, activated"
    );
    for (spec, key) in vsc.key_objects() {
        let crt = match spec.slot.expect("an OpenPGP key") {
            KeySlot::Signature => [0xB6, 0x00],
            KeySlot::Decryption => [0xB8, 0x00],
            KeySlot::Authentication => [0xA4, 0x00],
        };
        let template = ok(card, &apdu(0x47, 0x81, 0x00, &crt, true));
        let public = vsc_core::tlv::find(&template, &[0x7F, 0x49])
            .and_then(|inner| vsc_core::tlv::find(inner, &[0x86]))
            .expect("7F49 { 86 public key }");
        assert_eq!(public, key.public_key(), "public key of {}", spec.name);
    }
    assert_eq!(
        verify_pw1(card, outcome.pin.expose()),
        [0x90, 0x00],
        "the outcome's PIN"
    );
    let decryption = vsc
        .key_objects()
        .into_iter()
        .find(|(spec, _)| spec.slot == Some(KeySlot::Decryption))
        .expect("a decryption key")
        .1;
    let ephemeral = x25519_dalek::StaticSecret::random_from_rng(OsRng);
    let ephemeral_public = x25519_dalek::PublicKey::from(&ephemeral);
    let card_public: [u8; 32] = decryption.public_key().try_into().unwrap();
    let cipher = tlv(
        &[0xA6],
        &tlv(&[0x7F, 0x49], &tlv(&[0x86], ephemeral_public.as_bytes())),
    );
    let shared = ok(card, &apdu(0x2A, 0x80, 0x86, &cipher, true));
    assert_eq!(
        shared,
        ephemeral
            .diffie_hellman(&x25519_dalek::PublicKey::from(card_public))
            .as_bytes(),
        "the card's X25519 secret is the VSC's"
    );
}

/// A first run on a blank card: every step, the card holds the VSC.
fn first_run(vsc: &Vsc) -> (Outcome, Vec<u8>) {
    let ((outcome, ()), flash) = with_card(None, |card| {
        let outcome = run(vsc, card, None).expect("a blank card is personalized");
        assert_card_holds(card, vsc, &outcome);
        (outcome, ())
    })
    .unwrap();
    (outcome, flash)
}

#[test]
fn a_blank_card_gets_the_vsc_and_a_second_run_a_new_pin_through_the_resetting_code() {
    let vsc = vsc("Jane Doe");
    let (outcome, flash) = first_run(&vsc);
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
    let ((), _) = with_card(Some(&flash), |card| {
        let again = run(&vsc, card, None).expect("a second run sets a new PIN");
        assert!(again.is_replacement());
        assert!(again.steps.contains(&Step::ResetPin), "{:?}", again.steps);
        assert_ne!(again.pin.expose(), outcome.pin.expose());
        assert_card_holds(card, &vsc, &again);
        // The first PIN no longer works.
        card.power_cycle();
        select(card);
        assert_eq!(verify_pw1(card, outcome.pin.expose())[0], 0x63);
    })
    .unwrap();
}

/// Pull the card before and after every APDU of a first run: the torn run never reports
/// success, and the next run with the same VSC, on what the card's flash held at that moment,
/// finishes and the card holds the VSC.
#[test]
fn a_power_loss_at_any_apdu_is_recovered_by_the_next_run() {
    let vsc = vsc("Tear Test");
    let (reference, _) = first_run(&vsc);
    let total = reference.apdus;
    assert!(total > 30, "{total} APDUs");
    let mut recovered = 0;
    for k in 0..total {
        for tear in [Tear::Before(k), Tear::After(k)] {
            let (torn, flash) = with_card(None, |card| run(&vsc, card, Some(tear))).unwrap();
            assert!(
                matches!(torn, Err(PersoError::Transport { .. })),
                "{tear:?}: a torn run must not report success: {torn:?}"
            );
            let ((), _) = with_card(Some(&flash), |card| {
                let outcome = run(&vsc, card, None)
                    .unwrap_or_else(|e| panic!("{tear:?}: the next run failed: {e}"));
                assert_card_holds(card, &vsc, &outcome);
            })
            .unwrap();
            recovered += 1;
        }
    }
    println!("opcard in-process: {total} APDUs a run; {recovered} torn runs, every one recovered");
}

#[test]
fn another_vscs_card_is_refused_and_left_as_it_is() {
    let first = vsc("Jane Doe");
    let (outcome, flash) = first_run(&first);
    let other = vsc("John Roe");
    let ((), _) = with_card(Some(&flash), |card| {
        let refused = run(&other, card, None).unwrap_err();
        assert!(
            matches!(&refused, PersoError::ForeignCard { owner, .. } if *owner == first.uid()),
            "{refused:?}"
        );
        assert!(refused.to_string().contains(&first.uid().to_string()));
        // Still the first VSC's card, with its PIN.
        assert_card_holds(card, &first, &outcome);
    })
    .unwrap();
}

#[test]
fn an_iso_file_system_vsc_on_an_openpgp_card_is_explained_in_words() {
    let profile = Profile::builtin("iso7816-generic").unwrap();
    let mut values = BTreeMap::new();
    values.insert("holder_name".to_owned(), "Jane Doe".to_owned());
    values.insert("holder_id".to_owned(), "J-1".to_owned());
    let today = Date::from_ymd(2026, 12, 1).unwrap();
    let holder = holder::validate_record(&profile, &values, today).unwrap();
    let iso = Vsc::build(&profile, &holder, BUILT_AT_MS, &mut OsRng)
        .unwrap()
        .0;
    let ((), _) = with_card(None, |card| {
        let refused = run(&iso, card, None).unwrap_err();
        let text = refused.to_string();
        assert!(
            matches!(refused, PersoError::WrongCardType { .. }),
            "{refused:?}"
        );
        assert!(
            text.starts_with("this is not an ISO 7816-4 file-system card"),
            "{text}"
        );
        assert!(
            text.ends_with("put an ISO 7816-4 file-system card of the VSC card OS in the reader"),
            "{text}"
        );
    })
    .unwrap();
}

#[test]
fn an_openpgp_vsc_on_the_iso_softcard_is_explained_in_words() {
    struct Softcard(softcard::Card);
    impl Transport for Softcard {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            Ok(self.0.transmit(apdu))
        }
    }
    let vsc = vsc("Jane Doe");
    let engine = Personalization::new(vsc.clone(), &mut OsRng);
    let refused = perso::run(
        engine,
        &mut Softcard(softcard::Card::blank()),
        |_| {},
        |_| true,
    )
    .unwrap_err();
    assert!(
        matches!(refused, PersoError::WrongCardType { .. }),
        "{refused:?}"
    );
    let text = refused.to_string();
    assert!(text.starts_with("this is not an OpenPGP card"), "{text}");
    assert!(
        text.ends_with("put an OpenPGP card in the reader"),
        "{text}"
    );
}
