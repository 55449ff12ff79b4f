//! Resources, prompts and completion of GitHub and Notion, end to end: the
//! official MCP Python SDK at 2025-11-25 and 2026-07-28 over Streamable
//! HTTP on loopback, the SQLite store, the fake GitHub and Notion APIs.
//! Reads go through policy, accounts and audit like tool calls.

use std::{process::Command, sync::Arc};

use mcpist_connectors::{github::fake::FakeGithub, notion::fake::FakeNotion};
use mcpist_core::{
    AuditSink, Exchanger, McpServer, Registration, ServicePolicy, SqliteStore, TokenStore,
    audit::{AuditFilter, Outcome},
    http::{BearerDigest, ClientAuth, HttpOptions},
    seal::MasterKey,
    store::{AccountKey, AccountStatus, AccountWrite, Credential, Expect},
};
use mcpist_tests::{canary, client_script, python_sdk};
use secrecy::SecretString;
use serde_json::{Value, json};

struct Served {
    url: String,
    bearer: String,
    github: FakeGithub,
    notion: FakeNotion,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

async fn account(store: &SqliteStore, service: &str, label: &str, token: &str) {
    account_in(store, service, label, token).await;
}

/// Stores a static token for `service`'s account `label` in `store`.
async fn account_in(store: &dyn TokenStore, service: &str, label: &str, token: &str) {
    let write = AccountWrite {
        credential: Credential::static_token(SecretString::from(token.to_owned())).unwrap(),
        identity: None,
        status: AccountStatus::Ok,
    };
    store
        .put(
            &AccountKey::new(service, label).unwrap(),
            write,
            Expect::Any,
        )
        .await
        .unwrap();
}

/// GitHub (account `work`, login octocat; one pinned issue) and Notion
/// (account `team`, under `notion_policy`) served over HTTP.
async fn serve(notion_policy: ServicePolicy) -> Served {
    let github = FakeGithub::start().await;
    let notion = FakeNotion::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(
            &dir.path().join("mcpist.db"),
            MasterKey::generate().unwrap(),
        )
        .unwrap(),
    );
    let github_token = canary("gh");
    github.accept_token(&github_token, "octocat");
    account(&store, "github", "work", &github_token).await;
    let notion_token = canary("notion");
    notion.accept_token(&notion_token);
    account(&store, "notion", "team", &notion_token).await;
    let build = |service: &str, base: String| {
        (Registration::find(service).unwrap().build)(json!({ "base_url": base })).unwrap()
    };
    let exchanger = Exchanger::new(store.clone(), store.clone()).unwrap();
    let pinned = ServicePolicy {
        resources: vec!["github://octocat/hello-world/issues/3".into()],
        ..Default::default()
    };
    let server = McpServer::builder(exchanger, store.clone())
        .connector(build("github", github.base_url()), pinned)
        .connector(build("notion", notion.base_url()), notion_policy)
        .build()
        .unwrap();
    let bearer = canary("bearer");
    let options = HttpOptions::loopback(ClientAuth::Bearer(BearerDigest::of(&SecretString::from(
        bearer.clone(),
    ))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = mcpist_core::http::router(server, options);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Served {
        url,
        bearer,
        github,
        notion,
        store,
        _dir: dir,
    }
}

/// Runs `tests/clients/resources.py` with `steps`; its answers, one per step.
async fn steps(served: &Served, mode: &str, steps: Value) -> (String, Vec<Value>) {
    let mut command = Command::new(python_sdk());
    command
        .arg(client_script("resources.py"))
        .args([mode, &served.url, &steps.to_string()])
        .env("SMOKE_BEARER", &served.bearer);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        seen["protocol"].as_str().unwrap().to_owned(),
        seen["answers"].as_array().unwrap().clone(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_lists_reads_completes_and_gets_prompts_at_both_versions() {
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let served = serve(ServicePolicy::default()).await;
        let page = mcpist_connectors::notion::fake::PAGE;
        let (seen, answers) = steps(
            &served,
            mode,
            json!([
                ["templates"],
                ["resources"],
                ["read", "github://octocat/hello-world/issues/3"],
                ["read", "github://octocat/hello-world/blob/main/README.md?account=work"],
                ["read", "github://octocat/hello-world/pull/2"],
                ["read", format!("notion://pages/{page}")],
                ["complete_resource", "github://{owner}/{repo}/issues/{number}{?account}",
                    "repo", "sp", {"owner": "octocat"}],
                ["complete_resource", "notion://pages/{page_id}{?account}", "page_id", "meet", null],
                ["prompts"],
                ["prompt", "github_triage_issues", {"owner": "octocat", "repo": "hello-world"}],
                ["complete_prompt", "github_triage_issues", "owner", "oct", null],
            ]),
        )
        .await;
        assert_eq!(seen, protocol);
        let templates = &answers[0];
        for template in [
            "github://{owner}/{repo}/blob/{ref}/{+path}{?account}",
            "github://{owner}/{repo}/issues/{number}{?account}",
            "github://{owner}/{repo}/pull/{number}{?account}",
            "notion://pages/{page_id}{?account}",
        ] {
            assert!(
                templates.as_array().unwrap().contains(&json!(template)),
                "{templates}"
            );
        }
        // Only the pin: nothing is crawled.
        assert_eq!(answers[1], json!(["github://octocat/hello-world/issues/3"]));
        let issue = answers[2][0]["text"].as_str().unwrap();
        assert!(
            issue.starts_with("# Issue #3: Crash on empty input"),
            "{issue}"
        );
        assert!(issue.contains("Steps to reproduce"), "{issue}");
        assert_eq!(answers[2][0]["mime_type"], "text/markdown");
        // The contents are named by the URI without MCPist's `account=`.
        assert_eq!(
            answers[3][0]["uri"],
            "github://octocat/hello-world/blob/main/README.md"
        );
        assert_eq!(answers[3][0]["text"], "# Hello World\n\nHi!\n");
        let pull = answers[4][0]["text"].as_str().unwrap();
        assert!(
            pull.starts_with("# Pull request #2: Add a --json flag"),
            "{pull}"
        );
        assert!(pull.contains("json-flag into main"), "{pull}");
        let notes = answers[5][0]["text"].as_str().unwrap();
        assert!(!notes.is_empty() && !notes.contains("error"), "{notes}");
        assert_eq!(answers[6], json!(["spoon-knife"]));
        assert_eq!(answers[7], json!([page]), "Notion pages by title");
        assert_eq!(answers[8], json!(["github_triage_issues"]));
        let triage = answers[9][0].as_str().unwrap();
        assert!(triage.contains("octocat/hello-world"), "{triage}");
        assert!(triage.contains("#3 Crash on empty input [bug]"), "{triage}");
        // The issues endpoint lists pull requests too; the prompt leaves them out.
        assert!(!triage.contains("#2 "), "{triage}");
        assert_eq!(answers[10], json!(["octocat"]));

        // Each read, get and completion is audited like a read tool call:
        // the account, an outcome, and no argument value in clear.
        let records = served.store.query(&AuditFilter::default()).await.unwrap();
        let tools: Vec<&str> = records
            .iter()
            .filter_map(|r| r.event.tool.as_deref())
            .collect();
        for key in [
            "resource:github_issue",
            "resource:github_file",
            "resource:github_pull",
            "resource:notion_page",
            "complete:resource:github_issue",
            "complete:resource:notion_page",
            "prompt:github_triage_issues",
            "complete:prompt:github_triage_issues",
        ] {
            assert!(tools.contains(&key), "{key} not in {tools:?}");
        }
        for record in &records {
            assert_eq!(record.outcome.outcome, Outcome::Ok, "{record:?}");
            let args = record.event.args.clone().unwrap_or_default().to_string();
            assert!(!args.contains("hello-world"), "{args}");
            assert!(!args.contains("octocat"), "{args}");
        }
        let work = records
            .iter()
            .filter(|r| r.event.account.as_deref() == Some("work"))
            .count();
        assert!(work >= 1, "the account named in the URI is recorded");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_uris_and_denied_services_are_clear_errors_and_reach_no_upstream() {
    let denied = ServicePolicy {
        enabled: Some(false),
        ..Default::default()
    };
    for mode in ["legacy", "auto"] {
        let served = serve(denied.clone()).await;
        let page = mcpist_connectors::notion::fake::PAGE;
        let before = (
            served.github.requests().len(),
            served.notion.requests().len(),
        );
        let (_, answers) = steps(
            &served,
            mode,
            json!([
                ["templates"],
                ["read", format!("notion://pages/{page}")],
                ["read", "github://octocat/hello-world/issues/zero"],
                ["read", "github://octocat/hello-world/wiki"],
                ["read", "ftp://example.com/file"],
                [
                    "read",
                    "github://octocat/hello-world/issues/3?account=nobody"
                ],
                ["read", "github://octocat/hello-world/issues/3?offset=lots"],
                [
                    "complete_resource",
                    "notion://pages/{page_id}{?account}",
                    "page_id",
                    "m",
                    null
                ],
            ]),
        )
        .await;
        let templates = answers[0].to_string();
        assert!(!templates.contains("notion://"), "{templates}");
        let error = |i: usize| {
            assert_eq!(answers[i]["code"], -32602, "{i}: {}", answers[i]);
            answers[i]["error"].as_str().unwrap().to_owned()
        };
        assert!(error(1).contains("not allowed by policy"), "{}", error(1));
        assert!(error(2).contains("number must be a positive whole number"));
        assert!(error(3).contains("Resource not found"), "{}", error(3));
        assert!(error(4).contains("Resource not found"), "{}", error(4));
        assert!(error(5).contains("nobody"), "{}", error(5));
        assert!(error(6).contains("offset"), "{}", error(6));
        assert!(error(7).contains("not allowed by policy"), "{}", error(7));
        assert_eq!(
            before,
            (
                served.github.requests().len(),
                served.notion.requests().len()
            ),
            "nothing reached an upstream"
        );
        let denied = served
            .store
            .query(&AuditFilter {
                outcome: Some(Outcome::Denied),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(denied.len(), 2, "{denied:?}");
    }
}

/// A connector whose one template reads `GET /docs/{name}` of a local
/// upstream that answers with the request's `Authorization` header and
/// 150,000 `é` (300 KB): what a careless upstream echoing a token and a
/// huge document look like.
#[derive(Debug)]
struct Echo(url::Url);

#[async_trait::async_trait]
impl mcpist_core::Connector for Echo {
    fn service(&self) -> &'static str {
        "echo"
    }
    fn base_url(&self) -> &url::Url {
        &self.0
    }
    fn tools(&self) -> Vec<mcpist_core::ToolSpec> {
        Vec::new()
    }
    async fn call(
        &self,
        _: &mcpist_core::CallContext,
        tool: &str,
        _: mcpist_core::mcp::JsonObject,
    ) -> mcpist_core::Result<mcpist_core::mcp::CallToolResult> {
        Err(mcpist_core::Error::InvalidArguments(format!(
            "no tool {tool}"
        )))
    }
    fn resources(&self) -> Vec<mcpist_core::resources::ResourceSpec> {
        vec![mcpist_core::resources::ResourceSpec::new(
            "doc",
            "echo://docs/{name}",
            "A document",
            "docs",
        )]
    }
    async fn read_resource(
        &self,
        ctx: &mcpist_core::CallContext,
        _: &str,
        uri: &str,
        params: mcpist_core::mcp::JsonObject,
    ) -> mcpist_core::Result<Vec<mcpist_core::mcp::ResourceContents>> {
        let upstream = ctx.upstream();
        let name = params["name"].as_str().unwrap_or_default();
        let response = upstream.send(upstream.get(&["docs", name])?).await?;
        let text = upstream.text(response).await?;
        Ok(vec![mcpist_core::mcp::ResourceContents::text(text, uri)])
    }
}

#[tokio::test]
async fn a_huge_read_is_cut_with_a_continuation_and_an_echoed_token_is_redacted() {
    use axum::http::HeaderMap;
    use rmcp::model::{ReadResourceRequestParams, ResourceContents};
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        format!("auth: {auth}\n{}", "é".repeat(150_000))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let store = Arc::new(mcpist_core::MemoryStore::new());
    let token = canary("echo");
    account_in(store.as_ref(), "echo", "work", &token).await;
    let server = McpServer::builder(
        Exchanger::new(store.clone(), store.clone()).unwrap(),
        store.clone(),
    )
    .connector(
        Arc::new(Echo(base.parse().unwrap())),
        ServicePolicy::default(),
    )
    .build()
    .unwrap();
    let client = mcpist_tests::connect(server).await;
    let mut uri = "echo://docs/big".to_owned();
    let mut whole = String::new();
    let mut reads = 0;
    loop {
        reads += 1;
        let result = client
            .read_resource(ReadResourceRequestParams::new(uri.clone()))
            .await
            .unwrap();
        let ResourceContents::TextResourceContents { text, meta, .. } = &result.contents[0] else {
            panic!("a text")
        };
        assert!(!text.contains(&token), "the token was read back");
        assert!(text.len() <= mcpist_core::resources::MAX_READ_BYTES + 200);
        match meta.as_ref().and_then(|m| m.get("io.mcpist/next")) {
            Some(next) => {
                let next = next.as_str().unwrap().to_owned();
                let (part, marker) = text.rsplit_once("\n… [cut at byte").unwrap();
                assert!(marker.contains(&next), "{marker}");
                whole.push_str(part);
                uri = next;
            }
            None => {
                whole.push_str(text);
                break;
            }
        }
    }
    assert_eq!(reads, 4, "300 KB in windows of 100 KB");
    assert_eq!(
        whole,
        format!("auth: Bearer [REDACTED]\n{}", "é".repeat(150_000))
    );
    // An offset inside a character, or past the end, is refused.
    for bad in [
        "echo://docs/big?offset=25",
        "echo://docs/big?offset=999999999",
    ] {
        let err = client
            .read_resource(ReadResourceRequestParams::new(bad))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("offset"), "{err}");
    }
}

/// A read with several accounts and no default is never a silent pick: at
/// both versions the client ends with an error listing the labels (this
/// client answers no elicitation), and nothing is read.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_with_several_accounts_and_no_default_names_them() {
    for mode in ["legacy", "auto"] {
        let served = serve(ServicePolicy::default()).await;
        let home = canary("home");
        served.github.accept_token(&home, "hubot");
        account(&served.store, "github", "home", &home).await;
        let before = served.github.requests().len();
        let (_, answers) = steps(
            &served,
            mode,
            json!([["read", "github://octocat/hello-world/issues/3"]]),
        )
        .await;
        let text = answers[0].to_string();
        assert!(
            text.contains("work") && text.contains("home"),
            "{mode}: {text}"
        );
        assert_eq!(served.github.requests().len(), before, "nothing was read");
    }
}

/// Calls `tool` with `args` on a client with its own handler.
async fn call_with<H: rmcp::ClientHandler>(
    client: &rmcp::service::RunningService<rmcp::RoleClient, H>,
    tool: &str,
    args: Value,
) -> rmcp::model::CallToolResult {
    client
        .call_tool(
            rmcp::model::CallToolRequestParams::new(tool.to_owned())
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap()
}

/// Records `notifications/resources/updated`.
#[derive(Clone, Default)]
struct Updates(Arc<std::sync::Mutex<Vec<String>>>, Arc<tokio::sync::Notify>);

impl rmcp::ClientHandler for Updates {
    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.0.lock().unwrap().push(params.uri);
        self.1.notify_one();
    }
}

/// A write through MCPist tells the sessions subscribed to what it changed
/// (a comment on an issue: that issue's URI), and nothing else; a URI of no
/// template cannot be subscribed to. (`resources/subscribe` is the
/// 2025-11-25 way, deprecated from 2026-07-28, which clients still speak.)
#[allow(deprecated)]
#[tokio::test]
async fn a_write_through_mcpist_tells_the_subscribers_of_what_it_changed() {
    use rmcp::{ServiceExt, model::SubscribeRequestParams};
    let github = FakeGithub::start().await;
    let store = Arc::new(mcpist_core::MemoryStore::new());
    let token = canary("sub");
    github.accept_token(&token, "octocat");
    account_in(store.as_ref(), "github", "work", &token).await;
    let connector = (Registration::find("github").unwrap().build)(json!({
        "base_url": github.base_url()
    }))
    .unwrap();
    let server = McpServer::builder(
        Exchanger::new(store.clone(), store.clone()).unwrap(),
        store.clone(),
    )
    .connector(connector, ServicePolicy::default())
    .build()
    .unwrap();
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let running = server.serve(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let updates = Updates::default();
    let client = updates.clone().serve(client_io).await.unwrap();
    let info = client.peer_info().unwrap();
    assert_eq!(
        info.capabilities
            .resources
            .as_ref()
            .and_then(|r| r.subscribe),
        Some(true)
    );
    for uri in [
        "github://octocat/hello-world/issues/3?account=work",
        "github://octocat/hello-world/issues/1",
    ] {
        client
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .unwrap();
    }
    let bad = client
        .subscribe(SubscribeRequestParams::new(
            "github://octocat/hello-world/wiki",
        ))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("Resource not found"), "{bad}");
    // A read changes nothing.
    let read = call_with(
        &client,
        "github_get_issue",
        json!({"owner": "octocat", "repo": "hello-world", "issue_number": 3}),
    )
    .await;
    assert_ne!(read.is_error, Some(true));
    let comment = call_with(
        &client,
        "github_add_issue_comment",
        json!({"owner": "octocat", "repo": "hello-world", "issue_number": 3, "body": "Looked at it."}),
    )
    .await;
    assert_ne!(comment.is_error, Some(true), "{comment:?}");
    tokio::time::timeout(std::time::Duration::from_secs(10), updates.1.notified())
        .await
        .expect("the subscriber is told");
    assert_eq!(
        *updates.0.lock().unwrap(),
        vec!["github://octocat/hello-world/issues/3".to_owned()]
    );
    // Unsubscribed, it is told no more.
    client
        .unsubscribe(rmcp::model::UnsubscribeRequestParams::new(
            "github://octocat/hello-world/issues/3",
        ))
        .await
        .unwrap();
    let again = call_with(
        &client,
        "github_add_issue_comment",
        json!({"owner": "octocat", "repo": "hello-world", "issue_number": 3, "body": "Again."}),
    )
    .await;
    assert_ne!(again.is_error, Some(true));
    // A later notification would be processed before this answer.
    client.list_all_tools().await.unwrap();
    assert_eq!(updates.0.lock().unwrap().len(), 1);
}

/// The same at 2026-07-28: the official Python SDK listens with
/// `resourceSubscriptions` and hears of a comment made through MCPist.
#[tokio::test(flavor = "multi_thread")]
async fn a_2026_client_listening_for_a_resource_hears_of_a_write_through_mcpist() {
    use std::io::BufRead as _;
    let served = serve(ServicePolicy::default()).await;
    let issue = "github://octocat/hello-world/issues/3";
    let mut watcher = Command::new(python_sdk())
        .arg(client_script("watch.py"))
        .args([&served.url, issue])
        .env("SMOKE_BEARER", &served.bearer)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(watcher.stdout.take().unwrap()).lines();
    let (listening, mut lines) = tokio::task::spawn_blocking(move || {
        let line = lines.next().expect("the client listens").unwrap();
        (serde_json::from_str::<Value>(&line).unwrap(), lines)
    })
    .await
    .unwrap();
    assert_eq!(listening["event"], "listening", "{listening}");
    assert_eq!(listening["honored"], json!([issue]), "{listening}");
    let mut caller = Command::new(python_sdk());
    caller
        .arg(client_script("smoke.py"))
        .args([
            "auto",
            &served.url,
            "github_add_issue_comment",
            r#"{"owner": "octocat", "repo": "hello-world", "issue_number": 3, "body": "Seen."}"#,
        ])
        .env("SMOKE_BEARER", &served.bearer);
    let called = tokio::task::spawn_blocking(move || caller.output().unwrap())
        .await
        .unwrap();
    assert!(
        called.status.success(),
        "{}",
        String::from_utf8_lossy(&called.stderr)
    );
    let said: Value = serde_json::from_slice(&called.stdout).unwrap();
    assert_eq!(said["is_error"], false, "{said}");
    let heard = tokio::task::spawn_blocking(move || {
        let line = lines
            .next()
            .expect("the client hears of the change")
            .unwrap();
        serde_json::from_str::<Value>(&line).unwrap()
    })
    .await
    .unwrap();
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert_eq!(heard["uri"], issue, "{heard}");
}
