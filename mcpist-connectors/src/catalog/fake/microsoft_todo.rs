//! A fake Microsoft Graph To Do API (`vendor/microsoft_todo`: Graph's CSDL
//! types and `paths.md`) and a Microsoft identity platform, holding one
//! user's lists, tasks and checklist items.
//!
//! It answers as Graph does: collections as `{"@odata.context", "value",
//! "@odata.nextLink"}` with the next link an absolute URL (`$top`, `$skip`),
//! `201` for creates, `204` for deletes, dates as `dateTimeTimeZone`
//! objects, and errors as `{"error": {"code", "message", "innerError"}}`:
//! `401 InvalidAuthenticationToken`, `404 ErrorItemNotFound`, `400
//! BadRequest` for a filter it cannot read. OAuth (`/common/oauth2/v2.0/`):
//! authorize approves at once; the token endpoint answers with 3599 s
//! tokens and **rotates** refresh tokens (a used one stops working).

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

/// The default list ("Tasks").
pub const TASKS: &str = "AAMkADIyAAAAABrJAAA=";
/// The "Shopping" list.
pub const SHOPPING: &str = "AAMkADIyAAAhrbPWAAA=";

/// One API request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The HTTP method.
    pub method: Method,
    /// The path, percent-decoded.
    pub path: String,
    /// The query, percent-decoded.
    pub query: HashMap<String, String>,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

#[derive(Debug, Default)]
struct Account {
    tokens: Vec<String>,
    refresh_tokens: Vec<String>,
    apps: HashMap<String, String>,
    codes: HashMap<String, String>,
    lists: Vec<Value>,
    /// (list id, task)
    tasks: Vec<(String, Value)>,
    checklist: HashMap<String, Vec<Value>>,
    seen: Vec<Seen>,
    next_id: u64,
}

/// A running fake Graph.
#[derive(Debug, Clone)]
pub struct FakeMicrosoftTodo {
    addr: SocketAddr,
    state: Arc<Mutex<Account>>,
}

impl FakeMicrosoftTodo {
    /// Starts the fake on `127.0.0.1:0` with a seed account.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(seed()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let addr = crate::fake::serve(app).await;
        Self { addr, state }
    }

    /// The API base URL to configure (`base_url`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1.0", self.addr)
    }

    /// The OAuth authorization endpoint.
    pub fn authorize_url(&self) -> String {
        format!("http://{}/common/oauth2/v2.0/authorize", self.addr)
    }

    /// The OAuth token endpoint.
    pub fn token_url(&self) -> String {
        format!("http://{}/common/oauth2/v2.0/token", self.addr)
    }

    /// Accepts `token` as an access token.
    pub fn accept_token(&self, token: &str) {
        self.lock().tokens.push(token.to_owned());
    }

    /// Registers an app (client id and secret).
    pub fn register_app(&self, client_id: &str, client_secret: &str) {
        self.lock()
            .apps
            .insert(client_id.to_owned(), client_secret.to_owned());
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
    let list = |id: &str, name: &str, known: &str| {
        json!({"@odata.etag": "W/\"fake\"", "id": id, "displayName": name, "isOwner": true,
            "isShared": false, "wellknownListName": known})
    };
    let mut account = Account {
        lists: vec![
            list(TASKS, "Tasks", "defaultList"),
            list(SHOPPING, "Shopping", "none"),
        ],
        next_id: 100,
        ..Default::default()
    };
    for (list, title, status, importance) in [
        (TASKS, "Send the invoice", "notStarted", "high"),
        (TASKS, "Back up the laptop", "inProgress", "normal"),
        (TASKS, "Sign the lease", "completed", "normal"),
        (SHOPPING, "Coffee", "notStarted", "low"),
    ] {
        let mut fields = Map::new();
        fields.insert("title".into(), json!(title));
        fields.insert("status".into(), json!(status));
        fields.insert("importance".into(), json!(importance));
        let task = new_task(&mut account, &fields);
        account.tasks.push((list.to_owned(), task));
    }
    let first = account.tasks[0].1["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    account.checklist.insert(
        first,
        vec![
            json!({"id": "c1", "displayName": "Attach the hours", "isChecked": true,
                "createdDateTime": "2026-12-01T08:00:00Z", "checkedDateTime": "2026-12-02T08:00:00Z"}),
            json!({"id": "c2", "displayName": "Email it", "isChecked": false,
                "createdDateTime": "2026-12-01T08:00:00Z"}),
        ],
    );
    account
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/json; odata.metadata=minimal",
        )],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"error": {"code": code, "message": message,
            "innerError": {"date": "2026-12-04T09:00:00", "request-id": "fake", "client-request-id": "fake"}}}),
    )
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

fn new_task(account: &mut Account, fields: &Map<String, Value>) -> Value {
    account.next_id += 1;
    let mut task = json!({"@odata.etag": "W/\"fake\"", "id": format!("AAMkADIyAAAIAAA{:05}=", account.next_id),
        "importance": "normal", "isReminderOn": false, "status": "notStarted", "title": "",
        "createdDateTime": "2026-12-04T09:00:00.0000000Z",
        "lastModifiedDateTime": "2026-12-04T09:00:00.0000000Z", "hasAttachments": false,
        "categories": [], "body": {"content": "", "contentType": "text"}});
    patch(&mut task, fields);
    task
}

fn patch(task: &mut Value, fields: &Map<String, Value>) {
    for key in [
        "title",
        "body",
        "importance",
        "status",
        "dueDateTime",
        "reminderDateTime",
        "isReminderOn",
        "categories",
    ] {
        if let Some(v) = fields.get(key) {
            task[key] = v.clone();
        }
    }
    if task["status"] == "completed" && task.get("completedDateTime").is_none() {
        task["completedDateTime"] =
            json!({"dateTime": "2026-12-04T10:00:00.0000000", "timeZone": "UTC"});
    }
}

/// A page of `items` with an absolute next link on `base` + `path`.
fn collection(
    base: &str,
    path: &str,
    items: Vec<Value>,
    query: &HashMap<String, String>,
) -> Response {
    let number = |key: &str, default: usize| match query.get(key) {
        None => Some(default),
        Some(v) => v.parse::<usize>().ok(),
    };
    let (Some(top), Some(skip)) = (number("$top", 10), number("$skip", 0)) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid $top or $skip",
        );
    };
    let top = top.clamp(1, 100);
    let start = skip.min(items.len());
    let end = (start + top).min(items.len());
    let mut out = json!({"@odata.context": format!("{base}/$metadata#{path}"),
        "value": items[start..end].to_vec()});
    if end < items.len() {
        let mut link = url::Url::parse(&format!("{base}{path}")).expect("a URL");
        {
            let mut pairs = link.query_pairs_mut();
            for (k, v) in query {
                if k != "$skip" && k != "$top" {
                    pairs.append_pair(k, v);
                }
            }
            pairs.append_pair("$top", &top.to_string());
            pairs.append_pair("$skip", &end.to_string());
        }
        out["@odata.nextLink"] = json!(link.as_str());
    }
    json_response(StatusCode::OK, out)
}

/// The few `$filter` clauses the fake reads: `status eq|ne 'X'`, `importance eq 'X'`.
fn filter(clause: &str) -> Option<impl Fn(&Value) -> bool> {
    let words: Vec<&str> = clause.split_whitespace().collect();
    let [field @ ("status" | "importance"), op @ ("eq" | "ne"), value] = words.as_slice() else {
        return None;
    };
    let value = value.strip_prefix('\'')?.strip_suffix('\'')?.to_owned();
    let (field, equal) = ((*field).to_owned(), *op == "eq");
    Some(move |t: &Value| (t[&field] == value.as_str()) == equal)
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
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let base = format!("http://{host}/v1.0");
    let mut guard = state.lock().expect("fake state");
    let account = &mut *guard;
    match (method.as_str(), path.as_str()) {
        ("GET", "/common/oauth2/v2.0/authorize") => return authorize(account, &query),
        ("POST", "/common/oauth2/v2.0/token") => return token(account, &body),
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
            "InvalidAuthenticationToken",
            "Lifetime validation failed, the token is expired.",
        );
    }
    let fields = json_body
        .and_then(|b| b.as_object().cloned())
        .unwrap_or_default();
    let Some(route) = path.strip_prefix("/v1.0") else {
        return not_found();
    };
    let parts: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["me", "todo", "lists"]) => collection(&base, route, account.lists.clone(), &query),
        ("POST", ["me", "todo", "lists"]) => {
            let Some(name) = fields.get("displayName").and_then(Value::as_str) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalidRequest",
                    "Invalid request body",
                );
            };
            account.next_id += 1;
            let list = json!({"@odata.etag": "W/\"fake\"", "id": format!("AAMkADIyAAAL{:05}=", account.next_id),
                "displayName": name, "isOwner": true, "isShared": false, "wellknownListName": "none"});
            account.lists.push(list.clone());
            json_response(StatusCode::CREATED, list)
        }
        (_, ["me", "todo", "lists", list, rest @ ..]) => {
            let Some(at) = account.lists.iter().position(|l| l["id"] == *list) else {
                return not_found();
            };
            let list = (*list).to_owned();
            match (method.as_str(), rest) {
                ("GET", []) => json_response(StatusCode::OK, account.lists[at].clone()),
                ("PATCH", []) => {
                    if let Some(name) = fields.get("displayName") {
                        account.lists[at]["displayName"] = name.clone();
                    }
                    json_response(StatusCode::OK, account.lists[at].clone())
                }
                ("DELETE", []) => {
                    account.lists.remove(at);
                    account.tasks.retain(|(l, _)| *l != list);
                    StatusCode::NO_CONTENT.into_response()
                }
                ("GET", ["tasks"]) => {
                    let keep: Box<dyn Fn(&Value) -> bool> = match query.get("$filter") {
                        None => Box::new(|_| true),
                        Some(clause) => match filter(clause) {
                            Some(f) => Box::new(f),
                            None => {
                                return error(
                                    StatusCode::BAD_REQUEST,
                                    "BadRequest",
                                    "Invalid filter clause",
                                );
                            }
                        },
                    };
                    let items = account
                        .tasks
                        .iter()
                        .filter(|(l, t)| *l == list && keep(t))
                        .map(|(_, t)| t.clone())
                        .collect();
                    collection(&base, route, items, &query)
                }
                ("POST", ["tasks"]) => {
                    if fields.get("title").and_then(Value::as_str).is_none() {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "invalidRequest",
                            "Invalid request body",
                        );
                    }
                    let task = new_task(account, &fields);
                    account.tasks.push((list, task.clone()));
                    json_response(StatusCode::CREATED, task)
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
                            patch(&mut account.tasks[at].1, &fields);
                            json_response(StatusCode::OK, account.tasks[at].1.clone())
                        }
                        ("DELETE", []) => {
                            account.tasks.remove(at);
                            StatusCode::NO_CONTENT.into_response()
                        }
                        ("GET", ["checklistItems"]) => {
                            let items = account.checklist.get(*task).cloned().unwrap_or_default();
                            collection(&base, route, items, &query)
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

fn authorize(account: &mut Account, query: &HashMap<String, String>) -> Response {
    let client = query.get("client_id").cloned().unwrap_or_default();
    if !account.apps.contains_key(&client) {
        return (
            StatusCode::BAD_REQUEST,
            "AADSTS700016: application not found",
        )
            .into_response();
    }
    let (Some(redirect), Some(state)) = (query.get("redirect_uri"), query.get("state")) else {
        return (StatusCode::BAD_REQUEST, "AADSTS900144: missing parameter").into_response();
    };
    account.next_id += 1;
    let code = format!("M.C5_fake.{}", account.next_id);
    account.codes.insert(code.clone(), client);
    let location = format!("{redirect}?code={code}&state={state}");
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn token(account: &mut Account, body: &[u8]) -> Response {
    let raw = std::str::from_utf8(body)
        .ok()
        .map(|b| b.replace('+', "%20"));
    let form = crate::fake::parse_query(raw.as_deref());
    let client = form.get("client_id").cloned().unwrap_or_default();
    if account.apps.get(&client) != form.get("client_secret") {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
        );
    }
    let granted = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => form
            .get("code")
            .and_then(|c| account.codes.remove(c))
            .is_some_and(|c| c == client),
        // Rotation: a refresh token works once.
        Some("refresh_token") => match form.get("refresh_token") {
            Some(r) => {
                let before = account.refresh_tokens.len();
                account.refresh_tokens.retain(|t| t != r);
                account.refresh_tokens.len() < before
            }
            None => false,
        },
        _ => false,
    };
    if !granted {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "AADSTS70000: The provided grant is invalid."}),
        );
    }
    account.next_id += 1;
    let access = format!("EwB4A8l6fake.access.{:06}", account.next_id);
    let refresh = format!("M.C5_BAY.fake.refresh.{:06}", account.next_id);
    account.tokens.push(access.clone());
    account.refresh_tokens.push(refresh.clone());
    json_response(
        StatusCode::OK,
        json!({"token_type": "Bearer", "scope": "Tasks.ReadWrite", "expires_in": 3599,
            "ext_expires_in": 3599, "access_token": access, "refresh_token": refresh}),
    )
}
