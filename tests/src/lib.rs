//! Shared harness for end-to-end tests: starts and stops pcscd, softcards, the bridge.
#![forbid(unsafe_code)]
