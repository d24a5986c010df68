//! `GET /api/openapi.json`: an OpenAPI 3 document generated from the endpoint table, so it
//! lists exactly the endpoints the router serves (a test sends a request to each), with the
//! schemas of [`crate::schemas`]. Each operation is tagged with the roles that may call it
//! (`anonymous` when no session is needed).

use axum::Json;
use serde_json::{json, Map, Value};
use vsc_core::job::Role;

use crate::endpoints::{Access, BodyKind, Endpoint, ENDPOINTS};
use crate::guard::CSRF_HEADER;
use crate::schemas;

/// The tag of operations anyone may call, signed in or not.
pub const ANONYMOUS_TAG: &str = "anonymous";

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let mut params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        params.extend(schemas::query_parameters(e.method, e.path));
        let mut op = json!({
            "summary": e.summary,
            "description": format!(
                "Who may call: {}.{}",
                e.access.describe(),
                if e.method == "GET" { String::new() } else {
                    format!(" Needs a same-origin Origin header and the {CSRF_HEADER} header. Largest body: {} bytes.", e.body_limit)
                }
            ),
            "tags": tags(e.access),
            "parameters": params,
            "responses": responses(e),
        });
        let content = match e.body {
            BodyKind::None => None,
            BodyKind::Json => Some("application/json"),
            BodyKind::Csv => Some("text/csv"),
        };
        if let Some(content) = content {
            let schema =
                schemas::request(e.method, e.path).unwrap_or_else(|| json!({ "type": "object" }));
            op["requestBody"] =
                json!({ "required": true, "content": { content: { "schema": schema } } });
        }
        if e.access != Access::Anyone {
            op["security"] = json!([{ "session": [] }]);
        }
        let entry = paths.entry(e.path.to_owned()).or_insert_with(|| json!({}));
        entry[e.method.to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "vsc-issuer",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The issuer service of VSC: holder records, VSC jobs, branch queues and the audit chain. Errors are {\"error\": {\"code\", \"message\"}}. Times are milliseconds since the Unix epoch."
        },
        "tags": Role::ALL.iter().map(|r| json!({ "name": r.as_str(), "description": format!("Operations a signed-in {} may call.", r.as_str()) }))
            .chain([json!({ "name": ANONYMOUS_TAG, "description": "Operations that need no session." })]).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": "vsc-session", "description": "Set by POST /api/session (named __Host-vsc-session under https)." }
            },
            "schemas": schemas_with_error(),
        }
    })
}

fn schemas_with_error() -> Value {
    let mut all = schemas::components();
    all["Error"] = json!({
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": {
                        "code": { "type": "string" }, "message": { "type": "string" },
                        "rows": { "type": "array", "items": { "type": "object", "properties": {
                            "row": { "type": "integer" }, "column": { "type": "string" }, "reason": { "type": "string" } } } }
                    } } }
    });
    all
}

/// The roles that may call an endpoint, as its tags.
fn tags(access: Access) -> Vec<&'static str> {
    let mut tags: Vec<&str> = Role::ALL
        .iter()
        .filter(|r| access.allows(Some(**r)))
        .map(|r| r.as_str())
        .collect();
    if access.allows(None) {
        tags.push(ANONYMOUS_TAG);
    }
    tags
}

fn responses(e: &Endpoint) -> Value {
    let (success, access) = (e.success, e.access);
    let error = json!({ "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let mut r = Map::new();
    let ok = match schemas::response(e.method, e.path) {
        Some(schema) if success != 204 => {
            json!({ "description": "Done.", "content": { "application/json": { "schema": schema } } })
        }
        _ => json!({ "description": "Done." }),
    };
    r.insert(success.to_string(), ok);
    let mut codes = vec![
        ("400", "Malformed request."),
        ("503", "The database cannot be reached."),
    ];
    if access != Access::Anyone {
        codes.push(("401", "Not signed in, or the session ended."));
        codes.push(("403", "Not allowed for your role, or a cross-site request."));
    }
    codes.push(("404", "No such object (or not yours to see)."));
    codes.push(("409", "The object's state does not allow this."));
    codes.push(("413", "The body is too large."));
    if e.body != BodyKind::None {
        codes.push((
            "415",
            "The body is not of the content type the endpoint reads.",
        ));
    }
    codes.push(("422", "The content is invalid."));
    if e.method == "POST" && e.path == "/api/session" {
        codes.push(("401", "Wrong username or password."));
        codes.push(("403", "The account is disabled."));
        codes.push((
            "429",
            "Too many sign-in attempts from this address, or the account is locked.",
        ));
    }
    for (code, description) in codes {
        let mut e = error.clone();
        e["description"] = json!(description);
        r.insert(code.into(), e);
    }
    Value::Object(r)
}

/// `GET /api/openapi.json`.
pub async fn get() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_has_its_schemas() {
        for e in ENDPOINTS {
            assert_eq!(
                schemas::response(e.method, e.path).is_some(),
                e.success != 204,
                "{} {}: a schema of its answer, unless it answers 204",
                e.method,
                e.path
            );
            assert_eq!(
                schemas::request(e.method, e.path).is_some(),
                e.body != BodyKind::None,
                "{} {}: a schema of its body, if it takes one",
                e.method,
                e.path
            );
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "no schema {name}"
            );
        }
    }
}
