//! Runs the host application: `GITHUB_TOKEN=… MCP_BEARER=… cargo run -p mcpist-example-embed`.
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let token = std::env::var("GITHUB_TOKEN").map_err(|_| "set GITHUB_TOKEN")?;
    let bearer = SecretString::from(std::env::var("MCP_BEARER").map_err(|_| "set MCP_BEARER")?);
    let tokens =
        mcpist_example_embed::HostTokens::new([("github".to_owned(), SecretString::from(token))]);
    // Tool calls in flight at Ctrl-C get 10 s to finish, then are cut off.
    let (app, shutdown) = mcpist_example_embed::app_with_shutdown(
        tokens,
        "https://api.github.com",
        &bearer,
        std::time::Duration::from_secs(10),
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    eprintln!(
        "host app on http://{}/hello, MCP at /mcp",
        listener.local_addr()?
    );
    // MCPist's own loop: header-read and idle timeouts and a connection cap.
    let limits = mcpist_core::http::ConnectionLimits::default();
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    mcpist_core::http::serve_until(listener, app, limits, shutdown, ctrl_c).await?;
    Ok(())
}
