//! Opening a password envelope as a station does (the bridge's `open_envelope` takes `enc`,
//! `ciphertext` and `aad` from the page): the input as raw parts, and the input XORed into a
//! genuine envelope of either form (single, or batch from a `StationSealer`), which must then
//! open exactly when nothing was changed.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vsc_core::envelope::{self, Binding, StationSecretKey};
use vsc_fuzz::PASSWORD;

/// An envelope sealed for a fixed station key, and its parts.
struct Genuine {
    key: StationSecretKey,
    enc: [u8; 32],
    ciphertext: Vec<u8>,
    aad: Vec<u8>,
}

/// The two genuine envelopes: the single form, then the batch form.
fn genuine() -> &'static [Genuine; 2] {
    static GENUINE: OnceLock<[Genuine; 2]> = OnceLock::new();
    GENUINE.get_or_init(|| {
        let key = StationSecretKey::from_bytes(&[7; 32]).expect("any 32 bytes are a key");
        let binding = Binding::new("6f1c2a9e-uid", "b1", b"the sealed .vsc").expect("a binding");
        let rng = &mut rand_core::OsRng;
        let single = envelope::seal(PASSWORD, &key.public_key(), &binding, rng)
            .expect("a fixed key receives envelopes");
        let batch = envelope::StationSealer::new(&key.public_key(), rng)
            .and_then(|sealer| sealer.seal(PASSWORD, &binding, rng))
            .expect("a fixed key receives envelopes");
        [single, batch].map(|sealed| Genuine {
            key: key.clone(),
            enc: sealed.enc,
            ciphertext: sealed.ciphertext,
            aad: binding.to_aad(),
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let genuine = genuine();
    if mode & 1 == 0 {
        raw_parts(genuine, rest);
    } else {
        altered(&genuine[usize::from(mode >> 1 & 1)], rest);
    }
});

/// `enc` (up to 32 bytes), a length byte and that many bytes of `aad`, then the ciphertext.
fn raw_parts(genuine: &[Genuine; 2], bytes: &[u8]) {
    let (enc, rest) = bytes.split_at(bytes.len().min(32));
    let (aad_len, rest) = rest.split_first().map_or((0, rest), |(&n, r)| (n, r));
    let (aad, ciphertext) = rest.split_at(rest.len().min(usize::from(aad_len)));
    if let Ok(binding) = Binding::from_aad(aad) {
        assert_eq!(
            binding.to_aad(),
            aad,
            "associated data reads back as it was"
        );
    }
    if let Ok(opened) = envelope::open_parts(enc, ciphertext, aad, &genuine[0].key) {
        assert_eq!(opened.expose(), PASSWORD.as_bytes());
        assert!(
            genuine.iter().any(|g| (enc, ciphertext, aad)
                == (&g.enc[..], &g.ciphertext[..], &g.aad[..])),
            "only a genuine envelope opens"
        );
    }
}

/// The genuine `enc`, ciphertext and `aad` with `mask` XORed over them from the start.
fn altered(genuine: &Genuine, mask: &[u8]) {
    let mut bytes = [&genuine.enc[..], &genuine.ciphertext, &genuine.aad].concat();
    let changed = mask
        .iter()
        .zip(bytes.iter_mut())
        .fold(false, |changed, (m, b)| {
            *b ^= m;
            changed || *m != 0
        });
    let (enc, rest) = bytes.split_at(genuine.enc.len());
    let (ciphertext, aad) = rest.split_at(genuine.ciphertext.len());
    let opened = envelope::open_parts(enc, ciphertext, aad, &genuine.key);
    assert_eq!(
        opened.is_ok(),
        !changed,
        "an envelope opens exactly when unaltered"
    );
    if let Ok(password) = opened {
        assert_eq!(password.expose(), PASSWORD.as_bytes());
    }
}
