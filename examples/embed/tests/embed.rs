//! The host application keeps its route, and MCPist answers beside it with
//! the host's tokens, behind the bearer.

use mcpist_connectors::github::fake::FakeGithub;
use mcpist_example_embed::{HostTokens, app};
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use secrecy::SecretString;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcpist_mounted_in_a_host_app_uses_the_hosts_tokens() {
    let fake = FakeGithub::start().await;
    fake.accept_token("host-token-1", "octocat");
    let tokens = HostTokens::new([("github".to_owned(), SecretString::from("host-token-1"))]);
    let router = app(
        tokens,
        &fake.base_url(),
        &SecretString::from("embed-bearer"),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let hello = reqwest::get(format!("http://{addr}/hello"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(hello, "hello from the host application");

    let config = StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp"))
        .auth_header("embed-bearer");
    let client = ().serve(StreamableHttpClientTransport::from_config(config)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true)),
        "the host chose read-only"
    );
    let me = client
        .call_tool(CallToolRequestParams::new("github_get_me"))
        .await
        .unwrap();
    assert_eq!(me.is_error, Some(false));
    assert_eq!(
        fake.requests()[0].authorization.as_deref(),
        Some("Bearer host-token-1")
    );
    client.cancel().await.unwrap();
}
