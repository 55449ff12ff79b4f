//! Test support for MCPist: fake upstream APIs served on `127.0.0.1:0`.
//!
//! The fakes answer like the real services do, with their documented JSON,
//! status codes and headers, including their errors; they also record every
//! request they see so tests can assert what reached the upstream.

pub mod fake_github;
pub mod fake_notion;

use std::collections::HashMap;

use axum::Router;
use mcpist_core::{
    McpServer,
    guide::{Guide, PlainGuide, Remedy},
};
use rmcp::{RoleClient, ServiceExt, service::RunningService};

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

/// A token no code would produce by accident, to search outputs for.
pub fn canary(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("ghp_CANARY{name}{nanos:x}{:x}", std::process::id())
}

/// A real rmcp client connected to `server` in process, over a duplex pipe
/// (the same framing as stdio).
pub async fn connect(server: McpServer) -> RunningService<RoleClient, ()> {
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let running = server.serve(server_io).await.expect("server starts");
        let _ = running.waiting().await;
    });
    ().serve(client_io).await.expect("client connects")
}

/// A URL query as a map, values percent-decoded.
pub fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

/// The `mcpist` binary's wording of account remedies (its `CliGuide` in
/// `mcpist-bin/src/wiring.rs`, whose unit test checks this copy), for
/// tests that build servers from core and assert the texts clients see.
#[derive(Debug, Clone, Copy)]
pub struct CliGuide;

impl Guide for CliGuide {
    fn means(&self, remedy: Remedy<'_>) -> String {
        match remedy {
            Remedy::AddToken {
                service,
                account: Some(account),
            } => format!("`mcpist accounts add {service} --account {account} --token-stdin`"),
            Remedy::AddToken { service, .. } => {
                format!("`mcpist accounts add {service} --token-stdin`")
            }
            Remedy::Login {
                service,
                account: Some(account),
            } => format!("`mcpist login {service} --account {account}`"),
            Remedy::Login { service, .. } => format!("`mcpist login {service}`"),
            Remedy::SetDefault { service } => {
                format!("`mcpist accounts default {service} LABEL`")
            }
            Remedy::SetApp { service } => {
                format!("`mcpist apps set {service} --client-id ID --client-secret-stdin`")
            }
            other => PlainGuide.means(other),
        }
    }
}
