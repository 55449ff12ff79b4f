//! A fake Notion API holding a small workspace in memory.
//!
//! It answers like Notion: `{"object": "error", "status", "code", "message"}`
//! errors, `400 missing_version` without a `Notion-Version` header, `401
//! unauthorized` for unknown tokens, `404 object_not_found` for ids it does
//! not know, `400 validation_error` for ids that are not UUIDs, cursor
//! pagination with `has_more` / `next_cursor`, and `429 rate_limited` with
//! `Retry-After` when told to.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    Router,
    extract::{OriginalUri, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// The meeting-notes page.
pub const PAGE: &str = "1429989f-e8ac-4eff-bc8f-57f56486db54";
/// The tasks database.
pub const DATABASE: &str = "d9824bdc-8445-4327-be8b-5b47500af6ce";
/// A person in the workspace.
pub const USER: &str = "6794760a-1f15-45cd-9c65-0dfe42f5135a";
/// The integration's bot user.
pub const BOT: &str = "92a680bb-6970-4726-952b-4f4c03bff617";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The HTTP method.
    pub method: Method,
    /// The raw path.
    pub path: String,
    /// When it arrived.
    pub at: Instant,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

#[derive(Debug, Default)]
struct Workspace {
    tokens: Vec<String>,
    pages: BTreeMap<String, Value>,
    children: HashMap<String, Vec<Value>>,
    databases: BTreeMap<String, Value>,
    comments: HashMap<String, Vec<Value>>,
    seen: Vec<Seen>,
    rate_limited: usize,
    next_id: u64,
}

/// A running fake Notion.
#[derive(Debug, Clone)]
pub struct FakeNotion {
    addr: SocketAddr,
    state: Arc<Mutex<Workspace>>,
}

fn err(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"object": "error", "status": status.as_u16(), "code": code, "message": message})
            .to_string(),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn text(content: &str) -> Value {
    json!({"type": "text", "text": {"content": content, "link": null}, "plain_text": content,
        "href": null, "annotations": {"bold": false, "italic": false, "strikethrough": false,
        "underline": false, "code": false, "color": "default"}})
}

fn block(id: &str, kind: &str, data: Value, has_children: bool) -> Value {
    json!({"object": "block", "id": id, "type": kind, kind: data, "has_children": has_children,
        "archived": false, "created_time": "2024-01-05T10:00:00.000Z",
        "last_edited_time": "2024-01-05T10:00:00.000Z"})
}

fn is_uuid(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

impl FakeNotion {
    /// Starts a fake with the seed workspace on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(seed()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let addr = crate::fake::serve(app).await;
        Self { addr, state }
    }

    /// The base URL to configure.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Accepts `token` as the integration's token.
    pub fn accept_token(&self, token: &str) {
        self.lock().tokens.push(token.to_owned());
    }

    /// Forgets every accepted token (as revoking the integration would).
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// The next `n` requests are answered `429 rate_limited`, `Retry-After: 1`.
    pub fn rate_limit_next(&self, n: usize) {
        self.lock().rate_limited = n;
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Forgets the requests received so far, so long runs stay bounded.
    pub fn clear_requests(&self) {
        self.lock().seen = Vec::new();
    }

    /// The children of `block_id` as stored now.
    pub fn children(&self, block_id: &str) -> Vec<Value> {
        self.lock()
            .children
            .get(block_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The page `id` as stored now.
    pub fn page(&self, id: &str) -> Option<Value> {
        self.lock().pages.get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Workspace> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn page_json(id: &str, parent: Value, properties: Value) -> Value {
    json!({"object": "page", "id": id, "created_time": "2024-01-05T10:00:00.000Z",
        "last_edited_time": "2024-01-06T09:30:00.000Z", "archived": false, "in_trash": false,
        "parent": parent, "properties": properties,
        "url": format!("https://www.notion.so/{}", id.replace('-', ""))})
}

fn seed() -> Workspace {
    let mut w = Workspace::default();
    w.pages.insert(
        PAGE.into(),
        page_json(
            PAGE,
            json!({"type": "workspace", "workspace": true}),
            json!({"title": {"id": "title", "type": "title", "title": [text("Meeting notes")]}}),
        ),
    );
    let mut bold = text("decided");
    bold["annotations"]["bold"] = json!(true);
    let list_parent = "b1000000-0000-4000-8000-000000000004";
    let blocks = vec![
        block(
            "b1000000-0000-4000-8000-000000000001",
            "heading_1",
            json!({"rich_text": [text("Weekly sync")]}),
            false,
        ),
        block(
            "b1000000-0000-4000-8000-000000000002",
            "paragraph",
            json!({"rich_text": [text("We "), bold, text(" to ship.")]}),
            false,
        ),
        block(
            "b1000000-0000-4000-8000-000000000003",
            "to_do",
            json!({"rich_text": [text("Write release notes")], "checked": false}),
            false,
        ),
        block(
            list_parent,
            "bulleted_list_item",
            json!({"rich_text": [text("Risks")]}),
            true,
        ),
        block(
            "b1000000-0000-4000-8000-000000000005",
            "code",
            json!({"rich_text": [text("cargo test")], "language": "shell"}),
            false,
        ),
        block(
            "b1000000-0000-4000-8000-000000000006",
            "child_page",
            json!({"title": "Archive"}),
            true,
        ),
    ];
    w.children.insert(PAGE.into(), blocks);
    w.children.insert(
        list_parent.into(),
        vec![block(
            "b1000000-0000-4000-8000-000000000007",
            "bulleted_list_item",
            json!({"rich_text": [text("Flaky CI")]}),
            false,
        )],
    );
    w.databases.insert(DATABASE.into(), json!({
        "object": "database", "id": DATABASE, "title": [text("Tasks")],
        "url": format!("https://www.notion.so/{}", DATABASE.replace('-', "")),
        "parent": {"type": "page_id", "page_id": PAGE},
        "properties": {
            "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
            "Status": {"id": "s", "name": "Status", "type": "select", "select": {"options": [
                {"id": "1", "name": "Todo", "color": "red"}, {"id": "2", "name": "Done", "color": "green"}]}},
            "Due": {"id": "d", "name": "Due", "type": "date", "date": {}},
        }
    }));
    for (id, name, status, due) in [
        (
            "7a1c0b2e-0000-4000-8000-000000000001",
            "Fix login",
            "Todo",
            "2024-02-01",
        ),
        (
            "7a1c0b2e-0000-4000-8000-000000000002",
            "Write docs",
            "Done",
            "2024-01-20",
        ),
    ] {
        w.pages.insert(id.into(), page_json(id, json!({"type": "database_id", "database_id": DATABASE}), json!({
            "Name": {"id": "title", "type": "title", "title": [text(name)]},
            "Status": {"id": "s", "type": "select", "select": {"id": "x", "name": status, "color": "red"}},
            "Due": {"id": "d", "type": "date", "date": {"start": due, "end": null, "time_zone": null}},
        })));
    }
    w.comments.insert(
        PAGE.into(),
        vec![
            json!({"object": "comment", "id": "c0000000-0000-4000-8000-000000000001",
        "parent": {"type": "page_id", "page_id": PAGE}, "discussion_id": "d1",
        "created_time": "2024-01-06T10:00:00.000Z", "created_by": {"object": "user", "id": USER},
        "rich_text": [text("Looks good")]}),
        ],
    );
    w
}

fn users() -> Vec<Value> {
    vec![
        json!({"object": "user", "id": USER, "type": "person", "name": "Ada Lovelace",
            "avatar_url": null, "person": {"email": "ada@example.com"}}),
        json!({"object": "user", "id": BOT, "type": "bot", "name": "MCPist",
            "avatar_url": null, "bot": {"owner": {"type": "workspace", "workspace": true},
            "workspace_name": "Acme"}}),
    ]
}

/// Cursor pagination over `items`: the cursor is the index of the next item.
fn paginate(items: Vec<Value>, page_size: usize, cursor: Option<&str>) -> Value {
    let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
    let size = page_size.clamp(1, 100);
    let slice: Vec<Value> = items.iter().skip(start).take(size).cloned().collect();
    let more = start + size < items.len();
    json!({"object": "list", "results": slice, "has_more": more,
        "next_cursor": if more { json!((start + size).to_string()) } else { Value::Null },
        "type": "block", "block": {}})
}

fn not_found(id: &str) -> Response {
    err(
        StatusCode::NOT_FOUND,
        "object_not_found",
        &format!(
            "Could not find block with ID: {id}. Make sure the relevant pages and databases are shared with your integration."
        ),
    )
}

async fn handle(
    State(state): State<Arc<Mutex<Workspace>>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    let mut w = state.lock().unwrap_or_else(|e| e.into_inner());
    w.seen.push(Seen {
        method: method.clone(),
        path: uri.path().to_owned(),
        at: Instant::now(),
        body: body.clone(),
    });
    if w.rate_limited > 0 {
        w.rate_limited -= 1;
        let mut r = err(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
        );
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return r;
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| w.tokens.iter().any(|k| k == t)) {
        return err(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "API token is invalid.",
        );
    }
    if !headers.contains_key("notion-version") {
        return err(
            StatusCode::BAD_REQUEST,
            "missing_version",
            "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
        );
    }
    let segments: Vec<String> = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let query = crate::fake::parse_query(uri.query());
    let size = |q: &HashMap<String, String>| {
        q.get("page_size")
            .and_then(|s| s.parse().ok())
            .unwrap_or(100usize)
    };
    for id in segments.iter().skip(2).take(1) {
        if *id != "me" && !is_uuid(id) {
            return err(
                StatusCode::BAD_REQUEST,
                "validation_error",
                &format!(
                    "path failed validation: path.id should be a valid uuid, instead was `\"{id}\"`."
                ),
            );
        }
    }
    let body = body.unwrap_or(Value::Null);
    match (&method, segments.as_slice()) {
        (&Method::POST, ["v1", "search"]) => {
            let q = body["query"].as_str().unwrap_or("").to_lowercase();
            let kind = body.pointer("/filter/value").and_then(Value::as_str);
            let mut found: Vec<Value> = Vec::new();
            if kind != Some("database") {
                found.extend(
                    w.pages
                        .values()
                        .filter(|p| title_of(p).to_lowercase().contains(&q))
                        .cloned(),
                );
            }
            if kind != Some("page") {
                found.extend(
                    w.databases
                        .values()
                        .filter(|d| title_of(d).to_lowercase().contains(&q))
                        .cloned(),
                );
            }
            let cursor = body["start_cursor"].as_str();
            ok(paginate(
                found,
                body["page_size"].as_u64().unwrap_or(100) as usize,
                cursor,
            ))
        }
        (&Method::GET, ["v1", "pages", id]) => match w.pages.get(*id) {
            Some(p) => ok(p.clone()),
            None => not_found(id),
        },
        (&Method::PATCH, ["v1", "pages", id]) => {
            let Some(page) = w.pages.get_mut(*id) else {
                return not_found(id);
            };
            if let Some(props) = body.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    let kind = page["properties"][k]["type"]
                        .as_str()
                        .unwrap_or("rich_text")
                        .to_owned();
                    let mut value = v.clone();
                    value["type"] = json!(kind);
                    page["properties"][k] = value;
                }
            }
            if let Some(archived) = body.get("archived") {
                page["archived"] = archived.clone();
            }
            ok(page.clone())
        }
        (&Method::POST, ["v1", "pages"]) => {
            let parent = body["parent"].clone();
            let parent_id = parent
                .get("page_id")
                .or_else(|| parent.get("database_id"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let known = w.pages.contains_key(parent_id) || w.databases.contains_key(parent_id);
            if !known {
                return not_found(parent_id);
            }
            if body
                .pointer("/properties")
                .and_then(Value::as_object)
                .is_none_or(|p| p.is_empty())
            {
                return err(
                    StatusCode::BAD_REQUEST,
                    "validation_error",
                    "body failed validation: body.properties should be defined, instead was `undefined`.",
                );
            }
            let children = body
                .get("children")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if children.len() > 100 {
                return err(
                    StatusCode::BAD_REQUEST,
                    "validation_error",
                    "body failed validation: body.children.length should be ≤ `100`.",
                );
            }
            w.next_id += 1;
            let id = format!("ae000000-0000-4000-8000-{:012}", w.next_id);
            let mut properties = body["properties"].clone();
            for (_, v) in properties.as_object_mut().into_iter().flatten() {
                if v.get("title").is_some() {
                    v["type"] = json!("title");
                }
            }
            let page = page_json(&id, parent, properties);
            w.pages.insert(id.clone(), page.clone());
            let stored: Vec<Value> = children
                .iter()
                .enumerate()
                .map(|(i, b)| with_id(b, &id, i))
                .collect();
            w.children.insert(id, stored);
            ok(page)
        }
        (&Method::GET, ["v1", "blocks", id, "children"]) => {
            if !w.pages.contains_key(*id) && !w.children.contains_key(*id) && !is_block(&w, id) {
                return not_found(id);
            }
            let items = w.children.get(*id).cloned().unwrap_or_default();
            ok(paginate(
                items,
                size(&query),
                query.get("start_cursor").map(String::as_str),
            ))
        }
        (&Method::PATCH, ["v1", "blocks", id, "children"]) => {
            if !w.pages.contains_key(*id) && !is_block(&w, id) {
                return not_found(id);
            }
            let children = body
                .get("children")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if children.len() > 100 {
                return err(
                    StatusCode::BAD_REQUEST,
                    "validation_error",
                    "body failed validation: body.children.length should be ≤ `100`.",
                );
            }
            let start = w.children.get(*id).map(Vec::len).unwrap_or(0);
            let added: Vec<Value> = children
                .iter()
                .enumerate()
                .map(|(i, b)| with_id(b, id, start + i))
                .collect();
            w.children
                .entry((*id).to_owned())
                .or_default()
                .extend(added.clone());
            ok(json!({"object": "list", "results": added, "has_more": false, "next_cursor": null}))
        }
        (&Method::DELETE, ["v1", "blocks", id]) => {
            let mut found = None;
            for list in w.children.values_mut() {
                if let Some(pos) = list.iter().position(|b| b["id"] == *id) {
                    let mut b = list.remove(pos);
                    b["archived"] = json!(true);
                    found = Some(b);
                }
            }
            match found {
                Some(b) => ok(b),
                None => not_found(id),
            }
        }
        (&Method::GET, ["v1", "databases", id]) => match w.databases.get(*id) {
            Some(d) => ok(d.clone()),
            None => not_found(id),
        },
        (&Method::POST, ["v1", "databases", id, "query"]) => {
            if !w.databases.contains_key(*id) {
                return not_found(id);
            }
            let rows: Vec<Value> = w
                .pages
                .values()
                .filter(|p| p.pointer("/parent/database_id").and_then(Value::as_str) == Some(*id))
                .filter(|p| matches_filter(p, &body["filter"]))
                .cloned()
                .collect();
            ok(paginate(
                rows,
                body["page_size"].as_u64().unwrap_or(100) as usize,
                body["start_cursor"].as_str(),
            ))
        }
        (&Method::GET, ["v1", "comments"]) => {
            let block = query.get("block_id").cloned().unwrap_or_default();
            if !w.pages.contains_key(&block) {
                return not_found(&block);
            }
            let items = w.comments.get(&block).cloned().unwrap_or_default();
            ok(paginate(
                items,
                size(&query),
                query.get("start_cursor").map(String::as_str),
            ))
        }
        (&Method::POST, ["v1", "comments"]) => {
            let page = body
                .pointer("/parent/page_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if !w.pages.contains_key(&page) {
                return not_found(&page);
            }
            w.next_id += 1;
            let comment = json!({"object": "comment", "id": format!("c0000000-0000-4000-8000-{:012}", w.next_id),
                "parent": {"type": "page_id", "page_id": page}, "created_time": "2024-02-01T10:00:00.000Z",
                "created_by": {"object": "user", "id": BOT}, "rich_text": body["rich_text"]});
            w.comments.entry(page).or_default().push(comment.clone());
            ok(comment)
        }
        (&Method::GET, ["v1", "users"]) => ok(paginate(
            users(),
            size(&query),
            query.get("start_cursor").map(String::as_str),
        )),
        (&Method::GET, ["v1", "users", "me"]) => ok(users()[1].clone()),
        (&Method::GET, ["v1", "users", id]) => match users().into_iter().find(|u| u["id"] == *id) {
            Some(u) => ok(u),
            None => not_found(id),
        },
        _ => err(
            StatusCode::BAD_REQUEST,
            "invalid_request_url",
            "Invalid request URL.",
        ),
    }
}

fn title_of(object: &Value) -> String {
    let parts = object.get("title").cloned().or_else(|| {
        object["properties"]
            .as_object()?
            .values()
            .find(|v| v["type"] == "title")
            .map(|v| v["title"].clone())
    });
    parts
        .and_then(|p| p.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t.pointer("/text/content").and_then(Value::as_str))
        .collect()
}

fn is_block(w: &Workspace, id: &str) -> bool {
    w.children.values().flatten().any(|b| b["id"] == id)
}

fn with_id(block: &Value, parent: &str, index: usize) -> Value {
    let mut b = block.clone();
    let tail: String = parent
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(20)
        .collect();
    b["id"] = json!(format!("{}-0000-4000-8000-{:012}", &tail[..8], index + 100));
    b["has_children"] = json!(false);
    b["archived"] = json!(false);
    if let Some(kind) = b["type"].as_str().map(str::to_owned) {
        for part in b[&kind]["rich_text"].as_array_mut().into_iter().flatten() {
            part["plain_text"] = part["text"]["content"].clone();
        }
    }
    b
}

/// Supports `select` / `status` `equals`, `title` / `rich_text` `contains`, and `and`.
fn matches_filter(page: &Value, filter: &Value) -> bool {
    if filter.is_null() {
        return true;
    }
    if let Some(all) = filter.get("and").and_then(Value::as_array) {
        return all.iter().all(|f| matches_filter(page, f));
    }
    let property = &page["properties"][filter["property"].as_str().unwrap_or("")];
    if let Some(eq) = filter
        .pointer("/select/equals")
        .or_else(|| filter.pointer("/status/equals"))
    {
        return property.pointer("/select/name") == Some(eq)
            || property.pointer("/status/name") == Some(eq);
    }
    if let Some(needle) = filter
        .pointer("/title/contains")
        .or_else(|| filter.pointer("/rich_text/contains"))
        .and_then(Value::as_str)
    {
        let hay: String = property["title"]
            .as_array()
            .or(property["rich_text"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|t| t.pointer("/text/content").and_then(Value::as_str))
            .collect();
        return hay.contains(needle);
    }
    true
}
