//! The MCP server: every connector's tools behind one rmcp [`ServerHandler`].
//!
//! All rmcp handler types stay in this file and in the `http` module (which
//! builds on this one, never the other way round).

// MCP logging (`notifications/message`, `logging/setLevel`) is deprecated from
// protocol 2026-07-28 (SEP-2577) but still part of 2025-11-25, which clients speak.
#![allow(deprecated)]

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, OnceLock, RwLock},
    time::Instant,
};

use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        JsonObject, ListToolsResult, LoggingLevel, PaginatedRequestParams, ServerCapabilities,
        ServerConfig, SetLevelRequestParams, Tool, ToolAnnotations,
    },
    service::{NotificationContext, RequestContext},
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::{
    Error, Result,
    audit::{AuditEvent, AuditKind, AuditOutcome, AuditSink, Outcome},
    connector::{Auth, CallContext, Connector, ToolSpec},
    exchanger::Exchanger,
    policy::{ServicePolicy, Verdict},
};

const INSTRUCTIONS: &str = "MCPist exposes upstream services (GitHub, ...) as tools named \
{service}_{tool}. It holds the credentials: never ask the user for tokens. When a service has \
several accounts, pass `account` with one of the labels an error lists.";

/// How long clients may keep a `tools/list` result (30 s): changes reach
/// listening clients at once, and the rest within this.
const TOOLS_TTL_MS: u64 = 30_000;

/// Serves a set of connectors as one MCP server.
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
    // Per session: the level set by `logging/setLevel`.
    log_level: Arc<Mutex<LoggingLevel>>,
}

struct Inner {
    exchanger: Exchanger,
    audit: Arc<dyn AuditSink>,
    // Every tool of every connector, allowed or not: a hidden tool called by
    // name is refused and audited, not reported as unknown.
    routes: BTreeMap<String, Route>,
    // The connectors, by service.
    connectors: BTreeMap<&'static str, Arc<dyn Connector>>,
    // Policy's current view; replaced whole when a policy changes.
    listing: RwLock<Arc<Listing>>,
    // Sessions told when the tool list changes.
    peers: Mutex<Vec<rmcp::Peer<RoleServer>>>,
    // Bumped at each policy change, for 2026-07-28 `subscriptions/listen`
    // streams (those clients send no `initialized`, so are not in `peers`).
    changes: tokio::sync::watch::Sender<u64>,
    // Cancelled by `cut_calls`: running calls end at once.
    cut: tokio_util::sync::CancellationToken,
    // One-time links to connect a missing account (issued once the web UI mounts).
    connect: Arc<crate::connect::ConnectLinks>,
    // Seals the `requestState` of 2026-07-28 input-required results.
    states: crate::elicit::States,
    // What `tools/list` holds.
    mode: crate::discover::ToolMode,
}

struct Route {
    connector: Arc<dyn Connector>,
    spec: ToolSpec,
    def: Tool,
    // Compiled at the tool's first call: compiling every schema up front was
    // a sixth of startup, for tools a session may never call. A schema that
    // does not compile fails that tool's calls (the connector testkit checks
    // schemas compile).
    validator: OnceLock<std::result::Result<jsonschema::Validator, String>>,
}

impl Route {
    fn validator(&self) -> std::result::Result<&jsonschema::Validator, &str> {
        self.validator
            .get_or_init(|| {
                jsonschema::validator_for(&Value::Object(self.def.input_schema.as_ref().clone()))
                    .map_err(|e| format!("tool {}: bad input schema: {e}", self.def.name))
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

/// Each service's policy, each tool's verdict under it, and the allowed tools.
struct Listing {
    policies: BTreeMap<&'static str, ServicePolicy>,
    verdicts: HashMap<String, Verdict>,
    // As `tools/list` returns them.
    tools: Vec<Tool>,
}

impl Listing {
    fn new(
        routes: &BTreeMap<String, Route>,
        policies: BTreeMap<&'static str, ServicePolicy>,
    ) -> Self {
        let verdicts: HashMap<String, Verdict> = routes
            .iter()
            .map(|(name, route)| {
                let policy = policies
                    .get(route.connector.service())
                    .cloned()
                    .unwrap_or_default();
                (name.clone(), policy.check(name, &route.spec))
            })
            .collect();
        let tools = routes
            .iter()
            .filter(|(name, _)| verdicts.get(*name) == Some(&Verdict::Allowed))
            .map(|(_, r)| r.def.clone())
            .collect();
        Self {
            policies,
            verdicts,
            tools,
        }
    }
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("tools", &self.inner.routes.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A tool as the server knows it: its MCP definition, toolset and verdict.
#[derive(Debug, Clone)]
pub struct ListedTool {
    /// The MCP definition (prefixed name, schema with `account`, annotations).
    pub tool: Tool,
    /// The service it belongs to.
    pub service: &'static str,
    /// Its toolset.
    pub toolset: &'static str,
    /// Whether policy lets clients see and call it.
    pub verdict: Verdict,
}

/// Collects the connectors and their policies for [`McpServer`].
#[derive(Debug)]
pub struct McpServerBuilder {
    exchanger: Exchanger,
    audit: Arc<dyn AuditSink>,
    services: Vec<(Arc<dyn Connector>, ServicePolicy)>,
    mode: crate::discover::ToolMode,
}

impl McpServerBuilder {
    /// Serves the tools flat (the default) or behind discover mode's meta-tools.
    #[must_use]
    pub fn tool_mode(mut self, mode: crate::discover::ToolMode) -> Self {
        self.mode = mode;
        self
    }

    /// Serves `connector` under `policy`.
    #[must_use]
    pub fn connector(mut self, connector: Arc<dyn Connector>, policy: ServicePolicy) -> Self {
        self.services.push((connector, policy));
        self
    }

    /// Serves a configured `service`: its connector under its policy, with
    /// its OAuth spec, routing and upstream settings applied to the
    /// exchanger ([`Exchanger::with_service`]). The one call for a service
    /// built by [`crate::Service::from_config`].
    #[must_use]
    pub fn service(mut self, service: crate::Service) -> Self {
        self.exchanger = self.exchanger.with_service(&service);
        self.connector(service.connector, service.policy)
    }

    /// Builds the server. Fails if a tool name is invalid or taken twice, or
    /// if a tool's input schema is not a valid object schema.
    pub fn build(self) -> Result<McpServer> {
        McpServer::new(self.exchanger, self.audit, self.services, self.mode)
    }
}

impl McpServer {
    /// A builder for a server that resolves accounts with `exchanger` and
    /// records every operation in `audit`.
    pub fn builder(exchanger: Exchanger, audit: Arc<dyn AuditSink>) -> McpServerBuilder {
        McpServerBuilder {
            exchanger,
            audit,
            services: Vec::new(),
            mode: crate::discover::ToolMode::default(),
        }
    }

    fn new(
        exchanger: Exchanger,
        audit: Arc<dyn AuditSink>,
        services: Vec<(Arc<dyn Connector>, ServicePolicy)>,
        mode: crate::discover::ToolMode,
    ) -> Result<Self> {
        let mut routes = BTreeMap::new();
        let mut connectors = BTreeMap::new();
        let mut policies = BTreeMap::new();
        for (connector, policy) in services {
            let service = connector.service();
            if connectors.insert(service, connector.clone()).is_some() {
                return Err(Error::config(service, "the service is served twice"));
            }
            policies.insert(service, policy);
            for spec in connector.tools() {
                let name = crate::names::tool_name(service, &spec.name);
                let def = tool_definition(&name, &spec, connector.auth() != Auth::None)?;
                let route = Route {
                    connector: connector.clone(),
                    spec,
                    def,
                    validator: OnceLock::new(),
                };
                if routes.insert(name.clone(), route).is_some() {
                    return Err(Error::config(
                        service,
                        format!("tool {name} is defined twice"),
                    ));
                }
            }
        }
        let listing = Listing::new(&routes, policies);
        Ok(Self {
            inner: Arc::new(Inner {
                exchanger,
                audit,
                routes,
                connectors,
                listing: RwLock::new(Arc::new(listing)),
                peers: Mutex::new(Vec::new()),
                changes: tokio::sync::watch::Sender::new(0),
                cut: tokio_util::sync::CancellationToken::new(),
                connect: Arc::default(),
                states: crate::elicit::States::new()?,
                mode,
            }),
            log_level: Arc::new(Mutex::new(LoggingLevel::Info)),
        })
    }

    fn listing(&self) -> Arc<Listing> {
        self.inner
            .listing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The served connectors, by service.
    pub fn connectors(&self) -> &BTreeMap<&'static str, Arc<dyn Connector>> {
        &self.inner.connectors
    }

    /// The one-time links that connect a missing account from the chat;
    /// the web UI serves their page and redeems them.
    pub fn connect_links(&self) -> &Arc<crate::connect::ConnectLinks> {
        &self.inner.connect
    }

    /// The exchanger the server resolves accounts with.
    pub fn exchanger(&self) -> &Exchanger {
        &self.inner.exchanger
    }

    /// The audit log every operation goes to.
    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        &self.inner.audit
    }

    /// The policy `service` is served under now, if it is served.
    pub fn policy(&self, service: &str) -> Option<ServicePolicy> {
        self.listing().policies.get(service).cloned()
    }

    /// Serves `service` under `policy` from now on: `tools/list` and calls see
    /// the change at once, and open sessions get `notifications/tools/list_changed`.
    /// Fails if the service is not served.
    pub async fn set_policy(&self, service: &str, policy: ServicePolicy) -> Result<()> {
        let Some((&service, _)) = self.inner.connectors.get_key_value(service) else {
            return Err(Error::InvalidArguments(format!(
                "unknown service {service}"
            )));
        };
        {
            let mut listing = self
                .inner
                .listing
                .write()
                .unwrap_or_else(|e| e.into_inner());
            let mut policies = listing.policies.clone();
            policies.insert(service, policy);
            *listing = Arc::new(Listing::new(&self.inner.routes, policies));
        }
        let peers: Vec<_> = self
            .inner
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.inner.changes.send_modify(|n| *n += 1);
        for peer in &peers {
            // A session that went away is dropped below.
            let _ = peer.notify_tool_list_changed().await;
        }
        self.inner
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| !p.is_transport_closed());
        Ok(())
    }

    /// Applies the policies saved in `store` (by the web UI) over the
    /// configured ones: a saved policy replaces the whole configured one.
    pub async fn load_saved_policies(&self, store: &dyn crate::store::TokenStore) -> Result<()> {
        for service in self.inner.connectors.keys() {
            if let Some(policy) = crate::policy::load_saved(store, service).await? {
                self.set_policy(service, policy).await?;
            }
        }
        Ok(())
    }

    /// A handle for a new MCP session: shares the tools, has its own log level.
    pub fn for_session(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            log_level: Arc::new(Mutex::new(LoggingLevel::Info)),
        }
    }

    /// Every tool of every connector, sorted by name, with policy's verdict;
    /// the allowed ones are exactly what `tools/list` returns.
    pub fn catalog(&self) -> Vec<ListedTool> {
        let listing = self.listing();
        self.inner
            .routes
            .iter()
            .map(|(name, r)| ListedTool {
                tool: r.def.clone(),
                service: r.connector.service(),
                toolset: r.spec.toolset,
                verdict: listing.verdicts[name].clone(),
            })
            .collect()
    }

    /// The Prometheus text for `GET /metrics`, with accounts by status read now.
    pub async fn render_metrics(&self) -> Result<String> {
        let mut accounts = BTreeMap::new();
        let now = crate::store::now_unix();
        let margin = self.inner.exchanger.refresh_margin().as_secs();
        for account in self.inner.exchanger.store().list().await? {
            let status = crate::accounts::ShownStatus::of(&account, now, margin).as_str();
            *accounts
                .entry((account.service, status.to_owned()))
                .or_default() += 1;
        }
        Ok(self.inner.exchanger.metrics().render(&accounts))
    }

    /// Ends every tool call still running (and any that starts later) with
    /// an `isError` result saying it was cut off, and an `interrupted` audit
    /// outcome. For a shutdown whose grace period is over: the clients get an
    /// answer and the audit log an outcome instead of a dropped connection
    /// and a pending record.
    pub fn cut_calls(&self) {
        self.inner.cut.cancel();
    }

    /// Whether `name` is a tool that modifies nothing upstream (its
    /// `readOnlyHint`); what a read-only OAuth grant may call.
    pub fn is_read_only_tool(&self, name: &str) -> bool {
        // Discover mode's search and describe read the catalog only.
        if self.inner.mode == crate::discover::ToolMode::Discover
            && [crate::discover::SEARCH, crate::discover::DESCRIBE].contains(&name)
        {
            return true;
        }
        self.inner
            .routes
            .get(name)
            .is_some_and(|r| r.spec.hints.read_only)
    }

    /// How many tools clients see.
    pub fn visible_tools(&self) -> usize {
        self.listing().tools.len()
    }

    /// The connectors' allowed tools as JSON (a flat `tools/list` adds the
    /// batch tool: [`Self::listed_tools_json`]).
    pub fn tools_json(&self) -> Value {
        serde_json::to_value(&self.listing().tools).expect("tools serialize")
    }

    /// What a flat `tools/list` returns to a client with a full grant, as
    /// JSON: the allowed tools and the batch tool, sorted by name.
    pub fn listed_tools_json(&self) -> Value {
        serde_json::to_value(self.flat_tools()).expect("tools serialize")
    }

    /// The allowed tools and, when there are any to batch, the batch tool
    /// in its place by name (annotated read-only when every tool listed is).
    fn flat_tools(&self) -> Vec<Tool> {
        let mut tools = self.listing().tools.clone();
        if !tools.is_empty() {
            let mut batch = crate::batch::tool();
            // It runs only the listed tools: read-only when they all are.
            if tools.iter().all(|t| {
                t.annotations
                    .as_ref()
                    .is_some_and(|a| a.read_only_hint == Some(true))
            }) {
                batch = batch.annotate(ToolAnnotations::new().read_only(true));
            }
            let at = tools.partition_point(|t| t.name < batch.name);
            tools.insert(at, batch);
        }
        tools
    }

    /// Serves MCP over stdin/stdout until the client disconnects.
    pub async fn serve_stdio(self) -> Result<()> {
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::other("stdio transport", e))?;
        running
            .waiting()
            .await
            .map_err(|e| Error::other("stdio transport", e))?;
        Ok(())
    }

    /// Runs `route` with `args`: validate, pick the account, call the
    /// connector. Everything that goes wrong becomes an `isError` result.
    async fn run(
        &self,
        route: &Route,
        mut args: JsonObject,
        account: Option<String>,
        peer: Option<Peer>,
        asks: crate::elicit::Asks,
    ) -> Ran {
        let validator = match route.validator() {
            Ok(validator) => validator,
            Err(message) => {
                tracing::error!(tool = %route.def.name, error = message, "a tool's input schema does not compile");
                return Ran::new(tool_error(message.to_owned()), Outcome::Failed, None);
            }
        };
        if let Err(invalid) = validate(validator, &args) {
            return Ran {
                result: tool_error(format!("invalid arguments: {}", invalid.message)),
                outcome: Outcome::InvalidArguments,
                upstream_status: None,
                audit_message: Some(format!("invalid arguments: {}", invalid.rules)),
                connect: None,
                choices: None,
            };
        }
        args.remove("account");
        let connector = route.connector.as_ref();
        let upstream = match self
            .inner
            .exchanger
            .upstream_for(connector, account.as_deref(), &args)
            .await
        {
            Ok(upstream) => upstream,
            Err(e @ Error::Account { .. }) => {
                let need = crate::connect::connect_need(
                    &self.inner.exchanger,
                    connector.service(),
                    account.as_deref(),
                    &args,
                )
                .await;
                let offer = match need {
                    Some(label) => {
                        self.inner
                            .connect
                            .offer(self, connector.service(), &label)
                            .await
                    }
                    None => crate::connect::Offer::NoPage,
                };
                let link = match &offer {
                    crate::connect::Offer::Link(link) => Some(link.clone()),
                    _ => None,
                };
                let choices = match &link {
                    Some(_) => None,
                    None if asks.form => {
                        crate::connect::which_account(
                            &self.inner.exchanger,
                            connector.service(),
                            account.as_deref(),
                            &args,
                        )
                        .await
                    }
                    None => None,
                };
                if let Some(choices) = &choices
                    && !asks.modern
                    && let Some((asker, _, _)) = &peer
                    && let Some(label) =
                        crate::elicit::ask_which(asker, connector.service(), choices).await
                {
                    // The answer serves this call only; asked once.
                    return Box::pin(self.run(
                        route,
                        args,
                        Some(label),
                        peer.clone(),
                        crate::elicit::Asks::default(),
                    ))
                    .await;
                }
                let mut ran = Ran::new(
                    tool_error(crate::elicit::with_link(&e.to_string(), &offer)),
                    outcome_of(&e),
                    None,
                );
                // The audit record keeps the reason, not the link's token.
                if link.is_some() {
                    ran.audit_message = Some(format!("{e} (a connect link was issued)"));
                }
                ran.connect = link;
                if asks.modern {
                    ran.choices = choices;
                }
                return ran;
            }
            Err(e) => return Ran::new(tool_error(e.to_string()), outcome_of(&e), None),
        };
        let sent = upstream.credential();
        let status_of = upstream.clone();
        let mut ctx = CallContext::new(upstream);
        if let Some((peer, token, requested)) = peer {
            // 2026-07-28 clients opt in to log messages per request, in
            // `_meta`; none asked means none sent. Earlier clients set the
            // session's level with `logging/setLevel`.
            let level = if asks.modern {
                requested
            } else {
                Some(*self.log_level.lock().unwrap_or_else(|e| e.into_inner()))
            };
            ctx = ctx.with_peer(peer, token, level);
        }
        // A panic in a connector fails this call, not the session: the
        // client gets an answer and the audit record an outcome.
        let call = crate::connector::catch_panic(
            connector.service(),
            connector.call(&ctx, &route.spec.name, args),
        );
        let (mut result, outcome) = match call.await {
            Ok(Ok(result)) if result.is_error == Some(true) => (result, Outcome::ToolError),
            Ok(Ok(result)) => (result, Outcome::Ok),
            Ok(Err(e)) => (tool_error(e.to_string()), outcome_of(&e)),
            Err(message) => (tool_error(message), Outcome::Failed),
        };
        // Last line of defence: an upstream error body that echoes the token
        // (the one first sent, or one obtained by a refresh) must not carry
        // it to the model.
        for secret in [sent, status_of.credential()].into_iter().flatten() {
            redact(&mut result, secret.expose_secret());
        }
        Ran::new(result, outcome, status_of.last_status())
    }
}

/// How a call ran, for the client and for its audit record.
#[derive(Debug)]
struct Ran {
    result: CallToolResult,
    outcome: Outcome,
    upstream_status: Option<u16>,
    /// The audit record's message when the result's text must not be it.
    audit_message: Option<String>,
    /// The link that connects the account the call lacked, if one was issued.
    connect: Option<crate::connect::ConnectLink>,
    /// The accounts a 2026-07-28 client is to choose from ("which account?").
    choices: Option<Vec<(String, Option<String>)>>,
}

impl Ran {
    fn new(result: CallToolResult, outcome: Outcome, upstream_status: Option<u16>) -> Self {
        Self {
            result,
            outcome,
            upstream_status,
            audit_message: None,
            connect: None,
            choices: None,
        }
    }
}

fn outcome_of(error: &Error) -> Outcome {
    match error {
        Error::InvalidArguments(_) => Outcome::InvalidArguments,
        Error::Account { .. } => Outcome::NoAccount,
        Error::Transport { .. } => Outcome::TransportError,
        _ => Outcome::ToolError,
    }
}

/// The client of a call: its peer, the call's progress token, and the log
/// level the request itself asked for (2026-07-28 `_meta`).
type Peer = (
    rmcp::Peer<RoleServer>,
    Option<rmcp::model::ProgressToken>,
    Option<LoggingLevel>,
);

/// Whether the request comes with a read-only OAuth grant (see `auth_server`).
fn read_only_grant(context: &RequestContext<RoleServer>) -> bool {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::auth_server::Grant>())
        .is_some_and(crate::auth_server::Grant::read_only)
}

fn tool_error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// The MCP definition of `spec` under `name`, with the `account` argument added
/// when the service uses accounts.
fn tool_definition(name: &str, spec: &ToolSpec, uses_accounts: bool) -> Result<Tool> {
    crate::names::check_tool_name(name).map_err(|e| Error::config("server", e.to_string()))?;
    let Value::Object(mut schema) = spec.input_schema.clone() else {
        return Err(Error::config(
            "server",
            format!("tool {name}: input schema is not an object"),
        ));
    };
    if schema.get("type") != Some(&json!("object")) {
        return Err(Error::config(
            "server",
            format!("tool {name}: input schema must have type object"),
        ));
    }
    if uses_accounts {
        let properties = schema
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| {
                Error::config(
                    "server",
                    format!("tool {name}: properties is not an object"),
                )
            })?;
        if properties.contains_key("account") {
            return Err(Error::config(
                "server",
                format!("tool {name}: `account` is reserved for the account label"),
            ));
        }
        properties.insert(
            "account".into(),
            json!({"type": "string", "description": "Account label"}),
        );
    }
    Ok(
        Tool::new(name.to_owned(), spec.description.clone(), Arc::new(schema))
            .annotate(annotations(spec.hints)),
    )
}

/// The hints that differ from MCP's defaults (not read-only, destructive,
/// not idempotent, open world); the rest would be bytes in every client's
/// context that say nothing. Destructive and idempotent only mean something
/// for a tool that writes.
fn annotations(hints: crate::connector::ToolHints) -> ToolAnnotations {
    let mut annotations = ToolAnnotations::new();
    if hints.read_only {
        annotations = annotations.read_only(true);
    } else {
        if !hints.destructive {
            annotations = annotations.destructive(false);
        }
        if hints.idempotent {
            annotations = annotations.idempotent(true);
        }
    }
    if !hints.open_world {
        annotations = annotations.open_world(false);
    }
    annotations
}

/// Why arguments do not match a tool's schema.
#[derive(Debug)]
struct Invalid {
    /// For the client, which sent the values: each bad field and what is
    /// wrong, quoting the value as the validator does.
    message: String,
    /// For the audit log: each bad field's path and the rule it breaks
    /// (`/page_size: maximum`), never a value.
    rules: String,
}

/// Checks `args` against the tool's schema; the message names each bad field.
fn validate(
    validator: &jsonschema::Validator,
    args: &JsonObject,
) -> std::result::Result<(), Invalid> {
    let instance = Value::Object(args.clone());
    let (problems, rules): (Vec<String>, Vec<String>) = validator
        .iter_errors(&instance)
        .take(5)
        .map(|e| {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() {
                "arguments".to_owned()
            } else {
                format!("`{}`", path.trim_start_matches('/').replace('/', "."))
            };
            let mut message = e.to_string();
            crate::output::cut(&mut message, 200, "…");
            // A required property's name comes from the schema, not the client.
            let rule = match e.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    format!("required {property}")
                }
                kind => kind.keyword().to_owned(),
            };
            let path = if path.is_empty() { "/" } else { &path };
            (format!("{at}: {message}"), format!("{path}: {rule}"))
        })
        .unzip();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Invalid {
            message: problems.join("; "),
            rules: rules.join("; "),
        })
    }
}

/// [`validate`] for the property tests: the message, or nothing.
#[cfg(test)]
pub(crate) fn validate_for_props(
    validator: &jsonschema::Validator,
    args: &JsonObject,
) -> std::result::Result<(), String> {
    validate(validator, args).map_err(|invalid| invalid.message)
}

/// Replaces every occurrence of `secret` in the result's text, as is,
/// JSON-escaped or percent-encoded, with `[REDACTED]`.
fn redact(result: &mut CallToolResult, secret: &str) {
    for block in &mut result.content {
        if let Some(text) = block.as_text() {
            let mut text = text.text.clone();
            if crate::redact::secret(&mut text, secret) {
                *block = ContentBlock::text(text);
            }
        }
    }
    if let Some(structured) = &mut result.structured_content {
        crate::redact::secret_in_json(structured, secret);
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new("mcpist", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, ErrorData> {
        if self.inner.mode == crate::discover::ToolMode::Discover {
            // The same few tools whatever is connected; the call meta-tool
            // checks each real tool (read-only grants: `auth_server::scope`).
            return Ok(
                ListToolsResult::with_all_items(crate::discover::meta_tools())
                    .with_ttl_ms(TOOLS_TTL_MS)
                    .with_cache_scope(rmcp::model::CacheScope::Private),
            );
        }
        let mut tools = self.flat_tools();
        // A read-only OAuth grant (see `auth_server`) sees only read tools
        // (and no batch tool, which may write).
        if read_only_grant(&context) {
            tools.retain(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true));
        }
        // Sorted by name (the routes are a BTreeMap); private, since the
        // list depends on this server's policy and the grant; fresh for a
        // while, and a policy change reaches listeners at once.
        Ok(ListToolsResult::with_all_items(tools)
            .with_ttl_ms(TOOLS_TTL_MS)
            .with_cache_scope(rmcp::model::CacheScope::Private))
    }

    fn accepted_subscription_filter(
        &self,
        requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        // Only the tool list changes (with policy); nothing else is offered.
        let mut accepted = rmcp::model::SubscriptionFilter::new();
        accepted.tools_list_changed = requested.tools_list_changed;
        Some(accepted)
    }

    async fn listen(
        &self,
        context: rmcp::service::SubscriptionContext,
    ) -> std::result::Result<(), ErrorData> {
        let mut changes = self.inner.changes.subscribe();
        changes.mark_unchanged();
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let notification = rmcp::model::ServerNotification::ToolListChangedNotification(
                        rmcp::model::ToolListChangedNotification::default(),
                    );
                    if context.sink().send(notification).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn initialize(
        &self,
        request: rmcp::model::InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        let mut info = self.negotiate_initialize(&request)?;
        if let Some(instructions) = self.discover_instructions().await {
            info.instructions = Some(instructions);
        }
        Ok(info)
    }

    async fn discover(
        &self,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::DiscoverResult, ErrorData> {
        let mut result = rmcp::model::DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        );
        if let Some(instructions) = self.discover_instructions().await {
            result.instructions = Some(instructions);
        }
        Ok(result)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut peers = self.inner.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.retain(|p| !p.is_transport_closed());
        peers.push(context.peer);
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.routes.get(name).map(|r| r.def.clone())
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<(), ErrorData> {
        *self.log_level.lock().unwrap_or_else(|e| e.into_inner()) = request.level;
        Ok(())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        use crate::discover;
        if request.name == crate::batch::BATCH {
            return self.call_batch(request, context).await;
        }
        if self.inner.mode != discover::ToolMode::Discover || !discover::is_meta(&request.name) {
            return self.call_flat(request, context).await;
        }
        let args = request.arguments.clone().unwrap_or_default();
        let read_only_grant = read_only_grant(&context);
        let meta = match request.name.as_ref() {
            discover::SEARCH => discover::search_args(&args).map(|(query, service)| {
                let listing = self.listing();
                // What a flat `tools/list` would show this client.
                let tools: Vec<(&str, &Tool)> = listing
                    .tools
                    .iter()
                    .filter(|t| !read_only_grant || self.is_read_only_tool(&t.name))
                    .map(|t| (self.inner.routes[t.name.as_ref()].connector.service(), t))
                    .collect();
                discover::search(&tools, &query, service.as_deref())
            }),
            discover::DESCRIBE => discover::name_arg(&args).and_then(|name| {
                match (
                    self.inner.routes.get(name),
                    self.listing().verdicts.get(name),
                ) {
                    (Some(route), Some(Verdict::Allowed)) => Ok(discover::describe(&route.def)),
                    (Some(_), Some(Verdict::Hidden(reason))) => Err(discover::BadMeta(format!(
                        "tool {name} is not allowed by policy: {reason}"
                    ))),
                    _ => Err(discover::BadMeta(format!(
                        "unknown tool: {name}; find tools with {}",
                        discover::SEARCH
                    ))),
                }
            }),
            _ => match (discover::name_arg(&args), discover::call_args(&args)) {
                (Ok(name), Ok(arguments)) => {
                    // The same path as a flat call of `name`: policy, audit
                    // under its name, accounts, validation, errors.
                    let mut real = request.clone();
                    real.name = name.to_owned().into();
                    real.arguments = Some(arguments);
                    return match self.call_flat(real, context).await {
                        // An unknown name is an error the model can act on.
                        Err(e) if e.code == rmcp::model::ErrorCode::INVALID_PARAMS => {
                            Ok(tool_error(e.message.into_owned()).into())
                        }
                        other => other,
                    };
                }
                (Err(bad), _) | (_, Err(bad)) => Err(bad),
            },
        };
        Ok(match meta {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
            Err(discover::BadMeta(message)) => tool_error(message),
        }
        .into())
    }
}

impl McpServer {
    /// Discover mode's instructions, with each service's account labels as
    /// the store holds them now; `None` in flat mode.
    async fn discover_instructions(&self) -> Option<String> {
        if self.inner.mode != crate::discover::ToolMode::Discover {
            return None;
        }
        let accounts = match self.inner.exchanger.store().list().await {
            Ok(accounts) => accounts,
            Err(e) => {
                tracing::warn!(error = %e, "could not list accounts for the instructions");
                Vec::new()
            }
        };
        let services: Vec<(&str, Vec<String>)> = self
            .inner
            .connectors
            .keys()
            .map(|&service| {
                let labels = accounts
                    .iter()
                    .filter(|a| a.service == service)
                    .map(|a| a.account.clone())
                    .collect();
                (service, labels)
            })
            .collect();
        Some(crate::discover::instructions(&services))
    }

    /// A call of the real tool `request.name`: what `tools/call` runs in flat
    /// mode and discover mode's call meta-tool runs for the tool it names.
    async fn call_flat(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        self.call_one(request, context, None).await
    }

    /// [`Self::call_flat`], as a task of a batch when `batch` holds the
    /// task's request id (`BATCH_ID.TASK_ID`): audited under it, and
    /// without elicitations (a task's account error is its `isError`).
    async fn call_one(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
        batch: Option<String>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let started = Instant::now();
        let args = request.arguments.unwrap_or_default();
        let audit = &self.inner.audit;
        let mut event = AuditEvent::now(AuditKind::ToolCall).tool(request.name.as_ref());
        if let Some(request_id) = &batch {
            event.request_id = request_id.clone();
        }
        event.args = Some(audit.summarize(&args));
        let Some(route) = self.inner.routes.get(request.name.as_ref()) else {
            // Nothing runs, so an audit failure changes nothing here.
            if let Err(e) = audit
                .record(event, AuditOutcome::of(Outcome::UnknownTool))
                .await
            {
                tracing::error!(error = %e, "audit record for an unknown tool failed");
            }
            return Err(ErrorData::invalid_params(
                format!("unknown tool: {}", request.name),
                None,
            ));
        };
        let account = match args.get("account") {
            Some(Value::String(label)) => Some(label.clone()),
            // A 2026-07-28 retry that answered "which account?".
            _ => crate::elicit::answered_which(request.input_responses.as_ref()),
        };
        event = event.service(route.connector.service());
        if let Some(label) = &account {
            event = event.account(label.as_str());
        }
        let request_id = event.request_id.clone();
        let verdict = self.listing().verdicts[request.name.as_ref()].clone();
        if let Verdict::Hidden(reason) = &verdict {
            let message = format!("tool {} is not allowed by policy: {reason}", request.name);
            let outcome = AuditOutcome::of(Outcome::Denied).message(message.as_str());
            let seq = audit
                .record(event, outcome)
                .await
                .inspect_err(
                    |e| tracing::error!(error = %e, "audit record for a denied call failed"),
                )
                .ok();
            tracing::info!(
                seq,
                service = route.connector.service(),
                account = account.as_deref(),
                tool = %request.name,
                request_id,
                outcome = Outcome::Denied.as_str(),
                "tool call"
            );
            self.inner.exchanger.metrics().tool_call(
                route.connector.service(),
                &request.name,
                Outcome::Denied.as_str(),
                started.elapsed(),
                None,
            );
            return Ok(tool_error(message).into());
        }
        // Fail closed: no record, no call.
        let seq = match audit.begin(event).await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(error = %e, tool = %request.name, "audit log unavailable; call refused");
                return Ok(tool_error(format!(
                    "refused: the audit log cannot be written ({e}); nothing was sent upstream"
                ))
                .into());
            }
        };
        let token = context.meta.get_progress_token();
        let label = account.clone();
        // Kept to take the values out of the audit message (an upstream or
        // connector error may echo them).
        let mut sent_args = args.clone();
        // The label is the record's `account` field.
        sent_args.remove("account");
        let asks = match batch {
            None => crate::elicit::Asks::of(&context),
            Some(_) => crate::elicit::Asks::default(),
        };
        let peer = context.peer.clone();
        if let Err(refused) = self
            .inner
            .states
            .check_retry(request.name.as_ref(), request.request_state.as_deref())
        {
            // Nothing ran: the record says why the retry was refused.
            let _ = audit
                .finish_soon(
                    seq,
                    AuditOutcome::of(Outcome::InvalidArguments).message(refused.message.as_ref()),
                )
                .await;
            return Err(refused);
        }
        let Ran {
            result,
            outcome,
            upstream_status,
            audit_message,
            connect,
            choices,
        } = tokio::select! {
            ran = self.run(route, args, account, Some((peer.clone(), token, context.meta.log_level())), asks) => ran,
            () = self.inner.cut.cancelled() => Ran::new(
                tool_error(
                    "cut off: MCPist is shutting down; the call may or may not have reached the service"
                        .into(),
                ),
                Outcome::Interrupted,
                None,
            ),
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        let is_error = result.is_error.unwrap_or(false);
        let mut record = AuditOutcome::of(outcome);
        record.is_error = Some(is_error);
        record.upstream_status = upstream_status;
        record.latency_ms = latency_ms;
        if is_error {
            let message = audit_message.unwrap_or_else(|| {
                let text: String = result
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
                    .collect();
                crate::redact::arguments(&text, &sent_args)
            });
            record = record.message(message);
        }
        self.inner.exchanger.metrics().tool_call(
            route.connector.service(),
            &request.name,
            outcome.as_str(),
            started.elapsed(),
            upstream_status,
        );
        // The result does not wait for the outcome's own commit: the next
        // call's record takes it along (the record before the call was
        // durable before anything ran).
        if let Err(e) = audit.finish_soon(seq, record).await {
            // The call already happened: keep its result, and leave the
            // record pending, which `mcpist audit --verify` reports.
            tracing::error!(error = %e, seq, "could not write the outcome of an audit record");
        }
        // The audit record's fields, never an argument or a secret.
        tracing::info!(
            seq,
            service = route.connector.service(),
            account = label.as_deref(),
            tool = %request.name,
            request_id,
            outcome = outcome.as_str(),
            is_error,
            upstream_status,
            latency_ms,
            "tool call"
        );
        if let Some(link) = &connect {
            if asks.url && !asks.modern {
                // 2025-11-25 has `notifications/elicitation/complete`.
                self.inner
                    .connect
                    .on_connected(link, crate::elicit::completion(peer, link));
            }
            return self
                .inner
                .states
                .answer(asks, link, request.name.as_ref(), result);
        }
        if let Some(choices) = &choices
            && !crate::elicit::was_asked_which(request.input_responses.as_ref())
        {
            return self.inner.states.ask_which(
                route.connector.service(),
                request.name.as_ref(),
                choices,
            );
        }
        Ok(result.into())
    }
}

impl McpServer {
    /// The batch tool ([`crate::batch`]): the plan checked, every task's
    /// tool checked against policy (one refused: nothing runs, and each
    /// refused task is audited), then the tasks in waves, each through
    /// [`Self::call_one`] with the batch's id.
    async fn call_batch(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        use crate::batch;
        let args = request.arguments.clone().unwrap_or_default();
        let plan = match batch::plan(&args) {
            Ok(plan) => plan,
            Err(crate::discover::BadMeta(message)) => return Ok(tool_error(message).into()),
        };
        let batch_id = crate::audit::new_request_id();
        let read_only = read_only_grant(&context);
        let listing = self.listing();
        let mut refused = Vec::new();
        for task in &plan.tasks {
            let route = self.inner.routes.get(&task.tool);
            let (outcome, message) = match (route, listing.verdicts.get(&task.tool)) {
                (None, _) if crate::discover::is_meta(&task.tool) || task.tool == batch::BATCH => (
                    Outcome::InvalidArguments,
                    format!(
                        "{} is a meta-tool; a task calls a service's tool",
                        task.tool
                    ),
                ),
                (None, _) => (Outcome::UnknownTool, format!("unknown tool: {}", task.tool)),
                (Some(_), Some(Verdict::Hidden(reason))) => (
                    Outcome::Denied,
                    format!("tool {} is not allowed by policy: {reason}", task.tool),
                ),
                (Some(route), _) if read_only && !route.spec.hints.read_only => (
                    Outcome::Denied,
                    format!("tool {} is not read-only and this grant is", task.tool),
                ),
                _ => continue,
            };
            let mut event = AuditEvent::now(AuditKind::ToolCall).tool(task.tool.as_str());
            event.request_id = format!("{batch_id}.{}", task.id);
            event.args = Some(self.inner.audit.summarize(&task.arguments));
            if let Some(route) = route {
                event = event.service(route.connector.service());
            }
            let record = AuditOutcome::of(outcome)
                .message(format!("{message} (batch {batch_id}: nothing ran)"));
            if let Err(e) = self.inner.audit.record(event, record).await {
                tracing::error!(error = %e, "audit record for a refused batch task failed");
            }
            refused.push(format!("task {}: {message}", task.id));
        }
        if !refused.is_empty() {
            return Ok(tool_error(format!(
                "batch refused, nothing ran: {}",
                refused.join("; ")
            ))
            .into());
        }
        // Each task's outcome, by id: its value for references, or why not.
        let mut values: BTreeMap<String, Value> = BTreeMap::new();
        let mut outcomes: BTreeMap<String, Value> = BTreeMap::new();
        for wave in &plan.waves {
            let runs = wave.iter().map(|&n| {
                let task = &plan.tasks[n];
                let failed_need = task.needs.iter().find(|need| !values.contains_key(*need));
                let resolved = match failed_need {
                    Some(need) => Err(json!({"status": "skipped", "because": format!("task {need} did not succeed")})),
                    None => batch::resolve(&task.arguments, &values)
                        .map_err(|why| json!({"status": "error", "error": why})),
                };
                let context = context.clone();
                let request_id = format!("{batch_id}.{}", task.id);
                async move {
                    let arguments = match resolved {
                        Ok(arguments) => arguments,
                        Err(outcome) => return (task.id.clone(), None, outcome),
                    };
                    let call = CallToolRequestParams::new(task.tool.clone()).with_arguments(arguments);
                    let result = match self.call_one(call, context, Some(request_id)).await {
                        Ok(CallToolResponse::Complete(result)) => result,
                        Ok(_) => tool_error("the tool asked for input, which a batch task cannot give".into()),
                        Err(e) => tool_error(e.message.into_owned()),
                    };
                    let value = batch::value_of(&result);
                    if result.is_error == Some(true) {
                        (task.id.clone(), None, json!({"status": "error", "error": value}))
                    } else {
                        (task.id.clone(), Some(value.clone()), json!({"status": "ok", "result": value}))
                    }
                }
            });
            for (id, value, outcome) in futures_util::future::join_all(runs).await {
                if let Some(value) = value {
                    values.insert(id.clone(), value);
                }
                outcomes.insert(id, outcome);
            }
        }
        let failed = outcomes.values().any(|o| o["status"] != "ok");
        let tasks: Vec<Value> = plan
            .tasks
            .iter()
            .map(|t| {
                let mut outcome = outcomes.remove(&t.id).unwrap_or(Value::Null);
                outcome["id"] = json!(t.id);
                outcome["tool"] = json!(t.tool);
                outcome
            })
            .collect();
        let text = json!({"batch": batch_id, "tasks": tasks}).to_string();
        Ok(if failed {
            tool_error(text)
        } else {
            CallToolResult::success(vec![ContentBlock::text(text)])
        }
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::ToolHints;

    fn spec(schema: Value) -> ToolSpec {
        ToolSpec::new("t", "d", schema, ToolHints::READ, "x")
    }

    /// A connector whose only tool has a schema that does not compile.
    #[derive(Debug)]
    struct BadSchema(url::Url);

    #[async_trait::async_trait]
    impl Connector for BadSchema {
        fn service(&self) -> &'static str {
            "bad"
        }
        fn auth(&self) -> Auth {
            Auth::None
        }
        fn base_url(&self) -> &url::Url {
            &self.0
        }
        fn tools(&self) -> Vec<ToolSpec> {
            vec![spec(json!({"type": "object",
                "properties": {"n": {"type": "integer", "minimum": "one"}}}))]
        }
        async fn call(
            &self,
            _: &crate::connector::CallContext,
            _: &str,
            _: JsonObject,
        ) -> Result<CallToolResult> {
            panic!("a call with an unchecked schema must never run")
        }
    }

    /// Schemas compile at a tool's first call, not at startup: a bad one
    /// fails that tool's calls with a message naming it; the server serves.
    #[tokio::test]
    async fn a_schema_that_does_not_compile_fails_its_calls_not_the_server() {
        let store = Arc::new(crate::store::MemoryStore::new());
        let exchanger = Exchanger::new(store.clone(), store.clone()).unwrap();
        let connector = Arc::new(BadSchema("http://127.0.0.1:9/".parse().unwrap()));
        let server = McpServer::builder(exchanger, store)
            .connector(connector, ServicePolicy::default())
            .build()
            .unwrap();
        assert_eq!(server.visible_tools(), 1);
        let route = &server.inner.routes["bad_t"];
        for _ in 0..2 {
            let args = json!({"n": 3}).as_object().unwrap().clone();
            let ran = server
                .run(route, args, None, None, crate::elicit::Asks::default())
                .await;
            assert_eq!(ran.result.is_error, Some(true));
            assert_eq!(ran.outcome, Outcome::Failed);
            assert_eq!(ran.upstream_status, None);
            let text = ran.result.content[0].as_text().unwrap().text.clone();
            assert!(text.contains("tool bad_t: bad input schema"), "{text}");
        }
    }

    #[test]
    fn the_account_argument_is_added_and_reserved() {
        let schema = json!({"type": "object", "properties": {"q": {"type": "string"}}, "additionalProperties": false});
        let tool = tool_definition("svc_t", &spec(schema), true).unwrap();
        assert!(tool.input_schema["properties"].get("account").is_some());
        let clash = json!({"type": "object", "properties": {"account": {"type": "string"}}});
        assert!(tool_definition("svc_t", &spec(clash), true).is_err());
        assert!(tool_definition("bad name", &spec(json!({"type": "object"})), true).is_err());
    }

    #[test]
    fn annotations_carry_only_what_differs_from_the_defaults() {
        let json = |hints| serde_json::to_value(annotations(hints)).unwrap();
        assert_eq!(json(ToolHints::READ), json!({"readOnlyHint": true}));
        let write = ToolHints {
            read_only: false,
            destructive: false,
            idempotent: true,
            open_world: false,
        };
        assert_eq!(
            json(write),
            json!({"destructiveHint": false, "idempotentHint": true, "openWorldHint": false})
        );
    }

    #[test]
    fn validation_names_the_field() {
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}},
            "required": ["m"], "additionalProperties": false});
        let v = jsonschema::validator_for(&schema).unwrap();
        let args = json!({"n": "x"}).as_object().unwrap().clone();
        let err = validate(&v, &args).unwrap_err();
        assert!(err.message.contains("`n`"), "{err:?}");
        assert!(err.message.contains("\"m\""), "{err:?}");
        assert_eq!(err.rules, "/n: type; /: required \"m\"");
    }

    #[test]
    fn redaction_removes_the_secret_from_text_and_structured_content() {
        let mut r = CallToolResult::structured(json!({"echo": "Bearer s3cret-token-value"}));
        redact(&mut r, "s3cret-token-value");
        let all = serde_json::to_string(&r).unwrap();
        assert!(!all.contains("s3cret-token-value"), "{all}");
    }

    #[test]
    fn redaction_removes_percent_encoded_and_escaped_forms() {
        let secret = "s3cret/token+\"value\"";
        let echo = format!(
            "url: https://x/?t={} body: {}",
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC),
            json!({ "token": secret })
        );
        let mut r = CallToolResult::success(vec![ContentBlock::text(echo.clone())]);
        r.structured_content = Some(json!({ "echo": echo }));
        redact(&mut r, secret);
        let all = serde_json::to_string(&r).unwrap();
        for leaked in ["s3cret", "s3cret%2Ftoken"] {
            assert!(!all.contains(leaked), "{leaked} in {all}");
        }
        assert!(r.structured_content.is_some());
    }
}
