//! The API's endpoints in one table: method, path, who may call it, body limit and what it
//! does. The router ([`crate::server`]) attaches a handler to each row and enforces its
//! access; the OpenAPI document ([`crate::openapi`]) is generated from it.

use vsc_core::job::Role;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Anyone,
    /// Any signed-in user.
    SignedIn,
    /// Signed-in users with one of these roles.
    Roles(&'static [Role]),
}

/// How an endpoint's request body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    None,
    /// A JSON object.
    Json,
    /// A CSV file (`text/csv`).
    Csv,
}

/// One endpoint of the API.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// HTTP method.
    pub method: &'static str,
    /// Path, with `{name}` parameters.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The request body.
    pub body: BodyKind,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// The status of a successful answer.
    pub success: u16,
    /// What it does.
    pub summary: &'static str,
}

const KB: usize = 1024;
const MB: usize = 1024 * 1024;
/// Body limit of small JSON requests.
pub const SMALL: usize = 64 * KB;
/// Body limit of one job upload (a sealed VSC in base64 and its envelopes in hex).
pub const ONE_JOB: usize = 4 * MB;
/// Body limit of a batch upload or a CSV import (about 10,000 jobs, or 200,000 CSV rows).
pub const LARGE: usize = 32 * MB;

use Access::{Anyone, Roles, SignedIn};
use BodyKind::{Csv, Json};
use Role::{Admin, Approver, Auditor, Clerk, Operator};

const fn ep(
    method: &'static str,
    path: &'static str,
    access: Access,
    body: BodyKind,
    success: u16,
    summary: &'static str,
) -> Endpoint {
    let body_limit = match body {
        BodyKind::None => SMALL,
        Json => SMALL,
        Csv => LARGE,
    };
    Endpoint {
        method,
        path,
        access,
        body,
        body_limit,
        success,
        summary,
    }
}

const fn limit(mut e: Endpoint, body_limit: usize) -> Endpoint {
    e.body_limit = body_limit;
    e
}

const NONE: BodyKind = BodyKind::None;

/// Every endpoint of the API.
pub const ENDPOINTS: &[Endpoint] = &[
    ep("GET", "/api/health", Anyone, NONE, 200, "Whether the service and its database answer."),
    ep("GET", "/api/openapi.json", Anyone, NONE, 200, "This OpenAPI 3 document."),
    ep("POST", "/api/session", Anyone, Json, 200, "Sign in with {\"username\", \"password\"}; sets the session cookie."),
    ep("GET", "/api/session", SignedIn, NONE, 200, "Who is signed in."),
    ep("DELETE", "/api/session", SignedIn, NONE, 204, "Sign out: ends the session."),
    ep("GET", "/api/users", Roles(&[Admin]), NONE, 200, "List user accounts."),
    ep("POST", "/api/users", Roles(&[Admin]), Json, 201, "Create a user account {\"name\", \"role\", \"branch\"?, \"password\"}."),
    ep("PATCH", "/api/users/{name}", Roles(&[Admin]), Json, 200, "Change an account: {\"disabled\"?, \"password\"?, \"unlock\"?}."),
    ep("GET", "/api/branches", SignedIn, NONE, 200, "List branches."),
    ep("POST", "/api/branches", Roles(&[Admin]), Json, 201, "Create a branch {\"id\", \"name\"}."),
    ep("GET", "/api/settings", Roles(&[Admin]), NONE, 200, "The issuer's settings."),
    ep("PATCH", "/api/settings", Roles(&[Admin]), Json, 200, "Change settings: {\"four_eyes\": bool}."),
    ep("GET", "/api/stations", Roles(&[Admin, Clerk, Operator]), NONE, 200, "List stations (?branch=ID&state=S); operators see their branch's only."),
    ep("POST", "/api/stations", Roles(&[Operator]), Json, 201, "Enrol a station of the operator's branch: {\"name\", \"public_key\" (64 hex digits: the 32-byte X25519 key, as the bridge's station_key gives it)}."),
    ep("POST", "/api/stations/{id}/approve", Roles(&[Admin]), NONE, 200, "Approve an enrolled station (after comparing its fingerprint)."),
    ep("POST", "/api/stations/{id}/revoke", Roles(&[Admin]), NONE, 200, "Revoke a station: it gets no more envelopes and cannot claim."),
    ep("GET", "/api/records", Roles(&[Clerk, Approver]), NONE, 200, "List and search holder records (?q=TEXT&state=S&page=N&per_page=N)."),
    ep("POST", "/api/records", Roles(&[Clerk]), Json, 201, "Import one holder record: {\"profile\", \"values\": {column: value}}."),
    ep("POST", "/api/records/import", Roles(&[Clerk]), Csv, 201, "Import a CSV file of holder records (?profile=ID&encoding=utf-8|windows-1252|iso-8859-15); all rows or none."),
    ep("GET", "/api/records/ids", Roles(&[Clerk]), NONE, 200, "The ids of every record a search matches (?q=TEXT&state=S), at most 100,000: the clerk's whole selection in one answer."),
    ep("GET", "/api/records/values", Roles(&[Clerk]), NONE, 200, "All the fields of up to 2000 records (?ids=1,2,3), to build their VSCs a chunk at a time."),
    ep("GET", "/api/records/{id}", Roles(&[Clerk]), NONE, 200, "One holder record with all its fields (to build its VSC)."),
    ep("GET", "/api/jobs", Roles(&[Clerk, Approver]), NONE, 200, "List jobs (?state=S&branch=ID&page=N&per_page=N)."),
    limit(ep("POST", "/api/jobs", Roles(&[Clerk]), Json, 201, "Upload one sealed VSC with its password envelopes for a branch."), ONE_JOB),
    limit(ep("POST", "/api/jobs/batch", Roles(&[Clerk]), Json, 201, "Upload several jobs at once: all or none."), LARGE),
    ep("GET", "/api/jobs/{id}", Roles(&[Clerk, Approver, Operator]), NONE, 200, "One job (operators: of their branch only)."),
    ep("POST", "/api/jobs/{id}/approve", Roles(&[Approver]), NONE, 200, "Approve a prepared job (not one you created, while four-eyes is on)."),
    ep("POST", "/api/jobs/{id}/reject", Roles(&[Approver]), Json, 200, "Reject a prepared job: {\"reason\"}."),
    ep("POST", "/api/jobs/{id}/cancel", Roles(&[Clerk]), Json, 200, "Cancel a prepared or queued job: {\"reason\"}."),
    ep("POST", "/api/jobs/{id}/revoke", Roles(&[Clerk]), Json, 200, "Revoke a personalized job (card lost): {\"reason\"}."),
    limit(ep("POST", "/api/jobs/{id}/reissue", Roles(&[Clerk]), Json, 201, "Replace a job by a new upload built from the same record; the old one is superseded."), ONE_JOB),
    ep("GET", "/api/queue", Roles(&[Operator]), NONE, 200, "The operator's branch queue (queued and claimed jobs)."),
    ep("POST", "/api/queue/claim", Roles(&[Operator]), Json, 200, "Claim the next job for a station, or the one picked: {\"station\", \"job\"?}; returns the .vsc and the station's envelope."),
    ep("POST", "/api/jobs/{id}/renew", Roles(&[Operator]), Json, 200, "Renew the lease of a job you claimed, under its claim."),
    ep("POST", "/api/jobs/{id}/release", Roles(&[Operator]), Json, 200, "Give a claimed job back to the queue (under its claim), behind the jobs queued before it."),
    ep("POST", "/api/jobs/{id}/result", Roles(&[Operator]), Json, 200, "Report a claimed job personalized or failed, under its claim; a verified card's report sent again gets the recorded result."),
    ep("GET", "/api/audit", Roles(&[Auditor]), NONE, 200, "Audit rows (?after=SEQ&limit=N&actor=NAME&action=PREFIX&object=ID&outcome=ok|refused)."),
    ep("GET", "/api/audit/verify", Roles(&[Auditor]), NONE, 200, "Recompute the audit chain; names the first bad row."),
    ep("GET", "/api/reports", Roles(&[Auditor]), NONE, 200, "Job counts by branch and state, records by state."),
];

/// The row for `method` and `path`, if any.
pub fn find(method: &str, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .find(|e| e.method == method && e.path == path)
}

impl Access {
    /// Whether a caller with `role` (`None`: anonymous) may call.
    pub fn allows(self, role: Option<Role>) -> bool {
        match (self, role) {
            (Anyone, _) => true,
            (SignedIn, Some(_)) => true,
            (Roles(roles), Some(role)) => roles.contains(&role),
            (_, None) => false,
        }
    }

    /// Who may call, in words.
    pub fn describe(self) -> String {
        match self {
            Anyone => "anyone".into(),
            SignedIn => "any signed-in user".into(),
            Roles(roles) => roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_list_every_endpoint() {
        let doc = include_str!("../../docs/issuer.md");
        for e in ENDPOINTS {
            let row = format!("| `{} {}` | ", e.method, e.path);
            assert!(
                doc.contains(&row),
                "docs/issuer.md has no row for {} {}",
                e.method,
                e.path
            );
        }
    }

    #[test]
    fn one_row_per_method_and_path() {
        for (i, a) in ENDPOINTS.iter().enumerate() {
            for b in &ENDPOINTS[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {}",
                    a.method,
                    a.path
                );
            }
        }
    }
}
