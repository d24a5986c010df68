//! The page's wasm API over vsc-core.
#![forbid(unsafe_code)]
