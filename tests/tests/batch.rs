//! The batch tool (`mcpist_batch`, in both tool modes) through a real rmcp
//! client on the fake GitHub: independent tasks run in one wave, `${id.path}`
//! takes values from earlier results, a failed task skips its dependents,
//! bad plans and policy-denied tasks are refused before anything is sent
//! upstream, and every task is audited under its real tool's name with the
//! batch's id. Each case runs in flat and discover mode.

use mcpist_core::{
    AuditSink, ServicePolicy,
    audit::{AuditEntry, AuditFilter, Outcome},
    batch::BATCH,
    discover::ToolMode,
};
use mcpist_tests::{
    call, canary,
    on_fake_github::{Setup, setup_mode},
    text,
};
use serde_json::{Value, json};

const MODES: [ToolMode; 2] = [ToolMode::Flat, ToolMode::Discover];

async fn setup(mode: ToolMode, policy: ServicePolicy) -> Setup {
    let token = canary("batch");
    setup_mode(
        &[("work", &token, "octocat")],
        policy,
        None,
        json!({}),
        mode,
    )
    .await
}

/// The audit records, oldest first.
async fn records(s: &Setup) -> Vec<AuditEntry> {
    let mut records = s.store.query(&AuditFilter::default()).await.unwrap();
    records.sort_by_key(|r| r.seq);
    records
}

/// The batch's result: its JSON, and whether it is an `isError`.
async fn batch(s: &Setup, tasks: Value) -> (Value, bool) {
    let r = call(&s.client, BATCH, json!({ "tasks": tasks })).await;
    let is_error = r.is_error == Some(true);
    let body = serde_json::from_str(&text(&r)).unwrap_or(Value::String(text(&r)));
    (body, is_error)
}

fn task<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no task {id} in {body}"))
}

#[tokio::test]
async fn both_modes_list_the_batch_tool() {
    for mode in MODES {
        let s = setup(mode, ServicePolicy::default()).await;
        let tools = s.client.list_all_tools().await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert!(names.contains(&BATCH), "{mode:?}: {names:?}");
        assert!(names.is_sorted() || mode == ToolMode::Discover, "{names:?}");
        if mode == ToolMode::Discover {
            let bytes = serde_json::to_string(&tools).unwrap().len();
            assert!(bytes <= 2048, "discover tools/list is {bytes} bytes");
        }
    }
}

/// A batch runs only the listed tools, so with read-only tools alone it is
/// read-only too: clients (and hosts that list only read-only tools) see it
/// annotated so; with a write tool listed it carries no such claim.
#[tokio::test]
async fn the_flat_batch_tool_is_read_only_exactly_when_every_listed_tool_is() {
    for (read_only, expected) in [(true, Some(true)), (false, None)] {
        let policy = ServicePolicy {
            read_only,
            ..ServicePolicy::default()
        };
        let s = setup(ToolMode::Flat, policy).await;
        let tools = s.client.list_all_tools().await.unwrap();
        let batch = tools.iter().find(|t| t.name == BATCH).unwrap();
        let hint = batch.annotations.as_ref().and_then(|a| a.read_only_hint);
        assert_eq!(hint, expected, "read_only = {read_only}");
    }
}

#[tokio::test]
async fn references_carry_values_and_every_task_is_audited_with_the_batch_id() {
    for mode in MODES {
        let s = setup(mode, ServicePolicy::default()).await;
        let (body, is_error) = batch(
            &s,
            json!([
                {"id": "me", "tool": "github_get_me"},
                {"id": "open", "tool": "github_list_issues",
                 "arguments": {"owner": "${me.login}", "repo": "hello-world"}},
                {"id": "newest", "tool": "github_get_issue",
                 "arguments": {"owner": "octocat", "repo": "hello-world",
                               "issue_number": "${open.items.0.number}"}},
            ]),
        )
        .await;
        assert!(!is_error, "{mode:?}: {body}");
        assert_eq!(task(&body, "me")["status"], "ok", "{body}");
        assert_eq!(task(&body, "me")["result"]["login"], "octocat", "{body}");
        assert_eq!(task(&body, "newest")["result"]["number"], 3, "{body}");
        let batch_id = body["batch"].as_str().unwrap();

        let records = records(&s).await;
        let tools: Vec<_> = records
            .iter()
            .map(|r| r.event.tool.as_deref().unwrap())
            .collect();
        assert_eq!(
            tools,
            ["github_get_me", "github_list_issues", "github_get_issue"],
            "{mode:?}: one record per task, under the real tool's name, in order"
        );
        for (record, id) in records.iter().zip(["me", "open", "newest"]) {
            assert_eq!(record.event.request_id, format!("{batch_id}.{id}"));
            assert_eq!(record.outcome.outcome, Outcome::Ok);
        }
        // The reference was resolved before the call: GitHub saw owner octocat.
        assert!(
            s.fake
                .requests()
                .iter()
                .any(|r| r.path.ends_with("/repos/octocat/hello-world/issues/3")),
            "{:?}",
            s.fake.requests()
        );
    }
}

#[tokio::test]
async fn a_failed_task_skips_its_dependents_and_the_others_still_run() {
    for mode in MODES {
        let s = setup(mode, ServicePolicy::default()).await;
        let (body, is_error) = batch(
            &s,
            json!([
                {"id": "missing", "tool": "github_get_issue",
                 "arguments": {"owner": "octocat", "repo": "hello-world", "issue_number": 999}},
                {"id": "after", "tool": "github_get_me", "after": ["missing"]},
                {"id": "uses", "tool": "github_get_issue",
                 "arguments": {"owner": "octocat", "repo": "hello-world",
                               "issue_number": "${missing.number}"}},
                {"id": "alone", "tool": "github_get_me"},
                {"id": "bad", "tool": "github_get_issue",
                 "arguments": {"owner": "octocat", "repo": "hello-world", "issue_number": "x"}},
            ]),
        )
        .await;
        assert!(
            is_error,
            "{mode:?}: a failed task makes the batch an isError: {body}"
        );
        assert_eq!(task(&body, "missing")["status"], "error", "{body}");
        for skipped in ["after", "uses"] {
            assert_eq!(task(&body, skipped)["status"], "skipped", "{body}");
            assert!(
                task(&body, skipped)["because"]
                    .as_str()
                    .unwrap()
                    .contains("missing"),
                "{body}"
            );
        }
        assert_eq!(task(&body, "alone")["status"], "ok", "{body}");
        let bad = task(&body, "bad");
        assert_eq!(bad["status"], "error", "{body}");
        assert!(
            bad["error"].as_str().unwrap().contains("`issue_number`"),
            "{body}"
        );
        let outcomes: Vec<_> = records(&s)
            .await
            .iter()
            .map(|r| r.outcome.outcome)
            .collect();
        assert_eq!(
            outcomes.len(),
            3,
            "{mode:?}: skipped tasks run nothing: {outcomes:?}"
        );
        assert!(
            outcomes.contains(&Outcome::InvalidArguments),
            "{outcomes:?}"
        );
        assert!(outcomes.contains(&Outcome::Ok), "{outcomes:?}");
    }
}

#[tokio::test]
async fn bad_plans_are_refused_before_anything_runs() {
    for mode in MODES {
        let s = setup(mode, ServicePolicy::default()).await;
        let me = json!({"id": "me", "tool": "github_get_me"});
        for (tasks, said) in [
            (
                json!([me, {"id": "a", "tool": "github_get_me", "after": ["b"]},
                       {"id": "b", "tool": "github_get_me", "after": ["a"]}]),
                "wait for each other",
            ),
            (
                json!([me, {"id": "a", "tool": "github_get_issue",
                            "arguments": {"issue_number": "${nobody.number}"}}]),
                "needs nobody",
            ),
            (json!([me, me]), "used twice"),
            (json!([]), "1 to 10 tasks"),
            (
                json!(
                    (0..11)
                        .map(|n| json!({"id": format!("t{n}"), "tool": "github_get_me"}))
                        .collect::<Vec<_>>()
                ),
                "not 11",
            ),
        ] {
            let (body, is_error) = batch(&s, tasks).await;
            assert!(is_error, "{body}");
            let body = body.as_str().unwrap();
            assert!(
                body.contains("nothing ran") && body.contains(said),
                "{mode:?}: {body}"
            );
        }
        assert!(
            s.fake.requests().is_empty(),
            "{mode:?}: something reached GitHub"
        );
        assert!(records(&s).await.is_empty());
    }
}

#[tokio::test]
async fn one_denied_or_unknown_task_refuses_the_whole_batch_and_is_audited() {
    let policy = ServicePolicy {
        read_only: true,
        allow: vec!["*".into()],
        ..Default::default()
    };
    for mode in MODES {
        let s = setup(mode, policy.clone()).await;
        let (body, is_error) = batch(
            &s,
            json!([
                {"id": "me", "tool": "github_get_me"},
                {"id": "write", "tool": "github_create_issue",
                 "arguments": {"owner": "octocat", "repo": "hello-world", "title": "x"}},
                {"id": "nope", "tool": "github_nope"},
                {"id": "nested", "tool": BATCH, "arguments": {"tasks": []}},
            ]),
        )
        .await;
        assert!(is_error);
        let body = body.as_str().unwrap();
        assert!(body.contains("nothing ran"), "{body}");
        assert!(
            body.contains("task write: tool github_create_issue is not allowed by policy"),
            "{body}"
        );
        assert!(
            body.contains("task nope: unknown tool: github_nope"),
            "{body}"
        );
        assert!(
            body.contains("task nested: mcpist_batch is a meta-tool"),
            "{body}"
        );
        assert!(
            s.fake.requests().is_empty(),
            "{mode:?}: something reached GitHub"
        );
        let records = records(&s).await;
        let seen: Vec<_> = records
            .iter()
            .map(|r| (r.event.tool.as_deref().unwrap(), r.outcome.outcome))
            .collect();
        assert_eq!(
            seen,
            [
                ("github_create_issue", Outcome::Denied),
                ("github_nope", Outcome::UnknownTool),
                (BATCH, Outcome::InvalidArguments)
            ],
            "{mode:?}"
        );
        let batch_id = records[0].event.request_id.split('.').next().unwrap();
        assert_eq!(records[1].event.request_id, format!("{batch_id}.nope"));
    }
}
