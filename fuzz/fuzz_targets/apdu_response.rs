//! Response APDUs from any card (`Response::parse`), status words and the `expect` patterns
//! of the bridge protocol (`SwPattern::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsc_core::apdu::{Response, SwPattern};
use vsc_core::protocol::status_word;

fuzz_target!(|data: &[u8]| {
    match Response::parse(data) {
        Ok(response) => {
            assert_eq!(response.data(), &data[..data.len() - 2]);
            assert_eq!(Some(response.sw.0), status_word(data));
            let _ = (
                response.sw.status().to_string(),
                format!("{:?}", response.sw),
            );
        }
        Err(_) => assert!(data.len() < 2),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(pattern) = SwPattern::parse(text) {
            assert_eq!(SwPattern::parse(&pattern.to_string()), Ok(pattern));
            if let Some(sw) = status_word(data) {
                assert_eq!(pattern.matches(sw), pattern.matches_response(data));
            }
        }
    }
});
