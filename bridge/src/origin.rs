//! Handshake checks on `Host` and `Origin` (bridge protocol, section "Listening").
//!
//! `Host` must name the loopback address the bridge listens on (defeats DNS rebinding);
//! `Origin` must equal an allowed origin exactly. Configured origins are normalized once at
//! start-up by the `url` crate to the form browsers send (lower-case scheme and host,
//! punycode, default port dropped, no trailing slash); the header itself is compared byte for
//! byte.

/// A configured origin that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a usable origin: {why}; write it as scheme://host[:port], e.g. https://issuer.example or http://127.0.0.1:8080")]
pub struct BadOrigin {
    text: String,
    why: &'static str,
}

/// Normalizes an operator-supplied origin (`--allow-origin`, `--trust-origin`) to the form a
/// browser sends in `Origin`: parsed as a WHATWG URL (the `url` crate), which lower-cases the
/// scheme and host, turns international names into punycode and drops the default port.
pub fn normalize_origin(text: &str) -> Result<String, BadOrigin> {
    let bad = |why| BadOrigin {
        text: text.to_owned(),
        why,
    };
    let url = url::Url::parse(text.trim()).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => bad("it has no scheme"),
        url::ParseError::EmptyHost => bad("it has no host"),
        url::ParseError::InvalidPort => bad("bad port"),
        _ => bad("it is not a URL"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http and https origins exist for web pages"));
    }
    if url.host().is_none() {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("an origin has no user name"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("an origin has no path, query or fragment"));
    }
    if url.port() == Some(0) {
        return Err(bad("port 0"));
    }
    Ok(url.origin().ascii_serialization())
}

/// The rules one listening bridge applies to every HTTP request.
#[derive(Debug, Clone)]
pub struct HandshakePolicy {
    port: u16,
    allowed: Vec<String>,
}

impl HandshakePolicy {
    /// Accepts `Host` naming loopback on `port`, and the (normalized) `allowed` origins.
    pub fn new(port: u16, allowed: Vec<String>) -> Self {
        Self { port, allowed }
    }

    /// The bridge's own origins on `port`, allowed when it serves the page itself.
    pub fn own_origins(port: u16) -> Vec<String> {
        ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .map(|host| match port {
                80 => format!("http://{host}"),
                p => format!("http://{host}:{p}"),
            })
            .collect()
    }

    /// Whether a `Host` header value names this bridge on loopback.
    pub fn host_ok(&self, host: Option<&str>) -> bool {
        let Some(host) = host else { return false };
        let host = host.to_ascii_lowercase();
        ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| {
            host == format!("{name}:{}", self.port) || (self.port == 80 && host == *name)
        })
    }

    /// The allowed origin equal to the `Origin` header value, if any.
    pub fn origin_ok<'a>(&'a self, origin: Option<&str>) -> Option<&'a str> {
        let origin = origin?;
        self.allowed
            .iter()
            .find(|allowed| allowed.as_str() == origin)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_origins() {
        assert_eq!(
            normalize_origin("https://Issuer.Example/").unwrap(),
            "https://issuer.example"
        );
        assert_eq!(
            normalize_origin("https://issuer.example:443").unwrap(),
            "https://issuer.example"
        );
        assert_eq!(
            normalize_origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalize_origin("http://[::1]:81").unwrap(),
            "http://[::1]:81"
        );
        // As a browser sends it: international names in punycode.
        assert_eq!(
            normalize_origin("https://bücher.example").unwrap(),
            "https://xn--bcher-kva.example"
        );
        for bad in [
            "issuer.example",
            "ftp://issuer.example",
            "https://",
            "https://issuer.example/path",
            "https://user@issuer.example",
            "https://issuer.example:99999",
            "https://issuer.example:0",
            "https://issuer.example?q",
            "https://issuer.example#top",
            "https://exa mple.test",
            "null",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_must_be_loopback_on_our_port() {
        let policy = HandshakePolicy::new(35900, vec![]);
        assert!(policy.host_ok(Some("127.0.0.1:35900")));
        assert!(policy.host_ok(Some("LOCALHOST:35900")));
        assert!(policy.host_ok(Some("[::1]:35900")));
        for bad in [
            None,
            Some("127.0.0.1"),
            Some("127.0.0.1:35901"),
            Some("evil.test:35900"),
            Some(""),
        ] {
            assert!(!policy.host_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn origin_must_match_exactly() {
        let policy = HandshakePolicy::new(35900, vec!["https://issuer.example".into()]);
        assert_eq!(
            policy.origin_ok(Some("https://issuer.example")),
            Some("https://issuer.example")
        );
        for bad in [
            None,
            Some("null"),
            Some("http://issuer.example"),
            Some("https://issuer.example:8443"),
            Some("https://issuer.example.evil.test"),
            Some("https://evilissuer.example"),
            Some("https://issuer.example/"),
        ] {
            assert_eq!(policy.origin_ok(bad), None, "{bad:?}");
        }
    }
}
