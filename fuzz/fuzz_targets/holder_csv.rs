//! Reading a holder CSV file: the first byte picks the encoding the clerk named (UTF-8,
//! Windows-1252, ISO-8859-15), the rest is the file. Every holder it accepts builds a VSC.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsc_core::date::Date;
use vsc_core::holder_csv::{self, CsvOptions};
use vsc_core::text_encoding::TextEncoding;
use vsc_core::vsc::Vsc;

/// When the test VSCs are built (their UIDs' time, milliseconds since the Unix epoch): any
/// time will do.
const BUILT_AT_MS: u64 = 1_796_083_200_000;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, file)) = data.split_first() else {
        return;
    };
    let encoding = TextEncoding::ALL[usize::from(choice) % TextEncoding::ALL.len()];
    let profile = vsc_fuzz::generic_profile();
    let options = CsvOptions {
        encoding,
        today: Date::from_ymd(2026, 12, 1).expect("a real date"),
    };
    match holder_csv::read(profile, file, &options) {
        Ok(rows) => {
            for row in rows.rows.iter().take(3) {
                Vsc::build(profile, &row.data, BUILT_AT_MS, &mut rand_core::OsRng)
                    .expect("a holder the file check accepts builds a VSC");
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
