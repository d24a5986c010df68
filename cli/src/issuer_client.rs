//! Talking to the issuer service (`vsc-issuer`, `docs/issuer.md`) as a signed-in user: the
//! session cookie, the same-origin `Origin` and `x-vsc-request` headers every state-changing
//! request needs, JSON in and out, and the service's errors (`{"error": {"code", "message"}}`)
//! as [`CliError::Issuer`].
//!
//! Credentials come from `--credentials FILE` (user name on the first line, password on the
//! second) or from prompts on the terminal, never from the command line. TLS is the platform's
//! (its root certificates), through `ureq`'s native-tls backend.
//!
//! What it does not do: anything with cards, VSCs or envelopes (the commands do).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
use url::Url;
use vsc_core::secret::SecretString;
use zeroize::Zeroizing;

use crate::error::CliError;

/// The header every state-changing request carries (the service's CSRF check).
const CSRF_HEADER: &str = "x-vsc-request";

/// The `--credentials` option of the commands that sign in to the issuer.
#[derive(Debug, Clone, clap::Args)]
pub struct CredentialArgs {
    /// File holding the issuer account: the user name on the first line, its password on the
    /// second. Without it both are asked for on the terminal.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
}

/// An issuer account's user name and password (a copy zeroizes its password too).
#[derive(Clone)]
pub struct Credentials {
    user: String,
    password: SecretString,
}

impl Credentials {
    /// From `--credentials FILE`, or asked for on the terminal.
    pub fn read(args: &CredentialArgs) -> Result<Credentials, CliError> {
        match &args.credentials {
            Some(path) => Credentials::from_file(path),
            None if std::io::stdin().is_terminal() => Credentials::prompt(),
            None => Err(CliError::Input(
                "no issuer credentials: give --credentials FILE (user name on the first line, \
                 password on the second); standard input is not a terminal, so they cannot be \
                 asked for"
                    .into(),
            )),
        }
    }

    fn from_file(path: &Path) -> Result<Credentials, CliError> {
        let bytes = Zeroizing::new(
            std::fs::read(path).map_err(|e| CliError::io("read the credentials file", path, e))?,
        );
        // As ssh does with a private key: a password others may read is not used.
        let open_to_others = vsc_os::private::check_owner_only(path)
            .map_err(|e| CliError::io("check the permissions of", path, e))?;
        if let Some(problem) = open_to_others {
            return Err(CliError::Input(format!(
                "the credentials file holds a password, but {problem}; nothing was sent"
            )));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            CliError::Input(format!(
                "the credentials file {} is not UTF-8 text: save it as UTF-8",
                path.display()
            ))
        })?;
        let mut lines = text.lines();
        let user = lines.next().unwrap_or_default().trim().to_owned();
        let password = SecretString::new(lines.next().unwrap_or_default().to_owned());
        if user.is_empty() || password.expose().is_empty() {
            return Err(CliError::Input(format!(
                "the credentials file {} must hold the user name on its first line and the \
                 password on its second",
                path.display()
            )));
        }
        Ok(Credentials { user, password })
    }

    fn prompt() -> Result<Credentials, CliError> {
        eprint!("Issuer user name: ");
        let _ = std::io::stderr().flush();
        let mut user = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut user)
            .map_err(|e| CliError::io("read the user name from", Path::new("the terminal"), e))?;
        let password = rpassword::prompt_password("Issuer password: ")
            .map_err(|e| CliError::io("read the password from", Path::new("the terminal"), e))?;
        Ok(Credentials {
            user: user.trim().to_owned(),
            password: SecretString::new(password),
        })
    }
}

/// A signed-in session with the issuer service at one address. A clone shares the sign-in
/// (the same cookie), for a second thread such as a lease renewal.
#[derive(Clone)]
pub struct Session {
    agent: ureq::Agent,
    /// The address given, without a trailing `/` (`https://cards.example`).
    base: String,
    /// Its origin (scheme, host and port), sent as `Origin`.
    origin: String,
    /// The session cookie (`name=value`).
    cookie: Option<SecretString>,
    /// Who is signed in.
    user: String,
}

/// An answer of the service: its status and JSON body.
struct Answer {
    status: u16,
    body: Value,
}

impl Session {
    /// Signs in to the service at `url` (`https://host[:port]`, or `http://` on a trusted
    /// network) with `credentials`.
    pub fn sign_in(url: &str, credentials: &Credentials) -> Result<Session, CliError> {
        Session::sign_in_answered(url, credentials)?.map_err(|(_, refused)| refused)
    }

    /// [`Session::sign_in`], telling a refusal (the inner error, with the HTTP status: wrong
    /// password, account disabled or locked; trying again with the same credentials only
    /// counts towards a lockout) from a service that could not be reached (the outer one).
    pub fn sign_in_answered(
        url: &str,
        credentials: &Credentials,
    ) -> Result<Result<Session, (u16, CliError)>, CliError> {
        let (base, origin) = base_and_origin(url).ok_or_else(|| {
            CliError::Input(format!(
                "--server {url:?} is not an http:// or https:// address of the issuer service \
                 (for example https://cards.issuer.example)"
            ))
        })?;
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .tls_config(tls)
            .build()
            .new_agent();
        let mut session = Session {
            agent,
            base,
            origin,
            cookie: None,
            user: credentials.user.clone(),
        };
        let body = sign_in_body(credentials)?;
        let answer = session.send(
            "POST",
            "/api/session",
            Some(("application/json", body.as_slice())),
        )?;
        if answer.status != 200 {
            return Ok(Err((answer.status, session.refused("sign in", &answer))));
        }
        if session.cookie.is_none() {
            return Err(CliError::Issuer(format!(
                "{} answered the sign-in without a session cookie: is it a VSC issuer service?",
                session.base
            )));
        }
        Ok(Ok(session))
    }

    /// The user signed in.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The service's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`: the JSON body of a 2xx answer.
    pub fn get(&mut self, path: &str) -> Result<Value, CliError> {
        let answer = self.send("GET", path, None)?;
        self.expect_ok(&format!("GET {path}"), answer)
    }

    /// `POST path` with a JSON body (one of `vsc_issuer_api`'s, or a `Value`; `Value::Null`:
    /// none): the JSON body of a 2xx answer.
    pub fn post(&mut self, path: &str, body: &impl serde::Serialize) -> Result<Value, CliError> {
        self.post_answered(path, body)?
            .map_err(|(_, refusal)| refusal)
    }

    /// [`Session::post`], for a caller that acts on the answer's status: `Ok(Ok(body))` for a
    /// 2xx answer, `Ok(Err((status, refusal)))` for any other answer, `Err` when the service
    /// could not be reached or its answer read.
    pub fn post_answered(
        &mut self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<Result<Value, (u16, CliError)>, CliError> {
        let text = Zeroizing::new(serde_json::to_string(body).map_err(|e| {
            CliError::Issuer(format!(
                "the request to POST {path} could not be written: {e}"
            ))
        })?);
        let content = (text.as_str() != "null").then(|| ("application/json", text.as_bytes()));
        let answer = self.send("POST", path, content)?;
        let status = answer.status;
        Ok(self
            .expect_ok(&format!("POST {path}"), answer)
            .map_err(|refusal| (status, refusal)))
    }

    /// `POST path` with a CSV body: the JSON body of a 2xx answer.
    pub fn post_csv(&mut self, path: &str, csv: &[u8]) -> Result<Value, CliError> {
        let answer = self.send("POST", path, Some(("text/csv", csv)))?;
        self.expect_ok(&format!("POST {path}"), answer)
    }

    /// Signs out (best effort: the session also ends by itself).
    pub fn sign_out(mut self) {
        let _ = self.send("DELETE", "/api/session", None);
    }

    fn expect_ok(&self, what: &str, answer: Answer) -> Result<Value, CliError> {
        if (200..300).contains(&answer.status) {
            Ok(answer.body)
        } else {
            Err(self.refused(what, &answer))
        }
    }

    /// The service's refusal as an error: its code and its message for a person.
    fn refused(&self, what: &str, answer: &Answer) -> CliError {
        let code = answer.body["error"]["code"].as_str().unwrap_or("");
        let message = answer.body["error"]["message"].as_str().unwrap_or("");
        if message.is_empty() {
            CliError::Issuer(format!(
                "{} answered {what} with HTTP {}: is --server the address of a VSC issuer \
                 service?",
                self.base, answer.status
            ))
        } else {
            CliError::Issuer(format!(
                "the issuer service refused to {}: {message} ({code}, HTTP {})",
                what.to_lowercase(),
                answer.status
            ))
        }
    }

    fn send(
        &mut self,
        method: &str,
        path: &str,
        content: Option<(&str, &[u8])>,
    ) -> Result<Answer, CliError> {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("accept", "application/json");
        if method != "GET" {
            request = request
                .header("origin", &self.origin)
                .header(CSRF_HEADER, "1");
        }
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie.expose());
        }
        if let Some((content_type, _)) = content {
            request = request.header("content-type", content_type);
        }
        // The caller's bytes are sent as they are (no copy that could outlive a password).
        let request = request
            .body(content.map_or(&[][..], |(_, bytes)| bytes))
            .map_err(|e| CliError::Input(format!("cannot make a request to {url}: {e}")))?;
        let mut response = self.agent.run(request).map_err(|e| {
            CliError::Issuer(format!(
                "cannot reach the issuer service at {} ({e}): check --server and the network",
                self.base
            ))
        })?;
        for value in response.headers().get_all("set-cookie") {
            let Ok(value) = value.to_str() else { continue };
            let pair = value.split(';').next().unwrap_or_default().trim();
            if value.contains("Max-Age=0") {
                self.cookie = None;
            } else if !pair.is_empty() {
                self.cookie = Some(SecretString::new(pair.to_owned()));
            }
        }
        let status = response.status().as_u16();
        let text = Zeroizing::new(
            response
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_string()
                .map_err(|e| {
                    CliError::Issuer(format!(
                        "the issuer service's answer could not be read: {e}"
                    ))
                })?,
        );
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        Ok(Answer { status, body })
    }
}

/// The path and query of an API request: each segment and query value percent-encoded, so an
/// id can never reach another resource (`api_path(&["api", "jobs", id, "result"], &[])`).
pub fn api_path(segments: &[&str], query: &[(&str, &str)]) -> String {
    let mut url = Url::parse("http://issuer.invalid/").expect("a constant, valid URL");
    url.path_segments_mut()
        .expect("an http URL has a path")
        .extend(segments);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url[url::Position::BeforePath..].to_owned()
}

/// The address without its trailing `/`, and its origin (`scheme://host[:port]`, sent as
/// `Origin`), for an `http(s)://` address with a host and no user name or password in it.
fn base_and_origin(address: &str) -> Option<(String, String)> {
    let url = Url::parse(address.trim()).ok()?;
    let usable = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    usable.then(|| {
        let base = url.as_str().trim_end_matches('/').to_owned();
        (base, url.origin().ascii_serialization())
    })
}

/// The sign-in request's JSON, written straight into a wiped buffer sized for the worst
/// escaping, so no copy of the password is left behind by a growing buffer.
fn sign_in_body(credentials: &Credentials) -> Result<Zeroizing<Vec<u8>>, CliError> {
    #[derive(serde::Serialize)]
    struct SignIn<'a> {
        username: &'a str,
        password: &'a str,
    }
    let password = credentials.password.expose();
    let worst = 6 * (credentials.user.len() + password.len()) + 64;
    let mut body = Zeroizing::new(Vec::with_capacity(worst));
    let sign_in = SignIn {
        username: &credentials.user,
        password,
    };
    serde_json::to_writer(&mut *body, &sign_in)
        .map_err(|e| CliError::Input(format!("cannot write the sign-in request: {e}")))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_scheme_host_and_port() {
        let origin = |address| base_and_origin(address).map(|(_, origin)| origin);
        assert_eq!(
            base_and_origin(" https://Cards.Example:8443/issuer/ "),
            Some((
                "https://cards.example:8443/issuer".to_owned(),
                "https://cards.example:8443".to_owned()
            ))
        );
        assert_eq!(
            origin("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            origin("https://cards.example:443").as_deref(),
            Some("https://cards.example")
        );
        for bad in [
            "ftp://x",
            "cards.example",
            "https://",
            "https://u:p@host",
            "https://host/?a=b",
            "https://host/#top",
        ] {
            assert_eq!(base_and_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn api_paths_escape_ids_and_query_values() {
        assert_eq!(
            api_path(&["api", "jobs", "j-1", "result"], &[]),
            "/api/jobs/j-1/result"
        );
        assert_eq!(
            api_path(&["api", "jobs", "../users", "release"], &[]),
            "/api/jobs/..%2Fusers/release"
        );
        assert_eq!(
            api_path(
                &["api", "stations"],
                &[("branch", "a b&c"), ("state", "approved")]
            ),
            "/api/stations?branch=a+b%26c&state=approved"
        );
    }

    #[test]
    fn the_sign_in_body_is_json_with_the_password_escaped() {
        let credentials = Credentials {
            user: "clerk".into(),
            password: SecretString::new("quote \" and \u{1} é".into()),
        };
        let body = sign_in_body(&credentials).unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["username"], "clerk");
        assert_eq!(value["password"], "quote \" and \u{1} é");
    }

    #[test]
    fn credentials_files_hold_two_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        std::fs::write(&path, "clerk\ncorrect horse battery\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let args = CredentialArgs {
                credentials: Some(path.clone()),
            };
            let message = Credentials::read(&args).err().unwrap().to_string();
            assert!(
                message.contains("chmod go=") && !message.contains("horse"),
                "{message}"
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let args = CredentialArgs {
            credentials: Some(path.clone()),
        };
        let c = Credentials::read(&args).unwrap();
        assert_eq!(c.user, "clerk");
        assert_eq!(c.password.expose(), "correct horse battery");
        std::fs::write(&path, "clerk\n").unwrap();
        let message = Credentials::read(&args).err().unwrap().to_string();
        assert!(message.contains("password on its second"), "{message}");
    }
}
