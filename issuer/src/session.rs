//! Sign-in, sign-out and the caller of a request: cookie sessions stored in the database (only
//! the token's SHA-256), ended by sign-out, by idle and absolute timeouts, and when the account
//! is disabled. Failed sign-ins count per account; too many in a row lock it for a while.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use vsc_core::job::Role;

use crate::db::now_ms;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::password;
use crate::state::{ms, AppState};
use crate::tx::{Event, WriteTx};
use vsc_core::error_catalogue as codes;

/// A signed-in caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user name.
    pub name: String,
    /// The user's role.
    pub role: Role,
    /// The operator's branch (operators only).
    pub branch: Option<String>,
    token_hash: Vec<u8>,
}

impl Caller {
    /// A caller that holds no session (for the command line and benchmarks).
    pub fn without_session(name: &str, role: Role, branch: Option<String>) -> Caller {
        Caller {
            name: name.to_owned(),
            role,
            branch,
            token_hash: Vec::new(),
        }
    }

    /// An audit event by this caller.
    pub fn event(&self, action: &str, object: &str, details: serde_json::Value) -> Event {
        Event {
            actor: self.name.clone(),
            role: self.role.as_str().into(),
            branch: self.branch.clone().unwrap_or_default(),
            action: action.into(),
            object: object.into(),
            outcome: "ok".into(),
            details,
        }
    }
}

/// The session a request carries, as resolved by [`resolve`].
#[derive(Debug, Clone)]
pub enum SessionState {
    /// No session cookie.
    None,
    /// A valid session.
    Valid(Caller),
    /// A cookie whose session ended; why, for the person.
    Ended(String),
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, ApiError> {
        match parts.extensions.get::<SessionState>() {
            Some(SessionState::Valid(caller)) => Ok(caller.clone()),
            Some(SessionState::Ended(why)) => Err(ApiError::unauthorized(why.clone())),
            _ => Err(ApiError::unauthorized(
                "sign in first (POST /api/session with your username and password)",
            )),
        }
    }
}

fn cookie_token<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Finds the session of a request's cookie; touches its last-seen time (at most once a
/// minute, so that reads stay reads).
pub async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<SessionState, ApiError> {
    let Some(token) = cookie_token(headers, state.config.cookie_name()) else {
        return Ok(SessionState::None);
    };
    let token_hash = password::token_hash(token);
    let row: Option<(String, String, Option<String>, i64, i64, i64)> = sqlx::query_as(
        "SELECT u.name, u.role, u.branch, u.disabled, s.created_at, s.last_seen \
         FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.token_hash = $1",
    )
    .bind(token_hash.clone())
    .fetch_optional(state.db.pool())
    .await?;
    let Some((name, role, branch, disabled, created_at, last_seen)) = row else {
        return Ok(SessionState::Ended(
            "your session has ended (signed out, or expired); sign in again".into(),
        ));
    };
    let now = now_ms();
    let ended = if disabled != 0 {
        Some("your account is disabled; ask an administrator".to_owned())
    } else if now - last_seen > ms(state.config.idle_timeout) {
        Some(format!(
            "your session ended after {} without activity; sign in again",
            in_words(state.config.idle_timeout)
        ))
    } else if now - created_at > ms(state.config.absolute_timeout) {
        Some(format!(
            "your session ended {} after sign-in; sign in again",
            in_words(state.config.absolute_timeout)
        ))
    } else {
        None
    };
    if let Some(why) = ended {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(state.db.pool())
            .await?;
        return Ok(SessionState::Ended(why));
    }
    let Ok(role) = role.parse::<Role>() else {
        tracing::error!("user {name} has an unknown role in the database");
        return Err(ApiError::internal());
    };
    // Touched at most once a minute (or twice per idle timeout, when shorter), so that
    // reads stay reads.
    if now - last_seen > (ms(state.config.idle_timeout) / 2).min(60_000) {
        sqlx::query("UPDATE sessions SET last_seen = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash.clone())
            .execute(state.db.pool())
            .await?;
    }
    Ok(SessionState::Valid(Caller {
        name,
        role,
        branch,
        token_hash,
    }))
}

/// A duration as a person says it: "30 minutes", "12 hours", "45 seconds".
fn in_words(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s % 3600 == 0 {
        (s / 3600, "hour")
    } else if s % 60 == 0 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Who is signed in.
#[derive(Serialize)]
pub struct Me {
    user: UserView,
}

#[derive(Serialize)]
struct UserView {
    name: String,
    role: &'static str,
    branch: Option<String>,
}

/// `POST /api/session`: signs in.
pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody<vsc_issuer_api::session::SignIn>,
) -> Result<Response, ApiError> {
    if let Err(wait) = state.sign_in_limit.attempt(peer.ip()) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            &codes::RATE_LIMITED,
            format!("too many sign-in attempts from your address; try again in {wait} s"),
        );
        e.audit_note = Some(format!("sign-in rate limit reached by {}", peer.ip()));
        return Err(e);
    }
    let now = now_ms();
    let user: Option<(String, String, Option<String>, String, i64, i64)> = sqlx::query_as(
        "SELECT name, role, branch, password_hash, disabled, locked_until FROM users WHERE name = $1",
    )
    .bind(&body.username)
    .fetch_optional(state.db.pool())
    .await?;
    let wrong = || {
        let mut e = ApiError::unauthorized("wrong username or password");
        e.code = &codes::WRONG_CREDENTIALS;
        e
    };
    // The audit log names the account only when there is one: a name that matches none may
    // be a password typed in the wrong field (a generated one looks like a user name).
    let actor = match &user {
        Some((name, ..)) => name.clone(),
        None => "(no such user)".to_owned(),
    };
    let login_event = |outcome: &str, role: &str, branch: &str, why: &str| Event {
        actor: actor.clone(),
        role: role.into(),
        branch: branch.into(),
        action: "login".into(),
        object: String::new(),
        outcome: outcome.into(),
        details: if why.is_empty() {
            json!(null)
        } else {
            json!({ "reason": why })
        },
    };
    let Some((name, role, branch, stored, disabled, locked_until)) = user else {
        let password = body.password;
        password::verify_async(password, None)
            .await
            .ok_or_else(ApiError::internal)?;
        let mut tx = WriteTx::begin(&state.db).await?;
        tx.audit(&login_event("refused", "", "", "no such user"))
            .await?;
        tx.commit().await?;
        return Err(already_audited(wrong()));
    };
    let branch_text = branch.clone().unwrap_or_default();
    if let Some((why, error)) = refusal(disabled, locked_until, now) {
        let mut tx = WriteTx::begin(&state.db).await?;
        tx.audit(&login_event("refused", &role, &branch_text, why))
            .await?;
        tx.commit().await?;
        return Err(already_audited(error));
    }
    let password = body.password;
    let ok = password::verify_async(password, Some(stored.clone()))
        .await
        .ok_or_else(ApiError::internal)?;
    let mut tx = WriteTx::begin(&state.db).await?;
    // The account as it is now, writes serialized: checking the hash takes a while, and a
    // password changed, or the account disabled or locked (by failed sign-ins alongside this
    // one) in that time refuses this sign-in.
    let current: Option<(String, i64, i64)> =
        sqlx::query_as("SELECT password_hash, disabled, locked_until FROM users WHERE name = $1")
            .bind(&name)
            .fetch_optional(tx.conn())
            .await?;
    let now = now_ms();
    // Refused with the reason the account gives now; a wrong password is counted below (an
    // account removed meanwhile has nothing to count it in).
    let changed = match current {
        None => Some(("account removed while signing in", wrong())),
        Some(_) if !ok => None,
        Some((hash, disabled, locked_until)) => refusal(disabled, locked_until, now)
            .or_else(|| (hash != stored).then(|| ("password changed while signing in", wrong()))),
    };
    if let Some((why, error)) = changed {
        tx.audit(&login_event("refused", &role, &branch_text, why))
            .await?;
        tx.commit().await?;
        return Err(already_audited(error));
    }
    if !ok {
        let (failed,): (i64,) = sqlx::query_as(
            "UPDATE users SET failed_logins = failed_logins + 1, \
             locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END \
             WHERE name = $3 RETURNING failed_logins",
        )
        .bind(state.config.lockout_after)
        .bind(now + ms(state.config.lockout_for))
        .bind(&name)
        .fetch_one(tx.conn())
        .await?;
        let why = if failed >= state.config.lockout_after {
            format!("wrong password ({failed} in a row): account locked")
        } else {
            format!("wrong password ({failed} in a row)")
        };
        tx.audit(&login_event("refused", &role, &branch_text, &why))
            .await?;
        tx.commit().await?;
        return Err(already_audited(wrong()));
    }
    let token = password::random_token();
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = 0 WHERE name = $1")
        .bind(&name)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_name, created_at, last_seen) VALUES ($1, $2, $3, $3)",
    )
    .bind(password::token_hash(&token))
    .bind(&name)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.audit(&login_event("ok", &role, &branch_text, ""))
        .await?;
    tx.commit().await?;
    let role_name = role.parse::<Role>().map(Role::as_str).unwrap_or("unknown");
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        state.config.cookie_name(),
        if state.config.secure { "; Secure" } else { "" }
    );
    let body = Me {
        user: UserView {
            name,
            role: role_name,
            branch,
        },
    };
    let mut response = axum::Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Why an account with these flags may not sign in at `now` (the audit's reason, and the
/// error), if it may not.
fn refusal(disabled: i64, locked_until: i64, now: i64) -> Option<(&'static str, ApiError)> {
    if disabled != 0 {
        return Some((
            "account disabled",
            ApiError::forbidden("this account is disabled; ask an administrator"),
        ));
    }
    if locked_until > now {
        let minutes = (locked_until - now + 59_999) / 60_000;
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            &codes::ACCOUNT_LOCKED,
            format!(
                "too many failed sign-ins: this account is locked for {minutes} more minute(s); wait, or ask an administrator to unlock it"
            ),
        );
        e.audit_note = None;
        return Some(("account locked", e));
    }
    None
}

fn already_audited(mut e: ApiError) -> ApiError {
    e.audited = true;
    e
}

/// `GET /api/session`: who is signed in.
pub async fn me(caller: Caller) -> axum::Json<Me> {
    axum::Json(Me {
        user: UserView {
            name: caller.name,
            role: caller.role.as_str(),
            branch: caller.branch,
        },
    })
}

/// `DELETE /api/session`: signs out (the session is deleted, the cookie cleared).
pub async fn sign_out(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let mut tx = WriteTx::begin(&state.db).await?;
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(caller.token_hash.clone())
        .execute(tx.conn())
        .await?;
    tx.audit(&caller.event("logout", "", json!(null))).await?;
    tx.commit().await?;
    let cookie = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        state.config.cookie_name(),
        if state.config.secure { "; Secure" } else { "" }
    );
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}
