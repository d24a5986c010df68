//! The VSC bridge.
#![forbid(unsafe_code)]
fn main() {}
