//! One container format on both sides: sealed VSC fixtures committed in `tests/fixtures/`.
//!
//! - `native-sealed.vsc` is sealed by native code (this file writes it when
//!   `VSC_UPDATE_FIXTURES=1`); the wasm tests (`tests/wasm.rs`) embed it and open it in
//!   headless Chromium.
//! - `page-sealed.vsc` was built and sealed by the page's wasm in Chromium and downloaded by
//!   the browser test (`tests/e2e_browser.rs` writes it when `VSC_UPDATE_FIXTURES=1`); here
//!   native code opens it.
//!
//! The fixtures carry the SHA-256 of the profile they were built with: after an intended
//! change of `profiles/iso7816-generic.toml`, regenerate both with
//! `VSC_UPDATE_FIXTURES=1 cargo test -p vsc-web --test sealed_fixtures --test e2e_browser`.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;
use std::path::PathBuf;

use rand_core::OsRng;
use vsc_core::holder;
use vsc_core::profile::Profile;
use vsc_core::vsc::Vsc;

/// What the native fixture holds (the wasm test checks the same values).
const NATIVE_HOLDER: &str = "Ada Lovelace-Byron 愛";
const NATIVE_EMAIL: &str = "ada@example.org";
const NATIVE_ADDRESS: &str = "12 St James's Square\nLondon";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn open(name: &str) -> Vsc {
    let bytes = read(&format!("{name}.vsc"));
    let password = String::from_utf8(read(&format!("{name}.password"))).unwrap();
    Vsc::open(&bytes, &password).unwrap_or_else(|e| {
        panic!(
            "fixture {name}.vsc does not open: {e}\nIf the profile or the format changed on purpose, regenerate the fixtures: VSC_UPDATE_FIXTURES=1 cargo test -p vsc-web --test sealed_fixtures --test e2e_browser"
        )
    })
}

#[test]
fn the_native_fixture_opens_with_its_values() {
    if std::env::var_os("VSC_UPDATE_FIXTURES").is_some() {
        let profile = Profile::builtin("iso7816-generic").unwrap();
        let values: BTreeMap<String, String> = [
            ("holder_name", NATIVE_HOLDER),
            ("holder_id", "AL-1815"),
            ("email", NATIVE_EMAIL),
            ("address", NATIVE_ADDRESS),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let holder = holder::validate_record(&profile, &values, vsc_tests::test_day()).unwrap();
        let sealed =
            Vsc::build_sealed(&profile, &holder, vsc_tests::test_built_at_ms(), &mut OsRng)
                .unwrap();
        std::fs::write(fixture("native-sealed.vsc"), &sealed.bytes).unwrap();
        std::fs::write(fixture("native-sealed.password"), sealed.password.expose()).unwrap();
    }
    let vsc = open("native-sealed");
    assert_eq!(
        vsc.public_value("holder_name").as_deref(),
        Some(NATIVE_HOLDER)
    );
    let private = vsc.private_fields();
    let value = |name: &str| {
        private
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.expose().to_owned())
    };
    assert_eq!(value("email").as_deref(), Some(NATIVE_EMAIL));
    assert_eq!(value("address").as_deref(), Some(NATIVE_ADDRESS));
}

#[test]
fn a_vsc_sealed_by_the_page_opens_natively() {
    let vsc = open("page-sealed");
    assert_eq!(
        vsc.public_value("holder_name").as_deref(),
        Some("Émile Nguyễn-Müller 田中")
    );
    assert!(vsc
        .private_fields()
        .iter()
        .any(|(name, value)| name == "email" && value.expose() == "emile@example.org"));
    assert_eq!(vsc.card_password().len(), 28, "the generated card password");
}
