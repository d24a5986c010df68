//! A strict software card.
#![forbid(unsafe_code)]
