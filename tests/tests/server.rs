//! The generic MCP server, through a real rmcp client in process over a
//! duplex pipe (the stdio framing): tool listing, argument validation,
//! account resolution, policy, audit, upstream errors, retries and timeouts.
//! GitHub on its fake is just the connector here; GitHub's own tools are
//! tested in `github.rs`.

use std::sync::Arc;

use mcpist_core::{
    AuditSink, Registration, Service, ServicePolicy, TokenStore,
    audit::{AuditFilter, AuditKind, Outcome},
    store::AccountKey,
};
use mcpist_tests::{
    call, canary, json_of,
    on_fake_github::{add_account, setup, setup_config, setup_with},
    text,
};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

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
    let mut tools = s.client.list_all_tools().await.unwrap();
    // The batch tool comes beside the connectors' (see tests/tests/batch.rs).
    tools.retain(|t| t.name != mcpist_core::batch::BATCH);
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
            "github_create_branch",
            "github_create_issue",
            "github_create_or_update_file",
            "github_create_pull_request",
            "github_delete_file",
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
async fn read_only_hides_and_blocks_every_write_tool_and_the_refusal_is_audited() {
    let policy = ServicePolicy {
        read_only: true,
        allow: vec!["*".into()],
        ..Default::default()
    };
    let s = setup_with(&[("work", &canary("ro"), "octocat")], policy, None).await;
    let mut tools = s.client.list_all_tools().await.unwrap();
    tools.retain(|t| t.name != mcpist_core::batch::BATCH);
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
    assert_eq!(names, ["github_get_me", mcpist_core::batch::BATCH]);
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
async fn every_registered_connector_passes_the_connector_testkit() {
    for registration in Registration::all() {
        let connector = (registration.build)(Value::Null).unwrap();
        mcpist_core::testkit::connector::run_all(connector.as_ref()).await;
    }
}

#[tokio::test]
async fn a_declarative_connector_passes_the_connector_testkit_and_maps_upstream_errors() {
    let todo = mcpist_connectors::declarative::build(
        "todo",
        json!({
            "kind": "http",
            "base_url": "https://api.todoist.com/rest/v2",
            "tools": [
                {
                    "name": "get_task",
                    "description": "One task by id.",
                    "path": "tasks/{id}",
                    "input_schema": {
                        "type": "object",
                        "properties": {"id": {"type": "string"}},
                        "required": ["id"],
                    },
                },
                {
                    "name": "add_task",
                    "description": "Adds a task.",
                    "method": "POST",
                    "path": "tasks",
                    "body": ["content"],
                    "input_schema": {
                        "type": "object",
                        "properties": {"content": {"type": "string"}},
                    },
                },
            ],
        }),
    )
    .unwrap();
    mcpist_core::testkit::connector::run_all(todo.as_ref()).await;
    for (tool, args) in [
        ("get_task", json!({"id": "7"})),
        ("add_task", json!({"content": "x"})),
    ] {
        mcpist_core::testkit::connector::maps_upstream_errors(
            todo.as_ref(),
            tool,
            args.as_object().unwrap().clone(),
        )
        .await;
    }
}
