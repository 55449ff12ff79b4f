//! MCPist's own OAuth authorization server for remote MCP clients, over
//! real HTTP on loopback with the SQLite store and the fake GitHub: the
//! metadata and the 401 challenge, registration, login and consent, the
//! token endpoint, refresh rotation, revocation, read-only scope, and each
//! attack of issue 19 refused with nothing stored and no token issued.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use mcpist_connectors as _;
use mcpist_connectors::github::fake::FakeGithub;
use mcpist_core::discover::{CALL, DESCRIBE, SEARCH, ToolMode};
use mcpist_core::{
    AuditSink, Exchanger, McpServer, Registration, ServicePolicy, SqliteStore, TokenStore,
    audit::{AuditFilter, AuditKind},
    auth_server::{AuthServer, AuthServerOptions, s256},
    http::{BearerDigest, ClientAuth, HttpOptions},
    seal::MasterKey,
    store::{AccountKey, AccountStatus, AccountWrite, Credential, Expect},
};
use mcpist_tests::canary;
use mcpist_web::WebOptions;
use reqwest::{StatusCode, header};
use secrecy::SecretString;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const REDIRECT: &str = "http://127.0.0.1:45678/callback";

struct Remote {
    base: String,
    bearer: String,
    http: reqwest::Client,
    oauth: AuthServer,
    store: Arc<SqliteStore>,
    dir: tempfile::TempDir,
    _fake: FakeGithub,
}

async fn start_with(configure: impl FnOnce(&mut AuthServerOptions)) -> Remote {
    start_mode(configure, ToolMode::Flat).await
}

/// [`start_with`] with the server's tool mode.
async fn start_mode(configure: impl FnOnce(&mut AuthServerOptions), mode: ToolMode) -> Remote {
    let fake = FakeGithub::start().await;
    fake.accept_token("ghp_remote_upstream_token_CANARY", "monalisa");
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(
            &dir.path().join("mcpist.db"),
            MasterKey::generate().unwrap(),
        )
        .unwrap(),
    );
    store
        .put(
            &AccountKey::new("github", "me").unwrap(),
            AccountWrite {
                credential: Credential::static_token(SecretString::from(
                    "ghp_remote_upstream_token_CANARY".to_owned(),
                ))
                .unwrap(),
                identity: None,
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
    let github = (Registration::find("github").unwrap().build)(json!({
        "base_url": fake.base_url()
    }))
    .unwrap();
    let exchanger = Exchanger::new(store.clone(), store.clone()).unwrap();
    let server = McpServer::builder(exchanger, store.clone())
        .connector(github, ServicePolicy::default())
        .tool_mode(mode)
        .build()
        .unwrap();
    mcpist_web::set_password(store.as_ref(), &SecretString::from(PASSWORD))
        .await
        .unwrap();
    let bearer = canary("bearer");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut as_options = AuthServerOptions::new(&base);
    configure(&mut as_options);
    let oauth = AuthServer::new(as_options, store.clone(), store.clone());
    let mut options = HttpOptions::loopback(ClientAuth::Bearer(BearerDigest::of(
        &SecretString::from(bearer.clone()),
    )));
    options.oauth = Some(oauth.clone());
    let mut web = WebOptions::new(base.clone());
    web.oauth = Some(oauth.clone());
    let ui = mcpist_web::routes(server.clone(), web);
    let app = mcpist_core::http::router_with(server, options, ui);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Remote {
        base,
        bearer,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        oauth,
        store,
        dir,
        _fake: fake,
    }
}

async fn start() -> Remote {
    start_with(|_| {}).await
}

/// Form bodies (this reqwest has no `form` feature).
trait FormBody {
    fn form<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            body.append_pair(k.as_ref(), v.as_ref());
        }
        self.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.finish())
    }
}

/// The value of `name="NAME" value="…"` in a page.
fn field(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &page[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn query_of(url: &str) -> BTreeMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A PKCE pair: (verifier, challenge).
fn pkce() -> (String, String) {
    let verifier = format!("{}-verifier-{}", canary("pkce"), "x".repeat(20));
    let challenge = s256(&verifier);
    (verifier, challenge)
}

impl Remote {
    /// Logs in to the web UI and returns the session cookie (`name=value`).
    async fn login(&self) -> String {
        let page = self
            .http
            .get(format!("{}/login", self.base))
            .send()
            .await
            .unwrap();
        let login_cookie = set_cookie(&page, "mcpist_login").unwrap();
        let csrf = field(&page.text().await.unwrap(), "csrf").unwrap();
        let response = self
            .http
            .post(format!("{}/login", self.base))
            .header(header::COOKIE, login_cookie)
            .form(&[("csrf", csrf.as_str()), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        set_cookie(&response, "mcpist_session").expect("a session cookie")
    }

    async fn register(&self, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/oauth/register", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn client_id(&self) -> String {
        let response = self
            .register(json!({"redirect_uris": [REDIRECT], "client_name": "Test phone"}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_endpoint_auth_method"], "none");
        body["client_id"].as_str().unwrap().to_owned()
    }

    fn authorize_params(&self, client_id: &str, challenge: &str) -> Vec<(String, String)> {
        [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "mcp"),
            ("state", "st-123"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("resource", &format!("{}/mcp", self.base)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    async fn authorize_get(
        &self,
        session: Option<&str>,
        params: &[(String, String)],
    ) -> reqwest::Response {
        let mut request = self
            .http
            .get(format!("{}/oauth/authorize", self.base))
            .query(params);
        if let Some(session) = session {
            request = request.header(header::COOKIE, session);
        }
        request.send().await.unwrap()
    }

    /// Logs in, opens the consent page, approves: the redirect's query.
    async fn approve(
        &self,
        session: &str,
        params: &[(String, String)],
    ) -> BTreeMap<String, String> {
        let page = self.authorize_get(Some(session), params).await;
        assert_eq!(page.status(), StatusCode::OK);
        let page = page.text().await.unwrap();
        let csrf = field(&page, "csrf").unwrap();
        let mut form: Vec<(String, String)> = params.to_vec();
        form.push(("csrf".into(), csrf));
        form.push(("decision".into(), "approve".into()));
        let response = self
            .http
            .post(format!("{}/oauth/authorize", self.base))
            .header(header::COOKIE, session)
            .form(&form)
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::SEE_OTHER {
            panic!("{}: {}", response.status(), response.text().await.unwrap());
        }
        let to = location(&response);
        assert!(to.starts_with(REDIRECT), "{to}");
        query_of(&to)
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        (status, response.json().await.unwrap())
    }

    async fn exchange(&self, client_id: &str, code: &str, verifier: &str) -> (StatusCode, Value) {
        let resource = format!("{}/mcp", self.base);
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
            ("resource", &resource),
        ])
        .await
    }

    /// A whole grant: (client id, access token, refresh token).
    async fn grant(&self, scope: &str) -> (String, String, String) {
        let client_id = self.client_id().await;
        let session = self.login().await;
        let (verifier, challenge) = pkce();
        let mut params = self.authorize_params(&client_id, &challenge);
        params.iter_mut().find(|(k, _)| k == "scope").unwrap().1 = scope.into();
        let back = self.approve(&session, &params).await;
        let (status, tokens) = self.exchange(&client_id, &back["code"], &verifier).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        (
            client_id,
            tokens["access_token"].as_str().unwrap().to_owned(),
            tokens["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    /// One JSON-RPC message to `/mcp` with `token`: the status, the
    /// `WWW-Authenticate` header, the session id and the JSON answer.
    async fn rpc(&self, token: &str, session: Option<&str>, message: Value) -> Rpc {
        let mut request = self
            .http
            .post(format!("{}/mcp", self.base))
            .bearer_auth(token)
            .header(header::ACCEPT, "application/json, text/event-stream")
            .json(&message);
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let session = response
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|v| v.get("id").is_some())
            .or_else(|| serde_json::from_str(&text).ok());
        Rpc {
            status,
            challenge,
            session,
            body,
        }
    }

    /// Initializes an MCP session with `token`; its id.
    async fn session(&self, token: &str) -> Rpc {
        self.rpc(
            token,
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "remote-test", "version": "1"}}}),
        )
        .await
    }

    /// The tool names `token` sees, through a new session.
    async fn tools(&self, token: &str) -> Vec<String> {
        let init = self.session(token).await;
        assert_eq!(init.status, StatusCode::OK);
        let id = init.session.unwrap();
        self.rpc(
            token,
            Some(&id),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
        let listed = self
            .rpc(
                token,
                Some(&id),
                json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
            )
            .await;
        listed.body.unwrap()["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Calls `tool` with `token` through a new session.
    async fn call(&self, token: &str, tool: &str, args: Value) -> Rpc {
        let init = self.session(token).await;
        let id = init.session.unwrap();
        self.rpc(
            token,
            Some(&id),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
        self.rpc(
            token,
            Some(&id),
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                   "params": {"name": tool, "arguments": args}}),
        )
        .await
    }

    async fn registered(&self) -> usize {
        self.oauth.clients().await.unwrap().len()
    }
}

#[derive(Debug)]
struct Rpc {
    status: StatusCode,
    challenge: Option<String>,
    session: Option<String>,
    body: Option<Value>,
}

#[tokio::test]
async fn mcp_without_a_token_points_to_the_metadata_and_the_static_bearer_still_works() {
    let r = start().await;
    let refused = r.session("not-a-token").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let challenge = refused.challenge.unwrap();
    let prm_url = format!("{}/.well-known/oauth-protected-resource/mcp", r.base);
    assert!(
        challenge.starts_with(&format!("Bearer resource_metadata=\"{prm_url}\"")),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"mcp\""), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let none = r
        .http
        .post(format!("{}/mcp", r.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !none.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=")
    );

    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let prm: Value = r
            .http
            .get(format!("{}{path}", r.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(prm["resource"], format!("{}/mcp", r.base));
        assert_eq!(prm["authorization_servers"], json!([r.base]));
        assert_eq!(prm["scopes_supported"], json!(["mcp", "mcp:read"]));
        assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    }
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let meta: Value = r
            .http
            .get(format!("{}{path}", r.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(meta["issuer"], r.base);
        assert_eq!(
            meta["authorization_endpoint"],
            format!("{}/oauth/authorize", r.base)
        );
        assert_eq!(meta["token_endpoint"], format!("{}/oauth/token", r.base));
        assert_eq!(
            meta["registration_endpoint"],
            format!("{}/oauth/register", r.base)
        );
        assert_eq!(
            meta["revocation_endpoint"],
            format!("{}/oauth/revoke", r.base)
        );
        assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    }
    // Local clients keep using the static bearer.
    let bearer = r.bearer.clone();
    assert_eq!(
        r.tools(&bearer).await.len(),
        mcpist_tests::tools_of("github").len() + 1
    );
}

#[tokio::test]
async fn a_registered_client_logs_in_consents_calls_refreshes_and_is_revoked() {
    let r = start().await;
    let client_id = r.client_id().await;
    let (verifier, challenge) = pkce();
    let params = r.authorize_params(&client_id, &challenge);
    // Without a session: to the login, and back to the request after it.
    let away = r.authorize_get(None, &params).await;
    assert_eq!(away.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&away), "/login");
    let next = set_cookie(&away, "mcpist_next").unwrap();
    let page = r
        .http
        .get(format!("{}/login", r.base))
        .send()
        .await
        .unwrap();
    let login_cookie = set_cookie(&page, "mcpist_login").unwrap();
    let csrf = field(&page.text().await.unwrap(), "csrf").unwrap();
    let logged_in = r
        .http
        .post(format!("{}/login", r.base))
        .header(header::COOKIE, format!("{login_cookie}; {next}"))
        .form(&[("csrf", csrf.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let back = location(&logged_in);
    assert!(back.starts_with("/oauth/authorize?"), "{back}");
    let session = set_cookie(&logged_in, "mcpist_session").unwrap();
    // The consent page names the client, its redirect host and the scope.
    let consent = r
        .http
        .get(format!("{}{back}", r.base))
        .header(header::COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for shown in [
        "Test phone",
        client_id.as_str(),
        "127.0.0.1",
        "every tool your policy allows",
    ] {
        assert!(consent.contains(shown), "{shown} missing from {consent}");
    }
    let query = r.approve(&session, &params).await;
    assert_eq!(query["state"], "st-123");
    assert_eq!(query["iss"], r.base);
    let (status, tokens) = r.exchange(&client_id, &query["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], "mcp");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let called = r.call(&access, "github_get_me", json!({})).await;
    assert_eq!(called.status, StatusCode::OK);
    let text = called.body.unwrap().to_string();
    assert!(text.contains("monalisa"), "{text}");
    assert!(!text.contains("ghp_remote_upstream_token"), "{text}");

    // Refresh rotates both tokens; the old access token ends with it.
    let (status, rotated) = r
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", &refresh),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    let refresh2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh);
    assert_eq!(r.session(&access).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.session(&access2).await.status, StatusCode::OK);

    // Revocation (RFC 7009) ends the grant.
    let revoked = r
        .http
        .post(format!("{}/oauth/revoke", r.base))
        .form(&[("token", refresh2.as_str()), ("client_id", &client_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(r.session(&access2).await.status, StatusCode::UNAUTHORIZED);
    let (status, body) = r
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", &refresh2),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Every step is audited.
    let audit = r
        .store
        .query(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.kind == AuditKind::RemoteClient)
        .filter_map(|e| e.outcome.message)
        .collect::<Vec<_>>();
    for step in [
        "registered client",
        "granted scopes mcp",
        "issued tokens",
        "refreshed tokens",
        "revoked a grant",
    ] {
        assert!(
            audit.iter().any(|m| m.contains(step)),
            "{step} not in {audit:?}"
        );
    }
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_whole_family() {
    let r = start().await;
    let (client_id, _, refresh) = r.grant("mcp").await;
    let form = |t: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", client_id.clone()),
            ("refresh_token", t.to_owned()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let r = &r;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            r.token(&f).await
        }
    };
    let (_, rotated) = send(form(&refresh)).await;
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    let refresh2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    // An attacker replays the first refresh token.
    let (status, body) = send(form(&refresh)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // The legitimate descendants are gone too.
    assert_eq!(r.session(&access2).await.status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(form(&refresh2)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let audit = r.store.query(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|e| {
        e.outcome
            .message
            .as_deref()
            .is_some_and(|m| m.contains("reused"))
    }));
}

#[tokio::test]
async fn codes_need_the_right_verifier_are_single_use_and_expire() {
    let r = start().await;
    let client_id = r.client_id().await;
    let session = r.login().await;
    let (verifier, challenge) = pkce();
    let code = r
        .approve(&session, &r.authorize_params(&client_id, &challenge))
        .await["code"]
        .clone();
    for wrong in ["", "short", &pkce().0] {
        let (status, body) = r.exchange(&client_id, &code, wrong).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{wrong}"
        );
        assert!(body.get("access_token").is_none());
    }
    let (status, first) = r.exchange(&client_id, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    // The code again: refused, and what it issued is revoked.
    let (status, body) = r.exchange(&client_id, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        r.session(first["access_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // A code for another redirect URI or client is refused.
    let code = r
        .approve(&session, &r.authorize_params(&client_id, &challenge))
        .await["code"]
        .clone();
    let other = r.client_id().await;
    let (status, _) = r.exchange(&other, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // An expired code.
    let r = start_with(|o| o.code_lifetime = Duration::from_millis(300)).await;
    let client_id = r.client_id().await;
    let session = r.login().await;
    let code = r
        .approve(&session, &r.authorize_params(&client_id, &challenge))
        .await["code"]
        .clone();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = r.exchange(&client_id, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn bad_authorization_requests_never_redirect_elsewhere_and_issue_nothing() {
    let r = start().await;
    let client_id = r.client_id().await;
    let session = r.login().await;
    let (_, challenge) = pkce();
    let base = r.authorize_params(&client_id, &challenge);
    let with = |key: &str, value: Option<&str>| {
        let mut params: Vec<(String, String)> =
            base.iter().filter(|(k, _)| k != key).cloned().collect();
        if let Some(value) = value {
            params.push((key.into(), value.into()));
        }
        params
    };
    // Not registered, or open-redirect attempts: an error page, no redirect.
    for uri in [
        "http://127.0.0.1:45678/other",
        "http://127.0.0.1:45678/callback/../evil",
        "https://evil.example/callback",
        "http://127.0.0.1:45678/callback?x=1",
    ] {
        let response = r
            .authorize_get(Some(&session), &with("redirect_uri", Some(uri)))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(response.headers().get(header::LOCATION).is_none(), "{uri}");
    }
    let unknown = r
        .authorize_get(Some(&session), &with("client_id", Some("mcpist-nope")))
        .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    // Errors the client may learn go back to its verified redirect URI.
    for (params, error) in [
        (
            with("resource", Some("https://other.example/mcp")),
            "invalid_target",
        ),
        (with("code_challenge", None), "invalid_request"),
        (
            with("code_challenge_method", Some("plain")),
            "invalid_request",
        ),
        (with("scope", Some("admin")), "invalid_scope"),
        (
            with("response_type", Some("token")),
            "unsupported_response_type",
        ),
    ] {
        let response = r.authorize_get(Some(&session), &params).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{error}");
        let query = query_of(&location(&response));
        assert_eq!(query["error"], error);
        assert_eq!(query["state"], "st-123");
        assert_eq!(query["iss"], r.base);
        assert!(!query.contains_key("code"));
    }
    // The token endpoint refuses another resource as well.
    let (status, body) = r
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", "x"),
            ("resource", "https://other.example/mcp"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
}

#[tokio::test]
async fn consent_without_csrf_or_from_another_origin_changes_nothing() {
    let r = start().await;
    let client_id = r.client_id().await;
    let session = r.login().await;
    let (_, challenge) = pkce();
    let mut form = r.authorize_params(&client_id, &challenge);
    form.push(("decision".into(), "approve".into()));
    let no_csrf = r
        .http
        .post(format!("{}/oauth/authorize", r.base))
        .header(header::COOKIE, &session)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    assert!(no_csrf.headers().get(header::LOCATION).is_none());
    let page = r
        .authorize_get(Some(&session), &r.authorize_params(&client_id, &challenge))
        .await;
    form.push((
        "csrf".into(),
        field(&page.text().await.unwrap(), "csrf").unwrap(),
    ));
    let cross = r
        .http
        .post(format!("{}/oauth/authorize", r.base))
        .header(header::COOKIE, &session)
        .header(header::ORIGIN, "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    // Without a session, the POST only sends the browser to the login.
    let anonymous = r
        .http
        .post(format!("{}/oauth/authorize", r.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&anonymous), "/login");
    let audit = r.store.query(&AuditFilter::default()).await.unwrap();
    assert!(!audit.iter().any(|e| {
        e.outcome
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("granted"))
    }));
    // Deny sends access_denied back.
    let page = r
        .authorize_get(Some(&session), &r.authorize_params(&client_id, &challenge))
        .await;
    let mut deny = r.authorize_params(&client_id, &challenge);
    deny.push((
        "csrf".into(),
        field(&page.text().await.unwrap(), "csrf").unwrap(),
    ));
    deny.push(("decision".into(), "deny".into()));
    let denied = r
        .http
        .post(format!("{}/oauth/authorize", r.base))
        .header(header::COOKIE, &session)
        .form(&deny)
        .send()
        .await
        .unwrap();
    let query = query_of(&location(&denied));
    assert_eq!(query["error"], "access_denied");
    assert!(!query.contains_key("code"));
    let audit = r.store.query(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|e| e.event.kind == AuditKind::RemoteClient
        && e.outcome.outcome == mcpist_core::audit::Outcome::Denied
        && e.outcome.message.as_deref() == Some("the user denied the authorization")));
}

#[tokio::test]
async fn registration_refuses_dangerous_redirect_uris_and_stores_nothing() {
    let r = start().await;
    for uris in [
        json!(["javascript:alert(1)"]),
        json!(["http://evil.example/callback"]),
        json!(["data:text/html,hi"]),
        json!(["https://ok.example/cb#frag"]),
        json!([]),
        json!("https://ok.example/cb"),
        json!(["https://ok.example/cb", "javascript://x"]),
    ] {
        let response = r
            .register(json!({"redirect_uris": uris, "client_name": "x"}))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uris}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_redirect_uri", "{uris}");
    }
    let not_json = r
        .http
        .post(format!("{}/oauth/register", r.base))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let grant = r
        .register(json!({"redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]}))
        .await;
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.registered().await, 0);
    // Loopback http, https and a native app's own scheme are fine.
    let ok = r
        .register(json!({"redirect_uris": ["http://localhost:1/cb", "https://claude.ai/api/mcp/auth_callback", "com.example.app:/cb"]}))
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    assert_eq!(r.registered().await, 1);
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let r = start().await;
    // Another MCPist URL over the same store mints a token for its own resource.
    let other = AuthServer::new(
        AuthServerOptions::new("https://other.example"),
        r.store.clone(),
        r.store.clone(),
    );
    let registered = other
        .register(&json!({"redirect_uris": [REDIRECT]}))
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let params: BTreeMap<String, String> = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let request = other.check_authorize(&params).await.unwrap().unwrap();
    let code = other.approve(&request).await.unwrap();
    let form: BTreeMap<String, String> = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", secrecy::ExposeSecret::expose_secret(&code)),
        ("code_verifier", &verifier),
        ("redirect_uri", REDIRECT),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let tokens = other.token(&form).await.unwrap();
    let access = secrecy::ExposeSecret::expose_secret(&tokens.access_token).to_owned();
    assert!(other.verify(&access).await.unwrap().is_some());
    assert_eq!(r.session(&access).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_read_only_grant_lists_only_read_tools_and_must_step_up_to_write() {
    let r = start().await;
    let (_, access, _) = r.grant("mcp:read").await;
    let tools = r.tools(&access).await;
    let reads: Vec<String> = mcpist_tests::tools_of("github")
        .iter()
        .filter(|t| t.hints.read_only)
        .map(|t| format!("github_{}", t.name))
        .collect();
    assert!(!tools.is_empty());
    assert_eq!(tools.len(), reads.len(), "{tools:?}");
    assert!(tools.iter().all(|t| reads.contains(t)), "{tools:?}");
    let read = r.call(&access, "github_get_me", json!({})).await;
    assert_eq!(read.status, StatusCode::OK);
    let write = r
        .call(
            &access,
            "github_create_issue",
            json!({"owner": "o", "repo": "r", "title": "t"}),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    let challenge = write.challenge.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"mcp\""), "{challenge}");
    // A full grant lists every tool.
    let (_, full, _) = r.grant("mcp").await;
    assert_eq!(
        r.tools(&full).await.len(),
        mcpist_tests::tools_of("github").len() + 1
    );
}

#[tokio::test]
async fn in_discover_mode_a_read_only_grant_calls_read_tools_only_through_the_call_meta_tool() {
    let r = start_mode(|_| {}, ToolMode::Discover).await;
    let (_, access, _) = r.grant("mcp:read").await;
    assert_eq!(
        r.tools(&access).await,
        [SEARCH, DESCRIBE, CALL, mcpist_core::batch::BATCH],
        "over HTTP, discover mode lists the meta-tools"
    );
    let search = r.call(&access, SEARCH, json!({"query": "issue"})).await;
    assert_eq!(search.status, StatusCode::OK);
    let found = search.body.unwrap()["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(found.contains("github_get_issue"), "{found}");
    assert!(
        !found.contains("github_create_issue"),
        "a read-only grant finds no write tool: {found}"
    );
    let read = r
        .call(&access, CALL, json!({"name": "github_get_me"}))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let result = &read.body.unwrap()["result"];
    assert_ne!(result["isError"], json!(true), "{result}");
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("monalisa"),
        "{result}"
    );
    let write = r
        .call(
            &access,
            CALL,
            json!({"name": "github_create_issue", "arguments": {"owner": "o", "repo": "r", "title": "t"}}),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert!(
        write
            .challenge
            .unwrap()
            .contains("error=\"insufficient_scope\""),
        "the write is refused before it reaches the server"
    );
    // A batch is as read-only as its tasks' tools.
    let batch = mcpist_core::batch::BATCH;
    let reads = r
        .call(
            &access,
            batch,
            json!({"tasks": [{"id": "me", "tool": "github_get_me"}]}),
        )
        .await;
    assert_eq!(reads.status, StatusCode::OK);
    let result = &reads.body.unwrap()["result"];
    assert_ne!(result["isError"], json!(true), "{result}");
    let mixed = r
        .call(
            &access,
            batch,
            json!({"tasks": [{"id": "me", "tool": "github_get_me"},
                             {"id": "w", "tool": "github_create_issue",
                              "arguments": {"owner": "o", "repo": "r", "title": "t"}}]}),
        )
        .await;
    assert_eq!(mixed.status, StatusCode::FORBIDDEN);
    assert!(
        mixed
            .challenge
            .unwrap()
            .contains("error=\"insufficient_scope\""),
        "a batch with a write task is refused before it reaches the server"
    );
}

#[tokio::test]
async fn no_token_code_or_verifier_is_kept_or_shown_in_plaintext() {
    let r = start().await;
    let client_id = r.client_id().await;
    let session = r.login().await;
    let (verifier, challenge) = pkce();
    let code = r
        .approve(&session, &r.authorize_params(&client_id, &challenge))
        .await["code"]
        .clone();
    let (_, tokens) = r.exchange(&client_id, &code, &verifier).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    r.call(&access, "github_get_me", json!({})).await;
    let clients_page = r
        .http
        .get(format!("{}/remote-clients", r.base))
        .header(header::COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(clients_page.contains("Test phone") && clients_page.contains(&client_id));
    let audit_page = r
        .http
        .get(format!("{}/audit", r.base))
        .header(header::COOKIE, &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let audit = format!(
        "{:?}",
        r.store.query(&AuditFilter::default()).await.unwrap()
    );
    let mut disk = Vec::new();
    for entry in std::fs::read_dir(r.dir.path()).unwrap() {
        disk.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let disk = String::from_utf8_lossy(&disk).into_owned();
    for secret in [&access, &refresh, &code, &verifier] {
        for (channel, text) in [
            ("clients page", &clients_page),
            ("audit page", &audit_page),
            ("audit", &audit),
            ("store", &disk),
        ] {
            assert!(!text.contains(secret.as_str()), "a secret in the {channel}");
        }
    }
    // The Remote clients page revokes.
    let csrf = field(&clients_page, "csrf").unwrap();
    let revoked = r
        .http
        .post(format!("{}/remote-clients/{client_id}/revoke", r.base))
        .header(header::COOKIE, &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.registered().await, 0);
    assert_eq!(r.session(&access).await.status, StatusCode::UNAUTHORIZED);
}

/// A loopback web server for client id metadata documents: `/good`,
/// `/big`, `/slow`, `/wrong-id`, `/moved`. Its base URL.
async fn document_server() -> String {
    use axum::{Router, response::IntoResponse, routing::get};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let doc = |id: String| {
        json!({"client_id": id, "client_name": "CIMD app", "redirect_uris": [REDIRECT]}).to_string()
    };
    let (good, wrong, big, slow) = (
        doc(format!("{base}/good")),
        doc(format!("{base}/other")),
        json!({"client_id": format!("{base}/big"), "redirect_uris": [REDIRECT], "padding": "x".repeat(6000)}).to_string(),
        doc(format!("{base}/slow")),
    );
    let moved = format!("{base}/good");
    let app =
        Router::new()
            .route("/good", get(move || async move { good }))
            .route("/wrong-id", get(move || async move { wrong }))
            .route("/big", get(move || async move { big }))
            .route(
                "/slow",
                get(move || async move {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    slow
                }),
            )
            .route(
                "/moved",
                get(move || async move {
                    (StatusCode::FOUND, [(header::LOCATION, moved)]).into_response()
                }),
            );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn a_client_id_metadata_document_client_consents_and_gets_tokens() {
    let docs = document_server().await;
    let r = start_with(|o| {
        o.cimd_allow_loopback_http = true;
        o.cimd_timeout = Duration::from_millis(500);
    })
    .await;
    let meta: Value = r
        .http
        .get(format!("{}/.well-known/oauth-authorization-server", r.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    let session = r.login().await;
    let client_id = format!("{docs}/good");
    let (verifier, challenge) = pkce();
    let params = r.authorize_params(&client_id, &challenge);
    let consent = r
        .authorize_get(Some(&session), &params)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        consent.contains("CIMD app") && consent.contains(&client_id),
        "{consent}"
    );
    assert_eq!(r.registered().await, 0, "nothing is stored before consent");
    let back = r.approve(&session, &params).await;
    let (status, tokens) = r.exchange(&client_id, &back["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        r.tools(tokens["access_token"].as_str().unwrap())
            .await
            .len(),
        mcpist_tests::tools_of("github").len() + 1
    );
    assert_eq!(r.registered().await, 1);
    // Only the document's redirect URIs count.
    let mut elsewhere = params.clone();
    elsewhere
        .iter_mut()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1 = "http://127.0.0.1:1/cb".into();
    let refused = r.authorize_get(Some(&session), &elsewhere).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.headers().get(header::LOCATION).is_none());
}

#[tokio::test]
async fn metadata_documents_too_large_slow_moved_misnamed_plain_or_private_are_refused() {
    let docs = document_server().await;
    let r = start_with(|o| {
        o.cimd_allow_loopback_http = true;
        o.cimd_timeout = Duration::from_millis(500);
    })
    .await;
    let session = r.login().await;
    let (_, challenge) = pkce();
    for (id, why) in [
        (format!("{docs}/big"), "larger than"),
        (format!("{docs}/slow"), "in time"),
        (format!("{docs}/moved"), "answered 302"),
        (format!("{docs}/wrong-id"), "not its own URL"),
        ("https://10.1.2.3/client.json".to_owned(), "private"),
        (
            "https://169.254.169.254/latest/meta-data".to_owned(),
            "private",
        ),
        ("https://[fd00::1]/client.json".to_owned(), "private"),
        ("ftp://example.com/client.json".to_owned(), "not registered"),
    ] {
        let response = r
            .authorize_get(Some(&session), &r.authorize_params(&id, &challenge))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{id}");
        assert!(response.headers().get(header::LOCATION).is_none(), "{id}");
        let page = response.text().await.unwrap();
        assert!(page.contains(why), "{id}: {page}");
    }
    // Without the test-only allowance: plain http and loopback are refused.
    let strict = start().await;
    let session = strict.login().await;
    let response = strict
        .authorize_get(
            Some(&session),
            &strict.authorize_params(&format!("{docs}/good"), &challenge),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("https"));
    let https_loopback = strict
        .authorize_get(
            Some(&session),
            &strict.authorize_params("https://127.0.0.1:1/client.json", &challenge),
        )
        .await;
    assert!(
        https_loopback
            .text()
            .await
            .unwrap()
            .contains("private, loopback")
    );
    assert_eq!(r.registered().await + strict.registered().await, 0);
}

#[tokio::test]
async fn open_registration_is_capped_and_a_refused_one_stores_nothing() {
    let r = start().await;
    for _ in 0..100 {
        assert_eq!(
            r.register(json!({"redirect_uris": [REDIRECT]}))
                .await
                .status(),
            StatusCode::CREATED
        );
    }
    let refused = r.register(json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoke some"),
        "{body}"
    );
    assert_eq!(r.registered().await, 100);
}

#[tokio::test]
async fn the_way_back_after_login_leads_only_to_an_authorization_request() {
    let r = start().await;
    for next in [
        "https%3A%2F%2Fevil.example%2F",
        "%2F%2Fevil.example",
        "%2Faudit",
    ] {
        let page = r
            .http
            .get(format!("{}/login", r.base))
            .send()
            .await
            .unwrap();
        let login_cookie = set_cookie(&page, "mcpist_login").unwrap();
        let csrf = field(&page.text().await.unwrap(), "csrf").unwrap();
        let response = r
            .http
            .post(format!("{}/login", r.base))
            .header(
                header::COOKIE,
                format!("{login_cookie}; mcpist_next={next}"),
            )
            .form(&[("csrf", csrf.as_str()), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&response), "/", "{next}");
    }
}
