//! The web UI: where the one user hands MCPist their tokens and sees what it
//! does with them. Server-rendered HTML at `/`, on the same port as `/mcp`.
//!
//! - One password (argon2id hash, sealed in the store as [`PASSWORD_SECRET`]),
//!   a rate limit on wrong ones, sessions in memory (a restart logs out).
//! - The session cookie is `HttpOnly`, `SameSite=Strict`, and `Secure` (with
//!   the `__Host-` prefix) when the public URL is https.
//! - Every form carries a CSRF token bound to the session (the login form, a
//!   double-submit cookie); a POST without it changes nothing.
//! - Pages never contain a token: pasted tokens are shown as a masked hint,
//!   app secrets as "set", and the MCP bearer only after an explicit POST
//!   that gives the password again.
//! - Over plain http (loopback), where the browser sends the cookie to every
//!   port of the host, sessions are short: 30 idle minutes, 12 hours at most.

pub mod callback;
mod pages;

pub use callback::{LoginCallback, login_callback_routes};

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use axum::{
    Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use mcpist_core::{
    Error, Result,
    accounts::audited,
    audit::{AuditEvent, AuditFilter, AuditKind, AuditOutcome, Outcome},
    clients::ServerEntry,
    http::BEARER_SECRET,
    oauth::{AppCredentials, LoginFlows},
    policy::ServicePolicy,
    server::McpServer,
    store::{AccountKey, TokenStore},
};

/// The store secret holding the web UI password's argon2id hash (a PHC string).
pub const PASSWORD_SECRET: &str = "ui_password";

/// Shortest password `set_password` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Over https, a session ends after this long without a request.
const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// Over https, a session ends this long after login, however busy.
const SESSION_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// Over plain http, a session ends after this long without a request:
/// browsers send a cookie of `127.0.0.1` to every web service on that host,
/// whatever its port, so a session cookie there lives briefly.
const PLAIN_SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// Over plain http, a session (and its cookie) ends this long after login.
const PLAIN_SESSION_MAX: Duration = Duration::from_secs(12 * 3600);
/// Wrong passwords allowed per window before logins are refused.
const LOGIN_FAILURES: usize = 5;
/// The window wrong passwords are counted over.
const LOGIN_WINDOW: Duration = Duration::from_secs(300);
/// What the lockout page says by default about getting back in at once.
const DEFAULT_LOCKOUT_HINT: &str = "Setting a new password where the server runs, or restarting the server, ends the wait at once.";

/// What the web UI needs to know about where it is served.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// The URL browsers and clients use, without a trailing slash
    /// (`http://127.0.0.1:8765`, or the public URL behind a proxy).
    pub base_url: String,
    /// The stdio entry for clients that start MCPist themselves (Claude
    /// Desktop), when known.
    pub stdio_entry: Option<ServerEntry>,
    /// How the owner gets back in at once when wrong passwords have locked
    /// the login, shown on the lockout page. Logins are counted for the
    /// whole server (an attacker can spend them), so say how the owner ends
    /// the wait: a new password in the store, or a restart, always does.
    pub lockout_hint: String,
}

impl WebOptions {
    /// Options for a UI reached at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            stdio_entry: None,
            lockout_hint: DEFAULT_LOCKOUT_HINT.to_owned(),
        }
    }

    fn secure(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// How long a session may go without a request.
    fn session_idle(&self) -> Duration {
        if self.secure() {
            SESSION_IDLE
        } else {
            PLAIN_SESSION_IDLE
        }
    }

    /// How long a session lasts at most; over plain http the cookie says so
    /// too, so the browser drops it as well.
    fn session_max(&self) -> Duration {
        if self.secure() {
            SESSION_MAX
        } else {
            PLAIN_SESSION_MAX
        }
    }

    fn session_cookie(&self) -> &'static str {
        if self.secure() {
            "__Host-mcpist_session"
        } else {
            "mcpist_session"
        }
    }

    fn login_cookie(&self) -> &'static str {
        if self.secure() {
            "__Host-mcpist_login"
        } else {
            "mcpist_login"
        }
    }

    /// The redirect URI to register with `service`'s provider for logins
    /// started in the web UI.
    pub fn redirect_uri(&self, service: &str) -> String {
        format!("{}/oauth/callback/{service}", self.base_url)
    }
}

/// Hashes `password` with argon2id and a random salt (a PHC string).
pub fn hash_password(password: &SecretString) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::other("password hashing", std::io::Error::other(e.to_string())))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &SecretString, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
}

/// Sets the web UI password: at least [`MIN_PASSWORD_CHARS`] characters.
pub async fn set_password(store: &dyn TokenStore, password: &SecretString) -> Result<()> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::InvalidArguments(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let hash = hash_password(password)?;
    store
        .put_secret(PASSWORD_SECRET, &SecretString::from(hash))
        .await
}

/// A new random password: five groups of four letters and digits, with no
/// look-alike characters (about 119 bits).
pub fn generate_password() -> Result<SecretString> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| Error::other("password", e))?;
    let mut out = String::with_capacity(24);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
    }
    Ok(SecretString::from(out))
}

/// A random token for cookies and forms: 256 bits, hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Session {
    csrf: String,
    created: Instant,
    seen: Instant,
    flash: Option<String>,
}

/// The web UI's state, shared by its handlers.
struct Web {
    server: McpServer,
    options: WebOptions,
    flows: Arc<LoginFlows>,
    // Keyed by the SHA-256 of the cookie value: the map never holds a live cookie.
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    attempts: Mutex<Attempts>,
    verifier: Mutex<Option<Verifier>>,
}

/// A password to verify against a PHC hash, and where to send the verdict.
type Verification = (
    SecretString,
    SecretString,
    tokio::sync::oneshot::Sender<bool>,
);

/// Verifies passwords one at a time, on one thread of its own. An argon2
/// verification takes about 19 MiB: one at a time bounds what a burst of
/// logins can take, and one thread reuses that memory where each thread of
/// the blocking pool would keep its own. The thread ends with the web UI.
struct Verifier(std::sync::mpsc::Sender<Verification>);

impl Verifier {
    fn start() -> std::io::Result<Self> {
        let (send, receive) = std::sync::mpsc::channel::<Verification>();
        std::thread::Builder::new()
            .name("mcpist-password".into())
            .spawn(move || {
                for (password, hash, verdict) in receive {
                    let _ = verdict.send(verify_password(&password, hash.expose_secret()));
                }
            })?;
        Ok(Self(send))
    }
}

/// Password attempts in the current window: the wrong ones, and those being
/// verified (each reserved before its verification starts, so concurrent
/// attempts cannot all slip under the limit).
#[derive(Default)]
struct Attempts {
    /// When each counted attempt started, oldest first.
    started: VecDeque<Instant>,
    /// The SHA-256 of the password hash they were made against: a new
    /// password starts a new count.
    against: Option<[u8; 32]>,
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

/// A logged-in request: its session's key and CSRF token, and any message
/// left for this page by the previous POST.
struct Visit {
    key: [u8; 32],
    csrf: String,
    flash: Option<String>,
}

/// A submitted form's fields, in order (a name may repeat). Values may be
/// secrets (passwords, pasted tokens): they are wiped when the form drops.
struct Form(Vec<(String, Zeroizing<String>)>);

impl Form {
    fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Zeroizing::new(v.into_owned())))
                .collect(),
        )
    }

    /// The form in `body`, which is wiped once parsed.
    fn parse_wiping(body: &mut [u8]) -> Self {
        let form = Self::parse(body);
        body.zeroize();
        form
    }

    /// The form of a request body that carries a password: the body's
    /// buffer is wiped after parsing when this handler holds the only
    /// reference to it (hyper may hold another, which it reuses).
    fn parse_secret(body: Bytes) -> Self {
        match body.try_into_mut() {
            Ok(mut bytes) => Self::parse_wiping(&mut bytes),
            Err(shared) => Self::parse(&shared),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_owned()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.to_string())
            .collect()
    }

    fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
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

/// A `Set-Cookie` value: never readable by scripts, never sent cross-site,
/// `Secure` when the UI is served over https.
fn cookie(options: &WebOptions, name: &str, value: &str, max_age: Option<Duration>) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    if options.secure() {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).expect("cookie values are hex")
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

    /// Counts an attempt against the password hash `hash` before it is
    /// verified; refused (with the seconds to wait) when too many failed in
    /// the window. A hash other than the one counted so far (the owner set a
    /// new password) starts the count again.
    fn reserve_attempt(&self, hash: &str) -> std::result::Result<Instant, u64> {
        let digest: [u8; 32] = Sha256::digest(hash.as_bytes()).into();
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if attempts.against != Some(digest) {
            *attempts = Attempts {
                started: VecDeque::new(),
                against: Some(digest),
            };
        }
        let now = Instant::now();
        while attempts
            .started
            .front()
            .is_some_and(|t| now.duration_since(*t) >= LOGIN_WINDOW)
        {
            attempts.started.pop_front();
        }
        if let Some(oldest) = attempts.started.front()
            && attempts.started.len() >= LOGIN_FAILURES
        {
            return Err((LOGIN_WINDOW - now.duration_since(*oldest))
                .as_secs()
                .max(1));
        }
        attempts.started.push_back(now);
        Ok(now)
    }

    /// Takes back the attempt reserved at `at`: the password was right.
    fn release_attempt(&self, at: Instant) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = attempts.started.iter().position(|t| *t == at) {
            attempts.started.remove(i);
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
        let at = match self.reserve_attempt(hash.expose_secret()) {
            Ok(at) => at,
            Err(wait) => return PasswordCheck::Locked(wait),
        };
        let ok = match self.verify(password, hash) {
            Ok(verdict) => verdict.await.unwrap_or(false),
            Err(e) => {
                self.release_attempt(at);
                return PasswordCheck::Failed(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
            }
        };
        if ok {
            self.release_attempt(at);
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
    };
    let web = Arc::new(Web {
        server,
        options,
        flows,
        sessions: Mutex::new(HashMap::new()),
        attempts: Mutex::new(Attempts::default()),
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
        .route("/connect/{service}", post(connect))
        .route("/apps", get(apps_page))
        .route("/apps/{service}", post(set_app))
        .route("/policy/{service}", get(policy_page).post(set_policy))
        .route("/audit", get(audit_page))
        .route("/clients", get(clients_page).post(reveal_bearer))
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
        return redirect("/");
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
    let mut response = redirect("/");
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

/// The status a listed account shows: `ok`, `expiring`, `expired` or the stored one.
fn account_status(info: &mcpist_core::store::AccountInfo, now: u64) -> &'static str {
    use mcpist_core::store::AccountStatus;
    match (info.status, info.expires_at) {
        (AccountStatus::Ok, Some(t)) if t <= now => "expired",
        (AccountStatus::Ok, Some(t)) if t <= now + 3600 => "expiring",
        (status, _) => status.as_str(),
    }
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
                    account_status(info, now)
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
    let account = form.text("account");
    let result = async {
        AccountKey::new(&service, &account)?;
        let exchanger = web.server.exchanger();
        let spec = exchanger.oauth_spec(&service).ok_or_else(|| {
            Error::InvalidArguments(format!("{service} does not support OAuth login"))
        })?;
        let scopes: Vec<String> = match form.text("scopes") {
            s if s.is_empty() => spec.scopes.clone(),
            s => s
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        let client = exchanger.oauth_client(&service).await?;
        web.flows.start(
            &client,
            &service,
            &account,
            &web.options.redirect_uri(&service),
            &scopes,
        )
    }
    .await;
    match result {
        Ok(url) => redirect(url.as_str()),
        Err(e) => {
            web.flash(&visit, format!("Could not start the login: {e}"));
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
    fn passwords_hash_and_verify() {
        let password = SecretString::from("correct horse battery".to_owned());
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&password, &hash));
        assert!(!verify_password(
            &SecretString::from("wrong".to_owned()),
            &hash
        ));
        assert!(!verify_password(&password, "not a hash"));
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.expose_secret().len(), 24);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn hints_hide_all_but_eight_characters_of_long_tokens() {
        assert_eq!(token_hint("ghp_0123456789abcdefghijWXYZ"), "ghp_…WXYZ");
        assert_eq!(token_hint("short-token"), "••••");
    }

    #[test]
    fn cookies_are_secure_with_a_host_prefix_behind_https() {
        let local = WebOptions::new("http://127.0.0.1:8765/");
        assert_eq!(local.base_url, "http://127.0.0.1:8765");
        let plain = cookie(&local, local.session_cookie(), "ab", None);
        assert_eq!(
            plain,
            "mcpist_session=ab; Path=/; HttpOnly; SameSite=Strict"
        );
        let public = WebOptions::new("https://mcpist.example.net");
        let name = public.session_cookie();
        assert_eq!(name, "__Host-mcpist_session");
        let secure = cookie(&public, name, "ab", Some(Duration::ZERO));
        assert_eq!(
            secure,
            "__Host-mcpist_session=ab; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
        assert_eq!(
            public.redirect_uri("github"),
            "https://mcpist.example.net/oauth/callback/github"
        );
    }

    #[test]
    fn password_forms_wipe_their_body() {
        let mut body = b"csrf=ab&password=hunter2-hunter2".to_vec();
        let form = Form::parse_wiping(&mut body);
        assert_eq!(form.get("password"), Some("hunter2-hunter2"));
        assert!(body.iter().all(|b| *b == 0), "{body:?}");
        let shared = Bytes::from_static(b"password=p");
        let again = Form::parse_secret(shared.clone());
        assert_eq!(again.get("password"), Some("p"), "a shared body is parsed");
    }

    #[test]
    fn forms_keep_repeated_fields() {
        let form = Form::parse(b"tool=a&tool=b&csrf=x%20y&empty=");
        assert_eq!(form.all("tool"), ["a", "b"]);
        assert_eq!(form.get("csrf"), Some("x y"));
        assert!(form.checked("empty"));
        assert!(!form.checked("missing"));
    }
}
