//! A fake Airtable Web API v0 (`vendor/airtable/openapi.json`) and its OAuth
//! provider, holding one base with two tables.
//!
//! It answers with the description's shapes: `ListBases` and `ListRecords`
//! paged by `offset`, `BaseSchema` with tables, fields and views,
//! `RecordsResult`, `Deleted`; tables are found by id or by name; `fields[]`
//! and `records[]` are repeated query parameters; at most 10 records per
//! write (`422 INVALID_RECORDS` beyond). Errors are Airtable's: `401
//! AUTHENTICATION_REQUIRED`, `404 {"error": "NOT_FOUND"}` (a string, for an
//! unknown base or table) or `404 MODEL_ID_NOT_FOUND` (a record), `422
//! INVALID_FILTER_BY_FORMULA` for a formula it cannot read (it reads
//! `{Field} = 'value'`). OAuth: `GET /oauth2/v1/authorize` refuses a request
//! without an S256 `code_challenge` (Airtable requires PKCE); `POST
//! /oauth2/v1/token` takes the client by HTTP Basic and checks the
//! `code_verifier` against the challenge.

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

/// The base's id.
pub const BASE: &str = "appFakeBase000001";
/// The "Tasks" table's id.
pub const TASKS: &str = "tblTasks000000001";

/// One API request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The HTTP method.
    pub method: Method,
    /// The path, percent-decoded.
    pub path: String,
    /// The raw query string.
    pub raw_query: String,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

#[derive(Debug, Default)]
struct Account {
    tokens: Vec<String>,
    apps: HashMap<String, String>,
    /// code → (client, challenge)
    codes: HashMap<String, (String, String)>,
    tables: Vec<Value>,
    /// (table id, record)
    records: Vec<(String, Value)>,
    seen: Vec<Seen>,
    next_id: u64,
}

/// A running fake Airtable.
#[derive(Debug, Clone)]
pub struct FakeAirtable {
    addr: SocketAddr,
    state: Arc<Mutex<Account>>,
}

impl FakeAirtable {
    /// Starts the fake on `127.0.0.1:0` with a seed base.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(seed()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let addr = crate::fake::serve(app).await;
        Self { addr, state }
    }

    /// The API base URL to configure (`base_url`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v0", self.addr)
    }

    /// The OAuth authorization endpoint.
    pub fn authorize_url(&self) -> String {
        format!("http://{}/oauth2/v1/authorize", self.addr)
    }

    /// The OAuth token endpoint.
    pub fn token_url(&self) -> String {
        format!("http://{}/oauth2/v1/token", self.addr)
    }

    /// Accepts `token` as a personal access token.
    pub fn accept_token(&self, token: &str) {
        self.lock().tokens.push(token.to_owned());
    }

    /// Registers an OAuth integration.
    pub fn register_app(&self, client_id: &str, client_secret: &str) {
        self.lock()
            .apps
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// Every API request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// The record `id` as stored, if it exists.
    pub fn record(&self, id: &str) -> Option<Value> {
        self.lock()
            .records
            .iter()
            .find(|(_, r)| r["id"] == id)
            .map(|(_, r)| r.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Account> {
        self.state.lock().expect("fake state")
    }
}

fn seed() -> Account {
    let field = |id: &str, name: &str, kind: &str| json!({"id": id, "name": name, "type": kind});
    let mut account = Account {
        tables: vec![
            json!({"id": TASKS, "name": "Tasks", "description": "What we do",
                "primaryFieldId": "fldName0000000001",
                "fields": [field("fldName0000000001", "Name", "singleLineText"),
                           field("fldStatus00000001", "Status", "singleSelect"),
                           field("fldDue00000000001", "Due", "date")],
                "views": [{"id": "viwGrid000000001", "name": "Grid view", "type": "grid"},
                          {"id": "viwBoard00000001", "name": "Board", "type": "kanban"}]}),
            json!({"id": "tblPeople00000001", "name": "People", "description": "",
                "primaryFieldId": "fldPerson0000001",
                "fields": [field("fldPerson0000001", "Name", "singleLineText")],
                "views": [{"id": "viwGrid000000002", "name": "Grid view", "type": "grid"}]}),
        ],
        next_id: 100,
        ..Default::default()
    };
    for (name, status) in [("Plan", "Done"), ("Build", "Doing"), ("Ship", "Todo")] {
        account.next_id += 1;
        account.records.push((
            TASKS.to_owned(),
            json!({"id": format!("rec{:014}", account.next_id), "createdTime": "2026-12-01T08:00:00.000Z",
                "fields": {"Name": name, "Status": status}}),
        ));
    }
    account
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    json_response(status, json!({"error": {"type": kind, "message": message}}))
}

/// Airtable's bare 404 for a base or table it does not know.
fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, json!({"error": "NOT_FOUND"}))
}

/// The query pairs in order, repeated names kept.
fn pairs(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

/// `{Field} = 'value'`, the one formula shape the fake reads.
fn formula(text: &str) -> Option<(String, String)> {
    let (field, value) = text.split_once('=')?;
    let field = field.trim().strip_prefix('{')?.strip_suffix('}')?;
    let value = value.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some((field.to_owned(), value.to_owned()))
}

/// One page of `records` as `ListRecords`.
fn records_page(
    records: Vec<Value>,
    fields: &[String],
    page_size: Option<usize>,
    offset: Option<&str>,
) -> Response {
    let size = page_size.unwrap_or(100).min(100);
    let start = match offset {
        None => 0,
        Some(o) => match o.strip_prefix("itr").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n <= records.len() => n,
            _ => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                    "Invalid offset",
                );
            }
        },
    };
    let end = (start + size).min(records.len());
    let shown: Vec<Value> = records[start..end]
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if !fields.is_empty() {
                let kept: Map<String, Value> = r["fields"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| fields.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                r["fields"] = Value::Object(kept);
            }
            r
        })
        .collect();
    let mut out = json!({"records": shown});
    if end < records.len() {
        out["offset"] = json!(format!("itr{end}"));
    }
    json_response(StatusCode::OK, out)
}

async fn handle(
    State(state): State<Arc<Mutex<Account>>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_query = uri.query().unwrap_or_default().to_owned();
    let query = pairs(&raw_query);
    let first = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let all = |name: &str| -> Vec<String> {
        query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let path = percent_encoding::percent_decode_str(uri.path())
        .decode_utf8_lossy()
        .into_owned();
    let mut guard = state.lock().expect("fake state");
    let account = &mut *guard;
    match (method.as_str(), path.as_str()) {
        ("GET", "/oauth2/v1/authorize") => return authorize(account, &query),
        ("POST", "/oauth2/v1/token") => return token(account, &headers, &body),
        _ => {}
    }
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
        return error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_REQUIRED",
            "Authentication required",
        );
    }
    let fields = json_body
        .and_then(|b| b.as_object().cloned())
        .unwrap_or_default();
    let Some(route) = path.strip_prefix("/v0/") else {
        return not_found();
    };
    let parts: Vec<&str> = route.split('/').collect();
    let table_of = |account: &Account, base: &str, table: &str| -> Option<String> {
        if base != BASE {
            return None;
        }
        account
            .tables
            .iter()
            .find(|t| t["id"] == table || t["name"] == table)
            .and_then(|t| t["id"].as_str().map(str::to_owned))
    };
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["meta", "whoami"]) => json_response(
            StatusCode::OK,
            json!({"id": "usrFakeUser00001", "email": "ada@example.com",
                "scopes": ["data.records:read", "data.records:write", "schema.bases:read", "schema.bases:write"]}),
        ),
        ("GET", ["meta", "bases"]) => json_response(
            StatusCode::OK,
            json!({"bases": [{"id": BASE, "name": "Launch plan", "permissionLevel": "create"}]}),
        ),
        ("GET", ["meta", "bases", base, "tables"]) if *base == BASE => {
            json_response(StatusCode::OK, json!({"tables": account.tables}))
        }
        ("POST", ["meta", "bases", base, "tables"]) if *base == BASE => {
            let (Some(name), Some(list)) = (
                fields.get("name").and_then(Value::as_str),
                fields.get("fields").and_then(Value::as_array),
            ) else {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "INVALID_REQUEST_MISSING_FIELDS",
                    "name and fields are required",
                );
            };
            if list.is_empty() || account.tables.iter().any(|t| t["name"] == name) {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "DUPLICATE_TABLE_NAME",
                    "A table with that name exists or it has no fields",
                );
            }
            account.next_id += 1;
            let id = format!("tbl{:014}", account.next_id);
            let made: Vec<Value> = list
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let mut f = f.clone();
                    f["id"] = json!(format!("fld{:010}{i:04}", account.next_id));
                    f
                })
                .collect();
            let table = json!({"id": id, "name": name,
                "description": fields.get("description").cloned().unwrap_or(json!("")),
                "primaryFieldId": made[0]["id"], "fields": made,
                "views": [{"id": format!("viw{:014}", account.next_id), "name": "Grid view", "type": "grid"}]});
            account.tables.push(table.clone());
            json_response(StatusCode::OK, table)
        }
        ("PATCH", ["meta", "bases", base, "tables", table]) => {
            let Some(id) = table_of(account, base, table) else {
                return not_found();
            };
            let Some(t) = account.tables.iter_mut().find(|t| t["id"] == id.as_str()) else {
                return not_found();
            };
            for key in ["name", "description"] {
                if let Some(v) = fields.get(key) {
                    t[key] = v.clone();
                }
            }
            json_response(StatusCode::OK, t.clone())
        }
        (_, [base, table, rest @ ..]) if *base != "meta" => {
            let Some(table) = table_of(account, base, table) else {
                return not_found();
            };
            let in_table = |account: &Account| -> Vec<Value> {
                account
                    .records
                    .iter()
                    .filter(|(t, _)| *t == table)
                    .map(|(_, r)| r.clone())
                    .collect()
            };
            // `None`: a formula the fake cannot read.
            let filtered = |records: Vec<Value>, by: Option<&str>| -> Option<Vec<Value>> {
                match by {
                    None => Some(records),
                    Some(text) => formula(text).map(|(field, value)| {
                        records
                            .into_iter()
                            .filter(|r| r["fields"][&field] == value.as_str())
                            .collect()
                    }),
                }
            };
            let bad_formula = || {
                error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "INVALID_FILTER_BY_FORMULA",
                    "The formula for filtering records is invalid",
                )
            };
            let too_many = || {
                error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "INVALID_RECORDS",
                    "You can only modify up to 10 records per request",
                )
            };
            match (method.as_str(), rest) {
                ("GET", []) => {
                    let records =
                        match filtered(in_table(account), first("filterByFormula").as_deref()) {
                            Some(r) => r,
                            None => return bad_formula(),
                        };
                    let page_size = first("pageSize").and_then(|p| p.parse().ok());
                    records_page(
                        records,
                        &all("fields[]"),
                        page_size,
                        first("offset").as_deref(),
                    )
                }
                ("POST", ["listRecords"]) => {
                    let mut records = match filtered(
                        in_table(account),
                        fields.get("filterByFormula").and_then(Value::as_str),
                    ) {
                        Some(r) => r,
                        None => return bad_formula(),
                    };
                    if let Some(sort) = fields
                        .get("sort")
                        .and_then(Value::as_array)
                        .and_then(|s| s.first())
                    {
                        let field = sort["field"].as_str().unwrap_or_default().to_owned();
                        records.sort_by_key(|r| {
                            r["fields"][&field].as_str().unwrap_or_default().to_owned()
                        });
                        if sort["direction"] == "desc" {
                            records.reverse();
                        }
                    }
                    let names: Vec<String> = fields
                        .get("fields")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                    let page_size = fields
                        .get("pageSize")
                        .and_then(Value::as_u64)
                        .map(|p| p as usize);
                    records_page(
                        records,
                        &names,
                        page_size,
                        fields.get("offset").and_then(Value::as_str),
                    )
                }
                ("GET", [record]) => match account
                    .records
                    .iter()
                    .find(|(t, r)| *t == table && r["id"] == *record)
                {
                    Some((_, r)) => json_response(StatusCode::OK, r.clone()),
                    None => error(
                        StatusCode::NOT_FOUND,
                        "MODEL_ID_NOT_FOUND",
                        "Could not find a record with that id",
                    ),
                },
                ("POST", []) => {
                    let Some(list) = fields.get("records").and_then(Value::as_array) else {
                        return error(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "INVALID_REQUEST_MISSING_FIELDS",
                            "records is required",
                        );
                    };
                    if list.len() > 10 {
                        return too_many();
                    }
                    let mut made = Vec::new();
                    for r in list {
                        account.next_id += 1;
                        let record = json!({"id": format!("rec{:014}", account.next_id),
                            "createdTime": "2026-12-04T09:00:00.000Z", "fields": r["fields"]});
                        account.records.push((table.clone(), record.clone()));
                        made.push(record);
                    }
                    json_response(StatusCode::OK, json!({"records": made}))
                }
                ("PATCH", []) => {
                    let Some(list) = fields.get("records").and_then(Value::as_array) else {
                        return error(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "INVALID_REQUEST_MISSING_FIELDS",
                            "records is required",
                        );
                    };
                    if list.len() > 10 {
                        return too_many();
                    }
                    let merge_on: Vec<String> = fields
                        .get("performUpsert")
                        .and_then(|u| u.get("fieldsToMergeOn"))
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                    let (mut out, mut created, mut updated) = (Vec::new(), Vec::new(), Vec::new());
                    for r in list {
                        let position = account.records.iter().position(|(t, rec)| {
                            *t == table
                                && if merge_on.is_empty() {
                                    rec["id"] == r["id"]
                                } else {
                                    merge_on.iter().all(|f| rec["fields"][f] == r["fields"][f])
                                }
                        });
                        match position {
                            Some(at) => {
                                let rec = &mut account.records[at].1;
                                for (k, v) in r["fields"].as_object().into_iter().flatten() {
                                    rec["fields"][k] = v.clone();
                                }
                                updated.push(rec["id"].clone());
                                out.push(rec.clone());
                            }
                            None if !merge_on.is_empty() => {
                                account.next_id += 1;
                                let record = json!({"id": format!("rec{:014}", account.next_id),
                                    "createdTime": "2026-12-04T09:00:00.000Z", "fields": r["fields"]});
                                account.records.push((table.clone(), record.clone()));
                                created.push(record["id"].clone());
                                out.push(record);
                            }
                            None => {
                                return error(
                                    StatusCode::NOT_FOUND,
                                    "MODEL_ID_NOT_FOUND",
                                    "Could not find a record with that id",
                                );
                            }
                        }
                    }
                    let mut answer = json!({"records": out});
                    if !merge_on.is_empty() {
                        answer["createdRecords"] = json!(created);
                        answer["updatedRecords"] = json!(updated);
                    }
                    json_response(StatusCode::OK, answer)
                }
                ("DELETE", []) => {
                    let ids = all("records[]");
                    if ids.is_empty() || ids.len() > 10 {
                        return too_many();
                    }
                    let mut deleted = Vec::new();
                    for id in ids {
                        let Some(at) = account
                            .records
                            .iter()
                            .position(|(t, r)| *t == table && r["id"] == id.as_str())
                        else {
                            return error(
                                StatusCode::NOT_FOUND,
                                "MODEL_ID_NOT_FOUND",
                                "Could not find a record with that id",
                            );
                        };
                        account.records.remove(at);
                        deleted.push(json!({"id": id, "deleted": true}));
                    }
                    json_response(StatusCode::OK, json!({"records": deleted}))
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn authorize(account: &mut Account, query: &[(String, String)]) -> Response {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let client = get("client_id").unwrap_or_default();
    if !account.apps.contains_key(&client) {
        return (StatusCode::BAD_REQUEST, "invalid_client").into_response();
    }
    let (Some(redirect), Some(state), Some(challenge)) =
        (get("redirect_uri"), get("state"), get("code_challenge"))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "invalid_request: code_challenge is required",
        )
            .into_response();
    };
    if get("code_challenge_method").as_deref() != Some("S256") {
        return (
            StatusCode::BAD_REQUEST,
            "invalid_request: code_challenge_method must be S256",
        )
            .into_response();
    }
    account.next_id += 1;
    let code = format!("airtable-code-{}", account.next_id);
    account.codes.insert(code.clone(), (client, challenge));
    let location = format!("{redirect}?code={code}&state={state}");
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn token(account: &mut Account, headers: &HeaderMap, body: &[u8]) -> Response {
    use sha2::Digest as _;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some((client, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
        return json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
    };
    let form: HashMap<String, String> = pairs(std::str::from_utf8(body).unwrap_or_default())
        .into_iter()
        .collect();
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let granted = account.apps.get(client).map(String::as_str) == Some(secret)
        && form.get("grant_type").map(String::as_str) == Some("authorization_code")
        && form
            .get("code")
            .and_then(|c| account.codes.remove(c))
            .is_some_and(|(c, ch)| c == client && ch == challenge);
    if !granted {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "code or code_verifier is invalid"}),
        );
    }
    account.next_id += 1;
    let access = format!("airtable-access-{:06}", account.next_id);
    account.tokens.push(access.clone());
    json_response(
        StatusCode::OK,
        json!({"access_token": access, "refresh_token": format!("airtable-refresh-{:06}", account.next_id),
            "token_type": "Bearer", "scope": "data.records:read data.records:write schema.bases:read schema.bases:write",
            "expires_in": 3600, "refresh_expires_in": 5184000}),
    )
}
