//! A fake Supabase Management API (`vendor/supabase/openapi.json`) holding
//! one organization with one project.
//!
//! It answers with the description's shapes and status codes: arrays for
//! the lists, `201` for `database/query` (the rows as a JSON array) and for
//! applied migrations, `{"message"}` errors: `401` for an unknown token,
//! `404` for an unknown project ref or function slug, `400` for SQL it
//! cannot run, and `400` for a write under `read_only: true` (as Postgres
//! refuses it in a read-only transaction). SQL is not parsed: the fake
//! knows the catalog query of `list_tables`, `select 1`, and treats
//! statements starting with insert/update/delete/create/drop/alter as
//! writes. API keys come with their values, as the API returns them; the
//! connector must not pass them on.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::{OriginalUri, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// The project's ref.
pub const REF: &str = "abcdefghijklmnopqrst";
/// The service_role key's value, which must never reach a client.
pub const SERVICE_ROLE_KEY: &str = "eyJfake.service-role.CANARY";

/// One API request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The HTTP method.
    pub method: Method,
    /// The path.
    pub path: String,
    /// The raw query string.
    pub raw_query: String,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

#[derive(Debug, Default)]
struct Account {
    tokens: Vec<String>,
    migrations: Vec<Value>,
    seen: Vec<Seen>,
}

/// A running fake Supabase.
#[derive(Debug, Clone)]
pub struct FakeSupabase {
    addr: SocketAddr,
    state: Arc<Mutex<Account>>,
}

impl FakeSupabase {
    /// Starts the fake on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Account {
            migrations: vec![json!({"version": "20261101090000", "name": "init"})],
            ..Default::default()
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let addr = crate::fake::serve(app).await;
        Self { addr, state }
    }

    /// The API base URL to configure (`base_url`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Accepts `token` as a personal access token.
    pub fn accept_token(&self, token: &str) {
        self.lock().tokens.push(token.to_owned());
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// The applied migrations.
    pub fn migrations(&self) -> Vec<Value> {
        self.lock().migrations.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Account> {
        self.state.lock().expect("fake state")
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn message(status: StatusCode, text: &str) -> Response {
    json_response(status, json!({ "message": text }))
}

fn project() -> Value {
    json!({"id": REF, "ref": REF, "name": "shop", "organization_id": "org-fake", "region": "eu-west-2",
        "status": "ACTIVE_HEALTHY", "created_at": "2026-01-10T08:00:00Z",
        "database": {"host": format!("db.{REF}.supabase.co"), "version": "17.4.1", "postgres_engine": "17", "release_channel": "ga"}})
}

fn is_write(sql: &str) -> bool {
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    matches!(
        first.as_str(),
        "insert" | "update" | "delete" | "create" | "drop" | "alter" | "truncate"
    )
}

/// The rows of `sql`, as far as the fake knows SQL.
fn run(sql: &str, read_only: bool) -> Response {
    let lower = sql.to_ascii_lowercase();
    if is_write(sql) {
        if read_only {
            return message(
                StatusCode::BAD_REQUEST,
                "ERROR:  25006: cannot execute statement in a read-only transaction",
            );
        }
        return json_response(StatusCode::CREATED, json!([]));
    }
    if lower.contains("from information_schema.tables") {
        return json_response(
            StatusCode::CREATED,
            json!([{"table_schema": "public", "table_name": "orders", "table_type": "BASE TABLE"},
                   {"table_schema": "public", "table_name": "products", "table_type": "BASE TABLE"}]),
        );
    }
    if lower.trim() == "select 1" {
        return json_response(StatusCode::CREATED, json!([{"?column?": 1}]));
    }
    message(
        StatusCode::BAD_REQUEST,
        "ERROR:  42601: syntax error at or near \"?\"",
    )
}

async fn handle(
    State(state): State<Arc<Mutex<Account>>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_query = uri.query().unwrap_or_default().to_owned();
    let query: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let path = uri.path().to_owned();
    let mut guard = state.lock().expect("fake state");
    let account = &mut *guard;
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    account.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        raw_query: raw_query.clone(),
        body: json_body.clone(),
    });
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| account.tokens.iter().any(|k| k == t)) {
        return message(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let fields = json_body
        .and_then(|b| b.as_object().cloned())
        .unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ok = |v: Value| json_response(StatusCode::OK, v);
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["v1", "organizations"]) => ok(json!([{"id": "org-fake", "name": "Acme"}])),
        ("GET", ["v1", "projects"]) => ok(json!([project()])),
        (_, ["v1", "projects", reference, rest @ ..]) => {
            if *reference != REF {
                return message(StatusCode::NOT_FOUND, "Project not found");
            }
            match (method.as_str(), rest) {
                ("GET", []) => ok(project()),
                ("GET", ["api-keys"]) => ok(json!([
                    {"id": "k1", "name": "anon", "type": "legacy", "api_key": "eyJfake.anon", "prefix": null, "description": null},
                    {"id": "k2", "name": "service_role", "type": "legacy", "api_key": SERVICE_ROLE_KEY, "prefix": null, "description": null},
                ])),
                ("GET", ["health"]) => {
                    let services: Vec<&str> = query
                        .iter()
                        .filter(|(k, _)| k == "services")
                        .map(|(_, v)| v.as_str())
                        .collect();
                    if services.is_empty() {
                        return message(StatusCode::BAD_REQUEST, "services must be given");
                    }
                    ok(Value::Array(
                        services
                            .iter()
                            .map(
                                |s| json!({"name": s, "healthy": true, "status": "ACTIVE_HEALTHY"}),
                            )
                            .collect(),
                    ))
                }
                ("POST", ["database", "query"]) => {
                    let Some(sql) = fields.get("query").and_then(Value::as_str) else {
                        return message(StatusCode::BAD_REQUEST, "query must be a string");
                    };
                    run(sql, fields.get("read_only") == Some(&json!(true)))
                }
                ("GET", ["database", "migrations"]) => ok(json!(account.migrations)),
                ("POST", ["database", "migrations"]) => {
                    let Some(sql) = fields.get("query").and_then(Value::as_str) else {
                        return message(StatusCode::BAD_REQUEST, "query must be a string");
                    };
                    if !is_write(sql) && !sql.trim().eq_ignore_ascii_case("select 1") {
                        return message(StatusCode::BAD_REQUEST, "ERROR:  42601: syntax error");
                    }
                    let version = format!("2026120409{:04}", account.migrations.len());
                    account.migrations.push(json!({"version": version, "name": fields.get("name").cloned().unwrap_or(Value::Null)}));
                    StatusCode::OK.into_response()
                }
                ("GET", ["functions"]) => ok(
                    json!([{"id": "f1", "slug": "hello", "name": "hello", "status": "ACTIVE", "version": 3,
                    "verify_jwt": true, "created_at": 1764835200000_u64, "updated_at": 1764921600000_u64}]),
                ),
                ("GET", ["functions", slug]) => {
                    if *slug != "hello" {
                        return message(StatusCode::NOT_FOUND, "Function not found");
                    }
                    ok(
                        json!({"id": "f1", "slug": "hello", "name": "hello", "status": "ACTIVE", "version": 3, "verify_jwt": true,
                        "entrypoint_path": "file:///src/index.ts", "import_map": false,
                        "created_at": 1764835200000_u64, "updated_at": 1764921600000_u64}),
                    )
                }
                ("GET", ["analytics", "endpoints", "logs.all"]) => ok(json!({"result": [
                    {"timestamp": 1764838800000000_u64, "event_message": "GET /rest/v1/orders 200"}], "error": null})),
                ("GET", ["advisors", "performance"]) => ok(
                    json!({"lints": [{"name": "unindexed_foreign_keys", "level": "INFO",
                    "title": "Unindexed foreign keys", "detail": "orders.product_id has no index"}]}),
                ),
                ("GET", ["advisors", "security"]) => ok(
                    json!({"lints": [{"name": "rls_disabled_in_public", "level": "ERROR",
                    "title": "RLS Disabled in Public", "detail": "Table public.orders is public but RLS is not enabled"}]}),
                ),
                ("GET", ["config", "storage"]) => ok(
                    json!({"fileSizeLimit": 52428800, "features": {"imageTransformation": {"enabled": true}}}),
                ),
                ("GET", ["storage", "buckets"]) => ok(
                    json!([{"id": "avatars", "name": "avatars", "owner": "", "public": true,
                    "created_at": "2026-01-10T08:00:00Z", "updated_at": "2026-01-10T08:00:00Z"}]),
                ),
                ("GET", ["types", "typescript"]) => {
                    let schemas = query
                        .iter()
                        .find(|(k, _)| k == "included_schemas")
                        .map_or("public", |(_, v)| v.as_str());
                    ok(
                        json!({"types": format!("export type Database = {{ {schemas}: {{ Tables: {{ orders: {{}} }} }} }}")}),
                    )
                }
                ("GET", ["branches"]) => ok(
                    json!([{"id": "b1", "name": "main", "git_branch": "main", "project_ref": REF,
                    "parent_project_ref": REF, "is_default": true, "persistent": true, "status": "FUNCTIONS_DEPLOYED",
                    "created_at": "2026-01-10T08:00:00Z", "updated_at": "2026-12-01T08:00:00Z"}]),
                ),
                _ => message(StatusCode::NOT_FOUND, "Not found"),
            }
        }
        _ => message(StatusCode::NOT_FOUND, "Not found"),
    }
}
