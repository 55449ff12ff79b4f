//! MCP client configuration files: what to paste into Claude Desktop,
//! Claude Code, Cursor or VS Code to reach this server.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// An MCP client whose configuration file MCPist can write an entry for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpClient {
    /// Claude Desktop (`claude_desktop_config.json`).
    ClaudeDesktop,
    /// Claude Code (`.mcp.json` in a project).
    ClaudeCode,
    /// Cursor (`~/.cursor/mcp.json`).
    Cursor,
    /// VS Code (`.vscode/mcp.json`).
    VsCode,
}

impl McpClient {
    /// Every client, in the order pages list them.
    pub const ALL: [Self; 4] = [
        Self::ClaudeDesktop,
        Self::ClaudeCode,
        Self::Cursor,
        Self::VsCode,
    ];

    /// The client's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClaudeDesktop => "Claude Desktop",
            Self::ClaudeCode => "Claude Code",
            Self::Cursor => "Cursor",
            Self::VsCode => "VS Code",
        }
    }

    /// Where the client reads the document from.
    pub fn file(self) -> &'static str {
        match self {
            Self::ClaudeDesktop => {
                "claude_desktop_config.json (Settings → Developer → Edit Config)"
            }
            Self::ClaudeCode => {
                ".mcp.json in your project, or `claude mcp add-json mcpist '<entry>'`"
            }
            Self::Cursor => "~/.cursor/mcp.json",
            Self::VsCode => ".vscode/mcp.json in your workspace",
        }
    }

    /// Whether the client's config file can name a remote (HTTP) server;
    /// Claude Desktop's file only starts local servers over stdio.
    pub fn speaks_http(self) -> bool {
        self != Self::ClaudeDesktop
    }

    /// The client's whole config document with MCPist as server `mcpist`.
    pub fn document(self, entry: &ServerEntry) -> Value {
        let mut server = match entry {
            ServerEntry::Stdio { command, args } => json!({"command": command, "args": args}),
            ServerEntry::Http { url, bearer } => json!({
                "type": "http",
                "url": url,
                "headers": {"Authorization": format!("Bearer {}", bearer.expose_secret())},
            }),
        };
        if matches!(entry, ServerEntry::Stdio { .. })
            && matches!(self, Self::VsCode | Self::ClaudeCode)
        {
            server["type"] = json!("stdio");
        }
        match self {
            Self::VsCode => json!({"servers": {"mcpist": server}}),
            Self::ClaudeDesktop | Self::ClaudeCode | Self::Cursor => {
                json!({"mcpServers": {"mcpist": server}})
            }
        }
    }
}

/// How a client reaches MCPist.
#[derive(Debug, Clone)]
pub enum ServerEntry {
    /// The client starts `command args…` and speaks MCP over its stdio.
    Stdio {
        /// The `mcpist` binary, as an absolute path.
        command: String,
        /// Its arguments (`--config FILE serve --stdio`).
        args: Vec<String>,
    },
    /// The client calls `url` with the bearer token.
    Http {
        /// The MCP endpoint (`…/mcp`).
        url: String,
        /// The MCP bearer token.
        bearer: SecretString,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_use_each_clients_shape() {
        let http = ServerEntry::Http {
            url: "http://127.0.0.1:8765/mcp".into(),
            bearer: SecretString::from("b"),
        };
        let vscode = McpClient::VsCode.document(&http);
        assert_eq!(vscode["servers"]["mcpist"]["type"], "http");
        assert_eq!(
            McpClient::Cursor.document(&http)["mcpServers"]["mcpist"]["headers"]["Authorization"],
            "Bearer b"
        );
        let stdio = ServerEntry::Stdio {
            command: "/bin/mcpist".into(),
            args: vec!["serve".into(), "--stdio".into()],
        };
        assert_eq!(
            McpClient::ClaudeCode.document(&stdio)["mcpServers"]["mcpist"]["type"],
            "stdio"
        );
        assert!(
            McpClient::ClaudeDesktop.document(&stdio)["mcpServers"]["mcpist"]["type"].is_null()
        );
    }
}
