//! What each command-line command does.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use vsc_core::job::Role;
use vsc_core::secret::SecretString;

use crate::admin::{create_branch, create_user, NewUser};
use crate::chain::{self, Checkpoint};
use crate::cli::{AuditCommand, BranchesCommand, Command, ServeArgs, UsersCommand};
use crate::db::{now_ms, Db};
use crate::page::Page;
use crate::password;
use crate::state::{AppState, Config};
use crate::tx::{Event, WriteTx};

/// A command's failure, printed as `error: ...`.
pub type Failure = String;

/// Runs a command.
pub async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Init { db, admin } => init(&db.db, &admin).await,
        Command::Serve(args) => serve(args).await,
        Command::Users {
            command:
                UsersCommand::Add {
                    name,
                    role,
                    branch,
                    password_file,
                    db,
                },
        } => users_add(&db.db, name, &role, branch, &password_file).await,
        Command::Branches {
            command: BranchesCommand::Add { id, name, db },
        } => branches_add(&db.db, &id, &name).await,
        Command::Audit { command } => audit(command).await,
    }
}

fn cli_event() -> Event {
    Event {
        actor: "vsc-issuer-cli".into(),
        role: "admin".into(),
        branch: String::new(),
        action: String::new(),
        object: String::new(),
        outcome: "ok".into(),
        details: json!(null),
    }
}

async fn open_checked(url: &str) -> Result<Db, Failure> {
    let db = Db::open(url, false, 2).map_err(|e| e.to_string())?;
    db.check().await.map_err(|e| e.to_string())?;
    Ok(db)
}

async fn init(url: &str, admin: &str) -> Result<(), Failure> {
    let db = Db::open(url, true, 2).map_err(|e| e.to_string())?;
    db.migrate().await.map_err(|e| e.to_string())?;
    if db.check().await.is_ok() {
        return Err(format!(
            "the database at {} is already initialized; nothing changed (add accounts with `vsc-issuer users add`)",
            db.url()
        ));
    }
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::getrandom(seed.as_mut()).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let password = password::generate();
    let shown = password.expose().to_owned();
    let result: Result<(), crate::error::ApiError> = async {
        let mut tx = WriteTx::begin(&db).await?;
        sqlx::query(
            "INSERT INTO service_key (id, seed, public_key, created_at) VALUES (1, $1, $2, $3)",
        )
        .bind(seed.to_vec())
        .bind(public.as_bytes().to_vec())
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES ('four_eyes', 'on')")
            .execute(tx.conn())
            .await?;
        let mut event = cli_event();
        event.action = "service.init".into();
        event.details = json!({ "public_key": hex::encode(public.as_bytes()) });
        tx.audit(&event).await?;
        create_user(
            &mut tx,
            NewUser {
                name: admin.into(),
                role: Role::Admin,
                branch: None,
                password,
            },
            cli_event(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    result.map_err(|e| e.message)?;
    println!("initialized {}", db.url());
    println!(
        "service public key (for checkpoints): {}",
        hex::encode(public.as_bytes())
    );
    println!("admin account: {admin}");
    println!("admin password (shown once; store it now): {shown}");
    db.close().await;
    Ok(())
}

async fn users_add(
    url: &str,
    name: String,
    role: &str,
    branch: Option<String>,
    password_file: &Path,
) -> Result<(), Failure> {
    let role: Role = role
        .parse()
        .map_err(|e: vsc_core::job::UnknownName| e.to_string())?;
    let text = std::fs::read_to_string(password_file).map_err(|e| {
        format!(
            "cannot read the password file {}: {e}",
            password_file.display()
        )
    })?;
    let text = zeroize::Zeroizing::new(text);
    let first = text.lines().next().unwrap_or("");
    let password = SecretString::new(first.to_owned());
    let db = open_checked(url).await?;
    let result: Result<(), crate::error::ApiError> = async {
        let mut tx = WriteTx::begin(&db).await?;
        create_user(
            &mut tx,
            NewUser {
                name: name.clone(),
                role,
                branch,
                password,
            },
            cli_event(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    result.map_err(|e| e.message)?;
    println!("user {name} added ({role})");
    Ok(())
}

async fn branches_add(url: &str, id: &str, name: &str) -> Result<(), Failure> {
    let db = open_checked(url).await?;
    let result: Result<(), crate::error::ApiError> = async {
        let mut tx = WriteTx::begin(&db).await?;
        create_branch(&mut tx, id, name, cli_event()).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    result.map_err(|e| e.message)?;
    println!("branch {id} added");
    Ok(())
}

async fn audit(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Verify { db, checkpoint } => {
            let db = open_checked(&db.db).await?;
            let kept = match checkpoint {
                None => None,
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        format!("cannot read the checkpoint {}: {e}", path.display())
                    })?;
                    let cp: Checkpoint = serde_json::from_str(&text).map_err(|e| {
                        format!(
                            "{}: {}",
                            path.display(),
                            chain::CheckpointError::Malformed(e.to_string())
                        )
                    })?;
                    let mut conn = db.pool().acquire().await.map_err(|e| e.to_string())?;
                    let key = chain::signing_key(&mut conn)
                        .await
                        .map_err(|e| e.to_string())?;
                    Some(cp.check(&key.verifying_key()).map_err(|e| e.to_string())?)
                }
            };
            match chain::verify(&db, kept).await.map_err(|e| e.to_string())? {
                Ok(v) => {
                    println!(
                        "audit chain ok: {} rows, head {}{}",
                        v.size,
                        hex::encode(v.head),
                        if kept.is_some() {
                            ", consistent with the checkpoint"
                        } else {
                            ""
                        }
                    );
                    Ok(())
                }
                Err(e) => Err(format!("audit chain broken: {e}")),
            }
        }
        AuditCommand::Checkpoint { db } => {
            let db = open_checked(&db.db).await?;
            let cp = chain::checkpoint(&db).await.map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string(&cp).map_err(|e| e.to_string())?);
            Ok(())
        }
        AuditCommand::Export { db } => {
            let db = open_checked(&db.db).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            chain::export(&db, &mut out)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| {
                    format!(
                        "cannot load the TLS certificate {} and key {}: {e}; give PEM files (the chain, then an unencrypted PKCS#8, PKCS#1 or SEC1 key)",
                        cert.display(),
                        key.display()
                    )
                })?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let origin = args
        .origin
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{}", args.listen));
    let origin = origin.trim_end_matches('/').to_owned();
    if !(origin.starts_with("http://") || origin.starts_with("https://")) {
        return Err(format!(
            "--origin {origin:?} is not an origin: give the scheme, host and port browsers use, e.g. https://cards.example"
        ));
    }
    let mut config = Config::new(origin);
    config.idle_timeout = Duration::from_secs(args.session_idle_seconds.max(1));
    config.absolute_timeout = Duration::from_secs(args.session_max_seconds.max(1));
    config.lockout_after = i64::from(args.lockout_after.max(1));
    config.lockout_for = Duration::from_secs(args.lockout_minutes * 60);
    config.lease = Duration::from_secs(args.lease_seconds.max(1));
    let db =
        Db::open(&args.db.db, false, args.max_connections.max(1)).map_err(|e| e.to_string())?;
    let page = Page::load(&args.page_dir)
        .map_err(|e| format!("cannot read the page from {}: {e}", args.page_dir.display()))?;
    if !page.has_index() {
        tracing::warn!(
            "no index.html in {}: only the API is served (give --page-dir)",
            args.page_dir.display()
        );
    }
    let listener = std::net::TcpListener::bind(args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let origin = config.origin.clone();
    let state = AppState {
        db,
        config: Arc::new(config),
        page: Arc::new(page),
        ready: Arc::new(AtomicBool::new(false)),
        sign_in_limit: Arc::new(crate::ratelimit::RateLimit::new(args.sign_ins_per_minute)),
    };
    println!(
        "vsc-issuer listening on {scheme}://{} for origin {origin} (database {})",
        listener.local_addr().map_err(|e| e.to_string())?,
        state.db.url()
    );
    let served = match tls {
        Some(tls) => crate::server::serve_tls(state, listener, tls).await,
        None => {
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            let listener =
                tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
            crate::server::serve(state, listener).await
        }
    };
    served.map_err(|e| format!("the server stopped: {e}"))
}
