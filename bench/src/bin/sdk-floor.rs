//! The SDK floor: a do-nothing rmcp server with one `echo` tool, served the
//! way `mcpist serve` serves (multi-threaded tokio runtime, rmcp's stdio
//! transport, or Streamable HTTP with rmcp's default session mode under
//! axum). What it costs per call is what rmcp's framing costs; MCPist's
//! overhead is measured against it.
//!
//! `sdk-floor --stdio` or `sdk-floor --bind 127.0.0.1:PORT`.

use std::sync::Arc;

use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::RequestContext,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde_json::{Value, json};

#[derive(Clone)]
struct Echo {
    tools: Arc<Vec<Tool>>,
}

impl Echo {
    fn new() -> Self {
        let schema = json!({"type": "object", "properties": {"text": {"type": "string"}},
            "required": ["text"]});
        let Value::Object(schema) = schema else {
            unreachable!("a JSON object literal")
        };
        Self {
            tools: Arc::new(vec![Tool::new(
                "echo",
                "Returns its text argument.",
                Arc::new(schema),
            )]),
        }
    }
}

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("sdk-floor", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let text = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("text"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--stdio"] => runtime.block_on(async {
            let running = Echo::new().serve(rmcp::transport::stdio()).await?;
            running.waiting().await?;
            Ok(())
        }),
        ["--bind", addr] => runtime.block_on(async {
            let server = Echo::new();
            let service = StreamableHttpService::new(
                move || Ok(server.clone()),
                Arc::new(LocalSessionManager::default()),
                StreamableHttpServerConfig::default(),
            );
            let listener = tokio::net::TcpListener::bind(addr).await?;
            eprintln!("sdk-floor: MCP at http://{}/mcp", listener.local_addr()?);
            // As `mcpist serve` does: without it every streamed reply waits
            // for the client's delayed ACK.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let app = axum::Router::new().nest_service("/mcp", service);
            axum::serve(listener, app).await?;
            Ok(())
        }),
        _ => anyhow::bail!("usage: sdk-floor --stdio | --bind ADDR"),
    }
}
