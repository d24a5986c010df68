//! Native baseline for the page's build budget: the page's own batch builder
//! ([`vsc_web::issue::Issuer`], 10 VSCs per `build_next` call, randomness fetched in blocks)
//! compiled natively in release, building and sealing 1,000 VSCs from a CSV: the same code
//! and the same work the page times when a clerk builds a 1,000-row CSV
//! (`web/tests/e2e_browser.rs` leaves the page's figure behind).
//!
//! Prints a `bench:` line and, when the browser test has left the page's figure in
//! `<target dir>/vsc-web/page-build-1000-ms.txt`, the `ratio:` of the two (both are
//! best-of-rounds figures in a warm process); asserts nothing. `VSC_BENCH_QUICK=1` runs fewer
//! rounds.
//!
//! Built with `RUSTFLAGS='--cfg aes_backend="soft" --cfg polyval_backend="soft" --cfg
//! sha2_backend="soft"'`, the crypto crates run their portable code, the code wasm gets, instead
//! of AES-NI, PCLMULQDQ and SHA-NI; the bench then says so, and its ratio is what WebAssembly in
//! the browser costs over the same code natively. `scripts/test` runs it both ways.

use std::path::{Path, PathBuf};
use std::time::Instant;

use vsc_core::text_encoding::TextEncoding;
use vsc_web::issue::Issuer;

/// Whether this build runs the crypto crates' portable code (see the module docs).
const PORTABLE_CRYPTO: bool = cfg!(all(
    aes_backend = "soft",
    polyval_backend = "soft",
    sha2_backend = "soft"
));

fn main() {
    let rounds = if std::env::var_os("VSC_BENCH_QUICK").is_some() {
        3
    } else {
        10
    };
    let rows = 1000;
    let mut csv = String::from("holder_name,holder_id,email\n");
    for i in 0..rows {
        csv.push_str(&format!("Holder {i},ID-{i},h{i}@example.org\n"));
    }
    let profile = vsc_web::profiles::find("iso7816-generic").expect("the generic profile ships");
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        // As in the page, reading the CSV happens before the clock starts.
        let mut issuer = Issuer::from_csv(
            profile.clone(),
            csv.as_bytes(),
            TextEncoding::Utf8,
            vsc_core::date::Date::from_ymd(2026, 12, 1).expect("a real date"),
        )
        .expect("the CSV is valid");
        let started = Instant::now();
        while !issuer.is_done() {
            issuer.build_next(10).expect("builds");
        }
        best = best.min(started.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(&issuer);
    }
    let (native, goal) = if PORTABLE_CRYPTO {
        (
            "natively with the crypto crates' portable code, as wasm runs it",
            "WebAssembly's own cost; no goal",
        )
    } else {
        ("natively", "goal <= 1.5")
    };
    println!(
        "bench: building {rows} VSCs {native} (the page's batch builder, release, best of {rounds}): {best:.1} ms ({:.1} µs per VSC)",
        best * 1000.0 / f64::from(rows)
    );
    match page_figure() {
        Some(page) => println!(
            "ratio: building {rows} VSCs in the page / {native} (release, best runs): {:.2} ({page:.1} ms / {best:.1} ms; {goal})",
            page / best
        ),
        None => println!(
            "bench: no page figure yet (run the browser test, web/tests/e2e_browser.rs, first) for the page/native ratio"
        ),
    }
}

fn page_figure() -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    std::fs::read_to_string(target.join("vsc-web/page-build-1000-ms.txt"))
        .ok()?
        .trim()
        .parse()
        .ok()
}
