//! Where the web UI is served, and what follows from it: cookie names,
//! session lifetimes, redirect URIs.

use std::time::Duration;

use mcpist_core::clients::ServerEntry;

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
    /// MCPist's own authorization server for remote clients, when on: the
    /// UI serves its authorization endpoint (login, then consent) and the
    /// "Remote clients" page.
    pub oauth: Option<mcpist_core::auth_server::AuthServer>,
    /// The names of the prompts the config file defines (`[prompts.NAME]`):
    /// the prompts page shows them as the config file's and refuses to save
    /// a prompt under one of them (the config file's wins).
    pub configured_prompts: std::collections::BTreeSet<String>,
}

impl WebOptions {
    /// Options for a UI reached at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            stdio_entry: None,
            lockout_hint: DEFAULT_LOCKOUT_HINT.to_owned(),
            oauth: None,
            configured_prompts: std::collections::BTreeSet::new(),
        }
    }

    pub(crate) fn secure(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// How long a session may go without a request.
    pub(crate) fn session_idle(&self) -> Duration {
        if self.secure() {
            SESSION_IDLE
        } else {
            PLAIN_SESSION_IDLE
        }
    }

    /// How long a session lasts at most; over plain http the cookie says so
    /// too, so the browser drops it as well.
    pub(crate) fn session_max(&self) -> Duration {
        if self.secure() {
            SESSION_MAX
        } else {
            PLAIN_SESSION_MAX
        }
    }

    pub(crate) fn session_cookie(&self) -> &'static str {
        if self.secure() {
            "__Host-mcpist_session"
        } else {
            "mcpist_session"
        }
    }

    pub(crate) fn login_cookie(&self) -> &'static str {
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
