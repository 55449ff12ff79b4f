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
//!
//! What the catalog's services need (each optional, usable in a config file too):
//!
//! ```toml
//! [connectors.todo.pagination]    # for tools with `paged = true`
//! items = "results"               # JSON pointer (no leading `/`) to the answer's list
//! next = "next_cursor"            # pointer to the next page's cursor (absent or null: last page)
//! cursor = "cursor"               # the argument (in the tool's query or body) that sends it back
//! # style = "link"                # `next` is a whole URL under base_url (Microsoft Graph's
//! #                               # @odata.nextLink): the cursor argument is that URL, requested
//! #                               # as it is (after checking it stays under base_url)
//!
//! [connectors.todo.errors]
//! message = ["error"]             # pointers tried in order for the vendor's error message
//! retry_after = "error_extra/retry_after"   # seconds to wait on a 429, read from the body
//! # a rate limit under another status, told by the body (Google's 403 rateLimitExceeded):
//! # rate_limit_reason = { status = 403, at = "error/errors/0/reason", values = ["rateLimitExceeded"] }
//!
//! [[connectors.todo.tools]]
//! # ...
//! paged = true                    # returns {"items": [...], "next_cursor": ...}
//! fixed_body = { status = "completed" }     # JSON body fields sent as written
//! # body = ["title", "id=task_id"]          # field=arg: the body field `id` gets argument task_id
//! # query = ["$top=top"]          # the same for query parameters; an array argument
//! #                               # repeats its parameter (`fields[]=a&fields[]=b`)
//! # items = "tasks"               # returns {"items": [...]}, each item projected to `result`
//! # fixed_query = { opt_fields = "name,completed" }   # query parameters sent as written
//!
//! [connectors.todo.identity]      # who a credential belongs to, for `mcpist accounts list`
//! path = "user"                   # a GET of literal segments
//! fields = ["email", "full_name"] # pointers tried in order
//! ```
//!
//! And for APIs that wrap every body in an envelope (Asana's `{"data": ...}`):
//!
//! ```toml
//! [connectors.todo]
//! body_wrap = "data"              # the JSON body goes inside {"data": ...}
//! unwrap = "data"                 # an answer's object is read from inside its "data"
//! ```
//!
//! A service shipped in the catalog (`catalog.rs`) also declares its OAuth
//! provider in an `[oauth]` table (`authorize_url`, `token_url`, `scopes`,
//! `extra_authorize_params`, `client_auth`), which `[connectors.NAME.oauth]`
//! overrides key by key.

use std::sync::Arc;

use async_trait::async_trait;
use std::collections::BTreeMap;

use mcpist_core::{
    Auth, CallContext, Connector, Error, Result, ToolHints, ToolSpec,
    connector::{ClientAuthMethod, OAuthSpec, parse_base_url},
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
    oauth: Option<OAuthConfig>,
    pagination: Option<Pagination>,
    body_wrap: Option<String>,
    unwrap: Option<String>,
    #[serde(default)]
    errors: ErrorFields,
    identity: Option<IdentityConfig>,
    tools: Vec<ToolConfig>,
}

/// `[identity]`: the GET that says who a credential belongs to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityConfig {
    /// A path of literal segments under `base_url`.
    path: String,
    /// JSON pointers (no leading `/`) tried in order for the label.
    fields: Vec<String>,
}

fn default_auth() -> String {
    "bearer".into()
}

/// `[oauth]` of a catalog service: its provider, as a built-in connector declares it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthConfig {
    authorize_url: String,
    token_url: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    extra_authorize_params: BTreeMap<String, String>,
    #[serde(default = "default_client_auth")]
    client_auth: ClientAuthMethod,
}

fn default_client_auth() -> ClientAuthMethod {
    ClientAuthMethod::Body
}

/// `[pagination]`: where a paged answer keeps its list and its next cursor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pagination {
    items: String,
    next: String,
    cursor: String,
    #[serde(default)]
    style: PageStyle,
}

/// How a paged answer names its next page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PageStyle {
    /// A token sent back as the cursor query parameter.
    #[default]
    Cursor,
    /// A whole URL under the base URL.
    Link,
}

/// `[errors]`: where an unsuccessful answer keeps its message and its wait.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorFields {
    #[serde(default = "default_messages")]
    message: Vec<String>,
    retry_after: Option<String>,
    rate_limit_reason: Option<RateLimitReason>,
}

/// A status other than 429 that is a rate limit when the body says so
/// (Google answers 403 with reason `rateLimitExceeded`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitReason {
    status: u16,
    at: String,
    values: Vec<String>,
}

impl Default for ErrorFields {
    fn default() -> Self {
        Self {
            message: default_messages(),
            retry_after: None,
            rate_limit_reason: None,
        }
    }
}

fn default_messages() -> Vec<String> {
    ["message", "error", "detail", "error_description"]
        .map(str::to_owned)
        .to_vec()
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
    #[serde(default)]
    paged: bool,
    items: Option<String>,
    #[serde(default)]
    fixed_body: Map<String, Value>,
    #[serde(default)]
    fixed_query: BTreeMap<String, String>,
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
    oauth: Option<OAuthSpec>,
    errors: ErrorFields,
    body_wrap: Option<String>,
    unwrap: Option<String>,
    identity: Option<IdentityConfig>,
    tools: Vec<Tool>,
}

#[derive(Debug)]
struct Tool {
    spec: ToolSpec,
    method: Method,
    /// The path template, checked at build time.
    path: String,
    /// Query parameters and the arguments they take.
    query: Vec<(String, String)>,
    /// Body fields and the arguments they take (`field=arg`, or one name for both).
    body: Vec<(String, String)>,
    fixed_body: Map<String, Value>,
    fixed_query: Vec<(String, String)>,
    result: Vec<String>,
    /// Where the list is, for a tool that answers with one inside an object.
    items: Option<String>,
    /// Where the next cursor is, for a paged tool.
    paged: Option<Pagination>,
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
        let paged = match (tool.paged, &config.pagination) {
            (false, _) => None,
            (true, None) => {
                return Err(bad(
                    "paged",
                    "needs a [pagination] table (items, next, cursor)".into(),
                ));
            }
            (true, Some(p))
                if p.style == PageStyle::Cursor
                    && !tool.query.contains(&p.cursor)
                    && !tool.body.contains(&p.cursor) =>
            {
                return Err(bad(
                    "paged",
                    format!(
                        "the cursor argument {:?} must be in query or body",
                        p.cursor
                    ),
                ));
            }
            (true, Some(p))
                if p.style == PageStyle::Link && !properties.contains_key(&p.cursor) =>
            {
                return Err(bad(
                    "paged",
                    format!(
                        "the cursor argument {:?} must be a property of input_schema",
                        p.cursor
                    ),
                ));
            }
            (true, Some(p)) => Some(p.clone()),
        };
        let query = pairs(&tool.query);
        let body = pairs(&tool.body);
        if let Some(key) = tool
            .fixed_body
            .keys()
            .find(|k| body.iter().any(|(f, _)| f == *k))
        {
            return Err(bad(
                "fixed_body",
                format!("{key:?} is also an argument in body"),
            ));
        }
        let body_args: Vec<String> = body.iter().map(|(_, a)| a.clone()).collect();
        let query_args: Vec<String> = query.iter().map(|(_, a)| a.clone()).collect();
        for (key, args) in [("query", &query_args), ("body", &body_args)] {
            if let Some(unknown) = args.iter().find(|a| !properties.contains_key(a.as_str())) {
                return Err(bad(
                    key,
                    format!("{unknown:?} is not a property of input_schema"),
                ));
            }
        }
        let mut schema = tool.input_schema.clone();
        schema["required"] = json!(required);
        if let Some(page) = &paged {
            let cursor = &mut schema["properties"][&page.cursor];
            if cursor.get("description").is_none() {
                cursor["description"] = json!("next_cursor of the previous page");
            }
        }
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
            query,
            body,
            fixed_body: tool.fixed_body,
            fixed_query: tool.fixed_query.into_iter().collect(),
            result: tool.result,
            // A tool's own `items` wins over [pagination] items (APIs name
            // each list after what it holds: Airtable's bases, records).
            items: tool.items.or(paged.as_ref().map(|p| p.items.clone())),
            paged,
        });
    }
    if let Some(identity) = &config.identity {
        rest::check(&identity.path, |arg| {
            Err(format!("{{{arg}}}: an identity path takes no arguments"))
        })
        .map_err(|m| Error::config(name.to_owned(), format!("identity: path: {m}")))?;
    }
    let oauth = config.oauth.map(|o| OAuthSpec {
        authorize_url: o.authorize_url,
        token_url: o.token_url,
        scopes: o.scopes,
        extra_authorize_params: o.extra_authorize_params.into_iter().collect(),
        client_auth: o.client_auth,
    });
    Ok(Arc::new(DeclarativeConnector {
        service,
        base_url: parse_base_url(service, &config.base_url)?,
        auth,
        oauth,
        errors: config.errors,
        body_wrap: config.body_wrap,
        unwrap: config.unwrap,
        identity: config.identity,
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

    fn oauth(&self) -> Option<OAuthSpec> {
        self.oauth.clone()
    }

    async fn identity(&self, ctx: &CallContext) -> Result<Option<String>> {
        let Some(identity) = &self.identity else {
            return Ok(None);
        };
        let segments = rest::fill(&identity.path, &Map::new())?;
        let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let upstream = ctx.upstream();
        let response = upstream.send(upstream.get(&refs)?).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let raw = upstream.text(response).await.unwrap_or_default();
        let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(self.failure(upstream, status, &headers, &body, &raw));
        }
        Ok(identity.fields.iter().find_map(|f| {
            body.pointer(&format!("/{f}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        }))
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
        let next_link = tool
            .paged
            .as_ref()
            .filter(|p| p.style == PageStyle::Link)
            .and_then(|p| args.get(&p.cursor))
            .and_then(Value::as_str);
        let mut request = match next_link {
            Some(link) => self.link_request(upstream, link)?,
            None => {
                // An array argument is the parameter repeated (`fields[]=a&fields[]=b`).
                let mut query: Vec<(&str, String)> = Vec::new();
                for (param, arg) in &tool.query {
                    match args.get(arg) {
                        Some(Value::Array(values)) => {
                            query.extend(values.iter().map(|v| (param.as_str(), rest::text(v))));
                        }
                        Some(v) => query.push((param.as_str(), rest::text(v))),
                        None => {}
                    }
                }
                query.extend(
                    tool.fixed_query
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.clone())),
                );
                upstream.request(tool.method.clone(), &refs)?.query(&query)
            }
        };
        if !tool.body.is_empty() || !tool.fixed_body.is_empty() {
            let mut body: Map<String, Value> = tool
                .body
                .iter()
                .filter_map(|(field, arg)| args.get(arg).map(|v| (field.clone(), v.clone())))
                .collect();
            body.extend(tool.fixed_body.clone());
            request = match &self.body_wrap {
                Some(key) => request.json(&json!({ key: body })),
                None => request.json(&body),
            };
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
            return Err(self.failure(upstream, status, &headers, &body, &raw));
        }
        let out = match &tool.items {
            _ if body.is_null() => json!({"ok": true, "status": status.as_u16()}),
            Some(items) => listed(&body, items, tool.paged.as_ref(), &tool.result),
            None => {
                let inner = match &self.unwrap {
                    Some(key) => body.get(key).cloned().unwrap_or(body),
                    None => body,
                };
                if tool.result.is_empty() {
                    inner
                } else {
                    rest::pick(&inner, &tool.result)
                }
            }
        };
        let mut text = out.to_string();
        mcpist_core::output::cut(&mut text, 60_000, "… [truncated]");
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }
}

/// `field=arg` entries as (field, arg) pairs; a plain name is both.
fn pairs(entries: &[String]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| match e.split_once('=') {
            Some((field, arg)) => (field.to_owned(), arg.to_owned()),
            None => (e.clone(), e.clone()),
        })
        .collect()
}

impl DeclarativeConnector {
    /// A GET of `link`, a next-page URL the upstream gave, which must lie
    /// under the base URL; its path segments and query are sent as they are.
    fn link_request(
        &self,
        upstream: &mcpist_core::connector::Upstream,
        link: &str,
    ) -> Result<reqwest::RequestBuilder> {
        let refused = || {
            Error::InvalidArguments(format!(
                "the cursor must be a next-page link under {} as {} returned it",
                self.base_url, self.service
            ))
        };
        let url = Url::parse(link).map_err(|_| refused())?;
        let base = self.base_url.as_str().trim_end_matches('/');
        if url.origin() != self.base_url.origin()
            || !url
                .path()
                .starts_with(self.base_url.path().trim_end_matches('/'))
        {
            return Err(refused());
        }
        let below = &url.as_str()[..url.as_str().find('?').unwrap_or(url.as_str().len())];
        let rest = below.strip_prefix(base).ok_or_else(refused)?;
        let segments: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        Ok(upstream.request(Method::GET, &refs)?.query(&query))
    }

    /// The error of an unsuccessful answer: the vendor's message where
    /// `[errors] message` points (else the start of the body), and on a 429
    /// without a `Retry-After` header the wait `[errors] retry_after` names.
    fn failure(
        &self,
        upstream: &mcpist_core::connector::Upstream,
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &Value,
        raw: &str,
    ) -> Error {
        let mut message = self
            .errors
            .message
            .iter()
            .find_map(|p| {
                body.pointer(&format!("/{p}"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| raw.chars().take(300).collect());
        if message.is_empty() {
            message = status.canonical_reason().unwrap_or("error").to_owned();
        }
        let error = mcpist_core::upstream::status_error(
            upstream,
            status,
            headers,
            mcpist_core::upstream::Failure::new(message),
        );
        let wait = self
            .errors
            .retry_after
            .as_ref()
            .and_then(|p| body.pointer(&format!("/{p}")))
            .and_then(Value::as_u64);
        let limited_by_reason = self.errors.rate_limit_reason.as_ref().is_some_and(|r| {
            r.status == status.as_u16()
                && body
                    .pointer(&format!("/{}", r.at))
                    .and_then(Value::as_str)
                    .is_some_and(|v| r.values.iter().any(|x| x == v))
        });
        let error = match error {
            Error::Upstream { service, .. } if limited_by_reason => Error::RateLimited {
                service,
                until: mcpist_core::upstream::rate_limit_until(headers),
            },
            other => other,
        };
        match (error, wait) {
            (
                Error::RateLimited {
                    service,
                    until: None,
                },
                Some(secs),
            ) => Error::RateLimited {
                service,
                until: Some(std::time::SystemTime::now() + std::time::Duration::from_secs(secs)),
            },
            (error, _) => error,
        }
    }
}

/// A percent-encoded path segment as text.
fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The list at `items` in `body` as `{"items": [...], "next_cursor": ...}`,
/// each item projected to `fields` (all of it when none are named);
/// `next_cursor` only for a paged tool with a next page.
fn listed(body: &Value, items: &str, page: Option<&Pagination>, fields: &[String]) -> Value {
    let items = body
        .pointer(&format!("/{items}"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    if fields.is_empty() {
                        i.clone()
                    } else {
                        mcpist_core::output::project(i, fields)
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = json!({ "items": Value::Array(items) });
    let Some(page) = page else {
        return out;
    };
    match body.pointer(&format!("/{}", page.next)) {
        Some(Value::String(s)) if !s.is_empty() => out["next_cursor"] = json!(s),
        Some(n @ Value::Number(_)) => out["next_cursor"] = n.clone(),
        _ => {}
    }
    out
}
