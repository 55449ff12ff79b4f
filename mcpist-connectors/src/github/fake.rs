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

/// How the fake OAuth provider behaves; change it with [`FakeGithub::oauth`].
#[derive(Debug, Clone)]
pub struct OAuthBehaviour {
    /// Refreshing issues a new refresh token and invalidates the old refresh
    /// and access tokens, as GitHub does.
    pub rotate: bool,
    /// Refresh answers carry no refresh token.
    pub omit_refresh_token: bool,
    /// The token endpoint waits this long before answering.
    pub delay: std::time::Duration,
    /// `expires_in` of new access tokens; any JSON number (0, negative,
    /// absurdly large), to test clock skew and broken providers.
    pub expires_in: serde_json::Value,
    /// The user denies the authorization request.
    pub deny: bool,
    /// The token endpoint answers with this status and no body.
    pub fail_with: Option<StatusCode>,
    /// Who authorizes.
    pub login: String,
    /// A rotated-out refresh token presented again revokes the whole grant
    /// (its newer refresh and access tokens), as RFC 9700 §4.14.2 lets an
    /// authorization server do when it suspects theft.
    pub revoke_grant_on_reuse: bool,
}

impl Default for OAuthBehaviour {
    fn default() -> Self {
        Self {
            rotate: true,
            omit_refresh_token: false,
            delay: std::time::Duration::ZERO,
            expires_in: serde_json::json!(28_800),
            deny: false,
            fail_with: None,
            login: "octocat".into(),
            revoke_grant_on_reuse: false,
        }
    }
}

#[derive(Debug)]
struct IssuedCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    login: String,
}

#[derive(Debug, Default)]
struct Shared {
    tokens: HashMap<String, String>,
    seen: Vec<Seen>,
    apps: HashMap<String, String>,
    codes: HashMap<String, IssuedCode>,
    // refresh token → (login, the access token issued with it)
    refresh_tokens: HashMap<String, (String, String)>,
    behaviour: OAuthBehaviour,
    token_requests: usize,
    issued: u64,
    // The next API requests fail with this status (and Retry-After), this many times.
    failures: Option<(StatusCode, usize, Option<&'static str>)>,
    // While `true`, token requests are held (counted, not answered).
    hold: Option<tokio::sync::watch::Sender<bool>>,
    // The next API requests wait until this many have arrived (see
    // `FakeGithub::gather_api_requests`): how many are still to come.
    gather: Option<tokio::sync::watch::Sender<usize>>,
    // Searches still allowed before the search rate limit answers (None: no limit).
    searches_left: Option<usize>,
    // Every PKCE code verifier a code exchange presented.
    verifiers: Vec<String>,
    // Refresh tokens retired by rotation → the login they belonged to.
    retired: HashMap<String, String>,
    // How many times a retired refresh token was presented again.
    reuses: usize,
}

impl Shared {
    /// A new access / refresh token pair for `login`.
    fn issue(&mut self, login: &str) -> (String, String) {
        self.issued += 1;
        let n = self.issued;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let access = format!("ghu_fake{n}x{nanos:08x}");
        let refresh = format!("ghr_fake{n}x{nanos:08x}");
        self.tokens.insert(access.clone(), login.to_owned());
        self.refresh_tokens
            .insert(refresh.clone(), (login.to_owned(), access.clone()));
        (access, refresh)
    }
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
        Self::start_on("127.0.0.1:0".parse().expect("an address")).await
    }

    /// Starts a fake on `addr`; the official GitHub MCP server, for one,
    /// drops the port of its host and needs the fake on port 80.
    pub async fn start_on(addr: SocketAddr) -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let addr = crate::fake::serve_on(app, addr).await;
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

    /// Every request received so far (API and OAuth).
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Forgets the requests received so far, so long runs stay bounded.
    pub fn clear_requests(&self) {
        self.lock().seen = Vec::new();
    }

    /// API requests only (those under `/api/v3`).
    pub fn api_requests(&self) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.path.starts_with("/api/v3/"))
            .collect()
    }

    /// Registers an OAuth app.
    pub fn register_app(&self, client_id: &str, client_secret: &str) {
        self.lock()
            .apps
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// Changes how the OAuth provider behaves.
    pub fn oauth(&self, change: impl FnOnce(&mut OAuthBehaviour)) {
        change(&mut self.lock().behaviour);
    }

    /// Issues an access / refresh token pair for `login` directly, as if a
    /// login had happened earlier.
    pub fn grant(&self, login: &str) -> (String, String) {
        self.lock().issue(login)
    }

    /// Invalidates an access token (as expiry or revocation would).
    pub fn revoke_access_token(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    /// Invalidates every refresh token (as revoking the app's grant would).
    pub fn revoke_refresh_tokens(&self) {
        self.lock().refresh_tokens.clear();
    }

    /// Whether `token` is a valid refresh token now.
    pub fn refresh_token_is_valid(&self, token: &str) -> bool {
        self.lock().refresh_tokens.contains_key(token)
    }

    /// The next `times` API requests answer `status` (with `Retry-After:
    /// retry_after` if given) and GitHub's error body.
    pub fn fail_next(&self, status: StatusCode, times: usize, retry_after: Option<&'static str>) {
        self.lock().failures = Some((status, times, retry_after));
    }

    /// Holds every token request that arrives from now on (it is counted in
    /// [`FakeGithub::token_requests`] but not answered) until
    /// [`FakeGithub::release_token_endpoint`]. Tests use it to order events
    /// instead of sleeping: a request is known to be in flight while held.
    pub fn hold_token_endpoint(&self) {
        self.lock()
            .hold
            .get_or_insert_with(|| tokio::sync::watch::channel(false).0)
            .send_replace(true);
    }

    /// The next `n` API requests are each held until all `n` have arrived,
    /// so a test knows they were in flight together: a client that sends
    /// them one after another never gets an answer.
    pub fn gather_api_requests(&self, n: usize) {
        self.lock().gather = Some(tokio::sync::watch::channel(n).0);
    }

    /// Allows `n` more searches; later ones hit the search rate limit, which
    /// GitHub keeps apart from the core one (`x-ratelimit-resource: search`).
    pub fn limit_searches(&self, n: usize) {
        self.lock().searches_left = Some(n);
    }

    /// Lets the held token requests (and later ones) be answered.
    pub fn release_token_endpoint(&self) {
        if let Some(hold) = &self.lock().hold {
            hold.send_replace(false);
        }
    }

    /// Waits until `n` requests have reached the token endpoint (held ones
    /// included); panics after 10 s, naming how many arrived.
    pub async fn wait_for_token_requests(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.token_requests() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "expected {n} token requests, {} arrived",
                self.token_requests()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// The PKCE code verifiers presented with code exchanges, in order, so
    /// tests can scan for them (a verifier must never leave the login).
    pub fn code_verifiers(&self) -> Vec<String> {
        self.lock().verifiers.clone()
    }

    /// How many times a refresh token retired by rotation was presented
    /// again (each one a grant lost with [`OAuthBehaviour::revoke_grant_on_reuse`]).
    pub fn refresh_token_reuses(&self) -> usize {
        self.lock().reuses
    }

    /// How many requests reached the token endpoint.
    pub fn token_requests(&self) -> usize {
        self.lock().token_requests
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
    raw_body: axum::body::Bytes,
) -> Response {
    let body: Option<Value> = serde_json::from_slice(&raw_body).ok();
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
    match uri.path() {
        "/login/oauth/authorize" => return authorize(&shared, uri.query()),
        "/login/oauth/access_token" if method == Method::POST => {
            return access_token(&shared, &headers, &raw_body).await;
        }
        _ => {}
    }
    let Some(rest) = uri.path().strip_prefix("/api/v3/") else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let gathering = {
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        let arrived = shared.gather.as_ref().map(|gather| {
            gather.send_modify(|left| *left = left.saturating_sub(1));
            gather.subscribe()
        });
        if arrived.as_ref().is_some_and(|a| *a.borrow() == 0) {
            shared.gather = None;
        }
        arrived
    };
    if let Some(mut arrived) = gathering {
        let _ = arrived.wait_for(|left| *left == 0).await;
    }
    let injected = {
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        match &mut shared.failures {
            Some((status, times, retry_after)) if *times > 0 => {
                *times -= 1;
                Some((*status, *retry_after))
            }
            _ => None,
        }
    };
    if let Some((status, retry_after)) = injected {
        let message = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::FORBIDDEN => {
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            }
            _ => "Server Error",
        };
        let mut r = error(status, message);
        if let Some(after) = retry_after {
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static(after));
        }
        return r;
    }
    if rest.starts_with("search/") {
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(left) = &mut shared.searches_left {
            if *left == 0 {
                let mut r = error(
                    StatusCode::FORBIDDEN,
                    "API rate limit exceeded for user ID 1.",
                );
                let reset = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() + 60)
                    .unwrap_or(60);
                let h = r.headers_mut();
                h.insert("x-ratelimit-limit", HeaderValue::from_static("30"));
                h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
                h.insert("x-ratelimit-resource", HeaderValue::from_static("search"));
                h.insert("x-ratelimit-reset", HeaderValue::from(reset));
                return r;
            }
            *left -= 1;
        }
    }
    if rest.starts_with("repos/slow/") {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
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
    let query = crate::fake::parse_query(uri.query());
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let owner = match segments.as_slice() {
        ["users", owner, ..] | ["repos", owner, ..] => Some(*owner),
        _ => None,
    };
    if let Some(response) = owner.and_then(|o| magic_owner(o, authorization.as_deref())) {
        return response;
    }
    if [Method::POST, Method::PATCH, Method::PUT, Method::DELETE].contains(&method) {
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
        other => more_reads(other, &login, &query, &headers),
    }
}

/// The read endpoints behind the data-described tools.
fn more_reads(
    segments: &[&str],
    login: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let commit = |sha: &str, message: &str| {
        json!({"sha": sha, "node_id": "C_1", "html_url": format!("https://github.com/octocat/hello-world/commit/{sha}"),
            "commit": {"author": {"name": "Mona Octocat", "email": "mona@github.com", "date": "2024-01-20T10:00:00Z"},
                "committer": {"name": "GitHub", "email": "noreply@github.com", "date": "2024-01-20T10:00:00Z"},
                "message": message, "comment_count": 0},
            "author": user_ref("octocat"), "parents": []})
    };
    let pull = |number: u64| {
        json!({"id": 1, "number": number, "state": "open", "locked": false, "title": "Add a --json flag",
            "user": user_ref("hubot"), "body": "Adds `--json`.", "draft": false, "merged": false,
            "mergeable": true, "head": {"ref": "json-flag", "sha": "6dcb09b"}, "base": {"ref": "main", "sha": "a5c3d2e"},
            "commits": 2, "additions": 40, "deletions": 3, "changed_files": 2,
            "html_url": format!("https://github.com/octocat/hello-world/pull/{number}"),
            "created_at": "2024-01-15T10:00:00Z", "updated_at": "2024-01-20T10:00:00Z"})
    };
    match segments {
        ["user", "orgs"] => ok(json!([{"login": "acme", "id": 1, "node_id": "O_1",
            "url": "https://api.github.com/orgs/acme", "description": "Acme Inc."}])),
        ["user", "starred"] => paginate(repos_of("rust-lang"), query, "/api/v3/user/starred"),
        ["repos", owner, repo] if has_repo(login, owner, repo) => ok(repos_of(owner)
            .into_iter()
            .find(|r| r["name"] == *repo)
            .unwrap_or(Value::Null)),
        ["repos", owner, repo, "branches"] if has_repo(login, owner, repo) => ok(json!([
            {"name": "main", "commit": {"sha": "a5c3d2e", "url": ""}, "protected": true},
            {"name": "json-flag", "commit": {"sha": "6dcb09b", "url": ""}, "protected": false}])),
        ["repos", owner, repo, "commits"] if has_repo(login, owner, repo) => paginate(
            vec![
                commit("6dcb09b", "Add --json"),
                commit("a5c3d2e", "Initial commit"),
            ],
            query,
            "/api/v3/commits",
        ),
        ["repos", owner, repo, "commits", reference] if has_repo(login, owner, repo) => {
            let sha = BRANCHES
                .iter()
                .find(|(name, _)| name == reference)
                .map_or(*reference, |(_, sha)| *sha);
            let mut c = commit(sha, "Add --json");
            match sha {
                "6dcb09b" | "a5c3d2e" => {
                    c["stats"] = json!({"total": 43, "additions": 40, "deletions": 3});
                    c["files"] = json!([{"sha": "bbcd538", "filename": "src/main.rs", "status": "modified",
                        "additions": 40, "deletions": 3, "changes": 43,
                        "patch": "@@ -1 +1,2 @@\n fn main() {}\n+// --json"}]);
                }
                // A large commit: six files with a 25,268-byte patch each.
                "b16b16b" => {
                    let line = format!("+{}\n", "x".repeat(99));
                    let files: Vec<Value> = (1..=6)
                        .map(|n| {
                            json!({"sha": "bbcd538", "filename": format!("gen/f{n}.txt"),
                            "status": "added", "additions": 250, "deletions": 0, "changes": 250,
                            "patch": format!("@@ -0,0 +1,250 @@\n{}", line.repeat(250))})
                        })
                        .collect();
                    c["stats"] = json!({"total": 1500, "additions": 1500, "deletions": 0});
                    c["files"] = json!(files);
                }
                _ => {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &format!("No commit found for SHA: {reference}"),
                    );
                }
            }
            ok(c)
        }
        ["repos", owner, repo, "git", "ref", "heads", name @ ..]
            if has_repo(login, owner, repo) =>
        {
            let name = name.join("/");
            match BRANCHES.iter().find(|(b, _)| *b == name) {
                Some((_, sha)) => ok(
                    json!({"ref": format!("refs/heads/{name}"), "node_id": "REF_2",
                    "url": format!("https://api.github.com/repos/{owner}/{repo}/git/refs/heads/{name}"),
                    "object": {"type": "commit", "sha": sha,
                        "url": format!("https://api.github.com/repos/{owner}/{repo}/git/commits/{sha}")}}),
                ),
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        ["repos", owner, repo, "compare", basehead] if has_repo(login, owner, repo) => {
            // `json-flag` (6dcb09b) is one commit ahead of `main` (a5c3d2e).
            let order = |r: &str| {
                BRANCHES
                    .iter()
                    .position(|(name, sha)| *name == r || *sha == r)
            };
            let Some((Some(base), Some(head))) = basehead
                .split_once("...")
                .map(|(b, h)| (order(b), order(h)))
            else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            let (status, ahead, behind) = match head.cmp(&base) {
                std::cmp::Ordering::Equal => ("identical", 0, 0),
                std::cmp::Ordering::Greater => ("ahead", 1, 0),
                std::cmp::Ordering::Less => ("behind", 0, 1),
            };
            let (commits, files) = if ahead == 1 {
                (
                    json!([commit("6dcb09b", "Add --json")]),
                    json!([{"sha": "bbcd538", "filename": "src/main.rs", "status": "modified",
                        "additions": 40, "deletions": 3, "changes": 43,
                        "patch": "@@ -1 +1,2 @@\n fn main() {}\n+// --json"}]),
                )
            } else {
                (json!([]), json!([]))
            };
            ok(json!({
                "url": format!("https://api.github.com/repos/{owner}/{repo}/compare/{basehead}"),
                "html_url": format!("https://github.com/{owner}/{repo}/compare/{basehead}"),
                "base_commit": commit(BRANCHES[base].1, "Initial commit"),
                "merge_base_commit": commit("a5c3d2e", "Initial commit"),
                "status": status, "ahead_by": ahead, "behind_by": behind,
                "total_commits": ahead, "commits": commits, "files": files
            }))
        }
        ["repos", owner, repo, "issues", number, "comments"] if has_repo(login, owner, repo) => {
            ok(json!([
            {"id": 11, "user": user_ref("hubot"), "body": format!("Seen on #{number}"), "created_at": "2024-01-21T10:00:00Z",
             "author_association": "MEMBER"}]))
        }
        ["repos", owner, repo, "pulls"] if has_repo(login, owner, repo) => {
            let state = query.get("state").map(String::as_str).unwrap_or("open");
            let pulls = if state == "closed" {
                vec![]
            } else {
                vec![pull(2)]
            };
            paginate(pulls, query, "/api/v3/pulls")
        }
        ["repos", owner, repo, "pulls", number]
            if has_repo(login, owner, repo) && *number == "2" =>
        {
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if accept.contains("diff") {
                return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "diff --git a/src/main.rs b/src/main.rs\n--- a/src/main.rs\n+++ b/src/main.rs\n@@ -1 +1,2 @@\n fn main() {}\n+// --json\n")
                    .into_response();
            }
            ok(pull(2))
        }
        ["repos", owner, repo, "pulls", "2", "files"] if has_repo(login, owner, repo) => {
            ok(json!([
            {"sha": "bbcd538", "filename": "src/main.rs", "status": "modified", "additions": 40, "deletions": 3,
             "changes": 43, "patch": "@@ -1 +1,2 @@\n fn main() {}\n+// --json"}]))
        }
        ["repos", owner, repo, "pulls", "2", "reviews"] if has_repo(login, owner, repo) => {
            ok(json!([
            {"id": 80, "user": user_ref("octocat"), "body": "LGTM", "state": "APPROVED",
             "submitted_at": "2024-01-21T10:00:00Z", "commit_id": "6dcb09b"}]))
        }
        ["search", "repositories"] => {
            ok(json!({"total_count": 3, "incomplete_results": false, "items": repos_of("octocat")}))
        }
        ["search", "code"] => ok(
            json!({"total_count": 1, "incomplete_results": false, "items": [
            {"name": "main.rs", "path": "src/main.rs", "sha": "bbcd538",
             "html_url": "https://github.com/octocat/hello-world/blob/main/src/main.rs",
             "repository": repos_of("octocat")[0].clone(), "score": 1.0}]}),
        ),
        ["search", "issues"] => {
            // The `is:` qualifiers GitHub documents for issue search.
            let q = query.get("q").map(String::as_str).unwrap_or_default();
            let words: Vec<&str> = q.split_whitespace().collect();
            let found: Vec<Value> = issues("octocat", "hello-world")
                .into_iter()
                .filter(|i| {
                    let pr = i.get("pull_request").is_some();
                    words.iter().all(|w| match *w {
                        "is:pr" => pr,
                        "is:issue" => !pr,
                        "is:open" | "is:closed" => i["state"] == w[3..],
                        _ => true,
                    })
                })
                .collect();
            ok(json!({"total_count": found.len(), "incomplete_results": false, "items": found}))
        }
        ["repos", owner, repo, "actions", "workflows"] if has_repo(login, owner, repo) => {
            ok(json!({
            "total_count": 1, "workflows": [{"id": 161335, "node_id": "MDg6V29ya2Zsb3cxNjEzMzU=", "name": "CI",
            "path": ".github/workflows/ci.yml", "state": "active", "created_at": "2023-01-01T00:00:00Z"}]}))
        }
        ["repos", owner, repo, "actions", "runs"] if has_repo(login, owner, repo) => ok(json!({
            "total_count": 1, "workflow_runs": [{"id": 30433642, "name": "CI", "head_branch": "main",
            "event": "push", "status": "completed", "conclusion": "failure", "workflow_id": 161335,
            "created_at": "2024-01-20T10:00:00Z", "html_url": "https://github.com/octocat/hello-world/actions/runs/30433642"}]})),
        ["repos", owner, repo, "actions", "runs", _, "jobs"] if has_repo(login, owner, repo) => {
            ok(json!({
            "total_count": 1, "jobs": [{"id": 399444496, "run_id": 30433642, "name": "test", "status": "completed",
            "conclusion": "failure", "started_at": "2024-01-20T10:00:10Z", "completed_at": "2024-01-20T10:05:00Z",
            "steps": [{"name": "cargo test", "status": "completed", "conclusion": "failure", "number": 3}]}]}))
        }
        ["users", user, "events", "public"] => {
            ok(json!([{"id": "22249084947", "type": "PushEvent",
            "actor": user_ref(user), "repo": {"id": 1, "name": format!("{user}/hello-world")},
            "public": true, "created_at": "2024-01-22T10:00:00Z"}]))
        }
        ["repos", owner, repo, "readme"] if has_repo(login, owner, repo) && *repo != "linguist" => {
            more_reads(
                &["repos", owner, repo, "contents", "README.md"],
                login,
                query,
                headers,
            )
        }
        ["repos", owner, repo, "contents", rest @ ..] if has_repo(login, owner, repo) => {
            use base64::Engine as _;
            match rest {
                [] => ok(json!([
                    {"type": "file", "name": "README.md", "path": "README.md", "size": 22, "sha": "3d21ec5"},
                    {"type": "dir", "name": "src", "path": "src", "size": 0, "sha": "9a8b7c6"}])),
                ["README.md"] => {
                    let encoded =
                        base64::engine::general_purpose::STANDARD.encode("# Hello World\n\nHi!\n");
                    // GitHub wraps the base64 at 60 columns.
                    let wrapped = encoded
                        .as_bytes()
                        .chunks(60)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect::<Vec<_>>()
                        .join("\n");
                    ok(
                        json!({"type": "file", "encoding": "base64", "size": 22, "name": "README.md",
                        "path": "README.md", "content": wrapped, "sha": "3d21ec5"}),
                    )
                }
                _ => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_owned())]).into_response()
}

/// `GET /login/oauth/authorize`: the user approves at once (or denies, per
/// the behaviour) and the browser is sent back with a code.
fn authorize(shared: &Mutex<Shared>, query: Option<&str>) -> Response {
    let query = crate::fake::parse_query(query);
    let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(client_id), Some(redirect_uri), Some(state)) = (
        query.get("client_id"),
        query.get("redirect_uri"),
        query.get("state"),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            "missing client_id, redirect_uri or state",
        )
            .into_response();
    };
    if !shared.apps.contains_key(client_id) {
        return (StatusCode::NOT_FOUND, "unknown application").into_response();
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let enc = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    if shared.behaviour.deny {
        return redirect(&format!(
            "{redirect_uri}{sep}error=access_denied&error_description={}&state={}",
            enc("The user has denied your application access."),
            enc(state)
        ));
    }
    if query.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return redirect(&format!(
            "{redirect_uri}{sep}error=invalid_request&state={}",
            enc(state)
        ));
    }
    shared.issued += 1;
    let code = format!("code{}", shared.issued);
    let login = shared.behaviour.login.clone();
    shared.codes.insert(
        code.clone(),
        IssuedCode {
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge: query.get("code_challenge").cloned().unwrap_or_default(),
            login,
        },
    );
    redirect(&format!(
        "{redirect_uri}{sep}code={code}&state={}",
        enc(state)
    ))
}

/// GitHub answers token errors with HTTP 200 and an `error` field.
fn token_error(code: &str, description: &str) -> Response {
    ok(json!({
        "error": code,
        "error_description": description,
        "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
    }))
}

/// `POST /login/oauth/access_token`: code exchange (with PKCE) and refresh.
async fn access_token(shared: &Mutex<Shared>, headers: &HeaderMap, body: &[u8]) -> Response {
    let form: HashMap<String, String> = crate::fake::parse_query(std::str::from_utf8(body).ok());
    let (delay, hold) = {
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.token_requests += 1;
        (
            shared.behaviour.delay,
            shared.hold.as_ref().map(|h| h.subscribe()),
        )
    };
    if let Some(mut hold) = hold {
        let _ = hold.wait_for(|held| !*held).await;
    }
    tokio::time::sleep(delay).await;
    let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(status) = shared.behaviour.fail_with {
        return (status, "").into_response();
    }
    // Client credentials in the body, or HTTP Basic.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        });
    let (client_id, client_secret) = match (basic, form.get("client_id"), form.get("client_secret"))
    {
        (Some(pair), _, _) => pair,
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => {
            return token_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            );
        }
    };
    if shared.apps.get(&client_id) != Some(&client_secret) {
        return token_error(
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        );
    }
    let behaviour = shared.behaviour.clone();
    let (access, refresh, login) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let issued = form.get("code").and_then(|c| shared.codes.remove(c));
            let Some(issued) = issued else {
                return token_error(
                    "bad_verification_code",
                    "The code passed is incorrect or expired.",
                );
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            shared.verifiers.push(verifier.clone());
            let challenge = {
                use base64::Engine as _;
                use sha2::Digest as _;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(verifier.as_bytes()))
            };
            if issued.client_id != client_id
                || form.get("redirect_uri") != Some(&issued.redirect_uri)
                || challenge != issued.challenge
            {
                return token_error(
                    "bad_verification_code",
                    "The code passed is incorrect or expired.",
                );
            }
            let (access, refresh) = shared.issue(&issued.login);
            (access, Some(refresh), issued.login)
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            if let Some(login) = shared.retired.get(&presented).cloned() {
                shared.reuses += 1;
                if behaviour.revoke_grant_on_reuse {
                    shared.refresh_tokens.retain(|_, (l, _)| *l != login);
                    shared.tokens.retain(|_, l| *l != login);
                }
            }
            let Some((login, old_access)) = shared.refresh_tokens.get(&presented).cloned() else {
                return token_error(
                    "bad_refresh_token",
                    "The refresh token passed is incorrect or expired.",
                );
            };
            if behaviour.rotate {
                shared.refresh_tokens.remove(&presented);
                shared.tokens.remove(&old_access);
                shared.retired.insert(presented.clone(), login.clone());
            }
            let (access, refresh) = shared.issue(&login);
            if behaviour.omit_refresh_token {
                shared.refresh_tokens.remove(&refresh);
                if let Some(entry) = shared.refresh_tokens.get_mut(&presented) {
                    entry.1 = access.clone();
                }
                (access, None, login)
            } else {
                (access, Some(refresh), login)
            }
        }
        _ => return token_error("unsupported_grant_type", "The grant type is not supported."),
    };
    let _ = login;
    let mut answer = json!({
        "access_token": access,
        "expires_in": behaviour.expires_in,
        "scope": "repo,read:user",
        "token_type": "bearer",
    });
    if let Some(refresh) = refresh {
        answer["refresh_token"] = json!(refresh);
        answer["refresh_token_expires_in"] = json!(15_897_600);
    }
    ok(answer)
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
        (&Method::POST, ["repos", owner, repo, "pulls"]) if has_repo(login, owner, repo) => {
            if body.get("head").and_then(Value::as_str) != Some("json-flag") {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest",
                        "field": "head", "code": "invalid"}], "status": "422"})
                    .to_string(),
                )
                    .into_response();
            }
            created(
                json!({"number": 5, "state": "open", "draft": body["draft"], "title": body["title"],
                "html_url": format!("https://github.com/{owner}/{repo}/pull/5")}),
            )
        }
        (&Method::PUT | &Method::DELETE, ["repos", owner, repo, "contents", path @ ..])
            if has_repo(login, owner, repo) && !path.is_empty() =>
        {
            file_write(method, owner, repo, &path.join("/"), &body)
        }
        (&Method::POST, ["repos", owner, repo, "git", "refs"]) if has_repo(login, owner, repo) => {
            create_ref(owner, repo, &body)
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

/// The files of every repository: path → blob SHA.
const FILES: &[(&str, &str)] = &[("README.md", "3d21ec5")];

/// The branches of every repository: name → head commit SHA.
const BRANCHES: &[(&str, &str)] = &[("main", "a5c3d2e"), ("json-flag", "6dcb09b")];

/// `422` with GitHub's `Invalid request.` wording for a missing field.
fn invalid_request(field: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("Invalid request.\n\n\"{field}\" wasn't supplied."),
    )
}

/// `PUT` / `DELETE /repos/{owner}/{repo}/contents/{path}`, as GitHub answers
/// them: the branch is checked first (404), then the fields (422), then the
/// `sha` of an existing file (missing: 422, stale: 409; ignored for a new
/// file, which is `201 Created`).
fn file_write(method: &Method, owner: &str, repo: &str, path: &str, body: &Value) -> Response {
    let branch = body.get("branch").and_then(Value::as_str).unwrap_or("main");
    if !BRANCHES.iter().any(|(name, _)| *name == branch) {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    if body.get("message").and_then(Value::as_str).is_none() {
        return invalid_request("message");
    }
    let existing = FILES.iter().find(|(p, _)| *p == path).map(|(_, sha)| *sha);
    let deleting = method == Method::DELETE;
    if deleting && existing.is_none() {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    let content = if deleting {
        None
    } else {
        use base64::Engine as _;
        let Some(encoded) = body.get("content").and_then(Value::as_str) else {
            return invalid_request("content");
        };
        match base64::engine::general_purpose::STANDARD.decode(encoded) {
            Ok(bytes) => Some(bytes),
            Err(_) => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "content is not valid Base64",
                );
            }
        }
    };
    if let Some(current) = existing {
        match body.get("sha").and_then(Value::as_str) {
            None => return invalid_request("sha"),
            Some(sha) if sha != current => {
                return error(
                    StatusCode::CONFLICT,
                    &format!("{path} does not match {sha}"),
                );
            }
            Some(_) => {}
        }
    }
    let commit = json!({
        "sha": "7638417db6d59f3c431d3e1f261cc637155684cd", "node_id": "C_2",
        "url": format!("https://api.github.com/repos/{owner}/{repo}/git/commits/7638417db6d59f3c431d3e1f261cc637155684cd"),
        "html_url": format!("https://github.com/{owner}/{repo}/commit/7638417db6d59f3c431d3e1f261cc637155684cd"),
        "author": {"name": "Mona Octocat", "email": "mona@github.com", "date": "2024-02-03T10:00:00Z"},
        "committer": {"name": "Mona Octocat", "email": "mona@github.com", "date": "2024-02-03T10:00:00Z"},
        "message": body["message"], "tree": {"sha": "691272480426f78a0138979dd3ce63b77f706feb"},
        "parents": [{"sha": "a5c3d2e"}],
        "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null}
    });
    let Some(bytes) = content else {
        return ok(json!({"content": null, "commit": commit}));
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    let answer = json!({
        "content": {
            "name": name, "path": path, "sha": "95b966ae1c166bd92f8ae7d1c313e738c731dfc3",
            "size": bytes.len(), "type": "file",
            "url": format!("https://api.github.com/repos/{owner}/{repo}/contents/{path}"),
            "html_url": format!("https://github.com/{owner}/{repo}/blob/{branch}/{path}"),
            "download_url": format!("https://raw.githubusercontent.com/{owner}/{repo}/{branch}/{path}"),
        },
        "commit": commit,
    });
    let mut response = ok(answer);
    if existing.is_none() {
        *response.status_mut() = StatusCode::CREATED;
    }
    response
}

/// `POST /repos/{owner}/{repo}/git/refs`: `422 Reference already exists` for
/// a taken name, `422 Object does not exist` for an unknown SHA.
fn create_ref(owner: &str, repo: &str, body: &Value) -> Response {
    let Some(name) = body.get("ref").and_then(Value::as_str) else {
        return invalid_request("ref");
    };
    let Some(sha) = body.get("sha").and_then(Value::as_str) else {
        return invalid_request("sha");
    };
    let Some(branch) = name.strip_prefix("refs/heads/") else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Reference name must start with 'refs/' and have at least two slashes.",
        );
    };
    if BRANCHES.iter().any(|(b, _)| *b == branch) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Reference already exists");
    }
    if !BRANCHES.iter().any(|(_, s)| *s == sha) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Object does not exist");
    }
    let mut response = ok(json!({
        "ref": name, "node_id": "REF_1",
        "url": format!("https://api.github.com/repos/{owner}/{repo}/git/{name}"),
        "object": {"type": "commit", "sha": sha,
            "url": format!("https://api.github.com/repos/{owner}/{repo}/git/commits/{sha}")}
    }));
    *response.status_mut() = StatusCode::CREATED;
    response
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
