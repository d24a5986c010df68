//! Property tests of the round trips every parser here must hold, through the public API:
//! holder data of any Unicode text and any length the profile allows, built into a VSC,
//! sealed and opened again; BER-TLV data objects encoded and walked; command APDUs encoded
//! and decoded by an independent decoder (the `iso7816` crate); responses split and rebuilt.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rand_core::OsRng;
use vsc_core::apdu::{Command, Response, StatusWord};
use vsc_core::date::Date;
use vsc_core::holder;
use vsc_core::profile::{FieldKind, Profile};
use vsc_core::secret::SecretBytes;
use vsc_core::tlv;
use vsc_core::vsc::Vsc;

/// When the test VSCs are built (their UIDs' time, milliseconds since the Unix epoch): any
/// time will do.
const BUILT_AT_MS: u64 = 1_796_083_200_000;

fn profile() -> &'static Profile {
    static PROFILE: std::sync::LazyLock<Profile> =
        std::sync::LazyLock::new(|| Profile::builtin("iso7816-generic").unwrap());
    &PROFILE
}

fn today() -> Date {
    Date::from_ymd(2026, 12, 1).unwrap()
}

/// Text a clerk may type: any Unicode scalar but control characters (a line break where the
/// field allows it), 1 to `max` characters, nothing to trim at either end.
fn text(max: usize, line_breaks: bool) -> impl Strategy<Value = String> {
    let chars = if line_breaks { "[\\PC\n]" } else { "\\PC" };
    proptest::string::string_regex(&format!("{chars}{{1,{max}}}"))
        .unwrap()
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("something left after trimming", |s| !s.is_empty())
}

fn date(from_year: u16, to_year: u16) -> impl Strategy<Value = String> {
    (from_year..=to_year, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
}

/// Values for every field of the generic profile, optional ones sometimes left out.
fn holder_values() -> impl Strategy<Value = BTreeMap<String, String>> {
    let fields: Vec<BoxedStrategy<Option<(String, String)>>> = profile()
        .fields
        .iter()
        .map(|field| {
            let column = field.column.clone();
            let max = field.max_len;
            let value: BoxedStrategy<String> = match (field.kind, field.name.as_str()) {
                (FieldKind::Date, "expiry_date") => date(2027, 2070).boxed(),
                (FieldKind::Date, "issue_date") => date(1990, 2025).boxed(),
                (FieldKind::Date, _) => date(1900, 2025).boxed(),
                (FieldKind::Email, _) => "[a-z0-9._%+-]{1,40}@[a-z0-9-]{1,30}\\.[a-z]{2,10}"
                    .prop_map(String::from)
                    .boxed(),
                (_, "address") => text(max, true).boxed(),
                _ => text(max, false).boxed(),
            };
            let entry = value.prop_map(move |v| (column.clone(), v));
            if field.required {
                entry.prop_map(Some).boxed()
            } else {
                proptest::option::of(entry).boxed()
            }
        })
        .collect();
    fields.prop_map(|entries| entries.into_iter().flatten().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// What validation accepts is exactly what the opened VSC holds, whatever the script,
    /// the length (up to `max_len`) or the field.
    #[test]
    fn holder_data_survives_build_seal_and_open(values in holder_values()) {
        let holder = holder::validate_record(profile(), &values, today())
            .map_err(|e| TestCaseError::fail(format!("valid input refused: {e:?}")))?;
        for field in &profile().fields {
            if let Some(typed) = values.get(&field.column) {
                prop_assert_eq!(holder.value(&field.name), Some(typed.as_str()));
            }
        }
        let (vsc, password) = Vsc::build(profile(), &holder, BUILT_AT_MS, &mut OsRng).unwrap();
        let sealed = vsc.seal(&password, &mut OsRng).unwrap();
        let opened = Vsc::open(&sealed, password.expose()).unwrap();
        prop_assert_eq!(opened.uid(), vsc.uid());
        prop_assert_eq!(opened.image(), vsc.image());
        let public: BTreeMap<String, String> = opened.public_fields().into_iter().collect();
        let private: BTreeMap<String, String> = opened
            .private_fields()
            .into_iter()
            .map(|(name, value)| (name, value.expose().to_owned()))
            .collect();
        for field in &profile().fields {
            let shown = public.get(&field.name).or(private.get(&field.name));
            prop_assert_eq!(shown.map(String::as_str), holder.value(&field.name), "field {}", field.name);
        }
    }

    /// A VSC's UID is a UUID version 7 holding its build time (RFC 9562 §5.7): of two VSCs
    /// built in different milliseconds the later one's UID sorts after, as bytes and as text
    /// (the issuer's job ids), and the sealed header carries the same UID.
    #[test]
    fn uids_hold_the_build_time_and_sort_by_it(
        earlier in 0u64..(1 << 48) - 1,
        gap in 1u64..1_000_000,
    ) {
        let later = (earlier + gap).min((1 << 48) - 1);
        prop_assume!(later > earlier);
        let holder = holder::validate_record(profile(), &BTreeMap::from([
            ("holder_name".to_owned(), "Ada Lovelace".to_owned()),
            ("holder_id".to_owned(), "E-1".to_owned()),
            ("expiry_date".to_owned(), "2031-12-31".to_owned()),
            ("email".to_owned(), "ada@example.org".to_owned()),
        ]), today()).unwrap();
        let first = Vsc::build_sealed(profile(), &holder, earlier, &mut OsRng).unwrap();
        let second = Vsc::build_sealed(profile(), &holder, later, &mut OsRng).unwrap();
        for (sealed, at) in [(&first, earlier), (&second, later)] {
            prop_assert_eq!(sealed.uid.get_version_num(), 7);
            let (seconds, nanos) = sealed.uid.get_timestamp().unwrap().to_unix();
            prop_assert_eq!(seconds * 1000 + u64::from(nanos / 1_000_000), at);
            prop_assert_eq!(vsc_core::seal::read_header(&sealed.bytes).unwrap().uid, sealed.uid);
        }
        prop_assert!(first.uid.as_bytes() < second.uid.as_bytes());
        prop_assert!(first.uid.to_string() < second.uid.to_string());
    }

    /// Any sequence of data objects with valid tags encodes and walks back to itself.
    #[test]
    fn tlv_objects_encode_and_walk_back(
        objects in proptest::collection::vec((tag(), proptest::collection::vec(any::<u8>(), 0..700)), 0..8)
    ) {
        let pairs: Vec<(&[u8], &[u8])> =
            objects.iter().map(|(t, v)| (t.as_slice(), v.as_slice())).collect();
        let encoded = tlv::encode_all(pairs.iter().copied());
        let expected: usize = pairs.iter().map(|(t, v)| tlv::encoded_len(t, v.len())).sum();
        prop_assert_eq!(encoded.len(), expected);
        prop_assert_eq!(tlv::walk(encoded.expose()).unwrap(), pairs);
    }

    /// Whatever `walk` accepts, re-encoded, walks to the same objects.
    #[test]
    fn walked_bytes_reencode_to_the_same_objects(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(objects) = tlv::walk(&bytes) {
            let encoded = tlv::encode_all(objects.iter().copied());
            prop_assert_eq!(tlv::walk(encoded.expose()).unwrap(), objects);
        }
    }

    /// Every command APDU, short or extended, decodes with an independent decoder to the same
    /// header, data and expected length.
    #[test]
    fn commands_encode_as_iso7816_decodes_them(
        ins in any::<u8>(),
        p1 in any::<u8>(),
        p2 in any::<u8>(),
        data in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::collection::vec(any::<u8>(), 60_000..=65_535),
        ],
        le in proptest::option::of(prop_oneof![1usize..=300, 60_000usize..=65_536]),
        sensitive in any::<bool>(),
    ) {
        let mut command = Command::new(0x00, ins, p1, p2);
        if !data.is_empty() {
            command = if sensitive {
                command.with_sensitive_data(SecretBytes::new(data.clone()))
            } else {
                command.with_data(data.clone())
            };
        }
        if let Some(le) = le {
            command = command.with_le(le);
        }
        let bytes = command.to_bytes();
        let view = iso7816::command::CommandView::try_from(bytes.expose())
            .map_err(|e| TestCaseError::fail(format!("{e:?} for {command:?}")))?;
        prop_assert_eq!(u8::from(view.instruction()), ins);
        prop_assert_eq!((view.p1, view.p2), (p1, p2));
        prop_assert_eq!(view.data(), data.as_slice());
        prop_assert_eq!(view.expected(), le.unwrap_or(0));
        prop_assert_eq!(view.extended, command.needs_extended());
    }

    /// A response splits into data and status word and joins back to the same bytes.
    #[test]
    fn responses_split_and_join(data in proptest::collection::vec(any::<u8>(), 0..600), sw in any::<u16>()) {
        let mut bytes = data.clone();
        bytes.extend_from_slice(&sw.to_be_bytes());
        let response = Response::parse(&bytes).unwrap();
        prop_assert_eq!(response.data(), data.as_slice());
        prop_assert_eq!(response.sw, StatusWord(sw));
    }
}

/// A valid BER-TLV tag of one, two or three bytes (ISO 7816-4 §6.3).
fn tag() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        (any::<u8>(), 0x1Fu8..=0x7F).prop_map(|(a, b)| vec![a | 0x1F, b]),
        (any::<u8>(), 0x81u8..=0xFF, 0x00u8..=0x7F).prop_map(|(a, b, c)| vec![a | 0x1F, b, c]),
    ]
    .prop_filter("a valid tag", |t| tlv::check_tag(t).is_ok())
}
