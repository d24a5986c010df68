//! Parsing a request frame from any local program (the bridge's `Request::parse`): what
//! parses writes back as JSON that parses to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsc_core::protocol::Request;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Request::parse(text) {
        Ok(request) => {
            let again = Request::parse(&request.to_json()).expect("a request's JSON parses");
            assert_eq!(again, request);
        }
        Err(bad) => {
            let _ = bad.to_string();
        }
    }
});
