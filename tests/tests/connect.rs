//! Connect on demand: a call for an account that is not connected gets a
//! one-time link to MCPist's own `/connect/SERVICE` page (behind the web UI
//! login), as a URL elicitation for clients that declared it (the official
//! MCP Python SDK at 2025-11-25 and 2026-07-28, with headless Chromium
//! following the link through OAuth on the fake GitHub), and in the
//! `isError` text with the CLI commands for the others. Real HTTP over
//! loopback, the SQLite store.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use mcpist_core::{
    AuditSink, Exchanger, McpServer, Registration, ServicePolicy, SqliteStore, TokenStore,
    audit::{AuditFilter, AuditKind, Outcome},
    http::{BEARER_SECRET, BearerDigest, ClientAuth, HttpOptions},
    oauth::AppCredentials,
    seal::MasterKey,
    store::AccountKey,
};
// Naming the crate keeps its `inventory` registrations linked in.
use mcpist_connectors as _;
use mcpist_connectors::github::fake::FakeGithub;
use mcpist_tests::{
    browser::{login, path_of, press, start_browser},
    call, canary, client_script, python_sdk, text,
};
use mcpist_web::WebOptions;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const APP_SECRET: &str = "app-secret-CANARY-c0ffee";

struct Ui {
    base: String,
    bearer: String,
    fake: FakeGithub,
    server: McpServer,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

/// The HTTP app (`/mcp` and the web UI) on loopback, with GitHub on its
/// fake (API and OAuth provider, approving as `monalisa`), an OAuth app
/// stored, and the binary's wording of commands.
async fn start_ui() -> Ui {
    start_ui_with(|_| {}).await
}

/// [`start_ui`] with `adjust` applied to the HTTP options.
async fn start_ui_with(adjust: impl FnOnce(&mut HttpOptions)) -> Ui {
    let fake = FakeGithub::start().await;
    fake.register_app("Iv1.connect", APP_SECRET);
    fake.oauth(|b| b.login = "monalisa".into());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(
            &dir.path().join("mcpist.db"),
            MasterKey::generate().unwrap(),
        )
        .unwrap(),
    );
    let github = (Registration::find("github").unwrap().build)(json!({
        "base_url": fake.base_url()
    }))
    .unwrap();
    let exchanger = Exchanger::new(store.clone(), store.clone())
        .unwrap()
        .with_oauth("github", github.oauth().unwrap())
        .with_guide(Arc::new(mcpist_core::guide::McpistCli));
    let server = McpServer::builder(exchanger, store.clone())
        .connector(github, ServicePolicy::default())
        .build()
        .unwrap();
    mcpist_web::set_password(store.as_ref(), &SecretString::from(PASSWORD))
        .await
        .unwrap();
    AppCredentials {
        client_id: "Iv1.connect".into(),
        client_secret: Some(SecretString::from(APP_SECRET)),
    }
    .save(store.as_ref(), "github")
    .await
    .unwrap();
    let bearer = canary("bearer");
    store
        .put_secret(BEARER_SECRET, &SecretString::from(bearer.clone()))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut options = HttpOptions::loopback(ClientAuth::Bearer(BearerDigest::of(
        &SecretString::from(bearer.clone()),
    )));
    adjust(&mut options);
    let web = mcpist_web::routes(server.clone(), WebOptions::new(base.clone()));
    let app = mcpist_core::http::router_with(server.clone(), options, web);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Ui {
        base,
        bearer,
        fake,
        server,
        store,
        _dir: dir,
    }
}

/// The connect link in an `isError` text.
fn link_in(text: &str, base: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with(&format!("{base}/connect/")))
        .unwrap_or_else(|| panic!("no connect link in: {text}"))
        .to_owned()
}

/// A reqwest client logged in to the web UI: its session cookie.
async fn session(http: &reqwest::Client, base: &str) -> String {
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let body = page.text().await.unwrap();
    let at = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &body[at..at + 64];
    let password = PASSWORD.replace(' ', "+");
    let response = http
        .post(format!("{base}/login"))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&password={password}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok()?.split(';').next())
        .find(|c| c.starts_with("mcpist_session="))
        .expect("a session cookie")
        .to_owned()
}

/// The CSRF token of a logged-in page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
    page[at..at + 64].to_owned()
}

async fn post_token(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    csrf: &str,
    account: &str,
    link: &str,
    token: &str,
) -> reqwest::Response {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", csrf)
        .append_pair("account", account)
        .append_pair("link", link)
        .append_pair("token", token)
        .finish();
    http.post(format!("{base}/connect/github/token"))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn token_of_link(link: &str) -> String {
    url::Url::parse(link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "link")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_url_elicitation_gets_the_link_and_commands_and_misused_links_change_nothing()
 {
    let ui = start_ui().await;
    let base = ui.base.as_str();
    let client = mcpist_tests::connect(ui.server.clone()).await;
    let key = AccountKey::new("github", "new").unwrap();

    // The isError names the exact link and both commands.
    let missing = call(&client, "github_get_me", json!({"account": "new"})).await;
    assert_eq!(missing.is_error, Some(true));
    let said = text(&missing);
    let link = link_in(&said, base);
    assert!(
        link.starts_with(&format!("{base}/connect/github?account=new&link=")),
        "{said}"
    );
    for command in [
        "`mcpist login github --account new`",
        "`mcpist accounts add github --account new --token-stdin`",
        "valid 10 minutes",
    ] {
        assert!(said.contains(command), "{command} in {said}");
    }

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Without the web UI login the page shows nothing but the way to it.
    let anonymous = http.get(&link).send().await.unwrap();
    assert_eq!(anonymous.status(), 200);
    let next = anonymous.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        next.starts_with("mcpist_next=%2Fconnect%2Fgithub")
            || next.starts_with("mcpist_next=/connect/github"),
        "{next}"
    );
    let page = anonymous.text().await.unwrap();
    assert!(
        page.contains("url=/login") && !page.contains("name=\"token\""),
        "{page}"
    );

    let cookie = session(&http, base).await;
    let get = |url: String| {
        let http = http.clone();
        let cookie = cookie.clone();
        async move {
            let response = http.get(url).header("Cookie", cookie).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, page) = get(link.clone()).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Connect account &#39;new&#39; of github")
            || page.contains("Connect account 'new' of github"),
        "{page}"
    );
    assert!(page.contains("action=\"/connect/github/oauth\""), "{page}");
    let csrf = csrf_of(&page);

    // Forged, or for another account: refused, nothing stored.
    let (status, page) = get(format!(
        "{base}/connect/github?account=new&link={}",
        "ab".repeat(32)
    ))
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("not one MCPist issued"), "{page}");
    let token = token_of_link(&link);
    let (status, page) = get(format!("{base}/connect/github?account=other&link={token}")).await;
    assert_eq!(status, 400);
    assert!(
        page.contains("is for account &#39;new&#39; of github")
            || page.contains("is for account 'new' of github"),
        "{page}"
    );
    let other = post_token(
        &http,
        base,
        &cookie,
        &csrf,
        "other",
        &token,
        &canary("other"),
    )
    .await;
    assert_eq!(other.status(), 400);
    assert!(
        ui.store
            .get(&AccountKey::new("github", "other").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // Used once: the token is stored; used again: refused, the first stays.
    let first = canary("first");
    ui.fake.accept_token(&first, "octocat");
    let used = post_token(&http, base, &cookie, &csrf, "new", &token, &first).await;
    assert_eq!(used.status(), 303);
    let second = canary("second");
    ui.fake.accept_token(&second, "hubot");
    let again = post_token(&http, base, &cookie, &csrf, "new", &token, &second).await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("already used"));
    let stored = ui.store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.credential.access_token.expose_secret(), first);
    assert_eq!(get(link.clone()).await.0, 400);

    // The retry of the same call now succeeds with the new account.
    let retried = call(&client, "github_get_me", json!({"account": "new"})).await;
    assert_eq!(retried.is_error, Some(false), "{}", text(&retried));
    assert!(text(&retried).contains("octocat"));

    // A late link: refused, nothing stored.
    ui.server.connect_links().set_ttl(Duration::ZERO);
    let late = text(&call(&client, "github_get_me", json!({"account": "late"})).await);
    let late_link = link_in(&late, base);
    let (status, page) = get(late_link.clone()).await;
    assert_eq!(status, 400);
    assert!(page.contains("expired"), "{page}");
    let posted = post_token(
        &http,
        base,
        &cookie,
        &csrf,
        "late",
        &token_of_link(&late_link),
        &canary("late"),
    )
    .await;
    assert_eq!(posted.status(), 400);
    assert!(
        ui.store
            .get(&AccountKey::new("github", "late").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // An account that must be reconnected gets a link for its own label.
    ui.server
        .connect_links()
        .set_ttl(mcpist_core::connect::LINK_TTL);
    add_account(&ui, "stale", "octocat").await;
    let key = AccountKey::new("github", "stale").unwrap();
    let record = ui.store.get(&key).await.unwrap().unwrap();
    let write = mcpist_core::store::AccountWrite {
        credential: record.credential,
        identity: record.identity,
        status: mcpist_core::store::AccountStatus::NeedsReauth,
    };
    ui.store
        .put(&key, write, mcpist_core::store::Expect::Any)
        .await
        .unwrap();
    let stale = text(&call(&client, "github_get_me", json!({"account": "stale"})).await);
    assert!(stale.contains("needs to be reconnected"), "{stale}");
    let stale_link = link_in(&stale, base);
    assert!(
        stale_link.starts_with(&format!("{base}/connect/github?account=stale&link=")),
        "{stale}"
    );
    assert_eq!(get(stale_link).await.0, 200);

    // The audit records say a link was issued, never its token.
    let records = ui
        .server
        .audit()
        .query(&AuditFilter::default())
        .await
        .unwrap();
    let issued: Vec<_> = records
        .iter()
        .filter_map(|r| r.outcome.message.as_deref())
        .filter(|m| m.contains("a connect link was issued"))
        .collect();
    assert_eq!(issued.len(), 3, "{issued:?}");
    let all = format!("{records:?}");
    assert!(!all.contains(&token) && !all.contains(&token_of_link(&late_link)));

    // No secret in any answer the client got.
    for secret in [
        APP_SECRET,
        first.as_str(),
        second.as_str(),
        ui.bearer.as_str(),
    ] {
        assert!(!said.contains(secret) && !late.contains(secret));
    }
}

/// POSTs the connect page's OAuth form and returns where it sends the
/// browser (the provider's authorization URL).
async fn start_oauth(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    csrf: &str,
    link: &str,
) -> String {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", csrf)
        .append_pair("account", "new")
        .append_pair("link", link)
        .finish();
    let started = http
        .post(format!("{base}/connect/github/oauth"))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 303, "{}", started.text().await.unwrap());
    started.headers()["location"].to_str().unwrap().to_owned()
}

/// Follows an authorization URL on the fake provider back to MCPist's
/// callback: the callback's status and page.
async fn finish_oauth(http: &reqwest::Client, authorize: &str) -> (u16, String) {
    let back = http.get(authorize).send().await.unwrap();
    assert!(back.status().is_redirection(), "{}", back.status());
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    let answer = http.get(callback).send().await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// A link is used up when its account is connected, not when a login
/// starts: a denied login, an empty token, or a login abandoned at
/// the provider leave it usable; once one connects, every other login
/// started from it stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_connected_account_uses_a_link_up() {
    let ui = start_ui().await;
    let base = ui.base.as_str();
    let client = mcpist_tests::connect(ui.server.clone()).await;
    let key = AccountKey::new("github", "new").unwrap();
    let said = text(&call(&client, "github_get_me", json!({"account": "new"})).await);
    let link = link_in(&said, base);
    let token = token_of_link(&link);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = session(&http, base).await;
    let page = |http: reqwest::Client| {
        let (link, cookie) = (link.clone(), cookie.clone());
        async move {
            let response = http
                .get(link)
                .header("Cookie", cookie)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, shown) = page(http.clone()).await;
    assert_eq!(status, 200, "{shown}");
    let csrf = csrf_of(&shown);

    // The user denies at GitHub: the login fails, the link still works.
    ui.fake.oauth(|b| b.deny = true);
    let denied = start_oauth(&http, base, &cookie, &csrf, &token).await;
    let (status, answer) = finish_oauth(&http, &denied).await;
    assert_eq!(status, 400, "{answer}");
    assert!(ui.store.get(&key).await.unwrap().is_none());
    assert_eq!(
        page(http.clone()).await.0,
        200,
        "a denied login used the link"
    );

    // An empty token: refused, the link still works.
    let empty = post_token(&http, base, &cookie, &csrf, "new", &token, " ").await;
    assert_eq!(empty.status(), 303);
    assert!(ui.store.get(&key).await.unwrap().is_none());
    assert_eq!(
        page(http.clone()).await.0,
        200,
        "a refused token used the link"
    );

    // One login is abandoned at the provider, another completes.
    ui.fake.oauth(|b| b.deny = false);
    let abandoned = start_oauth(&http, base, &cookie, &csrf, &token).await;
    let completed = start_oauth(&http, base, &cookie, &csrf, &token).await;
    let (status, answer) = finish_oauth(&http, &completed).await;
    assert_eq!(status, 200, "{answer}");
    let stored = ui.store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.identity.as_deref(), Some("monalisa"));

    // The link is used up: the abandoned login, finished late, stores
    // nothing, and the page refuses the link.
    ui.fake.oauth(|b| b.login = "hubot".into());
    let (status, answer) = finish_oauth(&http, &abandoned).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("already used"), "{answer}");
    let after = ui.store.get(&key).await.unwrap().unwrap();
    assert_eq!(after.identity.as_deref(), Some("monalisa"));
    assert_eq!(
        after.credential.access_token.expose_secret(),
        stored.credential.access_token.expose_secret()
    );
    let (status, shown) = page(http.clone()).await;
    assert_eq!(status, 400);
    assert!(shown.contains("already used"), "{shown}");
    let retried = call(&client, "github_get_me", json!({"account": "new"})).await;
    assert_eq!(retried.is_error, Some(false), "{}", text(&retried));
}

/// Runs `tests/clients/connect.py` in `mode` against `ui`, follows its URL
/// elicitation in Chromium (login, OAuth on the fake GitHub) and returns
/// the elicitation and the final result it printed.
async fn connect_with_python(ui: &Ui, browser: &fantoccini::Client, mode: &str) -> (Value, Value) {
    let mut child = Command::new(python_sdk())
        .arg(client_script("connect.py"))
        .args([
            mode,
            &format!("{}/mcp", ui.base),
            "github_get_me",
            r#"{"account": "new"}"#,
        ])
        .env("SMOKE_BEARER", &ui.bearer)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let next_line = move || {
        let line = lines.next().expect("the client printed a line").unwrap();
        (serde_json::from_str::<Value>(&line).unwrap(), lines)
    };
    let (elicited, rest) = tokio::task::spawn_blocking(next_line).await.unwrap();
    assert_eq!(elicited["event"], "elicit", "{elicited}");
    let url = elicited["url"].as_str().unwrap().to_owned();

    browser.goto(&url).await.unwrap();
    // Not logged in: the page sends the browser to the login, which comes back.
    for _ in 0..100 {
        if path_of(browser).await == "/login" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    login(browser, &ui.base, PASSWORD).await;
    assert!(
        path_of(browser)
            .await
            .starts_with("/connect/github?account=new&link=")
    );
    press(
        browser,
        "form[action='/connect/github/oauth'] button[type=submit]",
    )
    .await;
    let mut landed = String::new();
    for _ in 0..100 {
        landed = path_of(browser).await;
        if landed.starts_with("/?connected=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(landed, "/?connected=github%2Fnew");

    // 2025-11-25: the client is told (on its session's stream) that its
    // elicitation is complete; 2026-07-28 has no such notification.
    let mut rest = rest;
    if mode == "legacy" {
        let (complete, lines) = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::task::spawn_blocking(move || {
                let line = rest.next().expect("the client printed a line").unwrap();
                (serde_json::from_str::<Value>(&line).unwrap(), rest)
            }),
        )
        .await
        .expect("notifications/elicitation/complete reached the client")
        .unwrap();
        rest = lines;
        assert_eq!(complete["event"], "complete", "{complete}");
        assert_eq!(
            complete["elicitation_id"], elicited["elicitation_id"],
            "{complete}"
        );
    }
    child.stdin.as_mut().unwrap().write_all(b"done\n").unwrap();
    let result = tokio::task::spawn_blocking(move || {
        let line = rest.next().expect("the client printed its result").unwrap();
        serde_json::from_str::<Value>(&line).unwrap()
    })
    .await
    .unwrap();
    assert!(child.wait().unwrap().success());
    (elicited, result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_follows_a_url_elicitation_through_oauth_in_chromium_at_both_versions() {
    let (_driver, browser) = start_browser().await;
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let ui = start_ui().await;
        let (elicited, result) = connect_with_python(&ui, &browser, mode).await;
        let url = elicited["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/connect/github?account=new&link=", ui.base)),
            "{elicited}"
        );
        assert_eq!(result["protocol"], protocol, "{result}");
        assert_eq!(result["elicited"], 1, "{result}");
        assert_eq!(result["is_error"], false, "{result}");
        assert!(
            result["text"].as_str().unwrap().contains("monalisa"),
            "{result}"
        );

        // The audit log shows the connect and the call, as account 'new'.
        let entries = ui
            .server
            .audit()
            .query(&AuditFilter {
                account: Some("new".into()),
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        let kinds: Vec<_> = entries
            .iter()
            .map(|e| (e.event.kind, e.outcome.outcome))
            .collect();
        assert!(
            kinds.contains(&(AuditKind::Login, Outcome::Ok)),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&(AuditKind::ToolCall, Outcome::NoAccount)),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&(AuditKind::ToolCall, Outcome::Ok)),
            "{kinds:?}"
        );
        assert!(!result.to_string().contains(APP_SECRET));
        let _: &dyn AuditSink = ui.server.audit().as_ref();
    }
    browser.close().await.unwrap();
}

/// Stores a GitHub token as `label`, known upstream as `login`.
async fn add_account(ui: &Ui, label: &str, login: &str) {
    let token = canary(label);
    ui.fake.accept_token(&token, login);
    let write = mcpist_core::store::AccountWrite {
        credential: mcpist_core::store::Credential::static_token(SecretString::from(token))
            .unwrap(),
        identity: Some(login.to_owned()),
        status: mcpist_core::store::AccountStatus::Ok,
    };
    let key = AccountKey::new("github", label).unwrap();
    ui.store
        .put(&key, write, mcpist_core::store::Expect::Any)
        .await
        .unwrap();
}

/// Runs `tests/clients/connect.py` to its end (no URL elicitation expected)
/// and returns every line it printed.
fn python_lines(ui: &Ui, mode: &str, args: &str, pick: Option<&str>) -> Vec<Value> {
    let mut command = Command::new(python_sdk());
    command
        .arg(client_script("connect.py"))
        .args([mode, &format!("{}/mcp", ui.base), "github_get_me", args])
        .env("SMOKE_BEARER", &ui.bearer)
        .env_remove("PICK")
        .stdin(Stdio::null());
    if let Some(pick) = pick {
        command.env("PICK", pick);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn which_account_is_asked_with_a_form_at_both_versions_and_serves_that_call_only() {
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let ui = start_ui().await;
        add_account(&ui, "work", "octocat").await;
        add_account(&ui, "home", "hubot").await;
        let ui_ref = &ui;
        let lines = tokio::task::block_in_place(|| python_lines(ui_ref, mode, "{}", Some("home")));
        let [form, result] = lines.as_slice() else {
            panic!("a form, then the result: {lines:?}")
        };
        assert_eq!(form["event"], "form", "{form}");
        let choices = &form["schema"]["properties"]["account"]["oneOf"];
        assert_eq!(
            choices,
            &json!([
                {"const": "home", "title": "home (hubot)"},
                {"const": "work", "title": "work (octocat)"},
            ]),
            "{form}"
        );
        assert_eq!(result["protocol"], protocol, "{result}");
        assert_eq!(result["is_error"], false, "{result}");
        assert!(
            result["text"].as_str().unwrap().contains("hubot"),
            "{result}"
        );

        // Declined: today's error listing the labels; nothing was remembered.
        let lines = tokio::task::block_in_place(|| python_lines(ui_ref, mode, "{}", None));
        let result = lines.last().unwrap();
        assert_eq!(lines[0]["event"], "form", "{lines:?}");
        assert_eq!(result["is_error"], true, "{result}");
        let said = result["text"].as_str().unwrap();
        assert!(
            said.contains("several accounts")
                && (said.contains("home, work") || said.contains("work, home")),
            "{said}"
        );
        assert!(
            ui.store.list().await.unwrap().iter().all(|a| !a.is_default),
            "no default was set"
        );
    }

    // A client without form elicitation gets the error at once.
    let ui = start_ui().await;
    add_account(&ui, "work", "octocat").await;
    add_account(&ui, "home", "hubot").await;
    let client = mcpist_tests::connect(ui.server.clone()).await;
    let plain = call(&client, "github_get_me", json!({})).await;
    assert_eq!(plain.is_error, Some(true));
    assert!(
        text(&plain).contains("pass `account` as one of"),
        "{}",
        text(&plain)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_ui_policy_change_reaches_a_2026_client_listening_on_subscriptions_listen() {
    let ui = start_ui().await;
    let mut child = Command::new(python_sdk())
        .arg(client_script("listen.py"))
        .arg(format!("{}/mcp", ui.base))
        .env("SMOKE_BEARER", &ui.bearer)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (listening, mut lines) = tokio::task::spawn_blocking(move || {
        let line = lines.next().expect("the client printed a line").unwrap();
        (serde_json::from_str::<Value>(&line).unwrap(), lines)
    })
    .await
    .unwrap();
    assert_eq!(listening["event"], "listening", "{listening}");
    assert_eq!(listening["protocol"], "2026-07-28");
    // tools/list: sorted by name, private to this server's policy, fresh for 30 s.
    let tools: Vec<&str> = listening["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tools.contains(&"github_get_me"), "{listening}");
    assert!(tools.is_sorted(), "{tools:?}");
    assert_eq!(listening["ttl_ms"], 30_000, "{listening}");
    assert_eq!(listening["cache_scope"], "private", "{listening}");

    // Switch GitHub off in the web UI, as a user would.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = session(&http, &ui.base).await;
    let page = http
        .get(format!("{}/policy/github", ui.base))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let saved = http
        .post(format!("{}/policy/github", ui.base))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", csrf_of(&page)))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);

    let changed = tokio::task::spawn_blocking(move || {
        let line = lines.next().expect("the client saw the change").unwrap();
        serde_json::from_str::<Value>(&line).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(changed["event"], "changed", "{changed}");
    assert_eq!(changed["tools"], json!([]), "{changed}");
    assert!(child.wait().unwrap().success());
}

/// A `subscriptions/listen` stream stays open for as long as the client
/// listens: it must not hold one of the slots that bound concurrent tool
/// calls, or a few listening clients would stop every call.
#[tokio::test(flavor = "multi_thread")]
async fn a_listening_client_holds_no_call_slot() {
    let ui = start_ui_with(|options| options.max_concurrent_requests = 1).await;
    let mut listener = Command::new(python_sdk())
        .arg(client_script("listen.py"))
        .arg(format!("{}/mcp", ui.base))
        .env("SMOKE_BEARER", &ui.bearer)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(listener.stdout.take().unwrap()).lines();
    let listening = tokio::task::spawn_blocking(move || {
        serde_json::from_str::<Value>(&lines.next().expect("the client listens").unwrap()).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(listening["event"], "listening", "{listening}");

    // The one slot is free: a 2026-07-28 call is answered while the stream is open.
    let mut caller = Command::new(python_sdk());
    caller
        .arg(client_script("smoke.py"))
        .args(["auto", &format!("{}/mcp", ui.base), "github_get_me"])
        .env("SMOKE_BEARER", &ui.bearer);
    let answered = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || caller.output().unwrap()),
    )
    .await
    .expect("the call is answered while a client listens")
    .unwrap();
    let _ = listener.kill();
    let _ = listener.wait();
    assert!(
        answered.status.success(),
        "{}",
        String::from_utf8_lossy(&answered.stderr)
    );
    let seen: Value = serde_json::from_slice(&answered.stdout).unwrap();
    assert_eq!(seen["protocol"], "2026-07-28", "{seen}");
    assert!(
        seen["text"].as_str().unwrap().contains("/connect/github"),
        "the call was served (no account yet: its connect link): {seen}"
    );
}

/// `max_concurrent_requests` bounds the tool calls that run at once, for
/// the whole call, not only until the response's headers are sent (an SSE
/// answer's headers come before the tool has run).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_beyond_the_bound_wait_for_a_slot() {
    let ui = start_ui_with(|options| options.max_concurrent_requests = 1).await;
    add_account(&ui, "work", "octocat").await;
    let started = std::time::Instant::now();
    // 2025-11-25 calls: their answers are event streams, whose headers are
    // sent before the tool has run.
    let callers: Vec<_> = ["legacy", "legacy"]
        .into_iter()
        .map(|mode| {
            let mut caller = Command::new(python_sdk());
            caller
                .arg(client_script("smoke.py"))
                .args([mode, &format!("{}/mcp", ui.base), "github_list_issues"])
                .arg(r#"{"owner": "slow", "repo": "x"}"#)
                .env("SMOKE_BEARER", &ui.bearer);
            tokio::task::spawn_blocking(move || caller.output().unwrap())
        })
        .collect();
    for caller in callers {
        let out = caller.await.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The fake answers `slow` after 3 s: one call at a time takes twice that.
    assert!(
        started.elapsed() >= Duration::from_secs(6),
        "two calls ran at once with one slot: {:?}",
        started.elapsed()
    );
}
