//! Supabase, a catalog service, through the real MCP server and an rmcp
//! client, against a fake Management API built from the vendored OpenAPI
//! document (`mcpist-connectors/vendor/supabase/openapi.json`).

use mcpist_connectors::catalog::fake::supabase::{FakeSupabase, REF, SERVICE_ROLE_KEY};
use mcpist_core::Registration;
use mcpist_tests::{canary, json_of, text};
use rmcp::{RoleClient, model::CallToolResult, service::RunningService};
use serde_json::{Value, json};

struct Setup {
    fake: FakeSupabase,
    client: RunningService<RoleClient, ()>,
    token: String,
}

async fn setup() -> Setup {
    let fake = FakeSupabase::start().await;
    let token = canary("sbp");
    fake.accept_token(&token);
    let client =
        mcpist_tests::serve_with_token("supabase", json!({"base_url": fake.base_url()}), &token)
            .await;
    Setup {
        fake,
        client,
        token,
    }
}

async fn call(s: &Setup, tool: &str, args: Value) -> CallToolResult {
    let result = mcpist_tests::call(&s.client, tool, args).await;
    let all = serde_json::to_string(&result).unwrap();
    assert!(!all.contains(&s.token), "the token leaked into a result");
    assert!(
        !all.contains(SERVICE_ROLE_KEY),
        "a project key leaked into a result"
    );
    result
}

#[tokio::test]
async fn supabase_lists_its_nineteen_tools() {
    let s = setup().await;
    let tools = mcpist_tests::listed_tools_of(&s.client, "supabase").await;
    assert_eq!(tools.len(), 19);
    let writes: Vec<_> = tools
        .iter()
        .filter(|t| t.annotations.as_ref().unwrap().read_only_hint != Some(true))
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(writes, ["supabase_apply_migration", "supabase_run_query"]);
}

#[tokio::test]
async fn projects_keys_health_and_the_rest_read_compactly() {
    let s = setup().await;
    let projects = json_of(&call(&s, "supabase_list_projects", json!({})).await);
    assert_eq!(projects[0]["ref"], REF);
    assert!(projects[0].get("database").is_none());
    let described = json_of(&call(&s, "supabase_describe_project", json!({"ref": REF})).await);
    assert_eq!(described["database"]["version"], "17.4.1");
    let keys = json_of(&call(&s, "supabase_get_api_keys", json!({"ref": REF})).await);
    assert_eq!(keys[1]["name"], "service_role");
    assert!(keys[1].get("api_key").is_none(), "values are not returned");
    let health = json_of(
        &call(
            &s,
            "supabase_inspect_health",
            json!({"ref": REF, "services": ["db", "auth"]}),
        )
        .await,
    );
    assert_eq!(health[0]["healthy"], true);
    assert_eq!(
        s.fake.requests().last().unwrap().raw_query,
        "services=db&services=auth"
    );
    for (tool, field) in [
        ("supabase_list_organizations", "name"),
        ("supabase_list_edge_functions", "slug"),
        ("supabase_list_storage_buckets", "name"),
        ("supabase_list_branches", "git_branch"),
        ("supabase_list_migrations", "version"),
    ] {
        let args = if tool.ends_with("organizations") {
            json!({})
        } else {
            json!({"ref": REF})
        };
        let list = json_of(&call(&s, tool, args).await);
        assert!(list[0][field].is_string(), "{tool}: {list}");
    }
    let function = json_of(
        &call(
            &s,
            "supabase_get_edge_function",
            json!({"ref": REF, "function_slug": "hello"}),
        )
        .await,
    );
    assert_eq!(function["entrypoint_path"], "file:///src/index.ts");
    let lints = json_of(&call(&s, "supabase_get_security_advisors", json!({"ref": REF})).await);
    assert_eq!(lints["lints"][0]["name"], "rls_disabled_in_public");
    let perf = json_of(&call(&s, "supabase_get_performance_advisors", json!({"ref": REF})).await);
    assert_eq!(perf["lints"][0]["level"], "INFO");
    let storage = json_of(&call(&s, "supabase_get_storage_config", json!({"ref": REF})).await);
    assert_eq!(storage["fileSizeLimit"], 52428800);
    let logs = json_of(
        &call(
            &s,
            "supabase_get_logs",
            json!({"ref": REF, "sql": "select 1 from edge_logs"}),
        )
        .await,
    );
    assert!(logs["result"][0]["event_message"].is_string());
    let types = json_of(
        &call(
            &s,
            "supabase_generate_typescript_types",
            json!({"ref": REF, "included_schemas": "public"}),
        )
        .await,
    );
    assert!(types["types"].as_str().unwrap().contains("orders"));
    let missing = call(
        &s,
        "supabase_get_project",
        json!({"ref": "zzzzzzzzzzzzzzzzzzzz"}),
    )
    .await;
    assert!(
        text(&missing).contains("Project not found"),
        "{}",
        text(&missing)
    );
}

#[tokio::test]
async fn sql_runs_read_only_when_asked_and_migrations_are_recorded() {
    let s = setup().await;
    let tables = json_of(&call(&s, "supabase_list_tables", json!({"ref": REF})).await);
    assert_eq!(tables[0]["table_name"], "orders");
    let sent = s.fake.requests().last().unwrap().body.clone().unwrap();
    assert_eq!(sent["read_only"], true, "list_tables always runs read-only");
    let refused = call(
        &s,
        "supabase_run_query",
        json!({"ref": REF, "query": "delete from orders", "read_only": true}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text(&refused).contains("read-only transaction"),
        "{}",
        text(&refused)
    );
    let one = json_of(
        &call(
            &s,
            "supabase_run_query",
            json!({"ref": REF, "query": "select 1"}),
        )
        .await,
    );
    assert_eq!(one[0]["?column?"], 1);
    json_of(
        &call(
            &s,
            "supabase_apply_migration",
            json!({"ref": REF, "name": "add_index", "query": "create index on orders (product_id)"}),
        )
        .await,
    );
    assert_eq!(s.fake.migrations().last().unwrap()["name"], "add_index");
    let bad_ref = call(&s, "supabase_list_tables", json!({"ref": "NOT-A-REF"})).await;
    assert_eq!(bad_ref.is_error, Some(true), "refused by the schema");
}

#[tokio::test]
async fn supabase_maps_upstream_errors_as_the_exchanger_expects() {
    let connector = (Registration::find("supabase").unwrap().build)(Value::Null).unwrap();
    let project = json!({"ref": REF});
    for (tool, args) in [
        ("list_organizations", json!({})),
        ("list_projects", json!({})),
        ("get_project", project.clone()),
        ("describe_project", project.clone()),
        ("get_api_keys", project.clone()),
        ("inspect_health", json!({"ref": REF, "services": ["db"]})),
        ("list_tables", project.clone()),
        ("run_query", json!({"ref": REF, "query": "select 1"})),
        ("list_migrations", project.clone()),
        ("apply_migration", json!({"ref": REF, "query": "select 1"})),
        ("list_edge_functions", project.clone()),
        (
            "get_edge_function",
            json!({"ref": REF, "function_slug": "hello"}),
        ),
        ("get_logs", project.clone()),
        ("get_performance_advisors", project.clone()),
        ("get_security_advisors", project.clone()),
        ("get_storage_config", project.clone()),
        ("list_storage_buckets", project.clone()),
        ("generate_typescript_types", project.clone()),
        ("list_branches", project.clone()),
    ] {
        mcpist_core::testkit::connector::maps_upstream_errors(
            connector.as_ref(),
            tool,
            args.as_object().unwrap().clone(),
        )
        .await;
    }
}
