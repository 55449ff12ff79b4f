//! A fake GitHub REST API (the subset MCPist's tools use), served under
//! `/api/v3` the way GitHub Enterprise Server is.
//!
//! Shapes follow the REST documentation: `message` / `documentation_url`
//! error bodies, `401 Bad credentials`, `404 Not Found` for what the token
//! cannot see, primary rate limits as `403` with `x-ratelimit-remaining: 0`
//! and `x-ratelimit-reset`, secondary ones as `429` with `retry-after`, and
//! `Link` headers for pagination. Magic owners trigger the error paths:
//! `ratelimited`, `secondary`, `broken` (500), `echo` (an error body that
//! echoes the request's `Authorization` header, as a careless proxy would).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    extract::{OriginalUri, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The HTTP method.
    pub method: Method,
    /// The raw (still percent-encoded) path.
    pub path: String,
    /// The raw query, if any.
    pub query: Option<String>,
    /// The request body, if it was JSON.
    pub body: Option<Value>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    tokens: HashMap<String, String>,
    seen: Vec<Seen>,
}

/// A running fake GitHub.
#[derive(Debug, Clone)]
pub struct FakeGithub {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl FakeGithub {
    /// Starts a fake on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let addr = crate::serve(app).await;
        Self { addr, shared }
    }

    /// The base URL to configure: `http://127.0.0.1:PORT/api/v3`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    /// Accepts `token` as the credential of the user `login`.
    pub fn accept_token(&self, token: &str, login: &str) {
        self.lock()
            .tokens
            .insert(token.to_owned(), login.to_owned());
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.as_u16().to_string(),
        })
        .to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Mutex<Shared>>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let login = {
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.seen.push(Seen {
            method: method.clone(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            body: body.clone(),
            authorization: authorization.clone(),
        });
        authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .and_then(|t| shared.tokens.get(t).cloned())
    };
    let Some(rest) = uri.path().strip_prefix("/api/v3/") else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let Some(login) = login else {
        return match authorization {
            None => error(StatusCode::UNAUTHORIZED, "Requires authentication"),
            Some(_) => error(StatusCode::UNAUTHORIZED, "Bad credentials"),
        };
    };
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let query = parse_query(uri.query());
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let owner = match segments.as_slice() {
        ["users", owner, ..] | ["repos", owner, ..] => Some(*owner),
        _ => None,
    };
    if let Some(response) = owner.and_then(|o| magic_owner(o, authorization.as_deref())) {
        return response;
    }
    if method == Method::POST || method == Method::PATCH {
        return write(&method, &segments, &login, body.unwrap_or(Value::Null));
    }
    if method != Method::GET {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    match segments.as_slice() {
        ["user"] => ok(user(&login)),
        ["user", "repos"] => paginate(repos_of(&login), &query, "/api/v3/user/repos"),
        ["users", owner, "repos"] if *owner == "octocat" || *owner == login => paginate(
            repos_of(owner),
            &query,
            &format!("/api/v3/users/{owner}/repos"),
        ),
        ["repos", owner, repo, "issues"] if has_repo(&login, owner, repo) => {
            let state = query.get("state").map(String::as_str).unwrap_or("open");
            let issues: Vec<Value> = issues(owner, repo)
                .into_iter()
                .filter(|i| state == "all" || i["state"] == state)
                .collect();
            paginate(
                issues,
                &query,
                &format!("/api/v3/repos/{owner}/{repo}/issues"),
            )
        }
        ["repos", owner, repo, "issues", number] if has_repo(&login, owner, repo) => {
            match issues(owner, repo)
                .into_iter()
                .find(|i| number.parse::<u64>().ok() == i["number"].as_u64())
            {
                Some(issue) => ok(issue),
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// Creating and updating issues and comments, with GitHub's 422 shapes.
fn write(method: &Method, segments: &[&str], login: &str, body: Value) -> Response {
    let missing = |field: &str| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            json!({"message": "Validation Failed",
                   "errors": [{"resource": "Issue", "code": "missing_field", "field": field}],
                   "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
                   "status": "422"})
            .to_string(),
        )
            .into_response()
    };
    let created = |value: Value| {
        let mut r = ok(value);
        *r.status_mut() = StatusCode::CREATED;
        r
    };
    match (method, segments) {
        (&Method::POST, ["repos", owner, repo, "issues"]) if has_repo(login, owner, repo) => {
            let Some(title) = body.get("title").and_then(Value::as_str) else {
                return missing("title");
            };
            let mut issue = issues(owner, repo)[0].clone();
            issue["number"] = json!(4);
            issue["title"] = json!(title);
            issue["body"] = body.get("body").cloned().unwrap_or(Value::Null);
            issue["html_url"] = json!(format!("https://github.com/{owner}/{repo}/issues/4"));
            issue["user"] = user_ref(login);
            created(issue)
        }
        (&Method::POST, ["repos", owner, repo, "issues", number, "comments"])
            if has_repo(login, owner, repo) =>
        {
            if body.get("body").and_then(Value::as_str).is_none() {
                return missing("body");
            }
            created(json!({
                "id": 1, "node_id": "MDEyOklzc3VlQ29tbWVudDE=",
                "html_url": format!("https://github.com/{owner}/{repo}/issues/{number}#issuecomment-1"),
                "body": body["body"], "user": user_ref(login),
                "created_at": "2024-02-02T10:00:00Z", "updated_at": "2024-02-02T10:00:00Z"
            }))
        }
        (&Method::PATCH, ["repos", owner, repo, "issues", number])
            if has_repo(login, owner, repo) =>
        {
            match issues(owner, repo)
                .into_iter()
                .find(|i| number.parse::<u64>().ok() == i["number"].as_u64())
            {
                Some(mut issue) => {
                    for key in ["title", "body", "state"] {
                        if let Some(v) = body.get(key) {
                            issue[key] = v.clone();
                        }
                    }
                    ok(issue)
                }
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn magic_owner(owner: &str, authorization: Option<&str>) -> Option<Response> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Some(match owner {
        "ratelimited" => {
            let mut r = error(
                StatusCode::FORBIDDEN,
                "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
            );
            let h = r.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            h.insert("x-ratelimit-used", HeaderValue::from_static("5000"));
            h.insert("x-ratelimit-reset", HeaderValue::from(now + 600));
            r
        }
        "secondary" => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("60"));
            r
        }
        "broken" => error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"),
        "echo" => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "Validation Failed for request with {}",
                authorization.unwrap_or("")
            ),
        ),
        _ => return None,
    })
}

fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

/// Slices `items` by `page` / `per_page` and adds GitHub's `Link` header.
fn paginate(items: Vec<Value>, query: &HashMap<String, String>, path: &str) -> Response {
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let start = (page - 1) * per_page;
    let slice: Vec<Value> = items.iter().skip(start).take(per_page).cloned().collect();
    let last = items.len().div_ceil(per_page).max(1);
    let mut response = ok(Value::Array(slice));
    if page < last {
        let link = format!(
            "<{path}?per_page={per_page}&page={}>; rel=\"next\", <{path}?per_page={per_page}&page={last}>; rel=\"last\"",
            page + 1
        );
        response.headers_mut().insert(
            header::LINK,
            HeaderValue::from_str(&link).expect("ascii link"),
        );
    }
    response
}

fn user_ref(login: &str) -> Value {
    json!({
        "login": login, "id": login.len() as u64 * 1000 + 1, "node_id": "MDQ6VXNlcjE=",
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", login.len()),
        "html_url": format!("https://github.com/{login}"), "type": "User", "site_admin": false
    })
}

fn user(login: &str) -> Value {
    let mut u = user_ref(login);
    let extra = json!({
        "name": format!("The {login}"), "company": "@github", "blog": "https://github.blog",
        "location": "San Francisco", "email": null, "hireable": null, "bio": null,
        "public_repos": 8, "public_gists": 8, "followers": 3938, "following": 9,
        "created_at": "2011-01-25T18:44:36Z", "updated_at": "2024-01-22T12:00:00Z"
    });
    for (k, v) in extra.as_object().expect("object") {
        u[k] = v.clone();
    }
    u
}

/// Repositories exist for `octocat` and for the signed-in user only.
fn has_repo(login: &str, owner: &str, repo: &str) -> bool {
    (owner == "octocat" || owner == login) && repos_of(owner).iter().any(|r| r["name"] == repo)
}

fn repos_of(owner: &str) -> Vec<Value> {
    ["hello-world", "spoon-knife", "linguist"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "id": 1296269 + i, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": name,
                "full_name": format!("{owner}/{name}"), "owner": user_ref(owner),
                "private": i == 2, "html_url": format!("https://github.com/{owner}/{name}"),
                "description": format!("My {name} repository"), "fork": false,
                "url": format!("https://api.github.com/repos/{owner}/{name}"),
                "language": if i == 0 { json!("Rust") } else { Value::Null },
                "forks_count": 9, "stargazers_count": 80 + i, "watchers_count": 80,
                "size": 108, "default_branch": "main", "open_issues_count": 2,
                "topics": ["octocat"], "has_issues": true, "archived": false, "disabled": false,
                "visibility": if i == 2 { "private" } else { "public" },
                "pushed_at": "2024-01-26T19:06:43Z", "created_at": "2011-01-26T19:01:12Z",
                "updated_at": "2024-01-26T19:14:43Z",
                "permissions": {"admin": false, "push": false, "pull": true}
            })
        })
        .collect()
}

fn issues(owner: &str, repo: &str) -> Vec<Value> {
    let issue = |number: u64, title: &str, state: &str, pr: bool, labels: &[&str]| {
        let mut i = json!({
            "id": 1, "node_id": "MDU6SXNzdWUx",
            "url": format!("https://api.github.com/repos/{owner}/{repo}/issues/{number}"),
            "html_url": format!("https://github.com/{owner}/{repo}/issues/{number}"),
            "number": number, "state": state, "title": title,
            "body": format!("Body of {title}.\n\nSteps to reproduce: ..."),
            "user": user_ref("octocat"),
            "labels": labels.iter().map(|l| json!({"id": 208045946, "name": l, "color": "f29513",
                "default": true, "description": "Something isn't working"})).collect::<Vec<_>>(),
            "assignee": user_ref("hubot"), "assignees": [user_ref("hubot")],
            "locked": false, "comments": number * 2,
            "closed_at": if state == "closed" { json!("2024-02-01T10:00:00Z") } else { Value::Null },
            "state_reason": if state == "closed" { json!("completed") } else { Value::Null },
            "created_at": "2024-01-10T10:00:00Z", "updated_at": "2024-01-20T10:00:00Z",
            "author_association": "OWNER"
        });
        if pr {
            i["pull_request"] = json!({
                "url": format!("https://api.github.com/repos/{owner}/{repo}/pulls/{number}"),
                "html_url": format!("https://github.com/{owner}/{repo}/pull/{number}"),
            });
        }
        i
    };
    vec![
        issue(3, "Crash on empty input", "open", false, &["bug"]),
        issue(2, "Add a --json flag", "open", true, &[]),
        issue(1, "Typo in README", "closed", false, &["docs"]),
    ]
}
