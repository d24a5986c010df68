//! The `vsc` command line.
#![forbid(unsafe_code)]
fn main() {}
