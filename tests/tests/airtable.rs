//! Airtable, a catalog service, through the real MCP server and an rmcp
//! client, against a fake Airtable built from the vendored (hand-written)
//! description (`mcpist-connectors/vendor/airtable/openapi.json`).

use mcpist_connectors::catalog::fake::airtable::{BASE, FakeAirtable, TASKS};
use mcpist_core::Registration;
use mcpist_tests::{canary, json_of, text};
use rmcp::{RoleClient, model::CallToolResult, service::RunningService};
use serde_json::{Value, json};

struct Setup {
    fake: FakeAirtable,
    client: RunningService<RoleClient, ()>,
    token: String,
}

async fn setup() -> Setup {
    let fake = FakeAirtable::start().await;
    let token = canary("airtable");
    fake.accept_token(&token);
    let client =
        mcpist_tests::serve_with_token("airtable", json!({"base_url": fake.base_url()}), &token)
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

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fields"]["Name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn airtable_lists_its_twelve_tools() {
    let s = setup().await;
    let tools = mcpist_tests::listed_tools_of(&s.client, "airtable").await;
    assert_eq!(tools.len(), 12);
    let reads = tools
        .iter()
        .filter(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
        .count();
    assert_eq!(reads, 7, "search_records is a POST that reads");
}

#[tokio::test]
async fn the_schema_reads_as_tables_fields_and_views() {
    let s = setup().await;
    let bases = json_of(&call(&s, "airtable_list_bases", json!({})).await);
    assert_eq!(bases["items"][0]["id"], BASE);
    let tables = json_of(&call(&s, "airtable_get_base_tables", json!({"baseId": BASE})).await);
    assert_eq!(tables["items"][0]["name"], "Tasks");
    assert!(
        tables["items"][0].get("fields").is_none(),
        "compact: {tables}"
    );
    let fields = json_of(&call(&s, "airtable_get_table_fields", json!({"baseId": BASE})).await);
    assert_eq!(fields["items"][0]["fields"][1]["name"], "Status");
    let views = json_of(&call(&s, "airtable_get_table_views", json!({"baseId": BASE})).await);
    assert_eq!(views["items"][0]["views"][1]["type"], "kanban");
    let made = json_of(
        &call(
            &s,
            "airtable_create_table",
            json!({"baseId": BASE, "name": "Risks",
                   "fields": [{"name": "Risk", "type": "singleLineText"}]}),
        )
        .await,
    );
    let id = made["id"].as_str().unwrap().to_owned();
    let renamed = json_of(
        &call(
            &s,
            "airtable_update_table",
            json!({"baseId": BASE, "tableIdOrName": id, "name": "Known risks"}),
        )
        .await,
    );
    assert_eq!(renamed["name"], "Known risks");
    let missing = call(&s, "airtable_get_base_tables", json!({"baseId": "appNope"})).await;
    assert_eq!(missing.is_error, Some(true));
    assert!(text(&missing).contains("NOT_FOUND"), "{}", text(&missing));
}

#[tokio::test]
async fn records_page_by_offset_filter_by_formula_and_pick_fields() {
    let s = setup().await;
    let first = json_of(
        &call(
            &s,
            "airtable_list_records",
            json!({"baseId": BASE, "tableIdOrName": "Tasks", "pageSize": 2, "fields": ["Name"]}),
        )
        .await,
    );
    assert_eq!(names(&first), ["Plan", "Build"]);
    assert!(first["items"][0]["fields"].get("Status").is_none());
    let raw = s.fake.requests().last().unwrap().raw_query.clone();
    assert!(
        raw.contains("fields%5B%5D=Name"),
        "fields[] repeated: {raw}"
    );
    let offset = first["next_cursor"].as_str().unwrap().to_owned();
    let rest = json_of(
        &call(
            &s,
            "airtable_list_records",
            json!({"baseId": BASE, "tableIdOrName": TASKS, "pageSize": 2, "offset": offset}),
        )
        .await,
    );
    assert_eq!(names(&rest), ["Ship"]);
    let done = json_of(
        &call(
            &s,
            "airtable_search_records",
            json!({"baseId": BASE, "tableIdOrName": "Tasks", "filterByFormula": "{Status} = 'Done'"}),
        )
        .await,
    );
    assert_eq!(names(&done), ["Plan"]);
    let sorted = json_of(
        &call(
            &s,
            "airtable_search_records",
            json!({"baseId": BASE, "tableIdOrName": "Tasks", "filterByFormula": "{Status} = 'Doing'",
                   "sort": [{"field": "Name", "direction": "desc"}]}),
        )
        .await,
    );
    assert_eq!(names(&sorted), ["Build"]);
    let bad = call(
        &s,
        "airtable_search_records",
        json!({"baseId": BASE, "tableIdOrName": "Tasks", "filterByFormula": "AND("}),
    )
    .await;
    assert!(text(&bad).contains("formula"), "{}", text(&bad));
}

#[tokio::test]
async fn records_are_created_updated_upserted_and_deleted_ten_at_most() {
    let s = setup().await;
    let made = json_of(
        &call(
            &s,
            "airtable_create_records",
            json!({"baseId": BASE, "tableIdOrName": "Tasks",
                   "records": [{"fields": {"Name": "Test", "Status": "Todo"}},
                               {"fields": {"Name": "Launch", "Status": "Todo"}}]}),
        )
        .await,
    );
    let ids: Vec<String> = made["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let one = json_of(
        &call(
            &s,
            "airtable_get_record",
            json!({"baseId": BASE, "tableIdOrName": "Tasks", "recordId": ids[0]}),
        )
        .await,
    );
    assert_eq!(one["fields"]["Name"], "Test");
    json_of(
        &call(
            &s,
            "airtable_update_records",
            json!({"baseId": BASE, "tableIdOrName": "Tasks",
                   "records": [{"id": ids[0], "fields": {"Status": "Done"}}]}),
        )
        .await,
    );
    assert_eq!(s.fake.record(&ids[0]).unwrap()["fields"]["Status"], "Done");
    let upsert = json_of(
        &call(
            &s,
            "airtable_update_records",
            json!({"baseId": BASE, "tableIdOrName": "Tasks",
                   "performUpsert": {"fieldsToMergeOn": ["Name"]},
                   "records": [{"fields": {"Name": "Launch", "Status": "Doing"}},
                               {"fields": {"Name": "Retro", "Status": "Todo"}}]}),
        )
        .await,
    );
    assert_eq!(upsert["updatedRecords"], json!([ids[1]]));
    assert_eq!(upsert["createdRecords"].as_array().unwrap().len(), 1);
    let deleted = json_of(
        &call(
            &s,
            "airtable_delete_records",
            json!({"baseId": BASE, "tableIdOrName": "Tasks", "records": ids}),
        )
        .await,
    );
    assert_eq!(deleted["records"][0]["deleted"], true);
    assert!(s.fake.record(&ids[0]).is_none() && s.fake.record(&ids[1]).is_none());
    let before = s.fake.requests().len();
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"fields": {"Name": format!("r{i}")}}))
        .collect();
    let refused = call(
        &s,
        "airtable_create_records",
        json!({"baseId": BASE, "tableIdOrName": "Tasks", "records": eleven}),
    )
    .await;
    assert_eq!(
        refused.is_error,
        Some(true),
        "Airtable takes 10 records per request"
    );
    assert_eq!(s.fake.requests().len(), before, "refused before Airtable");
}

#[tokio::test]
async fn airtable_maps_upstream_errors_as_the_exchanger_expects() {
    let connector = (Registration::find("airtable").unwrap().build)(Value::Null).unwrap();
    let table = json!({"baseId": BASE, "tableIdOrName": "Tasks"});
    for (tool, args) in [
        ("list_bases", json!({})),
        ("get_base_tables", json!({"baseId": BASE})),
        ("get_table_fields", json!({"baseId": BASE})),
        ("get_table_views", json!({"baseId": BASE})),
        (
            "create_table",
            json!({"baseId": BASE, "name": "x", "fields": [{"name": "a", "type": "singleLineText"}]}),
        ),
        (
            "update_table",
            json!({"baseId": BASE, "tableIdOrName": "Tasks", "name": "y"}),
        ),
        ("list_records", table.clone()),
        (
            "search_records",
            json!({"baseId": BASE, "tableIdOrName": "Tasks", "filterByFormula": "{a} = 'b'"}),
        ),
        (
            "get_record",
            json!({"baseId": BASE, "tableIdOrName": "Tasks", "recordId": "rec1"}),
        ),
        (
            "create_records",
            json!({"baseId": BASE, "tableIdOrName": "Tasks", "records": [{"fields": {}}]}),
        ),
        (
            "update_records",
            json!({"baseId": BASE, "tableIdOrName": "Tasks", "records": [{"id": "rec1", "fields": {}}]}),
        ),
        (
            "delete_records",
            json!({"baseId": BASE, "tableIdOrName": "Tasks", "records": ["rec1"]}),
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
