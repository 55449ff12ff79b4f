//! The web UI's handlers and the state they share.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use mcpist_core::{
    Error, Result,
    accounts::{ShownStatus, audited},
    audit::{AuditEvent, AuditFilter, AuditKind, AuditOutcome, Outcome},
    clients::ServerEntry,
    http::BEARER_SECRET,
    oauth::{AppCredentials, LoginFlows},
    policy::ServicePolicy,
    prompts::{self, UserArgument, UserPrompt},
    server::McpServer,
    store::{AccountKey, TokenStore},
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::{
    WebOptions,
    callback::{LoginCallback, login_callback_routes},
    form::Form,
    pages,
    password::{PASSWORD_SECRET, Verifier},
    session::{Session, Visit, cookie, cookie_value, random_token, same},
    throttle::LoginThrottle,
};

#[path = "authorize.rs"]
mod authorize;
mod connect;
mod way_back;

/// The web UI's state, shared by its handlers.
struct Web {
    server: McpServer,
    options: WebOptions,
    flows: Arc<LoginFlows>,
    // Keyed by the SHA-256 of the cookie value: the map never holds a live cookie.
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    throttle: LoginThrottle,
    verifier: Mutex<Option<Verifier>>,
}

/// The verdict on a password given in a form.
enum PasswordCheck {
    /// It is the password.
    Right,
    /// It is not (and counted as such).
    Wrong,
    /// Too many wrong ones lately: not verified; seconds until the next try.
    Locked(u64),
    /// No password is set yet.
    Unset,
    /// The store or the audit log failed: not verified.
    Failed(StatusCode, String),
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

fn html(status: StatusCode, page: maud::Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.into_string(),
    )
        .into_response()
}

impl Web {
    fn cookie(&self, name: &str, value: &str, max_age: Option<Duration>) -> HeaderValue {
        cookie(&self.options, name, value, max_age)
    }

    /// The visit's session, if the request carries a live one.
    fn visit(&self, headers: &HeaderMap) -> Option<Visit> {
        let id = cookie_value(headers, self.options.session_cookie())?;
        let key: [u8; 32] = Sha256::digest(id.as_bytes()).into();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (idle, max) = (self.options.session_idle(), self.options.session_max());
        sessions.retain(|_, s| {
            now.duration_since(s.seen) < idle && now.duration_since(s.created) < max
        });
        let session = sessions.get_mut(&key)?;
        session.seen = now;
        Some(Visit {
            key,
            csrf: session.csrf.clone(),
            flash: session.flash.take(),
        })
    }

    /// The visit and the form of a POST, if the session is live and the
    /// form carries its CSRF token; else the response to send instead.
    fn submission(
        &self,
        headers: &HeaderMap,
        body: Bytes,
    ) -> std::result::Result<(Visit, Form), Box<Response>> {
        let form = Form::parse_secret(body);
        let Some(visit) = self.visit(headers) else {
            return Err(Box::new(redirect("/login")));
        };
        if !form.get("csrf").is_some_and(|t| same(t, &visit.csrf)) {
            return Err(Box::new(html(
                StatusCode::FORBIDDEN,
                pages::message(
                    "Form refused",
                    "This form did not carry a valid security token (CSRF), so nothing was changed. \
                     Reload the page and submit it again.",
                ),
            )));
        }
        Ok((visit, form))
    }

    /// Leaves the outcome of a POST for the next page and sends the browser
    /// there: `done` when it worked, `failed: the error` when not.
    fn report(&self, visit: &Visit, result: Result<String>, failed: &str, to: &str) -> Response {
        self.flash(
            visit,
            match result {
                Ok(done) => done,
                Err(e) => format!("{failed}: {e}"),
            },
        );
        redirect(to)
    }

    /// The services whose accounts hold a credential.
    fn credential_services(&self) -> Vec<&'static str> {
        self.server
            .connectors()
            .iter()
            .filter(|(_, c)| c.auth() != mcpist_core::connector::Auth::None)
            .map(|(name, _)| *name)
            .collect()
    }

    fn flash(&self, visit: &Visit, message: impl Into<String>) {
        if let Some(session) = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&visit.key)
        {
            session.flash = Some(message.into());
        }
    }

    /// Checks `password` against the stored hash: counted before it is
    /// verified, verified a few at a time, audited as a [`AuditKind::UiLogin`].
    async fn check_password(&self, password: SecretString) -> PasswordCheck {
        let hash = match self.store().get_secret(PASSWORD_SECRET).await {
            Ok(Some(hash)) => hash,
            Ok(None) => return PasswordCheck::Unset,
            Err(e) => {
                return PasswordCheck::Failed(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
            }
        };
        let at = match self.throttle.reserve(hash.expose_secret()) {
            Ok(at) => at,
            Err(wait) => return PasswordCheck::Locked(wait),
        };
        let ok = match self.verify(password, hash) {
            Ok(verdict) => verdict.await.unwrap_or(false),
            Err(e) => {
                self.throttle.release(at);
                return PasswordCheck::Failed(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
            }
        };
        if ok {
            self.throttle.release(at);
        }
        let outcome = if ok { Outcome::Ok } else { Outcome::Denied };
        if let Err(e) = self
            .server
            .audit()
            .record(
                AuditEvent::now(AuditKind::UiLogin),
                AuditOutcome::of(outcome),
            )
            .await
        {
            tracing::error!(error = %e, "could not audit a web UI password check");
            return PasswordCheck::Failed(
                StatusCode::SERVICE_UNAVAILABLE,
                "The audit log cannot be written, so passwords are not accepted.".into(),
            );
        }
        if ok {
            PasswordCheck::Right
        } else {
            tracing::warn!("web UI password check with a wrong password");
            PasswordCheck::Wrong
        }
    }

    /// Queues `password` for the verifier thread (started on first use).
    fn verify(
        &self,
        password: SecretString,
        hash: SecretString,
    ) -> std::io::Result<tokio::sync::oneshot::Receiver<bool>> {
        let mut verifier = self.verifier.lock().unwrap_or_else(|e| e.into_inner());
        if verifier.is_none() {
            *verifier = Some(Verifier::start()?);
        }
        let (send, receive) = tokio::sync::oneshot::channel();
        if let Some(running) = verifier.as_ref()
            && running.0.send((password, hash, send)).is_ok()
        {
            return Ok(receive);
        }
        // The thread is gone: the next check starts another.
        *verifier = None;
        Err(std::io::Error::other("the password verifier stopped"))
    }

    /// The lockout message: how long to wait, and how to get in at once.
    fn locked_message(&self, wait: u64) -> String {
        format!(
            "Too many wrong passwords. Try again in {wait} s. {}",
            self.options.lockout_hint
        )
    }

    fn chrome<'a>(&'a self, visit: &'a Visit, active: &'a str) -> pages::Chrome<'a> {
        pages::Chrome {
            active,
            csrf: &visit.csrf,
            flash: visit.flash.as_deref(),
        }
    }

    fn store(&self) -> &Arc<dyn TokenStore> {
        self.server.exchanger().store()
    }
}

/// The web UI's routes, with the OAuth callback for logins started in it.
/// Mount them behind the Host / Origin guard: pass them to
/// [`mcpist_core::http::router_with`].
pub fn routes(server: McpServer, options: WebOptions) -> Router {
    // Calls that lack an account now get a link to this UI's connect page.
    server.connect_links().serve_at(&options.base_url);
    router(server, options)
}

/// The web UI's routes, without pointing connect links at them (the page
/// opened on demand points each link itself, see [`crate::on_demand`]).
pub(crate) fn router(server: McpServer, options: WebOptions) -> Router {
    let flows = Arc::new(LoginFlows::new());
    let callback = LoginCallback {
        exchanger: server.exchanger().clone(),
        flows: flows.clone(),
        connectors: Arc::new(
            server
                .connectors()
                .iter()
                .map(|(name, c)| ((*name).to_owned(), c.clone()))
                .collect(),
        ),
        done: None,
        back_to: Some("/".into()),
        links: Some(server.connect_links().clone()),
    };
    let web = Arc::new(Web {
        server,
        options,
        flows,
        sessions: Mutex::new(HashMap::new()),
        throttle: LoginThrottle::default(),
        verifier: Mutex::new(None),
    });
    Router::new()
        .route("/", get(services_page))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/accounts/new", get(add_token_page))
        .route("/accounts", post(add_token))
        .route("/accounts/{service}/{account}/default", post(make_default))
        .route(
            "/accounts/{service}/{account}/remove",
            get(remove_page).post(remove),
        )
        .route("/connect/{service}", get(connect::page).post(connect))
        .route("/connect/{service}/oauth", post(connect::oauth))
        .route("/connect/{service}/token", post(connect::token))
        .route("/apps", get(apps_page))
        .route("/apps/{service}", post(set_app))
        .route("/policy/{service}", get(policy_page).post(set_policy))
        .route("/prompts", get(prompts_page).post(save_prompt))
        .route("/prompts/{name}/remove", post(remove_prompt))
        .route("/audit", get(audit_page))
        .route("/clients", get(clients_page).post(reveal_bearer))
        .route(
            "/oauth/authorize",
            get(authorize::authorize_page).post(authorize::authorize_decision),
        )
        .route("/remote-clients", get(authorize::remote_clients_page))
        .route(
            "/remote-clients/{client_id}/revoke",
            post(authorize::revoke_client),
        )
        .route("/ui.css", get(stylesheet))
        .with_state(web)
        .merge(login_callback_routes(callback))
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("cache-control", "no-store"),
        // Not `no-referrer`: with it, browsers send `Origin: null` on form
        // posts, which the Origin check must refuse.
        ("referrer-policy", "same-origin"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; \
             base-uri 'none'; frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        pages::STYLESHEET,
    )
        .into_response()
}

async fn login_page(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if web.visit(&headers).is_some() {
        let mut response = redirect(&way_back::after_login(&web, &headers));
        way_back::forget(&web, &mut response);
        return response;
    }
    let token = random_token();
    let has_password = matches!(web.store().get_secret(PASSWORD_SECRET).await, Ok(Some(_)));
    let mut response = html(StatusCode::OK, pages::login(&token, None, has_password));
    response.headers_mut().insert(
        header::SET_COOKIE,
        web.cookie(
            web.options.login_cookie(),
            &token,
            Some(Duration::from_secs(3600)),
        ),
    );
    response
}

async fn login(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse_secret(body);
    let expected = cookie_value(&headers, web.options.login_cookie()).unwrap_or("");
    let retry = |status: StatusCode, message: &str| {
        let token = random_token();
        let mut response = html(status, pages::login(&token, Some(message), true));
        response.headers_mut().insert(
            header::SET_COOKIE,
            web.cookie(
                web.options.login_cookie(),
                &token,
                Some(Duration::from_secs(3600)),
            ),
        );
        response
    };
    if expected.is_empty() || !form.get("csrf").is_some_and(|t| same(t, expected)) {
        return retry(
            StatusCode::FORBIDDEN,
            "The login form expired or did not come from this page; try again.",
        );
    }
    let password = SecretString::from(form.get("password").unwrap_or("").to_owned());
    match web.check_password(password).await {
        PasswordCheck::Right => {}
        PasswordCheck::Wrong => return retry(StatusCode::UNAUTHORIZED, "Wrong password."),
        PasswordCheck::Locked(wait) => {
            return retry(StatusCode::TOO_MANY_REQUESTS, &web.locked_message(wait));
        }
        PasswordCheck::Unset => {
            return retry(
                StatusCode::FORBIDDEN,
                "No password is set yet: run `mcpist password set` on the server.",
            );
        }
        PasswordCheck::Failed(status, message) => return retry(status, &message),
    }
    let id = random_token();
    let key: [u8; 32] = Sha256::digest(id.as_bytes()).into();
    let now = Instant::now();
    web.sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            key,
            Session {
                csrf: random_token(),
                created: now,
                seen: now,
                flash: None,
            },
        );
    let mut response = redirect(&way_back::after_login(&web, &headers));
    let headers = response.headers_mut();
    let lifetime = (!web.options.secure()).then(|| web.options.session_max());
    headers.append(
        header::SET_COOKIE,
        web.cookie(web.options.session_cookie(), &id, lifetime),
    );
    headers.append(
        header::SET_COOKIE,
        web.cookie(web.options.login_cookie(), "", Some(Duration::ZERO)),
    );
    // After the session cookie, which clients that read the first one expect.
    way_back::forget(&web, &mut response);
    response
}

async fn logout(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let (visit, _) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    web.sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&visit.key);
    let mut response = redirect("/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        web.cookie(web.options.session_cookie(), "", Some(Duration::ZERO)),
    );
    response
}

/// A hint of a token that cannot be used to recover it: its first four
/// characters (usually a type prefix such as `ghp_`) and last four, for
/// tokens long enough that eight characters leave most of it hidden.
fn token_hint(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() < 24 {
        return "••••".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

async fn services_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(mut visit) = web.visit(&headers) else {
        return redirect("/login");
    };
    let accounts = match web.store().list().await {
        Ok(accounts) => accounts,
        Err(e) => {
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                pages::message("Store error", &e.to_string()),
            );
        }
    };
    if let Some(connected) = query.get("connected")
        && let Some((service, account)) = connected.split_once('/')
        && accounts
            .iter()
            .any(|a| a.service == service && a.account == account)
    {
        visit.flash = Some(format!("Connected account '{account}' of {service}."));
    }
    let now = mcpist_core::store::now_unix();
    let margin = web.server.exchanger().refresh_margin().as_secs();
    let catalog = web.server.catalog();
    let mut services = Vec::new();
    for (name, connector) in web.server.connectors() {
        let mut rows = Vec::new();
        for info in accounts.iter().filter(|a| a.service == *name) {
            let key = AccountKey::new(&info.service, &info.account);
            let (hint, broken) = match &key {
                Ok(key) => match web.store().get(key).await {
                    Ok(Some(record)) => (
                        token_hint(record.credential.access_token.expose_secret()),
                        false,
                    ),
                    Ok(None) => (String::new(), false),
                    Err(_) => ("cannot be decrypted".into(), true),
                },
                Err(_) => (String::new(), true),
            };
            let last = web
                .server
                .audit()
                .query(&AuditFilter {
                    limit: Some(1),
                    service: Some(info.service.clone()),
                    account: Some(info.account.clone()),
                    ..AuditFilter::default()
                })
                .await
                .ok()
                .and_then(|mut entries| entries.pop())
                .map(|entry| entry.event.time_ms);
            rows.push(pages::AccountRow {
                status: if broken {
                    "broken"
                } else {
                    ShownStatus::of(info, now, margin).as_str()
                },
                info,
                hint,
                last_used_ms: last,
            });
        }
        let tools = catalog.iter().filter(|t| t.service == *name);
        let (total, visible) = tools.fold((0, 0), |(total, visible), t| {
            (
                total + 1,
                visible + usize::from(t.verdict == mcpist_core::policy::Verdict::Allowed),
            )
        });
        let oauth = web.server.exchanger().oauth_spec(name).is_some();
        let app = if oauth {
            AppCredentials::load(web.store().as_ref(), name)
                .await
                .ok()
                .flatten()
                .is_some()
        } else {
            false
        };
        services.push(pages::ServiceView {
            name,
            needs_credentials: connector.auth() != mcpist_core::connector::Auth::None,
            oauth,
            app,
            rows,
            visible,
            total,
        });
    }
    html(
        StatusCode::OK,
        pages::services(&web.chrome(&visit, "services"), &services),
    )
}

async fn add_token_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(visit) = web.visit(&headers) else {
        return redirect("/login");
    };
    let services = web.credential_services();
    html(
        StatusCode::OK,
        pages::add_token(
            &web.chrome(&visit, "add"),
            &services,
            query.get("service").map(String::as_str),
            None,
        ),
    )
}

async fn add_token(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let (visit, form) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let service = form.text("service");
    let account = form.text("account");
    let token = SecretString::from(form.get("token").unwrap_or("").trim().to_owned());
    let result = async {
        let connector = web
            .server
            .connectors()
            .get(service.as_str())
            .ok_or_else(|| Error::InvalidArguments(format!("unknown service {service:?}")))?;
        let key = AccountKey::new(&service, &account)?;
        let added = web
            .server
            .exchanger()
            .add_token(connector.as_ref(), &key, token, true)
            .await?;
        if form.checked("make_default") {
            web.server.exchanger().set_default_account(&key).await?;
        }
        Ok::<_, Error>(added)
    }
    .await;
    match result {
        Ok(added) => {
            web.flash(
                &visit,
                format!(
                    "{} account '{account}' of {service}{}.",
                    if added.replaced {
                        "Replaced the token of"
                    } else {
                        "Added"
                    },
                    added
                        .identity
                        .map(|i| format!(", signed in upstream as {i}"))
                        .unwrap_or_else(|| " (the upstream did not confirm who it is)".into())
                ),
            );
            redirect("/")
        }
        Err(e) => {
            let services = web.credential_services();
            html(
                StatusCode::BAD_REQUEST,
                pages::add_token(
                    &web.chrome(&visit, "add"),
                    &services,
                    Some(&service),
                    Some((&account, &e.to_string())),
                ),
            )
        }
    }
}

async fn make_default(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((service, account)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (visit, _) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let result = match AccountKey::new(&service, &account) {
        Ok(key) => web.server.exchanger().set_default_account(&key).await,
        Err(e) => Err(e),
    };
    let done = format!("'{account}' is now the default {service} account.");
    web.report(
        &visit,
        result.map(|()| done),
        "Could not change the default",
        "/",
    )
}

async fn remove_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((service, account)): Path<(String, String)>,
) -> Response {
    let Some(visit) = web.visit(&headers) else {
        return redirect("/login");
    };
    html(
        StatusCode::OK,
        pages::confirm_remove(&web.chrome(&visit, "services"), &service, &account),
    )
}

async fn remove(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((service, account)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (visit, _) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let result = match AccountKey::new(&service, &account) {
        Ok(key) => web.server.exchanger().remove_account(&key).await,
        Err(e) => Err(e),
    };
    let done = format!("Removed account '{account}' of {service}; its token is deleted.");
    web.report(
        &visit,
        result.map(|()| done),
        "Could not remove the account",
        "/",
    )
}

async fn connect(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, form) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let scopes = form.text("scopes");
    let scopes = (!scopes.is_empty()).then(|| {
        scopes
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    });
    start_login(&web, &visit, &service, &form.text("account"), scopes, None).await
}

/// Starts the OAuth login of `account` of `service` with the stored app and
/// sends the browser to the provider (the callback stores the grant), asking
/// for `scopes`, or the service's defaults; a failure is flashed on the
/// services page. A login started from a connect `link` uses it up only
/// when the callback stores the account.
async fn start_login(
    web: &Web,
    visit: &Visit,
    service: &str,
    account: &str,
    scopes: Option<Vec<String>>,
    link: Option<&str>,
) -> Response {
    let result = async {
        AccountKey::new(service, account)?;
        let exchanger = web.server.exchanger();
        let spec = exchanger.oauth_spec(service).ok_or_else(|| {
            Error::InvalidArguments(format!("{service} does not support OAuth login"))
        })?;
        let scopes = scopes.unwrap_or_else(|| spec.scopes.clone());
        let client = exchanger.oauth_client(service).await?;
        let redirect_uri = web.options.redirect_uri(service);
        match link {
            None => web
                .flows
                .start(&client, service, account, &redirect_uri, &scopes),
            Some(link) => {
                web.flows
                    .start_for_link(&client, service, account, &redirect_uri, &scopes, link)
            }
        }
    }
    .await;
    match result {
        Ok(url) => redirect(url.as_str()),
        Err(e) => {
            web.flash(visit, format!("Could not start the login: {e}"));
            redirect("/")
        }
    }
}

async fn apps_page(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let Some(visit) = web.visit(&headers) else {
        return redirect("/login");
    };
    let mut apps = Vec::new();
    for name in web.server.connectors().keys() {
        if web.server.exchanger().oauth_spec(name).is_none() {
            continue;
        }
        let stored = AppCredentials::load(web.store().as_ref(), name)
            .await
            .ok()
            .flatten();
        apps.push(pages::AppView {
            service: name,
            client_id: stored.as_ref().map(|a| a.client_id.clone()),
            has_secret: stored.is_some_and(|a| a.client_secret.is_some()),
            redirect_uri: web.options.redirect_uri(name),
        });
    }
    html(
        StatusCode::OK,
        pages::apps(&web.chrome(&visit, "apps"), &apps),
    )
}

async fn set_app(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, form) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let client_id = form.text("client_id");
    let secret = form.get("client_secret").unwrap_or("").trim().to_owned();
    let result = async {
        if web.server.exchanger().oauth_spec(&service).is_none() {
            return Err(Error::InvalidArguments(format!(
                "{service} does not support OAuth login"
            )));
        }
        if client_id.is_empty() {
            return Err(Error::InvalidArguments("the client ID is empty".into()));
        }
        let store = web.store().as_ref();
        // An empty secret field keeps the stored secret (it is never shown).
        let client_secret = if secret.is_empty() {
            AppCredentials::load(store, &service)
                .await?
                .and_then(|a| a.client_secret)
        } else {
            Some(SecretString::from(secret))
        };
        let app = AppCredentials {
            client_id: client_id.clone(),
            client_secret,
        };
        audited(
            web.server.audit().as_ref(),
            AuditEvent::now(AuditKind::AppSet).service(&service),
            app.save(store, &service),
        )
        .await
    }
    .await;
    let done = format!("Saved the OAuth app of {service}.");
    web.report(
        &visit,
        result.map(|()| done),
        &format!("Could not save the OAuth app of {service}"),
        "/apps",
    )
}

async fn policy_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(service): Path<String>,
) -> Response {
    let Some(visit) = web.visit(&headers) else {
        return redirect("/login");
    };
    let Some(policy) = web.server.policy(&service) else {
        return html(
            StatusCode::NOT_FOUND,
            pages::message(
                "Unknown service",
                &format!("MCPist serves no service {service:?}."),
            ),
        );
    };
    let tools: Vec<_> = web
        .server
        .catalog()
        .into_iter()
        .filter(|t| t.service == service)
        .collect();
    html(
        StatusCode::OK,
        pages::policy(&web.chrome(&visit, "policy"), &service, &policy, &tools),
    )
}

/// The policy a submitted policy form describes.
fn policy_from(form: &Form, tools: &[mcpist_core::server::ListedTool]) -> ServicePolicy {
    let lines = |name: &str| -> Vec<String> {
        form.text(name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let switched_on = form.all("tool");
    let mut deny = lines("deny");
    for tool in tools {
        let name = tool.tool.name.to_string();
        if !switched_on.contains(&name) && !deny.contains(&name) {
            deny.push(name);
        }
    }
    let mut toolsets: Vec<String> = tools.iter().map(|t| t.toolset.to_owned()).collect();
    toolsets.sort();
    toolsets.dedup();
    let chosen = form.all("toolset");
    ServicePolicy {
        enabled: if form.checked("enabled") {
            None
        } else {
            Some(false)
        },
        read_only: form.checked("read_only"),
        toolsets: if toolsets.iter().all(|t| chosen.contains(t)) {
            None
        } else {
            Some(chosen)
        },
        allow: lines("allow"),
        deny,
        resources: lines("resources"),
    }
}

async fn set_policy(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, form) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    if web.server.policy(&service).is_none() {
        return html(
            StatusCode::NOT_FOUND,
            pages::message(
                "Unknown service",
                &format!("MCPist serves no service {service:?}."),
            ),
        );
    }
    let tools: Vec<_> = web
        .server
        .catalog()
        .into_iter()
        .filter(|t| t.service == service)
        .collect();
    let policy = policy_from(&form, &tools);
    let mut event = AuditEvent::now(AuditKind::PolicySet).service(&service);
    event.args = serde_json::to_value(&policy).ok();
    let result = audited(web.server.audit().as_ref(), event, async {
        // Nothing refused is saved (a pin that matches no template).
        web.server.check_policy(&service, &policy)?;
        mcpist_core::policy::save(web.store().as_ref(), &service, &policy).await?;
        web.server.set_policy(&service, policy.clone()).await
    })
    .await;
    web.flash(
        &visit,
        match result {
            Ok(()) => format!(
                "Saved the policy of {service}: clients now see {} of its tools.",
                web.server
                    .catalog()
                    .iter()
                    .filter(|t| t.service == service
                        && t.verdict == mcpist_core::policy::Verdict::Allowed)
                    .count()
            ),
            Err(e) => format!("Could not save the policy: {e}"),
        },
    );
    redirect(&format!("/policy/{service}"))
}

/// `GET /prompts[?edit=NAME]`: the prompts saved in the store, a form to
/// add one (or edit `NAME`), and the config file's prompt names.
async fn prompts_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(visit) = web.visit(&headers) else {
        return redirect("/login");
    };
    let saved = match prompts::load_saved(web.store().as_ref()).await {
        Ok(saved) => saved,
        Err(e) => {
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                pages::message("Prompts", &format!("The saved prompts do not read: {e}")),
            );
        }
    };
    let editing = query
        .get("edit")
        .and_then(|name| saved.get_key_value(name))
        .map(|(name, prompt)| (name.as_str(), prompt));
    html(
        StatusCode::OK,
        pages::prompts(
            &web.chrome(&visit, "prompts"),
            &saved,
            &web.options.configured_prompts,
            editing,
        ),
    )
}

/// `POST /prompts`: saves a prompt (audited by [`prompts::save`]); a bad
/// one is refused with the reason and nothing saved.
async fn save_prompt(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let (visit, form) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let name = form.text("name");
    let result = async {
        if web.options.configured_prompts.contains(&name) {
            return Err(Error::InvalidArguments(format!(
                "the config file defines a prompt {name} ([prompts.{name}]), which would win; \
                 choose another name"
            )));
        }
        let arguments = form
            .text("arguments")
            .split([',', ' ', '\n', '\r', '\t'])
            .filter(|a| !a.is_empty())
            .map(|a| UserArgument::parse(a).map_err(Error::InvalidArguments))
            .collect::<Result<Vec<_>>>()?;
        let text = form.get("text").unwrap_or_default().replace("\r\n", "\n");
        if text.trim().is_empty() {
            return Err(Error::InvalidArguments("the text is empty".into()));
        }
        let prompt = UserPrompt {
            description: form.text("description"),
            text: text.trim_end().to_owned(),
            arguments,
        };
        let replace = form.checked("replace");
        prompts::save(
            web.store().as_ref(),
            web.server.audit().as_ref(),
            &name,
            prompt,
            replace,
        )
        .await
    }
    .await;
    web.report(
        &visit,
        result.map(|replaced| {
            format!(
                "{} the prompt my_{name}; mcpist serve serves it from its next start.",
                if replaced { "Replaced" } else { "Saved" }
            )
        }),
        "Could not save the prompt",
        "/prompts",
    )
}

/// `POST /prompts/{name}/remove`: removes a saved prompt (audited).
async fn remove_prompt(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, _) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let result = prompts::remove(web.store().as_ref(), web.server.audit().as_ref(), &name).await;
    web.report(
        &visit,
        result.map(|()| {
            format!(
                "Removed the prompt my_{name}; mcpist serve stops serving it at its next start."
            )
        }),
        "Could not remove the prompt",
        "/prompts",
    )
}

/// Records per audit page.
const AUDIT_PAGE: usize = 50;

async fn audit_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(visit) = web.visit(&headers) else {
        return redirect("/login");
    };
    let nonempty = |k: &str| query.get(k).filter(|v| !v.is_empty()).cloned();
    let filter = AuditFilter {
        limit: Some(AUDIT_PAGE + 1),
        service: nonempty("service"),
        account: nonempty("account"),
        outcome: nonempty("outcome").and_then(|o| Outcome::parse(&o)),
        before_seq: nonempty("before").and_then(|b| b.parse().ok()),
        since_ms: None,
    };
    let mut entries = match web.server.audit().query(&filter).await {
        Ok(entries) => entries,
        Err(e) => {
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                pages::message("Audit log error", &e.to_string()),
            );
        }
    };
    let more = entries.len() > AUDIT_PAGE;
    entries.truncate(AUDIT_PAGE);
    let services: Vec<&str> = web.server.connectors().keys().copied().collect();
    html(
        StatusCode::OK,
        pages::audit(
            &web.chrome(&visit, "audit"),
            &services,
            &filter,
            &entries,
            more,
        ),
    )
}

async fn clients_page(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let Some(visit) = web.visit(&headers) else {
        return redirect("/login");
    };
    render_clients(&web, &visit, None, StatusCode::OK).await
}

/// Shows the bearer, to whoever gives the password again: a session
/// cookie alone (which may have leaked) does not reveal it.
async fn reveal_bearer(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let (mut visit, form) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let password = SecretString::from(form.get("password").unwrap_or("").to_owned());
    let (status, message) = match web.check_password(password).await {
        PasswordCheck::Right => {
            return match web.store().get_secret(BEARER_SECRET).await {
                Ok(bearer) => render_clients(&web, &visit, bearer, StatusCode::OK).await,
                Err(e) => html(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    pages::message("Store error", &e.to_string()),
                ),
            };
        }
        PasswordCheck::Wrong => (
            StatusCode::UNAUTHORIZED,
            "Wrong password; the bearer token stays hidden.".to_owned(),
        ),
        PasswordCheck::Locked(wait) => (StatusCode::TOO_MANY_REQUESTS, web.locked_message(wait)),
        PasswordCheck::Unset => (
            StatusCode::FORBIDDEN,
            "No password is set, so the bearer token cannot be shown here.".to_owned(),
        ),
        PasswordCheck::Failed(status, message) => (status, message),
    };
    visit.flash = Some(message);
    render_clients(&web, &visit, None, status).await
}

async fn render_clients(
    web: &Web,
    visit: &Visit,
    bearer: Option<SecretString>,
    status: StatusCode,
) -> Response {
    let revealed = bearer.is_some();
    let http = ServerEntry::Http {
        url: format!("{}/mcp", web.options.base_url),
        bearer: bearer.unwrap_or_else(|| SecretString::from("<bearer token: press Show>")),
    };
    html(
        status,
        pages::clients(
            &web.chrome(visit, "clients"),
            &http,
            web.options.stdio_entry.as_ref(),
            revealed,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_hide_all_but_eight_characters_of_long_tokens() {
        assert_eq!(token_hint("ghp_0123456789abcdefghijWXYZ"), "ghp_…WXYZ");
        assert_eq!(token_hint("short-token"), "••••");
    }
}
