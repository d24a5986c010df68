//! Individual PINs (claim 5) and the PIN mailer that carries one to its holder.
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

impl PinMailer {
    /// A printable, self-contained HTML page (print CSS included); text is HTML-escaped.
    pub fn to_html(&self) -> SecretString {
        let holder = escape_html(&self.holder_name);
        let issuer = escape_html(&self.issuer_name);
        let pin = escape_html(self.pin.expose());
        let (title, replaces) = if self.replacement {
            (
                "Your new card PIN",
                "<p><strong>This PIN replaces the PIN your card had until now</strong>, which \
                 no longer works.</p>",
            )
        } else {
            ("Your card PIN", "")
        };
        SecretString::new(format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>PIN mailer</title><style>\
body{{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;color:#111}}\
.pin{{font:700 2.5em/1.2 ui-monospace,monospace;letter-spacing:.3em;border:2px dashed #444;\
padding:.4em .6em;display:inline-block}}\
@media print{{body{{margin:1.5cm}} .noprint{{display:none}}}}\
</style></head><body>\
<p>{issuer}</p><h1>{title}</h1>{replaces}\
<p>Card holder: <strong>{holder}</strong></p>\
<p>Card number (VSC UID): <code>{uid}</code></p>\
<p class=\"pin\" aria-label=\"PIN\">{pin}</p>\
<p>Keep this PIN secret. Nobody from {issuer} will ever ask you for it. \
Destroy this letter once you have memorized the PIN.</p>\
</body></html>\n",
            uid = self.uid,
        ))
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
    fn mailer_escapes_and_never_debugs_the_pin() {
        let mailer = PinMailer {
            holder_name: "<Émile & 田中>".into(),
            issuer_name: "Bank".into(),
            uid: uuid::Uuid::nil(),
            pin: Pin::from_digits("482913").unwrap(),
            replacement: false,
        };
        let html = mailer.to_html();
        assert!(html.expose().contains("&lt;Émile &amp; 田中&gt;"));
        assert!(html.expose().contains("482913"));
        assert!(html.expose().contains("<h1>Your card PIN</h1>"));
        assert!(!html.expose().contains("replaces"));
        assert!(!format!("{mailer:?}").contains("482913"));
    }

    #[test]
    fn a_replacement_pin_says_so() {
        let mailer = PinMailer {
            holder_name: "Ada".into(),
            issuer_name: "Bank".into(),
            uid: uuid::Uuid::nil(),
            pin: Pin::from_digits("482913").unwrap(),
            replacement: true,
        };
        let html = mailer.to_html();
        assert!(html.expose().contains("<h1>Your new card PIN</h1>"));
        assert!(html
            .expose()
            .contains("This PIN replaces the PIN your card had until now"));
    }
}
