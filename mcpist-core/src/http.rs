//! The HTTP app: MCP over Streamable HTTP at `/mcp`, behind a bearer token and
//! Host / Origin validation, plus `/healthz`; and the loop that serves it
//! ([`serve`], or [`serve_until`] with a graceful [`Shutdown`]). With
//! [`HttpOptions::oauth`], `/mcp` also takes the access tokens of MCPist's
//! own authorization server ([`crate::auth_server`]), whose endpoints are
//! mounted beside it.

use std::sync::Arc;
use std::time::Duration;

use axum::{
    Router,
    body::{Body, HttpBody},
    extract::Request,
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::{
    net::TcpListener,
    sync::{Semaphore, watch},
};
use tokio_util::sync::CancellationToken;

use crate::server::McpServer;

/// The store secret holding the MCP bearer token, which `/mcp` callers send
/// (see [`ClientAuth::Bearer`]).
pub const BEARER_SECRET: &str = "mcp_bearer";

/// Default largest accepted request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Default number of MCP requests handled at once; more wait their turn.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 64;

/// Limits on the connections [`serve`] holds open, so that slow or idle
/// clients cannot tie up the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request's headers must all arrive within this long of its first
    /// byte; else the connection is closed.
    pub header_read_timeout: Duration,
    /// A connection with no request in progress (an open event stream or a
    /// running call is one) is closed when its next request has not begun
    /// within this long.
    pub idle_timeout: Duration,
    /// Connections served at once; further ones wait, unserved, in the
    /// listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    /// 10 s for headers, 60 s idle, 256 connections.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
        }
    }
}

/// Serves `app` over HTTP/1.1 on `listener` within `limits` until `shutdown`
/// resolves; then accepts no more connections, lets each finish the requests
/// it has begun (an open event stream ends when the app ends it, for example
/// through [`HttpOptions::cancel`]), and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    // Each connection holds a permit until it closes: all of them free
    // means no connection is left.
    let max_connections = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let permits = Arc::new(Semaphore::new(max_connections as usize));
    let stop = CancellationToken::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    // hyper's own header timer also runs while a kept-alive connection waits
    // for its next request; `expired` tells the two waits apart instead.
    http1.timer(TokioTimer::new()).header_read_timeout(None);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: wait a little rather than spin.
                    tracing::debug!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // No Nagle: a streamed reply's last small write must not wait for
        // the client's delayed ACK (about 40 ms per call on Linux).
        let _ = tcp.set_nodelay(true);
        let requests = InFlight::default();
        let service = {
            let requests = requests.clone();
            let app = app.clone();
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let guard = requests.enter();
                let mut app = app.clone();
                async move {
                    let response = tower_service::Service::call(&mut app, req.map(Body::new)).await;
                    response.map(|response| {
                        response.map(|body| {
                            Body::new(Tracked {
                                body,
                                _guard: guard,
                                _permit: None,
                            })
                        })
                    })
                }
            })
        };
        let reads = Arc::new(Reads::default());
        let io = Watched {
            io: tcp,
            reads: reads.clone(),
        };
        let conn = http1.serve_connection(TokioIo::new(io), service);
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut conn = std::pin::pin!(conn);
            let mut closing = false;
            loop {
                tokio::select! {
                    served = conn.as_mut() => {
                        if let Err(e) = served {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    () = stop.cancelled(), if !closing => {
                        if requests.count() == 0 {
                            break;
                        }
                        // Lets the requests in progress finish, then closes.
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    // No request is in progress: closing loses nothing.
                    () = expired(&requests, &reads, limits) => {
                        tracing::debug!("closed a connection that sent no request in time");
                        break;
                    }
                }
            }
        });
    }
    drop(listener);
    stop.cancel();
    let _all_closed = permits.acquire_many(max_connections).await;
    Ok(())
}

/// How long [`serve_until`] waits, after cutting calls off and again after
/// closing the streams, before it gives up on what is left.
pub const DEFAULT_SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);

/// A graceful shutdown of an [`McpServer`] served over HTTP, for
/// [`serve_until`]: the tool calls in flight get a grace period to finish;
/// those still running after it are cut off with an error answer (and an
/// `interrupted` audit outcome) instead of a dropped connection.
#[derive(Debug, Clone)]
pub struct Shutdown {
    grace: Duration,
    flush: Duration,
    server: McpServer,
    in_flight: InFlight,
    cancel: CancellationToken,
}

impl Shutdown {
    /// The shutdown of `server` served with `options` (it watches their
    /// [`HttpOptions::in_flight`] and cancels their [`HttpOptions::cancel`]):
    /// the calls in flight get `grace` to finish.
    pub fn new(server: &McpServer, options: &HttpOptions, grace: Duration) -> Self {
        Self {
            grace,
            flush: DEFAULT_SHUTDOWN_FLUSH,
            server: server.clone(),
            in_flight: options.in_flight.clone(),
            cancel: options.cancel.clone(),
        }
    }

    /// How long cut-off calls get to send their answer, and how long the
    /// connections get to close once the streams are closed
    /// ([`DEFAULT_SHUTDOWN_FLUSH`] unless set).
    pub fn flush(mut self, flush: Duration) -> Self {
        self.flush = flush;
        self
    }

    /// Waits for the calls in flight (cutting off the late ones), closes the
    /// streams, and after `flush` more cancels `abandon`.
    async fn run(self, abandon: CancellationToken) {
        let grace_secs = self.grace.as_secs();
        if tokio::time::timeout(self.grace, self.in_flight.idle())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.in_flight.count(),
                grace_secs,
                "calls still running after the grace period are cut off"
            );
            self.server.cut_calls();
            let _ = tokio::time::timeout(self.flush, self.in_flight.idle()).await;
        }
        self.cancel.cancel();
        // A connection that ignores the close must not keep the server up.
        tokio::time::sleep(self.flush).await;
        abandon.cancel();
    }
}

/// Serves `app` like [`serve`] until `signal` resolves (a SIGTERM, say), then
/// shuts down as `shutdown` says: no new connections at once; the calls in
/// flight get the grace period to finish, then the rest are cut off with an
/// error answer; only then are the sessions' streams closed. Returns once
/// every connection has closed, or once one has ignored the close for the
/// flush period (it is abandoned, with a warning).
///
/// `app` is the router of the server and options `shutdown` was made from
/// ([`router`] or [`router_with`]).
pub async fn serve_until(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: Shutdown,
    signal: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let abandon = CancellationToken::new();
    let abandoned = abandon.clone();
    let serving = serve(listener, app, limits, async move {
        signal.await;
        tracing::info!(
            in_flight = shutdown.in_flight.count(),
            grace_secs = shutdown.grace.as_secs(),
            "stopping: no new connections; waiting for the calls in flight"
        );
        tokio::spawn(shutdown.run(abandon));
    });
    tokio::select! {
        served = serving => served,
        () = abandoned.cancelled() => {
            tracing::warn!("connections still open after the grace period; exiting anyway");
            Ok(())
        }
    }
}

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
    /// MCP requests handled at once, each until its answer has been sent;
    /// further ones wait. The client's answers and notifications, and
    /// `subscriptions/listen` streams, take none.
    pub max_concurrent_requests: usize,
    /// Cancelled on shutdown, so open SSE streams end.
    pub cancel: CancellationToken,
    /// Counts MCP requests until their response is sent; a shutdown waits
    /// for it to reach zero before it cancels [`Self::cancel`].
    pub in_flight: InFlight,
    /// MCPist's own OAuth authorization server, for remote clients: when
    /// set, `/mcp` also takes its access tokens, a refused request's 401
    /// points to its metadata, and its endpoints are mounted.
    pub oauth: Option<crate::auth_server::AuthServer>,
}

/// MCP requests (POSTs to `/mcp`, which carry every tool call) whose
/// response has not been completely sent yet.
///
/// A graceful shutdown ([`serve_until`]) stops accepting connections, waits
/// (bounded) for [`InFlight::idle`], and only then closes the sessions'
/// streams: a tool call that was running gets its answer out, and its audit
/// record its outcome.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<watch::Sender<usize>>);

impl InFlight {
    /// How many requests are in flight now.
    pub fn count(&self) -> usize {
        *self.0.borrow()
    }

    /// Resolves once no request is in flight (at once if none is).
    pub async fn idle(&self) {
        let _ = self.0.subscribe().wait_for(|n| *n == 0).await;
    }

    fn enter(&self) -> InFlightGuard {
        self.0.send_modify(|n| *n += 1);
        InFlightGuard(self.0.clone())
    }
}

/// Resolves when a connection with no request in progress has waited too
/// long: `idle_timeout` for the next request to begin (its first byte), or
/// `header_read_timeout` for its headers once it has begun.
async fn expired(requests: &InFlight, reads: &Reads, limits: ConnectionLimits) {
    let mut changes = requests.0.subscribe();
    'idle: loop {
        if *changes.borrow_and_update() > 0 {
            if changes.changed().await.is_err() {
                return std::future::pending().await;
            }
            continue;
        }
        let before = reads.count();
        let idle_until = tokio::time::Instant::now() + limits.idle_timeout;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(idle_until) => {
                    if reads.count() == before {
                        return;
                    }
                    break;
                }
                () = reads.notify.notified() => {
                    // A wake-up left by bytes read during the last request
                    // does not start the next one.
                    if reads.count() != before {
                        break;
                    }
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        return std::future::pending().await;
                    }
                    continue 'idle;
                }
            }
        }
        // The next request has begun: its headers must follow in time.
        tokio::select! {
            () = tokio::time::sleep(limits.header_read_timeout) => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }
}

/// How many times a connection's socket has read bytes, and a wake-up for
/// each time.
#[derive(Debug, Default)]
struct Reads {
    count: std::sync::atomic::AtomicU64,
    notify: tokio::sync::Notify,
}

impl Reads {
    fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// A connection's socket that counts its reads in [`Reads`].
struct Watched<T> {
    io: T,
    reads: Arc<Reads>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<T> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut this.io).poll_read(cx, buf);
        if polled.is_ready() && buf.filled().len() > before {
            this.reads
                .count
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            this.reads.notify.notify_one();
        }
        polled
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Watched<T> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// What an MCP POST carries, as far as bounding it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostKind {
    /// A request (or anything unreadable, which rmcp refuses): it takes one
    /// of the `max_concurrent_requests` slots until its answer is sent.
    Request,
    /// A 2026-07-28 `subscriptions/listen`: a stream held open while the
    /// client listens; it runs no tool, takes no slot and delays no shutdown.
    Listen,
    /// A notification or an answer to the server's own request.
    Other,
}

impl PostKind {
    fn of(body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Message<'a> {
            #[serde(borrow)]
            method: Option<std::borrow::Cow<'a, str>>,
            id: Option<serde::de::IgnoredAny>,
        }
        match serde_json::from_slice::<Message<'_>>(body) {
            Ok(Message {
                method: Some(method),
                id: Some(_),
            }) if method == "subscriptions/listen" => Self::Listen,
            // A notification has no id; an answer has no method.
            Ok(Message { id: None, .. } | Message { method: None, .. }) => Self::Other,
            _ => Self::Request,
        }
    }
}

/// One request in flight, until dropped.
#[derive(Debug)]
struct InFlightGuard(Arc<watch::Sender<usize>>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// A response body that keeps its request counted in flight (and, for an
/// MCP request, its slot among the concurrent ones) until the body has been
/// sent to the end (or dropped with its connection). An event-stream answer
/// sends its headers before the tool has run, so the body is what lasts as
/// long as the call.
struct Tracked {
    body: Body,
    _guard: InFlightGuard,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl HttpBody for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
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
            in_flight: InFlight::default(),
            oauth: None,
        }
    }
}

/// The axum app: `/mcp` (Streamable HTTP) and `/metrics` (Prometheus text),
/// both behind the bearer, and `/healthz` (no auth; says only "ok" and the version).
pub fn router(server: McpServer, options: HttpOptions) -> Router {
    router_with(server, options, Router::new())
}

/// [`router`] with `routes` merged in (the web UI's, say), behind the same
/// Host / Origin guard but not the bearer. Routes merged into [`router`]'s
/// result afterwards would miss the guard: merge them here.
pub fn router_with(server: McpServer, options: HttpOptions, routes: Router) -> Router {
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
    let metrics_source = server.clone();
    let scope_source = server.clone();
    let max_body = options.max_body_bytes;
    let mcp = StreamableHttpService::new(
        move || Ok(server.for_session()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let auth = options.auth.clone();
    let oauth = options.oauth.clone();
    let oauth_routes = options
        .oauth
        .clone()
        .map(crate::auth_server::routes::routes)
        .unwrap_or_default();
    let permits = Arc::new(Semaphore::new(options.max_concurrent_requests.max(1)));
    let in_flight = options.in_flight.clone();
    let mcp_routes = Router::new()
        .route(
            "/metrics",
            get(move || {
                let server = metrics_source.clone();
                async move {
                    match server.render_metrics().await {
                        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
                            .into_response(),
                        Err(e) => {
                            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
                        }
                    }
                }
            }),
        )
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let permits = permits.clone();
            let in_flight = in_flight.clone();
            async move {
                // Only POSTs run tools; a GET is a long-lived event stream
                // that must not hold a permit, nor delay a shutdown.
                if req.method() != http::Method::POST {
                    return next.run(req).await;
                }
                // What the body asks decides what it holds; it is read
                // here, within the same cap as rmcp's.
                let (parts, body) = req.into_parts();
                let Ok(bytes) = axum::body::to_bytes(body, max_body).await else {
                    return StatusCode::PAYLOAD_TOO_LARGE.into_response();
                };
                let kind = PostKind::of(&bytes);
                let req = Request::from_parts(parts, Body::from(bytes));
                if kind == PostKind::Listen {
                    return next.run(req).await;
                }
                let guard = in_flight.enter();
                // Answers and notifications from the client run nothing (and
                // a call waiting for an elicitation's answer must get it).
                let permit = if kind == PostKind::Request {
                    let Ok(permit) = permits.acquire_owned().await else {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    };
                    Some(permit)
                } else {
                    None
                };
                let (parts, body) = next.run(req).await.into_parts();
                Response::from_parts(
                    parts,
                    Body::new(Tracked {
                        body,
                        _guard: guard,
                        _permit: permit,
                    }),
                )
            }
        }))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let auth = auth.clone();
            let oauth = oauth.clone();
            let server = scope_source.clone();
            async move { require_bearer(&auth, oauth.as_ref(), &server, max_body, req, next).await }
        }));
    guarded(
        Router::new()
            .merge(mcp_routes)
            .merge(oauth_routes)
            .merge(routes)
            .route(
                "/healthz",
                get(|| async { concat!("ok mcpist ", env!("CARGO_PKG_VERSION")) }),
            ),
        options,
    )
}

/// `routes` behind the Host / Origin guard of `options` (its hosts and
/// origins; nothing else of it applies): for pages served without `/mcp`,
/// such as the connect page a stdio-only setup opens on demand.
pub fn guarded(routes: Router, options: HttpOptions) -> Router {
    let guard = Arc::new(options);
    routes.layer(middleware::from_fn(move |req: Request, next: Next| {
        let guard = guard.clone();
        async move { check_host_and_origin(&guard, req, next).await }
    }))
}

fn has_port(origin: &str) -> bool {
    url::Url::parse(origin)
        .map(|u| u.port().is_some())
        .unwrap_or(false)
}

async fn require_bearer(
    auth: &ClientAuth,
    oauth: Option<&crate::auth_server::AuthServer>,
    server: &McpServer,
    max_body: usize,
    req: Request,
    next: Next,
) -> Response {
    let ClientAuth::Bearer(digest) = auth else {
        return next.run(req).await;
    };
    let presented = presented_bearer(req.headers()).map(str::to_owned);
    match (&presented, oauth) {
        (Some(token), _) if digest.matches(token) => return next.run(req).await,
        (Some(token), Some(oauth)) => match oauth.verify(token).await {
            Ok(Some(grant)) => {
                let mut req =
                    match crate::auth_server::scope::check(&grant, oauth, server, max_body, req)
                        .await
                    {
                        Ok(req) => req,
                        Err(refused) => return refused,
                    };
                req.extensions_mut().insert(grant);
                return next.run(req).await;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "could not check an OAuth access token");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the token store cannot be read\n",
                )
                    .into_response();
            }
        },
        _ => {}
    }
    tracing::warn!("refused an MCP request without a valid bearer token");
    let challenge = oauth.map_or_else(
        || "Bearer".to_owned(),
        |oauth| crate::auth_server::routes::challenge(oauth, presented.is_some()),
    );
    // Read the refused body to its end: a response sent before it would
    // make hyper close the connection, and an OAuth client that goes on at
    // once to the metadata on the same (kept-alive) connection would find it
    // closed. A body too large to read gets the connection closed, said so.
    let drained = axum::body::to_bytes(req.into_body(), max_body)
        .await
        .is_ok();
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
        "a valid `Authorization: Bearer <token>` header with this server's MCP bearer token (or an OAuth access token it issued) is required\n",
    )
        .into_response();
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    response
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
    fn only_requests_take_a_slot_and_listening_takes_none() {
        let kind = |body: &str| PostKind::of(body.as_bytes());
        let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#;
        assert_eq!(kind(call), PostKind::Request);
        let listen = r#"{"jsonrpc":"2.0","id":"a","method":"subscriptions/listen","params":{}}"#;
        assert_eq!(kind(listen), PostKind::Listen);
        let answer = r#"{"jsonrpc":"2.0","id":7,"result":{"action":"accept"}}"#;
        assert_eq!(kind(answer), PostKind::Other);
        let notification = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        assert_eq!(kind(notification), PostKind::Other);
        // A listen without an id is a notification, and what cannot be read
        // (a batch, garbage) is bounded like a request until rmcp refuses it.
        assert_eq!(
            kind(r#"{"method":"subscriptions/listen"}"#),
            PostKind::Other
        );
        for unreadable in [
            "[",
            "[{\"id\":1,\"method\":\"tools/call\"}]",
            "",
            "{\"id\":1,\"method\":3}",
        ] {
            assert_eq!(kind(unreadable), PostKind::Request, "{unreadable}");
        }
    }

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

    #[tokio::test]
    async fn routes_merged_with_router_with_are_behind_the_host_and_origin_guard() {
        let store = Arc::new(crate::MemoryStore::new());
        let exchanger = crate::Exchanger::new(store.clone(), store.clone()).unwrap();
        let server = McpServer::builder(exchanger, store).build().unwrap();
        let extra = Router::new().route("/extra", get(|| async { "extra" }));
        let mut app = router_with(
            server,
            HttpOptions::loopback(ClientAuth::DangerouslyNone),
            extra,
        );
        let mut status = |host: &'static str, origin: Option<&'static str>| {
            let mut request = Request::builder().uri("/extra").header(header::HOST, host);
            if let Some(origin) = origin {
                request = request.header(header::ORIGIN, origin);
            }
            let request = request.body(Body::empty()).unwrap();
            let response = tower_service::Service::call(&mut app, request);
            async move { response.await.unwrap().status() }
        };
        assert_eq!(status("127.0.0.1:1", None).await, StatusCode::OK);
        assert_eq!(status("evil.example", None).await, StatusCode::FORBIDDEN);
        assert_eq!(
            status("127.0.0.1:1", Some("http://evil.example")).await,
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test]
    async fn serve_until_abandons_a_connection_that_outlasts_grace_and_flush() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let store = Arc::new(crate::MemoryStore::new());
        let exchanger = crate::Exchanger::new(store.clone(), store.clone()).unwrap();
        let server = McpServer::builder(exchanger, store).build().unwrap();
        let options = HttpOptions::loopback(ClientAuth::DangerouslyNone);
        let shutdown = Shutdown::new(&server, &options, Duration::from_millis(50))
            .flush(Duration::from_millis(50));
        // A request that never ends keeps its connection open past the close.
        let (arrived, arrival) = tokio::sync::oneshot::channel::<()>();
        let arrived = Arc::new(std::sync::Mutex::new(Some(arrived)));
        let slow = Router::new().route(
            "/slow",
            get(move || {
                if let Some(arrived) = arrived.lock().unwrap().take() {
                    let _ = arrived.send(());
                }
                std::future::pending::<&'static str>()
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = tokio::spawn(serve_until(
            listener,
            router_with(server, options, slow),
            ConnectionLimits::default(),
            shutdown,
            async move {
                let _ = arrival.await;
            },
        ));
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let served = tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("serve_until returns although a connection stays open")
            .unwrap();
        assert!(served.is_ok(), "{served:?}");
        // No answer was sent on the abandoned connection.
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf)).await;
        assert!(!matches!(read, Ok(Ok(n)) if n > 0), "{read:?}");
    }

    #[tokio::test]
    async fn a_refused_request_keeps_its_connection_for_the_next_one() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let store = Arc::new(crate::MemoryStore::new());
        let exchanger = crate::Exchanger::new(store.clone(), store.clone()).unwrap();
        let server = McpServer::builder(exchanger, store).build().unwrap();
        let bearer = SecretString::from("the-right-token");
        let options = HttpOptions::loopback(ClientAuth::Bearer(BearerDigest::of(&bearer)));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(
            listener,
            router(server, options),
            ConnectionLimits::default(),
            std::future::pending(),
        ));
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The headers first; the body only after the 401 could have been sent.
        tcp.write_all(
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 2\r\n\r\n",
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        tcp.write_all(b"{}GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("ok mcpist") {
            match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
                other => panic!(
                    "the connection ended before the second answer ({other:?}): {}",
                    String::from_utf8_lossy(&seen)
                ),
            }
        }
        let seen = String::from_utf8_lossy(&seen);
        assert!(seen.starts_with("HTTP/1.1 401"), "{seen}");
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
