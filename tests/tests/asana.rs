//! Asana, a catalog service, through the real MCP server and an rmcp
//! client, against a fake Asana built from Asana's own OpenAPI document
//! (`mcpist-connectors/vendor/asana/openapi.json`).

use mcpist_connectors::catalog::fake::asana::{FREE_WORKSPACE, FakeAsana, PROJECT, WORKSPACE};
use mcpist_core::Registration;
use mcpist_tests::{canary, json_of, text};
use rmcp::{RoleClient, model::CallToolResult, service::RunningService};
use serde_json::{Value, json};

struct Setup {
    fake: FakeAsana,
    client: RunningService<RoleClient, ()>,
    token: String,
}

async fn setup() -> Setup {
    let fake = FakeAsana::start().await;
    let token = canary("asana");
    fake.accept_token(&token);
    let client =
        mcpist_tests::serve_with_token("asana", json!({"base_url": fake.base_url()}), &token).await;
    Setup {
        fake,
        client,
        token,
    }
}

async fn call(s: &Setup, tool: &str, args: Value) -> CallToolResult {
    mcpist_tests::call_hiding(&s.client, &s.token, tool, args).await
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn asana_lists_its_twenty_five_tools() {
    let s = setup().await;
    let tools = mcpist_tests::listed_tools_of(&s.client, "asana").await;
    assert_eq!(tools.len(), 25);
    let reads = tools
        .iter()
        .filter(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
        .count();
    assert_eq!(reads, 12);
}

#[tokio::test]
async fn answers_are_unwrapped_from_data_and_lists_page_by_offset() {
    let s = setup().await;
    let me = json_of(&call(&s, "asana_get_me", json!({})).await);
    assert_eq!(me["name"], "Ada Lovelace");
    assert_eq!(me["workspaces"][0]["name"], "Acme");
    assert_eq!(
        s.fake.requests()[0].query["opt_fields"],
        "name,email,workspaces.name"
    );
    let workspaces = json_of(&call(&s, "asana_list_workspaces", json!({"limit": 1})).await);
    assert_eq!(names(&workspaces), ["Acme"]);
    let offset = workspaces["next_cursor"].as_str().unwrap().to_owned();
    let rest = json_of(
        &call(
            &s,
            "asana_list_workspaces",
            json!({"limit": 1, "offset": offset}),
        )
        .await,
    );
    assert_eq!(names(&rest), ["Side project"]);
    assert!(rest.get("next_cursor").is_none());

    let tasks = json_of(
        &call(
            &s,
            "asana_list_tasks",
            json!({"project": PROJECT, "completed_since": "now"}),
        )
        .await,
    );
    assert_eq!(names(&tasks), ["Write the announcement", "Record the demo"]);
    assert_eq!(tasks["items"][0]["due_on"], "2026-12-10");
    assert_eq!(tasks["items"][0]["assignee"], "Ada Lovelace");
    let project = json_of(&call(&s, "asana_get_project", json!({"project_gid": PROJECT})).await);
    assert_eq!(project["owner"], "Ada Lovelace");
    assert_eq!(project["workspace"], "Acme");
    let sections = json_of(&call(&s, "asana_list_sections", json!({"project_gid": PROJECT})).await);
    assert_eq!(names(&sections), ["To do", "Done"]);
    // Asana's own refusal reads clearly.
    let vague = call(&s, "asana_list_tasks", json!({})).await;
    assert_eq!(vague.is_error, Some(true));
    assert!(
        text(&vague).contains("Must specify exactly one of"),
        "{}",
        text(&vague)
    );
}

#[tokio::test]
async fn a_task_is_created_commented_tagged_sectioned_completed_and_deleted() {
    let s = setup().await;
    let task = json_of(
        &call(
            &s,
            "asana_create_task",
            json!({"name": "Draft the FAQ", "projects": [PROJECT], "assignee": "me",
                   "due_on": "2026-12-15"}),
        )
        .await,
    );
    let gid = task["gid"].as_str().unwrap().to_owned();
    // The body went inside Asana's envelope.
    let sent = s.fake.requests().last().unwrap().body.clone().unwrap();
    assert_eq!(
        sent,
        json!({"data": {"name": "Draft the FAQ", "projects": [PROJECT], "assignee": "me",
                        "due_on": "2026-12-15"}})
    );
    let sub = json_of(
        &call(
            &s,
            "asana_create_subtask",
            json!({"task_gid": gid, "name": "List the questions"}),
        )
        .await,
    );
    let subtasks = json_of(&call(&s, "asana_list_subtasks", json!({"task_gid": gid})).await);
    assert_eq!(subtasks["items"][0]["gid"], sub["gid"]);

    json_of(
        &call(
            &s,
            "asana_add_comment",
            json!({"task_gid": gid, "text": "First pass done"}),
        )
        .await,
    );
    let stories = json_of(&call(&s, "asana_list_stories", json!({"task_gid": gid})).await);
    assert_eq!(stories["items"][0]["text"], "First pass done");
    assert_eq!(stories["items"][0]["by"], "Ada Lovelace");

    let tag = json_of(
        &call(
            &s,
            "asana_create_tag",
            json!({"name": "docs", "workspace": WORKSPACE}),
        )
        .await,
    );
    json_of(
        &call(
            &s,
            "asana_add_tag_to_task",
            json!({"task_gid": gid, "tag": tag["gid"]}),
        )
        .await,
    );
    let tags = json_of(&call(&s, "asana_list_tags", json!({"workspace": WORKSPACE})).await);
    assert_eq!(names(&tags), ["docs"]);
    let section = json_of(
        &call(
            &s,
            "asana_create_section",
            json!({"project_gid": PROJECT, "name": "Review"}),
        )
        .await,
    );
    json_of(
        &call(
            &s,
            "asana_add_task_to_section",
            json!({"section_gid": section["gid"], "task": gid}),
        )
        .await,
    );
    let got = json_of(&call(&s, "asana_get_task", json!({"task_gid": gid})).await);
    assert_eq!(got["tags"][0]["name"], "docs");
    assert_eq!(got["memberships"][0]["section"]["name"], "Review");
    assert_eq!(got["assignee"], "Ada Lovelace");

    let renamed = json_of(
        &call(
            &s,
            "asana_update_task",
            json!({"task_gid": gid, "name": "Draft the FAQ page"}),
        )
        .await,
    );
    assert_eq!(renamed["name"], "Draft the FAQ page");
    let done = json_of(&call(&s, "asana_complete_task", json!({"task_gid": gid})).await);
    assert_eq!(done["completed"], true);
    assert_eq!(
        s.fake.requests().last().unwrap().body.clone().unwrap(),
        json!({"data": {"completed": true}})
    );
    json_of(&call(&s, "asana_delete_task", json!({"task_gid": gid})).await);
    assert!(s.fake.record(&gid).is_none());
}

#[tokio::test]
async fn projects_are_created_updated_and_deleted_and_search_says_when_it_needs_premium() {
    let s = setup().await;
    let made = json_of(
        &call(
            &s,
            "asana_create_project",
            json!({"name": "Q1 plan", "workspace": WORKSPACE, "default_view": "board"}),
        )
        .await,
    );
    let gid = made["gid"].as_str().unwrap().to_owned();
    let archived = json_of(
        &call(
            &s,
            "asana_update_project",
            json!({"project_gid": gid, "archived": true}),
        )
        .await,
    );
    assert_eq!(archived["archived"], true);
    let listed = json_of(
        &call(
            &s,
            "asana_list_projects",
            json!({"workspace": WORKSPACE, "archived": true}),
        )
        .await,
    );
    assert_eq!(names(&listed), ["Q1 plan"]);
    json_of(&call(&s, "asana_delete_project", json!({"project_gid": gid})).await);
    let gone = call(&s, "asana_get_project", json!({"project_gid": gid})).await;
    assert_eq!(gone.is_error, Some(true));

    let found = json_of(
        &call(
            &s,
            "asana_search_tasks",
            json!({"workspace_gid": WORKSPACE, "text": "demo"}),
        )
        .await,
    );
    assert_eq!(names(&found), ["Record the demo"]);
    let free = call(
        &s,
        "asana_search_tasks",
        json!({"workspace_gid": FREE_WORKSPACE, "text": "demo"}),
    )
    .await;
    assert_eq!(free.is_error, Some(true));
    assert!(text(&free).contains("premium"), "{}", text(&free));
    let ws = json_of(
        &call(
            &s,
            "asana_get_workspace",
            json!({"workspace_gid": WORKSPACE}),
        )
        .await,
    );
    assert_eq!(ws["is_organization"], true);
}

#[tokio::test]
async fn asana_maps_upstream_errors_as_the_exchanger_expects() {
    let connector = (Registration::find("asana").unwrap().build)(Value::Null).unwrap();
    let task = json!({"task_gid": "1"});
    let project = json!({"project_gid": PROJECT});
    for (tool, args) in [
        ("get_me", json!({})),
        ("list_workspaces", json!({})),
        ("get_workspace", json!({"workspace_gid": WORKSPACE})),
        ("list_projects", json!({"workspace": WORKSPACE})),
        ("get_project", project.clone()),
        (
            "create_project",
            json!({"name": "x", "workspace": WORKSPACE}),
        ),
        (
            "update_project",
            json!({"project_gid": PROJECT, "name": "y"}),
        ),
        ("delete_project", project.clone()),
        ("list_sections", project.clone()),
        (
            "create_section",
            json!({"project_gid": PROJECT, "name": "s"}),
        ),
        (
            "add_task_to_section",
            json!({"section_gid": "2", "task": "1"}),
        ),
        ("list_tasks", json!({"project": PROJECT})),
        ("get_task", task.clone()),
        ("create_task", json!({"name": "x", "workspace": WORKSPACE})),
        ("update_task", json!({"task_gid": "1", "name": "y"})),
        ("complete_task", task.clone()),
        ("delete_task", task.clone()),
        ("list_subtasks", task.clone()),
        ("create_subtask", json!({"task_gid": "1", "name": "x"})),
        ("list_stories", task.clone()),
        ("add_comment", json!({"task_gid": "1", "text": "x"})),
        ("list_tags", json!({"workspace": WORKSPACE})),
        ("create_tag", json!({"name": "t", "workspace": WORKSPACE})),
        ("add_tag_to_task", json!({"task_gid": "1", "tag": "3"})),
        (
            "search_tasks",
            json!({"workspace_gid": WORKSPACE, "text": "x"}),
        ),
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
async fn bad_input_is_refused_before_asana() {
    let s = setup().await;
    for (tool, args) in [
        ("asana_create_task", json!({"projects": [PROJECT]})),
        ("asana_complete_task", json!({})),
        (
            "asana_list_tasks",
            json!({"project": PROJECT, "limit": 101}),
        ),
        (
            "asana_create_project",
            json!({"name": "x", "default_view": "gantt"}),
        ),
    ] {
        let r = call(&s, tool, args.clone()).await;
        assert_eq!(r.is_error, Some(true), "{tool} {args}");
    }
    assert!(s.fake.requests().is_empty());
}
