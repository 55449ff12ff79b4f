//! Google Tasks, a catalog service, through the real MCP server and an rmcp
//! client, against a fake built from the vendored discovery document
//! (`mcpist-connectors/vendor/google_tasks/discovery.json`).

use mcpist_connectors::catalog::fake::google_tasks::{FakeGoogleTasks, GROCERIES, MY_TASKS};
use mcpist_core::Registration;
use mcpist_tests::{canary, json_of, text};
use rmcp::{RoleClient, model::CallToolResult, service::RunningService};
use serde_json::{Value, json};

struct Setup {
    fake: FakeGoogleTasks,
    client: RunningService<RoleClient, ()>,
    token: String,
}

async fn setup() -> Setup {
    let fake = FakeGoogleTasks::start().await;
    let token = canary("gtasks");
    fake.accept_token(&token);
    let client = mcpist_tests::serve_with_token(
        "google_tasks",
        json!({"base_url": fake.base_url()}),
        &token,
    )
    .await;
    Setup {
        fake,
        client,
        token,
    }
}

async fn call(s: &Setup, tool: &str, args: Value) -> CallToolResult {
    mcpist_tests::call_hiding(&s.client, &s.token, tool, args).await
}

fn titles(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn google_tasks_lists_its_ten_tools() {
    let s = setup().await;
    let tools = mcpist_tests::listed_tools_of(&s.client, "google_tasks").await;
    assert_eq!(tools.len(), 10);
    let reads = tools
        .iter()
        .filter(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
        .count();
    assert_eq!(reads, 4);
}

#[tokio::test]
async fn lists_and_tasks_read_compactly_and_page_by_token() {
    let s = setup().await;
    let lists = json_of(&call(&s, "google_tasks_list_task_lists", json!({})).await);
    assert_eq!(titles(&lists), ["My Tasks", "Groceries"]);
    assert!(lists["items"][0].get("etag").is_none(), "compact: {lists}");
    // The literal `@me` segment reached the upstream as written.
    assert_eq!(s.fake.requests()[0].path, "/tasks/v1/users/@me/lists");
    let one = json_of(
        &call(
            &s,
            "google_tasks_get_task_list",
            json!({"tasklist": GROCERIES}),
        )
        .await,
    );
    assert_eq!(one["title"], "Groceries");

    let first = json_of(
        &call(
            &s,
            "google_tasks_list_tasks",
            json!({"tasklist": "@default", "maxResults": 2}),
        )
        .await,
    );
    assert_eq!(titles(&first), ["File the taxes", "Book the dentist"]);
    let token = first["next_cursor"].as_str().unwrap().to_owned();
    let rest = json_of(
        &call(
            &s,
            "google_tasks_list_tasks",
            json!({"tasklist": "@default", "maxResults": 2, "pageToken": token}),
        )
        .await,
    );
    assert_eq!(titles(&rest), ["Renew the passport"]);
    assert!(rest.get("next_cursor").is_none());
    let open = json_of(
        &call(
            &s,
            "google_tasks_list_tasks",
            json!({"tasklist": MY_TASKS, "showCompleted": false}),
        )
        .await,
    );
    assert_eq!(titles(&open), ["File the taxes", "Book the dentist"]);
    assert_eq!(
        s.fake.requests().last().unwrap().query["showCompleted"],
        "false"
    );
    let missing = call(&s, "google_tasks_list_tasks", json!({"tasklist": "nope"})).await;
    assert_eq!(missing.is_error, Some(true));
    assert!(
        text(&missing).contains("Requested entity was not found."),
        "{}",
        text(&missing)
    );
}

#[tokio::test]
async fn a_task_is_created_as_a_subtask_updated_completed_moved_and_deleted() {
    let s = setup().await;
    let parent = json_of(
        &call(
            &s,
            "google_tasks_create_task",
            json!({"tasklist": MY_TASKS, "title": "Plan trip", "due": "2026-12-20T00:00:00.000Z"}),
        )
        .await,
    );
    let parent_id = parent["id"].as_str().unwrap().to_owned();
    let child = json_of(
        &call(
            &s,
            "google_tasks_create_task",
            json!({"tasklist": MY_TASKS, "title": "Book hotel", "parent": parent_id,
                   "notes": "near the station"}),
        )
        .await,
    );
    let id = child["id"].as_str().unwrap().to_owned();
    assert_eq!(child["parent"], parent_id.as_str());
    let seen = s.fake.requests();
    let insert = seen.last().unwrap();
    assert_eq!(
        insert.query["parent"], parent_id,
        "parent goes in the query"
    );
    assert_eq!(
        insert.body.clone().unwrap(),
        json!({"title": "Book hotel", "notes": "near the station"})
    );

    let renamed = json_of(
        &call(
            &s,
            "google_tasks_update_task",
            json!({"tasklist": MY_TASKS, "task": id, "title": "Book the hotel"}),
        )
        .await,
    );
    assert_eq!(renamed["title"], "Book the hotel");
    assert_eq!(renamed["notes"], "near the station");
    let done = json_of(
        &call(
            &s,
            "google_tasks_complete_task",
            json!({"tasklist": MY_TASKS, "task": id}),
        )
        .await,
    );
    assert_eq!(done["status"], "completed");
    assert_eq!(
        s.fake.requests().last().unwrap().body.clone().unwrap(),
        json!({"status": "completed"})
    );
    let moved = json_of(
        &call(
            &s,
            "google_tasks_move_task",
            json!({"tasklist": MY_TASKS, "task": id, "destinationTasklist": GROCERIES}),
        )
        .await,
    );
    assert!(moved.get("parent").is_none(), "{moved}");
    let there = json_of(
        &call(
            &s,
            "google_tasks_list_tasks",
            json!({"tasklist": GROCERIES}),
        )
        .await,
    );
    assert!(titles(&there).contains(&"Book the hotel".to_owned()));

    let cleared = json_of(
        &call(
            &s,
            "google_tasks_clear_completed",
            json!({"tasklist": GROCERIES}),
        )
        .await,
    );
    assert_eq!(cleared, json!({"ok": true, "status": 204}));
    assert_eq!(s.fake.task(&id).unwrap()["hidden"], true);
    json_of(
        &call(
            &s,
            "google_tasks_delete_task",
            json!({"tasklist": GROCERIES, "task": id}),
        )
        .await,
    );
    assert!(s.fake.task(&id).is_none());
    let gone = call(
        &s,
        "google_tasks_get_task",
        json!({"tasklist": GROCERIES, "task": id}),
    )
    .await;
    assert_eq!(gone.is_error, Some(true));
}

#[tokio::test]
async fn bad_input_is_refused_before_google() {
    let s = setup().await;
    for (tool, args) in [
        ("google_tasks_create_task", json!({"tasklist": MY_TASKS})),
        (
            "google_tasks_update_task",
            json!({"tasklist": MY_TASKS, "task": "t", "status": "done"}),
        ),
        (
            "google_tasks_list_tasks",
            json!({"tasklist": MY_TASKS, "maxResults": 0}),
        ),
        ("google_tasks_get_task", json!({"tasklist": MY_TASKS})),
    ] {
        let r = call(&s, tool, args.clone()).await;
        assert_eq!(r.is_error, Some(true), "{tool} {args}");
    }
    assert!(s.fake.requests().is_empty());
}

#[tokio::test]
async fn google_tasks_maps_upstream_errors_as_the_exchanger_expects() {
    let connector = (Registration::find("google_tasks").unwrap().build)(Value::Null).unwrap();
    let task = json!({"tasklist": MY_TASKS, "task": "t1"});
    for (tool, args) in [
        ("list_task_lists", json!({})),
        ("get_task_list", json!({"tasklist": MY_TASKS})),
        ("list_tasks", json!({"tasklist": MY_TASKS})),
        ("get_task", task.clone()),
        ("create_task", json!({"tasklist": MY_TASKS, "title": "x"})),
        (
            "update_task",
            json!({"tasklist": MY_TASKS, "task": "t1", "title": "y"}),
        ),
        ("complete_task", task.clone()),
        ("delete_task", task.clone()),
        ("clear_completed", json!({"tasklist": MY_TASKS})),
        ("move_task", task.clone()),
    ] {
        mcpist_core::testkit::connector::maps_upstream_errors(
            connector.as_ref(),
            tool,
            args.as_object().unwrap().clone(),
        )
        .await;
    }
}

#[tokio::test]
async fn googles_403_with_a_rate_limit_reason_reads_as_a_rate_limit() {
    let s = setup().await;
    s.fake.rate_limit_next(1);
    let limited = call(&s, "google_tasks_list_task_lists", json!({})).await;
    assert_eq!(limited.is_error, Some(true));
    assert!(
        text(&limited).contains("rate limiting"),
        "403 userRateLimitExceeded reads as a rate limit: {}",
        text(&limited)
    );
    // The next call goes through: the limit was one answer.
    let lists = json_of(&call(&s, "google_tasks_list_task_lists", json!({})).await);
    assert_eq!(lists["items"].as_array().unwrap().len(), 2);
}
