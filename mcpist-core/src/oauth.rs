//! OAuth 2.0 with the user's own apps: authorization code with PKCE (S256),
//! and the token endpoint calls behind login and refresh.
//!
//! A connector declares its provider's endpoints and default scopes in an
//! [`OAuthSpec`]; the `[connectors.NAME.oauth]` table overrides any of them
//! ([`OAuthOverrides`]), which is how GitHub Enterprise, and tests with a
//! fake provider, point them elsewhere. The user's client id and secret are an
//! [`AppCredentials`], stored sealed in the token store.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::Mutex,
    time::{Duration, Instant},
};

use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
    basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;
use zeroize::Zeroizing;

use crate::{Error, Result, store::TokenStore, store::now_unix};

/// How long a started login may wait for its callback.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);

// What a connector declares about its OAuth provider is part of the
// connector contract and lives beside the `Connector` trait.
pub use crate::connector::{ClientAuthMethod, OAuthSpec};

/// The `[connectors.NAME.oauth]` table: overrides of a connector's [`OAuthSpec`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthOverrides {
    /// Replaces the authorization endpoint.
    pub authorize_url: Option<String>,
    /// Replaces the token endpoint.
    pub token_url: Option<String>,
    /// Replaces the default scopes.
    pub scopes: Option<Vec<String>>,
    /// Replaces the extra authorization parameters.
    pub extra_authorize_params: Option<BTreeMap<String, String>>,
    /// Replaces how the client authenticates at the token endpoint.
    pub client_auth: Option<ClientAuthMethod>,
}

impl OAuthOverrides {
    /// Takes the `oauth` table out of a connector's config table.
    pub fn take_from(service: &str, table: &mut Value) -> Result<Self> {
        match table.as_object_mut().and_then(|t| t.remove("oauth")) {
            None => Ok(Self::default()),
            Some(raw) => serde_json::from_value(raw)
                .map_err(|e| Error::config(service.to_owned(), format!("oauth: {e}"))),
        }
    }

    /// `spec` with these overrides applied, its URLs checked (https, or http on loopback).
    pub fn apply(self, service: &'static str, mut spec: OAuthSpec) -> Result<OAuthSpec> {
        if let Some(url) = self.authorize_url {
            spec.authorize_url = url;
        }
        if let Some(url) = self.token_url {
            spec.token_url = url;
        }
        if let Some(scopes) = self.scopes {
            spec.scopes = scopes;
        }
        if let Some(params) = self.extra_authorize_params {
            spec.extra_authorize_params = params.into_iter().collect();
        }
        if let Some(method) = self.client_auth {
            spec.client_auth = method;
        }
        for url in [&spec.authorize_url, &spec.token_url] {
            crate::upstream::parse_base_url(service, url)
                .map_err(|e| Error::config(service, format!("oauth: {e}")))?;
        }
        Ok(spec)
    }
}

/// The user's OAuth app for a service.
#[derive(Clone)]
pub struct AppCredentials {
    /// The client id (public).
    pub client_id: String,
    /// The client secret; absent for public clients.
    pub client_secret: Option<SecretString>,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

fn app_secret_name(service: &str) -> String {
    format!("app/{service}")
}

impl AppCredentials {
    /// The app stored for `service`, if any.
    pub async fn load(store: &dyn TokenStore, service: &str) -> Result<Option<Self>> {
        #[derive(Deserialize)]
        struct Stored {
            id: String,
            secret: Option<String>,
        }
        let Some(raw) = store.get_secret(&app_secret_name(service)).await? else {
            return Ok(None);
        };
        let stored: Stored = serde_json::from_str(raw.expose_secret())
            .map_err(|_| Error::Store(format!("the {service} app record is damaged")))?;
        Ok(Some(Self {
            client_id: stored.id,
            client_secret: stored.secret.map(SecretString::from),
        }))
    }

    /// Stores this app for `service`, sealed like tokens.
    pub async fn save(&self, store: &dyn TokenStore, service: &str) -> Result<()> {
        #[derive(Serialize)]
        struct Stored<'a> {
            id: &'a str,
            secret: Option<&'a str>,
        }
        let text = Zeroizing::new(
            serde_json::to_string(&Stored {
                id: &self.client_id,
                secret: self.client_secret.as_ref().map(|s| s.expose_secret()),
            })
            .expect("strings serialize"),
        );
        store
            .put_secret(
                &app_secret_name(service),
                &SecretString::from(text.as_str()),
            )
            .await
    }
}

/// What a token endpoint granted.
#[derive(Clone)]
pub struct Grant {
    /// The new access token.
    pub access_token: SecretString,
    /// The new refresh token, if the provider sent one.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires (Unix seconds), if the provider said.
    pub expires_at: Option<u64>,
    /// The scopes granted, if the provider said.
    pub scopes: Vec<String>,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Why a token endpoint call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The provider refused the grant for good (`invalid_grant` and the
    /// like): the user must log in again.
    Rejected(String),
    /// The provider could not be reached or failed (5xx, timeout): try later.
    Temporary(String),
    /// Anything else (a misconfigured app, an unreadable answer).
    Other(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(m) => write!(f, "the provider rejected the grant: {m}"),
            Self::Temporary(m) => write!(f, "the token endpoint is unavailable: {m}"),
            Self::Other(m) => write!(f, "the token request failed: {m}"),
        }
    }
}

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Talks to one provider's endpoints with one app.
#[derive(Debug)]
pub struct OAuthClient {
    spec: OAuthSpec,
    client: Client,
    http: reqwest::Client,
}

impl OAuthClient {
    /// A client for `spec` with `app`. `http` must not follow redirects.
    pub fn new(spec: OAuthSpec, app: &AppCredentials, http: reqwest::Client) -> Result<Self> {
        let bad = |e: url::ParseError| Error::config("oauth", e.to_string());
        let mut client = BasicClient::new(ClientId::new(app.client_id.clone()))
            .set_auth_uri(AuthUrl::new(spec.authorize_url.clone()).map_err(bad)?)
            .set_token_uri(TokenUrl::new(spec.token_url.clone()).map_err(bad)?)
            .set_auth_type(match spec.client_auth {
                ClientAuthMethod::Basic => AuthType::BasicAuth,
                ClientAuthMethod::Body => AuthType::RequestBody,
            });
        if let Some(secret) = &app.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        Ok(Self { spec, client, http })
    }

    /// The spec this client uses.
    pub fn spec(&self) -> &OAuthSpec {
        &self.spec
    }

    /// The authorization URL for one login, and its PKCE verifier.
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        scopes: &[String],
    ) -> Result<(Url, PkceCodeVerifier)> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| Error::config("oauth", e.to_string()))?;
        let mut request = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .set_redirect_uri(std::borrow::Cow::Owned(redirect))
            .set_pkce_challenge(challenge)
            .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())));
        for (key, value) in &self.spec.extra_authorize_params {
            request = request.add_extra_param(key.clone(), value.clone());
        }
        let (url, _) = request.url();
        Ok((url, verifier))
    }

    /// Exchanges an authorization code (with its PKCE verifier) for a grant.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: PkceCodeVerifier,
        redirect_uri: &str,
    ) -> std::result::Result<Grant, TokenError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| TokenError::Other(e.to_string()))?;
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(verifier)
            .set_redirect_uri(std::borrow::Cow::Owned(redirect))
            .request_async(&Http(&self.http))
            .await;
        grant(response)
    }

    /// Exchanges a refresh token for a new grant.
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
    ) -> std::result::Result<Grant, TokenError> {
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let response = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&Http(&self.http))
            .await;
        grant(response)
    }
}

/// The transport error of a token request, without URL or body.
#[derive(Debug)]
struct SendError(String);

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SendError {}

/// oauth2's HTTP client: our reqwest client. A named type rather than a
/// closure, so the token request futures are `Send` for every lifetime and
/// can run in spawned tasks.
struct Http<'a>(&'a reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for Http<'_> {
    type Error = SendError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = std::result::Result<HttpResponse, SendError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(self.0, request))
    }
}

/// Largest token endpoint response read: a grant is a few hundred bytes.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 1 << 20;

/// oauth2's HTTP requests, sent with our reqwest client.
async fn send(
    http: &reqwest::Client,
    request: HttpRequest,
) -> std::result::Result<HttpResponse, SendError> {
    let request =
        reqwest::Request::try_from(request).map_err(|e| SendError(e.without_url().to_string()))?;
    let response = http.execute(request).await.map_err(|e| {
        SendError(if e.is_timeout() {
            "timed out".into()
        } else if e.is_connect() {
            "connection failed".into()
        } else {
            e.without_url().to_string()
        })
    })?;
    let mut out = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    let body = crate::upstream::read_capped(response, MAX_TOKEN_RESPONSE_BYTES)
        .await
        .map_err(|e| {
            SendError(match e {
                crate::upstream::BodyError::TooLarge => format!(
                    "the token endpoint's response is larger than {MAX_TOKEN_RESPONSE_BYTES} bytes and was not read"
                ),
                crate::upstream::BodyError::Read(e) => e.without_url().to_string(),
            })
        })?;
    out.body(without_unusable_lifetime(body))
        .map_err(|e| SendError(e.to_string()))
}

/// The token answer with an `expires_in` that is a number but not a whole,
/// non-negative one (`-3600`, `1e300`) taken out. Such an answer would fail
/// to parse as a token, and the grant in it would be lost although the
/// provider has already retired the refresh token it replaces; without the
/// field it is a grant of unknown lifetime, used until it is rejected.
fn without_unusable_lifetime(body: Vec<u8>) -> Vec<u8> {
    // Only the one field is read, so the common case copies no token.
    #[derive(serde::Deserialize)]
    struct Lifetime {
        expires_in: Option<Value>,
    }
    let unusable = serde_json::from_slice::<Lifetime>(&body)
        .ok()
        .and_then(|l| l.expires_in)
        .is_some_and(|v| v.is_number() && v.as_u64().is_none());
    if !unusable {
        return body;
    }
    let Ok(Value::Object(mut answer)) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    answer.remove("expires_in");
    let fixed = serde_json::to_vec(&answer).unwrap_or_default();
    let mut body = body;
    zeroize::Zeroize::zeroize(&mut body);
    fixed
}

/// Error codes that mean the grant itself is gone. GitHub answers
/// `bad_refresh_token` and `bad_verification_code` (with HTTP 200).
const REJECTED: [&str; 4] = [
    "invalid_grant",
    "bad_refresh_token",
    "bad_verification_code",
    "access_denied",
];

fn grant(
    response: std::result::Result<
        BasicTokenResponse,
        RequestTokenError<SendError, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
    >,
) -> std::result::Result<Grant, TokenError> {
    match response {
        Ok(token) => Ok(Grant {
            access_token: SecretString::from(token.access_token().secret().to_owned()),
            refresh_token: token
                .refresh_token()
                .map(|r| SecretString::from(r.secret().to_owned())),
            // A missing, zero or absurd lifetime means "refresh when rejected".
            expires_at: token
                .expires_in()
                .filter(|d| !d.is_zero() && d.as_secs() < 10 * 365 * 86_400)
                .map(|d| now_unix() + d.as_secs()),
            // RFC 6749 separates scopes with spaces; GitHub with commas.
            scopes: token
                .scopes()
                .map(|s| {
                    s.iter()
                        .flat_map(|s| s.split(','))
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }),
        Err(RequestTokenError::ServerResponse(e)) => {
            let code = e.error().as_ref().to_owned();
            let message = match e.error_description() {
                Some(d) => format!("{code}: {d}"),
                None => code.clone(),
            };
            Err(classify(&code, message))
        }
        // Some providers (GitHub) send errors with HTTP 200, which oauth2
        // then fails to parse as a token: read the error from the body.
        Err(RequestTokenError::Parse(_, body)) => {
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            match body.get("error").and_then(Value::as_str) {
                Some(code) => {
                    let message = match body.get("error_description").and_then(Value::as_str) {
                        Some(d) => format!("{code}: {d}"),
                        None => code.to_owned(),
                    };
                    Err(classify(code, message))
                }
                None => Err(TokenError::Other(
                    "the token endpoint answered with something that is not a token".into(),
                )),
            }
        }
        Err(RequestTokenError::Request(e)) => Err(TokenError::Temporary(e.to_string())),
        Err(RequestTokenError::Other(message)) => {
            // oauth2 reports unexpected statuses (5xx) here.
            Err(TokenError::Temporary(message))
        }
    }
}

fn classify(code: &str, message: String) -> TokenError {
    if REJECTED.contains(&code) {
        TokenError::Rejected(message)
    } else if code == "temporarily_unavailable" || code == "server_error" {
        TokenError::Temporary(message)
    } else {
        TokenError::Other(message)
    }
}

/// One login waiting for its callback.
pub struct PendingLogin {
    /// The service.
    pub service: String,
    /// The account label the grant will be stored under.
    pub account: String,
    /// The redirect URI the authorization request used.
    pub redirect_uri: String,
    /// The PKCE verifier.
    pub verifier: PkceCodeVerifier,
    /// The connect link the login was started from, if any
    /// ([`crate::connect::ConnectLinks`]): the callback uses it up only
    /// when the account is stored.
    pub connect_link: Option<String>,
    started: Instant,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("service", &self.service)
            .field("account", &self.account)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// Logins in progress, keyed by their one-time `state`.
#[derive(Debug, Default)]
pub struct LoginFlows {
    pending: Mutex<HashMap<String, PendingLogin>>,
}

impl LoginFlows {
    /// No logins yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a login of `account` of `service`: returns the URL to send the
    /// browser to. The state is 256 random bits, single use, valid for
    /// [`LOGIN_TTL`].
    pub fn start(
        &self,
        client: &OAuthClient,
        service: &str,
        account: &str,
        redirect_uri: &str,
        scopes: &[String],
    ) -> Result<Url> {
        self.start_with(client, service, account, redirect_uri, scopes, None)
    }

    /// [`Self::start`] for a login started from the connect link `link`,
    /// which the callback claims ([`crate::connect::ConnectLinks::claim`]).
    pub fn start_for_link(
        &self,
        client: &OAuthClient,
        service: &str,
        account: &str,
        redirect_uri: &str,
        scopes: &[String],
        link: &str,
    ) -> Result<Url> {
        self.start_with(
            client,
            service,
            account,
            redirect_uri,
            scopes,
            Some(link.to_owned()),
        )
    }

    fn start_with(
        &self,
        client: &OAuthClient,
        service: &str,
        account: &str,
        redirect_uri: &str,
        scopes: &[String],
        connect_link: Option<String>,
    ) -> Result<Url> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| Error::other("oauth state", e))?;
        let state: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let (url, verifier) = client.authorize_url(redirect_uri, &state, scopes)?;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, p| p.started.elapsed() < LOGIN_TTL);
        pending.insert(
            state,
            PendingLogin {
                service: service.to_owned(),
                account: account.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                verifier,
                connect_link,
                started: Instant::now(),
            },
        );
        Ok(url)
    }

    /// Takes the login that `state` names: each state works once, and only
    /// within [`LOGIN_TTL`].
    pub fn take(&self, state: &str) -> Result<PendingLogin> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let login = pending.remove(state).ok_or_else(|| {
            Error::InvalidArguments(
                "unknown or already used login state; start the login again".into(),
            )
        })?;
        if login.started.elapsed() >= LOGIN_TTL {
            return Err(Error::InvalidArguments(
                "this login expired; start it again".into(),
            ));
        }
        Ok(login)
    }
}
