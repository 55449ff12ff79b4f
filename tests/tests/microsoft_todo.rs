//! Microsoft To Do, a catalog service, through the real MCP server and an
//! rmcp client, against a fake Graph built from the vendored description
//! (`mcpist-connectors/vendor/microsoft_todo`: Graph's CSDL types and paths).

use mcpist_connectors::catalog::fake::microsoft_todo::{FakeMicrosoftTodo, SHOPPING, TASKS};
use mcpist_core::Registration;
use mcpist_tests::{canary, json_of, text};
use rmcp::{RoleClient, model::CallToolResult, service::RunningService};
use serde_json::{Value, json};

struct Setup {
    fake: FakeMicrosoftTodo,
    client: RunningService<RoleClient, ()>,
    token: String,
}

async fn setup() -> Setup {
    let fake = FakeMicrosoftTodo::start().await;
    let token = canary("mstodo");
    fake.accept_token(&token);
    let client = mcpist_tests::serve_with_token(
        "microsoft_todo",
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
async fn microsoft_todo_lists_its_twelve_tools() {
    let s = setup().await;
    let tools = mcpist_tests::listed_tools_of(&s.client, "microsoft_todo").await;
    assert_eq!(tools.len(), 12);
    let reads = tools
        .iter()
        .filter(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
        .count();
    assert_eq!(reads, 5);
}

#[tokio::test]
async fn tasks_page_by_the_next_link_graph_returns_and_filter_with_odata() {
    let s = setup().await;
    let lists = json_of(&call(&s, "microsoft_todo_list_lists", json!({})).await);
    assert_eq!(lists["items"][0]["wellknownListName"], "defaultList");
    assert!(lists["items"][0].get("@odata.etag").is_none());
    let first = json_of(
        &call(
            &s,
            "microsoft_todo_list_tasks",
            json!({"list": TASKS, "top": 2}),
        )
        .await,
    );
    assert_eq!(titles(&first), ["Send the invoice", "Back up the laptop"]);
    let link = first["next_cursor"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&s.fake.base_url()), "{link}");
    assert_eq!(s.fake.requests().last().unwrap().query["$top"], "2");
    let rest = json_of(
        &call(
            &s,
            "microsoft_todo_list_tasks",
            json!({"list": TASKS, "cursor": link}),
        )
        .await,
    );
    assert_eq!(titles(&rest), ["Sign the lease"]);
    assert!(rest.get("next_cursor").is_none());
    assert_eq!(s.fake.requests().last().unwrap().query["$skip"], "2");

    let open = json_of(
        &call(
            &s,
            "microsoft_todo_list_tasks",
            json!({"list": TASKS, "filter": "status ne 'completed'"}),
        )
        .await,
    );
    assert_eq!(titles(&open), ["Send the invoice", "Back up the laptop"]);
    let bad = call(
        &s,
        "microsoft_todo_list_tasks",
        json!({"list": TASKS, "filter": "title has 'x'"}),
    )
    .await;
    assert_eq!(bad.is_error, Some(true));
    assert!(
        text(&bad).contains("Invalid filter clause"),
        "{}",
        text(&bad)
    );
}

#[tokio::test]
async fn a_cursor_that_leaves_graph_is_refused_before_any_request() {
    let s = setup().await;
    let before = s.fake.requests().len();
    for link in [
        "https://evil.example/v1.0/me/todo/lists".to_owned(),
        "not a url".to_owned(),
        format!("{}/../admin", s.fake.base_url().replace("/v1.0", "")),
    ] {
        let r = call(
            &s,
            "microsoft_todo_list_tasks",
            json!({"list": TASKS, "cursor": link}),
        )
        .await;
        assert_eq!(r.is_error, Some(true), "{link}");
    }
    assert_eq!(s.fake.requests().len(), before);
}

#[tokio::test]
async fn a_task_is_created_updated_completed_and_deleted() {
    let s = setup().await;
    let made = json_of(
        &call(
            &s,
            "microsoft_todo_create_task",
            json!({"list": SHOPPING, "title": "Milk", "importance": "high",
                   "dueDateTime": {"dateTime": "2026-12-06T00:00:00", "timeZone": "UTC"},
                   "body": {"content": "oat, 2 l"}}),
        )
        .await,
    );
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["due"], "2026-12-06T00:00:00");
    let got = json_of(
        &call(
            &s,
            "microsoft_todo_get_task",
            json!({"list": SHOPPING, "task": id}),
        )
        .await,
    );
    assert_eq!(got["notes"], "oat, 2 l");
    assert_eq!(got["timeZone"], "UTC");
    let changed = json_of(
        &call(
            &s,
            "microsoft_todo_update_task",
            json!({"list": SHOPPING, "task": id, "status": "inProgress"}),
        )
        .await,
    );
    assert_eq!(changed["status"], "inProgress");
    let done = json_of(
        &call(
            &s,
            "microsoft_todo_complete_task",
            json!({"list": SHOPPING, "task": id}),
        )
        .await,
    );
    assert_eq!(done["status"], "completed");
    assert!(done["completed"].is_string());
    json_of(
        &call(
            &s,
            "microsoft_todo_delete_task",
            json!({"list": SHOPPING, "task": id}),
        )
        .await,
    );
    assert!(s.fake.task(&id).is_none());
    let gone = call(
        &s,
        "microsoft_todo_get_task",
        json!({"list": SHOPPING, "task": id}),
    )
    .await;
    assert!(
        text(&gone).contains("The specified object was not found in the store."),
        "{}",
        text(&gone)
    );
}

#[tokio::test]
async fn lists_are_created_renamed_and_deleted_and_checklists_read() {
    let s = setup().await;
    let made = json_of(
        &call(
            &s,
            "microsoft_todo_create_list",
            json!({"displayName": "Trip"}),
        )
        .await,
    );
    let id = made["id"].as_str().unwrap().to_owned();
    let renamed = json_of(
        &call(
            &s,
            "microsoft_todo_update_list",
            json!({"list": id, "displayName": "Holiday"}),
        )
        .await,
    );
    assert_eq!(renamed["displayName"], "Holiday");
    let one = json_of(&call(&s, "microsoft_todo_get_list", json!({"list": id})).await);
    assert_eq!(one["displayName"], "Holiday");
    json_of(&call(&s, "microsoft_todo_delete_list", json!({"list": id})).await);
    let gone = call(&s, "microsoft_todo_get_list", json!({"list": id})).await;
    assert_eq!(gone.is_error, Some(true));

    let tasks = json_of(&call(&s, "microsoft_todo_list_tasks", json!({"list": TASKS})).await);
    let first = tasks["items"][0]["id"].as_str().unwrap().to_owned();
    let steps = json_of(
        &call(
            &s,
            "microsoft_todo_list_checklist_items",
            json!({"list": TASKS, "task": first}),
        )
        .await,
    );
    assert_eq!(
        steps["items"],
        json!([{"id": "c1", "displayName": "Attach the hours", "isChecked": true},
               {"id": "c2", "displayName": "Email it", "isChecked": false}])
    );
}

#[tokio::test]
async fn microsoft_todo_maps_upstream_errors_as_the_exchanger_expects() {
    let connector = (Registration::find("microsoft_todo").unwrap().build)(Value::Null).unwrap();
    let task = json!({"list": TASKS, "task": "t1"});
    let list = json!({"list": TASKS});
    for (tool, args) in [
        ("list_lists", json!({})),
        ("get_list", list.clone()),
        ("create_list", json!({"displayName": "x"})),
        ("update_list", json!({"list": TASKS, "displayName": "y"})),
        ("delete_list", list.clone()),
        ("list_tasks", list.clone()),
        ("get_task", task.clone()),
        ("create_task", json!({"list": TASKS, "title": "x"})),
        (
            "update_task",
            json!({"list": TASKS, "task": "t1", "title": "y"}),
        ),
        ("complete_task", task.clone()),
        ("delete_task", task.clone()),
        ("list_checklist_items", task.clone()),
    ] {
        mcpist_core::testkit::connector::maps_upstream_errors(
            connector.as_ref(),
            tool,
            args.as_object().unwrap().clone(),
        )
        .await;
    }
}
