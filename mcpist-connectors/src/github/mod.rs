//! [GitHub](https://docs.github.com/en/rest) connector: the REST API with a
//! bearer token (a personal access token, fine-grained or classic).
//!
//! Configuration, the `[connectors.github]` table:
//!
//! ```toml
//! [connectors.github]
//! base_url = "https://api.github.com"   # GitHub Enterprise Server: "https://HOST/api/v3"
//! ```

mod client;
mod contents;
#[cfg(feature = "fake")]
pub mod fake;
mod git;
mod overview;
mod reads;
mod resources;
mod results;
mod tools;

use std::sync::Arc;

use async_trait::async_trait;
use mcpist_core::{
    CallContext, Connector, Registration, Result, ToolSpec,
    connector::{parse_base_url, parse_config},
    mcp::{CallToolResult, JsonObject, PromptMessage, ResourceContents},
    oauth::{ClientAuthMethod, OAuthSpec},
    resources::{CompletionRequest, PromptSpec, ResourceSpec},
};
use serde::Deserialize;
use url::Url;

/// Config table name and tool-name prefix.
pub const NAME: &str = "github";

/// The public GitHub API.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";

mcpist_core::inventory::submit! {
    Registration {
        service: NAME,
        summary: "GitHub: repositories and issues (REST API, personal access token)",
        enabled_by_default: true,
        build,
    }
}

fn build(raw: serde_json::Value) -> Result<Arc<dyn Connector>> {
    Ok(Arc::new(GithubConnector::new(parse_config(NAME, raw)?)?))
}

/// Settings for the GitHub connector: the `[connectors.github]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GithubConfig {
    /// API root: `https://api.github.com`, or `https://HOST/api/v3` for GitHub
    /// Enterprise Server. Plain `http` is accepted only on loopback.
    #[serde(default = "default_base_url")]
    pub base_url: String,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            base_url: default_base_url(),
        }
    }
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.into()
}

/// Exposes GitHub repositories and issues as MCP tools.
#[derive(Debug, Clone)]
pub struct GithubConnector {
    base_url: Url,
    // The repositories each account saw lately, for completion.
    seen: Arc<resources::Seen>,
}

impl GithubConnector {
    /// Validates `config` and builds the connector.
    pub fn new(config: GithubConfig) -> Result<Self> {
        Ok(Self {
            base_url: parse_base_url(NAME, &config.base_url)?,
            seen: Arc::default(),
        })
    }
}

#[async_trait]
impl Connector for GithubConnector {
    fn service(&self) -> &'static str {
        NAME
    }

    fn base_url(&self) -> &Url {
        &self.base_url
    }

    fn tools(&self) -> Vec<ToolSpec> {
        tools::all()
    }

    /// An OAuth app (or a GitHub App's user tokens) on github.com, or on a
    /// GitHub Enterprise Server at the host of `base_url`.
    fn oauth(&self) -> Option<OAuthSpec> {
        let web = if self.base_url.host_str() == Some("api.github.com") {
            "https://github.com".to_owned()
        } else {
            self.base_url.origin().ascii_serialization()
        };
        Some(OAuthSpec {
            authorize_url: format!("{web}/login/oauth/authorize"),
            token_url: format!("{web}/login/oauth/access_token"),
            scopes: vec!["repo".into(), "read:user".into()],
            extra_authorize_params: Vec::new(),
            client_auth: ClientAuthMethod::Body,
        })
    }

    async fn identity(&self, ctx: &CallContext) -> Result<Option<String>> {
        let page = client::get(ctx, &["user"], &[]).await?;
        Ok(page
            .body
            .get("login")
            .and_then(|l| l.as_str())
            .map(str::to_owned))
    }

    async fn call(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: JsonObject,
    ) -> Result<CallToolResult> {
        tools::call(ctx, tool, args).await
    }

    fn resources(&self) -> Vec<ResourceSpec> {
        resources::specs()
    }

    async fn read_resource(
        &self,
        ctx: &CallContext,
        resource: &str,
        uri: &str,
        params: JsonObject,
    ) -> Result<Vec<ResourceContents>> {
        resources::read(ctx, resource, uri, params).await
    }

    fn prompts(&self) -> Vec<PromptSpec> {
        resources::prompts()
    }

    fn changed_resources(&self, tool: &str, args: &JsonObject) -> Vec<String> {
        resources::changed(tool, args)
    }

    async fn get_prompt(
        &self,
        ctx: &CallContext,
        prompt: &str,
        args: JsonObject,
    ) -> Result<Vec<PromptMessage>> {
        resources::prompt(ctx, prompt, args).await
    }

    async fn complete(
        &self,
        ctx: &CallContext,
        request: &CompletionRequest,
    ) -> Result<Vec<String>> {
        self.seen.complete(ctx, request).await
    }
}
