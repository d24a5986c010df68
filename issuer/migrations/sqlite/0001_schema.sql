-- The issuer service's schema on SQLite. Times are milliseconds since the Unix epoch; flags
-- are 0/1 integers; the PostgreSQL schema (../postgres) has the same tables and columns.

CREATE TABLE service_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seed BLOB NOT NULL,
    public_key BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE branches (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    branch TEXT REFERENCES branches (id),
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users (name),
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_name);

CREATE TABLE stations (
    id TEXT PRIMARY KEY,
    branch TEXT NOT NULL REFERENCES branches (id),
    name TEXT NOT NULL,
    public_key BLOB NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    enrolled_by TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL,
    decided_by TEXT,
    decided_at INTEGER
);

CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    profile TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    holder_id TEXT NOT NULL,
    search TEXT NOT NULL,
    public_fields TEXT NOT NULL,
    private_fields TEXT,
    state TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at INTEGER NOT NULL
);
CREATE INDEX records_state ON records (state, id);
CREATE INDEX records_holder_id ON records (holder_id);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    record_id INTEGER NOT NULL REFERENCES records (id),
    profile TEXT NOT NULL,
    branch TEXT NOT NULL REFERENCES branches (id),
    state TEXT NOT NULL,
    vsc BLOB,
    vsc_sha256 BLOB NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    approved_by TEXT,
    queued_at INTEGER,
    claimed_by TEXT,
    claim_station TEXT,
    lease_until INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    spoiled_cards INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    reissue_of TEXT,
    updated_at INTEGER NOT NULL
);
CREATE INDEX jobs_queue ON jobs (branch, state, queued_at, id);
CREATE INDEX jobs_state ON jobs (state, created_at);
CREATE INDEX jobs_record ON jobs (record_id);

CREATE TABLE envelopes (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    station_id TEXT NOT NULL REFERENCES stations (id),
    enc BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (job_id, station_id)
);
CREATE INDEX envelopes_station ON envelopes (station_id);

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    branch TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));
