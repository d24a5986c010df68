//! The opcard peer (tests/opcard-vpcd) and the independent read-back harness, proven on
//! opcard itself: the card in pcscd's vpcd reader, personalized by hand with raw APDUs, read
//! back with GnuPG (`gpg --card-status`, scdaemon) and OpenSC (`opensc-tool`, `openpgp-tool`),
//! its signatures checked against the imported keys. The APDUs here are the ones
//! docs/opcard-peer.md records.

use std::ffi::CString;
use std::time::Duration;

use ed25519_dalek::Verifier as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};
use sha2::{Digest as _, Sha256};
use vsc_tests::{
    openpgp_tool_info, openpgp_tool_private_do, opensc_apdus, wait_until, GnupgHome, OpcardOptions,
    PcscStack,
};

/// SELECT the OpenPGP application by its RID and PIX prefix (OpenPGP card 3.4 §7.2.1).
const SELECT: &str = "00A4040006D27600012401";
const FACTORY_PW1: &[u8] = b"123456";
const FACTORY_PW3: &[u8] = b"12345678";
const NEW_PW3: &[u8] = b"adminPIN9";
const RESETTING_CODE: &[u8] = b"87654321";
/// PW1 set with RESET RETRY COUNTER, then changed with CHANGE REFERENCE DATA.
const FIRST_PW1: &[u8] = b"271828";
const PW1: &[u8] = b"161803";
const NAME: &[u8] = b"Doe<<Jane";
const URL: &[u8] = b"https://example.org/keys/jane.asc";
const LOGIN: &[u8] = b"jdoe";
const LANGUAGE: &[u8] = b"ende";
/// The VSC UUID, as the agent stores it in private DO 0102.
const DO_0102: &[u8] = b"5f0c6a1e-8d2b-4c7a-9e31-0b4d2f6a8c17";
/// Key generation dates (DO CE, CF, D0): 2026-05-28 and the two seconds after.
const CREATED: [u32; 3] = [1_780_000_000, 1_780_000_001, 1_780_000_002];
/// Algorithm attributes (DO C1-C3): Ed25519 (EdDSA 22 + OID 1.3.6.1.4.1.11591.15.1),
/// X25519 (ECDH 18 + OID 1.3.6.1.4.1.3029.1.5.1), NIST P-256 (ECDSA 19 + OID 1.2.840.10045.3.1.7).
const ATTRIBUTES: [&str; 3] = [
    "162B06010401DA470F01",
    "122B060104019755010501",
    "132A8648CE3D030107",
];

/// The keys imported into the card: fixed seeds, so a failure reproduces.
struct Keys {
    sig: ed25519_dalek::SigningKey,
    dec: x25519_dalek::StaticSecret,
    aut: p256::SecretKey,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            sig: ed25519_dalek::SigningKey::from_bytes(&[0x5A; 32]),
            dec: x25519_dalek::StaticSecret::from([0x3C; 32]),
            aut: p256::SecretKey::from_slice(&[0x17; 32]).expect("a valid P-256 scalar"),
        }
    }

    /// The public keys as GENERATE ASYMMETRIC KEY PAIR (P1 81) returns them in DO 86.
    fn public(&self) -> [Vec<u8>; 3] {
        [
            self.sig.verifying_key().to_bytes().to_vec(),
            x25519_dalek::PublicKey::from(&self.dec).as_bytes().to_vec(),
            p256::EncodedPoint::from(self.aut.public_key())
                .as_bytes()
                .to_vec(),
        ]
    }

    /// Fingerprints written to DO C7-C9: any 20 bytes do for the card; these are the first
    /// 20 bytes of SHA-256 of each public key, so they differ.
    fn fingerprints(&self) -> [Vec<u8>; 3] {
        self.public().map(|key| Sha256::digest(&key)[..20].to_vec())
    }
}

/// A PC/SC connection to the card, independent of the agent under development.
struct Reader {
    card: pcsc::Card,
}

impl Reader {
    fn connect(stack_reader: &str) -> Reader {
        let context = Context::establish(Scope::User).expect("pcscd answers");
        let name = CString::new(stack_reader).expect("a reader name has no NUL");
        let card = context
            .connect(&name, ShareMode::Shared, Protocols::ANY)
            .unwrap_or_else(|e| panic!("cannot connect to {stack_reader:?}: {e}"));
        Reader { card }
    }

    /// Power-cycles the card (SCARD_RESET_CARD) and connects again.
    fn reset(self, stack_reader: &str) -> Reader {
        self.card
            .disconnect(Disposition::ResetCard)
            .unwrap_or_else(|(_, e)| panic!("cannot reset the card: {e}"));
        Reader::connect(stack_reader)
    }

    /// The response APDU: data then SW1 SW2.
    fn transmit(&self, apdu: &[u8]) -> Vec<u8> {
        let mut buffer = vec![0; 65_538];
        self.card
            .transmit(apdu, &mut buffer)
            .unwrap_or_else(|e| panic!("transmit {}: {e}", header(apdu)))
            .to_vec()
    }

    /// Sends `apdu`, asserts `9000` and returns the data.
    fn ok(&self, apdu: &[u8]) -> Vec<u8> {
        let response = self.transmit(apdu);
        assert_eq!(
            sw(&response),
            0x9000,
            "{} answered {response:02X?}",
            header(apdu)
        );
        response[..response.len() - 2].to_vec()
    }
}

/// `CLA INS P1 P2` of an APDU in hex, for messages (never the data: it may be a PIN).
fn header(apdu: &[u8]) -> String {
    hex::encode_upper(&apdu[..4.min(apdu.len())])
}

fn sw(response: &[u8]) -> u16 {
    u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]])
}

/// A short C-APDU (ISO/IEC 7816-4 §5.2): Lc only with data, Le only when given (256 is `00`).
fn short(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u16>) -> Vec<u8> {
    let mut apdu = vec![cla, ins, p1, p2];
    if !data.is_empty() {
        apdu.push(u8::try_from(data.len()).expect("short APDU data"));
        apdu.extend_from_slice(data);
    }
    if let Some(le) = le {
        apdu.push(u8::try_from(le % 256).expect("short Le"));
    }
    apdu
}

/// An extended C-APDU: `00`, Lc(2) and data when there is data, Le(2) when given (65536 is
/// `0000`).
fn extended(ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u32>) -> Vec<u8> {
    let mut apdu = vec![0x00, ins, p1, p2, 0x00];
    if !data.is_empty() {
        apdu.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        apdu.extend_from_slice(data);
    }
    if let Some(le) = le {
        apdu.extend_from_slice(&u16::try_from(le % 65_536).unwrap().to_be_bytes());
    }
    apdu
}

/// The same command split into short APDUs of at most `part` data bytes, CLA bit 5 (`10`)
/// set on all but the last (ISO/IEC 7816-4 §5.4.1).
fn chained(ins: u8, p1: u8, p2: u8, data: &[u8], part: usize) -> Vec<Vec<u8>> {
    let parts: Vec<&[u8]> = data.chunks(part).collect();
    parts
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let cla = if i + 1 < parts.len() { 0x10 } else { 0x00 };
            short(cla, ins, p1, p2, chunk, None)
        })
        .collect()
}

fn put_data(tag: u16, data: &[u8]) -> Vec<u8> {
    let [p1, p2] = tag.to_be_bytes();
    short(0x00, 0xDA, p1, p2, data, None)
}

fn get_data(tag: u16) -> Vec<u8> {
    let [p1, p2] = tag.to_be_bytes();
    short(0x00, 0xCA, p1, p2, &[], Some(256))
}

fn verify(p2: u8, pin: &[u8]) -> Vec<u8> {
    short(0x00, 0x20, 0x00, p2, pin, None)
}

/// BER-TLV with a 1- or 2-byte tag and a definite length (§4.4.4).
fn tlv(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut out = if tag > 0xFF {
        tag.to_be_bytes().to_vec()
    } else {
        vec![u8::try_from(tag).unwrap()]
    };
    match value.len() {
        n @ 0..=0x7F => out.push(u8::try_from(n).unwrap()),
        n @ 0x80..=0xFF => out.extend([0x81, u8::try_from(n).unwrap()]),
        n => {
            out.push(0x82);
            out.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
    }
    out.extend_from_slice(value);
    out
}

/// The extended header list for a key import (§4.4.3.12): `4D` { CRT (`B6`/`B8`/`A4` with no
/// content), `7F48` { `92` len(private), `99` len(public) }, `5F48` private || public }.
fn key_import(crt: u8, private: &[u8], public: &[u8]) -> Vec<u8> {
    let template = [
        0x92,
        u8::try_from(private.len()).unwrap(),
        0x99,
        u8::try_from(public.len()).unwrap(),
    ];
    let mut body = vec![crt, 0x00];
    body.extend(tlv(0x7F48, &template));
    body.extend(tlv(0x5F48, &[private, public].concat()));
    tlv(0x4D, &body)
}

/// The three key imports: the private key as opcard wants it and the public key prefixed
/// `40` (25519 curves) or as the uncompressed point `04 X Y` (NIST).
fn key_imports(keys: &Keys) -> [Vec<u8>; 3] {
    let [sig_public, dec_public, aut_public] = keys.public();
    // X25519: the scalar goes big-endian (reversed), as GnuPG sends it; opcard reverses it.
    let mut dec_private = keys.dec.to_bytes();
    dec_private.reverse();
    [
        key_import(
            0xB6,
            &keys.sig.to_bytes(),
            &[&[0x40], &sig_public[..]].concat(),
        ),
        key_import(0xB8, &dec_private, &[&[0x40], &dec_public[..]].concat()),
        key_import(0xA4, &keys.aut.to_bytes(), &aut_public),
    ]
}

/// Personalizes a factory-new opcard the way the OpenPGP agent will: admin PIN, cardholder
/// data, private DO 0102, algorithm attributes, the three keys (the signature key in chained
/// short APDUs, the decryption key in one short APDU, the authentication key in one extended
/// APDU), fingerprints and dates, resetting code, new PW3, then PW1.
fn personalize(reader: &Reader, keys: &Keys) {
    reader.ok(&hex::decode(SELECT).unwrap());
    reader.ok(&verify(0x83, FACTORY_PW3));
    reader.ok(&put_data(0x5B, NAME));
    reader.ok(&put_data(0x5F2D, LANGUAGE));
    reader.ok(&put_data(0x5F35, b"2"));
    reader.ok(&put_data(0x5F50, URL));
    reader.ok(&put_data(0x5E, LOGIN));
    reader.ok(&put_data(0x0102, DO_0102));
    for (tag, attributes) in [0xC1, 0xC2, 0xC3].into_iter().zip(ATTRIBUTES) {
        reader.ok(&put_data(tag, &hex::decode(attributes).unwrap()));
    }
    let [sig, dec, aut] = key_imports(keys);
    let parts = chained(0xDB, 0x3F, 0xFF, &sig, 32);
    assert_eq!(parts.len(), 3, "the signature key import is chained");
    for part in &parts {
        reader.ok(part);
    }
    reader.ok(&short(0x00, 0xDB, 0x3F, 0xFF, &dec, None));
    reader.ok(&extended(0xDB, 0x3F, 0xFF, &aut, None));
    for (tag, fingerprint) in [0xC7, 0xC8, 0xC9].into_iter().zip(keys.fingerprints()) {
        reader.ok(&put_data(tag, &fingerprint));
    }
    for (tag, created) in [0xCE, 0xCF, 0xD0].into_iter().zip(CREATED) {
        reader.ok(&put_data(tag, &created.to_be_bytes()));
    }
    reader.ok(&put_data(0xD3, RESETTING_CODE));
    reader.ok(&short(
        0x00,
        0x24,
        0x00,
        0x83,
        &[FACTORY_PW3, NEW_PW3].concat(),
        None,
    ));
    // PW3 stays verified after CHANGE REFERENCE DATA: PW1 is set without a new VERIFY.
    reader.ok(&short(0x00, 0x2C, 0x02, 0x81, FIRST_PW1, None));
    reader.ok(&short(
        0x00,
        0x24,
        0x00,
        0x81,
        &[FIRST_PW1, PW1].concat(),
        None,
    ));
}

#[test]
fn opcard_appears_in_either_reader_answers_select_and_goes_away() {
    let stack = PcscStack::start();
    for slot in [0, 1] {
        let mut card = stack.opcard(slot, OpcardOptions::new());
        assert!(stack.card_present(slot));
        let responses = opensc_apdus(usize::from(slot), &[SELECT, "00CA5F5200", "00CA006E00"]);
        assert_eq!(responses[0], [0x90, 0x00], "SELECT through opensc-tool");
        assert_eq!(
            hex::encode_upper(&responses[1]),
            "0031F573C001600590009000",
            "historical bytes (DO 5F52; life cycle 05, operational), then 9000"
        );
        let application = &responses[2];
        assert_eq!(
            hex::encode_upper(&application[..18]),
            "4F10D2760001240103040000000000000000",
            "DO 6E starts with the AID: version 3.4, manufacturer 0000, serial 00000000"
        );
        assert_eq!(sw(application), 0x9000);
        card.kill();
        assert!(!stack.card_present(slot));
        assert_eq!(card.wait_exit(Duration::from_secs(1)), Some(-9));
    }
}

#[test]
fn factory_state_reads_back_through_gpg_and_openpgp_tool() {
    let stack = PcscStack::start();
    let options = OpcardOptions {
        serial: Some([0x12, 0x34, 0xAB, 0xCD]),
        ..OpcardOptions::new()
    };
    let card = stack.opcard(1, options);
    let gnupg = GnupgHome::new(card.reader_name());
    let status = gnupg.card_status();
    assert_eq!(status.reader, "Virtual PCD 00 01");
    assert_eq!(status.aid, "D27600012401030400001234ABCD0000");
    assert_eq!(status.version, "0304");
    assert_eq!(status.serial, "1234ABCD");
    assert_eq!(status.pin_retries, [3, 0, 3], "PW1, no resetting code, PW3");
    assert_eq!(
        status.key_algorithms,
        [1, 1, 1],
        "factory attributes: RSA 2048"
    );
    assert_eq!(status.fingerprints, [None, None, None]);
    assert_eq!(status.signature_counter, 0);
    assert!(status.given_name.is_empty() && status.url.is_empty());

    let info = openpgp_tool_info(1);
    assert_eq!(info.aid, status.aid);
    assert_eq!(info.version, "3.4");
    assert_eq!(info.serial, "1234ABCD");
    assert_eq!((info.name, info.url, info.account), (None, None, None));
    assert!(info
        .keys
        .iter()
        .all(|key| key.fingerprint.is_none() && key.created.is_none()));
}

#[test]
fn hand_personalization_reads_back_exactly_and_the_card_signs_with_the_imported_keys() {
    let stack = PcscStack::start();
    let card = stack.opcard(0, OpcardOptions::new());
    let name = card.reader_name().to_owned();
    let keys = Keys::new();
    let reader = Reader::connect(&name);
    personalize(&reader, &keys);

    // After a power cycle, without any PIN.
    let reader = reader.reset(&name);
    reader.ok(&hex::decode(SELECT).unwrap());
    assert_eq!(
        reader.ok(&get_data(0x0102)),
        DO_0102,
        "DO 0102 needs no PIN"
    );
    assert_eq!(reader.ok(&get_data(0x5B)), NAME);
    for (tag, attributes) in [0xC1, 0xC2, 0xC3].into_iter().zip(ATTRIBUTES) {
        assert_eq!(
            hex::encode_upper(reader.ok(&get_data(tag))),
            format!("{attributes}FF"),
            "opcard reads algorithm attributes back with the import format byte FF"
        );
    }
    let status_bytes = reader.ok(&get_data(0xC4));
    assert_eq!(
        status_bytes[0], 0x00,
        "PW1 (81) good for one signature only"
    );
    assert_eq!(status_bytes[4..], [3, 3, 3], "PW1, RC, PW3 retry counters");
    for ((crt, public), prefix) in ["B600", "B800", "A400"]
        .into_iter()
        .zip(keys.public())
        .zip(["7F49228620", "7F49228620", "7F49438641"])
    {
        let read = short(
            0x00,
            0x47,
            0x81,
            0x00,
            &hex::decode(crt).unwrap(),
            Some(256),
        );
        assert_eq!(
            hex::encode_upper(reader.ok(&read)),
            format!("{prefix}{}", hex::encode_upper(&public)),
            "public key of {crt} (GENERATE ASYMMETRIC KEY PAIR, P1 81)"
        );
    }
    assert_eq!(sw(&reader.transmit(&verify(0x81, FACTORY_PW1))), 0x63C2);
    assert_eq!(sw(&reader.transmit(&verify(0x83, FACTORY_PW3))), 0x63C2);
    reader.ok(&verify(0x83, NEW_PW3));
    reader.ok(&verify(0x82, PW1));
    // PSO: DECIPHER with the X25519 key: A6 { 7F49 { 86 ephemeral public key } }.
    let ephemeral = x25519_dalek::StaticSecret::from([0x77; 32]);
    let ephemeral_public = x25519_dalek::PublicKey::from(&ephemeral);
    let cipher = tlv(0xA6, &tlv(0x7F49, &tlv(0x86, ephemeral_public.as_bytes())));
    let shared = reader.ok(&short(0x00, 0x2A, 0x80, 0x86, &cipher, Some(256)));
    assert_eq!(
        shared,
        ephemeral
            .diffie_hellman(&x25519_dalek::PublicKey::from(&keys.dec))
            .as_bytes(),
        "the card's X25519 secret is the imported one"
    );
    drop(reader.reset(&name));

    let gnupg = GnupgHome::new(&name);
    let status = gnupg.card_status();
    let fingerprints = keys.fingerprints().map(|f| Some(hex::encode_upper(f)));
    assert_eq!(
        (status.given_name.as_str(), status.surname.as_str()),
        ("Jane", "Doe")
    );
    assert_eq!(status.language.as_bytes(), LANGUAGE);
    assert_eq!(status.sex, "f");
    assert_eq!(status.url.as_bytes(), URL);
    assert_eq!(status.login.as_bytes(), LOGIN);
    assert_eq!(status.private_dos[&2].as_bytes(), DO_0102);
    assert_eq!(status.key_algorithms, [22, 18, 19]);
    assert_eq!(
        status.key_attributes,
        ["Ed25519", "Curve25519", "NIST P-256"].map(String::from)
    );
    assert_eq!(status.pin_retries, [3, 3, 3]);
    assert_eq!(status.fingerprints, fingerprints);
    assert_eq!(status.creation_times, CREATED.map(|t| Some(u64::from(t))));
    assert_eq!(status.signature_counter, 0);

    let info = openpgp_tool_info(0);
    assert_eq!(info.name.as_deref().map(str::as_bytes), Some(NAME));
    assert_eq!(info.url.as_deref().map(str::as_bytes), Some(URL));
    assert_eq!(info.account.as_deref().map(str::as_bytes), Some(LOGIN));
    assert_eq!(info.language.as_deref().map(str::as_bytes), Some(LANGUAGE));
    assert_eq!(info.gender.as_deref(), Some("2"));
    assert_eq!(
        info.keys.clone().map(|k| k.algorithm),
        ["EDDSA", "ECDH", "ECDSA"].map(String::from)
    );
    assert_eq!(info.keys.clone().map(|k| k.fingerprint), fingerprints);
    assert_eq!(
        info.keys.map(|k| k.created),
        CREATED.map(|t| Some(u64::from(t)))
    );
    assert_eq!(openpgp_tool_private_do(0, 2), DO_0102);

    let pin = std::str::from_utf8(PW1).unwrap();
    let digest: [u8; 32] = Sha256::digest(b"signed by the opcard peer").into();
    let signature = gnupg.sign(pin, &digest);
    let signature = ed25519_dalek::Signature::from_slice(&signature)
        .unwrap_or_else(|e| panic!("not an Ed25519 signature ({e}): {signature:02X?}"));
    keys.sig
        .verifying_key()
        .verify(&digest, &signature)
        .expect("the card's Ed25519 signature verifies against the imported key");
    assert_eq!(gnupg.card_status().signature_counter, 1);

    let challenge: [u8; 32] = Sha256::digest(b"authenticate me").into();
    let signature = gnupg.authenticate_ecdsa(pin, &challenge);
    let signature = p256::ecdsa::Signature::from_slice(&signature)
        .unwrap_or_else(|e| panic!("not an ECDSA P-256 r||s ({e}): {signature:02X?}"));
    p256::ecdsa::VerifyingKey::from(keys.aut.public_key())
        .verify_prehash(&challenge, &signature)
        .expect("the card's P-256 signature verifies against the imported key");

    // An Ed25519 authentication key instead (the openpgp-card profile's three Curve25519
    // keys): new attributes empty the slot, then the import.
    let aut = ed25519_dalek::SigningKey::from_bytes(&[0x6B; 32]);
    let import = key_import(
        0xA4,
        &aut.to_bytes(),
        &[&[0x40][..], &aut.verifying_key().to_bytes()[..]].concat(),
    );
    let reader = Reader::connect(&name);
    reader.ok(&hex::decode(SELECT).unwrap());
    reader.ok(&verify(0x83, NEW_PW3));
    reader.ok(&put_data(0xC3, &hex::decode(ATTRIBUTES[0]).unwrap()));
    reader.ok(&extended(0xDB, 0x3F, 0xFF, &import, None));
    drop(reader.reset(&name));
    let message = b"an ssh session id, or any challenge";
    let signature = gnupg.authenticate_eddsa(pin, message);
    let signature = ed25519_dalek::Signature::from_slice(&signature)
        .unwrap_or_else(|e| panic!("not an Ed25519 signature ({e}): {signature:02X?}"));
    aut.verifying_key()
        .verify(message, &signature)
        .expect("the card's Ed25519 authentication verifies against the imported key");
    assert_eq!(gnupg.card_status().key_attributes[2], "Ed25519");
}

#[test]
fn pins_follow_the_openpgp_rules_and_the_resetting_code_resets_pw1() {
    let stack = PcscStack::start();
    let card = stack.opcard(0, OpcardOptions::new());
    let name = card.reader_name().to_owned();
    let reader = Reader::connect(&name);
    personalize(&reader, &Keys::new());
    let reader = reader.reset(&name);
    reader.ok(&hex::decode(SELECT).unwrap());
    // VERIFY without data: 9000 if verified, else 63Cx with the tries left.
    assert_eq!(
        reader.transmit(&short(0, 0x20, 0, 0x81, &[], None)),
        [0x63, 0xC3]
    );
    // Forget PW1: three wrong tries block it.
    for left in [0x63C2, 0x63C1, 0x63C0] {
        assert_eq!(sw(&reader.transmit(&verify(0x81, b"000000"))), left);
    }
    assert_eq!(sw(&reader.transmit(&verify(0x81, PW1))), 0x63C0, "blocked");
    // RESET RETRY COUNTER with the resetting code (P1 00): RC || new PW1, no PIN verified.
    let too_short = [RESETTING_CODE, b"12345"].concat();
    assert_eq!(
        reader.transmit(&short(0, 0x2C, 0x00, 0x81, &too_short, None)),
        [0x69, 0x82]
    );
    let reset = [RESETTING_CODE, b"999999"].concat();
    reader.ok(&short(0, 0x2C, 0x00, 0x81, &reset, None));
    reader.ok(&verify(0x81, b"999999"));
    // Admin operations need PW3; PW1 does not open them.
    assert_eq!(sw(&reader.transmit(&put_data(0x5B, b"X<<Y"))), 0x6982);
    // A wrong old PIN in CHANGE REFERENCE DATA: 6300, not 63Cx.
    assert_eq!(
        reader.transmit(&short(0, 0x24, 0, 0x81, b"000000111111", None)),
        [0x63, 0x00]
    );
    // CHANGE REFERENCE DATA below the minimum length (6 for PW1): refused, PIN unchanged.
    assert_ne!(
        sw(&reader.transmit(&short(0, 0x24, 0, 0x81, b"99999912345", None))),
        0x9000
    );
    reader.ok(&verify(0x81, b"999999"));
}

#[test]
fn flash_survives_a_tear_and_a_power_cycle_clears_verification() {
    let stack = PcscStack::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("opcard.state");
    let log = dir.path().join("apdu.log");
    // APDU 0 SELECT, 1 VERIFY PW3, 2 PUT DATA 5B: torn after 2 (executed, no answer).
    let mut card = stack.opcard(
        0,
        OpcardOptions {
            state_file: Some(state.clone()),
            tear_after: Some(2),
            apdu_log: Some(log.clone()),
            ..OpcardOptions::new()
        },
    );
    let name = card.reader_name().to_owned();
    let reader = Reader::connect(&name);
    reader.ok(&hex::decode(SELECT).unwrap());
    reader.ok(&verify(0x83, FACTORY_PW3));
    let mut buffer = [0; 258];
    let torn = reader.card.transmit(&put_data(0x5B, NAME), &mut buffer);
    assert!(
        matches!(torn, Err(_) | Ok([])),
        "the torn card answers nothing (pcsc-lite gives an empty response): {torn:02X?}"
    );
    assert_eq!(card.wait_exit(Duration::from_secs(10)), Some(3));
    wait_until(Duration::from_secs(10), "the torn card is gone", || {
        !stack.card_present(0)
    });
    drop(reader);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "00 A4 04 00 06 9000\n00 20 00 83 08 9000\n00 DA 00 5B 09 torn-after\n",
        "the APDU log has headers and status words, never data"
    );

    // Put the card back: what APDU 2 did is there, the PIN verification is not.
    // APDU 0 SELECT, 1 GET DATA, 2 PUT DATA, (reset), 3 VERIFY PW3, 4 PUT DATA 5F50: torn
    // before 4 (not executed).
    let mut card = stack.opcard(
        0,
        OpcardOptions {
            state_file: Some(state.clone()),
            tear_before: Some(4),
            ..OpcardOptions::new()
        },
    );
    let reader = Reader::connect(&name);
    reader.ok(&hex::decode(SELECT).unwrap());
    assert_eq!(reader.ok(&get_data(0x5B)), NAME, "executed before the tear");
    assert_eq!(
        sw(&reader.transmit(&put_data(0x5F50, URL))),
        0x6982,
        "PW3 not verified"
    );
    let reader = reader.reset(&name);
    reader.ok(&verify(0x83, FACTORY_PW3));
    let torn = reader.card.transmit(&put_data(0x5F50, URL), &mut buffer);
    assert!(matches!(torn, Err(_) | Ok([])), "{torn:02X?}");
    assert_eq!(card.wait_exit(Duration::from_secs(10)), Some(3));
    // Dropping the handle resets the reader (pcsc's Drop), right before the card is put back.
    drop(reader);
    // Started at once: the harness waits for pcscd to show the reader empty, and puts the card
    // in again if pcscd misses it.
    let _card = stack.opcard(
        0,
        OpcardOptions {
            state_file: Some(state),
            ..OpcardOptions::new()
        },
    );
    let reader = Reader::connect(&name);
    reader.ok(&hex::decode(SELECT).unwrap());
    assert_eq!(
        reader.ok(&get_data(0x5F50)),
        b"",
        "not executed: torn before"
    );
    assert_eq!(reader.ok(&get_data(0x5B)), NAME);
    // A power cycle (reset) keeps the flash and drops PIN verification.
    reader.ok(&verify(0x83, FACTORY_PW3));
    reader.ok(&put_data(0x5F50, URL));
    let reader = reader.reset(&name);
    reader.ok(&hex::decode(SELECT).unwrap());
    assert_eq!(sw(&reader.transmit(&put_data(0x5E, LOGIN))), 0x6982);
    assert_eq!(reader.ok(&get_data(0x5F50)), URL);
}

#[test]
fn chaining_get_response_and_extended_apdus_through_pcscd() {
    let stack = PcscStack::start();
    let card = stack.opcard(
        0,
        OpcardOptions {
            max_response: Some(100),
            ..OpcardOptions::new()
        },
    );
    let reader = Reader::connect(card.reader_name());
    reader.ok(&hex::decode(SELECT).unwrap());
    // DO 6E is longer than 100 bytes: parts of 100 with 61xx, the rest by GET RESPONSE.
    let mut response = reader.transmit(&get_data(0x6E));
    let mut data = Vec::new();
    while response[response.len() - 2] == 0x61 {
        assert_eq!(response.len(), 102, "a full part then 61xx");
        data.extend_from_slice(&response[..100]);
        let left = response[response.len() - 1];
        response = reader.transmit(&[0x00, 0xC0, 0x00, 0x00, left]);
    }
    assert_eq!(sw(&response), 0x9000);
    data.extend_from_slice(&response[..response.len() - 2]);
    assert_eq!(data[..2], [0x4F, 0x10], "DO 6E starts with the AID");
    assert!(data.len() > 200, "{} bytes", data.len());
    // The same DO with an extended Le, in one response (max-response still cuts at 100).
    let long = reader.transmit(&extended(0xCA, 0x00, 0x6E, &[], Some(65_536)));
    assert_eq!(long[..100], data[..100]);
    // Without Le (Ne = 0) the whole response waits for GET RESPONSE.
    assert_eq!(reader.transmit(&[0x00, 0xCA, 0x5F, 0x52]), [0x61, 0x0A]);
    assert_eq!(
        hex::encode_upper(reader.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x0A])),
        "0031F573C001600590009000"
    );
    // A different command inside a chain ends it unexecuted: 6883.
    reader.ok(&verify(0x83, FACTORY_PW3));
    reader.ok(&short(0x10, 0xDA, 0x00, 0x5B, b"Doe<<", None));
    assert_eq!(reader.transmit(&put_data(0x5E, LOGIN)), [0x68, 0x83]);
    assert_eq!(reader.ok(&get_data(0x5E)), b"", "not executed");
    assert_eq!(reader.ok(&get_data(0x5B)), b"", "the chain was dropped");
    // A chained PUT DATA ends in one command.
    reader.ok(&short(0x10, 0xDA, 0x00, 0x5B, b"Doe<<", None));
    reader.ok(&short(0x00, 0xDA, 0x00, 0x5B, b"Jane", None));
    assert_eq!(reader.ok(&get_data(0x5B)), NAME);
}

#[test]
fn terminate_df_and_activate_file_return_the_card_to_factory_state() {
    let stack = PcscStack::start();
    let card = stack.opcard(0, OpcardOptions::new());
    let name = card.reader_name().to_owned();
    let reader = Reader::connect(&name);
    personalize(&reader, &Keys::new());
    let reader = reader.reset(&name);
    let terminate = [0x00, 0xE6, 0x00, 0x00];
    let activate = [0x00, 0x44, 0x00, 0x00];
    reader.ok(&hex::decode(SELECT).unwrap());
    assert_eq!(
        reader.transmit(&terminate),
        [0x69, 0x85],
        "PW3 neither verified nor blocked"
    );
    // Blocking PW3 (three wrong tries) lets TERMINATE DF through without a PIN.
    for _ in 0..3 {
        reader.transmit(&verify(0x83, b"wrongPIN"));
    }
    assert_eq!(reader.transmit(&verify(0x83, NEW_PW3)), [0x63, 0xC0]);
    reader.ok(&terminate);
    assert_eq!(
        reader.transmit(&hex::decode(SELECT).unwrap()),
        [0x62, 0x85],
        "terminated"
    );
    assert_eq!(reader.transmit(&get_data(0x5B)), [0x69, 0x85]);
    // A power cycle does not undo it; ACTIVATE FILE does, to factory state.
    let reader = reader.reset(&name);
    assert_eq!(reader.transmit(&hex::decode(SELECT).unwrap()), [0x62, 0x85]);
    reader.ok(&activate);
    reader.ok(&hex::decode(SELECT).unwrap());
    assert_eq!(reader.ok(&get_data(0x5B)), b"");
    assert_eq!(reader.ok(&get_data(0x0102)), b"");
    let status_bytes = reader.ok(&get_data(0xC4));
    assert_eq!(status_bytes[4..], [3, 0, 3], "no resetting code any more");
    reader.ok(&verify(0x83, FACTORY_PW3));
    reader.ok(&verify(0x81, FACTORY_PW1));
    assert_eq!(
        hex::encode_upper(reader.ok(&get_data(0xC1))),
        "010800002000",
        "factory attributes: RSA 2048"
    );
    // ACTIVATE FILE on an operational card changes nothing; TERMINATE DF with PW3 verified.
    reader.ok(&put_data(0x5B, NAME));
    reader.ok(&activate);
    assert_eq!(reader.ok(&get_data(0x5B)), NAME);
    reader.ok(&terminate);
    assert_eq!(reader.transmit(&hex::decode(SELECT).unwrap()), [0x62, 0x85]);
    reader.ok(&activate);
    reader.ok(&hex::decode(SELECT).unwrap());
}

#[test]
fn key_import_rules_public_keys_unchecked_and_attributes_guard_the_slot() {
    let stack = PcscStack::start();
    let card = stack.opcard(0, OpcardOptions::new());
    let reader = Reader::connect(card.reader_name());
    let keys = Keys::new();
    let [sig, _, _] = key_imports(&keys);
    let read_sig = short(0x00, 0x47, 0x81, 0x00, &[0xB6, 0x00], Some(256));
    reader.ok(&hex::decode(SELECT).unwrap());
    reader.ok(&verify(0x83, FACTORY_PW3));
    // Factory attributes are RSA 2048, which this opcard cannot import: 6A81.
    assert_eq!(
        reader.transmit(&extended(0xDB, 0x3F, 0xFF, &sig, None)),
        [0x6A, 0x81]
    );
    reader.ok(&put_data(0xC1, &hex::decode(ATTRIBUTES[0]).unwrap()));
    // Without the public key, or with the NIST prefix on an Ed25519 key: 6A80.
    let seed = keys.sig.to_bytes();
    let no_public = tlv(
        0x4D,
        &[
            &[0xB6, 0x00][..],
            &tlv(0x7F48, &[0x92, 0x20]),
            &tlv(0x5F48, &seed),
        ]
        .concat(),
    );
    assert_eq!(
        reader.transmit(&extended(0xDB, 0x3F, 0xFF, &no_public, None)),
        [0x6A, 0x80]
    );
    let public = keys.sig.verifying_key().to_bytes();
    let nist_prefix = key_import(0xB6, &seed, &[&[0x04], &public[..]].concat());
    assert_eq!(
        reader.transmit(&extended(0xDB, 0x3F, 0xFF, &nist_prefix, None)),
        [0x6A, 0x80]
    );
    // A public key that is not the private key's is stored and read back as given.
    let wrong = key_import(0xB6, &seed, &[&[0x40][..], &[0xEE; 32][..]].concat());
    reader.ok(&extended(0xDB, 0x3F, 0xFF, &wrong, None));
    assert_eq!(
        hex::encode_upper(reader.ok(&read_sig)),
        format!("7F49228620{}", "EE".repeat(32))
    );
    // The right import replaces it; the same attributes again keep the key, others delete it.
    reader.ok(&extended(0xDB, 0x3F, 0xFF, &sig, None));
    reader.ok(&put_data(0xC1, &hex::decode(ATTRIBUTES[0]).unwrap()));
    assert_eq!(reader.ok(&read_sig)[5..], public);
    reader.ok(&put_data(0xC1, &hex::decode("132A8648CE3D030107").unwrap()));
    assert_eq!(
        reader.transmit(&read_sig),
        [0x6A, 0x88],
        "the slot is empty"
    );
}
