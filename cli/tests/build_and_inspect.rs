//! `vsc build` and `vsc inspect` end to end, through the binary (no PC/SC needed).

mod common;

use common::{build_batch, file_names, ok, run, run_with_stdin, s, texts, GOOD_CSV};

#[test]
fn build_writes_one_vsc_per_row_and_the_passwords_file() {
    let batch = build_batch(GOOD_CSV);
    assert_eq!(batch.vscs.len(), 3);
    let names = file_names(&batch.out);
    let mut expected: Vec<String> = batch
        .vscs
        .iter()
        .map(|v| v.file.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // Named so a person can tell them apart: holder id and name, then the UID.
    assert_eq!(
        expected[0],
        format!("E-1_Émile_Nguyễn-Müller_🙂_田中_{}.vsc", batch.vscs[0].uid)
    );
    assert_eq!(
        expected[1],
        format!("E-2_O_Brien_{}.vsc", batch.vscs[1].uid)
    );
    assert_eq!(batch.vscs[2].holder, "E-3 Ada Lovelace");
    expected.push("passwords.csv".into());
    expected.sort();
    assert_eq!(
        names, expected,
        "only the VSCs and passwords.csv, no temporary file"
    );
    for vsc in &batch.vscs {
        // Time-ordered (version 7), built within the last hour by the system clock.
        let uid = uuid::Uuid::parse_str(&vsc.uid).unwrap();
        assert_eq!(uid.get_version_num(), 7, "{uid}");
        let (built, _) = uid.get_timestamp().unwrap().to_unix();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            built <= now && now - built < 3600,
            "{uid} built at {built}, now {now}"
        );
        // 28 Crockford base32 characters in groups of four.
        assert_eq!(vsc.password.len(), 34, "{}", vsc.password);
        let bytes = std::fs::read(&vsc.file).unwrap();
        assert_eq!(
            vsc_core::seal::read_header(&bytes).unwrap().uid.to_string(),
            vsc.uid
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(batch.out.join("passwords.csv"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "passwords.csv is readable by its owner only"
    );
}

#[test]
fn utf8_names_survive_and_inspect_shows_them() {
    let batch = build_batch(GOOD_CSV);
    let first = ok(&run(&["inspect", s(&batch.vscs[0].file)]));
    assert!(
        first.contains("holder_name      Émile Nguyễn-Müller 🙂 田中\n"),
        "{first}"
    );
    assert!(
        first.contains("issuer_name      Banque Étoile\n"),
        "{first}"
    );
    let second = ok(&run(&["inspect", s(&batch.vscs[1].file)]));
    assert!(second.contains("holder_name      O'Brien\n"), "{second}");
    // The default issuer from the profile fills an empty column.
    assert!(
        second.contains("issuer_name      VSC Demo Issuer\n"),
        "{second}"
    );
}

#[test]
fn bad_rows_are_each_reported_and_nothing_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "holder_name,holder_id,email,date_of_birth\n\
         Good Row,G-1,good@example.org,1990-01-01\n\
         Bad Date,B-1,bad@example.org,1990-02-30\n\
         ,B-2,,\n\
         Bad Mail,B-3,not-an-email,\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = run(&[
        "build",
        "--profile",
        "iso7816-generic",
        "--csv",
        s(&csv),
        "--out",
        s(&out),
    ]);
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    for (row, column) in [(3, "date_of_birth"), (4, "holder_name"), (5, "email")] {
        assert!(
            stderr.contains(&format!("bad.csv: row {row} ("))
                && stderr.contains(&format!("), column {column}: ")),
            "row {row} column {column} not reported:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("row 2"),
        "the good row is not reported:\n{stderr}"
    );
    assert!(
        stderr.contains("3 problem(s)") && stderr.contains("nothing was built"),
        "{stderr}"
    );
    assert!(
        !out.exists(),
        "nothing is written, not even the output directory"
    );
}

#[test]
fn an_existing_passwords_file_is_kept_unless_forced() {
    let batch = build_batch(GOOD_CSV);
    let csv = batch.dir.path().join("holders.csv");
    let before = std::fs::read(batch.out.join("passwords.csv")).unwrap();
    let args = [
        "build",
        "--profile",
        "iso7816-generic",
        "--csv",
        s(&csv),
        "--out",
        s(&batch.out),
    ];
    let output = run(&args);
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("passwords.csv already exists"), "{stderr}");
    assert_eq!(
        std::fs::read(batch.out.join("passwords.csv")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_dir(&batch.out).unwrap().count(),
        4,
        "nothing added"
    );

    let mut forced = args.to_vec();
    forced.push("--force");
    let summary = ok(&run(&forced));
    assert!(
        summary.starts_with("built 3 VSC(s) with profile iso7816-generic"),
        "{summary}"
    );
    assert_ne!(
        std::fs::read(batch.out.join("passwords.csv")).unwrap(),
        before
    );
    assert_eq!(std::fs::read_dir(&batch.out).unwrap().count(), 7);
}

#[test]
fn inspect_without_password_shows_only_the_clear_part() {
    let batch = build_batch(GOOD_CSV);
    let out = ok(&run(&["inspect", s(&batch.vscs[0].file)]));
    assert!(
        out.contains(&format!("uid:      {}\n", batch.vscs[0].uid)),
        "{out}"
    );
    assert!(out.contains("profile:  iso7816-generic"), "{out}");
    assert!(out.contains("holder_id        E-1\n"), "{out}");
    assert!(out.contains("private area: encrypted"), "{out}");
    assert!(!out.contains("emile@example.org"), "{out}");
}

#[test]
fn inspect_with_password_shows_every_area_with_secrets_redacted() {
    let batch = build_batch(GOOD_CSV);
    let vsc = &batch.vscs[0];
    let output = run(&[
        "inspect",
        s(&vsc.file),
        "--password-file",
        s(&vsc.password_file),
    ]);
    let out = ok(&output);
    let (_, err) = texts(&output);
    assert!(
        out.contains("email            emile@example.org\n"),
        "{out}"
    );
    assert!(out.contains("date_of_birth    1980-02-29\n"), "{out}");
    assert!(
        out.contains("address          1 rue de l'Église\n"),
        "{out}"
    );
    let key_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("card_key"))
        .unwrap_or_else(|| panic!("no key line:\n{out}"));
    let fingerprint = key_line.split_whitespace().nth(1).unwrap();
    assert_eq!(
        fingerprint.len(),
        16,
        "8 bytes of SHA-256 in hex: {key_line}"
    );
    assert!(out.contains("password area: present"), "{out}");
    let canonical = vsc.password.replace('-', "");
    for text in [&out, &err] {
        assert!(
            !text.contains(&vsc.password) && !text.contains(&canonical),
            "password printed"
        );
    }

    // The same through standard input.
    let piped = run_with_stdin(
        &["inspect", s(&vsc.file), "--password-file", "-"],
        &vsc.password,
    );
    assert!(ok(&piped).contains("email            emile@example.org"));
}

#[test]
fn a_wrong_password_is_refused_without_echoing_it() {
    let batch = build_batch(GOOD_CSV);
    let wrong = &batch.vscs[1];
    let output = run(&[
        "inspect",
        s(&batch.vscs[0].file),
        "--password-file",
        s(&wrong.password_file),
    ]);
    let (out, err) = texts(&output);
    assert_eq!(output.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("wrong password"), "{err}");
    assert!(!err.contains(&wrong.password) && !out.contains(&wrong.password));
    assert!(
        !out.contains("emile@example.org"),
        "nothing private shown: {out}"
    );
}

#[test]
fn a_password_on_the_command_line_is_never_accepted() {
    let batch = build_batch(GOOD_CSV);
    let vsc = &batch.vscs[0];
    let file = s(&vsc.file);
    for args in [
        vec!["inspect", file, "--password", vsc.password.as_str()],
        vec!["inspect", file, &format!("--password={}", vsc.password)],
        vec!["script", file, "--password", vsc.password.as_str()],
    ] {
        let output = run(&args);
        let (out, err) = texts(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {out}{err}");
        assert!(
            err.contains("passwords never go on the command line"),
            "{err}"
        );
        assert!(!err.contains(&vsc.password) && !out.contains("emile@example.org"));
    }
    // Without a password file and with no terminal to prompt on, commands that need the
    // password say how to give it.
    let output = run(&["script", file]);
    let (_, err) = texts(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(err.contains("--password-file"), "{err}");
}

#[test]
fn script_marks_sensitive_commands_and_says_where_the_pin_is() {
    let batch = build_batch(GOOD_CSV);
    let vsc = &batch.vscs[0];
    let script = batch.dir.path().join("script.txt");
    let mailer = batch.dir.path().join("mailer.html");
    let output = run(&[
        "script",
        s(&vsc.file),
        "--password-file",
        s(&vsc.password_file),
        "--out",
        s(&script),
        "--pin-mailer",
        s(&mailer),
    ]);
    ok(&output);
    let (_, err) = texts(&output);
    assert!(
        err.contains("6-digit PIN") && err.contains("inside the script"),
        "{err}"
    );
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.lines().any(|l| l == "reset"));
    assert!(text.contains(&format!("# VSC {}", vsc.uid)));
    let sensitive = text
        .lines()
        .filter(|l| l.starts_with("# SENSITIVE"))
        .count();
    assert!(sensitive >= 6, "{text}");
    let html = std::fs::read_to_string(&mailer).unwrap();
    assert!(html.contains("Émile Nguyễn-Müller 🙂 田中"));
    let pin = common::pin_of(&mailer);
    assert_eq!(pin.len(), 6);
    let pin_hex: Vec<String> = pin.bytes().map(|b| format!("{b:02X}")).collect();
    assert!(
        text.contains(&pin_hex.join(" ")),
        "the PIN is in the script"
    );
    assert!(!err.contains(&pin), "the PIN is not printed on stderr");
}

#[test]
fn damaged_files_get_a_clear_error_not_a_panic() {
    let batch = build_batch(GOOD_CSV);
    let vsc = &batch.vscs[0];
    let bytes = std::fs::read(&vsc.file).unwrap();
    let dir = batch.dir.path();
    let cases = [
        (
            "not-a-vsc.vsc",
            b"hello, this is not a VSC".to_vec(),
            "not a sealed VSC file",
        ),
        (
            "truncated.vsc",
            bytes[..bytes.len() / 2].to_vec(),
            "truncated",
        ),
    ];
    for (name, content, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        for args in [
            vec!["inspect", s(&path)],
            vec![
                "inspect",
                s(&path),
                "--password-file",
                s(&vsc.password_file),
            ],
        ] {
            let output = run(&args);
            let (out, err) = texts(&output);
            assert_eq!(output.status.code(), Some(1), "{args:?}: {out}{err}");
            assert!(err.contains(expected), "{args:?}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    let output = run(&["inspect", s(&dir.join("missing.vsc"))]);
    let (_, err) = texts(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(err.contains("cannot read the VSC file"), "{err}");
}

/// Runs `vsc build` on `bytes` written as `holders.csv`, with `extra` arguments.
fn build_file(bytes: &[u8], extra: &[&str]) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("holders.csv");
    std::fs::write(&csv, bytes).unwrap();
    let out = dir.path().join("out");
    let mut args = vec![
        "build",
        "--profile",
        "iso7816-generic",
        "--csv",
        s(&csv),
        "--out",
        s(&out),
    ];
    args.extend_from_slice(extra);
    let output = run(&args);
    (dir, output)
}

#[test]
fn an_excel_windows_file_is_refused_with_advice_unless_its_encoding_is_given() {
    // "CSV (Comma delimited)" from Excel on Windows: Windows-1252, CRLF.
    let bytes = b"holder_name,holder_id\r\nSiobh\xE1n O'Brien,E-1\r\nJos\xE9 \xC1lvarez,E-2\r\n";
    let (dir, output) = build_file(bytes, &[]);
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not UTF-8 text: line 2"), "{stderr}");
    assert!(stderr.contains("CSV UTF-8 (Comma delimited)"), "{stderr}");
    assert!(stderr.contains("--encoding windows-1252"), "{stderr}");
    assert!(!dir.path().join("out").exists(), "nothing is written");

    let (dir, output) = build_file(bytes, &["--encoding", "windows-1252"]);
    ok(&output);
    let sheet = std::fs::read_to_string(dir.path().join("out/passwords.csv")).unwrap();
    assert!(sheet.contains("E-1 Siobhán O'Brien"), "{sheet}");
    assert!(sheet.contains("E-2 José Álvarez"), "{sheet}");

    let (_, output) = build_file(b"holder_name,holder_id\nA,1\n", &["--encoding", "ebcdic"]);
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("unknown encoding"), "{stderr}");
}

#[test]
fn a_semicolon_file_builds_and_its_problems_name_line_and_holder() {
    let (dir, output) = build_file(
        "holder_name;holder_id;expiry_date\nZoë;Z-1;2031-12-31\nYann;Y-2;\n".as_bytes(),
        &[],
    );
    ok(&output);
    let sheet = std::fs::read_to_string(dir.path().join("out/passwords.csv")).unwrap();
    assert_eq!(sheet.lines().count(), 3);

    let (_, output) = build_file(
        b"holder_name;holder_id;expiry_date\nZoe;Z-1;02/30/2031\nYann;Z-1;2020-01-01\n",
        &[],
    );
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "holders.csv: row 2 (Z-1 Zoe), column expiry_date: '02/30/2031' is not a valid date"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "row 3 (Z-1 Yann), column holder_id: 'Z-1' is already the holder ID on row 2"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "row 3 (Z-1 Yann), column expiry_date: '2020-01-01' is not after today (2026-12-01)"
        ),
        "{stderr}"
    );
}

#[test]
fn the_issue_date_is_the_day_of_the_build() {
    let batch = build_batch("holder_name,holder_id\nAda,A-1\n");
    let text = ok(&run(&["inspect", s(&batch.vscs[0].file)]));
    assert!(text.contains("issue_date       2026-12-01\n"), "{text}");
}
