//! Issuer service benchmarks (run with `cargo bench -p vsc-issuer`; `VSC_BENCH_QUICK=1` for the
//! short run the test command uses). They print figures and ratios against the database's own
//! limit, measured side by side in one run, on SQLite and on a PostgreSQL cluster the bench
//! starts (fsync off, as in the tests); they assert nothing about time.
//!
//! 1. Batch upload of N sealed VSCs with their envelopes through the API (1,000 jobs per
//!    request), against inserting the same rows and their audit entries directly with sqlx in
//!    one transaction. Goal: ratio >= 0.5.
//! 2. 50 operator clients over 10 branches claiming and reporting for a while through the API,
//!    against 50 tasks running the same claim and result code directly on the database:
//!    cycles/s, p50/p99, double claims. Goals: throughput ratio >= 0.5, p99 ratio <= 2, 0.
//! 3. The server's RSS idle, and holding N queued jobs. Goal: under 2x idle.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use vsc_core::job::Role;
use vsc_issuer::db::{now_ms, Db};
use vsc_issuer::queue::{claim_next, report};
use vsc_issuer::session::Caller;
use vsc_issuer::tx::{Event, WriteTx};
use vsc_issuer_api::queue::Outcome;
use vsc_tests::{free_port, wait_until, ChildGuard, PostgresCluster};

const PW: &str = "benchmark password";
const BATCH: usize = 1_000;
const CLIENTS: usize = 50;
const BRANCHES: usize = 10;

struct Sizes {
    uploads: Vec<usize>,
    claim_for: Duration,
    rss_jobs: usize,
}

fn main() {
    let quick = std::env::var_os("VSC_BENCH_QUICK").is_some_and(|v| v != "0");
    let sizes = if quick {
        Sizes {
            uploads: vec![1_000, 3_000],
            claim_for: Duration::from_secs(2),
            rss_jobs: 5_000,
        }
    } else {
        Sizes {
            uploads: vec![10_000, 100_000],
            claim_for: Duration::from_secs(30),
            rss_jobs: 100_000,
        }
    };
    println!(
        "issuer benchmarks ({} run: uploads of {:?} jobs, claims for {} s, RSS with {} queued jobs; VSC_BENCH_QUICK=1 for the quick one)",
        if quick { "quick" } else { "full" },
        sizes.uploads,
        sizes.claim_for.as_secs(),
        sizes.rss_jobs
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let sqlite = |name: &str| format!("sqlite://{}/{name}.db", dir.path().display());
    backend("sqlite", &sizes, &runtime, &sqlite);
    let pg = PostgresCluster::start();
    let postgres = |name: &str| pg.create_database(name);
    backend("postgres", &sizes, &runtime, &postgres);
}

/// Whether this part runs: `VSC_BENCH_ONLY=upload|claims|rss` runs one part (when profiling).
fn part(name: &str) -> bool {
    std::env::var("VSC_BENCH_ONLY").map_or(true, |only| only == name)
}

fn backend(
    name: &str,
    sizes: &Sizes,
    rt: &tokio::runtime::Runtime,
    fresh: &dyn Fn(&str) -> String,
) {
    if part("upload") {
        for &n in &sizes.uploads {
            upload(name, n, rt, fresh);
        }
    }
    if part("claims") {
        claims(name, sizes.claim_for, rt, fresh);
    }
    if part("rss") {
        rss(name, sizes.rss_jobs, rt, fresh);
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vsc-issuer")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `init`; the admin's password.
fn init(url: &str) -> String {
    let out = Command::new(bin())
        .args(["init", "--db", url])
        .output()
        .expect("vsc-issuer init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("admin password (shown once; store it now): ")
                .map(str::to_owned)
        })
        .expect("admin password")
}

struct Server {
    child: ChildGuard,
    base: String,
    _logs: tempfile::TempDir,
}

impl Server {
    fn start(url: &str) -> Server {
        let port = free_port();
        let logs = tempfile::tempdir().expect("log dir");
        let mut cmd = Command::new(bin());
        cmd.args([
            "serve",
            "--db",
            url,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--page-dir",
            "/nonexistent",
            "--sign-ins-per-minute",
            "0",
        ])
        .stdin(Stdio::null());
        let child = ChildGuard::spawn(cmd, &logs.path().join("server.log"));
        let base = format!("http://127.0.0.1:{port}");
        let c = Client::new(&base);
        wait_until(Duration::from_secs(30), "the server answers", || {
            c.get("/api/health").0 == 200
        });
        Server {
            child,
            base,
            _logs: logs,
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.pid()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
    base: String,
    cookie: Option<String>,
}

impl Client {
    fn new(base: &str) -> Client {
        Client {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(600)))
                .build()
                .new_agent(),
            base: base.to_owned(),
            cookie: None,
        }
    }

    fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("origin", &self.base)
            .header("x-vsc-request", "1")
            .header("content-type", content_type);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let Ok(mut resp) = self.agent.run(req.body(body).expect("request")) else {
            return (0, Value::Null);
        };
        if let Some(v) = resp.headers().get("set-cookie") {
            self.cookie = v
                .to_str()
                .ok()
                .and_then(|v| v.split(';').next())
                .map(str::to_owned);
        }
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.clone()
            .send("GET", path, "application/json", Vec::new())
    }

    fn post(&mut self, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            "POST",
            path,
            "application/json",
            body.to_string().into_bytes(),
        )
    }

    fn login(base: &str, user: &str, password: &str) -> Client {
        let mut c = Client::new(base);
        let (s, b) = c.post(
            "/api/session",
            &json!({ "username": user, "password": password }),
        );
        assert_eq!(s, 200, "sign-in of {user}: {b}");
        c
    }
}

/// A database with branches b0..b9, one approved station each, and a clerk; the admin client.
fn setup(
    url: &str,
    rt: &tokio::runtime::Runtime,
    branches: usize,
) -> (Server, Client, Vec<String>) {
    let admin_pw = init(url);
    let server = Server::start(url);
    let mut admin = Client::login(&server.base, "admin", &admin_pw);
    for b in 0..branches {
        let (s, body) = admin.post(
            "/api/branches",
            &json!({ "id": format!("b{b}"), "name": format!("Branch {b}") }),
        );
        assert_eq!(s, 201, "{body}");
    }
    let (s, body) = admin.post(
        "/api/users",
        &json!({ "name": "clerk", "role": "clerk", "password": PW }),
    );
    assert_eq!(s, 201, "{body}");
    let stations: Vec<String> = (0..branches).map(|b| format!("st-b{b}")).collect();
    rt.block_on(async {
        let db = Db::open(url, false, 2).expect("db");
        for (b, id) in stations.iter().enumerate() {
            let mut key = [0u8; 32];
            OsRng.fill_bytes(&mut key);
            sqlx::query(
                "INSERT INTO stations (id, branch, name, public_key, fingerprint, state, enrolled_by, enrolled_at) \
                 VALUES ($1, $2, 'bench', $3, 'fp', 'approved', 'bench', $4)",
            )
            .bind(id)
            .bind(format!("b{b}"))
            .bind(key.to_vec())
            .bind(now_ms())
            .execute(db.pool())
            .await
            .expect("station");
        }
        db.close().await;
    });
    (server, admin, stations)
}

/// Imports `n` records through the API; their ids.
fn import_records(server: &Server, n: usize) -> Vec<i64> {
    let mut clerk = Client::login(&server.base, "clerk", PW);
    let mut ids = Vec::with_capacity(n);
    for chunk_start in (0..n).step_by(50_000) {
        let rows = (n - chunk_start).min(50_000);
        let mut csv = String::from("holder_name,holder_id,expiry_date,email\n");
        for i in chunk_start..chunk_start + rows {
            csv.push_str(&format!("Holder {i},H-{i},2031-12-31,h{i}@example.org\n"));
        }
        let (s, v) = clerk.send(
            "POST",
            "/api/records/import?profile=iso7816-generic",
            "text/csv",
            csv.into_bytes(),
        );
        assert_eq!(s, 201, "{v}");
        let first = v["first_id"].as_i64().expect("first id");
        ids.extend(first..first + rows as i64);
    }
    ids
}

struct Upload {
    uid: String,
    record: i64,
    vsc: Vec<u8>,
    enc: [u8; 32],
    ciphertext: [u8; 48],
}

/// Now in milliseconds since the Unix epoch, as a VSC's build time (its UID's time: the
/// bench's jobs are keyed as the page's and the CLI's are).
fn built_at_ms() -> u64 {
    u64::try_from(now_ms()).expect("the clock is after 1970")
}

/// The uploads of `records` as [`import_records`] made them (record `k` of the slice from CSV
/// row `k`), each VSC built from its record's values, as the service checks.
fn uploads(records: &[i64]) -> Vec<Upload> {
    let profile = vsc_core::profile::Profile::builtin("iso7816-generic").expect("profile");
    records
        .iter()
        .enumerate()
        .map(|(i, &record)| {
            let values = std::collections::BTreeMap::from([
                ("holder_name".to_owned(), format!("Holder {i}")),
                ("holder_id".to_owned(), format!("H-{i}")),
                ("expiry_date".to_owned(), "2031-12-31".to_owned()),
                ("email".to_owned(), format!("h{i}@example.org")),
            ]);
            let holder =
                vsc_core::holder::validate_record(&profile, &values, vsc_issuer::db::today_utc())
                    .expect("holder");
            let sealed =
                vsc_core::vsc::Vsc::build_sealed(&profile, &holder, built_at_ms(), &mut OsRng)
                    .expect("seal");
            let mut enc = [0u8; 32];
            let mut ciphertext = [0u8; 48];
            OsRng.fill_bytes(&mut enc);
            OsRng.fill_bytes(&mut ciphertext);
            Upload {
                uid: sealed.uid.to_string(),
                record,
                vsc: sealed.bytes,
                enc,
                ciphertext,
            }
        })
        .collect()
}

fn upload(backend: &str, n: usize, rt: &tokio::runtime::Runtime, fresh: &dyn Fn(&str) -> String) {
    // Through the API.
    let url = fresh(&format!("upload_api_{n}"));
    let (server, _, stations) = setup(&url, rt, 1);
    let records = import_records(&server, n);
    let jobs = uploads(&records);
    let bodies: Vec<Vec<u8>> = jobs
        .chunks(BATCH)
        .map(|chunk| {
            let jobs: Vec<Value> = chunk
                .iter()
                .map(|j| {
                    json!({ "record": j.record, "branch": "b0", "vsc": b64(&j.vsc),
                            "envelopes": [{ "station": stations[0], "enc": hex::encode(j.enc), "ciphertext": hex::encode(j.ciphertext) }] })
                })
                .collect();
            json!({ "jobs": jobs }).to_string().into_bytes()
        })
        .collect();
    let mut clerk = Client::login(&server.base, "clerk", PW);
    let started = Instant::now();
    for body in bodies {
        let (s, v) = clerk.send("POST", "/api/jobs/batch", "application/json", body);
        assert_eq!(s, 201, "{v}");
    }
    let api = started.elapsed();
    drop(server);

    // Directly: the same rows and audit entries, one transaction.
    let url = fresh(&format!("upload_direct_{n}"));
    let (server, _, stations) = setup(&url, rt, 1);
    let records = import_records(&server, n);
    drop(server);
    let jobs = uploads(&records);
    let direct = rt.block_on(async {
        let db = Db::open(&url, false, 2).expect("db");
        let started = Instant::now();
        let mut tx = WriteTx::begin(&db).await.expect("begin");
        let now = now_ms();
        for j in &jobs {
            let sha = sha2_digest(&j.vsc);
            sqlx::query(
                "INSERT INTO jobs (id, record_id, profile, branch, state, vsc, vsc_sha256, created_by, created_at, reissue_of, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9)",
            )
            .bind(&j.uid)
            .bind(j.record)
            .bind("iso7816-generic")
            .bind("b0")
            .bind("prepared")
            .bind(j.vsc.clone())
            .bind(sha.clone())
            .bind("clerk")
            .bind(now)
            .bind(Option::<String>::None)
            .execute(tx.conn())
            .await
            .expect("insert job");
            sqlx::query("INSERT INTO envelopes (job_id, station_id, enc, ciphertext) VALUES ($1, $2, $3, $4)")
                .bind(&j.uid)
                .bind(&stations[0])
                .bind(j.enc.to_vec())
                .bind(j.ciphertext.to_vec())
                .execute(tx.conn())
                .await
                .expect("insert envelope");
            sqlx::query("UPDATE records SET state = $1 WHERE id = $2 AND state <> $1")
                .bind("built")
                .bind(j.record)
                .execute(tx.conn())
                .await
                .expect("update record");
            tx.audit(&Event {
                actor: "clerk".into(),
                role: "clerk".into(),
                branch: "b0".into(),
                action: "job.upload".into(),
                object: j.uid.clone(),
                outcome: "ok".into(),
                details: json!({ "record": j.record, "vsc_sha256": hex::encode(&sha), "stations": [&stations[0]] }),
            })
            .await
            .expect("audit");
        }
        tx.commit().await.expect("commit");
        let took = started.elapsed();
        db.close().await;
        took
    });
    let api_rate = n as f64 / api.as_secs_f64();
    let direct_rate = n as f64 / direct.as_secs_f64();
    println!(
        "{backend}: batch upload of {n} jobs: API {api_rate:.0} jobs/s ({:.2} s), direct sqlx {direct_rate:.0} jobs/s ({:.2} s): ratio {:.2} (goal >= 0.5)",
        api.as_secs_f64(),
        direct.as_secs_f64(),
        api_rate / direct_rate
    );
}

fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// Queues `per_branch` jobs in each branch directly (fake sealed bytes: claims do not parse them).
async fn seed_queue(db: &Db, stations: &[String], per_branch: usize, tag: &str) {
    let mut tx = WriteTx::begin(db).await.expect("begin");
    let (record,): (i64,) = sqlx::query_as(
        "INSERT INTO records (profile, holder_name, holder_id, search, public_fields, private_fields, state, imported_by, imported_at) \
         VALUES ('iso7816-generic', 'Bench', 'B', 'bench b', '{}', '{}', 'built', 'bench', 0) RETURNING id",
    )
    .fetch_one(tx.conn())
    .await
    .expect("record");
    let now = now_ms();
    let mut vsc = vec![0u8; 600];
    OsRng.fill_bytes(&mut vsc);
    for (b, station) in stations.iter().enumerate() {
        for i in 0..per_branch {
            let id = format!("{tag}-{b}-{i}");
            sqlx::query(
                "INSERT INTO jobs (id, record_id, profile, branch, state, vsc, vsc_sha256, created_by, created_at, queued_at, updated_at) \
                 VALUES ($1, $2, 'iso7816-generic', $3, 'queued', $4, $5, 'bench', $6, $6, $6)",
            )
            .bind(&id)
            .bind(record)
            .bind(format!("b{b}"))
            .bind(vsc.clone())
            .bind(vec![0u8; 32])
            .bind(now + i as i64)
            .execute(tx.conn())
            .await
            .expect("job");
            sqlx::query("INSERT INTO envelopes (job_id, station_id, enc, ciphertext) VALUES ($1, $2, $3, $4)")
                .bind(&id)
                .bind(station)
                .bind(vec![1u8; 32])
                .bind(vec![2u8; 48])
                .execute(tx.conn())
                .await
                .expect("envelope");
        }
    }
    tx.commit().await.expect("commit");
    // Fresh statistics, as a database that has run a while has them (PostgreSQL's autovacuum
    // would take a minute to notice the new rows).
    sqlx::query("ANALYZE")
        .execute(db.pool())
        .await
        .expect("analyze");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Run {
    cycles: usize,
    took: Duration,
    latencies: Vec<Duration>,
    ids: Vec<String>,
    ran_dry: bool,
}

impl Run {
    fn summary(&self) -> String {
        format!(
            "{:.0} cycles/s ({} in {:.1} s), p50 {:.1} ms, p99 {:.1} ms{}",
            self.cycles as f64 / self.took.as_secs_f64(),
            self.cycles,
            self.took.as_secs_f64(),
            percentile(&self.latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&self.latencies, 0.99).as_secs_f64() * 1e3,
            if self.ran_dry {
                " (a queue ran dry)"
            } else {
                ""
            }
        )
    }
}

fn claims(
    backend: &str,
    duration: Duration,
    rt: &tokio::runtime::Runtime,
    fresh: &dyn Fn(&str) -> String,
) {
    let url = fresh("claims");
    let (server, mut admin, stations) = setup(&url, rt, BRANCHES);
    for i in 0..CLIENTS {
        let (s, body) = admin.post(
            "/api/users",
            &json!({ "name": format!("op{i}"), "role": "operator", "branch": format!("b{}", i % BRANCHES), "password": PW }),
        );
        assert_eq!(s, 201, "{body}");
    }
    let per_branch = ((duration.as_secs() as usize) * 150).max(1_000);
    rt.block_on(async {
        let db = Db::open(&url, false, 2).expect("db");
        seed_queue(&db, &stations, per_branch, "direct").await;
        db.close().await;
    });

    // Directly: 50 tasks, the same claim and report code, no HTTP.
    let direct = rt.block_on(async {
        let db = Db::open(&url, false, 16).expect("db");
        let started = Instant::now();
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let db = db.clone();
                let station = stations[i % BRANCHES].clone();
                tokio::spawn(async move {
                    let caller = Caller::without_session(
                        &format!("op{i}"),
                        Role::Operator,
                        Some(format!("b{}", i % BRANCHES)),
                    );
                    let mut lat = Vec::new();
                    let mut ids = Vec::new();
                    let mut dry = false;
                    while started.elapsed() < duration {
                        let t = Instant::now();
                        let Some(c) = claim_next(&db, &caller, &station, Duration::from_secs(600))
                            .await
                            .expect("claim")
                        else {
                            dry = true;
                            break;
                        };
                        let id = c.view["id"].as_str().expect("id").to_owned();
                        report(
                            &db,
                            &caller,
                            &id,
                            Outcome::Personalized {
                                claim: c.token.clone(),
                                atr: "3B00".into(),
                                apdus: 40,
                                read_back_ok: true,
                            },
                        )
                        .await
                        .expect("report");
                        lat.push(t.elapsed());
                        ids.push(id);
                    }
                    (lat, ids, dry)
                })
            })
            .collect();
        let mut run = Run {
            cycles: 0,
            took: Duration::ZERO,
            latencies: Vec::new(),
            ids: Vec::new(),
            ran_dry: false,
        };
        for t in tasks {
            let (lat, ids, dry) = t.await.expect("task");
            run.cycles += lat.len();
            run.latencies.extend(lat);
            run.ids.extend(ids);
            run.ran_dry |= dry;
        }
        run.took = started.elapsed();
        db.close().await;
        run
    });

    // Through the API: 50 clients, each signed in as its operator before the clock starts.
    let results = Arc::new(Mutex::new(Vec::new()));
    let signed_in = Arc::new(std::sync::Barrier::new(CLIENTS + 1));
    let start = Arc::new(std::sync::OnceLock::<Instant>::new());
    let go = Arc::new(std::sync::Barrier::new(CLIENTS + 1));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let base = server.base.clone();
            let station = stations[i % BRANCHES].clone();
            let results = Arc::clone(&results);
            let (signed_in, start, go) = (Arc::clone(&signed_in), Arc::clone(&start), Arc::clone(&go));
            std::thread::spawn(move || {
                let mut c = Client::login(&base, &format!("op{i}"), PW);
                signed_in.wait();
                go.wait();
                let started = *start.get().expect("the start time is set before go");
                let mut lat = Vec::new();
                let mut ids = Vec::new();
                let mut dry = false;
                while started.elapsed() < duration {
                    let t = Instant::now();
                    let (s, body) = c.post("/api/queue/claim", &json!({ "station": station }));
                    assert_eq!(s, 200, "{body}");
                    let Some(id) = body["job"]["id"].as_str().map(str::to_owned) else {
                        dry = true;
                        break;
                    };
                    let (s, body) = c.post(
                        &format!("/api/jobs/{id}/result"),
                        &json!({ "outcome": "personalized", "claim": body["claim"], "atr": "3B00", "apdus": 40, "read_back_ok": true }),
                    );
                    assert_eq!(s, 200, "{body}");
                    lat.push(t.elapsed());
                    ids.push(id);
                }
                results.lock().expect("results").push((lat, ids, dry));
            })
        })
        .collect();
    signed_in.wait();
    let started = Instant::now();
    start.set(started).expect("set once");
    go.wait();
    for t in threads {
        t.join().expect("client thread");
    }
    let mut api = Run {
        cycles: 0,
        took: started.elapsed(),
        latencies: Vec::new(),
        ids: Vec::new(),
        ran_dry: false,
    };
    for (lat, ids, dry) in results.lock().expect("results").drain(..) {
        api.cycles += lat.len();
        api.latencies.extend(lat);
        api.ids.extend(ids);
        api.ran_dry |= dry;
    }
    direct_sort(&mut api);
    let mut direct = direct;
    direct_sort(&mut direct);
    let all: Vec<&String> = api.ids.iter().chain(&direct.ids).collect();
    let unique: HashSet<&&String> = all.iter().collect();
    let doubles = all.len() - unique.len();
    let tput = (api.cycles as f64 / api.took.as_secs_f64())
        / (direct.cycles as f64 / direct.took.as_secs_f64());
    let p99 = percentile(&api.latencies, 0.99).as_secs_f64()
        / percentile(&direct.latencies, 0.99).as_secs_f64().max(1e-9);
    println!(
        "{backend}: claim + result, {CLIENTS} operators over {BRANCHES} branches: API {}",
        api.summary()
    );
    println!(
        "{backend}: claim + result, {CLIENTS} tasks directly on the database: {}",
        direct.summary()
    );
    println!(
        "{backend}: claims: throughput ratio {tput:.2} (goal >= 0.5), p99 ratio {p99:.2} (goal <= 2), double claims {doubles} (goal 0)"
    );
    drop(server);
}

fn direct_sort(run: &mut Run) {
    run.latencies.sort();
}

fn rss(backend: &str, jobs: usize, rt: &tokio::runtime::Runtime, fresh: &dyn Fn(&str) -> String) {
    let exercise = |server: &Server| {
        let mut op = Client::login(&server.base, "op", PW);
        for _ in 0..20 {
            assert_eq!(op.get("/api/queue?per_page=500").0, 200);
        }
        for _ in 0..50 {
            let (s, body) = op.post("/api/queue/claim", &json!({ "station": "st-b0" }));
            assert_eq!(s, 200, "{body}");
        }
    };
    let add_operator = |admin: &mut Client| {
        let (s, body) = admin.post(
            "/api/users",
            &json!({ "name": "op", "role": "operator", "branch": "b0", "password": PW }),
        );
        assert_eq!(s, 201, "{body}");
    };
    // Each server is started fresh and measured after the same requests.
    let url = fresh("rss_idle");
    let (server, mut admin, _) = setup(&url, rt, 1);
    add_operator(&mut admin);
    drop(server);
    let server = Server::start(&url);
    exercise(&server);
    let idle = server.rss_kib();
    drop(server);

    let url = fresh("rss_loaded");
    let (server, mut admin, stations) = setup(&url, rt, 1);
    add_operator(&mut admin);
    drop(server);
    rt.block_on(async {
        let db = Db::open(&url, false, 2).expect("db");
        seed_queue(&db, &stations, jobs, "rss").await;
        db.close().await;
    });
    let server = Server::start(&url);
    exercise(&server);
    let loaded = server.rss_kib();
    println!(
        "{backend}: server RSS idle {:.1} MiB, holding {jobs} queued jobs {:.1} MiB: {:.2}x idle (goal < 2x)",
        idle as f64 / 1024.0,
        loaded as f64 / 1024.0,
        loaded as f64 / idle.max(1) as f64
    );
}
