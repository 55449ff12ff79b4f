//! Todoist, a catalog service, through the real MCP server and an rmcp
//! client, against a fake Todoist built from the vendored API description
//! (`mcpist-connectors/vendor/todoist/openapi.json`).

use mcpist_connectors::catalog::fake::todoist::{FakeTodoist, WORK};
use mcpist_core::Registration;
use mcpist_tests::{canary, json_of, text};
use rmcp::{RoleClient, model::CallToolResult, service::RunningService};
use serde_json::{Value, json};

struct Setup {
    fake: FakeTodoist,
    client: RunningService<RoleClient, ()>,
    token: String,
}

async fn setup() -> Setup {
    setup_with(json!({})).await
}

/// [`setup`] with `extra` keys in `[connectors.todoist]`.
async fn setup_with(extra: Value) -> Setup {
    let fake = FakeTodoist::start().await;
    let token = canary("todoist");
    fake.accept_token(&token);
    let mut table = json!({"base_url": fake.base_url()});
    for (k, v) in extra.as_object().unwrap() {
        table[k] = v.clone();
    }
    let client = mcpist_tests::serve_with_token("todoist", table, &token).await;
    Setup {
        fake,
        client,
        token,
    }
}

async fn call(s: &Setup, tool: &str, args: Value) -> CallToolResult {
    mcpist_tests::call_hiding(&s.client, &s.token, tool, args).await
}

fn contents(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["content"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn todoist_lists_its_thirteen_tools_with_honest_hints() {
    let s = setup().await;
    let tools = mcpist_tests::listed_tools_of(&s.client, "todoist").await;
    assert_eq!(tools.len(), mcpist_tests::tools_of("todoist").len());
    assert_eq!(tools.len(), 13);
    let mut writes: Vec<_> = tools
        .iter()
        .filter(|t| t.annotations.as_ref().unwrap().read_only_hint != Some(true))
        .map(|t| t.name.to_string())
        .collect();
    writes.sort();
    assert_eq!(
        writes,
        [
            "todoist_complete_task",
            "todoist_create_task",
            "todoist_delete_task",
            "todoist_quick_add",
            "todoist_reopen_task",
            "todoist_update_task"
        ]
    );
    let delete = tools
        .iter()
        .find(|t| t.name == "todoist_delete_task")
        .unwrap();
    // MCP's default for a write is destructive; only non-destructive ones say so.
    assert_ne!(
        delete.annotations.as_ref().unwrap().destructive_hint,
        Some(false)
    );
}

#[tokio::test]
async fn lists_are_compact_and_paged_by_the_cursor_todoist_returns() {
    let s = setup().await;
    let first = json_of(&call(&s, "todoist_list_tasks", json!({"limit": 3})).await);
    assert_eq!(contents(&first).len(), 3);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    // Compact: the fields a model needs, the due date flattened.
    let milk = &first["items"][0];
    assert_eq!(milk["content"], "Buy milk");
    assert_eq!(milk["due_date"], "2026-12-04");
    assert!(milk.get("user_id").is_none() && milk.get("child_order").is_none());
    let rest = json_of(
        &call(
            &s,
            "todoist_list_tasks",
            json!({"limit": 3, "cursor": cursor}),
        )
        .await,
    );
    assert_eq!(contents(&rest), ["Plan the offsite"]);
    assert!(rest.get("next_cursor").is_none(), "the last page: {rest}");
    let seen = s.fake.requests();
    assert_eq!(seen.last().unwrap().query["cursor"], cursor);

    let work = json_of(&call(&s, "todoist_list_tasks", json!({"project_id": WORK})).await);
    assert_eq!(contents(&work), ["Write the report", "Plan the offsite"]);
    let projects = json_of(&call(&s, "todoist_list_projects", json!({})).await);
    assert_eq!(projects["items"][0]["inbox_project"], true);
    let project = json_of(&call(&s, "todoist_get_project", json!({"project_id": WORK})).await);
    assert_eq!(project["name"], "Work");
    let sections = json_of(&call(&s, "todoist_list_sections", json!({"project_id": WORK})).await);
    assert_eq!(sections["items"].as_array().unwrap().len(), 2);
    let labels = json_of(&call(&s, "todoist_list_labels", json!({})).await);
    assert_eq!(labels["items"][1]["name"], "errand");
}

#[tokio::test]
async fn a_filter_query_reaches_todoist_as_written() {
    let s = setup().await;
    let due = json_of(
        &call(
            &s,
            "todoist_filter_tasks",
            json!({"query": "today | overdue"}),
        )
        .await,
    );
    assert_eq!(contents(&due), ["Buy milk", "Call the bank"]);
    let urgent = json_of(&call(&s, "todoist_filter_tasks", json!({"query": "#Inbox & p1"})).await);
    assert_eq!(contents(&urgent), ["Call the bank"]);
    assert_eq!(
        s.fake.requests().last().unwrap().query["query"],
        "#Inbox & p1"
    );
    let bad = call(&s, "todoist_filter_tasks", json!({"query": "whenever!"})).await;
    assert_eq!(bad.is_error, Some(true));
    assert!(
        text(&bad).contains("Invalid filter query"),
        "{}",
        text(&bad)
    );
}

#[tokio::test]
async fn a_task_is_created_updated_completed_reopened_and_deleted() {
    let s = setup().await;
    let created = json_of(
        &call(
            &s,
            "todoist_create_task",
            json!({"content": "Pay rent", "due_string": "tomorrow", "priority": 4,
                   "labels": ["errand"], "project_id": WORK}),
        )
        .await,
    );
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["due_date"], "2026-12-05");
    assert_eq!(created["project_id"], WORK);
    let body = s.fake.requests().last().unwrap().body.clone().unwrap();
    assert_eq!(
        body,
        json!({"content": "Pay rent", "due_string": "tomorrow", "priority": 4,
               "labels": ["errand"], "project_id": WORK}),
        "only the arguments given are sent"
    );

    let updated = json_of(
        &call(
            &s,
            "todoist_update_task",
            json!({"task_id": id, "content": "Pay the rent", "priority": 3}),
        )
        .await,
    );
    assert_eq!(updated["content"], "Pay the rent");
    assert_eq!(updated["due_date"], "2026-12-05", "untouched fields stay");

    let done = json_of(&call(&s, "todoist_complete_task", json!({"task_id": id})).await);
    assert_eq!(done, json!({"ok": true, "status": 204}));
    assert_eq!(s.fake.task(&id).unwrap()["checked"], true);
    let got = json_of(&call(&s, "todoist_get_task", json!({"task_id": id})).await);
    assert_eq!(got["checked"], true);
    assert!(got["completed_at"].is_string());
    let open = json_of(&call(&s, "todoist_list_tasks", json!({"project_id": WORK})).await);
    assert!(!contents(&open).contains(&"Pay the rent".to_owned()));

    json_of(&call(&s, "todoist_reopen_task", json!({"task_id": id})).await);
    assert_eq!(s.fake.task(&id).unwrap()["checked"], false);
    json_of(&call(&s, "todoist_delete_task", json!({"task_id": id})).await);
    assert!(s.fake.task(&id).is_none());
    let gone = call(&s, "todoist_get_task", json!({"task_id": id})).await;
    assert_eq!(gone.is_error, Some(true));
    assert!(text(&gone).contains("Task not found"), "{}", text(&gone));
}

#[tokio::test]
async fn quick_add_lets_todoist_parse_the_line() {
    let s = setup().await;
    let task = json_of(
        &call(
            &s,
            "todoist_quick_add",
            json!({"text": "Call Bo today #Work @phone p1"}),
        )
        .await,
    );
    assert_eq!(task["content"], "Call Bo");
    assert_eq!(task["project_id"], WORK);
    assert_eq!(task["labels"], json!(["phone"]));
    assert_eq!(task["priority"], 4);
    assert_eq!(task["due_date"], "2026-12-04");
}

#[tokio::test]
async fn bad_input_is_refused_before_todoist_and_its_errors_read_clearly() {
    let s = setup().await;
    for (tool, args) in [
        ("todoist_create_task", json!({"priority": 2})),
        (
            "todoist_create_task",
            json!({"content": "x", "priority": 9}),
        ),
        ("todoist_list_tasks", json!({"limit": 500})),
        ("todoist_get_task", json!({"task_id": ""})),
        ("todoist_list_tasks", json!({"colour": "red"})),
    ] {
        let r = call(&s, tool, args.clone()).await;
        assert_eq!(r.is_error, Some(true), "{tool} {args}");
    }
    assert!(
        s.fake.requests().is_empty(),
        "nothing reached Todoist: {:?}",
        s.fake.requests()
    );
    // Todoist's own refusals come back with its words.
    let bad_date = call(
        &s,
        "todoist_create_task",
        json!({"content": "x", "due_date": "someday"}),
    )
    .await;
    assert_eq!(bad_date.is_error, Some(true));
    assert!(
        text(&bad_date).contains("Invalid date format"),
        "{}",
        text(&bad_date)
    );
    let nowhere = call(
        &s,
        "todoist_create_task",
        json!({"content": "x", "project_id": "nope"}),
    )
    .await;
    assert!(
        text(&nowhere).contains("Project not found"),
        "{}",
        text(&nowhere)
    );
    assert!(s.fake.task("nope").is_none());
}

#[tokio::test]
async fn a_rate_limit_says_when_to_retry_from_the_body() {
    // Todoist puts the wait in error_extra.retry_after, not in a header; a
    // short limit is waited out (one second), so allow no wait to see the answer.
    let s = setup_with(json!({"max_retry_wait_secs": 0})).await;
    s.fake.rate_limit_next(1);
    let limited = call(&s, "todoist_list_projects", json!({})).await;
    assert_eq!(limited.is_error, Some(true));
    let message = text(&limited);
    let secs: u64 = message
        .split("retry in ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry time in: {message}"));
    assert!(
        message.contains("rate limiting") && (25..=30).contains(&secs),
        "{message}"
    );
}

#[tokio::test]
async fn a_token_todoist_refuses_says_how_to_reconnect() {
    let fake = FakeTodoist::start().await; // knows no token
    let client = mcpist_tests::serve_with_token(
        "todoist",
        json!({"base_url": fake.base_url()}),
        &canary("stale"),
    )
    .await;
    let r = mcpist_tests::call(&client, "todoist_list_projects", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("Invalid token"), "{}", text(&r));
    assert!(
        text(&r).contains("mcpist") && text(&r).contains("todoist"),
        "says how to reconnect: {}",
        text(&r)
    );
    assert_eq!(fake.requests().len(), 1, "a refused token is not retried");
}

#[tokio::test]
async fn todoist_maps_upstream_errors_as_the_exchanger_expects() {
    let todoist = (Registration::find("todoist").unwrap().build)(Value::Null).unwrap();
    let id = json!({"task_id": "6X7rfFVPjhvv0101"});
    for (tool, args) in [
        ("list_projects", json!({})),
        ("get_project", json!({"project_id": WORK})),
        ("list_sections", json!({})),
        ("list_labels", json!({})),
        ("list_tasks", json!({})),
        ("filter_tasks", json!({"query": "today"})),
        ("get_task", id.clone()),
        ("create_task", json!({"content": "x"})),
        ("update_task", json!({"task_id": "1", "content": "y"})),
        ("complete_task", id.clone()),
        ("reopen_task", id.clone()),
        ("delete_task", id.clone()),
        ("quick_add", json!({"text": "x today"})),
    ] {
        mcpist_core::testkit::connector::maps_upstream_errors(
            todoist.as_ref(),
            tool,
            args.as_object().unwrap().clone(),
        )
        .await;
    }
}
