//! The PIN mailer `vsc` writes for a verified card: a printable, self-contained HTML page
//! (`pin_mailer.html`) with the same words as the page's mailer view (`index.html`,
//! `#view-mailer`). The letter's data comes from [`vsc_core::pin::PinMailer`]; the HTML is
//! this program's, not the core's.

use vsc_core::pin::PinMailer;
use vsc_core::secret::SecretString;
use zeroize::Zeroizing;

/// The mailer's template: `{name}` marks a value, filled in [`html`].
const TEMPLATE: &str = include_str!("pin_mailer.html");

/// The mailer as HTML, the text values escaped. It holds the PIN: it is wiped when dropped.
pub fn html(mailer: &PinMailer) -> SecretString {
    let (title, replacement) = if mailer.replacement {
        (
            "Your new card PIN",
            "<p><strong>This PIN replaces the PIN your card had until now</strong>, which no \
             longer works.</p>\n",
        )
    } else {
        ("Your card PIN", "")
    };
    let issuer = escape(&mailer.issuer_name);
    let holder = escape(&mailer.holder_name);
    let uid = mailer.uid.to_string();
    // Reserved once, so that no reallocation leaves a copy of the PIN behind.
    let mut out = Zeroizing::new(String::with_capacity(
        TEMPLATE.len() + issuer.len() + holder.len() + 256,
    ));
    let mut rest = TEMPLATE;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        match &after[..end] {
            "issuer" => out.push_str(&issuer),
            "title" => out.push_str(title),
            "replacement" => out.push_str(replacement),
            "holder" => out.push_str(&holder),
            "uid" => out.push_str(&uid),
            // Digits only (a `Pin` holds nothing else): nothing to escape.
            "pin" => out.push_str(mailer.pin.expose()),
            // CSS braces and anything else: copied as they are.
            _ => {
                out.push('{');
                rest = after;
                continue;
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    SecretString::new(std::mem::take(&mut *out))
}

/// Escapes text for HTML element content.
fn escape(text: &str) -> String {
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
    use vsc_core::pin::Pin;

    fn mailer(replacement: bool) -> PinMailer {
        PinMailer {
            holder_name: "<Émile & 田中>".into(),
            issuer_name: "Bank {pin}".into(),
            uid: uuid::Uuid::nil(),
            pin: Pin::from_digits("482913").unwrap(),
            replacement,
        }
    }

    #[test]
    fn the_values_are_escaped_and_the_pin_shown_once() {
        let html = html(&mailer(false));
        let text = html.expose();
        assert!(
            text.contains("<strong>&lt;Émile &amp; 田中&gt;</strong>"),
            "{text}"
        );
        assert!(text.contains("<h1 id=\"mailer-title\">Your card PIN</h1>"));
        assert!(text.contains("<code>00000000-0000-0000-0000-000000000000</code>"));
        // A value that looks like a placeholder is not filled again.
        assert!(text.contains("Bank {pin}"));
        assert_eq!(text.matches("482913").count(), 1);
        assert!(!text.contains("replaces"));
        assert!(
            text.contains("font-family: system-ui"),
            "the CSS survives the filling"
        );
        assert!(!text.contains("{title}") && !text.contains("{holder}"));
    }

    #[test]
    fn a_replacement_pin_says_so() {
        let html = html(&mailer(true));
        assert!(html
            .expose()
            .contains("<h1 id=\"mailer-title\">Your new card PIN</h1>"));
        assert!(html
            .expose()
            .contains("This PIN replaces the PIN your card had until now"));
    }

    #[test]
    fn the_words_are_the_pages() {
        let page = include_str!("../../index.html");
        for words in [
            "Card number (VSC UID):",
            "Keep this PIN secret: nobody will ever ask you for it. Memorize it, then destroy this letter.",
            "This PIN replaces the PIN your card had until now</strong>, which no longer works.",
            "<p>Cardholder: <strong",
        ] {
            assert!(page.contains(words), "index.html: {words}");
            assert!(TEMPLATE.contains(words) || html(&mailer(true)).expose().contains(words), "{words}");
        }
    }
}
