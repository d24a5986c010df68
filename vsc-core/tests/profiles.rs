//! Card profiles and holder-data validation, through the public API only.

use std::collections::BTreeMap;

use vsc_core::date::Date;
use vsc_core::holder::{validate_record, FieldError};
use vsc_core::profile::{
    Access, DataArea, DateRange, FieldKind, KeyKind, Profile, ProfileError, ProfileProblem,
};

const GENERIC: &str = include_str!("../../profiles/iso7816-generic.toml");

fn generic() -> Profile {
    Profile::builtin("iso7816-generic").expect("the shipped profile parses")
}

// ---------------------------------------------------------------------------------------
// The shipped profiles

#[test]
fn shipped_openpgp_profile_puts_the_holder_in_the_cards_own_objects() {
    let p = Profile::builtin("openpgp-card").expect("the shipped OpenPGP profile parses");
    assert_eq!(p.layout.as_str(), "openpgp-card");
    assert!(p.file_system().is_none());
    let tag = |name: &str| p.field(name).expect(name).tag.clone();
    assert_eq!(tag("holder_name"), vec![0x5B]);
    assert_eq!(tag("holder_id"), vec![0x5E]);
    assert_eq!(tag("url"), vec![0x5F, 0x50]);
    let slots: Vec<_> = p
        .keys_objects
        .iter()
        .map(|k| (k.name.as_str(), k.slot.map(|s| s.as_str()), k.kind.as_str()))
        .collect();
    assert_eq!(
        slots,
        [
            ("signature", Some("signature"), "ed25519"),
            ("decryption", Some("decryption"), "x25519"),
            ("authentication", Some("authentication"), "ed25519"),
        ]
    );
    assert_eq!(
        p.pin.length, 6,
        "OpenPGP cards take PW1 of at least 6 digits"
    );
}

#[test]
fn shipped_profile_describes_the_generic_card() {
    assert_eq!(Profile::builtin_ids(), &["iso7816-generic", "openpgp-card"]);
    let p = generic();
    assert_eq!(p.id, "iso7816-generic");
    assert!(!p.name.is_empty() && !p.description.is_empty());
    assert_eq!(p.layout.as_str(), "iso7816-fs");
    assert_eq!(p.card.max_command_data, 255);
    assert_eq!(p.card.max_response_data, 256);
    assert!(!p.card.extended_apdus);
    let fs = p.file_system().expect("a file-system card");
    assert_eq!(fs.df.fid, 0x5000);
    assert_eq!(fs.df.aid, [0xF0, 0x56, 0x53, 0x43, 0x00, 0x01]);
    assert_eq!(fs.df.aid[0] >> 4, 0xF, "proprietary AID");

    let efs = [
        (fs.uid, 0x5001, Access::Always),
        (fs.public, 0x5002, Access::Always),
        (fs.private, 0x5003, Access::Pin),
        (fs.keys, 0x5004, Access::Never),
    ];
    for (ef, fid, read) in efs {
        assert_eq!(ef.fid, fid);
        assert_eq!(ef.read, read, "{fid:04X}");
        assert_eq!(ef.update, Access::Never, "{fid:04X}");
    }
    assert_eq!(fs.uid.size, 16);

    assert_eq!(
        (fs.pin.reference, p.pin.length, fs.pin.retries),
        (0x81, 6, 3)
    );
    assert_eq!(
        (fs.reset.reference, p.reset.length, fs.reset.retries),
        (0x82, 16, 10)
    );

    let names: Vec<_> = p.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "holder_name",
            "holder_id",
            "issuer_name",
            "expiry_date",
            "issue_date",
            "email",
            "date_of_birth",
            "address"
        ]
    );
    let holder_name = p.field("holder_name").unwrap();
    assert_eq!(holder_name.tag, [0x5F, 0x20]);
    assert!(holder_name.required && holder_name.area == DataArea::Public);
    assert!(p.field("holder_id").unwrap().required);
    assert_eq!(
        p.field("issuer_name").unwrap().default.as_deref(),
        Some("VSC Demo Issuer")
    );
    let expiry = p.field("expiry_date").unwrap();
    assert_eq!(
        (expiry.kind, expiry.area),
        (FieldKind::Date, DataArea::Public)
    );
    let email = p.field("email").unwrap();
    assert_eq!(
        (email.kind, email.area),
        (FieldKind::Email, DataArea::Private)
    );
    let dob = p.field("date_of_birth").unwrap();
    assert_eq!((dob.kind, dob.area), (FieldKind::Date, DataArea::Private));
    assert_eq!(p.field("address").unwrap().area, DataArea::Private);
    assert!(p.field("nope").is_none());

    assert_eq!(p.keys_objects.len(), 1);
    assert_eq!(p.keys_objects[0].name, "card_key");
    assert_eq!(p.keys_objects[0].kind, KeyKind::Aes256);

    // The documented worst cases, and that they fit.
    assert_eq!(p.worst_case_area_len(DataArea::Public), 676);
    assert_eq!(p.worst_case_area_len(DataArea::Private), 1333);
    assert!(p.worst_case_area_len(DataArea::Public) <= fs.public.size);
    assert!(p.worst_case_area_len(DataArea::Private) <= fs.private.size);
    assert_eq!(p.keys_len(), 34);
}

#[test]
fn hash_is_sha256_of_the_exact_text() {
    let p = Profile::parse(GENERIC).unwrap();
    assert_eq!(p, generic());
    assert_eq!(p.hash().to_vec(), sha256(GENERIC.as_bytes()));
    // A comment changes the hash but not the meaning.
    let commented = format!("{GENERIC}\n# trailing comment\n");
    let q = Profile::parse(&commented).unwrap();
    assert_ne!(p.hash(), q.hash());
    assert_eq!(p.fields, q.fields);
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).to_vec()
}

// ---------------------------------------------------------------------------------------
// Invalid profiles: each case names the right line

/// Replaces `from` (which must occur exactly once) in the shipped profile.
fn edit(from: &str, to: &str) -> String {
    assert_eq!(GENERIC.matches(from).count(), 1, "{from:?} must be unique");
    GENERIC.replacen(from, to, 1)
}

/// The 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in text"));
    text[..at].matches('\n').count() + 1
}

fn problems(text: &str) -> Vec<ProfileProblem> {
    match Profile::parse(text) {
        Ok(_) => panic!("profile unexpectedly valid"),
        Err(ProfileError { problems }) => problems,
    }
}

/// Asserts that parsing `text` fails with exactly one problem, on the line of `at`, whose
/// message contains `message`.
fn assert_one_problem(text: &str, at: &str, message: &str) {
    let problems = problems(text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].line, line_of(text, at), "{problems:#?}");
    assert!(
        problems[0].message.contains(message),
        "{:?} does not contain {message:?}",
        problems[0].message
    );
}

#[test]
fn syntax_errors_name_their_line() {
    let text = edit("max_command_data = 255", "max_command_data = = 255");
    assert_one_problem(&text, "max_command_data = =", "");
    let text = edit("name = \"address\"", "name = \"address");
    assert_one_problem(&text, "name = \"address", "");
}

#[test]
fn unknown_keys_name_their_line() {
    let text = edit("size = 1024", "size = 1024\nsise = 12");
    assert_one_problem(&text, "sise = 12", "unknown field `sise`");
    let text = edit(
        "[areas.keys]",
        "[areas.password]\nfid = \"5005\"\n\n[areas.keys]",
    );
    assert_one_problem(&text, "[areas.password]", "unknown field `password`");
    let text = edit("kind = \"aes256\"", "kind = \"aes256\"\ncolour = \"red\"");
    assert_one_problem(&text, "colour", "unknown field `colour`");
}

#[test]
fn wrong_types_name_their_line() {
    let text = edit("size = 1024", "size = \"1024\"");
    assert_one_problem(&text, "size = \"1024\"", "");
}

#[test]
fn missing_keys_are_reported() {
    let text = edit("max_response_data = 256\n", "");
    let problems = problems(&text);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].message.contains("max_response_data"),
        "{problems:?}"
    );
}

#[test]
fn ef_size_limits() {
    let text = edit("size = 1024", "size = 70000");
    assert_one_problem(
        &text,
        "size = 70000",
        "areas.public.size 70000 exceeds 32767",
    );
    let text = edit("size = 1024", "size = 0");
    assert_one_problem(
        &text,
        "size = 0",
        "areas.public.size 0 is below the minimum 1",
    );
    let text = edit("size = 16 ", "size = 8 ");
    assert_one_problem(&text, "size = 8 ", "16-byte UUID");
}

#[test]
fn fids_must_be_valid_unique_and_not_reserved() {
    let text = edit("fid = \"5003\"", "fid = \"5002\"");
    assert_one_problem(
        &text,
        "fid = \"5002\"\n# The private",
        "already used by areas.public.fid",
    );
    let text = edit("fid = \"5000\"", "fid = \"5004\"");
    assert_one_problem(&text, "fid = \"5004\"\nsize = 64", "already used by df.fid");
    for reserved in ["3F00", "3FFF", "FFFF", "3f00"] {
        let text = edit("fid = \"5001\"", &format!("fid = \"{reserved}\""));
        assert_one_problem(&text, &format!("fid = \"{reserved}\""), "is reserved");
    }
    let text = edit("fid = \"5001\"", "fid = \"501\"");
    assert_one_problem(&text, "fid = \"501\"", "not hex bytes");
    let text = edit("fid = \"5001\"", "fid = \"500100\"");
    assert_one_problem(&text, "fid = \"500100\"", "not a file identifier");
}

#[test]
fn aid_length_is_5_to_16_bytes() {
    let text = edit("aid = \"F0 56 53 43 00 01\"", "aid = \"F0 56 53 43\"");
    assert_one_problem(&text, "aid = ", "df.aid has 4 bytes");
    let long = "F0".repeat(17);
    let text = edit("aid = \"F0 56 53 43 00 01\"", &format!("aid = \"{long}\""));
    assert_one_problem(&text, "aid = ", "df.aid has 17 bytes");
    let text = edit(
        "aid = \"F0 56 53 43 00 01\"",
        "aid = \"F056534300010203040506070809\"",
    );
    assert!(Profile::parse(&text).is_ok(), "16 bytes, no spaces");
}

#[test]
fn credentials_are_checked() {
    let text = edit("length = 6 ", "length = 3 ");
    assert_one_problem(&text, "length = 3 ", "pin.length 3 is below the minimum 4");
    let text = edit("length = 6 ", "length = 13 ");
    assert_one_problem(&text, "length = 13 ", "pin.length 13 exceeds 12");
    let text = edit("retries = 3 ", "retries = 0 ");
    assert_one_problem(
        &text,
        "retries = 0 ",
        "pin.retries 0 is below the minimum 1",
    );
    let text = edit("retries = 10", "retries = 16");
    assert_one_problem(&text, "retries = 16", "reset.retries 16 exceeds 15");
    let text = edit("length = 16 ", "length = 7 ");
    assert_one_problem(
        &text,
        "length = 7 ",
        "reset.length 7 is below the minimum 8",
    );
    let text = edit("reference = \"82\"", "reference = \"81\"");
    assert_one_problem(
        &text,
        "reference = \"81\"\nlength = 16",
        "same as pin.reference",
    );
    let text = edit("reference = \"81\"", "reference = \"C1\"");
    assert_one_problem(&text, "reference = \"C1\"", "not a credential reference");
}

#[test]
fn apdu_limits() {
    let text = edit("max_command_data = 255", "max_command_data = 1024");
    assert_one_problem(&text, "max_command_data = 1024", "exceeds 255");
    let extended = text.replace("extended_apdus = false", "extended_apdus = true");
    assert!(Profile::parse(&extended).is_ok());
    let text = edit("max_command_data = 255", "max_command_data = 0");
    assert_one_problem(&text, "max_command_data = 0", "below the minimum 1");
    let text = edit("max_command_data = 255", "max_command_data = 33");
    assert_one_problem(
        &text,
        "max_command_data = 33",
        "setting the PIN sends 34 bytes",
    );
    let text = edit("max_command_data = 255", "max_command_data = 70000")
        .replace("extended_apdus = false", "extended_apdus = true");
    assert_one_problem(&text, "max_command_data = 70000", "exceeds 65535");
    let text = edit("max_response_data = 256", "max_response_data = 300");
    assert_one_problem(&text, "max_response_data = 300", "exceeds 256");
}

#[test]
fn tags_must_be_valid_primitive_and_unique_per_area() {
    let text = edit("tag = \"C2\"", "tag = \"DF01\"");
    assert_one_problem(&text, "tag = \"DF01\"", "not a valid BER-TLV tag");
    let text = edit("tag = \"C2\"", "tag = \"5F\"");
    assert_one_problem(&text, "tag = \"5F\"", "not a valid BER-TLV tag");
    let text = edit("tag = \"C2\"", "tag = \"00\"");
    assert_one_problem(&text, "tag = \"00\"", "not a valid BER-TLV tag");
    let text = edit("tag = \"C2\"", "tag = \"7F20\"");
    assert_one_problem(&text, "tag = \"7F20\"", "constructed");
    let text = edit("tag = \"C2\"", "tag = \"C1\"");
    assert_one_problem(
        &text,
        "tag = \"C1\"         # private class: the issuing",
        "already used by field \"holder_id\"",
    );
    // The same tag in another area is fine.
    let text = edit("tag = \"C4\"", "tag = \"C1\"");
    assert!(Profile::parse(&text).is_ok());
    let text = edit("tag = \"C6\"", "tag = \"E6\"");
    assert_one_problem(&text, "tag = \"E6\"", "constructed");
}

#[test]
fn field_rules() {
    let text = edit("column = \"holder_id\"", "column = \"holder_name\"");
    assert_one_problem(
        &text,
        "column = \"holder_name\"\nkind = \"text\"\nrequired = true\nmax_len = 32",
        "column names must be unique",
    );
    let text = edit(
        "area = \"public\"\ntag = \"C1\"",
        "area = \"keys\"\ntag = \"C1\"",
    );
    assert_one_problem(&text, "area = \"keys\"", "use \"public\" or \"private\"");
    let text = edit(
        "default = \"VSC Demo Issuer\"",
        "default = \"VSC Demo Issuer\"\nrequired = true",
    );
    assert_one_problem(&text, "default = ", "required field has no default");
    let text = edit("kind = \"email\"", "kind = \"phone\"");
    assert_one_problem(&text, "kind = \"phone\"", "unknown");
    let text = edit("name = \"holder_id\"", "name = \"holder_name\"");
    assert_one_problem(
        &text,
        "name = \"holder_name\"\nlabel = \"Holder ID",
        "field names must be unique",
    );
    let text = edit("name = \"holder_id\"", "name = \"Holder ID\"");
    assert_one_problem(&text, "name = \"Holder ID\"", "is not valid");
    let text = edit("max_len = 32", "max_len = 0");
    assert_one_problem(&text, "max_len = 0", "below the minimum 1");
    let text = edit("max_len = 32\n", "");
    assert_one_problem(
        &text,
        "kind = \"text\"\nrequired = true\n\n",
        "max_len is missing",
    );
    let text = edit(
        "range = \"up-to-today\"\n",
        "range = \"up-to-today\"\nmax_len = 8\n",
    );
    assert_one_problem(&text, "max_len = 8", "always 10 characters");
    let text = edit("default = \"VSC Demo Issuer\"", "default = \"\"");
    assert_one_problem(&text, "default = \"\"", "not a valid value");
    let text = edit(
        "default = \"VSC Demo Issuer\"",
        &format!("default = \"{}\"", "x".repeat(65)),
    );
    assert_one_problem(&text, "default = \"xxx", "65 characters long");
}

#[test]
fn date_ranges_and_the_today_default() {
    let p = generic();
    let range = |name: &str| p.field(name).unwrap().range;
    assert_eq!(range("expiry_date"), Some(DateRange::AfterToday));
    assert_eq!(range("date_of_birth"), Some(DateRange::BeforeToday));
    assert_eq!(range("issue_date"), Some(DateRange::UpToToday));
    assert_eq!(range("holder_name"), None);
    assert_eq!(
        p.field("issue_date").unwrap().default.as_deref(),
        Some("today")
    );

    let text = edit("range = \"after-today\"", "range = \"someday\"");
    assert_one_problem(&text, "range = \"someday\"", "unknown");
    let text = edit("max_len = 32\n", "max_len = 32\nrange = \"after-today\"\n");
    assert_one_problem(
        &text,
        "range = \"after-today\"\n\n",
        "only applies to date fields",
    );
    let text = edit("range = \"up-to-today\"", "range = \"after-today\"");
    assert_one_problem(&text, "default = \"today\"", "outside the field's range");
    // "today" is a keyword of date fields only; elsewhere it is a plain default.
    let text = edit("default = \"VSC Demo Issuer\"", "default = \"today\"");
    let p = Profile::parse(&text).unwrap();
    let data = validate_record(
        &p,
        &form(&[("holder_name", "A"), ("holder_id", "1")]),
        today(),
    )
    .unwrap();
    assert_eq!(data.value("issuer_name"), Some("today"));
}

#[test]
fn who_names_public_fields() {
    let p = generic();
    assert_eq!(p.who.name, "holder_name");
    assert_eq!(p.who.id.as_deref(), Some("holder_id"));
    assert_eq!(p.who.issuer.as_deref(), Some("issuer_name"));
    assert_eq!(p.who.issued_on.as_deref(), Some("issue_date"));

    let text = edit("name = \"holder_name\"\nid", "name = \"nickname\"\nid");
    assert_one_problem(&text, "name = \"nickname\"", "not a field of this profile");
    let text = edit("id = \"holder_id\"", "id = \"email\"");
    assert_one_problem(&text, "id = \"email\"", "is a private field");
    let text = edit("issued_on = \"issue_date\"", "issued_on = \"holder_id\"");
    assert_one_problem(&text, "issued_on = \"holder_id\"", "not a date field");
    let text = edit("issued_on = \"issue_date\"\n", "");
    assert_eq!(Profile::parse(&text).unwrap().who.issued_on, None);
    let data = validate_record(
        &p,
        &form(&[("holder_name", " Zoë "), ("holder_id", "Z-9")]),
        today(),
    )
    .unwrap();
    assert_eq!(data.who(&p.who), "Z-9 Zoë");
}

#[test]
fn areas_must_hold_their_worst_case() {
    let text = edit("size = 1024", "size = 675");
    assert_one_problem(&text, "size = 675", "need up to 676 bytes");
    assert!(Profile::parse(&edit("size = 1024", "size = 676")).is_ok());
    let text = edit("size = 2048", "size = 1000");
    assert_one_problem(&text, "size = 1000", "need up to 1333 bytes");
    let text = edit("size = 64 ", "size = 33 ");
    assert_one_problem(&text, "size = 33 ", "key objects need 34 bytes");
}

#[test]
fn access_rules_protect_private_data_and_keys() {
    let text = edit("read = \"pin\"", "read = \"always\"");
    assert_one_problem(&text, "read = \"always\"       #", "personal data");
    let text = edit("read = \"never\"", "read = \"pin\"");
    assert_one_problem(&text, "read = \"pin\"     #", "secret keys");
    let text = edit("read = \"never\"", "read = \"sometimes\"");
    assert_one_problem(&text, "read = \"sometimes\"", "not an access condition");
}

#[test]
fn every_problem_is_reported_at_once_in_line_order() {
    let text = edit("size = 1024", "size = 70000")
        .replace("length = 6 ", "length = 2 ")
        .replace("tag = \"C2\"", "tag = \"DF01\"")
        .replace("id = \"iso7816-generic\"", "id = \"Generic Card\"");
    let problems = problems(&text);
    let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    assert_eq!(
        lines,
        [
            line_of(&text, "id = \"Generic Card\""),
            line_of(&text, "size = 70000"),
            line_of(&text, "length = 2 "),
            line_of(&text, "tag = \"DF01\""),
        ],
        "{problems:#?}"
    );
    let message = Profile::parse(&text).unwrap_err().to_string();
    assert!(
        message.starts_with("the card profile has 4 problem(s)"),
        "{message}"
    );
    assert!(message.contains(&format!(
        "line {}: areas.public.size 70000 exceeds 32767",
        lines[1]
    )));
}

#[test]
fn an_unknown_layout_is_named_with_the_known_ones() {
    let text = edit("layout = \"iso7816-fs\"", "layout = \"piv\"");
    assert_one_problem(&text, "layout = \"piv\"", "\"iso7816-fs\"");
    let text = edit("layout = \"iso7816-fs\"\n", "");
    assert!(!problems(&text).is_empty());
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "\u{0}",
        "[[[",
        "id = 5",
        "fields = 3",
        &GENERIC[..GENERIC.len() / 2],
    ] {
        assert!(Profile::parse(text).is_err(), "{text:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Form input

/// The day form dates are checked against in these tests.
fn today() -> Date {
    Date::from_ymd(2026, 12, 1).unwrap()
}

fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn form_records_validate_like_csv_rows() {
    let p = generic();
    let data = validate_record(
        &p,
        &form(&[
            ("holder_name", "  Émile Nguyễn-Müller 田中 "),
            ("holder_id", "E-1"),
            ("email", "e@example.org"),
        ]),
        today(),
    )
    .unwrap();
    assert_eq!(data.value("holder_name"), Some("Émile Nguyễn-Müller 田中"));
    assert_eq!(data.value("issuer_name"), Some("VSC Demo Issuer"));
    assert_eq!(data.value("email"), Some("e@example.org"));
    assert_eq!(data.value("date_of_birth"), None);

    let errors = validate_record(
        &p,
        &form(&[
            ("holder_name", ""),
            ("date_of_birth", "2023-02-29"),
            ("favourite_colour", "blue"),
        ]),
        today(),
    )
    .unwrap_err();
    let columns: Vec<_> = errors.iter().map(|e| e.column.as_str()).collect();
    assert_eq!(
        columns,
        [
            "favourite_colour",
            "holder_name",
            "holder_id",
            "date_of_birth"
        ]
    );
    assert_eq!(
        errors[3],
        FieldError {
            column: "date_of_birth".into(),
            reason: "is not a valid date (YYYY-MM-DD, e.g. 1990-01-31)".into(),
        }
    );
    assert_eq!(
        errors[3].to_string(),
        "date_of_birth: is not a valid date (YYYY-MM-DD, e.g. 1990-01-31)"
    );
}

#[test]
fn digits_fields_accept_only_ascii_digits() {
    let text = edit(
        "kind = \"text\"\nrequired = true\nmax_len = 32",
        "kind = \"digits\"\nrequired = true\nmax_len = 8",
    );
    let p = Profile::parse(&text).unwrap();
    let ok = validate_record(
        &p,
        &form(&[("holder_name", "A"), ("holder_id", "00123")]),
        today(),
    )
    .unwrap();
    assert_eq!(ok.value("holder_id"), Some("00123"));
    for bad in ["12a", "١٢٣", "-1", "1 2", "1.0"] {
        let errors = validate_record(
            &p,
            &form(&[("holder_name", "A"), ("holder_id", bad)]),
            today(),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1, "{bad}");
        assert!(
            errors[0]
                .reason
                .ends_with("must contain only the digits 0-9"),
            "{bad}"
        );
    }
    let errors = validate_record(
        &p,
        &form(&[("holder_name", "A"), ("holder_id", "123456789")]),
        today(),
    )
    .unwrap_err();
    assert_eq!(
        errors[0].reason,
        "is 9 characters long; at most 8 fit on the card"
    );
}

#[test]
fn max_len_counts_characters_not_bytes() {
    let p = generic();
    let name = "田".repeat(64); // 192 bytes, 64 characters
    let ok = validate_record(
        &p,
        &form(&[("holder_name", &name), ("holder_id", "1")]),
        today(),
    )
    .unwrap();
    assert_eq!(ok.value("holder_name"), Some(name.as_str()));
    let too_long = "田".repeat(65);
    let errors = validate_record(
        &p,
        &form(&[("holder_name", &too_long), ("holder_id", "1")]),
        today(),
    )
    .unwrap_err();
    assert_eq!(errors[0].column, "holder_name");
}

/// A long profile (thousands of fields, each with a bad tag) gets every problem at its own
/// line. Naming a line used to scan the text from its start, once per field, which made such
/// a profile take quadratic time to check (440 KB: 50 s under the fuzzer's sanitizer).
#[test]
fn thousands_of_fields_each_get_their_own_line() {
    let mut text = GENERIC.to_owned();
    for i in 0..3000 {
        text.push_str(&format!(
            "\n[[fields]]\nname = \"f{i}\"\nlabel = \"F\"\narea = \"public\"\ntag = \"ZZ\"\n\
             column = \"c{i}\"\nkind = \"text\"\nmax_len = 1\n"
        ));
    }
    let expected: Vec<usize> = text
        .match_indices("tag = \"ZZ\"")
        .map(|(at, _)| text[..at].matches('\n').count() + 1)
        .collect();
    let found: Vec<usize> = problems(&text)
        .iter()
        .filter(|p| p.message.contains("ZZ"))
        .map(|p| p.line)
        .collect();
    assert_eq!(found.len(), 3000);
    assert_eq!(found, expected);
}

#[test]
fn ascii_fields_refuse_accents_and_say_how_to_write_them() {
    let p = Profile::builtin("openpgp-card").unwrap();
    let base = [
        ("holder_id", "emile"),
        ("expiry_date", "2031-12-31"),
        ("url", "https://keys.example.org/emile.asc"),
    ];
    let with = |name: &str| {
        let mut fields = base.to_vec();
        fields.push(("holder_name", name));
        validate_record(&p, &form(&fields), today())
    };
    let ok = with("Emile Nguyen-Muller").expect("plain ASCII is accepted");
    assert_eq!(ok.value("holder_name"), Some("Emile Nguyen-Muller"));

    let errors = with("Émile Nguyễn-Müller").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].column, "holder_name");
    assert!(
        errors[0].reason.contains("'É'")
            && errors[0].reason.contains("plain ASCII")
            && errors[0].reason.contains("without accents"),
        "{}",
        errors[0].reason
    );
    // One line: a line break is a control character here, unlike in a text field.
    let errors = with("Emile\nNguyen").unwrap_err();
    assert!(errors[0].reason.contains("control character"), "{errors:?}");
}
