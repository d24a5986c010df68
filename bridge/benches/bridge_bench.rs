//! Bridge benchmark (placeholder until written).
fn main() {}
