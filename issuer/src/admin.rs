//! The administrator's objects: user accounts, branches and settings (four-eyes), through
//! the API and the command line alike.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;
use vsc_core::job::Role;
use vsc_core::secret::SecretString;

use crate::error::{is_unique_violation, ApiError};
use crate::json::JsonBody;
use crate::password;
use crate::session::Caller;
use crate::state::AppState;
use crate::tx::{Event, WriteTx};
use vsc_issuer_api::admin::{check_account, ChangeSettings, ChangeUser, CreateBranch, CreateUser};
use vsc_issuer_api::names::check_branch;

/// Whether `branch` exists.
pub async fn branch_exists(conn: &mut AnyConnection, branch: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM branches WHERE id = $1")
        .bind(branch)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// A new user account, checked.
pub struct NewUser {
    /// The name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The branch (operators only, and required for them).
    pub branch: Option<String>,
    /// The password.
    pub password: SecretString,
}

/// Creates a user in `tx` and audits it as `by`. The password is hashed here (slow).
pub async fn create_user(tx: &mut WriteTx, user: NewUser, by: Event) -> Result<(), ApiError> {
    check_account(
        &user.name,
        user.role,
        user.branch.as_deref(),
        &user.password,
    )?;
    if let Some(b) = &user.branch {
        if !branch_exists(tx.conn(), b).await? {
            return Err(ApiError::invalid(format!(
                "there is no branch {b:?}; create it first"
            )));
        }
    }
    let pw = user.password;
    let hash = password::hash_async(pw)
        .await
        .ok_or_else(ApiError::internal)?;
    let inserted = sqlx::query(
        "INSERT INTO users (name, role, branch, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(user.branch.clone())
    .bind(hash)
    .bind(tx.now())
    .execute(tx.conn())
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::conflict(format!(
                "a user named {:?} exists already",
                user.name
            )))
        }
        other => other?,
    };
    let mut event = by;
    event.action = "user.create".into();
    event.object = user.name;
    event.details = json!({ "role": user.role.as_str(), "branch": user.branch });
    tx.audit(&event).await?;
    Ok(())
}

/// Creates a branch in `tx` and audits it as `by`.
pub async fn create_branch(
    tx: &mut WriteTx,
    id: &str,
    name: &str,
    by: Event,
) -> Result<(), ApiError> {
    check_branch(id, name)?;
    let inserted = sqlx::query("INSERT INTO branches (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(name.trim())
        .bind(tx.now())
        .execute(tx.conn())
        .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::conflict(format!("branch {id:?} exists already")))
        }
        other => other?,
    };
    let mut event = by;
    event.action = "branch.create".into();
    event.object = id.into();
    event.details = json!({ "name": name.trim() });
    tx.audit(&event).await?;
    Ok(())
}

/// A user as listed.
#[derive(Serialize)]
pub struct UserView {
    name: String,
    role: String,
    branch: Option<String>,
    disabled: bool,
    failed_logins: i64,
    locked_until_ms: i64,
}

/// `GET /api/users`.
pub async fn list_users(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows: Vec<(String, String, Option<String>, i64, i64, i64)> = sqlx::query_as(
        "SELECT name, role, branch, disabled, failed_logins, locked_until FROM users ORDER BY name",
    )
    .fetch_all(state.db.pool())
    .await?;
    let users: Vec<UserView> = rows
        .into_iter()
        .map(
            |(name, role, branch, disabled, failed_logins, locked_until_ms)| UserView {
                name,
                role,
                branch,
                disabled: disabled != 0,
                failed_logins,
                locked_until_ms,
            },
        )
        .collect();
    Ok(Json(json!({ "users": users })))
}

/// `POST /api/users`.
pub async fn add_user(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateUser>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let role = body.role()?;
    let name = body.name.clone();
    let mut tx = WriteTx::begin(&state.db).await?;
    create_user(
        &mut tx,
        NewUser {
            name: body.name,
            role,
            branch: body.branch.clone(),
            password: body.password,
        },
        caller.event("", "", json!(null)),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user": { "name": name, "role": role.as_str(), "branch": body.branch } })),
    ))
}

/// `PATCH /api/users/{name}`: disable or enable, set a new password, unlock.
pub async fn change_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<ChangeUser>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // Disabling oneself is refused first, whatever password the body holds.
    if body.disabled == Some(true) && name == caller.name {
        return Err(ApiError::conflict("you cannot disable your own account"));
    }
    body.check()?;
    let hash = match body.password {
        Some(pw) => Some(
            password::hash_async(pw)
                .await
                .ok_or_else(ApiError::internal)?,
        ),
        None => None,
    };
    let mut tx = WriteTx::begin(&state.db).await?;
    let exists: Option<(String,)> = sqlx::query_as("SELECT name FROM users WHERE name = $1")
        .bind(&name)
        .fetch_optional(tx.conn())
        .await?;
    if exists.is_none() {
        return Err(ApiError::not_found(format!("there is no user {name:?}")));
    }
    if let Some(disabled) = body.disabled {
        sqlx::query("UPDATE users SET disabled = $1 WHERE name = $2")
            .bind(i64::from(disabled))
            .bind(&name)
            .execute(tx.conn())
            .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_name = $1")
                .bind(&name)
                .execute(tx.conn())
                .await?;
        }
    }
    if let Some(hash) = &hash {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE name = $2")
            .bind(hash)
            .bind(&name)
            .execute(tx.conn())
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_name = $1")
            .bind(&name)
            .execute(tx.conn())
            .await?;
    }
    if body.unlock {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = 0 WHERE name = $1")
            .bind(&name)
            .execute(tx.conn())
            .await?;
    }
    let details = json!({
        "disabled": body.disabled,
        "password_changed": hash.is_some(),
        "unlocked": body.unlock,
    });
    tx.audit(&caller.event("user.change", &name, details.clone()))
        .await?;
    tx.commit().await?;
    Ok(Json(json!({ "user": name, "changed": details })))
}

/// `GET /api/branches`.
pub async fn list_branches(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, name FROM branches ORDER BY id")
        .fetch_all(state.db.pool())
        .await?;
    let branches: Vec<_> = rows
        .into_iter()
        .map(|(id, name)| json!({ "id": id, "name": name }))
        .collect();
    Ok(Json(json!({ "branches": branches })))
}

/// `POST /api/branches`.
pub async fn add_branch(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateBranch>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let mut tx = WriteTx::begin(&state.db).await?;
    create_branch(
        &mut tx,
        &body.id,
        &body.name,
        caller.event("", "", json!(null)),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "branch": { "id": body.id, "name": body.name.trim() } })),
    ))
}

/// Whether four-eyes approval is on (the default).
pub async fn four_eyes(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT value FROM settings WHERE key = 'four_eyes'")
            .fetch_optional(conn)
            .await?;
    Ok(row.is_none_or(|(v,)| v != "off"))
}

/// `GET /api/settings`.
pub async fn get_settings(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    let four_eyes = four_eyes(&mut conn).await?;
    Ok(Json(json!({ "settings": { "four_eyes": four_eyes } })))
}

/// `PATCH /api/settings`: turns four-eyes approval on or off (audited).
pub async fn change_settings(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ChangeSettings>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut tx = WriteTx::begin(&state.db).await?;
    let value = if body.four_eyes { "on" } else { "off" };
    sqlx::query("DELETE FROM settings WHERE key = 'four_eyes'")
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO settings (key, value) VALUES ('four_eyes', $1)")
        .bind(value)
        .execute(tx.conn())
        .await?;
    tx.audit(&caller.event(
        "settings.change",
        "four_eyes",
        json!({ "four_eyes": body.four_eyes }),
    ))
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "settings": { "four_eyes": body.four_eyes } })))
}
