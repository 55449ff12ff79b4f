//! Connectors: upstream services exposed as MCP tools.
//!
//! A connector declares its service name, how it authenticates, the base URL it
//! may call, and its tools. It never sees the token store: each call gets a
//! [`CallContext`] whose [`Upstream`] client is bound to the connector's base
//! URL and injects the selected account's credential into every request.

// MCP logging (`notifications/message`, `logging/setLevel`) is deprecated from
// protocol 2026-07-28 (SEP-2577) but still part of 2025-11-25, which clients speak.
#![allow(deprecated)]

use std::{borrow::Cow, fmt, sync::Arc};

use async_trait::async_trait;
use rmcp::{
    Peer, RoleServer,
    model::{
        CallToolResult, ClientCapabilities, CreateMessageRequestParams, CreateMessageResult,
        ElicitRequestParams, ElicitResult, InputRequest, JsonObject, LoggingLevel,
        LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, PromptMessage,
        ResourceContents,
    },
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::{
    Error, Result,
    resources::{CompletionRequest, PromptSpec, ResourceSpec},
};

// The HTTP side of the contract lives in `upstream`; these names stay
// reachable here, where connector crates have always found them.
pub use crate::upstream::{
    Auth, DEFAULT_MAX_RESPONSE_BYTES, StaticToken, TokenSource, Upstream, UpstreamSettings,
    parse_base_url, rate_limit_wait,
};

/// The MCP tool annotations of a tool, which policy also relies on:
/// a tool without `read_only` counts as a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolHints {
    /// Does not modify anything upstream.
    pub read_only: bool,
    /// May delete or overwrite data (meaningful only for writes).
    pub destructive: bool,
    /// Calling twice with the same arguments has no further effect.
    pub idempotent: bool,
    /// Talks to an open world (the internet), as every upstream connector does.
    pub open_world: bool,
}

impl ToolHints {
    /// A read-only tool on an upstream service.
    pub const READ: Self = Self {
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: true,
    };
    /// A tool that creates something upstream.
    pub const CREATE: Self = Self {
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    };
    /// A tool that overwrites or deletes something upstream.
    pub const DESTRUCTIVE: Self = Self {
        read_only: false,
        destructive: true,
        idempotent: true,
        open_world: true,
    };
}

/// One tool of a connector, before the server prefixes its name.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    /// The name without the service prefix (`list_issues`); the server exposes
    /// `{service}_{name}`.
    pub name: Cow<'static, str>,
    /// A short, precise description for the model.
    pub description: Cow<'static, str>,
    /// The JSON Schema of the arguments: an object schema. The server adds the
    /// `account` property for connectors that use accounts.
    pub input_schema: Value,
    /// MCP annotations.
    pub hints: ToolHints,
    /// The group the tool belongs to (`issues`, `repos`, …), for policy.
    pub toolset: &'static str,
}

impl ToolSpec {
    /// A tool named `name` with `description`, `input_schema`, `hints` and `toolset`.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
        input_schema: Value,
        hints: ToolHints,
        toolset: &'static str,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            input_schema,
            hints,
            toolset,
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with client id and secret (Notion).
    Basic,
    /// `client_id` and `client_secret` as form fields (GitHub).
    Body,
}

/// A provider's OAuth endpoints and defaults, as a connector declares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSpec {
    /// The authorization endpoint the browser visits.
    pub authorize_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// Scopes requested when the user names none.
    pub scopes: Vec<String>,
    /// Extra query parameters on the authorization URL (for example
    /// Google's `access_type=offline`).
    pub extra_authorize_params: Vec<(String, String)>,
    /// How the client authenticates at the token endpoint.
    pub client_auth: ClientAuthMethod,
}

/// One upstream service exposed as a set of MCP tools.
///
/// Servers hold connectors as `Arc<dyn Connector>`, shared by every session
/// and call; a connector is built once, from its config table, by its
/// [`Registration`].
///
/// # Contract
///
/// - **Declarations are fixed.** [`service`](Self::service), [`auth`](Self::auth),
///   [`base_url`](Self::base_url), [`tools`](Self::tools),
///   [`resources`](Self::resources), [`prompts`](Self::prompts) and
///   [`oauth`](Self::oauth) return the same answer every time; the server
///   reads them when it is built. `service` passes
///   [`crate::names::check_service`] and every `{service}_{tool}` a tool
///   name ([`crate::names::check_tool_name`]); a tool name appears once.
/// - **No token store, no credentials.** A connector never sees the store or
///   a token: it reaches the upstream only through
///   [`CallContext::upstream`], an [`Upstream`] bound to `base_url` that
///   attaches the account's credential. A request outside `base_url` is
///   refused before it is sent ([`Error::HostNotAllowed`]).
/// - **Resources, prompts and completions are calls too.**
///   [`read_resource`](Self::read_resource), [`get_prompt`](Self::get_prompt)
///   and [`complete`](Self::complete) run on the same path as a read tool:
///   the service's policy (a resource or prompt counts as a read in its
///   toolset), account resolution, audit and redaction; everything below
///   holds for them as for `call`.
/// - **Arguments arrive validated.** `call` gets arguments that match the
///   tool's input schema, with `account` removed; it must still treat them
///   as untrusted text (build URLs with [`Upstream::url`] or
///   [`Upstream::request`], which encode each path segment and refuse `..`).
///   An unknown tool name is [`Error::InvalidArguments`].
/// - **Retries are MCPist's.** [`Upstream::send`] renews an OAuth token on a
///   401, waits out short rate limits and retries idempotent requests on
///   5xx and failed connections; a connector does not retry on its own.
/// - **Bodies are capped.** Read responses with [`Upstream::body`],
///   [`Upstream::text`] or [`Upstream::json`], which stop at
///   `max_response_bytes`; not with reqwest's own readers.
/// - **State is the connector's to guard.** `call` runs concurrently for
///   many calls and accounts; shared state (a pacer, a cache) needs its own
///   synchronisation and must not mix one account's data into another's.
/// - **Cancellation.** A call's future may be dropped at any `.await`: when
///   the client cancels it, or when the server cuts calls off at shutdown
///   ([`crate::McpServer::cut_calls`]). A write may or may not have reached the
///   upstream by then, so a connector must not rely on running to the end.
/// - **Panics are caught.** A panic in `call`, `read_resource`,
///   `get_prompt`, `complete` or `identity` fails that call
///   with "internal error in connector …" (the panic message goes to the log
///   only), not the session or the server. Still, do not panic on upstream
///   input.
///
/// # Errors
///
/// `call` returns `Ok(CallToolResult)` for what the tool produced, including
/// tool-level errors it chose to build itself. It returns `Err` for failures:
/// map unsuccessful upstream answers with [`crate::upstream::status_error`].
/// The server turns every `Err` into an `isError` result with the error's
/// message, so the model can read it; messages must never contain a secret
/// (the server also scrubs the call's token from results and messages).
#[async_trait]
pub trait Connector: Send + Sync + fmt::Debug + 'static {
    /// Stable lowercase service name such as `github`: the config table name,
    /// the tool-name prefix and the first half of every account key.
    fn service(&self) -> &'static str;

    /// How the credential is attached. Defaults to a bearer token.
    fn auth(&self) -> Auth {
        Auth::Bearer
    }

    /// The base URL every upstream request of this connector must stay under.
    fn base_url(&self) -> &Url;

    /// The tools. Called once, when the server starts.
    fn tools(&self) -> Vec<ToolSpec>;

    /// The provider's OAuth endpoints, if the service supports logging in with OAuth.
    fn oauth(&self) -> Option<OAuthSpec> {
        None
    }

    /// Who the credential in `ctx` belongs to upstream (a login, an e-mail),
    /// shown in account listings. Called after a login and when a token is added.
    async fn identity(&self, ctx: &CallContext) -> Result<Option<String>> {
        let _ = ctx;
        Ok(None)
    }

    /// Runs `tool` (its unprefixed name) with validated `args` (the `account`
    /// argument already removed).
    async fn call(&self, ctx: &CallContext, tool: &str, args: JsonObject)
    -> Result<CallToolResult>;

    /// The resources and resource templates the connector serves (none by
    /// default). Called once, when the server starts; URIs are of scheme
    /// [`service`](Self::service) (see [`crate::resources`]).
    fn resources(&self) -> Vec<ResourceSpec> {
        Vec::new()
    }

    /// Reads the resource `uri` (without MCPist's `account` and `offset`
    /// parameters), which matched the template `resource` (its name) with
    /// the validated, percent-decoded `params`. Returns its contents, each
    /// named by `uri`. The server cuts long texts and continues them.
    async fn read_resource(
        &self,
        ctx: &CallContext,
        resource: &str,
        uri: &str,
        params: JsonObject,
    ) -> Result<Vec<ResourceContents>> {
        let _ = (ctx, params, uri);
        Err(Error::InvalidArguments(format!("no resource {resource}")))
    }

    /// The resource URIs (without `account=`) a successful call of the write
    /// `tool` with `args` changed, so that clients subscribed to them hear of
    /// it (`notifications/resources/updated`); none by default. MCPist tells
    /// only of changes made through it: an upstream does not tell it of others.
    fn changed_resources(&self, tool: &str, args: &JsonObject) -> Vec<String> {
        let _ = (tool, args);
        Vec::new()
    }

    /// The prompts the connector serves (none by default). Called once, when
    /// the server starts.
    fn prompts(&self) -> Vec<PromptSpec> {
        Vec::new()
    }

    /// The messages of `prompt` (its unprefixed name) for `args`, whose
    /// required arguments are present and every value a string.
    async fn get_prompt(
        &self,
        ctx: &CallContext,
        prompt: &str,
        args: JsonObject,
    ) -> Result<Vec<PromptMessage>> {
        let _ = (ctx, args);
        Err(Error::InvalidArguments(format!("no prompt {prompt}")))
    }

    /// Values for an argument of one of its resource templates or prompts,
    /// best first; none by default. The server keeps at most
    /// [`crate::resources::MAX_COMPLETIONS`] and audits the request as a read.
    async fn complete(
        &self,
        ctx: &CallContext,
        request: &CompletionRequest,
    ) -> Result<Vec<String>> {
        let _ = (ctx, request);
        Ok(Vec::new())
    }
}

/// A connector's entry in the link-time registry (see [`inventory`]).
///
/// A crate that registers connectors must be named by the final program
/// (`use mcpist_connectors as _;`), or the linker drops its registrations.
#[derive(Debug)]
pub struct Registration {
    /// The service name; equals the built connector's [`Connector::service`].
    pub service: &'static str,
    /// One line for listings.
    pub summary: &'static str,
    /// Whether the service is served when the config does not mention it.
    pub enabled_by_default: bool,
    /// Builds the connector from its config table (`Value::Null` when absent).
    pub build: fn(Value) -> Result<Arc<dyn Connector>>,
}

inventory::collect!(Registration);

impl Registration {
    /// Every registration linked into this program, sorted by service name.
    pub fn all() -> Vec<&'static Registration> {
        let mut all: Vec<_> = inventory::iter::<Registration>.into_iter().collect();
        all.sort_by_key(|r| r.service);
        all
    }

    /// The registration for `service`, if linked in.
    pub fn find(service: &str) -> Option<&'static Registration> {
        inventory::iter::<Registration>
            .into_iter()
            .find(|r| r.service == service)
    }
}

/// Deserializes a connector's config table, naming the connector and the key in errors.
/// `Value::Null` (no table) deserializes as an empty table.
pub fn parse_config<T: serde::de::DeserializeOwned>(
    service: &'static str,
    raw: Value,
) -> Result<T> {
    let raw = if raw.is_null() {
        Value::Object(Default::default())
    } else {
        raw
    };
    serde_json::from_value(raw).map_err(|e| Error::config(service, without_quoted(&e.to_string())))
}

/// `message` with every `"quoted"` part cut to `"…"`: serde quotes the
/// string value it could not use, and a config value can be a secret. Key
/// names, which serde writes in backticks, stay.
fn without_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let rest: Vec<&str> = parts.collect();
    for (i, part) in rest.iter().enumerate() {
        if i % 2 == 0 {
            // Inside quotes (an unclosed quote runs to the end).
            out.push_str("\"…");
            if i + 1 == rest.len() {
                break;
            }
            out.push('"');
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Runs `future` of `service`'s connector, turning a panic into the message
/// "internal error in connector `service`"; the panic's own message (which
/// may quote an argument) goes to the log alone.
pub(crate) async fn catch_panic<T>(
    service: &'static str,
    future: impl std::future::Future<Output = T>,
) -> std::result::Result<T, String> {
    use futures_util::FutureExt as _;
    std::panic::AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(no message)");
            tracing::error!(service, panic = message, "a connector panicked");
            format!("internal error in connector {service}")
        })
}

/// What a tool call gets besides its arguments.
#[derive(Debug, Clone)]
pub struct CallContext {
    upstream: Upstream,
    peer: Option<Peer<RoleServer>>,
    progress_token: Option<ProgressToken>,
    /// The least severe level the client wants; `None`: no log messages.
    min_log_level: Option<LoggingLevel>,
    /// Whether the client takes requests of the server during a call
    /// (2025-11-25; a 2026-07-28 client is asked with input-required results).
    in_flight: bool,
    /// A 2026-07-28 call: the client's capabilities of this request, and the
    /// answers it gave so far (carried in the sealed `requestState`).
    modern: Option<(
        ClientCapabilities,
        Arc<std::collections::BTreeMap<String, Value>>,
    )>,
    /// How many questions `sample` and `elicit` asked, for their keys.
    asked: Arc<std::sync::atomic::AtomicUsize>,
}

/// Severity of a log message sent to the MCP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogLevel {
    /// Debugging detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something the user may want to know.
    Warning,
    /// A failure.
    Error,
}

impl CallContext {
    /// A context with `upstream` and no MCP peer (for tests and direct calls).
    pub fn new(upstream: Upstream) -> Self {
        Self {
            upstream,
            peer: None,
            progress_token: None,
            min_log_level: Some(LoggingLevel::Info),
            in_flight: false,
            modern: None,
            asked: Arc::default(),
        }
    }

    /// A 2026-07-28 call: `capabilities` of the request, `answers` so far.
    pub(crate) fn with_answers(
        mut self,
        capabilities: ClientCapabilities,
        answers: std::collections::BTreeMap<String, Value>,
    ) -> Self {
        self.modern = Some((capabilities, Arc::new(answers)));
        self
    }

    /// Asks the client every question of `requests` (by key: an
    /// `elicitation/create`, `sampling/createMessage` or `roots/list`
    /// request) and returns the answers in order, as JSON results. A
    /// 2025-11-25 client is sent each request during the call; a 2026-07-28
    /// client gets them in an input-required result (`?` passes
    /// [`Error::InputRequired`] on) and its retry runs the call again, when
    /// this returns what it answered: so ask the same questions, under the
    /// same keys, in the same order, and do nothing upstream before asking
    /// that must not happen twice. A question the client did not declare
    /// the capability for is a clear error. Answers are untrusted input.
    pub async fn ask(&self, requests: Vec<(String, InputRequest)>) -> Result<Vec<Value>> {
        let needs = |request: &InputRequest| match request {
            InputRequest::Elicitation(_) => "elicitation",
            InputRequest::CreateMessage(_) => "sampling",
            _ => "roots",
        };
        let declared = |c: &ClientCapabilities, what: &str| match what {
            "elicitation" => c.elicitation.is_some(),
            "sampling" => c.sampling.is_some(),
            _ => c.roots.is_some(),
        };
        if let Some((capabilities, answers)) = &self.modern {
            if let Some((_, request)) = requests
                .iter()
                .find(|(_, r)| !declared(capabilities, needs(r)))
            {
                return Err(Error::MissingClientCapability {
                    capability: needs(request).to_owned(),
                });
            }
            // An answer of the wrong shape (a number for an elicitation)
            // counts as none: the question is asked again.
            let answered = |key: &str, request: &InputRequest| {
                let Some(answer) = answers.get(key).cloned() else {
                    return false;
                };
                match request {
                    InputRequest::Elicitation(_) => {
                        serde_json::from_value::<ElicitResult>(answer).is_ok()
                    }
                    InputRequest::CreateMessage(_) => {
                        serde_json::from_value::<CreateMessageResult>(answer).is_ok()
                    }
                    _ => serde_json::from_value::<rmcp::model::ListRootsResult>(answer).is_ok(),
                }
            };
            let missing: rmcp::model::InputRequests = requests
                .iter()
                .filter(|(key, request)| !answered(key, request))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(Error::InputRequired { requests: missing });
            }
            return Ok(requests
                .iter()
                .map(|(key, _)| answers[key].clone())
                .collect());
        }
        let mut out = Vec::with_capacity(requests.len());
        for (_, request) in requests {
            let what = needs(&request);
            let peer = self.asker(what, |c| declared(c, what))?;
            let failed =
                |e: rmcp::ServiceError| Error::other("client", format!("{what} failed: {e}"));
            let answer = match request {
                InputRequest::Elicitation(r) => {
                    serde_json::to_value(peer.create_elicitation(r.params).await.map_err(failed)?)
                }
                InputRequest::CreateMessage(r) => {
                    serde_json::to_value(peer.create_message(r.params).await.map_err(failed)?)
                }
                _ => serde_json::to_value(peer.list_roots().await.map_err(failed)?),
            };
            out.push(answer.map_err(|e| Error::other("client", e))?);
        }
        Ok(out)
    }

    /// Whether [`ask`](Self::ask) can put a question needing `capability`
    /// (`elicitation`, `sampling` or `roots`) to this call's client: it
    /// declared it (in this request, from 2026-07-28).
    pub fn client_offers(&self, capability: &str) -> bool {
        let declared = |c: &ClientCapabilities| match capability {
            "elicitation" => c.elicitation.is_some(),
            "sampling" => c.sampling.is_some(),
            "roots" => c.roots.is_some(),
            _ => false,
        };
        match (&self.modern, &self.peer) {
            (Some((capabilities, _)), _) => declared(capabilities),
            (None, Some(peer)) if self.in_flight => peer
                .peer_info()
                .is_some_and(|info| declared(&info.capabilities)),
            _ => false,
        }
    }

    /// One question under a key numbered in asking order.
    async fn ask_one<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        request: Value,
    ) -> Result<T> {
        let n = self
            .asked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request: InputRequest =
            serde_json::from_value(request).map_err(|e| Error::other("client request", e))?;
        let mut answers = self.ask(vec![(format!("{kind}-{n}"), request)]).await?;
        serde_json::from_value(answers.remove(0)).map_err(|e| {
            Error::other(
                "client",
                format!("{kind}: an answer of the wrong shape: {e}"),
            )
        })
    }

    pub(crate) fn with_peer(
        mut self,
        peer: Peer<RoleServer>,
        token: Option<ProgressToken>,
        min_log_level: Option<LoggingLevel>,
        in_flight: bool,
    ) -> Self {
        self.peer = Some(peer);
        self.progress_token = token;
        self.min_log_level = min_log_level;
        self.in_flight = in_flight;
        self
    }

    /// The client, if it takes requests during this call and declared
    /// `what` (`sampling`, `elicitation`) as `declared` says.
    fn asker(
        &self,
        what: &str,
        declared: impl Fn(&ClientCapabilities) -> bool,
    ) -> Result<&Peer<RoleServer>> {
        let refused = |why: &str| {
            Err(Error::other(
                "client",
                format!("cannot ask the client for {what}: {why}"),
            ))
        };
        let Some(peer) = &self.peer else {
            return refused("no MCP client is connected to this call");
        };
        if !self.in_flight {
            return refused("its protocol version takes no server requests during a call");
        }
        match peer.peer_info() {
            Some(info) if declared(&info.capabilities) => Ok(peer),
            _ => refused(&format!("it did not declare the `{what}` capability")),
        }
    }

    /// Asks the client's model for a message (MCP `sampling/createMessage`),
    /// as [`ask`](Self::ask) does (keys `sampling-N` in asking order). Fails
    /// with a clear error when the client did not declare `sampling`. What
    /// the model answers is untrusted input, like an argument.
    pub async fn sample(&self, params: CreateMessageRequestParams) -> Result<CreateMessageResult> {
        self.ask_one(
            "sampling",
            serde_json::json!({"method": "sampling/createMessage", "params": params}),
        )
        .await
    }

    /// Asks the user through the client (MCP `elicitation/create`), as
    /// [`sample`](Self::sample) does, with the `elicitation` capability
    /// (keys `elicitation-N`). Never ask for a secret this way.
    pub async fn elicit(&self, params: ElicitRequestParams) -> Result<ElicitResult> {
        self.ask_one(
            "elicitation",
            serde_json::json!({"method": "elicitation/create", "params": params}),
        )
        .await
    }

    /// The upstream client, bound to this connector's base URL and account.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// Reports progress to the client, if it asked for progress on this call.
    pub async fn progress(&self, progress: f64, total: Option<f64>) {
        if let (Some(peer), Some(token)) = (&self.peer, &self.progress_token) {
            let mut param = ProgressNotificationParam::new(token.clone(), progress);
            if let Some(total) = total {
                param = param.with_total(total);
            }
            // A client that went away cannot be told; the call goes on.
            let _ = peer.notify_progress(param).await;
        }
    }

    /// Sends a log message to the client (MCP `notifications/message`), if
    /// it asked for messages of this level: with `logging/setLevel` (Info
    /// until it does) or, from protocol 2026-07-28, in the request itself.
    pub async fn log(&self, level: LogLevel, message: &str) {
        if let Some(peer) = &self.peer {
            let level = match level {
                LogLevel::Debug => LoggingLevel::Debug,
                LogLevel::Info => LoggingLevel::Info,
                LogLevel::Warning => LoggingLevel::Warning,
                LogLevel::Error => LoggingLevel::Error,
            };
            if self.min_log_level.is_none_or(|min| rank(level) < rank(min)) {
                return;
            }
            // The same last line of defence as for results: a message that
            // quotes the credential (an echoed request) must not carry it.
            let mut message = message.to_owned();
            if let Some(token) = self.upstream.credential() {
                crate::redact::secret(&mut message, token.expose_secret());
            }
            let _ = peer
                .notify_logging_message(LoggingMessageNotificationParam::new(
                    level,
                    Value::String(message),
                ))
                .await;
        }
    }
}

/// The severity order of MCP log levels (RFC 5424).
fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_cut_quoted_values() {
        assert_eq!(
            without_quoted(r#"invalid type: string "s3cret", expected f64 at `x`"#),
            r#"invalid type: string "…", expected f64 at `x`"#
        );
        assert_eq!(without_quoted(r#"a "b"#), r#"a "…"#);
    }
}
