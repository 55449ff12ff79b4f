//! The example connector passes MCPist's connector testkit (declarations and
//! error mapping) and serves a fake xkcd through the real MCP server and client.

use std::sync::Arc;

use mcpist_core::{Exchanger, McpServer, MemoryStore, Registration, Service};
use rmcp::{ServiceExt, model::CallToolRequestParams};
use serde_json::{Value, json};

#[tokio::test]
async fn the_example_connector_passes_the_testkit_and_answers() {
    let app = axum::Router::new()
        .route("/info.0.json", axum::routing::get(|| async { axum::Json(json!({"num": 3000, "safe_title": "Latest", "alt": "a", "img": "https://imgs.xkcd.com/comics/latest.png"})) }))
        .route("/{num}/info.0.json", axum::routing::get(|axum::extract::Path(num): axum::extract::Path<u64>| async move {
            axum::Json(json!({"num": num, "safe_title": "Barrel - Part 1", "alt": "Don't we all.", "img": "https://imgs.xkcd.com/comics/barrel_cropped_(1).jpg"}))
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let registration = Registration::find(mcpist_example_custom_connector::NAME)
        .expect("registered through inventory");
    let xkcd = Service::from_config(registration, json!({ "base_url": base })).unwrap();
    mcpist_core::testkit::connector::run_all(xkcd.connector.as_ref()).await;
    // xkcd takes no credential, so the testkit skips the 401 check.
    mcpist_core::testkit::connector::maps_upstream_errors(
        xkcd.connector.as_ref(),
        "get_comic",
        json!({"num": 1}).as_object().unwrap().clone(),
    )
    .await;

    let store = Arc::new(MemoryStore::new());
    let exchanger = Exchanger::new(store.clone(), store.clone())
        .unwrap()
        .with_service(&xkcd);
    let server = McpServer::builder(exchanger, store)
        .connector(xkcd.connector, xkcd.policy)
        .build()
        .unwrap();
    let (server_io, client_io) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        server
            .serve(server_io)
            .await
            .unwrap()
            .waiting()
            .await
            .unwrap()
    });
    let client = ().serve(client_io).await.unwrap();
    let result = client
        .call_tool(
            CallToolRequestParams::new("xkcd_get_comic")
                .with_arguments(json!({"num": 1}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    let comic: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(comic["title"], "Barrel - Part 1");
    client.cancel().await.unwrap();
}
