//! The Notion connector through the real MCP server and client, against a
//! fake Notion that answers with the API's documented shapes and errors.

use std::{sync::Arc, time::Duration};

use mcpist_connectors::notion::fake::{BOT, DATABASE, FakeNotion, PAGE, USER};
use mcpist_core::{
    Exchanger, McpServer, MemoryStore, Registration, ServicePolicy, TokenStore,
    store::{AccountKey, AccountStatus, AccountWrite, Credential, Expect},
};
use mcpist_tests::{canary, json_of, text};
use rmcp::{
    RoleClient,
    model::{CallToolRequestParams, CallToolResult},
    service::RunningService,
};
use secrecy::SecretString;
use serde_json::{Value, json};

struct Setup {
    fake: FakeNotion,
    client: RunningService<RoleClient, ()>,
    token: String,
}

async fn setup_with(config: Value) -> Setup {
    let fake = FakeNotion::start().await;
    let token = canary("notion");
    fake.accept_token(&token);
    let store = Arc::new(MemoryStore::new());
    store
        .put(
            &AccountKey::new("notion", "acme").unwrap(),
            AccountWrite {
                credential: Credential::static_token(SecretString::from(token.clone())).unwrap(),
                identity: None,
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
    let mut table = json!({"base_url": fake.base_url(), "requests_per_second": 1000.0});
    for (k, v) in config.as_object().unwrap() {
        table[k] = v.clone();
    }
    // Naming the crate keeps its `inventory` registrations linked in.
    assert!(mcpist_connectors::builtin().contains(&"notion"));
    let notion = (Registration::find("notion").unwrap().build)(table).unwrap();
    let exchanger = Exchanger::new(store.clone(), store.clone())
        .unwrap()
        .with_guide(Arc::new(mcpist_core::guide::McpistCli));
    let server = McpServer::builder(exchanger, store)
        .connector(notion, ServicePolicy::default())
        .build()
        .unwrap();
    let client = mcpist_tests::connect(server).await;
    Setup {
        fake,
        client,
        token,
    }
}

async fn setup() -> Setup {
    setup_with(json!({})).await
}

async fn call(s: &Setup, tool: &str, args: Value) -> CallToolResult {
    let result = s
        .client
        .call_tool(
            CallToolRequestParams::new(tool.to_owned())
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert!(
        !serde_json::to_string(&result).unwrap().contains(&s.token),
        "the token leaked into a result"
    );
    result
}

#[tokio::test]
async fn notion_lists_every_tool_it_has_in_five_toolsets() {
    let s = setup().await;
    let mut tools = s.client.list_all_tools().await.unwrap();
    tools.retain(|t| t.name != mcpist_core::batch::BATCH);
    assert_eq!(tools.len(), mcpist_tests::tools_of("notion").len());
    assert!(tools.iter().all(|t| t.name.starts_with("notion_")));
    let writes: Vec<_> = tools
        .iter()
        // A write leaves readOnlyHint out: MCP's default is false.
        .filter(|t| t.annotations.as_ref().unwrap().read_only_hint != Some(true))
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(
        writes,
        [
            "notion_add_comment",
            "notion_append_blocks",
            "notion_archive_block",
            "notion_create_page",
            "notion_update_page"
        ]
    );
}

#[tokio::test]
async fn search_finds_pages_and_databases_by_title() {
    let s = setup().await;
    let all = json_of(&call(&s, "notion_search", json!({"query": "t"})).await);
    let titles: Vec<_> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        titles.contains(&"Meeting notes".to_owned()) && titles.contains(&"Tasks".to_owned()),
        "{titles:?}"
    );
    let dbs = json_of(&call(&s, "notion_search", json!({"filter": "database"})).await);
    assert_eq!(dbs["items"].as_array().unwrap().len(), 1);
    let paged = json_of(&call(&s, "notion_search", json!({"page_size": 1})).await);
    assert_eq!(paged["items"].as_array().unwrap().len(), 1);
    assert_eq!(paged["next_cursor"], "1");
    let next = json_of(
        &call(
            &s,
            "notion_search",
            json!({"page_size": 1, "start_cursor": "1"}),
        )
        .await,
    );
    assert_ne!(next["items"][0]["id"], paged["items"][0]["id"]);
    // Every request carried the API version.
    assert!(s.fake.requests().iter().all(|r| r.path.starts_with("/v1/")));
}

#[tokio::test]
async fn a_page_reads_as_markdown_with_nested_blocks() {
    let s = setup().await;
    let url = format!(
        "https://www.notion.so/acme/Meeting-notes-{}",
        PAGE.replace('-', "")
    );
    let md = text(&call(&s, "notion_get_page_content", json!({"page_id": url})).await);
    assert!(md.contains("# Weekly sync"), "{md}");
    assert!(md.contains("We **decided** to ship."), "{md}");
    assert!(md.contains("- [ ] Write release notes"), "{md}");
    assert!(
        md.contains("- Risks\n  - Flaky CI"),
        "nested children are indented: {md}"
    );
    assert!(md.contains("```shell\ncargo test\n```"), "{md}");
    assert!(
        md.contains("[page: Archive]"),
        "child pages are linked, not inlined: {md}"
    );
    let page = json_of(&call(&s, "notion_get_page", json!({"page_id": PAGE})).await);
    assert_eq!(page["title"], "Meeting notes");
    let raw = json_of(
        &call(
            &s,
            "notion_get_page",
            json!({"page_id": PAGE, "format": "json"}),
        )
        .await,
    );
    assert_eq!(raw["object"], "page");
}

#[tokio::test]
async fn pages_are_created_from_markdown_and_updated() {
    let s = setup().await;
    let mut long = String::from("# Plan\n\nIntro with **bold**.\n\n");
    for i in 0..150 {
        long.push_str(&format!("- item {i}\n"));
    }
    let created = json_of(
        &call(
            &s,
            "notion_create_page",
            json!({"parent_page_id": PAGE, "title": "Plan", "markdown": long}),
        )
        .await,
    );
    assert_eq!(created["blocks"], 152);
    let id = created["id"].as_str().unwrap().to_owned();
    let stored = s.fake.children(&id);
    assert_eq!(
        stored.len(),
        152,
        "150 list items beyond Notion's 100-block limit were appended in chunks"
    );
    assert_eq!(
        stored[1]["paragraph"]["rich_text"][1]["annotations"]["bold"],
        true
    );
    let md = text(&call(&s, "notion_get_page_content", json!({"page_id": id})).await);
    assert!(
        md.starts_with("# Plan\nIntro with **bold**.\n- item 0\n"),
        "{md}"
    );

    let updated = json_of(
        &call(
            &s,
            "notion_update_page",
            json!({"page_id": id, "title": "Plan v2", "archived": true}),
        )
        .await,
    );
    assert_eq!(updated["title"], "Plan v2");
    assert_eq!(updated["archived"], true);
    let r = call(&s, "notion_update_page", json!({"page_id": id})).await;
    assert!(text(&r).contains("nothing to change"), "{}", text(&r));

    let row = json_of(
        &call(
            &s,
            "notion_create_page",
            json!({"parent_database_id": DATABASE, "title": "New task",
        "properties": {"Status": {"select": {"name": "Todo"}}}}),
        )
        .await,
    );
    let page = s.fake.page(row["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        page["properties"]["Name"]["title"][0]["text"]["content"], "New task",
        "the database's title property is used"
    );
    let r = call(&s, "notion_create_page", json!({"title": "Orphan"})).await;
    assert!(
        text(&r).contains("exactly one of parent_page_id and parent_database_id"),
        "{}",
        text(&r)
    );
}

#[tokio::test]
async fn blocks_are_appended_and_archived() {
    let s = setup().await;
    let before = s.fake.children(PAGE).len();
    let r = json_of(
        &call(
            &s,
            "notion_append_blocks",
            json!({"block_id": PAGE, "markdown": "## Follow-up\n- [x] Done"}),
        )
        .await,
    );
    assert_eq!(r["appended"], 2);
    let after = s.fake.children(PAGE);
    assert_eq!(after.len(), before + 2);
    let last = after.last().unwrap()["id"].as_str().unwrap().to_owned();
    let r = json_of(&call(&s, "notion_archive_block", json!({"block_id": last})).await);
    assert_eq!(r["archived"], true);
    assert_eq!(s.fake.children(PAGE).len(), before + 1);
}

#[tokio::test]
async fn databases_show_their_schema_and_answer_queries() {
    let s = setup().await;
    let db = json_of(&call(&s, "notion_get_database", json!({"database_id": DATABASE})).await);
    assert_eq!(db["title"], "Tasks");
    assert_eq!(
        db["properties"]["Status"],
        json!({"type": "select", "options": ["Todo", "Done"]})
    );
    let todo = json_of(
        &call(
            &s,
            "notion_query_database",
            json!({"database_id": DATABASE,
        "filter": {"property": "Status", "select": {"equals": "Todo"}}}),
        )
        .await,
    );
    let items = todo["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["title"], "Fix login");
    assert_eq!(
        items[0]["properties"],
        json!({"Status": "Todo", "Due": "2024-02-01"})
    );
}

#[tokio::test]
async fn comments_and_users() {
    let s = setup().await;
    let comments = json_of(&call(&s, "notion_list_comments", json!({"block_id": PAGE})).await);
    assert_eq!(comments["items"][0]["text"], "Looks good");
    let added = json_of(
        &call(
            &s,
            "notion_add_comment",
            json!({"page_id": PAGE, "text": "Ship **it**"}),
        )
        .await,
    );
    assert!(added["id"].is_string());
    let comments = json_of(&call(&s, "notion_list_comments", json!({"block_id": PAGE})).await);
    assert_eq!(comments["items"][1]["text"], "Ship **it**");
    let users = json_of(&call(&s, "notion_list_users", json!({})).await);
    assert_eq!(
        users["items"][0],
        json!({"id": USER, "type": "person", "name": "Ada Lovelace", "email": "ada@example.com"})
    );
    let me = json_of(&call(&s, "notion_get_self", json!({})).await);
    assert_eq!(me["id"], BOT);
    assert_eq!(me["workspace"], "Acme");
    let user = json_of(&call(&s, "notion_get_user", json!({"user_id": USER})).await);
    assert_eq!(user["name"], "Ada Lovelace");
}

#[tokio::test]
async fn notion_errors_are_tool_errors_with_notions_message() {
    let s = setup().await;
    let r = call(
        &s,
        "notion_get_page",
        json!({"page_id": "00000000000040008000000000000000"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text(&r).contains("404")
            && text(&r).contains("shared with your integration")
            && text(&r).contains("object_not_found"),
        "{}",
        text(&r)
    );

    let before = s.fake.requests().len();
    for bad in ["../../users/me", "me", "https://evil.example/x", "1234"] {
        let r = call(&s, "notion_get_page_content", json!({"page_id": bad})).await;
        assert_eq!(r.is_error, Some(true));
        assert!(text(&r).contains("is not a Notion id"), "{}", text(&r));
    }
    assert_eq!(
        s.fake.requests().len(),
        before,
        "bad ids never reach Notion"
    );
}

#[tokio::test]
async fn a_rejected_token_says_how_to_replace_it() {
    let s = setup().await;
    s.fake.revoke_tokens();
    let r = call(&s, "notion_get_self", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    let message = text(&r);
    assert!(message.contains("API token is invalid"), "{message}");
    assert!(
        message.contains("mcpist accounts add notion --account acme --token-stdin"),
        "{message}"
    );
}

#[tokio::test]
async fn requests_are_paced_to_the_configured_rate() {
    let s = setup_with(json!({"requests_per_second": 5.0})).await;
    let started = std::time::Instant::now();
    for _ in 0..6 {
        json_of(&call(&s, "notion_get_self", json!({})).await);
    }
    // Six requests at five per second need at least five intervals of 200 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(990),
        "{:?}",
        started.elapsed()
    );
    // The pacer spaces the sends; an arrival is never earlier than its send,
    // so request k reaches the fake no sooner than k intervals after the
    // start, however loaded the machine is. (Gaps between two arrivals are
    // no such bound: a delayed arrival shortens the gap after it.)
    let seen = s.fake.requests();
    assert_eq!(seen.len(), 6);
    for (k, request) in seen.iter().enumerate() {
        let earliest = started + Duration::from_millis(200) * k as u32 - Duration::from_millis(10);
        assert!(
            request.at >= earliest,
            "request {k} arrived {:?} after the start",
            request.at - started
        );
    }
}

#[tokio::test]
async fn notion_maps_upstream_errors_as_the_exchanger_expects() {
    let notion =
        (Registration::find("notion").unwrap().build)(json!({"requests_per_second": 1000.0}))
            .unwrap();
    for (tool, args) in [
        ("get_self", json!({})),
        ("get_page", json!({"page_id": PAGE})),
    ] {
        mcpist_core::testkit::connector::maps_upstream_errors(
            notion.as_ref(),
            tool,
            args.as_object().unwrap().clone(),
        )
        .await;
    }
}
