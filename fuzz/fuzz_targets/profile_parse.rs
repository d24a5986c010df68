//! Parsing a card profile an issuer wrote; a profile that passes builds a VSC for a holder
//! with only the required fields filled.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use vsc_core::date::Date;
use vsc_core::holder;
use vsc_core::profile::Profile;
use vsc_core::vsc::Vsc;

/// When the test VSCs are built (their UIDs' time, milliseconds since the Unix epoch): any
/// time will do.
const BUILT_AT_MS: u64 = 1_796_083_200_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(profile) = Profile::parse(text) else {
        return;
    };
    // Validation promises that any holder data the profile accepts fits its EFs.
    let values: BTreeMap<String, String> = profile
        .fields
        .iter()
        .map(|f| (f.column.clone(), "A".repeat(f.max_len.min(3))))
        .collect();
    let today = Date::from_ymd(2026, 12, 1).expect("a real date");
    if let Ok(holder) = holder::validate_record(&profile, &values, today) {
        Vsc::build(&profile, &holder, BUILT_AT_MS, &mut rand_core::OsRng)
            .expect("a holder the profile accepts builds a VSC");
    }
});
