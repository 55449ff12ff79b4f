//! Test support for MCPist: canaries, an in-process rmcp client, and the
//! loopback helpers of the fake upstream APIs. The fakes themselves live
//! beside their connectors, behind `mcpist-connectors`' `fake` feature
//! (`mcpist_connectors::github::fake`, `mcpist_connectors::notion::fake`).

pub use mcpist_connectors::fake::{parse_query, serve, serve_on};
use mcpist_core::{McpServer, Registration, ToolSpec};
use rmcp::{RoleClient, ServiceExt, service::RunningService};

/// The tools the registered connector `service` lists with its default
/// config, so that tests derive tool counts instead of writing them down.
pub fn tools_of(service: &str) -> Vec<ToolSpec> {
    let registration =
        Registration::find(service).unwrap_or_else(|| panic!("{service} is not registered"));
    (registration.build)(serde_json::Value::Null)
        .unwrap_or_else(|e| panic!("{service} with its default config: {e}"))
        .tools()
}

/// Every tool the connectors on by default list, as a server with no config serves them.
pub fn default_tool_count() -> usize {
    Registration::all()
        .into_iter()
        .filter(|r| r.enabled_by_default)
        .map(|r| tools_of(r.service).len())
        .sum()
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
