//! Tool calls that go wrong inside MCPist, through the real MCP server and
//! client: a connector that panics, and what the audit log keeps of a call's
//! arguments.

// MCP logging is deprecated from protocol 2026-07-28 (SEP-2577) but still
// part of 2025-11-25, which clients speak; the server sends it.
#![allow(deprecated)]

use std::sync::Arc;

use mcpist_connectors::notion::fake::FakeNotion;
use mcpist_core::{
    AuditSink, Connector, Exchanger, McpServer, MemoryStore, Registration, Result, ServicePolicy,
    TokenStore,
    audit::{AuditEntry, AuditFilter, Outcome},
    connector::{Auth, CallContext, ToolHints, ToolSpec},
    mcp::{CallToolResult, ContentBlock, JsonObject},
    store::{AccountKey, AccountStatus, AccountWrite, Credential, Expect},
};
use mcpist_tests::{call, canary, text};
use rmcp::{RoleClient, model::CallToolRequestParams, service::RunningService};
use secrecy::SecretString;
use serde_json::{Value, json};

/// A connector whose `boom` tool panics when asked to, and answers otherwise.
#[derive(Debug)]
struct Panicky(url::Url);

#[async_trait::async_trait]
impl Connector for Panicky {
    fn service(&self) -> &'static str {
        "panicky"
    }
    fn auth(&self) -> Auth {
        Auth::None
    }
    fn base_url(&self) -> &url::Url {
        &self.0
    }
    fn tools(&self) -> Vec<ToolSpec> {
        vec![ToolSpec::new(
            "boom",
            "Panics when `panic` is true.",
            json!({"type": "object", "properties": {"panic": {"type": "boolean"}}}),
            ToolHints::READ,
            "test",
        )]
    }
    async fn call(&self, _: &CallContext, _: &str, args: JsonObject) -> Result<CallToolResult> {
        if args.get("panic") == Some(&Value::Bool(true)) {
            panic!("connector bug with a secret-looking detail: ghp_PANICDETAIL");
        }
        Ok(CallToolResult::success(vec![ContentBlock::text("fine")]))
    }
}

/// Every audit record, oldest first.
async fn records(store: &MemoryStore) -> Vec<AuditEntry> {
    let mut all = store.query(&AuditFilter::default()).await.unwrap();
    all.reverse();
    all
}

#[tokio::test]
async fn a_panicking_connector_fails_its_call_with_a_finished_record_and_the_server_serves_on() {
    let store = Arc::new(MemoryStore::new());
    let connector = Arc::new(Panicky("http://127.0.0.1:9/".parse().unwrap()));
    let server = McpServer::builder(
        Exchanger::new(store.clone(), store.clone()).unwrap(),
        store.clone(),
    )
    .connector(connector, ServicePolicy::default())
    .build()
    .unwrap();
    let client = mcpist_tests::connect(server).await;

    let failed = call(&client, "panicky_boom", json!({"panic": true})).await;
    assert_eq!(failed.is_error, Some(true));
    assert_eq!(text(&failed), "internal error in connector panicky");
    let served = call(&client, "panicky_boom", json!({})).await;
    assert_eq!(text(&served), "fine");

    let records = records(&store).await;
    let outcomes: Vec<_> = records.iter().map(|r| r.outcome.outcome).collect();
    assert_eq!(outcomes, [Outcome::Failed, Outcome::Ok]);
    assert_eq!(records[0].outcome.is_error, Some(true));
    let all =
        serde_json::to_string(&records.iter().map(|r| &r.outcome).collect::<Vec<_>>()).unwrap();
    assert!(
        !all.contains("PANICDETAIL"),
        "the panic message is in the audit log: {all}"
    );
}

struct Notion {
    fake: FakeNotion,
    store: Arc<MemoryStore>,
    client: RunningService<RoleClient, ()>,
}

async fn notion() -> Notion {
    let fake = FakeNotion::start().await;
    let token = canary("notion");
    fake.accept_token(&token);
    let store = Arc::new(MemoryStore::new());
    store
        .put(
            &AccountKey::new("notion", "acme").unwrap(),
            AccountWrite {
                credential: Credential::static_token(SecretString::from(token)).unwrap(),
                identity: None,
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
    assert!(mcpist_connectors::builtin().contains(&"notion"));
    let table = json!({"base_url": fake.base_url(), "requests_per_second": 1000.0});
    let connector = (Registration::find("notion").unwrap().build)(table).unwrap();
    let server = McpServer::builder(
        Exchanger::new(store.clone(), store.clone()).unwrap(),
        store.clone(),
    )
    .connector(connector, ServicePolicy::default())
    .build()
    .unwrap();
    Notion {
        fake,
        client: mcpist_tests::connect(server).await,
        store,
    }
}

#[tokio::test]
async fn a_notion_id_of_multibyte_characters_is_refused_and_the_call_answered() {
    let n = notion().await;
    for id in ["-€€€€€€€€€€€", "€-1429989fe8ac4effbc8f57f56486db54€"] {
        let refused = call(&n.client, "notion_get_page", json!({"page_id": id})).await;
        assert_eq!(refused.is_error, Some(true));
        assert!(
            text(&refused).contains("not a Notion id"),
            "{}",
            text(&refused)
        );
    }
    let page = call(
        &n.client,
        "notion_get_page",
        json!({"page_id": mcpist_connectors::notion::fake::PAGE}),
    )
    .await;
    assert_eq!(page.is_error, Some(false), "{}", text(&page));
    let outcomes: Vec<_> = records(&n.store)
        .await
        .iter()
        .map(|r| r.outcome.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            Outcome::InvalidArguments,
            Outcome::InvalidArguments,
            Outcome::Ok
        ]
    );
}

#[tokio::test]
async fn argument_values_reach_the_client_but_never_the_audit_log() {
    let n = notion().await;
    let value = canary("argvalue");
    // The validator quotes the value of a field of the wrong type.
    let invalid = call(
        &n.client,
        "notion_search",
        json!({"query": "x", "page_size": value}),
    )
    .await;
    // The connector's own error echoes the id it was given, also escaped.
    let echoed = call(&n.client, "notion_get_page", json!({"page_id": value})).await;
    let quoted = format!("{value}\"quote\\");
    let escaped = call(&n.client, "notion_get_page", json!({"page_id": quoted})).await;
    for result in [&invalid, &echoed, &escaped] {
        assert_eq!(result.is_error, Some(true));
        assert!(
            text(result).contains(&value),
            "the client is told what it sent"
        );
    }
    let records = records(&n.store).await;
    assert_eq!(records.len(), 3);
    let all = serde_json::to_string(&records).unwrap();
    assert!(
        !all.contains(&value),
        "an argument value in the audit log: {all}"
    );
    assert_eq!(
        records[0].outcome.message.as_deref(),
        Some("invalid arguments: /page_size: type")
    );
    assert!(
        records[1]
            .outcome
            .message
            .as_deref()
            .is_some_and(|m| m.contains("[argument]") && m.contains("not a Notion id")),
        "{:?}",
        records[1].outcome.message
    );
}

#[tokio::test]
async fn the_longest_markdown_of_brackets_a_tool_takes_is_appended_whole() {
    let n = notion().await;
    let page = mcpist_connectors::notion::fake::PAGE;
    let before = n.fake.children(page).len();
    // The schema's maxLength: quadratic, it took billions of steps on a worker thread.
    let markdown = "[".repeat(200_000);
    let result = call(
        &n.client,
        "notion_append_blocks",
        json!({"block_id": page, "markdown": markdown}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let children = n.fake.children(page);
    assert_eq!(children.len(), before + 1);
    let appended: usize = children[before]["paragraph"]["rich_text"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"]["content"].as_str().unwrap().len())
        .sum();
    assert_eq!(appended, 200_000);
    let next = call(&n.client, "notion_get_page", json!({"page_id": page})).await;
    assert_eq!(next.is_error, Some(false), "{}", text(&next));
}

/// A GitHub API that answers `repos/sized/..` with a body of `len` bytes
/// (with its `Content-Length`) and `repos/endless/..` with a chunked body
/// that never ends, counting what it produced.
async fn oversized_upstream(len: usize) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let app = axum::Router::new().route(
        "/api/v3/repos/{owner}/{repo}/issues",
        axum::routing::get(
            move |axum::extract::Path((owner, _)): axum::extract::Path<(String, String)>| {
                let counter = counter.clone();
                async move {
                    if owner == "sized" {
                        return axum::body::Body::from(vec![b' '; len]);
                    }
                    let chunk = axum::body::Bytes::from(vec![b'['; 64 * 1024]);
                    axum::body::Body::from_stream(futures_util::stream::repeat_with(move || {
                        counter.fetch_add(chunk.len(), Ordering::Relaxed);
                        Ok::<_, std::io::Error>(chunk.clone())
                    }))
                }
            },
        ),
    );
    let addr = mcpist_tests::serve(app).await;
    (format!("http://{addr}/api/v3"), produced)
}

#[tokio::test]
async fn an_upstream_body_over_the_cap_is_an_error_naming_it_and_is_not_read_on() {
    use std::sync::atomic::Ordering;
    let cap = 1 << 20;
    let (base_url, produced) = oversized_upstream(cap + 1).await;
    let store = Arc::new(MemoryStore::new());
    store
        .put(
            &AccountKey::new("github", "work").unwrap(),
            AccountWrite {
                credential: Credential::static_token(SecretString::from(canary("cap"))).unwrap(),
                identity: None,
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
    let service = mcpist_core::Service::from_config(
        Registration::find("github").unwrap(),
        json!({"base_url": base_url, "max_response_bytes": cap, "timeout_secs": 600}),
    )
    .unwrap();
    let exchanger = Exchanger::new(store.clone(), store.clone())
        .unwrap()
        .with_service(&service);
    let server = McpServer::builder(exchanger, store.clone())
        .connector(service.connector.clone(), ServicePolicy::default())
        .build()
        .unwrap();
    let client = mcpist_tests::connect(server).await;
    for owner in ["sized", "endless"] {
        let result = call(
            &client,
            "github_list_issues",
            json!({"owner": owner, "repo": "x"}),
        )
        .await;
        assert_eq!(result.is_error, Some(true), "{owner}");
        assert!(
            text(&result).contains(&format!("larger than max_response_bytes ({cap} bytes)")),
            "{owner}: {}",
            text(&result)
        );
    }
    // The endless body was read up to the cap and dropped, not buffered
    // on: what was produced is the cap plus what socket buffers hold.
    let produced = produced.load(Ordering::Relaxed);
    assert!(produced < 64 * cap, "{produced} bytes were produced");
    let bad = mcpist_core::Service::from_config(
        Registration::find("github").unwrap(),
        json!({"max_response_bytes": 10}),
    );
    assert!(bad.unwrap_err().to_string().contains("max_response_bytes"));
}

/// A connector whose `echo` tool fetches `/echo` (which quotes the request's
/// credential, percent-encoded and JSON-escaped), logs the answer to the
/// client and returns it.
#[derive(Debug)]
struct Echoer(url::Url);

#[async_trait::async_trait]
impl Connector for Echoer {
    fn service(&self) -> &'static str {
        "echoer"
    }
    fn base_url(&self) -> &url::Url {
        &self.0
    }
    fn tools(&self) -> Vec<ToolSpec> {
        vec![ToolSpec::new(
            "echo",
            "Echoes the request.",
            json!({"type": "object"}),
            ToolHints::READ,
            "test",
        )]
    }
    async fn call(&self, ctx: &CallContext, _: &str, _: JsonObject) -> Result<CallToolResult> {
        let upstream = ctx.upstream();
        let response = upstream.send(upstream.get(&["echo"])?).await?;
        let body = upstream.text(response).await?;
        ctx.log(mcpist_core::connector::LogLevel::Warning, &body)
            .await;
        Ok(CallToolResult::success(vec![ContentBlock::text(body)]))
    }
}

/// A server with the [`Echoer`] on `addr`, whose account holds `token`.
async fn echo_server(addr: std::net::SocketAddr, token: &str) -> McpServer {
    let store = Arc::new(MemoryStore::new());
    store
        .put(
            &AccountKey::new("echoer", "main").unwrap(),
            AccountWrite {
                credential: Credential::static_token(SecretString::from(token.to_owned())).unwrap(),
                identity: None,
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
    let connector = Arc::new(Echoer(format!("http://{addr}/").parse().unwrap()));
    McpServer::builder(
        Exchanger::new(store.clone(), store.clone()).unwrap(),
        store.clone(),
    )
    .connector(connector, ServicePolicy::default())
    .build()
    .unwrap()
}

/// An MCP client that keeps the log messages the server sends it.
#[derive(Clone, Default)]
struct LogCollector(Arc<std::sync::Mutex<Vec<String>>>);

impl rmcp::ClientHandler for LogCollector {
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().push(params.data.to_string());
    }
}

#[tokio::test]
async fn a_token_echoed_encoded_or_escaped_reaches_neither_the_result_nor_a_log_message() {
    let app = axum::Router::new().route(
        "/echo",
        axum::routing::get(|headers: axum::http::HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let encoded =
                percent_encoding::utf8_percent_encode(&auth, percent_encoding::NON_ALPHANUMERIC);
            format!("seen={encoded} json={}", json!({ "auth": auth }))
        }),
    );
    let addr = mcpist_tests::serve(app).await;
    let token = format!("{}/a+b\"c", canary("echoed"));
    let server = echo_server(addr, &token).await;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let running = rmcp::ServiceExt::serve(server, server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let logs = LogCollector::default();
    let client = rmcp::ServiceExt::serve(logs.clone(), client_io)
        .await
        .unwrap();
    let result = client
        .call_tool(CallToolRequestParams::new("echoer_echo"))
        .await
        .unwrap();
    let result = serde_json::to_string(&result).unwrap();
    assert!(
        result.contains("seen=Bearer%20[REDACTED]"),
        "the echo came back: {result}"
    );
    // The notification was sent before the result; give the client's
    // handler its turn (a count of turns, not a time).
    for _ in 0..1000 {
        if !logs.0.lock().unwrap().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    let logged = logs.0.lock().unwrap().join("\n");
    assert!(
        logged.contains("[REDACTED]"),
        "a log message came: {logged}"
    );
    for channel in [&result, &logged] {
        assert!(
            !channel.contains("CANARYechoed"),
            "the token leaked: {channel}"
        );
    }
}

/// From protocol 2026-07-28 a client opts in to log messages per request
/// (`io.modelcontextprotocol/logLevel` in `_meta`): a call that does not ask
/// gets none, one that asks gets those at its level or above.
#[tokio::test]
async fn a_2026_call_gets_log_messages_only_when_it_asks_for_them() {
    use tokio::io::AsyncBufReadExt as _;
    let app = axum::Router::new().route("/echo", axum::routing::get(|| async { "echoed" }));
    let server = echo_server(mcpist_tests::serve(app).await, &canary("loglevel")).await;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let running = rmcp::ServiceExt::serve(server, server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let (read, mut write) = tokio::io::split(client_io);
    let mut lines = tokio::io::BufReader::new(read).lines();
    assert_eq!(
        methods_before_answer(&mut write, &mut lines, 1, None).await,
        Vec::<String>::new()
    );
    // The Echoer logs at warning.
    assert_eq!(
        methods_before_answer(&mut write, &mut lines, 2, Some("info")).await,
        ["notifications/message"]
    );
    assert_eq!(
        methods_before_answer(&mut write, &mut lines, 3, Some("error")).await,
        Vec::<String>::new()
    );
}

/// Sends the `echoer_echo` call a 2026-07-28 client sends (no handshake,
/// its context in `_meta`, `log_level` if given) as frame `id`, and returns
/// the methods of the messages that came before its answer.
async fn methods_before_answer(
    write: &mut (impl tokio::io::AsyncWrite + Unpin),
    lines: &mut tokio::io::Lines<impl tokio::io::AsyncBufRead + Unpin>,
    id: u64,
    log_level: Option<&str>,
) -> Vec<String> {
    use tokio::io::AsyncWriteExt as _;
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}
    });
    if let Some(level) = log_level {
        meta["io.modelcontextprotocol/logLevel"] = json!(level);
    }
    let frame = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "echoer_echo", "arguments": {}, "_meta": meta}});
    write
        .write_all(format!("{frame}\n").as_bytes())
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the server answers");
        let message: Value = serde_json::from_str(&line).unwrap();
        if message["id"] == json!(id) {
            assert_eq!(
                message["result"]["content"][0]["text"], "echoed",
                "{message}"
            );
            return seen;
        }
        seen.push(message["method"].as_str().unwrap_or_default().to_owned());
    }
}

#[tokio::test]
async fn a_token_endpoint_answer_over_the_cap_is_not_read_on() {
    use mcpist_core::oauth::{
        AppCredentials, ClientAuthMethod, MAX_TOKEN_RESPONSE_BYTES, OAuthClient, OAuthSpec,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
                axum::body::Body::from_stream(futures_util::stream::repeat_with(move || {
                    counter.fetch_add(chunk.len(), Ordering::Relaxed);
                    Ok::<_, std::io::Error>(chunk.clone())
                }))
            }
        }),
    );
    let addr = mcpist_tests::serve(app).await;
    let spec = OAuthSpec {
        authorize_url: format!("http://{addr}/authorize"),
        token_url: format!("http://{addr}/token"),
        scopes: Vec::new(),
        extra_authorize_params: Vec::new(),
        client_auth: ClientAuthMethod::Body,
    };
    let app_credentials = AppCredentials {
        client_id: "id".into(),
        client_secret: Some(SecretString::from("secret-of-the-app")),
    };
    let client = OAuthClient::new(spec, &app_credentials, reqwest::Client::new()).unwrap();
    let err = client
        .refresh(&SecretString::from(canary("refresh")))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("larger than {MAX_TOKEN_RESPONSE_BYTES} bytes")),
        "{err}"
    );
    let produced = produced.load(Ordering::Relaxed);
    assert!(
        produced < 64 * MAX_TOKEN_RESPONSE_BYTES,
        "{produced} bytes were produced"
    );
}
