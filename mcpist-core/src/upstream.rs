//! The host-bound HTTP client a connector gets for each call.
//!
//! [`Upstream`] is bound to one connector's base URL and attaches the
//! selected account's credential (a [`TokenSource`]) to every request, as the
//! connector's [`Auth`] says. It owns the retries (renewal on 401, rate-limit
//! waits, 5xx backoff for idempotent methods), the capped body readers and
//! the mapping of unsuccessful responses onto [`Error`]. It knows nothing of
//! connectors, tools or the token store.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU16, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use reqwest::{
    Method, RequestBuilder, Response,
    header::{HeaderMap, HeaderValue},
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use crate::{Error, Result};

/// How a connector's credential is attached to upstream requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// The service needs no credential (and its tools take no `account` argument).
    None,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// The token as the whole value of the named header (for example `X-Api-Key`).
    Header(&'static str),
    /// The token as the named query parameter, for APIs that take nothing
    /// else. Prefer a header: URLs end up in proxy and server logs.
    Query(&'static str),
}

/// Where an [`Upstream`] gets the credential it attaches, and a fresh one
/// when the upstream rejects it.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// The token to send now.
    fn current(&self) -> SecretString;

    /// The upstream answered 401 to `rejected`. Returns a new token to retry
    /// once with, or `None` when there is nothing better (a static token).
    async fn renew(&self, rejected: &SecretString) -> Result<Option<SecretString>>;
}

/// A token that never changes, such as a personal access token.
#[derive(Debug)]
pub struct StaticToken(pub SecretString);

#[async_trait]
impl TokenSource for StaticToken {
    fn current(&self) -> SecretString {
        self.0.clone()
    }

    async fn renew(&self, _rejected: &SecretString) -> Result<Option<SecretString>> {
        Ok(None)
    }
}

/// Parses a connector's `base_url`: `https`, or plain `http` only on a loopback
/// host. The port is kept; a trailing slash is added so paths append under it.
pub fn parse_base_url(service: &'static str, text: &str) -> Result<Url> {
    let mut url = Url::parse(text)
        .map_err(|e| Error::config(service, format!("base_url is not a URL: {e}")))?;
    // What errors show: never the credentials or query the URL may carry.
    let text = &{
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        if shown.query().is_some() {
            shown.set_query(Some("…"));
        }
        shown.to_string()
    };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(Error::config(
                service,
                format!(
                    "base_url {text:?} uses plain http; only https is allowed except on loopback"
                ),
            ));
        }
        other => {
            return Err(Error::config(
                service,
                format!("base_url {text:?} has scheme {other:?}; use https"),
            ));
        }
    }
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(
            service,
            format!("base_url {text:?} must name a host and carry no credentials"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(
            service,
            format!("base_url {text:?} must not have a query or fragment"),
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Default cap on one upstream response body: 8 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 << 20;

/// Timeouts, retries and the response size cap of a connector's upstream
/// requests, from the `timeout_secs`, `max_retry_wait_secs`, `max_retries`
/// and `max_response_bytes` keys of its config table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// Longest a single request may take.
    pub timeout: Duration,
    /// Longest rate-limit wait that is waited out; longer ones are reported.
    pub max_retry_wait: Duration,
    /// Most retries of one request (rate limits, 5xx, failed connections).
    pub max_retries: u32,
    /// Largest response body read (see [`Upstream::body`]); a larger one is
    /// an error, not read further.
    pub max_response_bytes: usize,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_retry_wait: Duration::from_secs(10),
            max_retries: 2,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl UpstreamSettings {
    /// The config keys these settings take out of a connector's table.
    pub const KEYS: [&'static str; 4] = [
        "timeout_secs",
        "max_retry_wait_secs",
        "max_retries",
        "max_response_bytes",
    ];

    /// Takes the settings' keys out of a connector's config table.
    pub fn take_from(service: &str, table: &mut Value) -> Result<Self> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            timeout_secs: Option<f64>,
            max_retry_wait_secs: Option<f64>,
            max_retries: Option<u32>,
            max_response_bytes: Option<u64>,
        }
        let mut raw = serde_json::Map::new();
        if let Value::Object(map) = table {
            for key in Self::KEYS {
                if let Some(v) = map.remove(key) {
                    raw.insert(key.to_owned(), v);
                }
            }
        }
        let raw: Raw = serde_json::from_value(Value::Object(raw))
            .map_err(|e| Error::config(service.to_owned(), e.to_string()))?;
        let secs = |key: &str, v: Option<f64>, default: Duration| -> Result<Duration> {
            match v {
                None => Ok(default),
                Some(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => {
                    Ok(Duration::from_secs_f64(s))
                }
                Some(_) => Err(Error::config(
                    service.to_owned(),
                    format!("{key} must be between 0 and 3600"),
                )),
            }
        };
        let default = Self::default();
        Ok(Self {
            timeout: secs("timeout_secs", raw.timeout_secs, default.timeout)?,
            max_retry_wait: secs(
                "max_retry_wait_secs",
                raw.max_retry_wait_secs,
                default.max_retry_wait,
            )?,
            max_retries: raw.max_retries.unwrap_or(default.max_retries).min(10),
            max_response_bytes: match raw.max_response_bytes {
                None => default.max_response_bytes,
                Some(n) if (1024..=1 << 30).contains(&n) => n as usize,
                Some(_) => {
                    return Err(Error::config(
                        service.to_owned(),
                        "max_response_bytes must be between 1024 and 1073741824 (1 GiB)",
                    ));
                }
            },
        })
    }
}

/// An HTTP client for one call, bound to one connector's base URL, that attaches
/// the selected account's credential to every request it sends.
#[derive(Clone)]
pub struct Upstream {
    service: &'static str,
    account: Option<String>,
    base: Url,
    http: reqwest::Client,
    auth: Auth,
    credential: Option<Arc<dyn TokenSource>>,
    reconnect_hint: Option<String>,
    settings: UpstreamSettings,
    // The status of the last response, for the audit record.
    last_status: Arc<AtomicU16>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("service", &self.service)
            .field("account", &self.account)
            .field("base", &self.base.as_str())
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

impl Upstream {
    /// A client for `service` bound to `base`, sending the token of
    /// `credential` as `auth` says. `http` should not follow redirects (the
    /// server's client does not).
    pub fn new(
        service: &'static str,
        account: Option<String>,
        base: Url,
        http: reqwest::Client,
        auth: Auth,
        credential: Option<Arc<dyn TokenSource>>,
    ) -> Self {
        Self {
            service,
            account,
            base,
            http,
            auth,
            credential,
            reconnect_hint: None,
            settings: UpstreamSettings::default(),
            last_status: Arc::default(),
        }
    }

    /// Uses `settings` for timeouts and retries.
    #[must_use]
    pub fn with_settings(mut self, settings: UpstreamSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Sets what [`Self::reconnect_hint`] says.
    #[must_use]
    pub fn with_reconnect_hint(mut self, hint: String) -> Self {
        self.reconnect_hint = Some(hint);
        self
    }

    /// What the user should do when the upstream keeps rejecting the
    /// credential (for this account and its kind, worded by the exchanger's
    /// [`crate::guide::Guide`]), for connectors' 401 messages.
    pub fn reconnect_hint(&self) -> String {
        self.reconnect_hint.clone().unwrap_or_else(|| {
            format!(
                "replace the credential of account '{}' of {}",
                self.account.as_deref().unwrap_or("?"),
                self.service
            )
        })
    }

    /// The HTTP status of the last response received, if any.
    pub fn last_status(&self) -> Option<u16> {
        match self.last_status.load(Ordering::Relaxed) {
            0 => None,
            s => Some(s),
        }
    }

    /// The account label this call runs as, if the service uses accounts.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The service name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The token this call currently sends (it changes after a refresh).
    pub(crate) fn credential(&self) -> Option<SecretString> {
        self.credential.as_ref().map(|c| c.current())
    }

    /// The URL of `segments` under the base URL. Each segment is
    /// percent-encoded as one path segment, so an id such as `a/b?x` cannot
    /// change the route; an empty, `.` or `..` segment (which URL
    /// normalisation would drop or resolve) is refused, and so is one with a
    /// control character (the URL parser silently drops tabs and line breaks,
    /// which would send another id than the one given).
    pub fn url(&self, segments: &[&str]) -> Result<Url> {
        if let Some(bad) = segments
            .iter()
            .find(|s| s.is_empty() || is_dot_segment(s) || s.contains(char::is_control))
        {
            return Err(Error::InvalidArguments(format!(
                "{bad:?} is not a valid name or id here"
            )));
        }
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .expect("a base URL with a host has path segments");
            path.pop_if_empty();
            for segment in segments {
                path.push(segment);
            }
        }
        Ok(url)
    }

    /// A request for `segments` under the base URL; send it with [`Self::send`].
    pub fn request(&self, method: Method, segments: &[&str]) -> Result<RequestBuilder> {
        Ok(self.http.request(method, self.url(segments)?))
    }

    /// A `GET` request for `segments`.
    pub fn get(&self, segments: &[&str]) -> Result<RequestBuilder> {
        self.request(Method::GET, segments)
    }

    /// Sends `request` with the credential attached, after checking that it
    /// stays under the base URL. Transport errors never include the URL.
    ///
    /// - A 401 with a renewable credential (an OAuth grant) is sent once more
    ///   with the renewed token.
    /// - A rate limit (429, or 403 with `x-ratelimit-remaining: 0` or
    ///   `Retry-After`) is waited out and retried when the wait is at most
    ///   [`UpstreamSettings::max_retry_wait`]; a longer one is returned as is.
    /// - A 500, 502, 503 or 504, or a failed connection, is retried with
    ///   exponential backoff for idempotent methods only, so a write never
    ///   happens twice.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response> {
        let mut request = request.build().map_err(|e| Error::Transport {
            service: self.service.into(),
            message: e.without_url().to_string(),
        })?;
        self.check_target(request.url())?;
        *request.timeout_mut() = Some(self.settings.timeout);
        let idempotent = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        let source = self.credential.as_ref().filter(|_| self.auth != Auth::None);
        let mut token = source.map(|s| s.current());
        let (mut renewed, mut retries) = (false, 0);
        loop {
            // A body that cannot be replayed gets exactly one attempt.
            let Some(attempt) = request.try_clone() else {
                let request = match &token {
                    Some(t) => self.authorize(request, t)?,
                    None => request,
                };
                return self.execute(request).await;
            };
            let attempt = match &token {
                Some(t) => self.authorize(attempt, t)?,
                None => attempt,
            };
            let response = match self.execute(attempt).await {
                Err(Error::Transport { .. })
                    if idempotent && retries < self.settings.max_retries =>
                {
                    retries += 1;
                    tokio::time::sleep(backoff(retries)).await;
                    continue;
                }
                other => other?,
            };
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED
                && !renewed
                && let (Some(source), Some(rejected)) = (source, &token)
            {
                renewed = true;
                match source.renew(rejected).await? {
                    Some(fresh) => {
                        token = Some(fresh);
                        continue;
                    }
                    None => return Ok(response),
                }
            }
            if retries < self.settings.max_retries {
                if let Some(wait) = rate_limit_wait(&response) {
                    if wait <= self.settings.max_retry_wait {
                        retries += 1;
                        tracing::debug!(
                            service = self.service,
                            wait_ms = wait.as_millis() as u64,
                            "waiting out a rate limit"
                        );
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                } else if idempotent && matches!(status.as_u16(), 500 | 502 | 503 | 504) {
                    retries += 1;
                    tokio::time::sleep(backoff(retries)).await;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// The body of `response`, read up to [`UpstreamSettings::max_response_bytes`].
    /// A larger body (by its `Content-Length`, or as it arrives when it has
    /// none) is an error naming the cap, and is not read further.
    pub async fn body(&self, response: Response) -> Result<Vec<u8>> {
        let status = response.status().as_u16();
        let cap = self.settings.max_response_bytes;
        read_capped(response, cap).await.map_err(|e| match e {
            BodyError::TooLarge => Error::Upstream {
                service: self.service.into(),
                status,
                message: format!(
                    "the response is larger than max_response_bytes ({cap} bytes) and was not \
                     read; narrow the request, or raise max_response_bytes in [connectors.{}]",
                    self.service
                ),
            },
            BodyError::Read(e) => Error::Transport {
                service: self.service.into(),
                message: describe_transport_error(&e),
            },
        })
    }

    /// The body of `response` as text (invalid UTF-8 replaced), read as [`Self::body`] does.
    pub async fn text(&self, response: Response) -> Result<String> {
        let bytes = self.body(response).await?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// The body of `response` as JSON, read as [`Self::body`] does.
    pub async fn json<T: serde::de::DeserializeOwned>(&self, response: Response) -> Result<T> {
        let bytes = self.body(response).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Transport {
            service: self.service.into(),
            message: format!("the response is not the JSON expected: {e}"),
        })
    }

    fn authorize(
        &self,
        mut request: reqwest::Request,
        token: &SecretString,
    ) -> Result<reqwest::Request> {
        let (name, value) = match self.auth {
            Auth::None => return Ok(request),
            Auth::Bearer => (
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", token.expose_secret()),
            ),
            Auth::Header(name) => (
                reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| Error::config(self.service, "invalid auth header name"))?,
                token.expose_secret().to_owned(),
            ),
            Auth::Query(name) => {
                request
                    .url_mut()
                    .query_pairs_mut()
                    .append_pair(name, token.expose_secret());
                return Ok(request);
            }
        };
        let mut value = HeaderValue::try_from(value).map_err(|_| Error::Unauthorized {
            service: self.service.into(),
            account: self.account.clone().unwrap_or_default(),
            message: "the stored credential cannot be sent in an HTTP header; replace it".into(),
        })?;
        value.set_sensitive(true);
        request.headers_mut().insert(name, value);
        Ok(request)
    }

    async fn execute(&self, request: reqwest::Request) -> Result<Response> {
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| Error::Transport {
                service: self.service.into(),
                message: describe_transport_error(&e),
            })?;
        self.last_status
            .store(response.status().as_u16(), Ordering::Relaxed);
        Ok(response)
    }

    fn check_target(&self, url: &Url) -> Result<()> {
        let same_origin = url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default();
        if same_origin && url.path().starts_with(self.base.path()) {
            Ok(())
        } else {
            Err(Error::HostNotAllowed {
                service: self.service.into(),
                url_host: url.host_str().unwrap_or("?").to_owned(),
                allowed: self.base.as_str().to_owned(),
            })
        }
    }
}

/// Why a response body was not read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// It is larger than the cap.
    TooLarge,
    /// Reading it failed.
    Read(reqwest::Error),
}

/// The body of `response`, at most `cap` bytes: a `Content-Length` over the
/// cap is refused before reading, and a body without one is read chunk by
/// chunk until it ends or passes the cap.
pub(crate) async fn read_capped(
    mut response: Response,
    cap: usize,
) -> std::result::Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How long to wait before retry number `n` (from 1): 250 ms doubling, plus
/// up to 25% jitter so that many callers do not retry in step.
fn backoff(n: u32) -> Duration {
    let base = Duration::from_millis(250) * 2u32.saturating_pow(n.saturating_sub(1).min(6));
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    base + base / 4 * u32::from(byte[0]) / 255
}

/// How long a rate-limited response asks us to wait, if it is one: a 429, or
/// a 403 that carries `x-ratelimit-remaining: 0` or `Retry-After` (GitHub's
/// primary and secondary limits). `Retry-After` may be seconds or an HTTP
/// date; else `x-ratelimit-reset` (Unix seconds); else one second. Garbage
/// and negative values are ignored; a time in the past means no wait.
pub fn rate_limit_wait(response: &Response) -> Option<Duration> {
    let headers = response.headers();
    let limited = match response.status().as_u16() {
        429 => true,
        403 => shows_rate_limit(headers),
        _ => false,
    };
    if !limited {
        return None;
    }
    let now = std::time::SystemTime::now();
    let after = header(headers, "retry-after").and_then(|v| {
        v.parse::<u64>().ok().map(Duration::from_secs).or_else(|| {
            httpdate::parse_http_date(v)
                .ok()
                .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
        })
    });
    let reset = || {
        header(headers, "x-ratelimit-reset")
            .and_then(|v| v.parse::<u64>().ok())
            .map(|reset| {
                (std::time::UNIX_EPOCH + Duration::from_secs(reset))
                    .duration_since(now)
                    .unwrap_or(Duration::ZERO)
            })
    };
    Some(after.or_else(reset).unwrap_or(Duration::from_secs(1)))
}

/// The trimmed text of header `name`, if present and text.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Whether the headers of a 403 say it is a rate limit: `Retry-After`, or
/// `x-ratelimit-remaining: 0` (GitHub's secondary and primary limits).
fn shows_rate_limit(headers: &HeaderMap) -> bool {
    header(headers, "x-ratelimit-remaining") == Some("0") || headers.contains_key("retry-after")
}

/// When a rate-limited answer says a retry may succeed, by its headers:
/// `Retry-After` seconds from now, else `x-ratelimit-reset` (Unix seconds),
/// else unknown. For connectors that recognise a rate limit [`status_error`]
/// cannot (one a vendor signals in its body).
pub fn rate_limit_until(headers: &HeaderMap) -> Option<std::time::SystemTime> {
    retry_at(headers)
}

/// When a rate-limited answer says a retry may succeed: `Retry-After`
/// seconds from now, else `x-ratelimit-reset` (Unix seconds), else unknown.
fn retry_at(headers: &HeaderMap) -> Option<std::time::SystemTime> {
    let number = |name: &str| header(headers, name).and_then(|v| v.parse::<u64>().ok());
    if let Some(secs) = number("retry-after") {
        return Some(std::time::SystemTime::now() + Duration::from_secs(secs));
    }
    number("x-ratelimit-reset").map(|reset| std::time::UNIX_EPOCH + Duration::from_secs(reset))
}

/// What a connector read out of an unsuccessful answer, for [`status_error`]:
/// each vendor's wording, where the mapping itself is the same for all.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The vendor's message, used for every status without its own below.
    pub message: String,
    /// The message of a 401, to which [`Upstream::reconnect_hint`] is
    /// appended after `"; "` (such as `GitHub says "Bad credentials"`).
    pub unauthorized: String,
    /// The message of a 404 when it differs from `message` (GitHub answers
    /// 404 for private resources the token cannot see, and says so).
    pub not_found: Option<String>,
    /// Whether a 403 whose headers show a rate limit (`Retry-After`, or
    /// `x-ratelimit-remaining: 0`) is a rate limit (GitHub), or a plain 403.
    pub forbidden_may_be_rate_limit: bool,
}

impl Failure {
    /// `message` for every status, with no vendor differences.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            unauthorized: message.clone(),
            message,
            not_found: None,
            forbidden_may_be_rate_limit: false,
        }
    }
}

/// The one mapping of an unsuccessful upstream answer onto [`Error`], used by
/// every connector:
///
/// - 401 is [`Error::Unauthorized`] for the call's account, with
///   `failure.unauthorized` and the reconnect hint;
/// - 429, and a 403 with rate-limit headers where the vendor says so, is
///   [`Error::RateLimited`] until `Retry-After` or `x-ratelimit-reset`;
/// - 404 is [`Error::Upstream`] with `failure.not_found` when given;
/// - every other status is [`Error::Upstream`] with `failure.message`.
pub fn status_error(
    upstream: &Upstream,
    status: reqwest::StatusCode,
    headers: &HeaderMap,
    failure: Failure,
) -> Error {
    let service = upstream.service().to_owned();
    match status.as_u16() {
        401 => Error::Unauthorized {
            service,
            account: upstream.account().unwrap_or_default().to_owned(),
            message: format!("{}; {}", failure.unauthorized, upstream.reconnect_hint()),
        },
        429 => Error::RateLimited {
            service,
            until: retry_at(headers),
        },
        403 if failure.forbidden_may_be_rate_limit && shows_rate_limit(headers) => {
            Error::RateLimited {
                service,
                until: retry_at(headers),
            }
        }
        404 => Error::Upstream {
            service,
            status: 404,
            message: failure.not_found.unwrap_or(failure.message),
        },
        s => Error::Upstream {
            service,
            status: s,
            message: failure.message,
        },
    }
}

/// `.` and `..`, also percent-encoded (WHATWG URL parsing treats `%2e` as a dot).
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase().replace("%2e", ".");
    lower == "." || lower == ".."
}

/// A reqwest error as text, without the URL (which could carry a query secret).
fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the response could not be read"
    } else {
        "request failed"
    };
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(e);
    // The innermost cause ("Connection refused") is the useful part; reqwest's
    // own Display would add the URL.
    while let Some(s) = source {
        if s.source().is_none() {
            message = format!("{kind}: {s}");
        }
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(base: &str) -> Upstream {
        Upstream::new(
            "test",
            None,
            parse_base_url("test", base).unwrap(),
            reqwest::Client::new(),
            Auth::Bearer,
            None,
        )
    }

    #[test]
    fn base_urls_keep_their_port_and_refuse_plain_http_off_loopback() {
        let u = parse_base_url("t", "http://127.0.0.1:8080/api/v3").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:8080/api/v3/");
        assert!(parse_base_url("t", "http://[::1]:9/").is_ok());
        assert!(parse_base_url("t", "https://ghe.example.com/api/v3").is_ok());
        for bad in [
            "http://api.github.com",
            "ftp://x",
            "https://user:pw@api.github.com",
            "https://api.github.com/?x=1",
            "not a url",
        ] {
            assert!(parse_base_url("t", bad).is_err(), "{bad} accepted");
        }
        for secret in [
            "https://user:s3cret@api.github.com",
            "https://api.github.com/?token=s3cret",
            "s3cret",
        ] {
            let err = parse_base_url("t", secret).unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn path_segments_cannot_escape_the_base_path() {
        let up = upstream("http://127.0.0.1:1/api/v3");
        for id in [
            "../../user",
            "..%2F..",
            "a/b?x=1#f",
            "https://evil.example/x",
            "a\\..\\b",
        ] {
            let url = up.url(&["repos", id]).unwrap();
            assert_eq!(url.host_str(), Some("127.0.0.1"));
            assert!(url.path().starts_with("/api/v3/repos/"), "{id} -> {url}");
            assert_eq!(url.path_segments().unwrap().count(), 4, "{id} -> {url}");
            assert!(
                url.query().is_none() && url.fragment().is_none(),
                "{id} -> {url}"
            );
        }
        for id in ["..", ".", "", "%2e%2E", ".%2e"] {
            assert!(up.url(&["repos", id]).is_err(), "{id:?} accepted");
        }
    }

    #[tokio::test]
    async fn a_request_to_another_host_is_refused_before_it_leaves() {
        let up = upstream("http://127.0.0.1:1/api");
        let err = up
            .send(reqwest::Client::new().get("http://127.0.0.2:1/api/x"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::HostNotAllowed { .. }), "{err}");
        let err = up
            .send(reqwest::Client::new().get("http://127.0.0.1:1/other"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::HostNotAllowed { .. }), "{err}");
    }

    #[test]
    fn statuses_map_onto_errors_with_each_vendors_wording() {
        let up =
            upstream("http://127.0.0.1:1/api").with_reconnect_hint("add the token again".into());
        let none = HeaderMap::new();
        let map = |status: u16, headers: &HeaderMap, failure: Failure| {
            status_error(
                &up,
                reqwest::StatusCode::from_u16(status).unwrap(),
                headers,
                failure,
            )
        };
        let github = || Failure {
            message: "Not Found".into(),
            unauthorized: "GitHub says \"Bad credentials\"".into(),
            not_found: Some("Not Found (or hidden)".into()),
            forbidden_may_be_rate_limit: true,
        };
        match map(401, &none, github()) {
            Error::Unauthorized {
                service, message, ..
            } => {
                assert_eq!(service, "test");
                assert_eq!(
                    message,
                    "GitHub says \"Bad credentials\"; add the token again"
                );
            }
            other => panic!("{other:?}"),
        }
        let mut limited = HeaderMap::new();
        limited.insert("x-ratelimit-remaining", "0".parse().unwrap());
        limited.insert("x-ratelimit-reset", "2000000000".parse().unwrap());
        let reset = std::time::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        assert!(matches!(
            map(403, &limited, github()),
            Error::RateLimited { until: Some(t), .. } if t == reset
        ));
        // Without the vendor's say-so a 403 stays a 403, headers or not.
        assert!(matches!(
            map(403, &limited, Failure::new("Forbidden")),
            Error::Upstream { status: 403, .. }
        ));
        assert!(matches!(
            map(403, &none, github()),
            Error::Upstream { status: 403, .. }
        ));
        let mut after = HeaderMap::new();
        after.insert("retry-after", "30".parse().unwrap());
        match map(429, &after, Failure::new("slow down")) {
            Error::RateLimited { until: Some(t), .. } => {
                let wait = t.duration_since(std::time::SystemTime::now()).unwrap();
                assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            map(429, &none, github()),
            Error::RateLimited { until: None, .. }
        ));
        assert!(matches!(
            map(404, &none, github()),
            Error::Upstream { status: 404, message, .. } if message == "Not Found (or hidden)"
        ));
        assert!(matches!(
            map(404, &none, Failure::new("gone")),
            Error::Upstream { status: 404, message, .. } if message == "gone"
        ));
        assert!(matches!(
            map(422, &none, github()),
            Error::Upstream { status: 422, message, .. } if message == "Not Found"
        ));
    }
}
