//! An MCPist connector written outside the MCPist workspace: the xkcd JSON
//! API (<https://xkcd.com/json.html>) as two read-only tools. The whole
//! connector is this file; see `docs/writing-a-connector.md`.

use std::sync::Arc;

use async_trait::async_trait;
use mcpist_core::{
    Auth, CallContext, Connector, Error, Registration, Result, ToolHints, ToolSpec,
    connector::{parse_base_url, parse_config},
    mcp::{CallToolResult, ContentBlock, JsonObject},
    upstream::{Failure, status_error},
};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

/// The service name: the config table `[connectors.xkcd]` and the tool prefix.
pub const NAME: &str = "xkcd";

inventory::submit! {
    Registration {
        service: NAME,
        summary: "xkcd comics (example connector)",
        enabled_by_default: true,
        build: |raw| Ok(Arc::new(Xkcd::new(parse_config(NAME, raw)?)?)),
    }
}

/// `[connectors.xkcd]`: where the API is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XkcdConfig {
    /// The API root; tests point it at a fake.
    #[serde(default = "default_base_url")]
    pub base_url: String,
}

fn default_base_url() -> String {
    "https://xkcd.com".into()
}

/// The connector.
#[derive(Debug)]
pub struct Xkcd {
    base_url: Url,
}

impl Xkcd {
    /// Checks the config and builds the connector.
    pub fn new(config: XkcdConfig) -> Result<Self> {
        Ok(Self {
            base_url: parse_base_url(NAME, &config.base_url)?,
        })
    }
}

#[async_trait]
impl Connector for Xkcd {
    fn service(&self) -> &'static str {
        NAME
    }

    // xkcd needs no credential, so its tools take no `account` argument.
    fn auth(&self) -> Auth {
        Auth::None
    }

    fn base_url(&self) -> &Url {
        &self.base_url
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "latest",
                "The newest xkcd comic.",
                json!({"type": "object", "properties": {}, "additionalProperties": false}),
                ToolHints::READ,
                "comics",
            ),
            ToolSpec::new(
                "get_comic",
                "One xkcd comic by number.",
                json!({"type": "object", "properties": {"num": {"type": "integer", "minimum": 1}},
                    "required": ["num"], "additionalProperties": false}),
                ToolHints::READ,
                "comics",
            ),
        ]
    }

    async fn call(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: JsonObject,
    ) -> Result<CallToolResult> {
        let num = args
            .get("num")
            .and_then(Value::as_u64)
            .map(|n| n.to_string());
        let segments: Vec<&str> = match (tool, &num) {
            ("latest", _) => vec!["info.0.json"],
            ("get_comic", Some(n)) => vec![n, "info.0.json"],
            _ => {
                return Err(Error::InvalidArguments(format!(
                    "xkcd has no tool {tool:?}"
                )));
            }
        };
        let upstream = ctx.upstream();
        let response = upstream.send(upstream.get(&segments)?).await?;
        if !response.status().is_success() {
            return Err(status_error(
                upstream,
                response.status(),
                response.headers(),
                Failure::new("no such comic"),
            ));
        }
        let comic: Value = upstream.json(response).await?;
        let summary = json!({"num": comic["num"], "title": comic["safe_title"],
            "alt": comic["alt"], "image": comic["img"]});
        Ok(CallToolResult::success(vec![ContentBlock::text(
            summary.to_string(),
        )]))
    }
}
