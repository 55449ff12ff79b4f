//! MCPist's own OAuth 2.1 authorization server, for remote MCP clients
//! (Claude.ai, ChatGPT, phones) that accept only OAuth.
//!
//! MCPist is both the resource server (`/mcp`) and the authorization server;
//! the one user consents behind the web UI login. A remote client gets a
//! short-lived MCPist access token bound to MCPist's MCP URL, never an
//! upstream token.
//!
//! - Clients register with Dynamic Client Registration (RFC 7591) and are
//!   public clients (PKCE, no secret).
//! - Codes live 60 s at most and are single-use; a code presented twice
//!   revokes what it issued.
//! - Refresh tokens rotate; presenting a rotated one revokes its whole
//!   family (every access and refresh token descended from the same grant).
//! - Codes and tokens are kept only as SHA-256 hashes, inside one sealed
//!   store secret ([`STATE_SECRET`]), so nothing usable is at rest.
//!
//! The HTTP side (metadata, registration, token and revocation endpoints)
//! is in [`routes`]; the authorization endpoint needs the web UI session and
//! lives in `mcpist-web`.

pub mod cimd;
pub mod routes;
pub(crate) mod scope;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{AuditEvent, AuditKind, AuditOutcome, AuditSink, Outcome, now_ms};
use crate::store::TokenStore;
use crate::{Error, Result};

/// The store secret holding the authorization server's state (clients,
/// hashes of codes and tokens), sealed like every secret.
pub const STATE_SECRET: &str = "oauth_server_state";

/// The scope for everything policy allows.
pub const SCOPE_ALL: &str = "mcp";
/// The scope for read-only tools only.
pub const SCOPE_READ: &str = "mcp:read";
/// Every scope the server knows, as advertised in its metadata.
pub const SCOPES: [&str; 2] = [SCOPE_ALL, SCOPE_READ];

/// How long an authorization code is valid.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// Default lifetime of an access token.
pub const DEFAULT_ACCESS_LIFETIME: Duration = Duration::from_secs(3600);
/// Default lifetime of a refresh token (each rotation starts a new one).
pub const DEFAULT_REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Registered clients at most; registration is open, so it is bounded.
const MAX_CLIENTS: usize = 100;
/// Redirect URIs per client at most.
const MAX_REDIRECT_URIS: usize = 10;
/// Longest accepted redirect URI, client name or client URI.
const MAX_FIELD_CHARS: usize = 2000;
/// A client's "last used" is written at most this often.
const LAST_USED_EVERY_MS: u64 = 60_000;

/// Settings of the authorization server.
#[derive(Debug, Clone)]
pub struct AuthServerOptions {
    /// The URL clients reach MCPist at, without a trailing slash; it is the
    /// issuer, and `{public_url}/mcp` is the one resource tokens are for.
    pub public_url: String,
    /// How long an access token is valid.
    pub access_lifetime: Duration,
    /// How long a refresh token is valid.
    pub refresh_lifetime: Duration,
    /// How long an authorization code is valid; at most (and by default)
    /// [`CODE_LIFETIME`].
    pub code_lifetime: Duration,
    /// How long fetching a client id metadata document may take.
    pub cimd_timeout: Duration,
    /// TEST ONLY: accept client id metadata documents over plain http on
    /// loopback addresses. Production servers leave it false: documents are
    /// then fetched over https from public addresses only.
    pub cimd_allow_loopback_http: bool,
}

impl AuthServerOptions {
    /// Options for a server reached at `public_url`, with default lifetimes.
    pub fn new(public_url: impl Into<String>) -> Self {
        Self {
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            access_lifetime: DEFAULT_ACCESS_LIFETIME,
            refresh_lifetime: DEFAULT_REFRESH_LIFETIME,
            code_lifetime: CODE_LIFETIME,
            cimd_timeout: Duration::from_secs(5),
            cimd_allow_loopback_http: false,
        }
    }
}

/// A registered client, as the web UI lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredClient {
    /// The client id MCPist assigned.
    pub client_id: String,
    /// The name the client gave (not verified: shown as "says it is").
    pub client_name: Option<String>,
    /// The redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// When it registered, in ms since the epoch.
    pub created_ms: u64,
    /// When one of its tokens was last used, in ms since the epoch.
    pub last_used_ms: Option<u64>,
    /// The scopes of its live grants (empty when it has none).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// An OAuth error as the endpoints answer it (RFC 6749 §5.2 codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The `error` code: `invalid_request`, `invalid_grant`, …
    pub code: &'static str,
    /// A human-readable `error_description`; never contains a secret.
    pub description: String,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

/// A checked authorization request, ready for the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// The client.
    pub client: RegisteredClient,
    /// The redirect URI (one of the client's, exactly).
    pub redirect_uri: String,
    /// The scopes asked (known ones only).
    pub scopes: Vec<String>,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The client's `state`, passed back as is.
    pub state: Option<String>,
}

/// Why an authorization request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show the error, never
    /// redirect (that would be an open redirect).
    Show(String),
    /// Send the error back to the client's (verified) redirect URI.
    Redirect {
        /// The verified redirect URI.
        redirect_uri: String,
        /// The OAuth error.
        error: OAuthError,
        /// The client's `state`.
        state: Option<String>,
    },
}

/// Tokens issued by the token endpoint.
#[derive(Debug)]
pub struct IssuedTokens {
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token.
    pub refresh_token: SecretString,
    /// Seconds the access token is valid for.
    pub expires_in: u64,
    /// The granted scopes, space-separated.
    pub scope: String,
}

/// What a valid access token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The client it was issued to.
    pub client_id: String,
    /// Its scopes.
    pub scopes: Vec<String>,
}

impl Grant {
    /// Whether the grant is for read-only tools only.
    pub fn read_only(&self) -> bool {
        !self.scopes.iter().any(|s| s == SCOPE_ALL)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    clients: BTreeMap<String, RegisteredClient>,
    codes: Vec<CodeRecord>,
    tokens: Vec<TokenRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CodeRecord {
    hash: String,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
    expires_ms: u64,
    /// The family its exchange started; set once the code was used.
    used_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TokenKind {
    Access,
    Refresh,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    hash: String,
    kind: TokenKind,
    client_id: String,
    scopes: Vec<String>,
    resource: String,
    family: String,
    expires_ms: u64,
    /// A refresh token that was exchanged: presenting it again is reuse.
    rotated: bool,
}

/// The authorization server. Cheap to clone.
#[derive(Clone)]
pub struct AuthServer {
    inner: Arc<Inner>,
}

struct Inner {
    options: AuthServerOptions,
    store: Arc<dyn TokenStore>,
    audit: Arc<dyn AuditSink>,
    /// Serialises the read-modify-write of the state in this process.
    lock: tokio::sync::Mutex<()>,
}

impl fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthServer")
            .field("issuer", &self.inner.options.public_url)
            .finish_non_exhaustive()
    }
}

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn random(prefix: &str) -> SecretString {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    SecretString::from(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The PKCE S256 transform of `verifier` (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` is a valid PKCE code verifier: 43 to 128 characters
/// of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Checks a redirect URI a client registers: https, http on a loopback
/// host, or a private-use scheme of a native app (RFC 8252); never a
/// scheme a browser runs or reads (`javascript:`, `data:`, `file:`…), never
/// a fragment.
fn check_redirect_uri(uri: &str) -> std::result::Result<(), String> {
    if uri.len() > MAX_FIELD_CHARS {
        return Err("a redirect URI is too long".into());
    }
    let parsed = url::Url::parse(uri).map_err(|e| format!("redirect URI {uri:?}: {e}"))?;
    if parsed.fragment().is_some() {
        return Err(format!("redirect URI {uri:?} has a fragment"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "redirect URI {uri:?} is plain http to a host other than loopback; use https"
                ))
            }
        }
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" | "ftp" | "ws" | "wss" => {
            Err(format!(
                "redirect URI scheme {:?} is not allowed",
                parsed.scheme()
            ))
        }
        _ => Ok(()),
    }
}

fn parse_scopes(scope: Option<&str>) -> std::result::Result<Vec<String>, OAuthError> {
    let Some(scope) = scope.filter(|s| !s.trim().is_empty()) else {
        return Ok(vec![SCOPE_ALL.to_owned()]);
    };
    let mut scopes = Vec::new();
    for s in scope.split_ascii_whitespace() {
        if !SCOPES.contains(&s) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!(
                    "unknown scope {s:?}; this server knows {}",
                    SCOPES.join(", ")
                ),
            ));
        }
        if !scopes.iter().any(|k| k == s) {
            scopes.push(s.to_owned());
        }
    }
    Ok(scopes)
}

/// What a scope allows, in words for the consent page.
pub fn scope_description(scope: &str) -> &'static str {
    match scope {
        SCOPE_ALL => {
            "call every tool your policy allows, reads and writes, on your connected accounts"
        }
        SCOPE_READ => "call only the read-only tools your policy allows",
        _ => "unknown",
    }
}

impl AuthServer {
    /// An authorization server keeping its state in `store` and auditing to `audit`.
    pub fn new(
        options: AuthServerOptions,
        store: Arc<dyn TokenStore>,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                store,
                audit,
                lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The issuer identifier: the public URL.
    pub fn issuer(&self) -> &str {
        &self.inner.options.public_url
    }

    /// The one resource tokens are for: `{public_url}/mcp`.
    pub fn resource(&self) -> String {
        format!("{}/mcp", self.inner.options.public_url)
    }

    /// The URL of the protected resource metadata of `/mcp`.
    pub fn resource_metadata_url(&self) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            self.inner.options.public_url
        )
    }

    /// The options.
    pub fn options(&self) -> &AuthServerOptions {
        &self.inner.options
    }

    async fn load(&self) -> Result<State> {
        match self.inner.store.get_secret(STATE_SECRET).await? {
            None => Ok(State::default()),
            Some(json) => serde_json::from_str(json.expose_secret()).map_err(|e| {
                Error::Store(format!(
                    "the authorization server state does not parse: {e}"
                ))
            }),
        }
    }

    async fn save(&self, mut state: State) -> Result<()> {
        let now = now_ms();
        state.codes.retain(|c| c.expires_ms > now);
        state.tokens.retain(|t| t.expires_ms > now);
        let json = serde_json::to_string(&state).map_err(|e| {
            Error::Store(format!("cannot encode the authorization server state: {e}"))
        })?;
        self.inner
            .store
            .put_secret(STATE_SECRET, &SecretString::from(json))
            .await
    }

    async fn audit(&self, client_id: &str, outcome: Outcome, message: String) {
        let event = AuditEvent::now(AuditKind::RemoteClient)
            .service("mcpist")
            .account(client_id.chars().take(200).collect::<String>());
        if let Err(e) = self
            .inner
            .audit
            .record(event, AuditOutcome::of(outcome).message(message))
            .await
        {
            tracing::error!(error = %e, "could not audit a remote client event");
        }
    }

    /// Registers a client from an RFC 7591 request body; answers the
    /// registration response body. Nothing is stored when it is refused.
    pub async fn register(
        &self,
        request: &serde_json::Value,
    ) -> std::result::Result<serde_json::Value, OAuthError> {
        let invalid = |d: String| OAuthError::new("invalid_client_metadata", d);
        let uris = request
            .get("redirect_uris")
            .and_then(|v| v.as_array())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| OAuthError::new("invalid_redirect_uri", "redirect_uris is required"))?;
        if uris.len() > MAX_REDIRECT_URIS {
            return Err(OAuthError::new(
                "invalid_redirect_uri",
                format!("at most {MAX_REDIRECT_URIS} redirect URIs"),
            ));
        }
        let mut redirect_uris = Vec::new();
        for uri in uris {
            let uri = uri.as_str().ok_or_else(|| {
                OAuthError::new("invalid_redirect_uri", "redirect URIs are strings")
            })?;
            check_redirect_uri(uri).map_err(|e| OAuthError::new("invalid_redirect_uri", e))?;
            redirect_uris.push(uri.to_owned());
        }
        for (field, allowed) in [
            ("grant_types", &["authorization_code", "refresh_token"][..]),
            ("response_types", &["code"][..]),
        ] {
            if let Some(values) = request.get(field) {
                let values = values
                    .as_array()
                    .ok_or_else(|| invalid(format!("{field} is a list")))?;
                for v in values {
                    if !v.as_str().is_some_and(|v| allowed.contains(&v)) {
                        return Err(invalid(format!(
                            "{field} may hold only {}",
                            allowed.join(", ")
                        )));
                    }
                }
            }
        }
        if let Some(scope) = request.get("scope") {
            parse_scopes(scope.as_str()).map_err(|e| invalid(e.description))?;
        }
        let client_name = match request.get("client_name") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => {
                let name = v
                    .as_str()
                    .ok_or_else(|| invalid("client_name is a string".into()))?;
                if name.chars().count() > 200 || name.chars().any(char::is_control) {
                    return Err(invalid(
                        "client_name is too long or has control characters".into(),
                    ));
                }
                Some(name.to_owned())
            }
        };
        let now = now_ms();
        let client = RegisteredClient {
            client_id: format!("mcpist-{}", random_id()),
            client_name,
            redirect_uris,
            created_ms: now,
            last_used_ms: None,
            scopes: Vec::new(),
        };
        {
            let _lock = self.inner.lock.lock().await;
            let mut state = self
                .load()
                .await
                .map_err(|e| OAuthError::new("server_error", e.to_string()))?;
            if state.clients.len() >= MAX_CLIENTS {
                return Err(OAuthError::new(
                    "invalid_client_metadata",
                    format!(
                        "{MAX_CLIENTS} clients are registered already; revoke some in the web UI"
                    ),
                ));
            }
            state
                .clients
                .insert(client.client_id.clone(), client.clone());
            self.save(state)
                .await
                .map_err(|e| OAuthError::new("server_error", e.to_string()))?;
        }
        self.audit(
            &client.client_id,
            Outcome::Ok,
            format!(
                "registered client {:?}",
                client.client_name.as_deref().unwrap_or("(no name)")
            ),
        )
        .await;
        Ok(serde_json::json!({
            "client_id": client.client_id,
            "client_id_issued_at": now / 1000,
            "client_name": client.client_name,
            "redirect_uris": client.redirect_uris,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": SCOPES.join(" "),
        }))
    }

    /// Checks an authorization request's query parameters.
    pub async fn check_authorize(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<std::result::Result<AuthRequest, AuthorizeError>> {
        let get = |k: &str| params.get(k).map(String::as_str);
        let state_param = get("state").map(str::to_owned);
        let Some(client_id) = get("client_id") else {
            return Ok(Err(AuthorizeError::Show(
                "the request names no client_id".into(),
            )));
        };
        let client = if cimd::is_document_id(client_id) {
            match cimd::fetch(&self.inner.options, client_id).await {
                Ok(client) => client,
                Err(e) => {
                    tracing::warn!(error = %e, "refused a client id metadata document");
                    return Ok(Err(AuthorizeError::Show(format!(
                        "the client's metadata document was refused: {e}"
                    ))));
                }
            }
        } else {
            let Some(client) = self.load().await?.clients.remove(client_id) else {
                return Ok(Err(AuthorizeError::Show(
                    "this client is not registered here (or was revoked)".into(),
                )));
            };
            client
        };
        let redirect_uri = match get("redirect_uri") {
            Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_owned(),
            Some(_) => {
                return Ok(Err(AuthorizeError::Show(
                    "the redirect URI is not one this client registered".into(),
                )));
            }
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => {
                return Ok(Err(AuthorizeError::Show(
                    "the request names no redirect_uri".into(),
                )));
            }
        };
        let refuse = |code, d: &str| {
            Ok(Err(AuthorizeError::Redirect {
                redirect_uri: redirect_uri.clone(),
                error: OAuthError::new(code, d),
                state: state_param.clone(),
            }))
        };
        if get("response_type") != Some("code") {
            return refuse("unsupported_response_type", "response_type must be code");
        }
        let Some(challenge) = get("code_challenge") else {
            return refuse("invalid_request", "PKCE is required: send code_challenge");
        };
        if get("code_challenge_method") != Some("S256") {
            return refuse("invalid_request", "code_challenge_method must be S256");
        }
        if challenge.len() != 43
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return refuse("invalid_request", "code_challenge is not an S256 challenge");
        }
        if let Some(resource) = get("resource")
            && resource.trim_end_matches('/') != self.resource()
        {
            return refuse("invalid_target", "resource must be this server's MCP URL");
        }
        let scopes = match parse_scopes(get("scope")) {
            Ok(scopes) => scopes,
            Err(e) => return refuse(e.code, &e.description),
        };
        Ok(Ok(AuthRequest {
            client,
            redirect_uri,
            scopes,
            code_challenge: challenge.to_owned(),
            state: state_param,
        }))
    }

    /// The user approved `request`: a code for it (single-use, 60 s), to
    /// send to the redirect URI.
    pub async fn approve(&self, request: &AuthRequest) -> Result<SecretString> {
        let code = random("mcpac_");
        {
            let _lock = self.inner.lock.lock().await;
            let mut state = self.load().await?;
            let id = &request.client.client_id;
            if cimd::is_document_id(id) {
                // A metadata-document client is recorded once the user allows it.
                if !state.clients.contains_key(id) && state.clients.len() >= MAX_CLIENTS {
                    return Err(Error::InvalidArguments(format!(
                        "{MAX_CLIENTS} clients are registered already; revoke some first"
                    )));
                }
                let created_ms = state.clients.get(id).map(|c| c.created_ms);
                let entry = state
                    .clients
                    .entry(id.clone())
                    .or_insert_with(|| request.client.clone());
                entry.redirect_uris = request.client.redirect_uris.clone();
                entry.client_name = request.client.client_name.clone();
                entry.created_ms = created_ms.unwrap_or(entry.created_ms);
            } else if !state.clients.contains_key(id) {
                return Err(Error::InvalidArguments(
                    "the client was revoked meanwhile".into(),
                ));
            }
            state.codes.push(CodeRecord {
                hash: hash(code.expose_secret()),
                client_id: request.client.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                challenge: request.code_challenge.clone(),
                scopes: request.scopes.clone(),
                expires_ms: now_ms()
                    + self
                        .inner
                        .options
                        .code_lifetime
                        .min(CODE_LIFETIME)
                        .as_millis() as u64,
                used_by: None,
            });
            self.save(state).await?;
        }
        self.audit(
            &request.client.client_id,
            Outcome::Ok,
            format!("granted scopes {}", request.scopes.join(" ")),
        )
        .await;
        Ok(code)
    }

    /// The user denied `request`: audited.
    pub async fn deny(&self, request: &AuthRequest) {
        self.audit(
            &request.client.client_id,
            Outcome::Denied,
            "the user denied the authorization".into(),
        )
        .await;
    }

    /// The token endpoint: a form's fields to tokens, or the OAuth error.
    pub async fn token(
        &self,
        form: &BTreeMap<String, String>,
    ) -> std::result::Result<IssuedTokens, OAuthError> {
        let get = |k: &str| form.get(k).map(String::as_str);
        let server_error = |e: Error| OAuthError::new("server_error", e.to_string());
        let resource = self.resource();
        if let Some(asked) = get("resource")
            && asked.trim_end_matches('/') != resource
        {
            return Err(OAuthError::new(
                "invalid_target",
                "resource must be this server's MCP URL",
            ));
        }
        let client_id = get("client_id")
            .ok_or_else(|| OAuthError::new("invalid_client", "client_id is required"))?;
        let _lock = self.inner.lock.lock().await;
        let mut state = self.load().await.map_err(server_error)?;
        if !state.clients.contains_key(client_id) {
            return Err(OAuthError::new("invalid_client", "unknown client"));
        }
        let now = now_ms();
        let (scopes, family, message) = match get("grant_type") {
            Some("authorization_code") => {
                let code = get("code")
                    .ok_or_else(|| OAuthError::new("invalid_request", "code is required"))?;
                let code_hash = hash(code);
                let Some(record) = state.codes.iter_mut().find(|c| c.hash == code_hash) else {
                    return Err(OAuthError::new("invalid_grant", "unknown or expired code"));
                };
                if record.expires_ms <= now {
                    return Err(OAuthError::new("invalid_grant", "unknown or expired code"));
                }
                if let Some(family) = record.used_by.clone() {
                    // RFC 6749 §4.1.2: a code used twice revokes what it issued.
                    let client = record.client_id.clone();
                    state.tokens.retain(|t| t.family != family);
                    self.save(state).await.map_err(server_error)?;
                    drop(_lock);
                    self.audit(
                        &client,
                        Outcome::Denied,
                        "an authorization code was presented twice: its tokens are revoked".into(),
                    )
                    .await;
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "the code was used already",
                    ));
                }
                if record.client_id != client_id {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "the code is another client's",
                    ));
                }
                if get("redirect_uri") != Some(record.redirect_uri.as_str()) {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "redirect_uri does not match the authorization request",
                    ));
                }
                let verifier = get("code_verifier").unwrap_or("");
                if !valid_verifier(verifier) || s256(verifier) != record.challenge {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "the PKCE code_verifier does not match the challenge",
                    ));
                }
                let family = random_id();
                record.used_by = Some(family.clone());
                (record.scopes.clone(), family, "issued tokens for a code")
            }
            Some("refresh_token") => {
                let token = get("refresh_token").ok_or_else(|| {
                    OAuthError::new("invalid_request", "refresh_token is required")
                })?;
                let token_hash = hash(token);
                let Some(record) = state
                    .tokens
                    .iter_mut()
                    .find(|t| t.kind == TokenKind::Refresh && t.hash == token_hash)
                else {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "unknown, expired or revoked refresh token",
                    ));
                };
                if record.client_id != client_id {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "the refresh token is another client's",
                    ));
                }
                if record.rotated {
                    let family = record.family.clone();
                    state.tokens.retain(|t| t.family != family);
                    self.save(state).await.map_err(server_error)?;
                    drop(_lock);
                    self.audit(
                        client_id,
                        Outcome::Denied,
                        "a rotated refresh token was reused: its whole family is revoked".into(),
                    )
                    .await;
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "the refresh token was used already; every token of this grant is revoked",
                    ));
                }
                let mut scopes = record.scopes.clone();
                if let Some(asked) = get("scope") {
                    let asked = parse_scopes(Some(asked))?;
                    if asked.iter().any(|s| !scopes.contains(s)) {
                        return Err(OAuthError::new(
                            "invalid_scope",
                            "a refresh cannot widen the granted scopes",
                        ));
                    }
                    scopes = asked;
                }
                record.rotated = true;
                let family = record.family.clone();
                // The access tokens of the rotated refresh token end with it.
                state
                    .tokens
                    .retain(|t| !(t.family == family && t.kind == TokenKind::Access));
                (scopes, family, "refreshed tokens")
            }
            _ => {
                return Err(OAuthError::new(
                    "unsupported_grant_type",
                    "grant_type must be authorization_code or refresh_token",
                ));
            }
        };
        let access = random("mcpat_");
        let refresh = random("mcprt_");
        let options = &self.inner.options;
        for (token, kind, lifetime) in [
            (&access, TokenKind::Access, options.access_lifetime),
            (&refresh, TokenKind::Refresh, options.refresh_lifetime),
        ] {
            state.tokens.push(TokenRecord {
                hash: hash(token.expose_secret()),
                kind,
                client_id: client_id.to_owned(),
                scopes: scopes.clone(),
                resource: resource.clone(),
                family: family.clone(),
                expires_ms: now + lifetime.as_millis() as u64,
                rotated: false,
            });
        }
        if let Some(client) = state.clients.get_mut(client_id) {
            client.last_used_ms = Some(now);
        }
        self.save(state).await.map_err(server_error)?;
        drop(_lock);
        self.audit(
            client_id,
            Outcome::Ok,
            format!("{message} ({})", scopes.join(" ")),
        )
        .await;
        Ok(IssuedTokens {
            access_token: access,
            refresh_token: refresh,
            expires_in: options.access_lifetime.as_secs(),
            scope: scopes.join(" "),
        })
    }

    /// RFC 7009 revocation: revokes the token's whole family (an access or
    /// a refresh token alike). Unknown tokens are not an error.
    pub async fn revoke(&self, token: &str) -> Result<()> {
        let token_hash = hash(token);
        let _lock = self.inner.lock.lock().await;
        let mut state = self.load().await?;
        let Some(record) = state.tokens.iter().find(|t| t.hash == token_hash).cloned() else {
            return Ok(());
        };
        state.tokens.retain(|t| t.family != record.family);
        self.save(state).await?;
        drop(_lock);
        self.audit(
            &record.client_id,
            Outcome::Ok,
            "revoked a grant (RFC 7009)".into(),
        )
        .await;
        Ok(())
    }

    /// Removes a client and every token issued to it (the web UI's revoke).
    /// Returns whether it was registered.
    pub async fn remove_client(&self, client_id: &str) -> Result<bool> {
        let _lock = self.inner.lock.lock().await;
        let mut state = self.load().await?;
        let existed = state.clients.remove(client_id).is_some();
        state.tokens.retain(|t| t.client_id != client_id);
        state.codes.retain(|c| c.client_id != client_id);
        self.save(state).await?;
        drop(_lock);
        if existed {
            self.audit(
                client_id,
                Outcome::Ok,
                "revoked the client and its tokens".into(),
            )
            .await;
        }
        Ok(existed)
    }

    /// The registered clients, with the scopes of their live grants.
    pub async fn clients(&self) -> Result<Vec<RegisteredClient>> {
        let state = self.load().await?;
        let now = now_ms();
        Ok(state
            .clients
            .values()
            .map(|c| {
                let mut client = c.clone();
                for t in state
                    .tokens
                    .iter()
                    .filter(|t| t.client_id == c.client_id && t.expires_ms > now)
                {
                    for s in &t.scopes {
                        if !client.scopes.contains(s) {
                            client.scopes.push(s.clone());
                        }
                    }
                }
                client
            })
            .collect())
    }

    /// What `token` grants, if it is a live access token for this server's
    /// resource.
    pub async fn verify(&self, token: &str) -> Result<Option<Grant>> {
        let token_hash = hash(token);
        let state = self.load().await?;
        let now = now_ms();
        let Some(record) = state
            .tokens
            .iter()
            .find(|t| t.kind == TokenKind::Access && t.hash == token_hash && t.expires_ms > now)
        else {
            return Ok(None);
        };
        if record.resource != self.resource() || !state.clients.contains_key(&record.client_id) {
            return Ok(None);
        }
        let grant = Grant {
            client_id: record.client_id.clone(),
            scopes: record.scopes.clone(),
        };
        let stale = state
            .clients
            .get(&record.client_id)
            .is_some_and(|c| c.last_used_ms.is_none_or(|t| t + LAST_USED_EVERY_MS < now));
        if stale {
            let _lock = self.inner.lock.lock().await;
            let mut state = self.load().await?;
            if let Some(client) = state.clients.get_mut(&grant.client_id) {
                client.last_used_ms = Some(now);
            }
            self.save(state).await?;
        }
        Ok(Some(grant))
    }
}
