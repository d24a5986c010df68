//! Holds no code: its bench, `benches/native_build.rs`, times the page's batch builder
//! (`vsc_web::issue::Issuer`) compiled natively, against the page's own figure. It is a crate
//! of its own so that building the bench (twice in `scripts/test`: with the CPU's crypto
//! instructions and with the crypto crates' portable code) compiles the page's code only, not
//! vsc-web's test dependencies (a WebDriver client, sqlx, tokio).
