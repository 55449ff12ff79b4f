//! A fake TickTick Open API (`vendor/ticktick/openapi.json`) and its OAuth
//! provider, holding one user's projects and tasks.
//!
//! It answers with the description's shapes and status codes: `200` with
//! an empty body for complete and delete, `401` for an unknown token, `404`
//! for unknown projects and tasks. TickTick documents no error body; the
//! fake sends `{"errorCode", "errorMessage"}` as its API is seen to (marked
//! *verify* in docs/services.md). OAuth: `GET /oauth/authorize` approves at
//! once; `POST /oauth/token` takes a form with the client id and secret in
//! HTTP Basic, as TickTick documents, and answers `access_token`,
//! `token_type`, `expires_in` and `scope` (no refresh token).

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
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// The "Work" project's id.
pub const WORK: &str = "6226ff9877acee87727f6bca";
/// The "Home" project's id.
pub const HOME: &str = "6226ff9877acee87727f6bcb";

/// One API request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The HTTP method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

#[derive(Debug, Default)]
struct Account {
    tokens: Vec<String>,
    apps: HashMap<String, String>,
    codes: HashMap<String, String>,
    projects: Vec<Value>,
    tasks: Vec<Value>,
    seen: Vec<Seen>,
    basic_auth_seen: usize,
    next_id: u64,
}

/// A running fake TickTick.
#[derive(Debug, Clone)]
pub struct FakeTicktick {
    addr: SocketAddr,
    state: Arc<Mutex<Account>>,
}

impl FakeTicktick {
    /// Starts the fake on `127.0.0.1:0` with a seed account.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(seed()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let addr = crate::fake::serve(app).await;
        Self { addr, state }
    }

    /// The API base URL to configure (`base_url`).
    pub fn base_url(&self) -> String {
        format!("http://{}/open/v1", self.addr)
    }

    /// The OAuth authorization endpoint.
    pub fn authorize_url(&self) -> String {
        format!("http://{}/oauth/authorize", self.addr)
    }

    /// The OAuth token endpoint.
    pub fn token_url(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }

    /// Accepts `token` as an access token.
    pub fn accept_token(&self, token: &str) {
        self.lock().tokens.push(token.to_owned());
    }

    /// Registers an OAuth app.
    pub fn register_app(&self, client_id: &str, client_secret: &str) {
        self.lock()
            .apps
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// How many token requests authenticated the client with HTTP Basic.
    pub fn basic_auth_token_requests(&self) -> usize {
        self.lock().basic_auth_seen
    }

    /// Every API request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// The task `id` as stored.
    pub fn task(&self, id: &str) -> Option<Value> {
        self.lock().tasks.iter().find(|t| t["id"] == id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Account> {
        self.state.lock().expect("fake state")
    }
}

fn seed() -> Account {
    let project = |id: &str, name: &str| {
        json!({"id": id, "name": name, "color": "#F18181", "sortOrder": 0, "closed": false,
            "groupId": null, "viewMode": "list", "permission": "write", "kind": "TASK"})
    };
    let mut account = Account {
        projects: vec![project(WORK, "Work"), project(HOME, "Home")],
        next_id: 100,
        ..Default::default()
    };
    for (title, project, priority, due) in [
        (
            "Write the report",
            WORK,
            5,
            Some("2026-12-04T09:00:00+0000"),
        ),
        ("Review the budget", WORK, 1, None),
        (
            "Water the plants",
            HOME,
            0,
            Some("2026-12-05T00:00:00+0000"),
        ),
    ] {
        let mut fields = Map::new();
        fields.insert("title".into(), json!(title));
        fields.insert("projectId".into(), json!(project));
        fields.insert("priority".into(), json!(priority));
        if let Some(due) = due {
            fields.insert("dueDate".into(), json!(due));
        }
        let task = new_task(&mut account, &fields).expect("seed task");
        account.tasks.push(task);
    }
    account
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"errorId": "fake", "errorCode": code, "errorMessage": message, "data": null}),
    )
}

fn new_task(account: &mut Account, fields: &Map<String, Value>) -> Result<Value, Box<Response>> {
    let (Some(title), Some(project)) = (
        fields.get("title").and_then(Value::as_str),
        fields.get("projectId").and_then(Value::as_str),
    ) else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "param_missing",
            "title and projectId are required",
        )));
    };
    if !account.projects.iter().any(|p| p["id"] == project) {
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "project_not_found",
            "Project not found",
        )));
    }
    account.next_id += 1;
    let mut task = json!({
        "id": format!("63b7bebb91c0a5474805{:04}", account.next_id), "projectId": project,
        "title": title, "content": "", "desc": "", "isAllDay": false, "timeZone": "UTC",
        "priority": 0, "status": 0, "sortOrder": account.next_id, "items": [], "reminders": [],
    });
    update(&mut task, fields);
    Ok(task)
}

/// Copies the writable task fields of `fields` into `task`.
fn update(task: &mut Value, fields: &Map<String, Value>) {
    for key in [
        "title",
        "content",
        "desc",
        "dueDate",
        "startDate",
        "isAllDay",
        "timeZone",
        "priority",
        "reminders",
        "repeatFlag",
        "items",
    ] {
        if let Some(v) = fields.get(key) {
            task[key] = v.clone();
        }
    }
}

async fn handle(
    State(state): State<Arc<Mutex<Account>>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let mut guard = state.lock().expect("fake state");
    let account = &mut *guard;
    if let Some(rest) = path.strip_prefix("/oauth/") {
        let raw = uri.query().map(|q| q.replace('+', "%20"));
        let query = crate::fake::parse_query(raw.as_deref());
        return oauth(account, &method, rest, &query, &headers, &body);
    }
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    account.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        body: json_body.clone(),
    });
    let Some(route) = path.strip_prefix("/open/v1/") else {
        return error(StatusCode::NOT_FOUND, "not_found", "Not found");
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| account.tokens.iter().any(|k| k == t)) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "invalid_token");
    }
    let fields = json_body
        .and_then(|b| b.as_object().cloned())
        .unwrap_or_default();
    let parts: Vec<&str> = route.split('/').collect();
    let project_at =
        |account: &Account, id: &str| account.projects.iter().position(|p| p["id"] == id);
    let no_project = || {
        error(
            StatusCode::NOT_FOUND,
            "project_not_found",
            "Project not found",
        )
    };
    let no_task = || error(StatusCode::NOT_FOUND, "task_not_found", "Task not found");
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["project"]) => json_response(StatusCode::OK, json!(account.projects)),
        ("POST", ["project"]) => match fields.get("name").and_then(Value::as_str) {
            Some(name) => {
                account.next_id += 1;
                let mut project = json!({"id": format!("6226ff9877acee87727f{:04}", account.next_id),
                    "name": name, "color": null, "sortOrder": 0, "closed": false, "groupId": null,
                    "viewMode": "list", "permission": "write", "kind": "TASK"});
                for key in ["color", "viewMode", "kind", "sortOrder"] {
                    if let Some(v) = fields.get(key) {
                        project[key] = v.clone();
                    }
                }
                account.projects.push(project.clone());
                json_response(StatusCode::OK, project)
            }
            None => error(StatusCode::BAD_REQUEST, "param_missing", "name is required"),
        },
        (_, ["project", id]) => {
            let Some(at) = project_at(account, id) else {
                return no_project();
            };
            match method.as_str() {
                "GET" => json_response(StatusCode::OK, account.projects[at].clone()),
                "POST" => {
                    for key in ["name", "color", "viewMode", "kind", "sortOrder"] {
                        if let Some(v) = fields.get(key) {
                            account.projects[at][key] = v.clone();
                        }
                    }
                    json_response(StatusCode::OK, account.projects[at].clone())
                }
                "DELETE" => {
                    account.projects.remove(at);
                    account.tasks.retain(|t| t["projectId"] != *id);
                    StatusCode::OK.into_response()
                }
                _ => error(StatusCode::NOT_FOUND, "not_found", "Not found"),
            }
        }
        ("GET", ["project", id, "data"]) => {
            let Some(at) = project_at(account, id) else {
                return no_project();
            };
            let tasks: Vec<Value> = account
                .tasks
                .iter()
                .filter(|t| t["projectId"] == *id && t["status"] == 0)
                .cloned()
                .collect();
            json_response(
                StatusCode::OK,
                json!({"project": account.projects[at], "tasks": tasks, "columns": []}),
            )
        }
        (_, ["project", project, "task", task, rest @ ..]) => {
            let Some(at) = account
                .tasks
                .iter()
                .position(|t| t["id"] == *task && t["projectId"] == *project)
            else {
                return no_task();
            };
            match (method.as_str(), rest) {
                ("GET", []) => json_response(StatusCode::OK, account.tasks[at].clone()),
                ("POST", ["complete"]) => {
                    account.tasks[at]["status"] = json!(2);
                    account.tasks[at]["completedTime"] = json!("2026-12-04T10:00:00+0000");
                    StatusCode::OK.into_response()
                }
                ("DELETE", []) => {
                    account.tasks.remove(at);
                    StatusCode::OK.into_response()
                }
                _ => error(StatusCode::NOT_FOUND, "not_found", "Not found"),
            }
        }
        ("POST", ["task"]) => match new_task(account, &fields) {
            Ok(task) => {
                account.tasks.push(task.clone());
                json_response(StatusCode::OK, task)
            }
            Err(e) => *e,
        },
        ("POST", ["task", id]) => {
            if fields.get("id").and_then(Value::as_str) != Some(id)
                || fields.get("projectId").and_then(Value::as_str).is_none()
            {
                return error(
                    StatusCode::BAD_REQUEST,
                    "param_invalid",
                    "id must match the path and projectId is required",
                );
            }
            let Some(at) = account.tasks.iter().position(|t| t["id"] == *id) else {
                return no_task();
            };
            update(&mut account.tasks[at], &fields);
            json_response(StatusCode::OK, account.tasks[at].clone())
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "Not found"),
    }
}

/// TickTick's OAuth endpoints.
fn oauth(
    account: &mut Account,
    method: &Method,
    rest: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    match (method.as_str(), rest) {
        ("GET", "authorize") => {
            let client = query.get("client_id").cloned().unwrap_or_default();
            if !account.apps.contains_key(&client)
                || query.get("response_type").map(String::as_str) != Some("code")
            {
                return (StatusCode::BAD_REQUEST, "invalid_request").into_response();
            }
            let (Some(redirect), Some(state)) = (query.get("redirect_uri"), query.get("state"))
            else {
                return (StatusCode::BAD_REQUEST, "invalid_request").into_response();
            };
            account.next_id += 1;
            let code = format!("tt{}", account.next_id);
            account.codes.insert(code.clone(), client);
            let location = format!("{redirect}?code={code}&state={state}");
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        ("POST", "token") => {
            let basic = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|b| String::from_utf8(b).ok());
            let Some((client, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
                return json_response(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "unauthorized", "error_description": "client authentication by HTTP Basic"}),
                );
            };
            account.basic_auth_seen += 1;
            let raw = std::str::from_utf8(body)
                .ok()
                .map(|b| b.replace('+', "%20"));
            let form = crate::fake::parse_query(raw.as_deref());
            let secret_ok = account.apps.get(client).map(String::as_str) == Some(secret);
            let code_ok = form.get("grant_type").map(String::as_str) == Some("authorization_code")
                && form
                    .get("code")
                    .and_then(|c| account.codes.remove(c))
                    .is_some_and(|c| c == client);
            if !(secret_ok && code_ok) {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid_grant", "error_description": "Invalid authorization code"}),
                );
            }
            account.next_id += 1;
            let token = format!("ticktick-access-{:08}", account.next_id);
            account.tokens.push(token.clone());
            json_response(
                StatusCode::OK,
                json!({"access_token": token, "token_type": "bearer", "expires_in": 15551999,
                    "scope": "tasks:read tasks:write"}),
            )
        }
        _ => (StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}
