//! A fake Asana API 1.0 (`vendor/asana/openapi.json`) and its OAuth
//! provider, holding one workspace with projects, sections, tasks, stories
//! and tags.
//!
//! It answers as the description says: every body inside `{"data": ...}`
//! (requests too: a write without `data` is a 400), compact records (`gid`,
//! `name`, `resource_type`) plus the fields `opt_fields` asks for, lists
//! paged by `limit` (1–100) and `offset` with `next_page` (single records
//! in full unless `opt_fields` is given), and errors as
//! `{"errors": [{"message", "help"}]}`: `401` for an unknown token, `404` for
//! unknown gids, `400` for missing or contradictory input, and `402` for
//! search in a workspace without a premium plan. OAuth: `GET
//! /-/oauth_authorize` approves at once; `POST /-/oauth_token` answers with
//! a one-hour access token, a refresh token and the user in `data`.

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

/// The user's gid.
pub const ME: &str = "1200000000000001";
/// The premium workspace.
pub const WORKSPACE: &str = "1200000000000010";
/// A workspace on the free plan (search answers 402).
pub const FREE_WORKSPACE: &str = "1200000000000011";
/// The "Launch" project.
pub const PROJECT: &str = "1200000000000100";

/// One API request the fake received.
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
    /// Every record by gid: workspaces, projects, sections, tasks, stories, tags.
    records: Vec<Value>,
    seen: Vec<Seen>,
    next_id: u64,
}

/// A running fake Asana.
#[derive(Debug, Clone)]
pub struct FakeAsana {
    addr: SocketAddr,
    state: Arc<Mutex<Account>>,
}

impl FakeAsana {
    /// Starts the fake on `127.0.0.1:0` with a seed workspace.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(seed()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let addr = crate::fake::serve(app).await;
        Self { addr, state }
    }

    /// The API base URL to configure (`base_url`).
    pub fn base_url(&self) -> String {
        format!("http://{}/api/1.0", self.addr)
    }

    /// The OAuth authorization endpoint.
    pub fn authorize_url(&self) -> String {
        format!("http://{}/-/oauth_authorize", self.addr)
    }

    /// The OAuth token endpoint.
    pub fn token_url(&self) -> String {
        format!("http://{}/-/oauth_token", self.addr)
    }

    /// Accepts `token` as a personal access token.
    pub fn accept_token(&self, token: &str) {
        self.lock().tokens.push(token.to_owned());
    }

    /// Registers an OAuth app.
    pub fn register_app(&self, client_id: &str, client_secret: &str) {
        self.lock()
            .apps
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// Every API request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// The record `gid` as stored, if it exists.
    pub fn record(&self, gid: &str) -> Option<Value> {
        self.lock()
            .records
            .iter()
            .find(|r| r["gid"] == gid)
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Account> {
        self.state.lock().expect("fake state")
    }
}

fn compact(record: &Value) -> Value {
    json!({"gid": record["gid"], "name": record["name"], "resource_type": record["resource_type"]})
}

fn seed() -> Account {
    let mut account = Account {
        next_id: 2000,
        ..Default::default()
    };
    let me = json!({"gid": ME, "name": "Ada Lovelace", "email": "ada@example.com",
        "resource_type": "user"});
    account.records.push(me.clone());
    for (gid, name, premium) in [
        (WORKSPACE, "Acme", true),
        (FREE_WORKSPACE, "Side project", false),
    ] {
        account.records.push(
            json!({"gid": gid, "name": name, "resource_type": "workspace",
            "is_organization": true, "email_domains": ["example.com"], "premium": premium}),
        );
    }
    account.records.push(
        json!({"gid": PROJECT, "name": "Launch", "resource_type": "project",
        "notes": "Ship it", "archived": false, "color": "light-green", "due_on": "2026-12-31",
        "start_on": null, "owner": compact(&me), "team": null,
        "workspace": {"gid": WORKSPACE, "name": "Acme", "resource_type": "workspace"},
        "permalink_url": format!("https://app.asana.com/0/{PROJECT}")}),
    );
    for (gid, name) in [("1200000000000201", "To do"), ("1200000000000202", "Done")] {
        account
            .records
            .push(json!({"gid": gid, "name": name, "resource_type": "section",
            "project": {"gid": PROJECT, "name": "Launch", "resource_type": "project"}}));
    }
    for (name, due, done, section) in [
        (
            "Write the announcement",
            Some("2026-12-10"),
            false,
            "1200000000000201",
        ),
        ("Record the demo", None, false, "1200000000000201"),
        (
            "Book the venue",
            Some("2026-11-20"),
            true,
            "1200000000000202",
        ),
    ] {
        let mut fields = Map::new();
        fields.insert("name".into(), json!(name));
        fields.insert("projects".into(), json!([PROJECT]));
        fields.insert("assignee".into(), json!("me"));
        if let Some(due) = due {
            fields.insert("due_on".into(), json!(due));
        }
        fields.insert("completed".into(), json!(done));
        let task = new_task(&mut account, &fields, None).expect("seed task");
        let gid = task["gid"].as_str().unwrap_or_default().to_owned();
        account.records.push(task);
        set_section(&mut account, &gid, section);
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

fn error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        json!({"errors": [{"message": message,
            "help": "For more information on API status codes and how to handle them, read the docs on errors: https://developers.asana.com/docs/errors"}]}),
    )
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Unknown object: the gid is not known or not visible",
    )
}

type Refusal = Box<Response>;

fn refuse(status: StatusCode, message: &str) -> Refusal {
    Box::new(error(status, message))
}

fn reference(account: &Account, gid: &str) -> Option<Value> {
    account
        .records
        .iter()
        .find(|r| r["gid"] == gid)
        .map(compact)
}

fn user_of(account: &Account, who: &Value) -> Result<Value, Refusal> {
    match who.as_str() {
        Some("me") | Some(ME) => Ok(reference(account, ME).unwrap_or_default()),
        Some(_) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "assignee: Not a recognized ID",
        )),
        None => Ok(Value::Null),
    }
}

fn new_task(
    account: &mut Account,
    fields: &Map<String, Value>,
    parent: Option<&str>,
) -> Result<Value, Refusal> {
    let Some(name) = fields.get("name").and_then(Value::as_str) else {
        return Err(refuse(StatusCode::BAD_REQUEST, "name: Missing input"));
    };
    let mut projects = Vec::new();
    for gid in fields
        .get("projects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let gid = gid.as_str().unwrap_or_default();
        match account
            .records
            .iter()
            .find(|r| r["gid"] == gid && r["resource_type"] == "project")
        {
            Some(p) => projects.push(compact(p)),
            None => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "projects: Not a recognized ID",
                ));
            }
        }
    }
    let workspace = fields.get("workspace").and_then(Value::as_str);
    if projects.is_empty() && workspace.is_none() && parent.is_none() {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "You should specify one of workspace, parent, projects",
        ));
    }
    account.next_id += 1;
    let gid = format!("12000000000{:05}", account.next_id);
    let mut task = json!({"gid": gid, "name": name, "resource_type": "task",
        "resource_subtype": "default_task", "notes": "", "completed": false,
        "completed_at": null, "due_on": null, "due_at": null, "start_on": null,
        "assignee": null, "projects": projects, "tags": [], "memberships": [],
        "parent": parent.and_then(|p| reference(account, p)),
        "workspace": {"gid": workspace.unwrap_or(WORKSPACE), "resource_type": "workspace"},
        "permalink_url": format!("https://app.asana.com/0/0/{gid}")});
    update_task(account, &mut task, fields)?;
    Ok(task)
}

fn update_task(
    account: &Account,
    task: &mut Value,
    fields: &Map<String, Value>,
) -> Result<(), Refusal> {
    for key in ["name", "notes", "due_on", "due_at", "start_on"] {
        if let Some(v) = fields.get(key) {
            task[key] = v.clone();
        }
    }
    if let Some(who) = fields.get("assignee") {
        task["assignee"] = user_of(account, who)?;
    }
    if let Some(done) = fields.get("completed") {
        let Some(done) = done.as_bool() else {
            return Err(refuse(StatusCode::BAD_REQUEST, "completed: Not a boolean"));
        };
        task["completed"] = json!(done);
        task["completed_at"] = if done {
            json!("2026-12-04T10:00:00.000Z")
        } else {
            Value::Null
        };
    }
    Ok(())
}

fn set_section(account: &mut Account, task: &str, section: &str) {
    let Some(section) = account
        .records
        .iter()
        .find(|r| r["gid"] == section)
        .cloned()
    else {
        return;
    };
    if let Some(t) = account.records.iter_mut().find(|r| r["gid"] == task) {
        t["memberships"] = json!([{"project": section["project"], "section": compact(&section)}]);
    }
}

/// `record` as Asana returns it: compact, plus the top-level fields `opt_fields` names.
fn shaped(record: &Value, query: &HashMap<String, String>) -> Value {
    let mut out = compact(record);
    for field in query
        .get("opt_fields")
        .into_iter()
        .flat_map(|f| f.split(','))
    {
        let top = field.split('.').next().unwrap_or_default();
        if let Some(v) = record.get(top) {
            out[top] = v.clone();
        }
    }
    out
}

/// A single record: in full, or compact plus `opt_fields` when asked.
fn one(record: &Value, query: &HashMap<String, String>) -> Response {
    let data = if query.contains_key("opt_fields") {
        shaped(record, query)
    } else {
        record.clone()
    };
    json_response(StatusCode::OK, json!({ "data": data }))
}

fn list(items: Vec<Value>, query: &HashMap<String, String>, path: &str) -> Response {
    let shaped: Vec<Value> = items.iter().map(|r| shaped(r, query)).collect();
    let Some(limit) = query.get("limit") else {
        return json_response(StatusCode::OK, json!({"data": shaped, "next_page": null}));
    };
    let limit = match limit.parse::<usize>() {
        Ok(l) if (1..=100).contains(&l) => l,
        _ => return error(StatusCode::BAD_REQUEST, "limit: Must be between 1 and 100"),
    };
    let start = match query.get("offset") {
        None => 0,
        Some(o) => match o
            .strip_prefix("eyJvZmZzZXQiOi")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) if n <= shaped.len() => n,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "offset: Your pagination token is invalid",
                );
            }
        },
    };
    let end = (start + limit).min(shaped.len());
    let next = (end < shaped.len()).then(|| {
        let offset = format!("eyJvZmZzZXQiOi{end}");
        json!({"offset": offset, "path": format!("{path}?limit={limit}&offset={offset}"),
            "uri": format!("https://app.asana.com/api/1.0{path}?limit={limit}&offset={offset}")})
    });
    json_response(
        StatusCode::OK,
        json!({"data": shaped[start..end].to_vec(), "next_page": next}),
    )
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
    let path = uri.path().to_owned();
    let mut guard = state.lock().expect("fake state");
    let account = &mut *guard;
    match (method.as_str(), path.as_str()) {
        ("GET", "/-/oauth_authorize") => return authorize(account, &query),
        ("POST", "/-/oauth_token") => return token(account, &body),
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
        return error(StatusCode::UNAUTHORIZED, "Not Authorized");
    }
    let Some(route) = path.strip_prefix("/api/1.0") else {
        return not_found();
    };
    let data = match (&method, json_body.as_ref().map(|b| b.get("data"))) {
        (&Method::POST | &Method::PUT, Some(Some(Value::Object(d)))) => d.clone(),
        (&Method::POST | &Method::PUT, _) => {
            return error(StatusCode::BAD_REQUEST, "data: Missing input");
        }
        _ => Map::new(),
    };
    let parts: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let find = |account: &Account, gid: &str, kind: &str| {
        account
            .records
            .iter()
            .position(|r| r["gid"] == gid && r["resource_type"] == kind)
    };
    let of_kind = |account: &Account, kind: &str| -> Vec<Value> {
        account
            .records
            .iter()
            .filter(|r| r["resource_type"] == kind)
            .cloned()
            .collect()
    };
    let created = |record: Value| json_response(StatusCode::CREATED, json!({"data": record}));
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["users", "me" | ME]) => {
            let mut me = account
                .records
                .iter()
                .find(|r| r["gid"] == ME)
                .cloned()
                .unwrap_or_default();
            me["workspaces"] = json!(
                of_kind(account, "workspace")
                    .iter()
                    .map(compact)
                    .collect::<Vec<_>>()
            );
            one(&me, &query)
        }
        ("GET", ["workspaces"]) => list(of_kind(account, "workspace"), &query, route),
        ("GET", ["workspaces", gid]) => match find(account, gid, "workspace") {
            Some(at) => one(&account.records[at], &query),
            None => not_found(),
        },
        ("GET", ["workspaces", gid, "tasks", "search"]) => {
            let Some(at) = find(account, gid, "workspace") else {
                return not_found();
            };
            if account.records[at]["premium"] != true {
                return error(
                    StatusCode::PAYMENT_REQUIRED,
                    "Search is only available to premium users.",
                );
            }
            let text = query.get("text").map(|t| t.to_lowercase());
            let tasks = of_kind(account, "task")
                .into_iter()
                .filter(|t| {
                    text.as_ref().is_none_or(|q| {
                        t["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_lowercase()
                            .contains(q)
                    })
                })
                .filter(|t| {
                    query
                        .get("completed")
                        .is_none_or(|c| t["completed"] == (c == "true"))
                })
                .collect();
            list(tasks, &query, route)
        }
        ("GET", ["projects"]) => {
            let projects = of_kind(account, "project")
                .into_iter()
                .filter(|p| {
                    query
                        .get("workspace")
                        .is_none_or(|w| p["workspace"]["gid"] == w.as_str())
                })
                .filter(|p| {
                    query
                        .get("archived")
                        .is_none_or(|a| p["archived"] == (a == "true"))
                })
                .collect();
            list(projects, &query, route)
        }
        ("POST", ["projects"]) => {
            let Some(name) = data.get("name").and_then(Value::as_str) else {
                return error(StatusCode::BAD_REQUEST, "name: Missing input");
            };
            let Some(workspace) = data.get("workspace").and_then(Value::as_str) else {
                return error(StatusCode::BAD_REQUEST, "workspace: Missing input");
            };
            account.next_id += 1;
            let mut project = json!({"gid": format!("12000000000{:05}", account.next_id),
                "name": name, "resource_type": "project", "notes": "", "archived": false,
                "color": null, "due_on": null, "start_on": null, "team": null,
                "owner": reference(account, ME),
                "workspace": {"gid": workspace, "resource_type": "workspace"}});
            for key in ["notes", "color", "due_on", "default_view"] {
                if let Some(v) = data.get(key) {
                    project[key] = v.clone();
                }
            }
            account.records.push(project.clone());
            created(project)
        }
        (_, ["projects", gid]) => {
            let Some(at) = find(account, gid, "project") else {
                return not_found();
            };
            match method.as_str() {
                "GET" => one(&account.records[at], &query),
                "PUT" => {
                    for key in ["name", "notes", "due_on", "color", "archived"] {
                        if let Some(v) = data.get(key) {
                            account.records[at][key] = v.clone();
                        }
                    }
                    one(&account.records[at], &query)
                }
                "DELETE" => {
                    account.records.remove(at);
                    json_response(StatusCode::OK, json!({"data": {}}))
                }
                _ => not_found(),
            }
        }
        (_, ["projects", gid, "sections"]) => {
            let Some(at) = find(account, gid, "project") else {
                return not_found();
            };
            let project = compact(&account.records[at]);
            match method.as_str() {
                "GET" => {
                    let sections = of_kind(account, "section")
                        .into_iter()
                        .filter(|s| s["project"]["gid"] == *gid)
                        .collect();
                    list(sections, &query, route)
                }
                "POST" => {
                    let Some(name) = data.get("name").and_then(Value::as_str) else {
                        return error(StatusCode::BAD_REQUEST, "name: Missing input");
                    };
                    account.next_id += 1;
                    let section = json!({"gid": format!("12000000000{:05}", account.next_id),
                        "name": name, "resource_type": "section", "project": project});
                    account.records.push(section.clone());
                    created(section)
                }
                _ => not_found(),
            }
        }
        ("POST", ["sections", gid, "addTask"]) => {
            if find(account, gid, "section").is_none() {
                return not_found();
            }
            let Some(task) = data.get("task").and_then(Value::as_str) else {
                return error(StatusCode::BAD_REQUEST, "task: Missing input");
            };
            if find(account, task, "task").is_none() {
                return error(StatusCode::BAD_REQUEST, "task: Not a recognized ID");
            }
            set_section(account, task, gid);
            json_response(StatusCode::OK, json!({"data": {}}))
        }
        ("GET", ["tasks"]) => {
            let by: Vec<&str> = ["project", "section", "assignee"]
                .into_iter()
                .filter(|k| query.contains_key(*k))
                .collect();
            if by.len() != 1 || (by == ["assignee"] && !query.contains_key("workspace")) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Must specify exactly one of project, tag, section, user task list, or assignee + workspace",
                );
            }
            let open_only = query.get("completed_since").is_some_and(|c| c == "now");
            let tasks = of_kind(account, "task")
                .into_iter()
                .filter(|t| t["parent"].is_null())
                .filter(|t| {
                    query.get("project").is_none_or(|p| {
                        t["projects"]
                            .as_array()
                            .is_some_and(|ps| ps.iter().any(|x| x["gid"] == p.as_str()))
                    })
                })
                .filter(|t| {
                    query.get("section").is_none_or(|s| {
                        t["memberships"]
                            .as_array()
                            .is_some_and(|ms| ms.iter().any(|m| m["section"]["gid"] == s.as_str()))
                    })
                })
                .filter(|t| {
                    query
                        .get("assignee")
                        .is_none_or(|a| (a == "me" || a == ME) && t["assignee"]["gid"] == ME)
                })
                .filter(|t| !open_only || t["completed"] == false)
                .collect();
            list(tasks, &query, route)
        }
        ("POST", ["tasks"]) => match new_task(account, &data, None) {
            Ok(task) => {
                account.records.push(task.clone());
                created(task)
            }
            Err(e) => *e,
        },
        (_, ["tasks", gid, rest @ ..]) => {
            let Some(at) = find(account, gid, "task") else {
                return not_found();
            };
            let gid = (*gid).to_owned();
            match (method.as_str(), rest) {
                ("GET", []) => one(&account.records[at], &query),
                ("PUT", []) => {
                    let mut task = account.records[at].clone();
                    if let Err(e) = update_task(account, &mut task, &data) {
                        return *e;
                    }
                    account.records[at] = task;
                    one(&account.records[at], &query)
                }
                ("DELETE", []) => {
                    account.records.remove(at);
                    json_response(StatusCode::OK, json!({"data": {}}))
                }
                ("GET", ["subtasks"]) => {
                    let subtasks = of_kind(account, "task")
                        .into_iter()
                        .filter(|t| t["parent"]["gid"] == gid.as_str())
                        .collect();
                    list(subtasks, &query, route)
                }
                ("POST", ["subtasks"]) => match new_task(account, &data, Some(&gid)) {
                    Ok(task) => {
                        account.records.push(task.clone());
                        created(task)
                    }
                    Err(e) => *e,
                },
                ("GET", ["stories"]) => {
                    let stories = of_kind(account, "story")
                        .into_iter()
                        .filter(|s| s["target"]["gid"] == gid.as_str())
                        .collect();
                    list(stories, &query, route)
                }
                ("POST", ["stories"]) => {
                    let Some(text) = data.get("text").and_then(Value::as_str) else {
                        return error(StatusCode::BAD_REQUEST, "text: Missing input");
                    };
                    account.next_id += 1;
                    let story = json!({"gid": format!("12000000000{:05}", account.next_id),
                        "resource_type": "story", "resource_subtype": "comment_added",
                        "type": "comment", "text": text, "created_at": "2026-12-04T09:30:00.000Z",
                        "created_by": reference(account, ME), "target": compact(&account.records[at])});
                    account.records.push(story.clone());
                    created(story)
                }
                ("POST", ["addTag"]) => {
                    let Some(tag) = data.get("tag").and_then(Value::as_str) else {
                        return error(StatusCode::BAD_REQUEST, "tag: Missing input");
                    };
                    let Some(tag) = find(account, tag, "tag").map(|t| compact(&account.records[t]))
                    else {
                        return error(StatusCode::BAD_REQUEST, "tag: Not a recognized ID");
                    };
                    if let Some(tags) = account.records[at]["tags"].as_array_mut() {
                        tags.push(tag);
                    }
                    json_response(StatusCode::OK, json!({"data": {}}))
                }
                _ => not_found(),
            }
        }
        ("GET", ["tags"]) => {
            let tags = of_kind(account, "tag")
                .into_iter()
                .filter(|t| {
                    query
                        .get("workspace")
                        .is_none_or(|w| t["workspace"]["gid"] == w.as_str())
                })
                .collect();
            list(tags, &query, route)
        }
        ("POST", ["tags"]) => {
            let (Some(name), Some(workspace)) = (
                data.get("name").and_then(Value::as_str),
                data.get("workspace").and_then(Value::as_str),
            ) else {
                return error(StatusCode::BAD_REQUEST, "name, workspace: Missing input");
            };
            account.next_id += 1;
            let tag = json!({"gid": format!("12000000000{:05}", account.next_id), "name": name,
                "resource_type": "tag", "color": data.get("color").cloned().unwrap_or(Value::Null),
                "notes": data.get("notes").cloned().unwrap_or(json!("")),
                "workspace": {"gid": workspace, "resource_type": "workspace"}});
            account.records.push(tag.clone());
            created(tag)
        }
        _ => not_found(),
    }
}

fn authorize(account: &mut Account, query: &HashMap<String, String>) -> Response {
    let client = query.get("client_id").cloned().unwrap_or_default();
    if !account.apps.contains_key(&client)
        || query.get("response_type").map(String::as_str) != Some("code")
    {
        return (StatusCode::BAD_REQUEST, "invalid_request").into_response();
    }
    let (Some(redirect), Some(state)) = (query.get("redirect_uri"), query.get("state")) else {
        return (StatusCode::BAD_REQUEST, "invalid_request").into_response();
    };
    account.next_id += 1;
    let code = format!("asana-code-{}", account.next_id);
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
    let code_ok = account.apps.get(&client) == form.get("client_secret")
        && form.get("grant_type").map(String::as_str) == Some("authorization_code")
        && form
            .get("code")
            .and_then(|c| account.codes.remove(c))
            .is_some_and(|c| c == client);
    if !code_ok {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "The authorization code is invalid."}),
        );
    }
    account.next_id += 1;
    let access = format!("2/asana-access-{:06}", account.next_id);
    account.tokens.push(access.clone());
    json_response(
        StatusCode::OK,
        json!({"access_token": access, "token_type": "bearer", "expires_in": 3600,
            "refresh_token": format!("2/asana-refresh-{:06}", account.next_id),
            "data": {"id": ME, "gid": ME, "name": "Ada Lovelace", "email": "ada@example.com"}}),
    )
}
