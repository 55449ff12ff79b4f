//! Test support for MCPist: fake upstream APIs served on `127.0.0.1:0`.
//!
//! The fakes answer like the real services do, with their documented JSON,
//! status codes and headers, including their errors; they also record every
//! request they see so tests can assert what reached the upstream.

pub mod fake_github;
pub mod fake_notion;

use axum::Router;

/// Serves `app` on an ephemeral loopback port and returns its address.
pub async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("fake upstream");
    });
    addr
}

/// A token no code would produce by accident, to search outputs for.
pub fn canary(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("ghp_CANARY{name}{nanos:x}{:x}", std::process::id())
}
