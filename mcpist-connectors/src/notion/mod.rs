//! [Notion](https://developers.notion.com/reference) connector: pages as
//! Markdown, databases, comments and users, with an internal integration token
//! or a public integration's OAuth grant.
//!
//! Configuration, the `[connectors.notion]` table:
//!
//! ```toml
//! [connectors.notion]
//! base_url = "https://api.notion.com"
//! notion_version = "2022-06-28"   # the Notion-Version header sent on every request
//! requests_per_second = 3         # Notion's documented average limit per integration
//! ```

mod client;
#[cfg(feature = "fake")]
pub mod fake;
mod markdown;
#[cfg(test)]
mod props;
mod titles;
mod tools;

use std::sync::Arc;

use async_trait::async_trait;
use mcpist_core::{
    CallContext, Connector, Registration, Result, ToolSpec,
    connector::{parse_base_url, parse_config},
    mcp::{CallToolResult, JsonObject, ResourceContents},
    oauth::{ClientAuthMethod, OAuthSpec},
    resources::{CompletionRequest, ResourceSpec},
};
use serde::Deserialize;
use url::Url;

use self::client::Pacer;

/// Config table name and tool-name prefix.
pub const NAME: &str = "notion";

/// The public Notion API.
pub const DEFAULT_BASE_URL: &str = "https://api.notion.com";

/// The API version sent as `Notion-Version` unless configured otherwise.
pub const DEFAULT_NOTION_VERSION: &str = "2022-06-28";

mcpist_core::inventory::submit! {
    Registration {
        service: NAME,
        summary: "Notion: search, pages as Markdown, databases, comments, users",
        enabled_by_default: true,
        build,
    }
}

fn build(raw: serde_json::Value) -> Result<Arc<dyn Connector>> {
    Ok(Arc::new(NotionConnector::new(parse_config(NAME, raw)?)?))
}

/// Settings for the Notion connector: the `[connectors.notion]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NotionConfig {
    /// API root; tests point it at a fake. Plain `http` only on loopback.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The `Notion-Version` header.
    #[serde(default = "default_version")]
    pub notion_version: String,
    /// Requests per second this connector sends at most (Notion allows an
    /// average of three per integration).
    #[serde(default = "default_rate")]
    pub requests_per_second: f64,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.into()
}

fn default_version() -> String {
    DEFAULT_NOTION_VERSION.into()
}

fn default_rate() -> f64 {
    3.0
}

/// Exposes a Notion workspace as MCP tools.
#[derive(Debug)]
pub struct NotionConnector {
    base_url: Url,
    version: String,
    pacer: Pacer,
    // Recent title searches per account, for completion.
    titles: Arc<titles::Titles>,
}

impl NotionConnector {
    /// Validates `config` and builds the connector.
    pub fn new(config: NotionConfig) -> Result<Self> {
        if !(config.requests_per_second > 0.0 && config.requests_per_second.is_finite()) {
            return Err(mcpist_core::Error::config(
                NAME,
                "requests_per_second must be a positive number",
            ));
        }
        let valid_version = config.notion_version.len() == 10
            && config
                .notion_version
                .chars()
                .all(|c| c.is_ascii_digit() || c == '-');
        if !valid_version {
            return Err(mcpist_core::Error::config(
                NAME,
                format!(
                    "notion_version {:?} is not a date like 2022-06-28",
                    config.notion_version
                ),
            ));
        }
        Ok(Self {
            base_url: parse_base_url(NAME, &config.base_url)?,
            version: config.notion_version,
            pacer: Pacer::new(config.requests_per_second),
            titles: Arc::default(),
        })
    }
}

#[async_trait]
impl Connector for NotionConnector {
    fn service(&self) -> &'static str {
        NAME
    }

    fn base_url(&self) -> &Url {
        &self.base_url
    }

    fn tools(&self) -> Vec<ToolSpec> {
        tools::all()
    }

    /// A public integration; internal integrations use a pasted token instead.
    fn oauth(&self) -> Option<OAuthSpec> {
        let origin = self.base_url.origin().ascii_serialization();
        Some(OAuthSpec {
            authorize_url: format!("{origin}/v1/oauth/authorize"),
            token_url: format!("{origin}/v1/oauth/token"),
            scopes: Vec::new(),
            extra_authorize_params: vec![("owner".into(), "user".into())],
            client_auth: ClientAuthMethod::Basic,
        })
    }

    async fn identity(&self, ctx: &CallContext) -> Result<Option<String>> {
        let me = self.client(ctx).get(&["v1", "users", "me"], &[]).await?;
        Ok(tools::user_label(&me))
    }

    async fn call(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: JsonObject,
    ) -> Result<CallToolResult> {
        tools::call(&self.client(ctx), tool, args).await
    }

    fn resources(&self) -> Vec<ResourceSpec> {
        vec![
            ResourceSpec::new(
                "page",
                "notion://pages/{page_id}",
                "A page's content as Markdown (nested blocks three levels deep)",
                "pages",
            )
            .mime_type("text/markdown"),
        ]
    }

    async fn read_resource(
        &self,
        ctx: &CallContext,
        resource: &str,
        uri: &str,
        params: JsonObject,
    ) -> Result<Vec<ResourceContents>> {
        if resource != "page" {
            return Err(mcpist_core::Error::InvalidArguments(format!(
                "no resource {resource}"
            )));
        }
        let id = params
            .get("page_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let markdown = tools::page_markdown(&self.client(ctx), id, 3).await?;
        Ok(vec![
            ResourceContents::text(markdown, uri).with_mime_type("text/markdown"),
        ])
    }

    /// Pages whose title matches what was typed (Notion's search), as ids.
    async fn complete(
        &self,
        ctx: &CallContext,
        request: &CompletionRequest,
    ) -> Result<Vec<String>> {
        if request.argument != "page_id" {
            return Ok(Vec::new());
        }
        self.titles
            .complete(&self.client(ctx), &request.value)
            .await
    }
}

impl NotionConnector {
    fn client<'a>(&'a self, ctx: &'a CallContext) -> client::Notion<'a> {
        client::Notion {
            ctx,
            version: &self.version,
            pacer: &self.pacer,
        }
    }
}
