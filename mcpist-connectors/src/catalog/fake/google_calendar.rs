//! A fake Google Calendar API v3 (`vendor/google_calendar/discovery.json`),
//! holding one user's calendars and events, with the shared Google OAuth
//! fake ([`super::google_oauth`]).
//!
//! It answers with the discovery document's shapes: `CalendarList` and
//! `Events` (`items`, `nextPageToken`), `Event` with `start`/`end` as
//! `EventDateTime` (`dateTime` or `date`), `FreeBusyResponse` (`calendars`
//! keyed by id, `busy` intervals, `errors` for unknown calendars), `204`
//! for delete, and Google's error object: `401` for an unknown token, `404`
//! for unknown calendars and events, `400` for `orderBy=startTime` without
//! `singleEvents=true` (as Google refuses it) and for events whose end is
//! not after their start. Recurring events are stored as a master with
//! `recurrence` and its instances (`recurringEventId`); `singleEvents=true`
//! lists the instances instead of the master.

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

/// The user's primary calendar id.
pub const PRIMARY: &str = "ada@example.com";
/// The recurring stand-up's id.
pub const STANDUP: &str = "standup2026";
const SCOPE: &str = "https://www.googleapis.com/auth/calendar";

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
    oauth: GoogleOAuth,
    calendars: Vec<Value>,
    /// (calendar id, event)
    events: Vec<(String, Value)>,
    seen: Vec<Seen>,
    next_id: u64,
}

/// A running fake Google Calendar.
#[derive(Debug, Clone)]
pub struct FakeGoogleCalendar {
    addr: SocketAddr,
    state: Arc<Mutex<Account>>,
}

impl FakeGoogleCalendar {
    /// Starts the fake on `127.0.0.1:0` with a seed account.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(seed()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let addr = crate::fake::serve(app).await;
        Self { addr, state }
    }

    /// The API base URL to configure (`base_url`).
    pub fn base_url(&self) -> String {
        format!("http://{}/calendar/v3", self.addr)
    }

    /// The OAuth authorization endpoint.
    pub fn authorize_url(&self) -> String {
        format!("http://{}{AUTHORIZE_PATH}", self.addr)
    }

    /// The OAuth token endpoint.
    pub fn token_url(&self) -> String {
        format!("http://{}{TOKEN_PATH}", self.addr)
    }

    /// Accepts `token` as an access token.
    pub fn accept_token(&self, token: &str) {
        self.lock().tokens.push(token.to_owned());
    }

    /// Registers an OAuth client.
    pub fn register_app(&self, client_id: &str, client_secret: &str) {
        self.lock().oauth.register_app(client_id, client_secret);
    }

    /// Every API request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// The event `id` as stored, if it exists.
    pub fn event(&self, id: &str) -> Option<Value> {
        self.lock()
            .events
            .iter()
            .find(|(_, e)| e["id"] == id)
            .map(|(_, e)| e.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Account> {
        self.state.lock().expect("fake state")
    }
}

fn at(time: &str) -> Value {
    json!({"dateTime": time, "timeZone": "UTC"})
}

fn seed() -> Account {
    let calendar = |id: &str, summary: &str, primary: bool, role: &str| {
        json!({"kind": "calendar#calendarListEntry", "etag": "\"fake\"", "id": id,
            "summary": summary, "description": "", "timeZone": "Europe/London",
            "accessRole": role, "primary": primary})
    };
    let mut account = Account {
        calendars: vec![
            calendar(PRIMARY, "Ada Lovelace", true, "owner"),
            calendar(
                "en.uk#holiday@group.v.calendar.google.com",
                "Holidays in the UK",
                false,
                "reader",
            ),
        ],
        next_id: 100,
        ..Default::default()
    };
    for (summary, start, end) in [
        (
            "Design review",
            "2026-12-04T10:00:00Z",
            "2026-12-04T11:00:00Z",
        ),
        (
            "Lunch with Bo",
            "2026-12-04T12:30:00Z",
            "2026-12-04T13:30:00Z",
        ),
        (
            "Board meeting",
            "2026-12-08T15:00:00Z",
            "2026-12-08T17:00:00Z",
        ),
    ] {
        let mut fields = Map::new();
        fields.insert("summary".into(), json!(summary));
        fields.insert("start".into(), at(start));
        fields.insert("end".into(), at(end));
        let event = new_event(&mut account, &fields);
        account.events.push((PRIMARY.to_owned(), event));
    }
    let mut master = new_event(&mut account, &Map::new());
    master["id"] = json!(STANDUP);
    master["summary"] = json!("Stand-up");
    master["start"] = at("2026-12-01T09:00:00Z");
    master["end"] = at("2026-12-01T09:15:00Z");
    master["recurrence"] = json!(["RRULE:FREQ=WEEKLY;COUNT=3"]);
    account.events.push((PRIMARY.to_owned(), master.clone()));
    for day in ["01", "08", "15"] {
        let mut instance = master.clone();
        instance["id"] = json!(format!("{STANDUP}_202612{day}T090000Z"));
        instance["recurringEventId"] = json!(STANDUP);
        instance["start"] = at(&format!("2026-12-{day}T09:00:00Z"));
        instance["end"] = at(&format!("2026-12-{day}T09:15:00Z"));
        instance.as_object_mut().map(|e| e.remove("recurrence"));
        account.events.push((PRIMARY.to_owned(), instance));
    }
    account.events.push((
        "en.uk#holiday@group.v.calendar.google.com".to_owned(),
        json!({"kind": "calendar#event", "id": "xmas2026", "status": "confirmed",
            "summary": "Christmas Day", "start": {"date": "2026-12-25"}, "end": {"date": "2026-12-26"}}),
    ));
    account
}

fn new_event(account: &mut Account, fields: &Map<String, Value>) -> Value {
    account.next_id += 1;
    let id = format!("ev{:06}", account.next_id);
    let mut event = json!({"kind": "calendar#event", "etag": "\"fake\"", "id": id,
        "status": "confirmed", "htmlLink": format!("https://www.google.com/calendar/event?eid={id}"),
        "created": "2026-12-01T08:00:00.000Z", "updated": "2026-12-01T08:00:00.000Z",
        "creator": {"email": PRIMARY, "self": true}, "organizer": {"email": PRIMARY, "self": true},
        "iCalUID": format!("{id}@google.com"), "sequence": 0});
    patch(&mut event, fields);
    event
}

fn patch(event: &mut Value, fields: &Map<String, Value>) {
    for key in [
        "summary",
        "description",
        "location",
        "start",
        "end",
        "attendees",
        "recurrence",
    ] {
        if let Some(v) = fields.get(key) {
            event[key] = v.clone();
        }
    }
}

/// When an `EventDateTime` starts, as comparable text (`date` or `dateTime`).
fn when(time: &Value) -> String {
    time["dateTime"]
        .as_str()
        .or_else(|| time["date"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, reason: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"error": {"code": status.as_u16(), "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}]}}),
    )
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "notFound", "Not Found")
}

fn page(
    kind: &str,
    items: Vec<Value>,
    query: &HashMap<String, String>,
    default: usize,
) -> Response {
    let size = match query.get("maxResults").map(|m| m.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "Invalid value for maxResults",
            );
        }
    };
    let start = match query.get("pageToken") {
        None => 0,
        Some(t) => match t.strip_prefix("pt").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n <= items.len() => n,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    "Invalid page token value",
                );
            }
        },
    };
    let end = (start + size).min(items.len());
    let mut out = json!({"kind": kind, "etag": "\"fake\"", "items": items[start..end].to_vec()});
    if end < items.len() {
        out["nextPageToken"] = json!(format!("pt{end}"));
    }
    json_response(StatusCode::OK, out)
}

/// Events of `calendar` in the window and matching `q`.
fn window(account: &Account, calendar: &str, query: &HashMap<String, String>) -> Vec<Value> {
    let q = query.get("q").map(|q| q.to_lowercase());
    let single = query.get("singleEvents").is_some_and(|s| s == "true");
    let mut events: Vec<Value> = account
        .events
        .iter()
        .filter(|(c, _)| c == calendar)
        .map(|(_, e)| e.clone())
        .filter(|e| {
            if single {
                e.get("recurrence").is_none()
            } else {
                e.get("recurringEventId").is_none()
            }
        })
        .filter(|e| {
            query
                .get("timeMin")
                .is_none_or(|min| when(&e["end"]) > *min)
        })
        .filter(|e| {
            query
                .get("timeMax")
                .is_none_or(|max| when(&e["start"]) < *max)
        })
        .filter(|e| {
            q.as_ref().is_none_or(|q| {
                ["summary", "description", "location"]
                    .iter()
                    .any(|k| e[*k].as_str().is_some_and(|t| t.to_lowercase().contains(q)))
            })
        })
        .collect();
    if query.get("orderBy").is_some_and(|o| o == "startTime") {
        events.sort_by_key(|e| when(&e["start"]));
    }
    events
}

/// "Lunch with Bo tomorrow 12pm": the summary, and a start on today or tomorrow.
fn quick(text: &str) -> Map<String, Value> {
    let mut date = "2026-12-04";
    let mut hour = None;
    let mut words = Vec::new();
    for word in text.split_whitespace() {
        let lower = word.to_lowercase();
        if lower == "tomorrow" {
            date = "2026-12-05";
        } else if lower == "today" {
        } else if let Some(h) = lower
            .strip_suffix("pm")
            .and_then(|h| h.parse::<u32>().ok())
            .filter(|h| (1..=12).contains(h))
        {
            hour = Some(if h == 12 { 12 } else { h + 12 });
        } else if let Some(h) = lower
            .strip_suffix("am")
            .and_then(|h| h.parse::<u32>().ok())
            .filter(|h| (1..=12).contains(h))
        {
            hour = Some(h % 12);
        } else {
            words.push(word);
        }
    }
    let mut fields = Map::new();
    fields.insert("summary".into(), json!(words.join(" ")));
    match hour {
        Some(h) => {
            fields.insert("start".into(), at(&format!("{date}T{h:02}:00:00Z")));
            fields.insert("end".into(), at(&format!("{date}T{:02}:00:00Z", h + 1)));
        }
        None => {
            fields.insert("start".into(), json!({"date": date}));
            fields.insert("end".into(), json!({"date": date}));
        }
    }
    fields
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
        return error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials");
    }
    if query.get("orderBy").is_some_and(|o| o == "startTime")
        && query.get("singleEvents").is_none_or(|s| s != "true")
    {
        return error(
            StatusCode::BAD_REQUEST,
            "badRequest",
            "The requested ordering is not available for the particular query.",
        );
    }
    let fields = json_body
        .and_then(|b| b.as_object().cloned())
        .unwrap_or_default();
    let Some(route) = path.strip_prefix("/calendar/v3/") else {
        return not_found();
    };
    let parts: Vec<&str> = route.split('/').collect();
    let calendar_id = |account: &Account, id: &str| {
        let id = if id == "primary" { PRIMARY } else { id };
        account
            .calendars
            .iter()
            .any(|c| c["id"] == id)
            .then(|| id.to_owned())
    };
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["users", "me", "calendarList"]) => page(
            "calendar#calendarList",
            account.calendars.clone(),
            &query,
            100,
        ),
        ("POST", ["freeBusy"]) => {
            let (Some(min), Some(max)) = (
                fields.get("timeMin").and_then(Value::as_str),
                fields.get("timeMax").and_then(Value::as_str),
            ) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "required",
                    "Missing timeMin or timeMax",
                );
            };
            let mut calendars = Map::new();
            for item in fields
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let asked = item["id"].as_str().unwrap_or_default();
                let entry = match calendar_id(account, asked) {
                    Some(id) => {
                        let busy: Vec<Value> = account
                            .events
                            .iter()
                            .filter(|(c, e)| *c == id && e["start"]["dateTime"].is_string() && e.get("recurrence").is_none())
                            .filter(|(_, e)| when(&e["end"]).as_str() > min && when(&e["start"]).as_str() < max)
                            .map(|(_, e)| json!({"start": e["start"]["dateTime"], "end": e["end"]["dateTime"]}))
                            .collect();
                        json!({"busy": busy})
                    }
                    None => {
                        json!({"errors": [{"domain": "global", "reason": "notFound"}], "busy": []})
                    }
                };
                calendars.insert(asked.to_owned(), entry);
            }
            json_response(
                StatusCode::OK,
                json!({"kind": "calendar#freeBusy", "timeMin": min, "timeMax": max, "calendars": calendars}),
            )
        }
        (_, ["calendars", calendar, rest @ ..]) => {
            let Some(calendar) = calendar_id(account, calendar) else {
                return not_found();
            };
            match (method.as_str(), rest) {
                ("GET", []) => {
                    let entry = account
                        .calendars
                        .iter()
                        .find(|c| c["id"] == calendar.as_str())
                        .cloned()
                        .unwrap_or_default();
                    json_response(
                        StatusCode::OK,
                        json!({"kind": "calendar#calendar", "id": entry["id"], "summary": entry["summary"],
                            "description": entry["description"], "timeZone": entry["timeZone"]}),
                    )
                }
                ("GET", ["events"]) => {
                    let events = window(account, &calendar, &query);
                    page("calendar#events", events, &query, 250)
                }
                ("POST", ["events", "quickAdd"]) => {
                    let Some(text) = query.get("text") else {
                        return error(StatusCode::BAD_REQUEST, "required", "Missing text");
                    };
                    let event = new_event(account, &quick(text));
                    account.events.push((calendar, event.clone()));
                    json_response(StatusCode::OK, event)
                }
                ("POST", ["events"]) => {
                    let (Some(start), Some(end)) = (fields.get("start"), fields.get("end")) else {
                        return error(StatusCode::BAD_REQUEST, "required", "Missing end time.");
                    };
                    if when(end) <= when(start) {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "timeRangeEmpty",
                            "The specified time range is empty.",
                        );
                    }
                    let event = new_event(account, &fields);
                    account.events.push((calendar, event.clone()));
                    json_response(StatusCode::OK, event)
                }
                (_, ["events", event, tail @ ..]) => {
                    let Some(at) = account
                        .events
                        .iter()
                        .position(|(c, e)| *c == calendar && e["id"] == *event)
                    else {
                        return not_found();
                    };
                    match (method.as_str(), tail) {
                        ("GET", []) => json_response(StatusCode::OK, account.events[at].1.clone()),
                        ("PATCH", []) => {
                            patch(&mut account.events[at].1, &fields);
                            account.events[at].1["sequence"] = json!(1);
                            json_response(StatusCode::OK, account.events[at].1.clone())
                        }
                        ("DELETE", []) => {
                            account.events.remove(at);
                            StatusCode::NO_CONTENT.into_response()
                        }
                        ("GET", ["instances"]) => {
                            let id = (*event).to_owned();
                            let instances: Vec<Value> = account
                                .events
                                .iter()
                                .filter(|(c, e)| {
                                    *c == calendar && e["recurringEventId"] == id.as_str()
                                })
                                .map(|(_, e)| e.clone())
                                .filter(|e| {
                                    query
                                        .get("timeMin")
                                        .is_none_or(|min| when(&e["end"]) > *min)
                                })
                                .filter(|e| {
                                    query
                                        .get("timeMax")
                                        .is_none_or(|max| when(&e["start"]) < *max)
                                })
                                .collect();
                            page("calendar#events", instances, &query, 250)
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
