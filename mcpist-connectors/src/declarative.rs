//! Connectors defined in the config file: a REST service described as data,
//! no Rust needed.
//!
//! ```toml
//! [connectors.todo]
//! kind = "http"
//! base_url = "https://api.todoist.com/rest/v2"
//! auth = "bearer"                 # bearer | header | query | none
//! # auth_name = "X-Api-Key"       # the header or query parameter, for header / query
//!
//! [[connectors.todo.tools]]
//! name = "list_tasks"
//! description = "Open tasks, optionally of one project."
//! method = "GET"                  # GET | POST | PUT | PATCH | DELETE
//! path = "tasks"                  # `{arg}` parts become single, percent-encoded segments
//! query = ["project_id"]          # arguments sent as query parameters
//! # body = ["content"]            # arguments sent as JSON body fields
//! toolset = "tasks"
//! result = ["id", "content", "due=due/string"]   # fields, or name=json/pointer
//! input_schema = { type = "object", properties = { project_id = { type = "string" } } }
//! ```
//!
//! The host stays locked to `base_url`; policy, audit, accounts, OAuth
//! (`[connectors.todo.oauth]` with `authorize_url` and `token_url`), retries
//! and timeouts apply exactly as to built-in connectors.

use std::sync::Arc;

use async_trait::async_trait;
use mcpist_core::{
    Auth, CallContext, Connector, Error, Result, ToolHints, ToolSpec,
    connector::parse_base_url,
    mcp::{CallToolResult, ContentBlock, JsonObject},
};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

use crate::rest;

/// The `kind` value that selects this connector.
pub const KIND: &str = "http";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    kind: String,
    base_url: String,
    #[serde(default = "default_auth")]
    auth: String,
    auth_name: Option<String>,
    tools: Vec<ToolConfig>,
}

fn default_auth() -> String {
    "bearer".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolConfig {
    name: String,
    description: String,
    #[serde(default = "default_method")]
    method: String,
    path: String,
    #[serde(default)]
    query: Vec<String>,
    #[serde(default)]
    body: Vec<String>,
    #[serde(default = "default_toolset")]
    toolset: String,
    #[serde(default)]
    result: Vec<String>,
    input_schema: Value,
    read_only: Option<bool>,
    destructive: Option<bool>,
    idempotent: Option<bool>,
}

fn default_method() -> String {
    "GET".into()
}

fn default_toolset() -> String {
    "default".into()
}

/// A REST service described in the config file.
#[derive(Debug)]
pub struct DeclarativeConnector {
    service: &'static str,
    base_url: Url,
    auth: Auth,
    tools: Vec<Tool>,
}

#[derive(Debug)]
struct Tool {
    spec: ToolSpec,
    method: Method,
    /// The path template, checked at build time.
    path: String,
    query: Vec<String>,
    body: Vec<String>,
    result: Vec<String>,
}

/// Names live as long as the process; config-defined connectors are built
/// once at start-up, so this leaks a bounded few bytes.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// Whether `table` asks for a config-defined connector.
pub fn is_declarative(table: &Value) -> bool {
    table.get("kind").and_then(Value::as_str) == Some(KIND)
}

/// Builds the connector `name` from its config table (policy and other core
/// keys already taken out). Errors name the connector, the tool and the key.
pub fn build(name: &str, table: Value) -> Result<Arc<dyn Connector>> {
    mcpist_core::names::check_service("connector name", name)
        .map_err(|e| Error::config(name.to_owned(), e.to_string()))?;
    let bad = |message: String| Error::config(name.to_owned(), message);
    let config: Config = serde_json::from_value(table).map_err(|e| bad(e.to_string()))?;
    if config.kind != KIND {
        return Err(bad(format!("kind must be \"{KIND}\"")));
    }
    let service = leak(name);
    let auth_name = || {
        config
            .auth_name
            .as_deref()
            .filter(|n| mcpist_core::names::is_token_name(n))
            .map(leak)
            .ok_or_else(|| {
                bad(format!(
                    "auth = \"{}\" needs auth_name (letters, digits, - or _)",
                    config.auth
                ))
            })
    };
    let auth = match config.auth.as_str() {
        "bearer" => Auth::Bearer,
        "none" => Auth::None,
        "header" => Auth::Header(auth_name()?),
        "query" => Auth::Query(auth_name()?),
        other => {
            return Err(bad(format!(
                "auth = {other:?}: use bearer, header, query or none"
            )));
        }
    };
    if config.tools.is_empty() {
        return Err(bad(
            "tools: define at least one [[connectors.NAME.tools]]".into()
        ));
    }
    let mut tools = Vec::new();
    for (i, tool) in config.tools.into_iter().enumerate() {
        let at = format!("tools[{i}] ({})", tool.name);
        let bad = |key: &str, message: String| {
            Error::config(name.to_owned(), format!("{at}: {key}: {message}"))
        };
        mcpist_core::names::check_tool_part("tool name", &tool.name)
            .map_err(|e| bad("name", e.to_string()))?;
        let method = match tool.method.to_ascii_uppercase().as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            other => {
                return Err(bad(
                    "method",
                    format!("{other:?} is not GET, POST, PUT, PATCH or DELETE"),
                ));
            }
        };
        let properties = tool
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if tool.input_schema.get("type") != Some(&json!("object")) {
            return Err(bad(
                "input_schema",
                "must be an object schema (type = \"object\")".into(),
            ));
        }
        let mut required: Vec<String> = tool
            .input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        rest::check(&tool.path, |arg| {
            if !properties.contains_key(arg) {
                return Err(format!("{{{arg}}} is not a property of input_schema"));
            }
            if !required.iter().any(|r| r == arg) {
                required.push(arg.to_owned());
            }
            Ok(())
        })
        .map_err(|message| bad("path", message))?;
        for (key, args) in [("query", &tool.query), ("body", &tool.body)] {
            if let Some(unknown) = args.iter().find(|a| !properties.contains_key(a.as_str())) {
                return Err(bad(
                    key,
                    format!("{unknown:?} is not a property of input_schema"),
                ));
            }
        }
        let mut schema = tool.input_schema.clone();
        schema["required"] = json!(required);
        let read_only = tool.read_only.unwrap_or(method == Method::GET);
        let hints = ToolHints {
            read_only,
            destructive: tool.destructive.unwrap_or(method == Method::DELETE),
            idempotent: tool
                .idempotent
                .unwrap_or(matches!(method, Method::GET | Method::PUT | Method::DELETE)),
            open_world: true,
        };
        tools.push(Tool {
            spec: ToolSpec::new(
                tool.name.clone(),
                tool.description,
                schema,
                hints,
                leak(&tool.toolset),
            ),
            method,
            path: tool.path,
            query: tool.query,
            body: tool.body,
            result: tool.result,
        });
    }
    Ok(Arc::new(DeclarativeConnector {
        service,
        base_url: parse_base_url(service, &config.base_url)?,
        auth,
        tools,
    }))
}

#[async_trait]
impl Connector for DeclarativeConnector {
    fn service(&self) -> &'static str {
        self.service
    }

    fn auth(&self) -> Auth {
        self.auth
    }

    fn base_url(&self) -> &Url {
        &self.base_url
    }

    fn tools(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec.clone()).collect()
    }

    async fn call(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: JsonObject,
    ) -> Result<CallToolResult> {
        let Some(tool) = self.tools.iter().find(|t| t.spec.name == tool) else {
            return Err(Error::InvalidArguments(format!(
                "{} has no tool {tool:?}",
                self.service
            )));
        };
        let segments = rest::fill(&tool.path, &args)?;
        let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let upstream = ctx.upstream();
        let query = rest::query(tool.query.iter().map(String::as_str), &args);
        let mut request = upstream.request(tool.method.clone(), &refs)?.query(&query);
        if !tool.body.is_empty() {
            let body: Map<String, Value> = tool
                .body
                .iter()
                .filter_map(|b| args.get(b).map(|v| (b.clone(), v.clone())))
                .collect();
            request = request.json(&body);
        }
        let response = upstream.send(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let raw = match upstream.text(response).await {
            Ok(raw) => raw,
            // Over the size cap.
            Err(e @ Error::Upstream { .. }) => return Err(e),
            Err(_) => String::new(),
        };
        let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        if !status.is_success() {
            let mut message = ["message", "error", "detail", "error_description"]
                .iter()
                .find_map(|k| body.get(*k).and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| raw.chars().take(300).collect());
            if message.is_empty() {
                message = status.canonical_reason().unwrap_or("error").to_owned();
            }
            return Err(mcpist_core::upstream::status_error(
                upstream,
                status,
                &headers,
                mcpist_core::upstream::Failure::new(message),
            ));
        }
        let out = if tool.result.is_empty() || body.is_null() {
            if body.is_null() {
                json!({"ok": true, "status": status.as_u16()})
            } else {
                body
            }
        } else {
            rest::pick(&body, &tool.result)
        };
        let mut text = out.to_string();
        mcpist_core::output::cut(&mut text, 60_000, "… [truncated]");
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }
}
