//! Handshake checks on `Host` and `Origin` (bridge protocol, section "Listening").
//!
//! `Host` must name the loopback address the bridge listens on (defeats DNS rebinding);
//! `Origin` must equal an allowed origin exactly. Configured origins are normalized once at
//! start-up (lower-case scheme and host, default port dropped, no trailing slash), the form
//! browsers send; the header itself is compared byte for byte.

/// A configured origin that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a usable origin: {why}; write it as scheme://host[:port], e.g. https://issuer.example or http://127.0.0.1:8080")]
pub struct BadOrigin {
    text: String,
    why: &'static str,
}

/// Normalizes an operator-supplied origin (`--allow-origin`, `--trust-origin`).
pub fn normalize_origin(text: &str) -> Result<String, BadOrigin> {
    let bad = |why| BadOrigin {
        text: text.to_owned(),
        why,
    };
    let lower = text.trim().to_ascii_lowercase();
    let (scheme, rest) = lower
        .split_once("://")
        .ok_or_else(|| bad("it has no scheme"))?;
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return Err(bad("only http and https origins exist for web pages")),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err(bad("it has no host"));
    }
    if authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad("an origin has no path, query, fragment or user name"));
    }
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let (inside, tail) = after.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        if inside.is_empty()
            || !inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(bad("bad IPv6 address"));
        }
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
        };
        (format!("[{inside}]"), port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty()
        || !host.starts_with('[')
            && !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(bad("bad host name"));
    }
    let port = match port {
        None => None,
        Some(p) => {
            let n: u16 = p.parse().map_err(|_| bad("bad port"))?;
            if n == 0 {
                return Err(bad("port 0"));
            }
            (n != default_port).then_some(n)
        }
    };
    Ok(match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    })
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
        for bad in [
            "issuer.example",
            "ftp://issuer.example",
            "https://",
            "https://issuer.example/path",
            "https://user@issuer.example",
            "https://issuer.example:99999",
            "https://issuer.example:0",
            "https://issu_er.example",
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
