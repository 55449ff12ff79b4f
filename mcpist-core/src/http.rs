//! The HTTP app: MCP over Streamable HTTP at `/mcp`, behind a bearer token and
//! Host / Origin validation, plus `/healthz`.

use std::sync::Arc;

use axum::{
    Router,
    extract::Request,
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::server::McpServer;

/// Default largest accepted request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Default number of MCP requests handled at once; more wait their turn.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 64;

/// How `/mcp` authenticates its callers.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// `Authorization: Bearer <token>` with this token. Only its SHA-256 digest is kept.
    Bearer(BearerDigest),
    /// No check at all. Only for the conformance suite on a loopback bind; the
    /// binary refuses it elsewhere and says so loudly.
    DangerouslyNone,
}

/// The SHA-256 digest of the MCP bearer token; presented tokens are hashed and
/// compared in constant time, so neither their content nor their length leaks.
#[derive(Clone)]
pub struct BearerDigest([u8; 32]);

impl std::fmt::Debug for BearerDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerDigest([REDACTED])")
    }
}

impl BearerDigest {
    /// The digest of `token`.
    pub fn of(token: &SecretString) -> Self {
        Self(Sha256::digest(token.expose_secret().as_bytes()).into())
    }

    /// Whether `presented` is the token.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.0).into()
    }
}

/// What the HTTP app needs besides the server.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// How `/mcp` callers authenticate.
    pub auth: ClientAuth,
    /// Host names (without port) accepted in the `Host` header.
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host`, any port; or `scheme://host:port`) accepted in
    /// an `Origin` header. Requests without `Origin` (non-browser clients) pass.
    pub allowed_origins: Vec<String>,
    /// Largest request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// MCP requests handled at once; further ones wait.
    pub max_concurrent_requests: usize,
    /// Cancelled on shutdown, so open SSE streams end.
    pub cancel: CancellationToken,
}

impl HttpOptions {
    /// Loopback-only options with `auth`.
    pub fn loopback(auth: ClientAuth) -> Self {
        Self {
            auth,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: vec![
                "http://localhost".into(),
                "http://127.0.0.1".into(),
                "http://[::1]".into(),
            ],
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            cancel: CancellationToken::new(),
        }
    }
}

/// The axum app: `/mcp` (Streamable HTTP, bearer required) and `/healthz`.
pub fn router(server: McpServer, options: HttpOptions) -> Router {
    let rmcp_origins: Vec<String> = options
        .allowed_origins
        .iter()
        .map(|o| {
            if has_port(o) {
                o.clone()
            } else {
                format!("{o}:*")
            }
        })
        .collect();
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(options.allowed_hosts.clone())
        .with_allowed_origins(rmcp_origins)
        .with_max_request_body_bytes(options.max_body_bytes)
        .with_cancellation_token(options.cancel.clone());
    let mcp = StreamableHttpService::new(
        move || Ok(server.for_session()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let auth = options.auth.clone();
    let permits = Arc::new(Semaphore::new(options.max_concurrent_requests.max(1)));
    let mcp_routes = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let permits = permits.clone();
            async move {
                // Only POSTs run tools; a GET is a long-lived event stream
                // that must not hold a permit.
                if req.method() != http::Method::POST {
                    return next.run(req).await;
                }
                let Ok(_permit) = permits.acquire_owned().await else {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                };
                next.run(req).await
            }
        }))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let auth = auth.clone();
            async move { require_bearer(&auth, req, next).await }
        }));
    let guard = Arc::new(options);
    Router::new()
        .merge(mcp_routes)
        .route(
            "/healthz",
            get(|| async { concat!("ok mcpist ", env!("CARGO_PKG_VERSION")) }),
        )
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let guard = guard.clone();
            async move { check_host_and_origin(&guard, req, next).await }
        }))
}

fn has_port(origin: &str) -> bool {
    url::Url::parse(origin)
        .map(|u| u.port().is_some())
        .unwrap_or(false)
}

async fn require_bearer(auth: &ClientAuth, req: Request, next: Next) -> Response {
    let ClientAuth::Bearer(digest) = auth else {
        return next.run(req).await;
    };
    match presented_bearer(req.headers()) {
        Some(token) if digest.matches(token) => next.run(req).await,
        _ => {
            tracing::warn!("refused an MCP request without a valid bearer token");
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a valid `Authorization: Bearer <token>` header is required; see `mcpist bearer show`\n",
            )
                .into_response()
        }
    }
}

/// The token of the one `Authorization: Bearer` header; `None` when there is
/// none, several, or another scheme. The scheme is case-insensitive.
fn presented_bearer(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

async fn check_host_and_origin(options: &HttpOptions, req: Request, next: Next) -> Response {
    let host_ok = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .and_then(|h| http::uri::Authority::try_from(h).ok())
        .is_some_and(|a| {
            let host = a.host().trim_start_matches('[').trim_end_matches(']');
            options
                .allowed_hosts
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(host))
        });
    if !host_ok {
        tracing::warn!("refused a request with a Host header that is not allowed");
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: Host header is not allowed\n",
        )
            .into_response();
    }
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && !origin_allowed(origin.to_str().unwrap_or(""), &options.allowed_origins)
    {
        tracing::warn!("refused a request with an Origin that is not allowed");
        return (StatusCode::FORBIDDEN, "Forbidden: Origin is not allowed\n").into_response();
    }
    next.run(req).await
}

fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    if origin.host().is_none() || origin.path() != "/" && !origin.path().is_empty() {
        return false;
    }
    allowed.iter().any(|entry| {
        let Ok(entry) = url::Url::parse(entry) else {
            return false;
        };
        entry.scheme() == origin.scheme()
            && entry.host() == origin.host()
            && (entry.port().is_none()
                || entry.port_or_known_default() == origin.port_or_known_default())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing_is_strict_about_count_and_scheme() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bEaReR abc".parse().unwrap());
        assert_eq!(presented_bearer(&h), Some("abc"));
        h.append(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(presented_bearer(&h), None);
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(presented_bearer(&h), None);
    }

    #[test]
    fn the_digest_matches_only_the_exact_token() {
        let d = BearerDigest::of(&SecretString::from("token-1"));
        assert!(d.matches("token-1"));
        assert!(!d.matches("token-"));
        assert!(!d.matches("token-1 "));
        assert!(!format!("{d:?}").contains("token"));
    }

    #[test]
    fn origins_match_scheme_and_host() {
        let allowed = vec![
            "http://localhost".to_owned(),
            "https://mcp.example.net:8443".to_owned(),
        ];
        assert!(origin_allowed("http://localhost:3000", &allowed));
        assert!(origin_allowed("https://mcp.example.net:8443", &allowed));
        assert!(!origin_allowed("https://mcp.example.net", &allowed));
        assert!(!origin_allowed("https://localhost", &allowed));
        assert!(!origin_allowed("http://evil.example", &allowed));
        assert!(!origin_allowed("null", &allowed));
        assert!(!origin_allowed("http://localhost.evil.example", &allowed));
    }
}
