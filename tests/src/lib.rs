//! Test support for MCPist: canaries, an in-process rmcp client and its call
//! helpers, a server on the fake GitHub ([`on_fake_github`]), and the
//! loopback helpers of the fake upstream APIs, and headless Chromium
//! ([`browser`]). The fakes themselves live
//! beside their connectors, behind `mcpist-connectors`' `fake` feature
//! (`mcpist_connectors::github::fake`, `mcpist_connectors::notion::fake`).

pub use mcpist_connectors::fake::{parse_query, serve, serve_on};
use mcpist_core::{McpServer, Registration, ToolSpec};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult},
    service::RunningService,
};
use serde_json::Value;

pub mod browser;
pub mod on_fake_github;

/// The tools the registered connector `service` lists with its default
/// config, so that tests derive tool counts instead of writing them down.
pub fn tools_of(service: &str) -> Vec<ToolSpec> {
    let registration =
        Registration::find(service).unwrap_or_else(|| panic!("{service} is not registered"));
    (registration.build)(serde_json::Value::Null)
        .unwrap_or_else(|e| panic!("{service} with its default config: {e}"))
        .tools()
}

/// The tools `client` lists that belong to `service` (named `{service}_…`),
/// without MCPist's own (the batch tool, meta-tools).
pub async fn listed_tools_of(
    client: &RunningService<RoleClient, ()>,
    service: &str,
) -> Vec<rmcp::model::Tool> {
    let prefix = format!("{service}_");
    let mut tools = client.list_all_tools().await.expect("tools/list");
    tools.retain(|t| t.name.starts_with(&prefix));
    tools
}

/// The registered service `service` built from its config `table` (point
/// its `base_url` at a fake), with one account `me` holding the static
/// `token`, served by a real [`McpServer`] (the `mcpist` binary's wording of
/// remedies) to an rmcp client.
pub async fn serve_with_token(
    service: &str,
    table: Value,
    token: &str,
) -> RunningService<RoleClient, ()> {
    use mcpist_core::{
        Exchanger, MemoryStore, Service, TokenStore,
        store::{AccountKey, AccountStatus, AccountWrite, Credential, Expect},
    };
    let store = std::sync::Arc::new(MemoryStore::new());
    let credential = Credential::static_token(secrecy::SecretString::from(token.to_owned()))
        .expect("a static token");
    store
        .put(
            &AccountKey::new(service, "me").expect("a valid account key"),
            AccountWrite {
                credential,
                identity: None,
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .expect("the account is stored");
    let registration =
        Registration::find(service).unwrap_or_else(|| panic!("{service} is not registered"));
    let service = Service::from_config(registration, table).expect("the service's config");
    let exchanger = Exchanger::new(store.clone(), store.clone())
        .expect("an exchanger")
        .with_guide(std::sync::Arc::new(mcpist_core::guide::McpistCli));
    let server = McpServer::builder(exchanger, store)
        .service(service)
        .build()
        .expect("the server builds");
    connect(server).await
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

/// Calls `tool` with `args` (an object); panics on a protocol error.
pub async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    args: Value,
) -> CallToolResult {
    client
        .call_tool(
            CallToolRequestParams::new(tool.to_owned())
                .with_arguments(args.as_object().expect("object").clone()),
        )
        .await
        .expect("a tool result, not a protocol error")
}

/// [`call`], asserting that `secret` (the account's token) appears nowhere
/// in the result.
pub async fn call_hiding(
    client: &RunningService<RoleClient, ()>,
    secret: &str,
    tool: &str,
    args: Value,
) -> CallToolResult {
    let result = call(client, tool, args).await;
    assert!(
        !serde_json::to_string(&result)
            .expect("a result serializes")
            .contains(secret),
        "the token leaked into a result of {tool}"
    );
    result
}

/// The text blocks of `result`, joined by newlines.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON of a successful `result`; panics with its text on a tool error.
pub fn json_of(result: &CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(false), "{}", text(result));
    serde_json::from_str(&text(result)).expect("JSON text")
}

/// The Python interpreter of the virtualenv holding the official MCP Python
/// SDK (`tests/clients/requirements.txt`), which `scripts/test.sh` makes at
/// `.ci/py`; `MCPIST_TEST_PYTHON` points elsewhere.
pub fn python_sdk() -> std::path::PathBuf {
    let python = std::env::var_os("MCPIST_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/py/bin/python")
        });
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/test.sh` once (it installs the MCP Python SDK)",
        python.display()
    );
    python
}

/// The path of a client script in `tests/clients/`.
pub fn client_script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(name)
}
