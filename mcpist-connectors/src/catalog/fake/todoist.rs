//! A fake Todoist API v1 (`vendor/todoist/openapi.json`) and its OAuth
//! provider, holding one user's projects, sections, labels and tasks.
//!
//! It answers as the description says: lists as `{"results": [...],
//! "next_cursor": ...}` paged by `cursor` and `limit` (1–200, default 50),
//! `204` for close, reopen and delete, and errors as `{"error",
//! "error_code", "error_extra", "error_tag", "http_code"}`: `401` for an
//! unknown token, `404` for unknown ids, `400` for missing or bad
//! arguments, and `429` with `error_extra.retry_after` when told to. The
//! OAuth endpoints are Todoist's: `GET /oauth/authorize` (approves at once,
//! redirecting with `code` and `state`) and `POST /oauth/access_token`
//! (form `client_id`, `client_secret`, `code`; answers `access_token` and
//! `token_type`, no expiry and no refresh token, as Todoist does).

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

/// The date the fake takes as today (filters `today` and `overdue`).
pub const TODAY: &str = "2026-12-04";
/// The Inbox project's id.
pub const INBOX: &str = "6Jf8VQXxpwv56VQ7";
/// The "Work" project's id.
pub const WORK: &str = "6X7rM8997g3RQmvh";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The HTTP method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The query, percent-decoded.
    pub query: HashMap<String, String>,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

#[derive(Debug, Default)]
struct Account {
    tokens: Vec<String>,
    apps: HashMap<String, String>,
    codes: HashMap<String, String>,
    projects: Vec<Value>,
    sections: Vec<Value>,
    labels: Vec<Value>,
    tasks: Vec<Value>,
    seen: Vec<Seen>,
    rate_limited: usize,
    next_id: u64,
}

/// A running fake Todoist.
#[derive(Debug, Clone)]
pub struct FakeTodoist {
    addr: SocketAddr,
    state: Arc<Mutex<Account>>,
}

impl FakeTodoist {
    /// Starts the fake on `127.0.0.1:0` with a seed account.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(seed()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let addr = crate::fake::serve(app).await;
        Self { addr, state }
    }

    /// The API base URL to configure (`base_url`).
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// The OAuth authorization endpoint.
    pub fn authorize_url(&self) -> String {
        format!("http://{}/oauth/authorize", self.addr)
    }

    /// The OAuth token endpoint.
    pub fn token_url(&self) -> String {
        format!("http://{}/oauth/access_token", self.addr)
    }

    /// Accepts `token` as the user's API token.
    pub fn accept_token(&self, token: &str) {
        self.lock().tokens.push(token.to_owned());
    }

    /// Registers an OAuth app.
    pub fn register_app(&self, client_id: &str, client_secret: &str) {
        self.lock()
            .apps
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// The next `n` API requests are answered `429` with `retry_after: 30`.
    pub fn rate_limit_next(&self, n: usize) {
        self.lock().rate_limited = n;
    }

    /// Every API request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// The task `id` as stored, completed and deleted ones included.
    pub fn task(&self, id: &str) -> Option<Value> {
        self.lock().tasks.iter().find(|t| t["id"] == id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Account> {
        self.state.lock().expect("fake state")
    }
}

fn seed() -> Account {
    let project = |id: &str, name: &str, inbox: bool| {
        json!({"id": id, "name": name, "color": "charcoal", "parent_id": null, "child_order": 0,
            "is_favorite": false, "is_archived": false, "is_shared": false, "view_style": "list",
            "inbox_project": inbox})
    };
    let mut account = Account {
        projects: vec![project(INBOX, "Inbox", true), project(WORK, "Work", false)],
        sections: vec![
            json!({"id": "6Jf8VQXxpwv56VQ8", "project_id": WORK, "name": "Doing", "section_order": 1, "is_archived": false}),
            json!({"id": "6Jf8VQXxpwv56VQ9", "project_id": WORK, "name": "Done", "section_order": 2, "is_archived": false}),
        ],
        labels: vec![
            json!({"id": "2156154810", "name": "phone", "color": "red", "order": 1, "is_favorite": false}),
            json!({"id": "2156154811", "name": "errand", "color": "blue", "order": 2, "is_favorite": true}),
        ],
        next_id: 100,
        ..Default::default()
    };
    for (content, project, labels, priority, due) in [
        ("Buy milk", INBOX, vec!["errand"], 1, Some("2026-12-04")),
        ("Call the bank", INBOX, vec!["phone"], 4, Some("2026-12-01")),
        ("Write the report", WORK, vec![], 3, Some("2026-12-10")),
        ("Plan the offsite", WORK, vec![], 1, None),
    ] {
        let mut fields = Map::new();
        fields.insert("content".into(), json!(content));
        fields.insert("project_id".into(), json!(project));
        fields.insert("labels".into(), json!(labels));
        fields.insert("priority".into(), json!(priority));
        if let Some(date) = due {
            fields.insert("due_date".into(), json!(date));
        }
        let task = new_task(&mut account, &fields).expect("seed task");
        account.tasks.push(task);
    }
    account
}

/// An error answer, boxed (a `Response` is large).
type Refusal = Box<Response>;

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// An error in the description's shape.
fn error(status: StatusCode, message: &str, tag: &str, code: u32, extra: Value) -> Response {
    json_response(
        status,
        json!({"error": message, "error_code": code, "error_extra": extra, "error_tag": tag,
            "http_code": status.as_u16()}),
    )
}

fn not_found(what: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("{what} not found"),
        "NOT_FOUND",
        478,
        json!({}),
    )
}

fn bad_argument(argument: &str, message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        message,
        "INVALID_ARGUMENT_VALUE",
        20,
        json!({"argument": argument}),
    )
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A due object for `string` ("today", "tomorrow" or a date), or the error.
fn due_of(string: &str, is_date: bool) -> Option<Value> {
    let date = match string.trim().to_ascii_lowercase().as_str() {
        "today" => TODAY.to_owned(),
        "tomorrow" => "2026-12-05".to_owned(),
        s if s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-' => s.to_owned(),
        s if !is_date && s.len() > 10 && s.as_bytes()[10] == b'T' => s[..10].to_owned(),
        _ => return None,
    };
    Some(
        json!({"date": date, "string": string, "lang": "en", "is_recurring": false,
        "timezone": null}),
    )
}

/// Applies the due fields of `fields` to `task`.
fn set_due(task: &mut Value, fields: &Map<String, Value>) -> Result<(), Refusal> {
    for (key, is_date) in [
        ("due_string", false),
        ("due_date", true),
        ("due_datetime", false),
    ] {
        if let Some(value) = fields.get(key) {
            let Some(s) = value.as_str() else {
                return Err(Box::new(bad_argument(key, "Invalid argument value")));
            };
            task["due"] = due_of(s, is_date)
                .ok_or_else(|| Box::new(bad_argument(key, "Invalid date format")))?;
        }
    }
    Ok(())
}

fn new_task(account: &mut Account, fields: &Map<String, Value>) -> Result<Value, Refusal> {
    let Some(content) = fields.get("content").and_then(Value::as_str) else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "Required argument is missing",
            "ARGUMENT_MISSING",
            19,
            json!({"argument": "content"}),
        )));
    };
    let project = fields
        .get("project_id")
        .and_then(Value::as_str)
        .unwrap_or(INBOX)
        .to_owned();
    if !account.projects.iter().any(|p| p["id"] == project.as_str()) {
        return Err(Box::new(not_found("Project")));
    }
    account.next_id += 1;
    let mut task = json!({
        "id": format!("6X7rfFVPjhvv{:04}", account.next_id),
        "user_id": "2671355", "project_id": project,
        "section_id": fields.get("section_id").cloned().unwrap_or(Value::Null),
        "parent_id": fields.get("parent_id").cloned().unwrap_or(Value::Null),
        "content": content,
        "description": fields.get("description").cloned().unwrap_or(json!("")),
        "labels": fields.get("labels").cloned().unwrap_or(json!([])),
        "priority": fields.get("priority").cloned().unwrap_or(json!(1)),
        "due": null, "deadline": null, "duration": null, "checked": false, "is_deleted": false,
        "added_at": "2026-12-04T09:00:00.000000Z", "completed_at": null,
        "updated_at": "2026-12-04T09:00:00.000000Z", "child_order": account.next_id,
        "responsible_uid": null, "note_count": 0,
    });
    if !(1..=4).contains(&task["priority"].as_u64().unwrap_or(0)) {
        return Err(Box::new(bad_argument("priority", "Invalid argument value")));
    }
    set_due(&mut task, fields)?;
    Ok(task)
}

/// One page of `items` as the description's `*Page` objects.
fn page(items: Vec<Value>, query: &HashMap<String, String>) -> Response {
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(l)) if (1..=200).contains(&l) => l,
        Some(_) => return bad_argument("limit", "Invalid argument value"),
    };
    let start = match query.get("cursor") {
        None => 0,
        Some(c) => match c.strip_prefix("c.").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n <= items.len() => n,
            _ => return bad_argument("cursor", "Invalid cursor"),
        },
    };
    let end = (start + limit).min(items.len());
    let next = (end < items.len()).then(|| format!("c.{end}"));
    json_response(
        StatusCode::OK,
        json!({"results": items[start..end].to_vec(), "next_cursor": next}),
    )
}

/// Whether open `task` matches one atom of a filter query.
fn matches_atom(account: &Account, task: &Value, atom: &str) -> Option<bool> {
    let date = task.pointer("/due/date").and_then(Value::as_str);
    Some(match atom.trim() {
        "today" => date == Some(TODAY),
        "overdue" => date.is_some_and(|d| d < TODAY),
        "no date" => date.is_none(),
        p if p.len() == 2 && p.starts_with('p') => {
            let n: u64 = p[1..].parse().ok().filter(|n| (1..=4).contains(n))?;
            task["priority"] == 5 - n
        }
        a if a.starts_with('#') => account
            .projects
            .iter()
            .any(|p| p["id"] == task["project_id"] && p["name"].as_str() == Some(&a[1..])),
        a if a.starts_with('@') => task["labels"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(&a[1..]))),
        _ => return None,
    })
}

/// The open tasks matching `query` (`|` of `&` of atoms), or `None` for a query it cannot read.
fn filter(account: &Account, query: &str) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    for task in account.tasks.iter().filter(|t| t["checked"] == false) {
        let mut any = false;
        for clause in query.split('|') {
            let mut all = true;
            for atom in clause.split('&') {
                all &= matches_atom(account, task, atom)?;
            }
            any |= all;
        }
        if any {
            out.push(task.clone());
        }
    }
    Some(out)
}

/// Quick add: `#Project`, `@label`, `p1`–`p4`, `today` / `tomorrow` taken out of `text`.
fn quick_add(account: &mut Account, text: &str, note: Option<&Value>) -> Result<Value, Refusal> {
    let mut fields = Map::new();
    let mut words = Vec::new();
    let mut labels = Vec::new();
    for word in text.split_whitespace() {
        if let Some(name) = word.strip_prefix('#') {
            match account.projects.iter().find(|p| p["name"] == name) {
                Some(p) => {
                    fields.insert("project_id".into(), p["id"].clone());
                }
                None => words.push(word),
            }
        } else if let Some(label) = word.strip_prefix('@') {
            labels.push(json!(label));
        } else if let Some(n) = word
            .strip_prefix('p')
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| (1..=4).contains(n))
        {
            fields.insert("priority".into(), json!(5 - n));
        } else if matches!(word, "today" | "tomorrow") {
            fields.insert("due_string".into(), json!(word));
        } else {
            words.push(word);
        }
    }
    fields.insert("content".into(), json!(words.join(" ")));
    fields.insert("labels".into(), json!(labels));
    if let Some(note) = note {
        fields.insert("description".into(), note.clone());
    }
    new_task(account, &fields)
}

async fn handle(
    State(state): State<Arc<Mutex<Account>>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Query strings (and forms) carry spaces as `+`.
    let raw = uri.query().map(|q| q.replace('+', "%20"));
    let query = crate::fake::parse_query(raw.as_deref());
    let path = uri.path().to_owned();
    let mut account = state.lock().expect("fake state");
    if let Some(rest) = path.strip_prefix("/oauth/") {
        return oauth(&mut account, &method, rest, &query, &body);
    }
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    account.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        body: json_body.clone(),
    });
    let Some(route) = path.strip_prefix("/api/v1/") else {
        return not_found("Path");
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| account.tokens.iter().any(|k| k == t)) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Invalid token",
            "AUTH_INVALID_TOKEN",
            401,
            json!({}),
        );
    }
    if account.rate_limited > 0 {
        account.rate_limited -= 1;
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "LIMITS_REACHED",
            429,
            json!({"retry_after": 30}),
        );
    }
    if !body.is_empty() && json_body.as_ref().is_none_or(|b| !b.is_object()) {
        return error(
            StatusCode::BAD_REQUEST,
            "Invalid JSON body",
            "INVALID_JSON",
            1,
            json!({}),
        );
    }
    let fields = json_body
        .and_then(|b| b.as_object().cloned())
        .unwrap_or_default();
    let parts: Vec<&str> = route.split('/').collect();
    let account = &mut *account;
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["projects"]) => page(account.projects.clone(), &query),
        ("GET", ["projects", id]) => match account.projects.iter().find(|p| p["id"] == *id) {
            Some(p) => json_response(StatusCode::OK, p.clone()),
            None => not_found("Project"),
        },
        ("GET", ["sections"]) => {
            let sections = account
                .sections
                .iter()
                .filter(|s| {
                    query
                        .get("project_id")
                        .is_none_or(|p| s["project_id"] == p.as_str())
                })
                .cloned()
                .collect();
            page(sections, &query)
        }
        ("GET", ["labels"]) => page(account.labels.clone(), &query),
        ("GET", ["tasks"]) => {
            let tasks = account
                .tasks
                .iter()
                .filter(|t| t["checked"] == false)
                .filter(|t| {
                    ["project_id", "section_id", "parent_id"]
                        .iter()
                        .all(|k| query.get(*k).is_none_or(|v| t[*k] == v.as_str()))
                })
                .filter(|t| {
                    query.get("label").is_none_or(|l| {
                        t["labels"]
                            .as_array()
                            .is_some_and(|ls| ls.iter().any(|x| x == l.as_str()))
                    })
                })
                .cloned()
                .collect();
            page(tasks, &query)
        }
        ("GET", ["tasks", "filter"]) => {
            let Some(q) = query.get("query") else {
                return bad_argument("query", "Required argument is missing");
            };
            match filter(account, q) {
                Some(tasks) => page(tasks, &query),
                None => bad_argument("query", "Invalid filter query"),
            }
        }
        ("POST", ["tasks", "quick"]) => match fields.get("text").and_then(Value::as_str) {
            Some(text) => match quick_add(account, text, fields.get("note")) {
                Ok(task) => {
                    account.tasks.push(task.clone());
                    json_response(StatusCode::OK, task)
                }
                Err(e) => *e,
            },
            None => bad_argument("text", "Required argument is missing"),
        },
        ("POST", ["tasks"]) => match new_task(account, &fields) {
            Ok(task) => {
                account.tasks.push(task.clone());
                json_response(StatusCode::OK, task)
            }
            Err(e) => *e,
        },
        (_, ["tasks", id, ..]) => {
            let Some(at) = account.tasks.iter().position(|t| t["id"] == *id) else {
                return not_found("Task");
            };
            let task = &mut account.tasks[at];
            match (method.as_str(), &parts[2..]) {
                ("GET", []) => json_response(StatusCode::OK, task.clone()),
                ("POST", []) => {
                    for key in ["content", "description", "labels", "priority"] {
                        if let Some(v) = fields.get(key) {
                            task[key] = v.clone();
                        }
                    }
                    if let Err(e) = set_due(task, &fields) {
                        return *e;
                    }
                    json_response(StatusCode::OK, task.clone())
                }
                ("POST", ["close"]) => {
                    task["checked"] = json!(true);
                    task["completed_at"] = json!("2026-12-04T10:00:00.000000Z");
                    no_content()
                }
                ("POST", ["reopen"]) => {
                    task["checked"] = json!(false);
                    task["completed_at"] = Value::Null;
                    no_content()
                }
                ("DELETE", []) => {
                    let id = id.to_string();
                    account
                        .tasks
                        .retain(|t| t["id"] != id.as_str() && t["parent_id"] != id.as_str());
                    no_content()
                }
                _ => not_found("Path"),
            }
        }
        _ => not_found("Path"),
    }
}

/// Todoist's OAuth endpoints: authorize approves at once; the token
/// endpoint trades a code for a token it then accepts.
fn oauth(
    account: &mut Account,
    method: &Method,
    rest: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    match (method.as_str(), rest) {
        ("GET", "authorize") => {
            let client = query.get("client_id").cloned().unwrap_or_default();
            if !account.apps.contains_key(&client) {
                return (StatusCode::BAD_REQUEST, "Invalid client_id").into_response();
            }
            let (Some(redirect), Some(state)) = (query.get("redirect_uri"), query.get("state"))
            else {
                return (StatusCode::BAD_REQUEST, "Missing redirect_uri or state").into_response();
            };
            account.next_id += 1;
            let code = format!("todoist-code-{}", account.next_id);
            account.codes.insert(code.clone(), client);
            let location = format!("{redirect}?code={code}&state={state}");
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        ("POST", "access_token") => {
            let raw = std::str::from_utf8(body)
                .ok()
                .map(|b| b.replace('+', "%20"));
            let form = crate::fake::parse_query(raw.as_deref());
            let client = form.get("client_id").cloned().unwrap_or_default();
            let secret_ok = account.apps.get(&client).map(String::as_str)
                == form.get("client_secret").map(String::as_str);
            let code_ok = form
                .get("code")
                .and_then(|c| account.codes.remove(c))
                .is_some_and(|c| c == client);
            if !(secret_ok && code_ok) {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "bad_authorization_code"}),
                );
            }
            account.next_id += 1;
            let token = format!("todoist-oauth-token-{:08}", account.next_id);
            account.tokens.push(token.clone());
            json_response(
                StatusCode::OK,
                json!({"access_token": token, "token_type": "Bearer"}),
            )
        }
        _ => (StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}
