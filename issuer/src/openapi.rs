//! `GET /api/openapi.json`: an OpenAPI 3 document generated from the endpoint table, so it
//! lists exactly the endpoints the router serves (a test sends a request to each).

use axum::Json;
use serde_json::{json, Map, Value};

use crate::endpoints::{Access, BodyKind, ENDPOINTS};
use crate::guard::CSRF_HEADER;

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut op = json!({
            "summary": e.summary,
            "description": format!(
                "Who may call: {}.{}",
                e.access.describe(),
                if e.method == "GET" { String::new() } else {
                    format!(" Needs a same-origin Origin header and the {CSRF_HEADER} header. Largest body: {} bytes.", e.body_limit)
                }
            ),
            "parameters": params,
            "responses": responses(e.success, e.access),
        });
        let content = match e.body {
            BodyKind::None => None,
            BodyKind::Json => Some("application/json"),
            BodyKind::Csv => Some("text/csv"),
        };
        if let Some(content) = content {
            op["requestBody"] = json!({
                "required": true,
                "content": { content: { "schema": { "type": if content == "text/csv" { "string" } else { "object" } } } }
            });
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
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": "vsc-session", "description": "Set by POST /api/session (named __Host-vsc-session under https)." }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": {
                        "code": { "type": "string" }, "message": { "type": "string" },
                        "rows": { "type": "array", "items": { "type": "object", "properties": {
                            "row": { "type": "integer" }, "column": { "type": "string" }, "reason": { "type": "string" } } } }
                    } } }
                }
            }
        }
    })
}

fn responses(success: u16, access: Access) -> Value {
    let error = json!({ "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let mut r = Map::new();
    let ok = if success == 204 {
        json!({ "description": "Done." })
    } else {
        json!({ "description": "Done.", "content": { "application/json": { "schema": { "type": "object" } } } })
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
    codes.push(("422", "The content is invalid."));
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
