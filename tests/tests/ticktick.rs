//! TickTick, a catalog service, through the real MCP server and an rmcp
//! client, against a fake TickTick built from the vendored API description
//! (`mcpist-connectors/vendor/ticktick/openapi.json`).

use mcpist_connectors::catalog::fake::ticktick::{FakeTicktick, HOME, WORK};
use mcpist_core::Registration;
use mcpist_tests::{canary, json_of, text};
use rmcp::{RoleClient, model::CallToolResult, service::RunningService};
use serde_json::{Value, json};

struct Setup {
    fake: FakeTicktick,
    client: RunningService<RoleClient, ()>,
    token: String,
}

async fn setup() -> Setup {
    let fake = FakeTicktick::start().await;
    let token = canary("ticktick");
    fake.accept_token(&token);
    let client =
        mcpist_tests::serve_with_token("ticktick", json!({"base_url": fake.base_url()}), &token)
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
async fn ticktick_lists_its_eleven_tools() {
    let s = setup().await;
    let tools = mcpist_tests::listed_tools_of(&s.client, "ticktick").await;
    assert_eq!(tools.len(), 11);
    let reads = tools
        .iter()
        .filter(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
        .count();
    assert_eq!(reads, 4);
}

#[tokio::test]
async fn projects_and_their_tasks_read_compactly() {
    let s = setup().await;
    let projects = json_of(&call(&s, "ticktick_list_projects", json!({})).await);
    assert_eq!(projects[0]["name"], "Work");
    assert!(
        projects[0].get("sortOrder").is_none(),
        "compact: {projects}"
    );
    let home = json_of(&call(&s, "ticktick_get_project", json!({"projectId": HOME})).await);
    assert_eq!(home["name"], "Home");
    let data = json_of(&call(&s, "ticktick_get_project_data", json!({"projectId": WORK})).await);
    assert_eq!(titles(&data), ["Write the report", "Review the budget"]);
    assert_eq!(data["items"][0]["priority"], 5);
    assert!(data["items"][0].get("sortOrder").is_none());
    let missing = call(
        &s,
        "ticktick_get_project_data",
        json!({"projectId": "nope"}),
    )
    .await;
    assert_eq!(missing.is_error, Some(true));
    assert!(
        text(&missing).contains("Project not found"),
        "{}",
        text(&missing)
    );
}

#[tokio::test]
async fn a_task_is_created_updated_completed_and_deleted() {
    let s = setup().await;
    let created = json_of(
        &call(
            &s,
            "ticktick_create_task",
            json!({"title": "Buy paint", "projectId": HOME, "priority": 3,
                   "dueDate": "2026-12-06T10:00:00+0000"}),
        )
        .await,
    );
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["priority"], 3);
    let updated = json_of(
        &call(
            &s,
            "ticktick_update_task",
            json!({"taskId": id, "projectId": HOME, "title": "Buy blue paint"}),
        )
        .await,
    );
    assert_eq!(updated["title"], "Buy blue paint");
    // The body carries the task id as TickTick requires, from the path argument.
    let sent = s.fake.requests().last().unwrap().body.clone().unwrap();
    assert_eq!(sent["id"], id.as_str());
    assert!(sent.get("taskId").is_none());
    let got = json_of(
        &call(
            &s,
            "ticktick_get_task",
            json!({"projectId": HOME, "taskId": id}),
        )
        .await,
    );
    assert_eq!(got["dueDate"], "2026-12-06T10:00:00+0000");
    let done = json_of(
        &call(
            &s,
            "ticktick_complete_task",
            json!({"projectId": HOME, "taskId": id}),
        )
        .await,
    );
    assert_eq!(done, json!({"ok": true, "status": 200}));
    assert_eq!(s.fake.task(&id).unwrap()["status"], 2);
    let open = json_of(&call(&s, "ticktick_get_project_data", json!({"projectId": HOME})).await);
    assert!(!titles(&open).contains(&"Buy blue paint".to_owned()));
    json_of(
        &call(
            &s,
            "ticktick_delete_task",
            json!({"projectId": HOME, "taskId": id}),
        )
        .await,
    );
    assert!(s.fake.task(&id).is_none());
}

#[tokio::test]
async fn projects_are_created_renamed_and_deleted() {
    let s = setup().await;
    let made = json_of(
        &call(
            &s,
            "ticktick_create_project",
            json!({"name": "Garden", "viewMode": "kanban"}),
        )
        .await,
    );
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["viewMode"], "kanban");
    let renamed = json_of(
        &call(
            &s,
            "ticktick_update_project",
            json!({"projectId": id, "name": "Yard"}),
        )
        .await,
    );
    assert_eq!(renamed["name"], "Yard");
    json_of(&call(&s, "ticktick_delete_project", json!({"projectId": id})).await);
    let gone = call(&s, "ticktick_get_project", json!({"projectId": id})).await;
    assert_eq!(gone.is_error, Some(true));
}

#[tokio::test]
async fn bad_input_is_refused_before_ticktick() {
    let s = setup().await;
    for args in [
        json!({"title": "x"}),
        json!({"title": "x", "projectId": WORK, "priority": 2}),
        json!({"title": "", "projectId": WORK}),
    ] {
        let r = call(&s, "ticktick_create_task", args.clone()).await;
        assert_eq!(r.is_error, Some(true), "{args}");
    }
    assert!(s.fake.requests().is_empty());
}

#[tokio::test]
async fn ticktick_maps_upstream_errors_as_the_exchanger_expects() {
    let ticktick = (Registration::find("ticktick").unwrap().build)(Value::Null).unwrap();
    let task = json!({"projectId": WORK, "taskId": "t1"});
    let project = json!({"projectId": WORK});
    for (tool, args) in [
        ("list_projects", json!({})),
        ("get_project", project.clone()),
        ("get_project_data", project.clone()),
        ("create_project", json!({"name": "x"})),
        ("update_project", json!({"projectId": WORK, "name": "y"})),
        ("delete_project", project.clone()),
        ("get_task", task.clone()),
        ("create_task", json!({"title": "x", "projectId": WORK})),
        (
            "update_task",
            json!({"taskId": "t1", "projectId": WORK, "title": "y"}),
        ),
        ("complete_task", task.clone()),
        ("delete_task", task.clone()),
    ] {
        mcpist_core::testkit::connector::maps_upstream_errors(
            ticktick.as_ref(),
            tool,
            args.as_object().unwrap().clone(),
        )
        .await;
    }
}
