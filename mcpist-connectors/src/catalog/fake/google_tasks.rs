//! A fake Google Tasks API v1 (`vendor/google_tasks/discovery.json`) and a
//! Google OAuth provider, holding one user's task lists and tasks.
//!
//! It answers with the discovery document's shapes: `TaskLists` and `Tasks`
//! (`kind`, `etag`, `items`, `nextPageToken`), `204` with no body for delete
//! and clear, and Google's error object `{"error": {"code", "message",
//! "errors": [{"reason"}], "status"}}`: `401` for an unknown token, `404`
//! for unknown lists and tasks, `400` for bad values. `@default` names the
//! first list. `maxResults` defaults to 20 for tasks (at most 100) and 1000
//! for lists, as Google documents. OAuth is the shared Google fake
//! ([`super::google_oauth`]).

use std::{
    collections::HashMap,
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
use serde_json::{Map, Value, json};

use super::google_oauth::{AUTHORIZE_PATH, GoogleOAuth, TOKEN_PATH};

/// The scope the fake grants.
const SCOPE: &str = "https://www.googleapis.com/auth/tasks";

/// The default list's id ("My Tasks").
pub const MY_TASKS: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA6MDow";
/// The "Groceries" list's id.
pub const GROCERIES: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA6MTox";

/// One API request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The HTTP method.
    pub method: Method,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// The query, percent-decoded.
    pub query: HashMap<String, String>,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

#[derive(Debug, Default)]
struct Account {
    tokens: Vec<String>,
    oauth: GoogleOAuth,
    lists: Vec<Value>,
    /// (list id, task)
    tasks: Vec<(String, Value)>,
    seen: Vec<Seen>,
    rate_limited: usize,
    next_id: u64,
}

/// A running fake Google Tasks.
#[derive(Debug, Clone)]
pub struct FakeGoogleTasks {
    addr: SocketAddr,
    state: Arc<Mutex<Account>>,
}

impl FakeGoogleTasks {
    /// Starts the fake on `127.0.0.1:0` with a seed account.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(seed()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let addr = crate::fake::serve(app).await;
        Self { addr, state }
    }

    /// The API root to configure (`base_url`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The OAuth authorization endpoint.
    pub fn authorize_url(&self) -> String {
        format!("http://{}/o/oauth2/v2/auth", self.addr)
    }

    /// The OAuth token endpoint.
    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// Accepts `token` as an access token.
    pub fn accept_token(&self, token: &str) {
        self.lock().tokens.push(token.to_owned());
    }

    /// Registers an OAuth client.
    pub fn register_app(&self, client_id: &str, client_secret: &str) {
        self.lock().oauth.register_app(client_id, client_secret);
    }

    /// The next `n` API requests are answered `403` with reason
    /// `userRateLimitExceeded`, as Google documents for per-user limits.
    pub fn rate_limit_next(&self, n: usize) {
        self.lock().rate_limited = n;
    }

    /// The query of every authorization request.
    pub fn authorize_queries(&self) -> Vec<HashMap<String, String>> {
        self.lock().oauth.authorize_queries()
    }

    /// Every API request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// The task `id` as stored, if it exists.
    pub fn task(&self, id: &str) -> Option<Value> {
        self.lock()
            .tasks
            .iter()
            .find(|(_, t)| t["id"] == id)
            .map(|(_, t)| t.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Account> {
        self.state.lock().expect("fake state")
    }
}

fn seed() -> Account {
    let list = |id: &str, title: &str| {
        json!({"kind": "tasks#taskList", "id": id, "etag": format!("\"{id}\""), "title": title,
            "updated": "2026-12-01T08:00:00.000Z",
            "selfLink": format!("https://www.googleapis.com/tasks/v1/users/@me/lists/{id}")})
    };
    let mut account = Account {
        lists: vec![list(MY_TASKS, "My Tasks"), list(GROCERIES, "Groceries")],
        next_id: 100,
        ..Default::default()
    };
    for (list, title, due, done) in [
        (
            MY_TASKS,
            "File the taxes",
            Some("2026-12-04T00:00:00.000Z"),
            false,
        ),
        (MY_TASKS, "Book the dentist", None, false),
        (MY_TASKS, "Renew the passport", None, true),
        (GROCERIES, "Eggs", None, false),
    ] {
        let mut fields = Map::new();
        fields.insert("title".into(), json!(title));
        if let Some(due) = due {
            fields.insert("due".into(), json!(due));
        }
        let mut task = new_task(&mut account, list, &fields);
        if done {
            complete(&mut task);
        }
        account.tasks.push((list.to_owned(), task));
    }
    account
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

/// Google's error object.
fn error(status: StatusCode, reason: &str, message: &str, google_status: &str) -> Response {
    json_response(
        status,
        json!({"error": {"code": status.as_u16(), "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": google_status}}),
    )
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "notFound",
        "Requested entity was not found.",
        "NOT_FOUND",
    )
}

fn invalid(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid",
        message,
        "INVALID_ARGUMENT",
    )
}

fn new_task(account: &mut Account, list: &str, fields: &Map<String, Value>) -> Value {
    account.next_id += 1;
    let id = format!("dGFzay0{:05}", account.next_id);
    let mut task = json!({"kind": "tasks#task", "id": id, "etag": format!("\"{id}\""),
        "title": "", "updated": "2026-12-04T09:00:00.000Z", "status": "needsAction",
        "position": format!("{:020}", account.next_id), "links": [],
        "selfLink": format!("https://www.googleapis.com/tasks/v1/lists/{list}/tasks/{id}"),
        "webViewLink": format!("https://tasks.google.com/task/{id}")});
    patch(&mut task, fields);
    task
}

fn complete(task: &mut Value) {
    task["status"] = json!("completed");
    task["completed"] = json!("2026-12-04T10:00:00.000Z");
}

/// Applies the writable fields; a `status` of `needsAction` clears `completed`.
fn patch(task: &mut Value, fields: &Map<String, Value>) {
    for key in ["title", "notes", "due"] {
        if let Some(v) = fields.get(key) {
            task[key] = v.clone();
        }
    }
    match fields.get("status").and_then(Value::as_str) {
        Some("completed") => complete(task),
        Some("needsAction") => {
            task["status"] = json!("needsAction");
            task.as_object_mut().map(|t| t.remove("completed"));
        }
        _ => {}
    }
}

/// One page of `items` in a `kind` collection.
fn page(
    kind: &str,
    items: Vec<Value>,
    query: &HashMap<String, String>,
    default: usize,
    max: usize,
) -> Response {
    let size = match query.get("maxResults").map(|m| m.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n >= 1 => n.min(max),
        Some(_) => return invalid("Invalid value for maxResults"),
    };
    let start = match query.get("pageToken") {
        None => 0,
        Some(t) => match t.strip_prefix("p").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n <= items.len() => n,
            _ => return invalid("Invalid page token"),
        },
    };
    let end = (start + size).min(items.len());
    let mut out = json!({"kind": kind, "etag": "\"fake\"", "items": items[start..end].to_vec()});
    if end < items.len() {
        out["nextPageToken"] = json!(format!("p{end}"));
    }
    json_response(StatusCode::OK, out)
}

fn truthy(query: &HashMap<String, String>, key: &str, default: bool) -> bool {
    query.get(key).map_or(default, |v| v == "true")
}

async fn handle(
    State(state): State<Arc<Mutex<Account>>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = uri.query().map(|q| q.replace('+', "%20"));
    let query = crate::fake::parse_query(raw.as_deref());
    let path = percent_encoding::percent_decode_str(uri.path())
        .decode_utf8_lossy()
        .into_owned();
    let mut guard = state.lock().expect("fake state");
    let account = &mut *guard;
    match (method.as_str(), path.as_str()) {
        ("GET", AUTHORIZE_PATH) => return account.oauth.authorize(query, SCOPE),
        ("POST", TOKEN_PATH) => return account.oauth.token(&body, SCOPE, &mut account.tokens),
        _ => {}
    }
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    account.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        body: json_body.clone(),
    });
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| account.tokens.iter().any(|k| k == t)) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Request had invalid authentication credentials.",
            "UNAUTHENTICATED",
        );
    }
    if account.rate_limited > 0 {
        account.rate_limited -= 1;
        return error(
            StatusCode::FORBIDDEN,
            "userRateLimitExceeded",
            "User Rate Limit Exceeded",
            "PERMISSION_DENIED",
        );
    }
    let fields = json_body
        .and_then(|b| b.as_object().cloned())
        .unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let list_id = |account: &Account, id: &str| -> Option<String> {
        let id = if id == "@default" { MY_TASKS } else { id };
        account
            .lists
            .iter()
            .find(|l| l["id"] == id)
            .map(|_| id.to_owned())
    };
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["tasks", "v1", "users", "@me", "lists"]) => {
            page("tasks#taskLists", account.lists.clone(), &query, 1000, 1000)
        }
        ("GET", ["tasks", "v1", "users", "@me", "lists", id]) => match list_id(account, id) {
            Some(id) => json_response(
                StatusCode::OK,
                account
                    .lists
                    .iter()
                    .find(|l| l["id"] == id.as_str())
                    .cloned()
                    .unwrap_or_default(),
            ),
            None => not_found(),
        },
        (_, ["tasks", "v1", "lists", list, rest @ ..]) => {
            let Some(list) = list_id(account, list) else {
                return not_found();
            };
            match (method.as_str(), rest) {
                ("GET", ["tasks"]) => {
                    let show_completed = truthy(&query, "showCompleted", true);
                    let show_hidden = truthy(&query, "showHidden", false);
                    let items = account
                        .tasks
                        .iter()
                        .filter(|(l, _)| *l == list)
                        .map(|(_, t)| t)
                        .filter(|t| show_completed || t["status"] != "completed")
                        .filter(|t| show_hidden || t["hidden"] != true)
                        .filter(|t| {
                            query.get("dueMax").is_none_or(|max| {
                                t["due"].as_str().is_some_and(|d| d <= max.as_str())
                            })
                        })
                        .cloned()
                        .collect();
                    page("tasks#tasks", items, &query, 20, 100)
                }
                ("POST", ["tasks"]) => {
                    if fields
                        .get("title")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        return invalid("Missing task title.");
                    }
                    let mut task = new_task(account, &list, &fields);
                    if let Some(parent) = query.get("parent") {
                        if !account
                            .tasks
                            .iter()
                            .any(|(l, t)| *l == list && t["id"] == parent.as_str())
                        {
                            return not_found();
                        }
                        task["parent"] = json!(parent);
                    }
                    account.tasks.push((list, task.clone()));
                    json_response(StatusCode::OK, task)
                }
                ("POST", ["clear"]) => {
                    for (l, t) in account.tasks.iter_mut() {
                        if *l == list && t["status"] == "completed" {
                            t["hidden"] = json!(true);
                        }
                    }
                    StatusCode::NO_CONTENT.into_response()
                }
                (_, ["tasks", task, tail @ ..]) => {
                    let Some(at) = account
                        .tasks
                        .iter()
                        .position(|(l, t)| *l == list && t["id"] == *task)
                    else {
                        return not_found();
                    };
                    match (method.as_str(), tail) {
                        ("GET", []) => json_response(StatusCode::OK, account.tasks[at].1.clone()),
                        ("PATCH", []) => {
                            if let Some(s) = fields.get("status").and_then(Value::as_str)
                                && !matches!(s, "completed" | "needsAction")
                            {
                                return invalid("Invalid value for status");
                            }
                            patch(&mut account.tasks[at].1, &fields);
                            json_response(StatusCode::OK, account.tasks[at].1.clone())
                        }
                        ("DELETE", []) => {
                            account.tasks.remove(at);
                            StatusCode::NO_CONTENT.into_response()
                        }
                        ("POST", ["move"]) => {
                            if let Some(dest) = query.get("destinationTasklist") {
                                let Some(dest) = list_id(account, dest) else {
                                    return not_found();
                                };
                                account.tasks[at].0 = dest;
                            }
                            let entry = account.tasks.remove(at);
                            let mut task = entry.1;
                            match query.get("parent") {
                                Some(parent) => task["parent"] = json!(parent),
                                None => {
                                    task.as_object_mut().map(|t| t.remove("parent"));
                                }
                            }
                            let insert_at = query
                                .get("previous")
                                .and_then(|p| {
                                    account
                                        .tasks
                                        .iter()
                                        .position(|(_, t)| t["id"] == p.as_str())
                                })
                                .map_or(0, |i| i + 1);
                            account.tasks.insert(insert_at, (entry.0, task.clone()));
                            json_response(StatusCode::OK, task)
                        }
                        _ => not_found(),
                    }
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}
