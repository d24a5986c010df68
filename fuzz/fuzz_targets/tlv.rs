//! BER-TLV data objects as the VSC areas hold them (`vsc_core::tlv`): what `walk` accepts
//! encodes again to objects that walk to the same tags and values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsc_core::tlv;

fuzz_target!(|data: &[u8]| {
    let _ = tlv::check_tag(data.get(..3).unwrap_or(data));
    let Ok(objects) = tlv::walk(data) else {
        return;
    };
    for (tag, _) in &objects {
        tlv::check_tag(tag).expect("walk returns valid tags");
    }
    let encoded = tlv::encode_all(objects.iter().copied());
    assert!(
        encoded.len() <= data.len(),
        "the canonical encoding is never longer"
    );
    let again = tlv::walk(encoded.expose()).expect("an encoding walks");
    assert_eq!(again, objects);
});
