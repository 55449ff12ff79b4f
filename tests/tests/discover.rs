//! Discover mode (`[server] tool_mode = "discover"`) through a real rmcp
//! client: `tools/list` holds three small meta-tools, search and describe
//! read the catalog policy allows, and a call through `mcpist_call_tool`
//! gets exactly what a flat call gets: the same result, the same policy
//! refusal, the same validation error, the same audit record under the real
//! tool's name. Each case runs both ways.

use mcpist_core::{
    AuditSink, ServicePolicy,
    audit::{AuditEntry, AuditFilter, Outcome},
    discover::{CALL, DESCRIBE, SEARCH, ToolMode},
};
use mcpist_tests::{
    call, canary,
    on_fake_github::{Setup, setup_mode},
    text,
};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

const MODES: [ToolMode; 2] = [ToolMode::Flat, ToolMode::Discover];

async fn setup(mode: ToolMode, policy: ServicePolicy, token: &str) -> Setup {
    setup_mode(&[("work", token, "octocat")], policy, None, json!({}), mode).await
}

/// Calls `tool` as a client of `mode` would: by name, or through the call meta-tool.
async fn call_as(s: &Setup, mode: ToolMode, tool: &str, args: Value) -> CallToolResult {
    match mode {
        ToolMode::Flat => call(&s.client, tool, args).await,
        ToolMode::Discover => call(&s.client, CALL, json!({"name": tool, "arguments": args})).await,
    }
}

async fn records(s: &Setup) -> Vec<AuditEntry> {
    s.store.query(&AuditFilter::default()).await.unwrap()
}

#[tokio::test]
async fn discover_lists_three_small_meta_tools_and_the_accounts_up_front() {
    let s = setup(
        ToolMode::Discover,
        ServicePolicy::default(),
        &canary("list"),
    )
    .await;
    let tools = s.client.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, [SEARCH, DESCRIBE, CALL, mcpist_core::batch::BATCH]);
    let bytes = serde_json::to_string(&tools).unwrap().len();
    assert!(bytes <= 2048, "discover tools/list is {bytes} bytes");
    let instructions = s.client.peer_info().unwrap().instructions.clone().unwrap();
    assert!(
        instructions.contains("- github (accounts: work)"),
        "{instructions}"
    );
    // Flat mode lists every GitHub tool and, of the meta-tools, only batch.
    let flat = setup(ToolMode::Flat, ServicePolicy::default(), &canary("flat")).await;
    let tools = flat.client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), mcpist_tests::tools_of("github").len() + 1);
    assert!(
        tools
            .iter()
            .all(|t| !t.name.starts_with("mcpist_") || t.name == mcpist_core::batch::BATCH)
    );
}

#[tokio::test]
async fn search_ranks_allowed_tools_and_describe_gives_the_full_schema() {
    let policy = ServicePolicy {
        read_only: true,
        allow: vec!["*".into()],
        ..Default::default()
    };
    let s = setup(ToolMode::Discover, policy, &canary("search")).await;
    let found = text(&call(&s.client, SEARCH, json!({"query": "list issues"})).await);
    let first = found.lines().next().unwrap();
    assert!(first.starts_with("github_list_issues: "), "{found}");
    // A tool policy hides is neither found nor described.
    let found = text(&call(&s.client, SEARCH, json!({"query": "create issue"})).await);
    assert!(!found.contains("github_create_issue"), "{found}");
    let r = call(&s.client, DESCRIBE, json!({"name": "github_create_issue"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("not allowed by policy"), "{}", text(&r));

    let r = call(&s.client, DESCRIBE, json!({"name": "github_get_issue"})).await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let described: Value = serde_json::from_str(&text(&r)).unwrap();
    let flat = setup(ToolMode::Flat, ServicePolicy::default(), &canary("flat")).await;
    let listed = flat.client.list_all_tools().await.unwrap();
    let tool = listed
        .iter()
        .find(|t| t.name == "github_get_issue")
        .unwrap();
    assert_eq!(
        described["inputSchema"],
        serde_json::to_value(&tool.input_schema).unwrap()
    );
    assert!(described["inputSchema"]["properties"]["account"].is_object());

    for bad in [json!({}), json!({"query": 1})] {
        let r = call(&s.client, SEARCH, bad).await;
        assert_eq!(r.is_error, Some(true), "{}", text(&r));
    }
    let r = call(
        &s.client,
        CALL,
        json!({"name": "github_get_me", "arguments": [1]}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text(&r).contains("`arguments` must be an object"),
        "{}",
        text(&r)
    );
    assert!(s.fake.requests().is_empty());
}

#[tokio::test]
async fn a_call_gets_the_same_result_and_audit_record_both_ways() {
    let token = canary("same");
    let mut results = Vec::new();
    for mode in MODES {
        let s = setup(mode, ServicePolicy::default(), &token).await;
        let args = json!({"owner": "octocat", "repo": "hello-world", "issue_number": 1, "account": "work"});
        let r = call_as(&s, mode, "github_get_issue", args).await;
        assert_ne!(r.is_error, Some(true), "{mode:?}: {}", text(&r));
        assert!(!text(&r).contains(&token));
        results.push(text(&r));
        let records = records(&s).await;
        assert_eq!(records.len(), 1, "{mode:?}");
        let record = &records[0];
        assert_eq!(record.event.tool.as_deref(), Some("github_get_issue"));
        assert_eq!(record.event.service.as_deref(), Some("github"));
        assert_eq!(record.event.account.as_deref(), Some("work"));
        assert_eq!(record.outcome.outcome, Outcome::Ok);
        assert_eq!(s.fake.requests().len(), 1, "{mode:?}");
    }
    assert_eq!(results[0], results[1]);
}

#[tokio::test]
async fn a_policy_denied_tool_is_refused_and_audited_the_same_both_ways() {
    let policy = ServicePolicy {
        read_only: true,
        allow: vec!["*".into()],
        ..Default::default()
    };
    let mut texts = Vec::new();
    for mode in MODES {
        let s = setup(mode, policy.clone(), &canary("deny")).await;
        let args = json!({"owner": "octocat", "repo": "hello-world", "title": "x"});
        let r = call_as(&s, mode, "github_create_issue", args).await;
        assert_eq!(r.is_error, Some(true));
        assert!(text(&r).contains("not allowed by policy"), "{}", text(&r));
        texts.push(text(&r));
        assert!(
            s.fake.requests().is_empty(),
            "{mode:?}: a denied call reached GitHub"
        );
        let records = records(&s).await;
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0].event.tool.as_deref(),
            Some("github_create_issue")
        );
        assert_eq!(records[0].outcome.outcome, Outcome::Denied);
    }
    assert_eq!(texts[0], texts[1]);
}

#[tokio::test]
async fn a_bad_argument_is_the_same_error_both_ways_and_nothing_is_sent() {
    let mut texts = Vec::new();
    for mode in MODES {
        let s = setup(mode, ServicePolicy::default(), &canary("bad")).await;
        let args = json!({"owner": "octocat", "repo": "hello-world", "issue_number": "seven"});
        let r = call_as(&s, mode, "github_get_issue", args).await;
        assert_eq!(r.is_error, Some(true));
        assert!(text(&r).contains("`issue_number`"), "{}", text(&r));
        texts.push(text(&r));
        assert!(s.fake.requests().is_empty());
        let records = records(&s).await;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].event.tool.as_deref(), Some("github_get_issue"));
        assert_eq!(records[0].outcome.outcome, Outcome::InvalidArguments);
    }
    assert_eq!(texts[0], texts[1]);
}

#[tokio::test]
async fn an_unknown_tool_through_call_is_audited_and_a_tool_error() {
    let s = setup(
        ToolMode::Discover,
        ServicePolicy::default(),
        &canary("unknown"),
    )
    .await;
    let r = call(&s.client, CALL, json!({"name": "github_nope"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text(&r).contains("unknown tool: github_nope"),
        "{}",
        text(&r)
    );
    let records = records(&s).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].event.tool.as_deref(), Some("github_nope"));
    assert_eq!(records[0].outcome.outcome, Outcome::UnknownTool);
}
