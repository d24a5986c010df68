//! The web crate in headless Chromium (wasm-bindgen-test): build, seal and open in wasm; a VSC
//! sealed natively opens in wasm; bad CSV rows come back as data; errors reach JavaScript as
//! `Error`s with a `code`; a bridge that is not running is explained.
//!
//! Run with `CHROMEDRIVER=/usr/bin/chromedriver
//! CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner cargo test -p vsc-web
//! --target wasm32-unknown-unknown` (scripts/test does).
#![cfg(target_arch = "wasm32")]

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Sealed natively by `tests/sealed_fixtures.rs`.
const NATIVE_VSC: &[u8] = include_bytes!("fixtures/native-sealed.vsc");
const NATIVE_PASSWORD: &str = include_str!("fixtures/native-sealed.password");

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).expect("a property")
}

fn code_of(error: &JsValue) -> String {
    assert!(
        error.is_instance_of::<js_sys::Error>(),
        "a JavaScript Error"
    );
    get(error, "code").as_string().expect("a code")
}

fn form(pairs: &[(&str, &str)]) -> JsValue {
    let object = js_sys::Object::new();
    for (key, value) in pairs {
        Reflect::set(&object, &(*key).into(), &(*value).into()).unwrap();
    }
    object.into()
}

/// The day the tests check dates against (the page passes the browser's local date).
const TODAY: &str = "2026-12-01";

fn bytes_of(download: &JsValue) -> Vec<u8> {
    get(download, "bytes")
        .dyn_into::<js_sys::Uint8Array>()
        .expect("bytes")
        .to_vec()
}

#[wasm_bindgen_test]
fn builds_seals_and_opens_in_wasm() {
    let values = form(&[
        ("holder_name", "Émile Nguyễn-Müller 田中"),
        ("holder_id", "E-1"),
        ("email", "emile@example.org"),
    ]);
    let check = vsc_web::check_form("iso7816-generic", values.clone(), TODAY).unwrap();
    assert_eq!(get(&check, "ok"), JsValue::TRUE);
    let mut issuer = vsc_web::Issuer::from_form("iso7816-generic", values, TODAY).unwrap();
    assert_eq!(issuer.build_next(5).unwrap(), 1);
    assert!(issuer.done());
    let vsc = bytes_of(&issuer.vsc_file().unwrap());
    let sheet = String::from_utf8(bytes_of(&issuer.password_file().unwrap())).unwrap();
    assert!(sheet.starts_with("\u{FEFF}file,uid,password,holder\r\n"));
    let password = sheet.lines().nth(1).unwrap().split(',').nth(2).unwrap();

    let summary = vsc_web::inspect_vsc(&vsc).unwrap();
    assert_eq!(
        get(&summary, "holder").as_string().as_deref(),
        Some("E-1 Émile Nguyễn-Müller 田中")
    );
    let first = Reflect::get_u32(&get(&summary, "public"), 0).unwrap();
    assert_eq!(
        get(&first, "value").as_string().as_deref(),
        Some("Émile Nguyễn-Müller 田中")
    );
    let opened = vsc_web::open_vsc(&vsc, password.to_lowercase()).unwrap();
    assert_eq!(opened.holder_name(), "Émile Nguyễn-Müller 田中");
    assert_eq!(opened.uid(), issuer.uids()[0]);
}

#[wasm_bindgen_test]
fn a_batch_downloads_as_a_zip_with_one_password_row_per_vsc() {
    let csv = "holder_name,holder_id\nAda,1\nBob,2\nChloé,3\n";
    let mut issuer =
        vsc_web::Issuer::from_csv("iso7816-generic", csv.as_bytes(), "utf-8", TODAY).unwrap();
    while !issuer.done() {
        issuer.build_next(2).unwrap();
    }
    let zip = issuer.vsc_file().unwrap();
    assert_eq!(
        get(&zip, "mime").as_string().as_deref(),
        Some("application/zip")
    );
    assert_eq!(&bytes_of(&zip)[..4], b"PK\x03\x04");
    let sheet = String::from_utf8(bytes_of(&issuer.password_file().unwrap())).unwrap();
    assert_eq!(sheet.lines().count(), 4);
    assert!(sheet.contains("Chloé"));

    // The ZIP opens as a batch again, each VSC named after its holder.
    let entries = js_sys::Array::from(&vsc_web::vsc_zip_entries(&bytes_of(&zip)).unwrap());
    assert_eq!(entries.length(), 3);
    let names: Vec<String> = entries
        .iter()
        .map(|e| get(&e, "name").as_string().unwrap())
        .collect();
    assert_eq!(names, issuer.file_names());
    assert!(names[2].starts_with("3_Chloé_"), "{names:?}");
    let third = get(&entries.get(2), "bytes")
        .dyn_into::<js_sys::Uint8Array>()
        .unwrap()
        .to_vec();
    let summary = vsc_web::inspect_vsc(&third).unwrap();
    assert_eq!(
        get(&summary, "holder").as_string().as_deref(),
        Some("3 Chloé")
    );
    let rows = js_sys::Array::from(&issuer.password_rows().unwrap());
    assert_eq!(rows.length(), 3);
    let not_a_zip = vsc_web::vsc_zip_entries(b"PK but not really")
        .err()
        .unwrap();
    assert_eq!(code_of(&not_a_zip), "bad_vsc_file");
}

#[wasm_bindgen_test]
fn encodings_dates_and_delimiters_are_decided_by_the_core() {
    let encodings = js_sys::Array::from(&vsc_web::encodings());
    assert_eq!(
        get(&encodings.get(0), "label").as_string().as_deref(),
        Some("utf-8")
    );
    let windows = b"holder_name;holder_id;expiry_date\r\nSiobh\xE1n;1;2031-12-31\r\n";
    let check = vsc_web::check_csv("iso7816-generic", windows, "utf-8", TODAY).unwrap();
    assert_eq!(get(&check, "ok"), JsValue::FALSE);
    let file_error = get(&check, "file_error").as_string().unwrap();
    assert!(file_error.contains("not UTF-8"), "{file_error}");
    let check = vsc_web::check_csv("iso7816-generic", windows, "windows-1252", TODAY).unwrap();
    assert_eq!(get(&check, "ok"), JsValue::TRUE);
    assert_eq!(
        get(&check, "delimiter").as_string().as_deref(),
        Some("semicolons")
    );
    let past = form(&[
        ("holder_name", "A"),
        ("holder_id", "1"),
        ("expiry_date", "2026-11-30"),
    ]);
    let check = vsc_web::check_form("iso7816-generic", past, TODAY).unwrap();
    assert_eq!(get(&check, "ok"), JsValue::FALSE);
    let bad_today = vsc_web::check_form("iso7816-generic", form(&[]), "12/01/2026")
        .err()
        .unwrap();
    assert_eq!(code_of(&bad_today), "invalid_input");
}

#[wasm_bindgen_test]
fn a_vsc_sealed_natively_opens_in_wasm() {
    let summary = vsc_web::inspect_vsc(NATIVE_VSC).unwrap();
    assert_eq!(get(&summary, "generated_password"), JsValue::TRUE);
    let opened = vsc_web::open_vsc(NATIVE_VSC, NATIVE_PASSWORD.to_owned()).unwrap();
    assert_eq!(opened.holder_name(), "Ada Lovelace-Byron 愛");
    // The private area decrypts to what native code sealed.
    let vsc = vsc_web::vsc_file::open(NATIVE_VSC, NATIVE_PASSWORD).unwrap();
    let private = vsc.private_fields();
    assert!(
        private
            .iter()
            .any(|(name, value)| name == "address"
                && value.expose() == "12 St James's Square\nLondon")
    );
}

#[wasm_bindgen_test]
fn bad_csv_rows_come_back_as_data() {
    let csv =
        "holder_name,holder_id,email\nAda,1,ada@example.org\n,2,bob@\nCy,3,cy@example.org,extra\n";
    let check = vsc_web::check_csv("iso7816-generic", csv.as_bytes(), "utf-8", TODAY).unwrap();
    assert_eq!(get(&check, "ok"), JsValue::FALSE);
    let errors: Vec<(u32, String)> = js_sys::Array::from(&get(&check, "errors"))
        .iter()
        .map(|e| {
            (
                get(&e, "row").as_f64().unwrap() as u32,
                get(&e, "column").as_string().unwrap(),
            )
        })
        .collect();
    assert!(errors.contains(&(3, "holder_name".into())), "{errors:?}");
    assert!(errors.contains(&(3, "email".into())), "{errors:?}");
    assert!(errors.iter().any(|(row, _)| *row == 4), "{errors:?}");
    assert!(!errors.iter().any(|(row, _)| *row == 2), "{errors:?}");
    let refused = vsc_web::Issuer::from_csv("iso7816-generic", csv.as_bytes(), "utf-8", TODAY)
        .err()
        .unwrap();
    assert_eq!(code_of(&refused), "invalid_input");
}

#[wasm_bindgen_test]
fn errors_reach_javascript_with_a_code_and_a_message() {
    let wrong = vsc_web::open_vsc(NATIVE_VSC, "0000-0000-0000-0000-0000-0000-0000".into())
        .err()
        .unwrap();
    assert_eq!(code_of(&wrong), "wrong_password");
    assert!(get(&wrong, "message")
        .as_string()
        .unwrap()
        .contains("wrong password"));
    let damaged = vsc_web::inspect_vsc(&NATIVE_VSC[..40]).err().unwrap();
    assert_eq!(code_of(&damaged), "bad_vsc_file");
    let unknown = vsc_web::check_csv("no-such-profile", b"", "utf-8", TODAY)
        .err()
        .unwrap();
    assert_eq!(code_of(&unknown), "unknown_profile");
}

#[wasm_bindgen_test]
async fn a_bridge_that_is_not_running_is_explained() {
    // Port 9 (discard) has no listener on the test machine.
    let error = vsc_web::Bridge::connect("ws://127.0.0.1:9/v1".into())
        .await
        .err()
        .unwrap();
    assert_eq!(code_of(&error), "bridge_not_running");
    let message = get(&error, "message").as_string().unwrap();
    assert!(message.contains("Start vsc-bridge"), "{message}");
    let bad = vsc_web::Bridge::connect("http://127.0.0.1:9/v1".into())
        .await
        .err()
        .unwrap();
    assert_eq!(code_of(&bad), "bad_address");
}
