//! Hostile input: a few hundred thousand random and mutated APDUs (deterministic xorshift)
//! must never panic, and every response must end with a status word.

mod common;

use common::*;
use softcard::{Card, FaultyCard, Tear};

/// xorshift64*: tiny, deterministic, good enough to shake the parser.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Valid APDUs that reach deep into the card OS, used as mutation seeds.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        apdu(0xA4, 0x00, 0x0C, &[0x3F, 0x00], None),
        apdu(0xA4, 0x00, 0x04, &[0x10, 0x00], Some(0)),
        apdu(0xA4, 0x04, 0x04, AID, Some(0)),
        apdu(0xA4, 0x08, 0x0C, &[0x10, 0x00, 0x01, 0x01], None),
        apdu(0xA4, 0x09, 0x04, &[0x01, 0x02], Some(0)),
        apdu(0xE0, 0x00, 0x00, &df_fcp(0x1000, AID), None),
        apdu(0xE0, 0x00, 0x00, &df_fcp(0x2000, b"other"), None),
        apdu(0xE0, 0x00, 0x00, &ef_fcp(0x0101, 64, ALWAYS, ALWAYS), None),
        apdu(0xE0, 0x00, 0x00, &ef_fcp(0x0102, 300, NEVER, USER), None),
        apdu(0xD6, 0x00, 0x10, &[0x55; 32], None),
        apdu_ext(0xD6, 0x00, 0x00, &[0x66; 600], None),
        apdu(0xB0, 0x00, 0x00, &[], Some(0x10)),
        apdu_ext(0xB0, 0x00, 0x00, &[], Some(300)),
        apdu(0x20, 0x00, 0x81, PIN, None),
        apdu(0x20, 0x00, 0x81, &[], None),
        apdu(0x24, 0x01, 0x81, PIN, None),
        apdu(0x24, 0x01, 0x82, RESET_CODE, None),
        apdu(0x24, 0x00, 0x81, b"12345678", None),
        apdu(0x2C, 0x00, 0x81, b"876543214321", None),
        apdu(0x2C, 0x01, 0x81, RESET_CODE, None),
        apdu(0x44, 0x00, 0x00, &[], None),
        apdu(0x44, 0x00, 0x00, &[0x01, 0x01], None),
        apdu(0xE4, 0x00, 0x00, &[], None),
        apdu(0xE4, 0x00, 0x00, &[0x01, 0x02], None),
        apdu(0xC0, 0x00, 0x00, &[], Some(0)),
    ]
}

fn mutate(rng: &mut XorShift, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.byte();
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            2 => {
                let i = rng.below(out.len() + 1);
                out.insert(i, rng.byte());
            }
            3 if !out.is_empty() => {
                let i = rng.below(out.len());
                out.remove(i);
            }
            4 => out.truncate(rng.below(out.len() + 1)),
            5 => {
                let n = rng.below(8);
                for _ in 0..n {
                    out.push(rng.byte());
                }
            }
            _ if out.len() > 5 => {
                // Corrupt a length byte of the FCP or the Lc.
                let i = 4 + rng.below(out.len() - 4);
                out[i] = [0x00, 0x7F, 0x80, 0x81, 0x82, 0xFF][rng.below(6)];
            }
            _ => {}
        }
    }
    out
}

fn random(rng: &mut XorShift) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => rng.below(1100),
        1..=3 => rng.below(8),
        _ => rng.below(40),
    };
    let mut out: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
    // Mostly CLA 00 with a known INS, so the handlers see the garbage.
    if out.len() >= 2 && rng.below(4) != 0 {
        out[0] = 0;
        out[1] = [0xA4, 0xB0, 0xD6, 0x20, 0x24, 0x2C, 0xE0, 0xE4, 0x44, 0xC0][rng.below(10)];
    }
    out
}

fn assert_sw(response: &[u8], apdu: &[u8]) {
    assert!(response.len() >= 2, "no SW for {apdu:02X?}");
    let sw1 = response[response.len() - 2];
    assert!(
        matches!(
            sw1,
            0x90 | 0x61 | 0x63 | 0x65 | 0x67 | 0x69 | 0x6A | 0x6B | 0x6C | 0x6D | 0x6E
        ),
        "unexpected SW1 {sw1:02X} for {apdu:02X?}"
    );
    if sw1 != 0x90 && sw1 != 0x61 {
        assert_eq!(response.len(), 2, "error with data for {apdu:02X?}");
    }
}

#[test]
fn random_and_mutated_apdus_never_panic() {
    let mut rng = XorShift(0x5EED_CAFE_F00D_0001);
    let seeds = seeds();
    let mut card = Card::blank();
    let mut successes = 0u32;
    for i in 0..300_000u32 {
        let apdu = if i % 3 == 0 {
            random(&mut rng)
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            if rng.below(5) == 0 {
                seed.clone()
            } else {
                mutate(&mut rng, seed)
            }
        };
        let response = card.transmit(&apdu);
        assert_sw(&response, &apdu);
        if response.ends_with(&[0x90, 0x00]) {
            successes += 1;
        }
        match rng.below(1000) {
            0 => card.reset(),
            1 => card.set_max_response(Some(rng.below(300))),
            2 => card.set_max_response(None),
            3 => {
                // The state always round-trips.
                let state = card.to_state();
                card = Card::from_state(&state).expect("a card's own state loads");
            }
            4 => card = Card::blank(),
            _ => {}
        }
    }
    assert!(
        successes > 10_000,
        "the fuzzer reached the handlers ({successes})"
    );
}

#[test]
fn faulty_card_survives_garbage() {
    let mut rng = XorShift(7);
    for k in 0..200u64 {
        let tear = if k % 2 == 0 {
            Tear::Before(k)
        } else {
            Tear::After(k)
        };
        let mut card = FaultyCard::new(Card::blank(), tear);
        for _ in 0..=k + 1 {
            let apdu = random(&mut rng);
            if let Ok(response) = card.transmit(&apdu) {
                assert_sw(&response, &apdu);
            }
        }
        assert!(card.is_torn());
        let _ = card.into_card().to_state();
    }
}
