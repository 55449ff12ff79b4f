//! What the connectors' fake upstream APIs share (feature `fake`): serving a
//! router on loopback and reading a query. Each fake lives beside its
//! connector (`github::fake`, `notion::fake`).
//!
//! The fakes answer like the real services do, with their documented JSON,
//! status codes and headers, including their errors; they also record every
//! request they see so tests can assert what reached the upstream.

use std::collections::HashMap;

use axum::Router;

/// Serves `app` on an ephemeral loopback port and returns its address.
pub async fn serve(app: Router) -> std::net::SocketAddr {
    serve_on(app, "127.0.0.1:0".parse().expect("an address")).await
}

/// Serves `app` on `addr` (port 0: an ephemeral one) and returns its address.
pub async fn serve_on(app: Router, addr: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("fake upstream");
    });
    addr
}

/// A URL query as a map, names and values percent-decoded (`%24top` is `$top`).
pub fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    // As servers read it: `+` is a space (reqwest writes spaces so).
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
