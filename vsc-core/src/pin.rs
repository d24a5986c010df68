//! Individual PINs (claim 5) and what the PIN mailer that carries one to its holder says (the
//! letter itself is drawn by the page and by the CLI).
//!
//! A PIN is drawn digit by digit from a CSPRNG without modulo bias, and drawn again while it is
//! trivial: all one digit, or a straight ascending or descending run (`123456`, `987654`).

use std::fmt;

use rand_core::CryptoRngCore;

use crate::secret::{SecretBytes, SecretString};

/// Shortest PIN a profile may ask for.
pub const MIN_PIN_LENGTH: u8 = 4;
/// Longest PIN a profile may ask for.
pub const MAX_PIN_LENGTH: u8 = 12;

/// A holder's individual PIN: digits only, zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(SecretString);

impl Pin {
    /// Generates a non-trivial PIN of `length` digits (clamped to 4..=12).
    pub fn generate(length: u8, rng: &mut impl CryptoRngCore) -> Pin {
        let length = length.clamp(MIN_PIN_LENGTH, MAX_PIN_LENGTH) as usize;
        loop {
            let mut digits = String::with_capacity(length);
            while digits.len() < length {
                let byte = (rng.next_u32() & 0xFF) as u8;
                // 250 = 25 * 10: values above it would bias the low digits.
                if byte < 250 {
                    digits.push(char::from(b'0' + byte % 10));
                }
            }
            let pin = Pin(SecretString::new(digits));
            if !pin.is_trivial() {
                return pin;
            }
        }
    }

    /// Wraps digits typed by a person (for tests and for re-checking a PIN).
    pub fn from_digits(digits: &str) -> Option<Pin> {
        let ok = (MIN_PIN_LENGTH as usize..=MAX_PIN_LENGTH as usize).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Pin(SecretString::from(digits)))
    }

    /// The digits. Show them only on the PIN mailer.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The PIN as card reference data (ASCII digits).
    pub fn to_reference_data(&self) -> SecretBytes {
        SecretBytes::from_slice(self.0.expose().as_bytes())
    }

    /// All one digit, or every step +1 or every step -1.
    pub fn is_trivial(&self) -> bool {
        let d = self.0.expose().as_bytes();
        let steps = |delta: i16| d.windows(2).all(|w| w[1] as i16 - w[0] as i16 == delta);
        steps(0) || steps(1) || steps(-1)
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// What a PIN mailer shows: who the card is for, and the PIN, once.
#[derive(Debug, Clone)]
pub struct PinMailer {
    /// The holder's name as on the card.
    pub holder_name: String,
    /// The issuer's name.
    pub issuer_name: String,
    /// The card's VSC UID.
    pub uid: uuid::Uuid,
    /// The new individual PIN.
    pub pin: Pin,
    /// Whether it replaces the PIN the card had (a card personalized before).
    pub replacement: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn generated_pins_have_the_length_and_are_not_trivial() {
        for length in MIN_PIN_LENGTH..=MAX_PIN_LENGTH {
            for _ in 0..200 {
                let pin = Pin::generate(length, &mut OsRng);
                assert_eq!(pin.expose().len(), length as usize);
                assert!(pin.expose().bytes().all(|b| b.is_ascii_digit()));
                assert!(!pin.is_trivial());
            }
        }
    }

    #[test]
    fn trivial_pins_are_recognized() {
        for t in ["0000", "111111", "123456", "654321", "0123456789", "3210"] {
            assert!(Pin::from_digits(t).unwrap().is_trivial(), "{t}");
        }
        for t in ["1357", "123457", "902134"] {
            assert!(!Pin::from_digits(t).unwrap().is_trivial(), "{t}");
        }
        assert!(Pin::from_digits("12a4").is_none());
        assert!(Pin::from_digits("123").is_none());
    }

    #[test]
    fn digits_are_uniform_enough() {
        let mut counts = [0u32; 10];
        for _ in 0..2000 {
            for b in Pin::generate(12, &mut OsRng).expose().bytes() {
                counts[(b - b'0') as usize] += 1;
            }
        }
        // 24,000 digits: each expected 2,400; a biased generator drifts far beyond +-15%.
        assert!(
            counts.iter().all(|&c| (2040..=2760).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn the_mailer_never_debugs_the_pin() {
        let mailer = PinMailer {
            holder_name: "Ada".into(),
            issuer_name: "Bank".into(),
            uid: uuid::Uuid::nil(),
            pin: Pin::from_digits("482913").unwrap(),
            replacement: false,
        };
        assert!(!format!("{mailer:?}").contains("482913"));
    }
}
