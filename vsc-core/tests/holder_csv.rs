//! Holder files: encoding, delimiter, line numbers, the holder named, duplicates, and every
//! row's problems, through the public API only.

use vsc_core::date::Date;
use vsc_core::holder::HolderData;
use vsc_core::holder_csv::{self, CsvError, CsvOptions, Delimiter, FileProblem, RowError};
use vsc_core::profile::Profile;
use vsc_core::text_encoding::{DecodeError, TextEncoding};

fn generic() -> Profile {
    GENERIC.clone()
}

static GENERIC: std::sync::LazyLock<Profile> = std::sync::LazyLock::new(|| {
    Profile::builtin("iso7816-generic").expect("the shipped profile parses")
});

/// The day every test here checks date ranges against.
fn today() -> Date {
    Date::from_ymd(2026, 12, 1).unwrap()
}

fn read_as(text: &[u8], encoding: TextEncoding) -> Result<holder_csv::HolderRows, CsvError> {
    let options = CsvOptions {
        encoding,
        today: today(),
    };
    holder_csv::read(&GENERIC, text, &options)
}

/// The holders of a UTF-8 file, or its row problems (a whole-file problem fails the test).
fn parse_csv(_profile: &Profile, text: &str) -> Result<Vec<HolderData>, Vec<RowError>> {
    match read_as(text.as_bytes(), TextEncoding::Utf8) {
        Ok(rows) => Ok(rows.into_holders()),
        Err(CsvError::Rows(errors)) => Err(errors),
        Err(other) => panic!("a whole-file problem: {other}"),
    }
}

/// The whole-file problem of a UTF-8 file.
fn file_problem(text: &str) -> FileProblem {
    match read_as(text.as_bytes(), TextEncoding::Utf8) {
        Err(CsvError::File(problem)) => problem,
        other => panic!("expected a whole-file problem, got {other:?}"),
    }
}

const HEADER: &str = "holder_name,holder_id,issuer_name,expiry_date,email,date_of_birth,address";

fn rows(errors: &[RowError]) -> Vec<(usize, &str)> {
    errors.iter().map(|e| (e.row, e.column.as_str())).collect()
}

#[test]
fn good_rows_keep_utf8_quotes_commas_and_line_breaks() {
    let csv = format!(
        "\u{FEFF}{HEADER}\n\
         Émile Nguyễn-Müller 田中,E-001,,2030-12-31,emile@example.org,1990-02-28,\"1 Rue de l'Église, 75001 Paris\"\n\
         \"O'Brien, Siobhán\",E-002,ACME Corp,,  siobhan@example.ie  ,2000-02-29,\"Flat 2\n10 Main St, Dublin\"\n\
         Ada Lovelace,E-003,,,,,\n"
    );
    let holders = parse_csv(&generic(), &csv).expect("valid CSV");
    assert_eq!(holders.len(), 3);

    let emile = &holders[0];
    assert_eq!(emile.value("holder_name"), Some("Émile Nguyễn-Müller 田中"));
    assert_eq!(
        emile.value("issuer_name"),
        Some("VSC Demo Issuer"),
        "default"
    );
    assert_eq!(
        emile.value("address"),
        Some("1 Rue de l'Église, 75001 Paris")
    );
    let public: Vec<_> = emile
        .public_values()
        .map(|(f, v)| (f.name.as_str(), v))
        .collect();
    assert_eq!(
        public,
        [
            ("holder_name", "Émile Nguyễn-Müller 田中"),
            ("holder_id", "E-001"),
            ("issuer_name", "VSC Demo Issuer"),
            ("expiry_date", "2030-12-31"),
            ("issue_date", "2026-12-01"),
        ]
    );
    let private: Vec<_> = emile
        .private_values()
        .map(|(f, v)| (f.name.as_str(), v))
        .collect();
    assert_eq!(
        private,
        [
            ("email", "emile@example.org"),
            ("date_of_birth", "1990-02-28"),
            ("address", "1 Rue de l'Église, 75001 Paris"),
        ]
    );

    let obrien = &holders[1];
    assert_eq!(obrien.value("holder_name"), Some("O'Brien, Siobhán"));
    assert_eq!(obrien.value("issuer_name"), Some("ACME Corp"));
    assert_eq!(
        obrien.value("expiry_date"),
        None,
        "empty optional is omitted"
    );
    assert_eq!(obrien.value("email"), Some("siobhan@example.ie"), "trimmed");
    assert_eq!(obrien.value("address"), Some("Flat 2\n10 Main St, Dublin"));

    let ada = &holders[2];
    assert_eq!(ada.private_values().count(), 0);
    assert_eq!(ada.public_values().count(), 4);
}

#[test]
fn columns_may_come_in_any_order_and_optional_ones_may_be_missing() {
    let csv = "holder_id,holder_name\nX1,Zoë\n";
    let holders = parse_csv(&generic(), csv).unwrap();
    assert_eq!(holders[0].value("holder_name"), Some("Zoë"));
    assert_eq!(holders[0].value("holder_id"), Some("X1"));
    assert_eq!(holders[0].value("issuer_name"), Some("VSC Demo Issuer"));
}

#[test]
fn private_values_are_redacted_in_debug() {
    let csv = format!("{HEADER}\nAda,1,,,ada@example.org,1915-12-10,12 St James's Square\n");
    let holders = parse_csv(&generic(), &csv).unwrap();
    let debug = format!("{holders:?}");
    assert!(debug.contains("Ada"), "public values are plain");
    for secret in ["ada@example.org", "1915-12-10", "James"] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[test]
fn every_bad_row_is_reported_with_row_column_and_reason() {
    let csv = format!(
        "{HEADER}\n\
         ,E-1,,,,,\n\
         Ann,,,,,,\n\
         Bob,E-3,,2023-02-29,,,\n\
         Cy,E-4,,,not-an-email,,\n\
         Di,E-5,,,,1990-13-01,\n\
         {},E-6,,,,,\n\
         Ed,E-7,,31/12/2030,,,\n\
         Flo,\"E-8\u{7}\",,,,,\n\
         \"Gus\nMultiline OK\",E-9,,,a@b@c.org,,\n\
         Hal,E-10,too,many,,,,\n\
         Ivy,E-11,,,,,{}\n",
        "N".repeat(65),
        "A".repeat(201),
    );
    let errors = parse_csv(&generic(), &csv).unwrap_err();
    assert_eq!(
        rows(&errors),
        [
            (2, "holder_name"),
            (3, "holder_id"),
            (4, "expiry_date"),
            (5, "email"),
            (6, "date_of_birth"),
            (7, "holder_name"),
            (8, "expiry_date"),
            (9, "holder_id"),
            (10, "email"),
            (12, ""),
            (13, "address"),
        ],
        "{errors:#?}"
    );
    let reason = |row: usize| errors.iter().find(|e| e.row == row).unwrap().reason.clone();
    assert_eq!(reason(2), "is required but empty (Cardholder name)");
    assert_eq!(
        reason(3),
        "is required but empty (Holder ID (staff or customer number))"
    );
    assert_eq!(
        reason(4),
        "'2023-02-29' is not a valid date (YYYY-MM-DD, e.g. 1990-01-31)"
    );
    assert_eq!(
        reason(5),
        "is not a valid email address (e.g. name@example.org)"
    );
    assert_eq!(
        reason(6),
        "is not a valid date (YYYY-MM-DD, e.g. 1990-01-31)"
    );
    assert_eq!(
        reason(7),
        "is 65 characters long; at most 64 fit on the card"
    );
    assert!(reason(8).starts_with("'31/12/2030' is not a valid date"));
    assert_eq!(
        reason(9),
        "contains a control character (U+0007); remove it"
    );
    assert!(reason(12).contains("has 8 values but the header has 7 columns"));
    assert_eq!(
        reason(13),
        "is 201 characters long; at most 200 fit on the card"
    );

    // Display puts it together for a clerk.
    assert_eq!(
        errors[4].to_string(),
        "row 6 (E-5 Di), column date_of_birth: is not a valid date (YYYY-MM-DD, e.g. 1990-01-31)"
    );
    // Private values never appear in any message.
    let all: String = errors.iter().map(|e| e.to_string() + "\n").collect();
    for secret in ["not-an-email", "1990-13-01", "a@b@c.org", "AAAA"] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
}

#[test]
fn a_private_field_with_a_control_character_is_rejected_without_echo() {
    let csv = format!("{HEADER}\nAl,1,,,,,\"12\u{1b}[31m Street\"\n");
    let errors = parse_csv(&generic(), &csv).unwrap_err();
    assert_eq!(rows(&errors), [(2, "address")]);
    assert!(!errors[0].reason.contains("Street"));
}

#[test]
fn several_errors_in_one_row_are_all_reported() {
    let csv = format!("{HEADER}\n,,,2023-02-30,x,1990-02-30,\n");
    let errors = parse_csv(&generic(), &csv).unwrap_err();
    assert_eq!(
        rows(&errors),
        [
            (2, "holder_name"),
            (2, "holder_id"),
            (2, "expiry_date"),
            (2, "email"),
            (2, "date_of_birth"),
        ]
    );
}

#[test]
fn header_problems() {
    let errors = parse_csv(&generic(), "holder_name,phone,nickname\nA,1,2\n").unwrap_err();
    assert_eq!(
        rows(&errors),
        [(1, "phone"), (1, "nickname"), (1, "holder_id")],
        "{errors:#?}"
    );
    assert!(errors[0].reason.starts_with(
        "is not a column of profile iso7816-generic; expected holder_name, holder_id"
    ));
    assert!(errors[2]
        .reason
        .starts_with("required column is missing from the header"));

    let errors = parse_csv(&generic(), "holder_name,holder_id,holder_id\nA,1,2\n").unwrap_err();
    assert_eq!(rows(&errors), [(1, "holder_id")]);
    assert!(errors[0].reason.contains("more than once"));

    let errors = parse_csv(&generic(), "holder_name,holder_id,\nA,1,\n").unwrap_err();
    assert_eq!(rows(&errors), [(1, "")]);
    assert!(errors[0].reason.contains("header column 3 has no name"));
}

#[test]
fn semicolon_and_tab_files_are_detected() {
    for (text, delimiter) in [
        (
            "holder_name;holder_id\nA;1\n\"B; junior\";2\n",
            Delimiter::Semicolon,
        ),
        (
            "holder_name\tholder_id\nA\t1\n\"B, junior\"\t2\n",
            Delimiter::Tab,
        ),
        (
            "holder_name,holder_id\nA,1\n\"B, junior\",2\n",
            Delimiter::Comma,
        ),
    ] {
        let rows = read_as(text.as_bytes(), TextEncoding::Utf8).unwrap();
        assert_eq!(rows.delimiter, delimiter);
        let holders = rows.into_holders();
        assert_eq!(holders[1].value("holder_id"), Some("2"));
        assert!(holders[1].value("holder_name").unwrap().contains("junior"));
    }
}

#[test]
fn excel_sep_line_names_the_delimiter_and_counts_as_a_line() {
    let text = "sep=;\r\nholder_name;holder_id\r\nA;1\r\n;2\r\n";
    let errors = parse_csv(&generic(), text).unwrap_err();
    assert_eq!(rows(&errors), [(4, "holder_name")]);
    let text = "sep=\t\nholder_name\tholder_id\nA, B\t1\n";
    let rows = read_as(text.as_bytes(), TextEncoding::Utf8).unwrap();
    assert_eq!(rows.delimiter, Delimiter::Tab);
}

#[test]
fn a_header_without_any_profile_column_is_refused_up_front() {
    let problem = file_problem("Name|ID\nAda|1\n");
    let FileProblem::NoHeader { header, .. } = &problem else {
        panic!("{problem:?}");
    };
    assert_eq!(header, "'Name|ID'");
    let message = problem.to_string();
    assert!(
        message.contains("expected") || message.contains("holder_name, holder_id"),
        "{message}"
    );
}

#[test]
fn header_and_row_problems_are_reported_together() {
    let csv = "holder_name,holder_id,phone\nA,,1\nB,2,3\n,3,4\n";
    let errors = parse_csv(&generic(), csv).unwrap_err();
    assert_eq!(
        rows(&errors),
        [(1, "phone"), (2, "holder_id"), (4, "holder_name")]
    );
}

#[test]
fn a_missing_required_column_is_reported_once_not_per_row() {
    let csv = "holder_name\nA\nB\nC\n";
    let errors = parse_csv(&generic(), csv).unwrap_err();
    assert_eq!(rows(&errors), [(1, "holder_id")]);
}

#[test]
fn empty_files_and_files_without_data_rows() {
    for text in ["", "   \n\n", "\u{FEFF}"] {
        let problem = file_problem(text);
        assert!(matches!(problem, FileProblem::Empty { .. }), "{problem:?}");
        assert!(problem.to_string().starts_with("the file is empty"));
    }
    for text in [
        HEADER.to_owned(),
        format!("{HEADER}\n"),
        format!("{HEADER}\n,,,,,,\n\n"),
    ] {
        assert_eq!(file_problem(&text), FileProblem::NoRows);
    }
}

#[test]
fn row_numbers_are_file_lines_even_after_multiline_values() {
    let csv = format!("{HEADER}\nA,1,,,,,\"line 1\nline 2\nline 3\"\nB,2,,2023-02-29,,,\n");
    let errors = parse_csv(&generic(), &csv).unwrap_err();
    assert_eq!(rows(&errors), [(5, "expiry_date")]);
}

#[test]
fn crlf_files_work() {
    let csv = format!("{HEADER}\r\nA,1,,,,,\r\nB,2,,,,,\r\n");
    let holders = parse_csv(&generic(), &csv).unwrap();
    assert_eq!(holders.len(), 2);
    assert_eq!(holders[1].value("holder_id"), Some("2"));
}

#[test]
fn row_numbers_are_file_lines_with_crlf_blank_lines_and_a_bom() {
    let text = format!(
        "\u{FEFF}\r\n{HEADER}\r\nA,1,,,,,\r\n\r\nB,2,,2023-02-29,,,\r\nC,3,,,,,\"x\r\ny\"\r\n,4,,,,,\r\n"
    );
    let errors = parse_csv(&generic(), &text).unwrap_err();
    assert_eq!(rows(&errors), [(5, "expiry_date"), (8, "holder_name")]);
    // Old Mac files end lines with a CR alone.
    let text = format!("{HEADER}\rA,1,,,,,\r,2,,,,,\r");
    let errors = parse_csv(&generic(), &text).unwrap_err();
    assert_eq!(rows(&errors), [(3, "holder_name")]);
}

#[test]
fn every_row_problem_names_the_holder() {
    let text = format!("{HEADER}\nAda Lovelace,E-1,,2020-01-01,,,\n,E-2,,,,,\nNo Id,,,,,,\n");
    let errors = parse_csv(&generic(), &text).unwrap_err();
    let holders: Vec<_> = errors.iter().map(|e| (e.row, e.holder.as_str())).collect();
    assert_eq!(holders, [(2, "E-1 Ada Lovelace"), (3, "E-2"), (4, "No Id")]);
    assert_eq!(
        errors[0].to_string(),
        "row 2 (E-1 Ada Lovelace), column expiry_date: '2020-01-01' is not after today (2026-12-01); it must be a future date"
    );
}

#[test]
fn duplicate_holder_ids_are_problems_of_the_later_rows() {
    let text = format!("{HEADER}\nAda,E-1,,,,,\nBob,E-2,,,,,\nAda again,E-1,,,,,\nCy,E-1,,,,,\n");
    let errors = parse_csv(&generic(), &text).unwrap_err();
    assert_eq!(rows(&errors), [(4, "holder_id"), (5, "holder_id")]);
    assert_eq!(
        errors[0].reason,
        "'E-1' is already the holder ID on row 2; each holder may appear only once in a batch"
    );
    assert_eq!(errors[1].holder, "E-1 Cy");
}

#[test]
fn dates_are_checked_against_today() {
    let cases = [
        ("2026-12-02", "", None),
        ("2076-12-01", "", None),
        (
            "2026-12-01",
            "",
            Some("'2026-12-01' is not after today (2026-12-01); it must be a future date"),
        ),
        (
            "2076-12-02",
            "",
            Some("'2076-12-02' is more than 50 years after today; check the year"),
        ),
        ("", "2026-11-30", None),
        ("", "1876-12-01", None),
        (
            "",
            "2026-12-01",
            Some("is not before today (2026-12-01); it must be a past date"),
        ),
        (
            "",
            "2027-01-01",
            Some("is not before today (2026-12-01); it must be a past date"),
        ),
        (
            "",
            "1876-11-30",
            Some("is more than 150 years before today; check the year"),
        ),
    ];
    for (expiry, birth, problem) in cases {
        let text =
            format!("holder_name,holder_id,expiry_date,date_of_birth\nA,1,{expiry},{birth}\n");
        let result = parse_csv(&generic(), &text);
        match problem {
            None => assert!(result.is_ok(), "{expiry} {birth}: {result:?}"),
            Some(reason) => {
                let errors = result.unwrap_err();
                assert_eq!(errors.len(), 1, "{errors:?}");
                assert_eq!(errors[0].reason, reason);
            }
        }
    }
}

#[test]
fn the_issue_date_is_today_unless_given() {
    let text = "holder_name,holder_id,issue_date\nA,1,\nB,2,2026-11-02\nC,3,2026-12-02\n";
    let errors = parse_csv(&generic(), text).unwrap_err();
    assert_eq!(rows(&errors), [(4, "issue_date")]);
    let text = "holder_name,holder_id,issue_date\nA,1,\nB,2,2026-11-02\n";
    let holders = parse_csv(&generic(), text).unwrap();
    assert_eq!(holders[0].value("issue_date"), Some("2026-12-01"));
    assert_eq!(holders[1].value("issue_date"), Some("2026-11-02"));
    // Without the column at all, too.
    let holders = parse_csv(&generic(), "holder_name,holder_id\nA,1\n").unwrap();
    assert_eq!(holders[0].value("issue_date"), Some("2026-12-01"));
}

#[test]
fn a_windows_1252_file_is_refused_unless_its_encoding_is_named() {
    let bytes = b"holder_name,holder_id\r\nSiobh\xE1n O'Brien,E-1\r\nJos\xE9 \xC1lvarez,E-2\r\n";
    match read_as(bytes, TextEncoding::Utf8) {
        Err(CsvError::File(FileProblem::Encoding(DecodeError::NotUtf8 {
            line: 2,
            byte: 0xE1,
        }))) => {}
        other => panic!("{other:?}"),
    }
    let holders = read_as(bytes, TextEncoding::Windows1252)
        .unwrap()
        .into_holders();
    assert_eq!(holders[0].value("holder_name"), Some("Siobhán O'Brien"));
    assert_eq!(holders[1].value("holder_name"), Some("José Álvarez"));
    // And a UTF-8 file is never read as Windows-1252.
    let utf8 = "holder_name,holder_id\nJosé,E-1\n";
    assert!(matches!(
        read_as(utf8.as_bytes(), TextEncoding::Windows1252),
        Err(CsvError::File(FileProblem::Encoding(
            DecodeError::IsUtf8 { .. }
        )))
    ));
}

#[test]
fn files_over_the_size_limit_are_refused_before_reading() {
    let size = usize::try_from(holder_csv::MAX_CSV_BYTES).unwrap() + 1;
    let big = vec![b'a'; size];
    assert!(matches!(
        read_as(&big, TextEncoding::Utf8),
        Err(CsvError::File(FileProblem::TooLarge { .. }))
    ));
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    for _ in 0..2000 {
        let mut bytes = Vec::new();
        let len = (seed % 64) as usize;
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let alphabet = b",;\t\"\r\nAa1-\xE9\xC3\xA9";
            bytes.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        let mut with_header = b"holder_name,holder_id\n".to_vec();
        with_header.extend_from_slice(&bytes);
        for text in [&bytes, &with_header] {
            for encoding in TextEncoding::ALL {
                let _ = read_as(text, encoding);
            }
        }
    }
}

#[test]
fn control_characters_from_the_file_are_escaped_in_messages() {
    let text = "holder_name,\"Flat 2\nDublin\",holder_id\n\"Tab\there\",,E-1\n";
    let errors = parse_csv(&generic(), text).unwrap_err();
    assert_eq!(errors[0].column, "Flat 2\\nDublin");
    assert!(
        errors.iter().all(|e| !e.to_string().contains(['\n', '\t'])),
        "{errors:?}"
    );
    let named = errors.iter().find(|e| e.row == 3).unwrap();
    assert_eq!(named.holder, "E-1 Tab\\there");
}

/// A file of short bad rows lists at most `MAX_PROBLEMS` problems, the last saying where the
/// check stopped: 400,000 rows of one character each used to give 400,000 messages of about
/// 200 bytes (750 MB under the fuzzer for an 800 KB file).
#[test]
fn problems_stop_at_the_limit_and_say_so() {
    use vsc_core::holder_csv::MAX_PROBLEMS;
    let text = format!("holder_name,holder_id\n{}", "x\n".repeat(5000));
    let errors = parse_csv(&generic(), &text).unwrap_err();
    assert_eq!(errors.len(), MAX_PROBLEMS);
    assert_eq!(errors[0].row, 2);
    let last = errors.last().unwrap();
    assert_eq!(last.row, MAX_PROBLEMS + 1, "the first row not checked");
    assert!(
        last.reason.contains("not checked from this row on"),
        "{last}"
    );

    // A header of empty columns stops at the limit too.
    let text = format!("holder_name,holder_id{}\nAda,1\n", ",".repeat(5000));
    let errors = parse_csv(&generic(), &text).unwrap_err();
    assert_eq!(errors.len(), MAX_PROBLEMS);
    assert!(errors[..MAX_PROBLEMS - 1]
        .iter()
        .all(|e| e.reason.contains("no name")));
    assert!(errors[MAX_PROBLEMS - 1]
        .reason
        .contains("not checked from this row on"));
}
