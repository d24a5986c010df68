//! The JSON schemas of the OpenAPI document ([`crate::openapi`]): each endpoint's request body,
//! query parameters and successful answer, and the shared shapes (`#/components/schemas`).
//! They describe what the handlers read and write; schemathesis (`scripts/schemathesis`) checks
//! every answer against them.

use serde_json::{json, Value};
use vsc_core::job::{JobState, Role};

use crate::{records, stations};

/// A `$ref` to a shared schema.
fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An object with exactly these properties, all required unless listed in `optional`.
fn object(props: Value, optional: &[&str]) -> Value {
    let required: Vec<&String> = props
        .as_object()
        .map(|p| {
            p.keys()
                .filter(|k| !optional.contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    json!({ "type": "object", "required": required, "properties": props })
}

/// A request body: exactly these properties, no others (the handlers refuse unknown fields).
fn body(props: Value, optional: &[&str]) -> Value {
    let mut o = object(props, optional);
    o["additionalProperties"] = json!(false);
    o
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn nullable_string() -> Value {
    json!({ "type": "string", "nullable": true })
}

fn integer() -> Value {
    json!({ "type": "integer", "format": "int64" })
}

fn nullable_integer() -> Value {
    json!({ "type": "integer", "format": "int64", "nullable": true })
}

fn array(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

fn roles() -> Value {
    json!({ "type": "string", "enum": Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>() })
}

fn job_states() -> Value {
    json!({ "type": "string", "enum": JobState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() })
}

/// The shared schemas, besides `Error`.
pub fn components() -> Value {
    json!({
        "SignedIn": object(json!({ "user": object(json!({
            "name": string(), "role": roles(), "branch": nullable_string() }), &[]) }), &[]),
        "User": object(json!({
            "name": string(), "role": roles(), "branch": nullable_string(),
            "disabled": { "type": "boolean" }, "failed_logins": integer(), "locked_until_ms": integer() }), &[]),
        "Branch": object(json!({ "id": string(), "name": string() }), &[]),
        "Settings": object(json!({ "settings": object(json!({ "four_eyes": { "type": "boolean" } }), &[]) }), &[]),
        "Station": object(json!({
            "id": string(), "branch": string(), "name": string(),
            "public_key": { "type": "string", "pattern": "^([0-9a-fA-F]{2})*$" }, "fingerprint": string(),
            "state": { "type": "string", "enum": [stations::ENROLLED, stations::APPROVED, stations::REVOKED] },
            "enrolled_by": string(), "enrolled_at_ms": integer(), "decided_by": nullable_string() }), &[]),
        "StationState": object(json!({ "station": object(json!({ "id": string(), "state": string() }), &[]) }), &[]),
        "Record": object(json!({
            "id": integer(), "profile": string(), "holder_name": string(), "holder_id": string(),
            "state": { "type": "string", "enum": [records::PENDING, records::BUILT, records::PURGED] },
            "imported_by": string(), "imported_at_ms": integer() }), &[]),
        "Job": object(json!({
            "id": string(), "record": integer(), "profile": string(), "branch": string(),
            "state": job_states(), "vsc_sha256": string(), "created_by": string(),
            "created_at_ms": integer(), "approved_by": nullable_string(),
            "queued_at_ms": nullable_integer(), "claimed_by": nullable_string(),
            "station": nullable_string(), "lease_until_ms": nullable_integer(),
            "attempts": integer(), "spoiled_cards": integer(),
            "result": { "type": "object", "nullable": true },
            "reissue_of": nullable_string(), "actions": array(string()),
            "holder_name": nullable_string() }), &[]),
        "JobState": object(json!({ "job": object(json!({ "id": string(), "state": job_states() }), &[]) }), &[]),
        "JobUpload": body(json!({
            "record": integer(), "branch": string(), "vsc": { "type": "string", "format": "byte" },
            "envelopes": array(body(json!({
                "station": string(), "enc": { "type": "string", "pattern": "^([0-9a-fA-F]{2})*$" },
                "ciphertext": { "type": "string", "pattern": "^([0-9a-fA-F]{2})*$" } }), &[])) }), &[]),
        "Reason": body(json!({ "reason": string() }), &["reason"]),
        "AuditRow": object(json!({
            "seq": integer(), "at_ms": integer(), "actor": string(), "role": string(),
            "branch": string(), "action": string(), "object": string(), "outcome": string(),
            "details": {}, "prev_hash": string(), "hash": string() }), &[]),
    })
}

/// The schema of the JSON request body of `method path`, if it takes one.
pub fn request(method: &str, path: &str) -> Option<Value> {
    Some(match (method, path) {
        ("POST", "/api/session") => {
            body(json!({ "username": string(), "password": string() }), &[])
        }
        ("POST", "/api/users") => body(
            json!({ "name": string(), "role": string(), "branch": nullable_string(), "password": string() }),
            &["branch"],
        ),
        ("PATCH", "/api/users/{name}") => body(
            json!({ "disabled": { "type": "boolean", "nullable": true }, "password": nullable_string(),
                    "unlock": { "type": "boolean" } }),
            &["disabled", "password", "unlock"],
        ),
        ("POST", "/api/branches") => body(json!({ "id": string(), "name": string() }), &[]),
        ("PATCH", "/api/settings") => body(json!({ "four_eyes": { "type": "boolean" } }), &[]),
        ("POST", "/api/stations") => body(
            json!({ "name": string(), "public_key": { "type": "string", "pattern": "^([0-9a-fA-F]{2})*$" } }),
            &[],
        ),
        ("POST", "/api/records") => body(
            json!({ "profile": string(), "values": { "type": "object", "additionalProperties": string() } }),
            &[],
        ),
        ("POST", "/api/records/import") => string(),
        ("POST", "/api/jobs") | ("POST", "/api/jobs/{id}/reissue") => r("JobUpload"),
        ("POST", "/api/jobs/batch") => body(json!({ "jobs": array(r("JobUpload")) }), &[]),
        ("POST", "/api/jobs/{id}/reject" | "/api/jobs/{id}/cancel" | "/api/jobs/{id}/revoke") => {
            r("Reason")
        }
        ("POST", "/api/queue/claim") => {
            body(json!({ "station": string(), "job": string() }), &["job"])
        }
        ("POST", "/api/jobs/{id}/renew" | "/api/jobs/{id}/release") => {
            body(json!({ "claim": string() }), &["claim"])
        }
        ("POST", "/api/jobs/{id}/result") => json!({ "oneOf": [
            body(json!({ "outcome": { "type": "string", "enum": ["personalized"] }, "claim": string(), "atr": string(),
                         "apdus": { "type": "integer", "minimum": 0 }, "read_back_ok": { "type": "boolean" } }), &["claim"]),
            body(json!({ "outcome": { "type": "string", "enum": ["failed"] }, "claim": string(), "step": string(),
                         "status_word": nullable_string(), "reason": string() }), &["claim", "status_word"]),
        ] }),
        _ => return None,
    })
}

fn query(name: &str, schema: Value, required: bool) -> Value {
    json!({ "name": name, "in": "query", "required": required, "schema": schema })
}

fn paging() -> [Value; 2] {
    [
        query(
            "page",
            json!({ "type": "integer", "format": "int64", "minimum": 1 }),
            false,
        ),
        query(
            "per_page",
            json!({ "type": "integer", "minimum": 1, "maximum": 500 }),
            false,
        ),
    ]
}

/// The query parameters of `method path`.
pub fn query_parameters(method: &str, path: &str) -> Vec<Value> {
    let mut params = match (method, path) {
        ("GET", "/api/stations") => vec![
            query("branch", string(), false),
            query("state", string(), false),
        ],
        ("GET", "/api/records" | "/api/records/ids") => vec![
            query("q", string(), false),
            query(
                "state",
                json!({ "type": "string", "enum": [records::PENDING, records::BUILT, records::PURGED] }),
                false,
            ),
        ],
        ("POST", "/api/records/import") => vec![
            query("profile", string(), true),
            query(
                "encoding",
                json!({ "type": "string", "enum": ["utf-8", "windows-1252", "iso-8859-15"] }),
                false,
            ),
        ],
        ("GET", "/api/jobs") => vec![
            query("state", job_states(), false),
            query("branch", string(), false),
        ],
        ("GET", "/api/records/values") => vec![query(
            "ids",
            json!({ "type": "string", "pattern": "^[0-9]+(,[0-9]+)*$" }),
            true,
        )],
        ("GET", "/api/audit") => vec![
            query("after", integer(), false),
            query(
                "limit",
                json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
                false,
            ),
            query("actor", string(), false),
            query("action", string(), false),
            query("object", string(), false),
            query("outcome", string(), false),
        ],
        _ => Vec::new(),
    };
    if matches!(
        (method, path),
        ("GET", "/api/records" | "/api/jobs" | "/api/queue")
    ) {
        params.extend(paging());
    }
    params
}

/// The schema of the successful answer of `method path` (`None` for an endpoint without one).
pub fn response(method: &str, path: &str) -> Option<Value> {
    let page = |items: &str, item: Value| {
        object(
            json!({ items: array(item), "page": integer(), "per_page": integer(), "total": integer() }),
            &[],
        )
    };
    Some(match (method, path) {
        ("GET", "/api/health") => object(json!({ "status": string(), "database": string() }), &[]),
        ("GET", "/api/openapi.json") => object(
            json!({ "openapi": string(), "info": { "type": "object" }, "paths": { "type": "object" } }),
            &[],
        ),
        ("POST", "/api/session") | ("GET", "/api/session") => r("SignedIn"),
        ("GET", "/api/users") => object(json!({ "users": array(r("User")) }), &[]),
        ("POST", "/api/users") => object(
            json!({ "user": object(json!({ "name": string(), "role": roles(), "branch": nullable_string() }), &[]) }),
            &[],
        ),
        ("PATCH", "/api/users/{name}") => object(
            json!({ "user": string(), "changed": { "type": "object" } }),
            &[],
        ),
        ("GET", "/api/branches") => object(json!({ "branches": array(r("Branch")) }), &[]),
        ("POST", "/api/branches") => object(json!({ "branch": r("Branch") }), &[]),
        ("GET" | "PATCH", "/api/settings") => r("Settings"),
        ("GET", "/api/stations") => object(json!({ "stations": array(r("Station")) }), &[]),
        ("POST", "/api/stations") => object(
            json!({ "station": object(json!({ "id": string(), "branch": string(), "name": string(),
                                              "fingerprint": string(), "state": string() }), &[]) }),
            &[],
        ),
        ("POST", "/api/stations/{id}/approve" | "/api/stations/{id}/revoke") => r("StationState"),
        ("GET", "/api/records") => page("records", r("Record")),
        ("POST", "/api/records") => object(
            json!({ "record": object(json!({ "id": integer() }), &[]) }),
            &[],
        ),
        ("POST", "/api/records/import") => object(
            json!({ "imported": integer(), "first_id": nullable_integer(), "last_id": nullable_integer() }),
            &[],
        ),
        ("GET", "/api/records/ids") => {
            object(json!({ "total": integer(), "ids": array(integer()) }), &[])
        }
        ("GET", "/api/records/values") => object(
            json!({ "records": array(object(json!({ "id": integer(), "profile": string(), "state": string(),
                "values": { "type": "object", "additionalProperties": string() } }), &[])) }),
            &[],
        ),
        ("GET", "/api/records/{id}") => object(
            json!({ "record": object(json!({ "id": integer(), "profile": string(), "state": string(),
                "values": { "type": "object", "additionalProperties": string() } }), &[]) }),
            &[],
        ),
        ("GET", "/api/jobs") => page("jobs", r("Job")),
        ("POST", "/api/jobs") => r("JobState"),
        ("POST", "/api/jobs/batch") => object(
            json!({ "jobs": array(object(json!({ "id": string(), "state": job_states() }), &[])) }),
            &[],
        ),
        ("GET", "/api/jobs/{id}") => object(json!({ "job": r("Job") }), &[]),
        (
            "POST",
            "/api/jobs/{id}/approve"
            | "/api/jobs/{id}/reject"
            | "/api/jobs/{id}/cancel"
            | "/api/jobs/{id}/revoke"
            | "/api/jobs/{id}/release",
        ) => r("JobState"),
        ("POST", "/api/jobs/{id}/reissue") => object(
            json!({ "job": object(json!({ "id": string(), "state": job_states(), "reissue_of": string() }), &[]) }),
            &[],
        ),
        ("GET", "/api/queue") => object(
            json!({
                "branch": string(),
                "jobs": array(object(
                    json!({ "id": string(), "state": job_states(), "queued_at_ms": nullable_integer(),
                        "claimed_by": nullable_string(), "station": nullable_string(),
                        "lease_until_ms": nullable_integer(), "attempts": integer(),
                        "holder_name": nullable_string() }),
                    &[],
                )),
                "page": integer(), "per_page": integer(), "total": integer(),
            }),
            &[],
        ),
        ("POST", "/api/queue/claim") => object(
            json!({
                "job": { "allOf": [r("Job")], "nullable": true },
                "message": string(),
                "claim": string(),
                "vsc": { "type": "string", "format": "byte" },
                "envelope": object(json!({ "station": string(), "enc": { "type": "string", "pattern": "^([0-9a-fA-F]{2})*$" },
                                            "ciphertext": { "type": "string", "pattern": "^([0-9a-fA-F]{2})*$" } }), &[]),
                "lease_until_ms": integer(),
                "lease_seconds": integer(),
            }),
            &[
                "message",
                "claim",
                "vsc",
                "envelope",
                "lease_until_ms",
                "lease_seconds",
            ],
        ),
        ("POST", "/api/jobs/{id}/renew") => object(
            json!({ "job": object(json!({ "id": string(), "state": job_states(), "lease_until_ms": integer() }), &[]) }),
            &[],
        ),
        ("POST", "/api/jobs/{id}/result") => object(
            json!({ "job": object(json!({ "id": string(), "state": job_states(), "result": { "type": "object" } }), &[]) }),
            &[],
        ),
        ("GET", "/api/audit") => object(
            json!({ "rows": array(r("AuditRow")), "next_after": nullable_integer() }),
            &[],
        ),
        ("GET", "/api/audit/verify") => object(
            json!({ "ok": { "type": "boolean" }, "rows": integer(), "head": string(), "problem": string() }),
            &["rows", "head", "problem"],
        ),
        ("GET", "/api/reports") => object(
            json!({
                "jobs": array(object(json!({ "branch": string(), "state": job_states(), "count": integer() }), &[])),
                "records": array(object(json!({ "state": string(), "count": integer() }), &[])),
                "spoiled_cards": integer(),
            }),
            &[],
        ),
        _ => return None,
    })
}
