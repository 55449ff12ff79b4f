//! The real rmcp client, in process over a duplex pipe (the stdio framing),
//! against MCPist's server with the GitHub connector pointed at a fake GitHub.

use std::sync::Arc;

use mcpist_connectors::github::fake::FakeGithub;
use mcpist_core::{
    AuditSink, Exchanger, McpServer, MemoryStore, Registration, Service, ServicePolicy, TokenStore,
    audit::{AuditFilter, AuditKind, Outcome},
    store::{AccountKey, AccountStatus, AccountWrite, Credential, Expect},
};
use mcpist_tests::canary;
use rmcp::{
    RoleClient,
    model::{CallToolRequestParams, CallToolResult},
    service::RunningService,
};
use secrecy::SecretString;
use serde_json::{Value, json};

struct Setup {
    fake: FakeGithub,
    store: Arc<MemoryStore>,
    client: RunningService<RoleClient, ()>,
}

async fn add_account(store: &MemoryStore, label: &str, token: &str) {
    store
        .put(
            &AccountKey::new("github", label).unwrap(),
            AccountWrite {
                credential: Credential::static_token(SecretString::from(token.to_owned())).unwrap(),
                identity: None,
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
}

/// A server with the GitHub connector on a fake GitHub and `accounts`
/// (label, token, login) in a memory store, and a client connected to it.
async fn setup(accounts: &[(&str, &str, &str)]) -> Setup {
    setup_with(accounts, ServicePolicy::default(), None).await
}

/// [`setup`] with extra keys in the `[connectors.github]` table.
async fn setup_config(accounts: &[(&str, &str, &str)], extra: Value) -> Setup {
    setup_full(accounts, ServicePolicy::default(), None, extra).await
}

/// [`setup`] with a policy, and an audit sink other than the store.
async fn setup_with(
    accounts: &[(&str, &str, &str)],
    policy: ServicePolicy,
    audit: Option<Arc<dyn AuditSink>>,
) -> Setup {
    setup_full(accounts, policy, audit, json!({})).await
}

async fn setup_full(
    accounts: &[(&str, &str, &str)],
    policy: ServicePolicy,
    audit: Option<Arc<dyn AuditSink>>,
    extra: Value,
) -> Setup {
    let fake = FakeGithub::start().await;
    let store = Arc::new(MemoryStore::new());
    for (label, token, login) in accounts {
        fake.accept_token(token, login);
        add_account(&store, label, token).await;
    }
    let mut table = json!({ "base_url": fake.base_url() });
    for (k, v) in extra.as_object().unwrap() {
        table[k] = v.clone();
    }
    let github = Service::from_config(
        Registration::find("github").expect("github is registered"),
        table,
    )
    .unwrap();
    let audit = audit.unwrap_or_else(|| store.clone());
    let exchanger = Exchanger::new(store.clone(), audit.clone())
        .unwrap()
        .with_guide(Arc::new(mcpist_tests::CliGuide))
        .with_service(&github);
    let server = McpServer::builder(exchanger, audit)
        .connector(github.connector, policy)
        .build()
        .unwrap();
    let client = mcpist_tests::connect(server).await;
    Setup {
        fake,
        store,
        client,
    }
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> CallToolResult {
    client
        .call_tool(
            CallToolRequestParams::new(tool.to_owned())
                .with_arguments(args.as_object().expect("object").clone()),
        )
        .await
        .expect("a tool result, not a protocol error")
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn json_of(result: &CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(false), "{}", text(result));
    serde_json::from_str(&text(result)).expect("JSON text")
}

#[test]
fn the_registry_holds_exactly_the_builtin_connectors() {
    let registered: Vec<_> = Registration::all().iter().map(|r| r.service).collect();
    assert_eq!(registered, mcpist_connectors::builtin());
    assert!(registered.contains(&"github"));
}

#[tokio::test]
async fn tools_are_listed_with_the_account_argument_and_annotations() {
    let s = setup(&[]).await;
    let info = s.client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().unwrap().name, "mcpist");
    let tools = s.client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), mcpist_tests::tools_of("github").len());
    let writes: Vec<_> = tools
        .iter()
        .filter(|t| t.annotations.as_ref().unwrap().read_only_hint != Some(true))
        .map(|t| t.name.as_ref())
        .collect();
    assert_eq!(
        writes,
        [
            "github_add_issue_comment",
            "github_create_issue",
            "github_create_pull_request",
            "github_update_issue",
        ]
    );
    for tool in &tools {
        assert!(
            tool.input_schema["properties"]["account"].is_object(),
            "{}",
            tool.name
        );
        assert!(
            tool.description.as_ref().is_some_and(|d| d.len() < 100),
            "{}",
            tool.name
        );
    }
}

#[tokio::test]
async fn a_tool_call_reaches_github_with_the_token_and_the_client_never_sees_it() {
    let token = canary("e2e");
    let s = setup(&[("work", &token, "octocat")]).await;
    let me = call(&s.client, "github_get_me", json!({})).await;
    let me_json = json_of(&me);
    assert_eq!(me_json["login"], "octocat");
    assert_eq!(me_json["name"], "The octocat");

    let seen = s.fake.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/api/v3/user");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );

    let issues = json_of(
        &call(
            &s.client,
            "github_list_issues",
            json!({"owner": "octocat", "repo": "hello-world"}),
        )
        .await,
    );
    let numbers: Vec<_> = issues["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].clone())
        .collect();
    assert_eq!(numbers, [json!(3), json!(2)], "open issues, newest first");
    assert_eq!(issues["items"][1]["pr"], true);
    assert_eq!(issues["items"][0]["labels"], json!(["bug"]));

    let issue = json_of(
        &call(
            &s.client,
            "github_get_issue",
            json!({"owner": "octocat", "repo": "hello-world", "issue_number": 1}),
        )
        .await,
    );
    assert_eq!(issue["state"], "closed");
    assert_eq!(issue["assignees"], json!(["hubot"]));
    assert!(issue["body"].as_str().unwrap().starts_with("Body of Typo"));

    // Nothing the client received carries the token.
    let listed = serde_json::to_string(&s.client.list_all_tools().await.unwrap()).unwrap();
    for output in [serde_json::to_string(&me).unwrap(), listed] {
        assert!(!output.contains(&token));
    }
}

#[tokio::test]
async fn pagination_says_when_more_exists() {
    let s = setup(&[("work", &canary("page"), "octocat")]).await;
    let first = json_of(&call(&s.client, "github_list_repos", json!({"per_page": 2})).await);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["next_page"], 2);
    let second = json_of(
        &call(
            &s.client,
            "github_list_repos",
            json!({"per_page": 2, "page": 2}),
        )
        .await,
    );
    assert_eq!(second["items"][0]["full_name"], "octocat/linguist");
    assert_eq!(second["items"][0]["private"], true);
    assert!(second.get("next_page").is_none());
}

#[tokio::test]
async fn bad_arguments_are_a_tool_error_naming_the_field_and_nothing_is_sent() {
    let s = setup(&[("work", &canary("args"), "octocat")]).await;
    let r = call(
        &s.client,
        "github_get_issue",
        json!({"owner": "octocat", "repo": "hello-world", "issue_number": "seven"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("`issue_number`"), "{}", text(&r));
    let r = call(&s.client, "github_list_issues", json!({"owner": "octocat"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("\"repo\""), "{}", text(&r));
    let r = call(&s.client, "github_get_me", json!({"surprise": 1})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("surprise"), "{}", text(&r));
    assert!(s.fake.requests().is_empty());
}

#[tokio::test]
async fn an_unknown_tool_is_a_protocol_error() {
    let s = setup(&[]).await;
    let err = s
        .client
        .call_tool(CallToolRequestParams::new("github_delete_everything"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown tool"), "{err}");
}

#[tokio::test]
async fn with_no_account_the_error_gives_the_command_that_adds_one() {
    let s = setup(&[]).await;
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text(&r).contains("mcpist accounts add github --token-stdin"),
        "{}",
        text(&r)
    );
    assert!(s.fake.requests().is_empty());
}

#[tokio::test]
async fn two_accounts_without_a_default_are_never_picked_silently() {
    let (work, home) = (canary("work"), canary("home"));
    let s = setup(&[("work", &work, "alice-work"), ("home", &home, "alice")]).await;
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    let message = text(&r);
    assert!(
        message.contains("home") && message.contains("work"),
        "{message}"
    );
    assert!(s.fake.requests().is_empty());

    let me = json_of(&call(&s.client, "github_get_me", json!({"account": "home"})).await);
    assert_eq!(me["login"], "alice");
    let me = json_of(&call(&s.client, "github_get_me", json!({"account": "work"})).await);
    assert_eq!(me["login"], "alice-work");

    s.store
        .set_default(&AccountKey::new("github", "work").unwrap())
        .await
        .unwrap();
    let me = json_of(&call(&s.client, "github_get_me", json!({})).await);
    assert_eq!(me["login"], "alice-work");

    let r = call(&s.client, "github_get_me", json!({"account": "nope"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("home, work"), "{}", text(&r));
}

#[tokio::test]
async fn upstream_failures_are_tool_errors_that_say_what_happened() {
    let token = canary("errors");
    let s = setup(&[("work", &token, "octocat")]).await;

    let r = call(
        &s.client,
        "github_get_issue",
        json!({"owner": "octocat", "repo": "hello-world", "issue_number": 99}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text(&r).contains("404") && text(&r).contains("Not Found"),
        "{}",
        text(&r)
    );

    let r = call(
        &s.client,
        "github_list_issues",
        json!({"owner": "ratelimited", "repo": "x"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text(&r).contains("rate limiting") && text(&r).contains("retry in"),
        "{}",
        text(&r)
    );

    let r = call(
        &s.client,
        "github_list_issues",
        json!({"owner": "secondary", "repo": "x"}),
    )
    .await;
    assert!(
        text(&r).contains("retry in 5") || text(&r).contains("retry in 6"),
        "{}",
        text(&r)
    );

    let r = call(
        &s.client,
        "github_list_issues",
        json!({"owner": "broken", "repo": "x"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("500"), "{}", text(&r));

    // An upstream that echoes the Authorization header does not leak it.
    let r = call(
        &s.client,
        "github_list_issues",
        json!({"owner": "echo", "repo": "x"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("Validation Failed"), "{}", text(&r));
    assert!(!serde_json::to_string(&r).unwrap().contains(&token));
}

#[tokio::test]
async fn a_rejected_token_says_how_to_replace_it() {
    let s = setup(&[("work", &canary("good"), "octocat")]).await;
    add_account(&s.store, "work", &canary("revoked")).await;
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    let message = text(&r);
    assert!(message.contains("Bad credentials"), "{message}");
    assert!(
        message.contains("mcpist accounts add github --account work --token-stdin"),
        "{message}"
    );
}

#[tokio::test]
async fn ids_cannot_change_the_route() {
    let s = setup(&[("work", &canary("route"), "octocat")]).await;
    for owner in [
        "../../user",
        "a/b",
        "x?y=1",
        "https://evil.example",
        "%2e%2e",
    ] {
        let r = call(
            &s.client,
            "github_list_issues",
            json!({"owner": owner, "repo": "hello-world"}),
        )
        .await;
        assert_eq!(r.is_error, Some(true), "{owner}: {}", text(&r));
    }
    for owner in ["..", "."] {
        let r = call(
            &s.client,
            "github_list_issues",
            json!({"owner": owner, "repo": "x"}),
        )
        .await;
        assert!(text(&r).contains("not a valid name"), "{}", text(&r));
    }
    for seen in s.fake.requests() {
        assert!(seen.path.starts_with("/api/v3/repos/"), "{}", seen.path);
        assert_eq!(seen.path.split('/').count(), 7, "{}", seen.path);
        assert!(seen.path.ends_with("/hello-world/issues"), "{}", seen.path);
    }
}

#[tokio::test]
async fn write_tools_send_what_the_model_asked_for() {
    let s = setup(&[("work", &canary("write"), "octocat")]).await;
    let created = json_of(&call(&s.client, "github_create_issue", json!({"owner": "octocat", "repo": "hello-world", "title": "New bug", "body": "It broke", "labels": ["bug"]})).await);
    assert_eq!(created["number"], 4);
    assert_eq!(created["title"], "New bug");
    let seen = s.fake.requests();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(
        seen[0].body,
        Some(json!({"title": "New bug", "body": "It broke", "labels": ["bug"]}))
    );

    let closed = json_of(&call(&s.client, "github_update_issue", json!({"owner": "octocat", "repo": "hello-world", "issue_number": 3, "state": "closed"})).await);
    assert_eq!(closed["state"], "closed");
    let r = call(
        &s.client,
        "github_update_issue",
        json!({"owner": "octocat", "repo": "hello-world", "issue_number": 3}),
    )
    .await;
    assert!(text(&r).contains("nothing to change"), "{}", text(&r));

    let comment = json_of(
        &call(
            &s.client,
            "github_add_issue_comment",
            json!({"owner": "octocat", "repo": "hello-world", "issue_number": 3, "body": "Thanks"}),
        )
        .await,
    );
    assert!(
        comment["html_url"]
            .as_str()
            .unwrap()
            .ends_with("#issuecomment-1")
    );
    assert_eq!(
        s.fake.requests().len(),
        3,
        "one upstream request per successful write"
    );
}

#[tokio::test]
async fn read_only_hides_and_blocks_every_write_tool_and_the_refusal_is_audited() {
    let policy = ServicePolicy {
        read_only: true,
        allow: vec!["*".into()],
        ..Default::default()
    };
    let s = setup_with(&[("work", &canary("ro"), "octocat")], policy, None).await;
    let tools = s.client.list_all_tools().await.unwrap();
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
    );
    let reads = mcpist_tests::tools_of("github")
        .iter()
        .filter(|t| t.hints.read_only)
        .count();
    assert_eq!(tools.len(), reads, "every tool less the writes");
    for tool in [
        "github_create_issue",
        "github_update_issue",
        "github_add_issue_comment",
    ] {
        let r = call(&s.client, tool, json!({"owner": "octocat", "repo": "hello-world", "title": "x", "issue_number": 1, "body": "x"})).await;
        assert_eq!(r.is_error, Some(true));
        assert!(text(&r).contains("not allowed by policy"), "{}", text(&r));
    }
    assert!(
        s.fake.requests().is_empty(),
        "a refused write reached GitHub"
    );
    let records = s.store.query(&AuditFilter::default()).await.unwrap();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.outcome.outcome == Outcome::Denied));
    assert!(s.store.verify().await.unwrap().is_intact());
}

#[tokio::test]
async fn deny_beats_allow() {
    let policy = ServicePolicy {
        allow: vec!["github_get_me".into(), "github_list_issues".into()],
        deny: vec!["*issue*".into()],
        ..Default::default()
    };
    let s = setup_with(&[("work", &canary("deny"), "octocat")], policy, None).await;
    let names: Vec<String> = s
        .client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, ["github_get_me"]);
    let r = call(
        &s.client,
        "github_list_issues",
        json!({"owner": "octocat", "repo": "hello-world"}),
    )
    .await;
    assert!(text(&r).contains("denied by `*issue*`"), "{}", text(&r));
}

#[tokio::test]
async fn every_call_gets_exactly_one_audit_record_under_concurrency() {
    let s = setup(&[("work", &canary("many"), "octocat")]).await;
    let client = Arc::new(s.client);
    let mut calls = Vec::new();
    for i in 0..200 {
        let client = client.clone();
        calls.push(tokio::spawn(async move {
            let args = match i % 4 {
                0 => json!({}),
                1 => json!({"owner": "octocat", "repo": "hello-world", "issue_number": 99}),
                2 => json!({"owner": 5}),
                _ => json!({"owner": "octocat", "repo": "hello-world", "issue_number": 1}),
            };
            let tool = if i % 4 == 0 {
                "github_get_me"
            } else {
                "github_get_issue"
            };
            call(&client, tool, args).await
        }));
    }
    for c in calls {
        c.await.unwrap();
    }
    let records = s.store.query(&AuditFilter::default()).await.unwrap();
    assert_eq!(records.len(), 200);
    let count = |o: Outcome| records.iter().filter(|r| r.outcome.outcome == o).count();
    assert_eq!(count(Outcome::Ok), 100);
    assert_eq!(count(Outcome::ToolError), 50, "the 404s");
    assert_eq!(count(Outcome::InvalidArguments), 50);
    assert!(records.iter().all(|r| r.event.kind == AuditKind::ToolCall));
    let not_found = records
        .iter()
        .find(|r| r.outcome.outcome == Outcome::ToolError)
        .unwrap();
    assert_eq!(not_found.outcome.upstream_status, Some(404));
    assert_eq!(not_found.outcome.is_error, Some(true));
    let report = s.store.verify().await.unwrap();
    assert!(report.is_intact() && report.pending == 0, "{report:?}");
    assert_eq!(s.fake.requests().len(), 150);
}

/// An audit log that cannot be written to, like a full disk.
#[derive(Debug)]
struct BrokenAudit;

#[async_trait::async_trait]
impl AuditSink for BrokenAudit {
    async fn begin(&self, _: mcpist_core::audit::AuditEvent) -> mcpist_core::Result<u64> {
        Err(mcpist_core::Error::Store("disk I/O error".into()))
    }
    async fn finish(&self, _: u64, _: mcpist_core::audit::AuditOutcome) -> mcpist_core::Result<()> {
        Err(mcpist_core::Error::Store("disk I/O error".into()))
    }
    async fn record(
        &self,
        _: mcpist_core::audit::AuditEvent,
        _: mcpist_core::audit::AuditOutcome,
    ) -> mcpist_core::Result<u64> {
        Err(mcpist_core::Error::Store("disk I/O error".into()))
    }
    async fn query(
        &self,
        _: &AuditFilter,
    ) -> mcpist_core::Result<Vec<mcpist_core::audit::AuditEntry>> {
        Ok(vec![])
    }
    async fn verify(&self) -> mcpist_core::Result<mcpist_core::audit::VerifyReport> {
        Ok(Default::default())
    }
    async fn prune(&self, _: u64) -> mcpist_core::Result<u64> {
        Ok(0)
    }
    fn summarize(&self, _: &serde_json::Map<String, Value>) -> Value {
        Value::Null
    }
}

#[tokio::test]
async fn an_unwritable_audit_log_refuses_the_call_before_anything_is_sent() {
    let s = setup_with(
        &[("work", &canary("broken"), "octocat")],
        ServicePolicy::default(),
        Some(Arc::new(BrokenAudit)),
    )
    .await;
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text(&r).contains("audit log cannot be written") && text(&r).contains("disk I/O error"),
        "{}",
        text(&r)
    );
    assert!(s.fake.requests().is_empty());
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_with_backoff_but_writes_are_not() {
    let s = setup(&[("work", &canary("retry"), "octocat")]).await;
    s.fake
        .fail_next(axum::http::StatusCode::BAD_GATEWAY, 2, None);
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(s.fake.requests().len(), 3, "two 502s, then the answer");

    s.fake
        .fail_next(axum::http::StatusCode::BAD_GATEWAY, 1, None);
    let r = call(
        &s.client,
        "github_create_issue",
        json!({"owner": "octocat", "repo": "hello-world", "title": "Once"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("502"), "{}", text(&r));
    assert_eq!(s.fake.requests().len(), 4, "a POST is never sent twice");

    s.fake
        .fail_next(axum::http::StatusCode::SERVICE_UNAVAILABLE, 5, None);
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert!(text(&r).contains("503"), "{}", text(&r));
    assert_eq!(s.fake.requests().len(), 7, "the first try and two retries");
}

#[tokio::test]
async fn a_short_rate_limit_is_waited_out_and_a_long_one_reported() {
    let s = setup(&[("work", &canary("429"), "octocat")]).await;
    s.fake
        .fail_next(axum::http::StatusCode::TOO_MANY_REQUESTS, 1, Some("1"));
    let started = std::time::Instant::now();
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(950),
        "Retry-After was honoured"
    );
    assert_eq!(s.fake.requests().len(), 2);

    s.fake
        .fail_next(axum::http::StatusCode::FORBIDDEN, 1, Some("120"));
    let started = std::time::Instant::now();
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text(&r).contains("rate limiting") && text(&r).contains("retry in 1"),
        "{}",
        text(&r)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "a long wait is not waited"
    );
    assert_eq!(s.fake.requests().len(), 3);

    // An HTTP-date in the past means no wait at all.
    s.fake.fail_next(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        1,
        Some("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
}

#[tokio::test]
async fn a_slow_upstream_times_out_with_a_clear_error() {
    let s = setup_config(
        &[("work", &canary("slow"), "octocat")],
        json!({"timeout_secs": 0.5, "max_retries": 0}),
    )
    .await;
    let started = std::time::Instant::now();
    let r = call(
        &s.client,
        "github_list_issues",
        json!({"owner": "slow", "repo": "x"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("timed out"), "{}", text(&r));
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let bad = Service::from_config(
        Registration::find("github").unwrap(),
        json!({"timeout_secs": -1}),
    );
    assert!(bad.unwrap_err().to_string().contains("timeout_secs"));
}

#[tokio::test]
async fn every_github_read_tool_answers_from_the_api() {
    let s = setup(&[("work", &canary("reads"), "octocat")]).await;
    let repo = json!({"owner": "octocat", "repo": "hello-world"});
    let with = |extra: Value| {
        let mut args = repo.clone();
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    };
    let cases: Vec<(&str, Value, &str, Value)> = vec![
        (
            "github_list_orgs",
            json!({}),
            "/items/0/login",
            json!("acme"),
        ),
        (
            "github_get_repo",
            repo.clone(),
            "/default_branch",
            json!("main"),
        ),
        (
            "github_list_starred",
            json!({}),
            "/items/0/full_name",
            json!("rust-lang/hello-world"),
        ),
        (
            "github_list_branches",
            repo.clone(),
            "/items/1/sha",
            json!("6dcb09b"),
        ),
        (
            "github_list_commits",
            repo.clone(),
            "/items/0/message",
            json!("Add --json"),
        ),
        (
            "github_get_commit",
            with(json!({"ref": "6dcb09b"})),
            "/stats/total",
            json!(43),
        ),
        (
            "github_list_issue_comments",
            with(json!({"issue_number": 3})),
            "/items/0/body",
            json!("Seen on #3"),
        ),
        (
            "github_list_pull_requests",
            repo.clone(),
            "/items/0/head",
            json!("json-flag"),
        ),
        (
            "github_get_pull_request",
            with(json!({"pull_number": 2})),
            "/changed_files",
            json!(2),
        ),
        (
            "github_list_pull_request_files",
            with(json!({"pull_number": 2})),
            "/items/0/filename",
            json!("src/main.rs"),
        ),
        (
            "github_list_pull_request_reviews",
            with(json!({"pull_number": 2})),
            "/items/0/state",
            json!("APPROVED"),
        ),
        (
            "github_search_repositories",
            json!({"q": "topic:rust"}),
            "/total_count",
            json!(3),
        ),
        (
            "github_search_code",
            json!({"q": "fn main"}),
            "/items/0/repository",
            json!("octocat/hello-world"),
        ),
        (
            "github_search_issues",
            json!({"q": "is:open"}),
            "/items/1/author",
            json!("octocat"),
        ),
        (
            "github_list_workflows",
            repo.clone(),
            "/items/0/path",
            json!(".github/workflows/ci.yml"),
        ),
        (
            "github_list_workflow_runs",
            repo.clone(),
            "/items/0/conclusion",
            json!("failure"),
        ),
        (
            "github_list_workflow_jobs",
            with(json!({"run_id": 30433642})),
            "/items/0/steps/0/name",
            json!("cargo test"),
        ),
        (
            "github_list_public_events",
            json!({"username": "octocat"}),
            "/items/0/repo",
            json!("octocat/hello-world"),
        ),
        (
            "github_get_file_contents",
            with(json!({"path": "README.md"})),
            "/content",
            json!("# Hello World\n\nHi!\n"),
        ),
        (
            "github_get_file_contents",
            repo.clone(),
            "/entries/1/type",
            json!("dir"),
        ),
    ];
    for (tool, args, pointer, want) in cases {
        let result = json_of(&call(&s.client, tool, args.clone()).await);
        assert_eq!(
            result.pointer(pointer),
            Some(&want),
            "{tool} {args}: {result}"
        );
    }
    let diff = call(
        &s.client,
        "github_get_pull_request_diff",
        with(json!({"pull_number": 2})),
    )
    .await;
    assert!(
        text(&diff).starts_with("diff --git a/src/main.rs"),
        "{}",
        text(&diff)
    );
    // Query arguments reach GitHub as query parameters.
    let _ = call(
        &s.client,
        "github_list_commits",
        with(json!({"path": "src/main.rs", "per_page": 5})),
    )
    .await;
    let last = s.fake.requests().pop().unwrap();
    assert_eq!(last.path, "/api/v3/repos/octocat/hello-world/commits");
    assert!(last.query.unwrap().contains("path=src%2Fmain.rs"));
}

#[tokio::test]
async fn github_errors_per_toolset_are_readable() {
    let s = setup(&[("work", &canary("errs"), "octocat")]).await;
    let cases = [
        (
            "github_get_repo",
            json!({"owner": "octocat", "repo": "nope"}),
            "404",
        ),
        (
            "github_get_file_contents",
            json!({"owner": "octocat", "repo": "hello-world", "path": "missing.txt"}),
            "404",
        ),
        (
            "github_get_file_contents",
            json!({"owner": "octocat", "repo": "hello-world", "path": "../../user"}),
            "not a valid name",
        ),
        (
            "github_get_pull_request",
            json!({"owner": "octocat", "repo": "hello-world", "pull_number": 9}),
            "404",
        ),
        (
            "github_create_pull_request",
            json!({"owner": "octocat", "repo": "hello-world", "title": "x", "head": "nope", "base": "main"}),
            "head: invalid",
        ),
        (
            "github_list_workflow_runs",
            json!({"owner": "ratelimited", "repo": "x"}),
            "rate limiting",
        ),
        ("github_search_code", json!({}), "\"q\""),
        (
            "github_list_public_events",
            json!({"username": "x", "per_page": 500}),
            "`per_page`",
        ),
    ];
    for (tool, args, needle) in cases {
        let r = call(&s.client, tool, args.clone()).await;
        assert_eq!(r.is_error, Some(true), "{tool} {args}");
        assert!(text(&r).contains(needle), "{tool} {args}: {}", text(&r));
    }
    let created = json_of(&call(&s.client, "github_create_pull_request", json!({"owner": "octocat", "repo": "hello-world", "title": "Add --json", "head": "json-flag", "base": "main", "draft": true})).await);
    assert_eq!(created["number"], 5);
    assert_eq!(created["draft"], true);
}

#[tokio::test]
async fn every_registered_connector_passes_the_connector_testkit() {
    for registration in Registration::all() {
        let connector = (registration.build)(Value::Null).unwrap();
        mcpist_core::testkit::connector::run_all(connector.as_ref()).await;
    }
}
