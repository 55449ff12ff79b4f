//! `mcpist client-config`: prints an MCP client's configuration for this server.

use anyhow::{Context, Result};
use mcpist_core::clients::{McpClient, ServerEntry};

use crate::{cli::Client, commands::stdio_entry, config::Loaded, wiring};

/// Prints `client`'s configuration for this binary and config file: the
/// stdio command with absolute paths, or the HTTP URL with the bearer header.
pub(crate) async fn run(loaded: &Loaded, client: Client, http: bool) -> Result<()> {
    let client = match client {
        Client::ClaudeDesktop => McpClient::ClaudeDesktop,
        Client::ClaudeCode => McpClient::ClaudeCode,
        Client::Cursor => McpClient::Cursor,
        Client::Vscode => McpClient::VsCode,
    };
    let entry = if http {
        let (stores, _) = wiring::open_store(loaded, false)?;
        let bearer = stores
            .tokens
            .get_secret(wiring::BEARER_SECRET)
            .await?
            .context("no bearer token yet; run `mcpist init`")?;
        let base = loaded
            .config
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", loaded.config.server.bind));
        ServerEntry::Http {
            url: format!("{}/mcp", base.trim_end_matches('/')),
            bearer,
        }
    } else {
        stdio_entry(loaded)?
    };
    if http && !client.speaks_http() {
        eprintln!(
            "note: Claude Desktop starts local servers over stdio; drop --http unless your version supports remote servers in this file"
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&client.document(&entry))?
    );
    Ok(())
}
