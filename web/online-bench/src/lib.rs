//! Holds no code: its bench, `benches/online_page.rs`, times the page on a real `vsc-issuer`
//! in headless Chromium (the clerk's upload against building in the page alone, and the JS
//! heap). It is a crate of its own so that its optimized build compiles the WebDriver client
//! it drives Chromium with, not the rest of vsc-web's test dependencies (sqlx, proptest, the
//! softcard).
