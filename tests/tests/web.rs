//! The web UI end to end in headless Chromium (Debian's `chromium` and
//! `chromedriver`, which `.ci/run` installs), driven over WebDriver, against
//! MCPist's real HTTP app on loopback with the SQLite store and the fake
//! GitHub (API and OAuth provider). Screenshots of the main pages land in
//! `target/tmp/ui-screenshots/`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use fantoccini::{Client, Locator};
use mcpist_core::{
    AuditSink, Exchanger, McpServer, Registration, ServicePolicy, SqliteStore, TokenStore,
    audit::{AuditFilter, AuditKind, Outcome},
    http::{BEARER_SECRET, BearerDigest, ClientAuth, HttpOptions},
    seal::MasterKey,
    store::AccountKey,
};
use mcpist_tests::browser::{login, path_of, press, start_browser, submit};
// Naming the crate keeps its `inventory` registrations linked in.
use mcpist_connectors as _;
use mcpist_connectors::github::fake::FakeGithub;
use mcpist_tests::canary;
use mcpist_web::WebOptions;
use secrecy::SecretString;
use serde_json::json;

const PASSWORD: &str = "correct horse battery staple";
const APP_SECRET: &str = "app-secret-CANARY-0f3b9c";

struct Ui {
    base: String,
    bearer: String,
    fake: FakeGithub,
    server: McpServer,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

async fn start_ui() -> Ui {
    let fake = FakeGithub::start().await;
    fake.register_app("Iv1.webapp", APP_SECRET);
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
        .with_oauth("github", github.oauth().unwrap());
    let server = McpServer::builder(exchanger, store.clone())
        .connector(github, ServicePolicy::default())
        .build()
        .unwrap();
    mcpist_web::set_password(store.as_ref(), &SecretString::from(PASSWORD))
        .await
        .unwrap();
    let bearer_text = canary("bearer");
    let bearer = SecretString::from(bearer_text.clone());
    store.put_secret(BEARER_SECRET, &bearer).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let options = HttpOptions::loopback(ClientAuth::Bearer(BearerDigest::of(&bearer)));
    let mut web_options = WebOptions::new(base.clone());
    // As if the config file had `[prompts.review]`.
    web_options.configured_prompts = ["review".to_owned()].into();
    let web = mcpist_web::routes(server.clone(), web_options);
    let app = mcpist_core::http::router_with(server.clone(), options, web);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Ui {
        base,
        bearer: bearer_text,
        fake,
        server,
        store,
        _dir: dir,
    }
}

/// Every page the test saw, to scan for secrets at the end.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    async fn page(&mut self, browser: &Client) -> String {
        let url = browser.current_url().await.unwrap().to_string();
        let source = browser.source().await.unwrap();
        self.0.push((url, source.clone()));
        source
    }
}

async fn screenshot(browser: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Waits until the OAuth round trip has brought the browser back to `/`.
async fn landed_home(browser: &Client) -> String {
    let mut landed = String::new();
    for _ in 0..100 {
        landed = path_of(browser).await;
        if landed.starts_with("/?connected=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    landed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_manages_accounts_apps_and_policy_in_a_real_browser() {
    let ui = start_ui().await;
    let (_driver, browser) = start_browser().await;
    let mut seen = Seen::default();
    let base = ui.base.as_str();

    // A logged-out visit goes to the login page; a wrong password is refused.
    browser.goto(&format!("{base}/audit")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/login");
    login(&browser, base, "not the password").await;
    let page = seen.page(&browser).await;
    assert!(page.contains("Wrong password."), "{page}");
    screenshot(&browser, "01-login").await;

    login(&browser, base, PASSWORD).await;
    assert_eq!(path_of(&browser).await, "/");
    assert!(seen.page(&browser).await.contains("No account yet."));

    // Paste a token: listed with the identity the upstream confirmed, masked.
    let token = canary("webui");
    ui.fake.accept_token(&token, "octocat");
    browser
        .goto(&format!("{base}/accounts/new?service=github"))
        .await
        .unwrap();
    screenshot(&browser, "02-add-token").await;
    let account = browser.find(Locator::Id("account")).await.unwrap();
    account.clear().await.unwrap();
    account.send_keys("work").await.unwrap();
    browser
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    submit(&browser, "form[action='/accounts']").await;
    assert_eq!(path_of(&browser).await, "/");
    let page = seen.page(&browser).await;
    assert!(
        page.contains("Added account 'work' of github, signed in upstream as octocat."),
        "{page}"
    );
    let hint = format!("{}…{}", &token[..4], &token[token.len() - 4..]);
    assert!(page.contains(&hint), "the masked hint {hint} is shown");

    // OAuth: the app first, then connect through the provider and come back.
    browser.goto(&format!("{base}/apps")).await.unwrap();
    let page = seen.page(&browser).await;
    assert!(
        page.contains(&format!("{base}/oauth/callback/github")),
        "redirect URI shown"
    );
    browser
        .find(Locator::Id("id-github"))
        .await
        .unwrap()
        .send_keys("Iv1.webapp")
        .await
        .unwrap();
    browser
        .find(Locator::Id("secret-github"))
        .await
        .unwrap()
        .send_keys(APP_SECRET)
        .await
        .unwrap();
    submit(&browser, "form[action='/apps/github']").await;
    let page = seen.page(&browser).await;
    assert!(page.contains("Saved the OAuth app of github."), "{page}");
    assert!(page.contains("set (never shown)"));
    screenshot(&browser, "03-oauth-apps").await;

    browser.goto(&format!("{base}/")).await.unwrap();
    let label = browser.find(Locator::Id("connect-github")).await.unwrap();
    label.clear().await.unwrap();
    label.send_keys("personal").await.unwrap();
    submit(&browser, "form[action='/connect/github']").await;
    // The provider approves at once; the callback page sends the browser home.
    assert_eq!(landed_home(&browser).await, "/?connected=github%2Fpersonal");
    let page = seen.page(&browser).await;
    assert!(
        page.contains("Connected account 'personal' of github."),
        "{page}"
    );
    assert!(page.contains("monalisa"), "the OAuth identity is listed");
    let personal = ui
        .store
        .get(&AccountKey::new("github", "personal").unwrap())
        .await
        .unwrap()
        .expect("the OAuth grant is stored");
    assert_eq!(personal.identity.as_deref(), Some("monalisa"));
    // GitHub lists granted scopes with commas, not spaces.
    assert_eq!(personal.credential.scopes, ["repo", "read:user"]);
    screenshot(&browser, "04-services").await;
    // An OAuth account can be connected again under its label (after needs_reauth).
    let logins_before = ui.fake.token_requests();
    // Home has the same address before and after: wait for the page to go.
    press(&browser, "button[aria-label='Reconnect personal']").await;
    assert_eq!(landed_home(&browser).await, "/?connected=github%2Fpersonal");
    assert_eq!(ui.fake.token_requests(), logins_before + 1, "a new grant");
    let personal = ui
        .store
        .get(&AccountKey::new("github", "personal").unwrap())
        .await
        .unwrap()
        .unwrap();

    // Policy: read-only and one tool switched off change tools/list at once.
    let client = mcpist_tests::connect(ui.server.clone()).await;
    let before = client.list_all_tools().await.unwrap();
    assert!(before.iter().any(|t| t.name == "github_create_issue"));
    browser
        .goto(&format!("{base}/policy/github"))
        .await
        .unwrap();
    browser
        .find(Locator::Css("input[name=read_only]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .find(Locator::Css("input[name=tool][value=github_search_code]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit(&browser, "form[action='/policy/github']").await;
    let page = seen.page(&browser).await;
    assert!(page.contains("Saved the policy of github"), "{page}");
    screenshot(&browser, "05-policy").await;

    // A prompt typed into the prompts page is saved in the store.
    browser.goto(&format!("{base}/prompts")).await.unwrap();
    for (id, value) in [
        ("prompt-name", "triage"),
        ("prompt-arguments", "repo, label:optional"),
        ("prompt-text", "Triage the open issues of {{repo}}"),
    ] {
        browser
            .find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    submit(&browser, "form[action='/prompts']").await;
    let page = seen.page(&browser).await;
    assert!(page.contains("Saved the prompt my_triage"), "{page}");
    screenshot(&browser, "05b-prompts").await;
    let prompts = mcpist_core::prompts::load_saved(ui.store.as_ref())
        .await
        .unwrap();
    assert_eq!(prompts["triage"].text, "Triage the open issues of {{repo}}");
    assert_eq!(prompts["triage"].arguments.len(), 2);
    let after = client.list_all_tools().await.unwrap();
    assert!(after.len() < before.len());
    assert!(!after.iter().any(|t| t.name == "github_create_issue"));
    assert!(!after.iter().any(|t| t.name == "github_search_code"));
    assert!(after.iter().any(|t| t.name == "github_get_issue"));
    let saved = mcpist_core::policy::load_saved(ui.store.as_ref(), "github")
        .await
        .unwrap()
        .expect("the policy is saved in the store");
    assert!(saved.read_only);
    assert_eq!(saved.deny, ["github_search_code"]);

    // Remove an account, after a confirmation page.
    browser
        .goto(&format!("{base}/accounts/github/personal/remove"))
        .await
        .unwrap();
    assert!(seen.page(&browser).await.contains("Remove account"));
    submit(&browser, "form[action='/accounts/github/personal/remove']").await;
    assert!(
        seen.page(&browser)
            .await
            .contains("Removed account 'personal' of github")
    );
    let left: Vec<String> = ui
        .store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.account)
        .collect();
    assert_eq!(left, ["work"]);

    // A POST without its CSRF token changes nothing, even with the session cookie.
    let cookie = browser.get_named_cookie("mcpist_session").await.unwrap();
    let forged = reqwest::Client::new()
        .post(format!("{base}/accounts/github/work/remove"))
        .header("Cookie", format!("mcpist_session={}", cookie.value()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("confirm=yes")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(ui.store.list().await.unwrap().len(), 1, "nothing removed");

    // The audit log page lists what happened; the clients page shows configs.
    browser.goto(&format!("{base}/audit")).await.unwrap();
    let page = seen.page(&browser).await;
    for kind in [
        "account_add",
        "app_set",
        "login",
        "policy_set",
        "account_remove",
        "ui_login",
    ] {
        assert!(page.contains(kind), "audit page lists {kind}");
    }
    screenshot(&browser, "06-audit").await;
    browser
        .goto(&format!("{base}/audit?outcome=denied"))
        .await
        .unwrap();
    let page = seen.page(&browser).await;
    assert!(page.contains("ui_login") && !page.contains("account_add"));
    let bearer = ui.bearer.clone();
    browser.goto(&format!("{base}/clients")).await.unwrap();
    let page = seen.page(&browser).await;
    assert!(page.contains("Claude Desktop") && page.contains("VS Code"));
    assert!(page.contains(&format!("{base}/mcp")));
    assert!(
        !page.contains(&bearer),
        "the bearer waits for an explicit request"
    );
    screenshot(&browser, "07-clients").await;
    // The session alone does not show the bearer: the password does.
    browser
        .find(Locator::Css("form[action='/clients'] input[name=password]"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    submit(&browser, "form[action='/clients']").await;
    // Not kept in `seen`: this page shows the bearer on purpose.
    let revealed = browser.source().await.unwrap();
    assert!(revealed.contains(&format!("Bearer {bearer}")));

    // A phone-sized window still reads.
    browser.set_window_size(390, 844).await.unwrap();
    browser.goto(&format!("{base}/")).await.unwrap();
    screenshot(&browser, "08-services-phone").await;
    browser.set_window_size(1280, 900).await.unwrap();

    // Log out: the next visit is sent to the login page again.
    submit(&browser, "form[action='/logout']").await;
    assert_eq!(path_of(&browser).await, "/login");
    browser.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/login");

    // No secret appeared in any page.
    let refresh = personal.credential.refresh_token.unwrap();
    let access = personal.credential.access_token;
    use secrecy::ExposeSecret;
    for (url, source) in &seen.0 {
        for secret in [
            token.as_str(),
            APP_SECRET,
            PASSWORD,
            access.expose_secret(),
            refresh.expose_secret(),
        ] {
            assert!(!source.contains(secret), "{url} shows a secret");
        }
    }
    let logins = ui
        .store
        .query(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.kind == AuditKind::UiLogin)
        .count();
    assert_eq!(
        logins, 3,
        "one wrong and one right login, one password to show the bearer"
    );
    browser.close().await.unwrap();
}

/// Counts `notifications/tools/list_changed`.
#[derive(Clone, Default)]
struct ListWatcher(Arc<tokio::sync::Notify>);

impl rmcp::ClientHandler for ListWatcher {
    async fn on_tool_list_changed(
        &self,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.0.notify_one();
    }
}

#[tokio::test]
async fn a_policy_change_tells_open_sessions_their_tool_list_changed() {
    let ui = start_ui().await;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = ui.server.clone();
    tokio::spawn(async move {
        use rmcp::ServiceExt;
        let running = server.serve(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let watcher = ListWatcher::default();
    let client = {
        use rmcp::ServiceExt;
        watcher.clone().serve(client_io).await.unwrap()
    };
    let before = client.list_all_tools().await.unwrap().len();
    let policy = ServicePolicy {
        toolsets: Some(vec!["issues".into()]),
        ..ServicePolicy::default()
    };
    ui.server.set_policy("github", policy).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), watcher.0.notified())
        .await
        .expect("the session is told");
    let after = client.list_all_tools().await.unwrap();
    assert!(after.len() < before);
    assert!(
        after
            .iter()
            .all(|t| t.name.contains("issue") || t.name == mcpist_core::batch::BATCH),
        "{after:?}"
    );
    assert!(
        ui.server
            .set_policy("nope", ServicePolicy::default())
            .await
            .is_err()
    );
}

/// The login form's CSRF token and its cookie, fetched like a browser would.
async fn login_form(http: &reqwest::Client, base: &str) -> (String, String) {
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let body = page.text().await.unwrap();
    let at = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    let token = body[at..at + 64].to_owned();
    (cookie, token)
}

#[tokio::test]
async fn wrong_passwords_are_rate_limited_and_logins_need_their_form_token() {
    let ui = start_ui().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |cookie: String, body: String| {
        http.post(format!("{}/login", ui.base))
            .header("Cookie", cookie)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    // Without the form's token (or with another one) even the right password fails.
    let (cookie, _) = login_form(&http, &ui.base).await;
    let forged = post(cookie, format!("csrf=00&password={PASSWORD}"))
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    for _ in 0..5 {
        let (cookie, token) = login_form(&http, &ui.base).await;
        let wrong = post(cookie, format!("csrf={token}&password=guess"))
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
    }
    let (cookie, token) = login_form(&http, &ui.base).await;
    let locked = post(
        cookie.clone(),
        format!("csrf={token}&password={}", PASSWORD.replace(' ', "+")),
    )
    .await
    .unwrap();
    assert_eq!(locked.status(), 429);
    assert!(locked_out_changes_nothing(&ui, &cookie, &locked).await);
    assert!(
        locked
            .text()
            .await
            .unwrap()
            .contains("Too many wrong passwords")
    );
}

/// The locked-out login `answer` (sent with the form's `cookie`) created no
/// session: it set no session cookie, the browser holding every cookie it
/// has is still sent to the login page, and no successful login was audited.
/// Checked with the attempt's own cookies, so it fails if a refused login
/// signed the browser in anyway.
async fn locked_out_changes_nothing(ui: &Ui, cookie: &str, answer: &reqwest::Response) -> bool {
    let set: Vec<String> = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .collect();
    if set.iter().any(|c| c.starts_with("mcpist_session=")) {
        return false;
    }
    let jar = std::iter::once(cookie.to_owned())
        .chain(set)
        .collect::<Vec<_>>()
        .join("; ");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let home = http
        .get(format!("{}/", ui.base))
        .header("Cookie", jar)
        .send()
        .await
        .unwrap();
    let signed_in = ui
        .server
        .audit()
        .query(&AuditFilter::default())
        .await
        .unwrap()
        .iter()
        .any(|e| e.event.kind == AuditKind::UiLogin && e.outcome.outcome == Outcome::Ok);
    home.status() == 303 && home.headers()["location"] == "/login" && !signed_in
}

#[tokio::test]
async fn ui_responses_forbid_framing_caching_and_sniffing() {
    let ui = start_ui().await;
    let response = reqwest::get(format!("{}/login", ui.base)).await.unwrap();
    let headers = response.headers();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // A foreign Host is refused before the UI sees the request.
    let addr: SocketAddr = ui.base.trim_start_matches("http://").parse().unwrap();
    let foreign = reqwest::Client::new()
        .get(format!("http://{addr}/login"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_concurrent_wrong_passwords_get_five_verdicts_and_a_new_password_ends_the_lockout() {
    let ui = start_ui().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // One form serves every attempt: its token is a double-submit cookie.
    let (cookie, token) = login_form(&http, &ui.base).await;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..40 {
        let request = http
            .post(format!("{}/login", ui.base))
            .header("Cookie", cookie.clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("csrf={token}&password=guess-{i}"));
        attempts.spawn(async move {
            let answer = request.send().await.unwrap();
            (answer.status().as_u16(), answer.text().await.unwrap())
        });
    }
    let mut statuses = Vec::new();
    while let Some(answer) = attempts.join_next().await {
        let (status, page) = answer.unwrap();
        if status == 429 {
            assert!(page.contains("Setting a new password"), "{page}");
        }
        statuses.push(status);
    }
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(wrong, 5, "{statuses:?}");
    assert_eq!(refused, 35, "{statuses:?}");
    let checked = ui
        .server
        .audit()
        .query(&AuditFilter::default())
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event.kind == AuditKind::UiLogin)
        .count();
    assert_eq!(checked, 5, "only five passwords were verified");

    // Locked out, even with the right password...
    let (cookie, token) = login_form(&http, &ui.base).await;
    let right = format!("csrf={token}&password={}", PASSWORD.replace(' ', "+"));
    let locked = http
        .post(format!("{}/login", ui.base))
        .header("Cookie", cookie.clone())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(right)
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), 429);
    assert!(locked_out_changes_nothing(&ui, &cookie, &locked).await);
    // ...until the owner sets a password where the server runs.
    let new = "a brand new passphrase, long";
    mcpist_web::set_password(ui.store.as_ref(), &SecretString::from(new))
        .await
        .unwrap();
    let back_in = http
        .post(format!("{}/login", ui.base))
        .header("Cookie", cookie.clone())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&password={}", new.replace(' ', "+")))
        .send()
        .await
        .unwrap();
    assert_eq!(back_in.status(), 303, "the new password logs in at once");
    // The lockout check sees a login that did sign in: it can fail.
    assert!(!locked_out_changes_nothing(&ui, &cookie, &back_in).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_alone_cannot_reveal_the_bearer_and_plain_http_sessions_are_short() {
    let ui = start_ui().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (cookie, token) = login_form(&http, &ui.base).await;
    let logged_in = http
        .post(format!("{}/login", ui.base))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={token}&password={}",
            PASSWORD.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(logged_in.status(), 303);
    let set_cookie = logged_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("mcpist_session="))
        .unwrap();
    // On plain http the browser forgets the session after 12 hours at most.
    assert!(set_cookie.contains("Max-Age=43200"), "{set_cookie}");
    let session = set_cookie.split(';').next().unwrap().to_owned();

    let page = http
        .get(format!("{}/clients", ui.base))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=\"password\""), "the form asks for it");
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[at..at + 64].to_owned();
    let reveal = |form: String| {
        http.post(format!("{}/clients", ui.base))
            .header("Cookie", &session)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    for form in [
        format!("csrf={csrf}"),
        format!("csrf={csrf}&password=not+the+password"),
    ] {
        let refused = reveal(form.clone()).await.unwrap();
        assert_eq!(refused.status(), 401, "{form}");
        let page = refused.text().await.unwrap();
        assert!(!page.contains(&ui.bearer), "{form} revealed the bearer");
        assert!(page.contains("Wrong password"), "{page}");
    }
    let shown = reveal(format!(
        "csrf={csrf}&password={}",
        PASSWORD.replace(' ', "+")
    ))
    .await
    .unwrap();
    assert_eq!(shown.status(), 200);
    assert!(
        shown
            .text()
            .await
            .unwrap()
            .contains(&format!("Bearer {}", ui.bearer))
    );
    let denied = ui
        .server
        .audit()
        .query(&AuditFilter::default())
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event.kind == AuditKind::UiLogin && e.outcome.outcome == Outcome::Denied)
        .count();
    assert_eq!(denied, 2, "each wrong password is counted and audited");
}

/// Signs in with the password, without a browser; returns the session cookie.
async fn session_of(http: &reqwest::Client, base: &str) -> String {
    let (cookie, token) = login_form(http, base).await;
    let answer = http
        .post(format!("{base}/login"))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={token}&password={}",
            PASSWORD.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("mcpist_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

// The callback route outlives the login (it is the web UI's own route), so a
// replay reaches it: the same state and code must be refused, with no second
// code exchange and no second write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_oauth_callback_is_refused_and_changes_nothing() {
    let ui = start_ui().await;
    mcpist_core::oauth::AppCredentials {
        client_id: "Iv1.webapp".into(),
        client_secret: Some(SecretString::from(APP_SECRET)),
    }
    .save(ui.store.as_ref(), "github")
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let session = session_of(&http, &ui.base).await;
    let home = http
        .get(format!("{}/", ui.base))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = home.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = home[at..at + 64].to_owned();
    let started = http
        .post(format!("{}/connect/github", ui.base))
        .header("Cookie", &session)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&account=personal"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 303);
    let authorize = started.headers()["location"].to_str().unwrap().to_owned();
    assert!(authorize.starts_with(&ui.fake.base_url().replace("/api/v3", "")));
    let approved = http.get(&authorize).send().await.unwrap();
    let callback = approved.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with(&format!("{}/oauth/callback/github?", ui.base)));

    let first = http.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.text().await.unwrap().contains("Connected"));
    let key = AccountKey::new("github", "personal").unwrap();
    let stored = ui.store.get(&key).await.unwrap().expect("the grant");
    assert_eq!(ui.fake.token_requests(), 1);
    let logins = |records: Vec<mcpist_core::audit::AuditEntry>| {
        records
            .into_iter()
            .filter(|r| r.event.kind == AuditKind::Login)
            .count()
    };
    let audited = logins(
        ui.server
            .audit()
            .query(&AuditFilter::default())
            .await
            .unwrap(),
    );

    let replay = http.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    let page = replay.text().await.unwrap();
    assert!(page.contains("Login failed"), "{page}");
    assert_eq!(ui.fake.token_requests(), 1, "no second code exchange");
    let after = ui.store.get(&key).await.unwrap().unwrap();
    assert_eq!(after.version, stored.version, "no second write");
    assert_eq!(
        logins(
            ui.server
                .audit()
                .query(&AuditFilter::default())
                .await
                .unwrap()
        ),
        audited
    );
}

/// The bytes of every store file but SQLite's shared-memory index (which
/// readers touch), to prove a refused request changed nothing on disk.
fn store_files(ui: &Ui) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(ui._dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with("-shm"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// The CSRF token on the home page of `session`.
async fn csrf_of(http: &reqwest::Client, base: &str, session: &str) -> String {
    let home = http
        .get(format!("{base}/"))
        .header("Cookie", session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = home.find("name=\"csrf\" value=\"").unwrap() + 19;
    home[at..at + 64].to_owned()
}

// Every state-changing route refuses a form without a token, with another
// session's token, and a cross-origin post carrying the right one; none of
// them changes a byte of the store or ends the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_changing_route_refuses_forged_and_cross_origin_forms() {
    use mcpist_core::store::{AccountStatus, AccountWrite, Credential, CredentialKind, Expect};
    let ui = start_ui().await;
    ui.store
        .put(
            &AccountKey::new("github", "work").unwrap(),
            AccountWrite {
                credential: Credential {
                    kind: CredentialKind::Static,
                    access_token: SecretString::from(canary("at")),
                    refresh_token: None,
                    expires_at: None,
                    scopes: vec![],
                },
                identity: Some("octocat".into()),
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mine = session_of(&http, &ui.base).await;
    let theirs = session_of(&http, &ui.base).await;
    let my_csrf = csrf_of(&http, &ui.base, &mine).await;
    let their_csrf = csrf_of(&http, &ui.base, &theirs).await;
    assert_ne!(my_csrf, their_csrf, "each session has its own token");
    let routes = [
        ("/logout", String::new()),
        (
            "/accounts",
            format!("service=github&account=new&token={}", canary("pasted")),
        ),
        ("/accounts/github/work/default", String::new()),
        ("/accounts/github/work/remove", String::new()),
        ("/connect/github", "account=other".to_owned()),
        (
            "/apps/github",
            "client_id=Iv1.forged&client_secret=forged-secret".to_owned(),
        ),
        ("/policy/github", "read_only=on".to_owned()),
        ("/prompts", "name=forged&text=forged".to_owned()),
        ("/prompts/kept/remove", String::new()),
        (
            "/clients",
            format!("password={}", PASSWORD.replace(' ', "+")),
        ),
    ];
    mcpist_core::prompts::save(
        ui.store.as_ref(),
        ui.store.as_ref(),
        "kept",
        mcpist_core::prompts::UserPrompt {
            description: String::new(),
            text: "kept".into(),
            arguments: Vec::new(),
        },
        false,
    )
    .await
    .unwrap();
    let before = store_files(&ui);
    for (route, fields) in &routes {
        let sep = if fields.is_empty() { "" } else { "&" };
        let forged = [
            ("no token", fields.clone(), None),
            (
                "another session's token",
                format!("csrf={their_csrf}{sep}{fields}"),
                None,
            ),
            (
                "a cross-origin post",
                format!("csrf={my_csrf}{sep}{fields}"),
                Some("https://evil.example"),
            ),
        ];
        for (what, body, origin) in forged {
            let mut request = http
                .post(format!("{}{route}", ui.base))
                .header("Cookie", &mine)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body);
            if let Some(origin) = origin {
                request = request.header("Origin", origin);
            }
            let answer = request.send().await.unwrap();
            assert_eq!(answer.status(), 403, "{route} with {what}");
            let page = answer.text().await.unwrap();
            assert!(
                !page.contains(&ui.bearer),
                "{route} with {what} showed the bearer"
            );
        }
    }
    assert!(
        store_files(&ui) == before,
        "a refused form changed the store"
    );
    assert_eq!(ui.fake.token_requests(), 0);
    // The session survived every forged logout.
    let home = http
        .get(format!("{}/", ui.base))
        .header("Cookie", &mine)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    // And the real form, from its own session and origin, does work.
    let removed = http
        .post(format!("{}/accounts/github/work/remove", ui.base))
        .header("Cookie", &mine)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={my_csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 303);
    assert!(
        ui.store
            .get(&AccountKey::new("github", "work").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

// Text that reaches the pages from elsewhere (an identity the provider
// returned, a tool name a client sent, an audit message, a provider's OAuth
// error) is rendered as text: never as markup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_identities_audit_messages_and_oauth_errors_render_as_text() {
    use mcpist_core::audit::{AuditEvent, AuditOutcome};
    use mcpist_core::store::{AccountStatus, AccountWrite, Credential, CredentialKind, Expect};
    const HOSTILE: &str = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>";
    let ui = start_ui().await;
    ui.store
        .put(
            &AccountKey::new("github", "work").unwrap(),
            AccountWrite {
                credential: Credential {
                    kind: CredentialKind::Static,
                    access_token: SecretString::from(canary("at")),
                    refresh_token: None,
                    expires_at: None,
                    scopes: vec![HOSTILE.into()],
                },
                identity: Some(HOSTILE.into()),
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
    let mut event = AuditEvent::now(AuditKind::ToolCall)
        .service("github")
        .account("work");
    event.tool = Some(HOSTILE.into());
    ui.store
        .record(
            event,
            AuditOutcome::of(Outcome::Failed).message(format!("upstream said {HOSTILE}")),
        )
        .await
        .unwrap();
    mcpist_core::oauth::AppCredentials {
        client_id: "Iv1.webapp".into(),
        client_secret: Some(SecretString::from(APP_SECRET)),
    }
    .save(ui.store.as_ref(), "github")
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let session = session_of(&http, &ui.base).await;
    let get = |path: String| {
        http.get(format!("{}{path}", ui.base))
            .header("Cookie", &session)
            .send()
    };
    let mut pages = Vec::new();
    for path in [
        "/",
        "/audit",
        "/accounts/github/work/remove",
        "/policy/github",
    ] {
        let answer = get(path.to_owned()).await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        pages.push((path.to_owned(), answer.text().await.unwrap()));
    }
    // A provider sends the browser back with a hostile error.
    let csrf = csrf_of(&http, &ui.base, &session).await;
    let started = http
        .post(format!("{}/connect/github", ui.base))
        .header("Cookie", &session)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&account=personal"))
        .send()
        .await
        .unwrap();
    let authorize = url::Url::parse(started.headers()["location"].to_str().unwrap()).unwrap();
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("state", &state)
        .append_pair("error", HOSTILE)
        .append_pair("error_description", HOSTILE)
        .finish();
    let callback = get(format!("/oauth/callback/github?{query}"))
        .await
        .unwrap();
    assert_eq!(callback.status(), 400);
    pages.push(("callback".into(), callback.text().await.unwrap()));
    for (path, page) in &pages {
        assert!(
            !page.contains("<script>alert") && !page.contains("<img src=x"),
            "{path} rendered hostile text as markup"
        );
    }
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    for shown in ["/", "/audit", "callback"] {
        let page = &pages.iter().find(|(p, _)| p == shown).unwrap().1;
        assert!(page.contains(escaped), "{shown} shows the text, escaped");
    }
}

/// The policy page pins resources: a pin reaches `resources/list` at once
/// and is saved; a pin that matches no template is refused with the reason
/// and nothing is saved.
#[tokio::test]
async fn the_policy_page_pins_resources_and_refuses_a_pin_that_matches_no_template() {
    let ui = start_ui().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let session = session_of(&http, &ui.base).await;
    let csrf = csrf_of(&http, &ui.base, &session).await;
    let post = |pins: &str| {
        let body = format!(
            "csrf={csrf}&enabled=on&resources={}",
            percent_encoding::utf8_percent_encode(pins, percent_encoding::NON_ALPHANUMERIC)
        );
        http.post(format!("{}/policy/github", ui.base))
            .header("Cookie", &session)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let page = |http: &reqwest::Client| {
        http.get(format!("{}/policy/github", ui.base))
            .header("Cookie", &session)
            .send()
    };
    let pin = "github://octocat/hello-world/issues/3";
    assert_eq!(post(&format!("{pin}\n")).await.unwrap().status(), 303);
    assert_eq!(ui.server.policy("github").unwrap().resources, vec![pin]);
    let saved = mcpist_core::policy::load_saved(ui.store.as_ref(), "github")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.resources, vec![pin]);
    let shown = page(&http).await.unwrap().text().await.unwrap();
    assert!(shown.contains(pin), "the page shows the pin");

    assert_eq!(
        post("github://octocat/hello-world/wiki")
            .await
            .unwrap()
            .status(),
        303
    );
    let shown = page(&http).await.unwrap().text().await.unwrap();
    assert!(
        shown.contains("matches none of github"),
        "the refusal says why"
    );
    let saved = mcpist_core::policy::load_saved(ui.store.as_ref(), "github")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.resources, vec![pin], "nothing refused was saved");
    assert_eq!(ui.server.policy("github").unwrap().resources, vec![pin]);
}

/// The prompts page adds, edits and removes the prompts saved in the store,
/// with the session's CSRF token; a bad prompt (an undeclared placeholder,
/// a duplicate or bad name, a name the config file defines) is refused with
/// the reason and changes nothing; every change is audited without the text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompts_page_adds_edits_and_removes_saved_prompts_and_refuses_bad_ones() {
    let ui = start_ui().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let session = session_of(&http, &ui.base).await;
    let csrf = csrf_of(&http, &ui.base, &session).await;
    let encode = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let post = |route: &str, fields: &[(&str, &str)]| {
        let mut body = format!("csrf={csrf}");
        for (k, v) in fields {
            body.push_str(&format!("&{k}={}", encode(v)));
        }
        http.post(format!("{}{route}", ui.base))
            .header("Cookie", &session)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let page = |query: &str| {
        http.get(format!("{}/prompts{query}", ui.base))
            .header("Cookie", &session)
            .send()
    };
    let saved = || mcpist_core::prompts::load_saved(ui.store.as_ref());
    let secret_text = canary("WEBPROMPT");
    let text = format!("Notes for {{{{team}}}} on {{{{day}}}}. {secret_text}");
    let added = post(
        "/prompts",
        &[
            ("name", "standup"),
            ("description", "Standup <notes>"),
            ("arguments", "team, day:optional"),
            ("text", &text),
        ],
    )
    .await
    .unwrap();
    assert_eq!(added.status(), 303);
    let got = saved().await.unwrap();
    assert_eq!(got["standup"].text, text);
    assert_eq!(got["standup"].arguments.len(), 2);
    assert!(!got["standup"].arguments[1].required);
    let shown = page("").await.unwrap().text().await.unwrap();
    assert!(shown.contains("Saved the prompt my_standup"), "{shown}");
    assert!(
        shown.contains("my_review"),
        "the config file's prompt is named"
    );
    assert!(shown.contains("Standup &lt;notes&gt;"), "escaped: {shown}");

    for (fields, says) in [
        (
            vec![
                ("name", "standup"),
                ("arguments", "team"),
                ("text", "x {{team}}"),
            ],
            "saved already",
        ),
        (
            vec![
                ("name", "other"),
                ("arguments", "team"),
                ("text", "{{mood}}"),
            ],
            "{{mood}} is not one of its arguments",
        ),
        (vec![("name", "bad name"), ("text", "x")], "a prompt name"),
        (vec![("name", "review"), ("text", "x")], "[prompts.review]"),
        (vec![("name", "empty"), ("text", "  ")], "the text is empty"),
        (
            vec![("name", "x"), ("arguments", "a:maybe"), ("text", "{{a}}")],
            ":optional",
        ),
    ] {
        let answer = post("/prompts", &fields).await.unwrap();
        assert_eq!(answer.status(), 303);
        let shown = page("").await.unwrap().text().await.unwrap();
        assert!(
            shown.contains("Could not save the prompt")
                && shown.contains(&says.replace('<', "&lt;")),
            "{fields:?}: {shown}"
        );
        assert_eq!(
            saved().await.unwrap(),
            got,
            "{fields:?} changed the saved prompts"
        );
    }

    // Edit: the form comes filled in and replaces the prompt.
    let form = page("?edit=standup").await.unwrap().text().await.unwrap();
    assert!(form.contains("Edit my_standup"), "{form}");
    assert!(form.contains("team, day:optional"), "{form}");
    assert!(form.contains(&secret_text), "the text is in the form");
    assert_eq!(
        post(
            "/prompts",
            &[
                ("name", "standup"),
                ("arguments", "team"),
                ("text", "Short notes for {{team}}"),
                ("replace", "on"),
            ],
        )
        .await
        .unwrap()
        .status(),
        303
    );
    assert_eq!(
        saved().await.unwrap()["standup"].text,
        "Short notes for {{team}}"
    );

    assert_eq!(
        post("/prompts/standup/remove", &[]).await.unwrap().status(),
        303
    );
    assert!(saved().await.unwrap().is_empty());
    let shown = page("").await.unwrap().text().await.unwrap();
    assert!(shown.contains("Removed the prompt my_standup"), "{shown}");

    let log = ui.store.query(&AuditFilter::default()).await.unwrap();
    let kinds: Vec<_> = log
        .iter()
        .filter(|e| matches!(e.event.kind, AuditKind::PromptSet | AuditKind::PromptRemove))
        .map(|e| (e.event.kind, e.outcome.outcome))
        .collect();
    assert!(
        kinds.contains(&(AuditKind::PromptSet, Outcome::Ok)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(AuditKind::PromptRemove, Outcome::Ok)),
        "{kinds:?}"
    );
    let text = format!("{log:?}");
    assert!(!text.contains(&secret_text), "prompt text audited in clear");
}
