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

/// The resource URIs one session subscribed to.
type Subscribed = Arc<Mutex<std::collections::BTreeSet<String>>>;

/// Serves a set of connectors as one MCP server.
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
    // Per session: the level set by `logging/setLevel`.
    log_level: Arc<Mutex<LoggingLevel>>,
    // Per session: the resource URIs it subscribed to (2025-11-25).
    subscribed: Subscribed,
}

struct Inner {
    exchanger: Exchanger,
    audit: Arc<dyn AuditSink>,
    // Every tool of every connector, allowed or not: a hidden tool called by
    // name is refused and audited, not reported as unknown.
    routes: BTreeMap<String, Route>,
    // The reads that are not tools: each resource template, prompt and their
    // completions, under keys such as `resource:github_issue` (never a tool
    // name: `:` is not allowed in one). They run on the tools' path.
    reads: BTreeMap<String, Route>,
    // Resource templates, in the order connectors declare them.
    templates: Vec<Served<crate::resources::ResourceSpec>>,
    // Prompts, by their listed name (`{service}_{name}`).
    prompts: BTreeMap<String, Served<crate::resources::PromptSpec>>,
    // The connectors, by service.
    connectors: BTreeMap<&'static str, Arc<dyn Connector>>,
    // Policy's current view; replaced whole when a policy changes.
    listing: RwLock<Arc<Listing>>,
    // Sessions told when the tool list changes.
    peers: Mutex<Vec<rmcp::Peer<RoleServer>>>,
    // The sessions that subscribed to resources, with their URIs.
    subscribers: Mutex<Vec<(rmcp::Peer<RoleServer>, Subscribed)>>,
    // Resource URIs a write through MCPist changed, for `subscriptions/listen`.
    updates: tokio::sync::broadcast::Sender<String>,
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

/// A resource template or prompt with what the server needs to serve it.
struct Served<T> {
    service: &'static str,
    spec: T,
    // The `reads` key that reads it, and the one that completes its arguments.
    key: String,
    complete_key: String,
    // Resource templates only: the parsed template.
    template: Option<crate::resources::Template>,
}

/// What a route runs.
#[derive(Debug, Clone)]
enum Kind {
    Tool,
    Resource,
    Prompt,
    Complete(crate::resources::CompletionTarget),
}

struct Route {
    connector: Arc<dyn Connector>,
    // For reads, a tool-like spec: its name is the template's or prompt's,
    // read-only, in the declared toolset; policy checks it as a tool.
    spec: ToolSpec,
    kind: Kind,
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
        reads: &BTreeMap<String, Route>,
        policies: BTreeMap<&'static str, ServicePolicy>,
    ) -> Self {
        let verdicts: HashMap<String, Verdict> = routes
            .iter()
            .chain(reads)
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

    /// Serves the prompts the user wrote (as `my_NAME`, see
    /// [`crate::prompts`]) under `policy`; none when `prompts` is empty.
    #[must_use]
    pub fn user_prompts(
        self,
        prompts: Arc<crate::prompts::UserPrompts>,
        policy: ServicePolicy,
    ) -> Self {
        if prompts.prompts().is_empty() {
            return self;
        }
        self.connector(prompts, policy)
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
                    kind: Kind::Tool,
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
        let reads = Reads::of(&connectors, &policies)?;
        let listing = Listing::new(&routes, &reads.routes, policies);
        Ok(Self {
            inner: Arc::new(Inner {
                exchanger,
                audit,
                routes,
                reads: reads.routes,
                templates: reads.templates,
                prompts: reads.prompts,
                connectors,
                listing: RwLock::new(Arc::new(listing)),
                peers: Mutex::new(Vec::new()),
                changes: tokio::sync::watch::Sender::new(0),
                subscribers: Mutex::new(Vec::new()),
                updates: tokio::sync::broadcast::Sender::new(64),
                cut: tokio_util::sync::CancellationToken::new(),
                connect: Arc::default(),
                states: crate::elicit::States::new()?,
                mode,
            }),
            log_level: Arc::new(Mutex::new(LoggingLevel::Info)),
            subscribed: Arc::default(),
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

    /// Whether `policy` can serve `service`: the service is served and
    /// every pinned resource matches one of its templates. What
    /// [`set_policy`](Self::set_policy) checks; a caller that saves a policy
    /// checks it first, so that nothing refused is saved.
    pub fn check_policy(&self, service: &str, policy: &ServicePolicy) -> Result<()> {
        if !self.inner.connectors.contains_key(service) {
            return Err(Error::InvalidArguments(format!(
                "unknown service {service}"
            )));
        }
        if let Some(pin) = policy.resources.iter().find(|pin| {
            find_template(&self.inner.templates, pin).is_none_or(|(t, _, _)| t.service != service)
        }) {
            return Err(Error::InvalidArguments(format!(
                "resource {pin} matches none of {service}'s resource templates"
            )));
        }
        Ok(())
    }

    /// Serves `service` under `policy` from now on: `tools/list` and calls see
    /// the change at once, and open sessions get `notifications/tools/list_changed`
    /// (and the prompts and resources ones when those are served).
    /// Fails if the service is not served.
    pub async fn set_policy(&self, service: &str, policy: ServicePolicy) -> Result<()> {
        self.check_policy(service, &policy)?;
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
            *listing = Arc::new(Listing::new(
                &self.inner.routes,
                &self.inner.reads,
                policies,
            ));
        }
        let peers: Vec<_> = self
            .inner
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.inner.changes.send_modify(|n| *n += 1);
        for peer in &peers {
            // A session that went away is dropped below. Policy also
            // decides which prompts and resources are listed.
            let _ = peer.notify_tool_list_changed().await;
            if !self.inner.prompts.is_empty() {
                let _ = peer.notify_prompt_list_changed().await;
            }
            if !self.inner.templates.is_empty() {
                let _ = peer.notify_resource_list_changed().await;
            }
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
            subscribed: Arc::default(),
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
        call: Call<'_>,
    ) -> Ran {
        let Call { uri, modern } = call;
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
                input: None,
                missing: None,
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
                        Call { uri, modern },
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
            ctx = ctx.with_peer(peer, token, level, !asks.modern);
        }
        if let Some((capabilities, answers)) = modern {
            ctx = ctx.with_answers(capabilities, answers);
        }
        // A panic in a connector fails this call, not the session: the
        // client gets an answer and the audit record an outcome.
        let call =
            crate::connector::catch_panic(connector.service(), invoke(route, &ctx, args, uri));
        let mut input = None;
        let mut missing = None;
        let (mut result, outcome) = match call.await {
            // The connector asks the client first (2026-07-28): the answer
            // is an input-required result, and the retry runs the call again.
            Ok(Err(Error::MissingClientCapability { capability })) => {
                let message = format!(
                    "the client did not declare the `{capability}` capability this call needs"
                );
                missing = Some(capability);
                (tool_error(message), Outcome::InvalidArguments)
            }
            Ok(Err(Error::InputRequired { requests })) => {
                let keys: Vec<String> = requests.keys().cloned().collect();
                input = Some(requests);
                (
                    tool_error(format!(
                        "waiting for the client's answers to {}",
                        keys.join(", ")
                    )),
                    Outcome::Ok,
                )
            }
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
        let mut ran = Ran::new(result, outcome, status_of.last_status());
        ran.input = input;
        ran.missing = missing;
        ran
    }
}

/// What a run needs besides its route, arguments, account and client: the
/// URI of a resource read, and for a 2026-07-28 call what the client
/// declared in the request and the answers its questions got so far.
#[derive(Debug, Clone, Default)]
struct Call<'a> {
    uri: Option<&'a str>,
    modern: Option<(rmcp::model::ClientCapabilities, BTreeMap<String, Value>)>,
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
    /// The questions a connector asks a 2026-07-28 client before it can answer.
    input: Option<rmcp::model::InputRequests>,
    /// The client capability the call needed and the request did not declare.
    missing: Option<String>,
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
            input: None,
            missing: None,
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
    let schema = input_schema(name, spec, uses_accounts)?;
    Ok(
        Tool::new(name.to_owned(), spec.description.clone(), Arc::new(schema))
            .annotate(annotations(spec.hints)),
    )
}

/// The input schema of `spec` with the `account` argument added when the
/// service uses accounts.
fn input_schema(name: &str, spec: &ToolSpec, uses_accounts: bool) -> Result<JsonObject> {
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
    Ok(schema)
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
        } else if let ContentBlock::Resource(embedded) = block
            && let rmcp::model::ResourceContents::TextResourceContents { text, .. } =
                &mut embedded.resource
        {
            crate::redact::secret(text, secret);
        }
    }
    if let Some(structured) = &mut result.structured_content {
        crate::redact::secret_in_json(structured, secret);
    }
}

impl Kind {
    /// What the route is, for messages.
    fn noun(&self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Resource => "resource",
            Kind::Prompt => "prompt",
            Kind::Complete(_) => "completion",
        }
    }
}

/// Calls the connector for `route`. Everything comes back as a
/// [`CallToolResult`], so that one path audits and redacts it: a read's
/// contents as embedded resources, a prompt's messages and a completion's
/// values as structured content.
async fn invoke(
    route: &Route,
    ctx: &CallContext,
    mut args: JsonObject,
    uri: Option<&str>,
) -> Result<CallToolResult> {
    let connector = route.connector.as_ref();
    let name = route.spec.name.as_ref();
    match &route.kind {
        Kind::Tool => connector.call(ctx, name, args).await,
        Kind::Resource => {
            let uri = uri.unwrap_or_default();
            let contents = connector.read_resource(ctx, name, uri, args).await?;
            if contents.is_empty() {
                return Err(Error::InvalidArguments(format!(
                    "{uri}: the service returned nothing"
                )));
            }
            Ok(CallToolResult::success(
                contents.into_iter().map(ContentBlock::resource).collect(),
            ))
        }
        Kind::Prompt => {
            let messages = connector.get_prompt(ctx, name, args).await?;
            let mut result = CallToolResult::success(Vec::new());
            result.structured_content = Some(
                serde_json::to_value(messages).map_err(|e| Error::other("prompt messages", e))?,
            );
            Ok(result)
        }
        Kind::Complete(target) => {
            let mut text = |key: &str| match args.remove(key) {
                Some(Value::String(s)) => s,
                _ => String::new(),
            };
            let argument = text("argument");
            let value = text("value");
            let context = match args.remove("context") {
                Some(Value::Object(context)) => context,
                _ => JsonObject::new(),
            };
            let request = crate::resources::CompletionRequest {
                target: target.clone(),
                argument,
                value,
                context,
            };
            let mut values = connector.complete(ctx, &request).await?;
            let total = values.len();
            values.truncate(crate::resources::MAX_COMPLETIONS);
            let mut result = CallToolResult::success(Vec::new());
            result.structured_content = Some(json!({"values": values, "total": total}));
            Ok(result)
        }
    }
}

/// The resource, prompt and completion routes of a set of connectors.
struct Reads {
    routes: BTreeMap<String, Route>,
    templates: Vec<Served<crate::resources::ResourceSpec>>,
    prompts: BTreeMap<String, Served<crate::resources::PromptSpec>>,
}

impl Reads {
    /// Checks every declaration (template syntax and scheme, unique names,
    /// pinned URIs that match a template) and builds the routes.
    fn of(
        connectors: &BTreeMap<&'static str, Arc<dyn Connector>>,
        policies: &BTreeMap<&'static str, ServicePolicy>,
    ) -> Result<Self> {
        use crate::resources::{CompletionTarget, Template};
        let mut reads = Self {
            routes: BTreeMap::new(),
            templates: Vec::new(),
            prompts: BTreeMap::new(),
        };
        for (&service, connector) in connectors {
            let bad = |what: String| Error::config(service, what);
            let uses_accounts = connector.auth() != Auth::None;
            let mut add = |key: String, spec: ToolSpec, kind: Kind| -> Result<()> {
                let schema = input_schema(&key, &spec, uses_accounts)?;
                let def = Tool::new(key.clone(), spec.description.clone(), Arc::new(schema));
                let route = Route {
                    connector: connector.clone(),
                    spec,
                    kind,
                    def,
                    validator: OnceLock::new(),
                };
                match reads.routes.insert(key.clone(), route) {
                    Some(_) => Err(bad(format!("{key} is declared twice"))),
                    None => Ok(()),
                }
            };
            let complete_schema = |names: Vec<String>| {
                json!({"type": "object", "properties": {
                    "argument": {"type": "string", "enum": names},
                    "value": {"type": "string", "maxLength": 1000},
                    "context": {"type": "object", "additionalProperties": {"type": "string"}}},
                    "required": ["argument", "value"], "additionalProperties": false})
            };
            for spec in connector.resources() {
                crate::names::check_tool_part("a resource name", &spec.name)?;
                let template = Template::parse(&spec.uri_template)?;
                if !spec
                    .uri_template
                    .strip_prefix(service)
                    .is_some_and(|rest| rest.starts_with("://"))
                {
                    return Err(bad(format!(
                        "resource {}: its URI must be of scheme {service}://",
                        spec.name
                    )));
                }
                let listed = crate::names::tool_name(service, &spec.name);
                let key = format!("resource:{listed}");
                let complete_key = format!("complete:{key}");
                let as_tool = ToolSpec::new(
                    spec.name.clone(),
                    spec.description.clone(),
                    template.schema(),
                    crate::connector::ToolHints::READ,
                    spec.toolset,
                );
                add(key.clone(), as_tool.clone(), Kind::Resource)?;
                let variables: Vec<String> = template.variables().map(str::to_owned).collect();
                if !variables.is_empty() {
                    let mut complete = as_tool;
                    complete.input_schema = complete_schema(variables);
                    add(
                        complete_key.clone(),
                        complete,
                        Kind::Complete(CompletionTarget::Resource(spec.name.to_string())),
                    )?;
                }
                reads.templates.push(Served {
                    service,
                    spec,
                    key,
                    complete_key,
                    template: Some(template),
                });
            }
            for spec in connector.prompts() {
                crate::names::check_tool_part("a prompt name", &spec.name)?;
                let listed = crate::names::tool_name(service, &spec.name);
                let key = format!("prompt:{listed}");
                let complete_key = format!("complete:{key}");
                let properties: JsonObject = spec
                    .arguments
                    .iter()
                    .map(|a| (a.name.to_string(), json!({"type": "string"})))
                    .collect();
                let required: Vec<&str> = spec
                    .arguments
                    .iter()
                    .filter(|a| a.required)
                    .map(|a| a.name.as_ref())
                    .collect();
                let as_tool = ToolSpec::new(
                    spec.name.clone(),
                    spec.description.clone(),
                    json!({"type": "object", "properties": properties, "required": required,
                        "additionalProperties": false}),
                    crate::connector::ToolHints::READ,
                    spec.toolset,
                );
                add(key.clone(), as_tool.clone(), Kind::Prompt)?;
                if !spec.arguments.is_empty() {
                    let mut complete = as_tool;
                    complete.input_schema = complete_schema(
                        spec.arguments.iter().map(|a| a.name.to_string()).collect(),
                    );
                    add(
                        complete_key.clone(),
                        complete,
                        Kind::Complete(CompletionTarget::Prompt(spec.name.to_string())),
                    )?;
                }
                reads.prompts.insert(
                    listed,
                    Served {
                        service,
                        spec,
                        key,
                        complete_key,
                        template: None,
                    },
                );
            }
        }
        for (&service, policy) in policies {
            for pin in &policy.resources {
                reads
                    .template_for(pin)
                    .filter(|(t, _, _)| t.service == service)
                    .ok_or_else(|| {
                        Error::config(
                            service,
                            format!(
                                "resources: {pin} matches none of the service's resource templates"
                            ),
                        )
                    })?;
            }
        }
        Ok(reads)
    }

    /// The template `uri` names (MCPist's own parameters taken out), with
    /// its variables' values.
    fn template_for(
        &self,
        uri: &str,
    ) -> Option<(
        &Served<crate::resources::ResourceSpec>,
        JsonObject,
        crate::resources::ReadUri,
    )> {
        find_template(&self.templates, uri)
    }
}

/// The template of `templates` that `uri` matches, with its variables'
/// values and the URI's parts.
fn find_template<'a>(
    templates: &'a [Served<crate::resources::ResourceSpec>],
    uri: &str,
) -> Option<(
    &'a Served<crate::resources::ResourceSpec>,
    JsonObject,
    crate::resources::ReadUri,
)> {
    let parsed = crate::resources::ReadUri::parse(uri).ok()?;
    templates
        .iter()
        .filter(|t| t.service == parsed.service)
        .find_map(|t| {
            let values = t.template.as_ref()?.matches(&parsed.path)?;
            Some((t, values, parsed.clone()))
        })
}

/// How long clients may keep a `resources/list`, `resources/templates/list`
/// or `prompts/list` result: as long as `tools/list`, for the same reason
/// (policy changes them).
const LISTS_TTL_MS: u64 = TOOLS_TTL_MS;

impl McpServer {
    /// Tells the sessions subscribed to any of `uris` that it changed
    /// (`notifications/resources/updated`, and on `subscriptions/listen`
    /// streams that asked for it).
    async fn resources_updated(&self, uris: &[String]) {
        if uris.is_empty() {
            return;
        }
        let subscribers: Vec<_> = {
            let mut all = self
                .inner
                .subscribers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            all.retain(|(peer, _)| !peer.is_transport_closed());
            all.clone()
        };
        for uri in uris {
            // No listener is no error.
            let _ = self.inner.updates.send(uri.clone());
            for (peer, subscribed) in &subscribers {
                let wanted = subscribed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(uri);
                if wanted {
                    let _ = peer
                        .notify_resource_updated(
                            rmcp::model::ResourceUpdatedNotificationParam::new(uri.clone()),
                        )
                        .await;
                }
            }
        }
    }

    /// The URI `resources/subscribe` keeps for `uri`: one of a template
    /// policy allows, without MCPist's `account=` and `offset=`.
    fn subscribable(&self, uri: &str) -> std::result::Result<String, ErrorData> {
        match find_template(&self.inner.templates, uri) {
            Some((served, _, parsed)) if self.read_allowed(&served.key) => Ok(parsed.uri),
            Some(_) => Err(ErrorData::invalid_params(
                format!("{uri}: its service's policy does not allow reading it"),
                Some(json!({ "uri": uri })),
            )),
            None => Err(ErrorData::invalid_params(
                format!("Resource not found: {uri}"),
                Some(json!({ "uri": uri })),
            )),
        }
    }

    /// Whether the route `key` of `reads` is allowed by policy now.
    fn read_allowed(&self, key: &str) -> bool {
        self.listing().verdicts.get(key) == Some(&Verdict::Allowed)
    }

    /// Runs the read route `key` with `args` on the tools' path; the answer
    /// of a completed run, or the input-required result it asks for.
    async fn run_read(
        &self,
        key: &str,
        args: JsonObject,
        uri: Option<&str>,
        input_responses: Option<rmcp::model::InputResponses>,
        request_state: Option<String>,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let mut request = CallToolRequestParams::new(key.to_owned()).with_arguments(args);
        request.input_responses = input_responses;
        request.request_state = request_state;
        self.call_in(&self.inner.reads, request, uri, context, None)
            .await
    }

    /// The completed result of a read, or its error as a JSON-RPC error
    /// (`data.uri` names the resource when there is one).
    fn completed(
        response: CallToolResponse,
        uri: Option<&str>,
    ) -> std::result::Result<
        std::result::Result<CallToolResult, rmcp::model::InputRequiredResult>,
        ErrorData,
    > {
        let data = uri.map(|uri| json!({ "uri": uri }));
        match response {
            CallToolResponse::Complete(result) if result.is_error == Some(true) => {
                let text: String = result
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
                    .collect();
                Err(ErrorData::invalid_params(text, data))
            }
            CallToolResponse::Complete(result) => Ok(Ok(result)),
            CallToolResponse::InputRequired(input) => Ok(Err(input)),
            _ => Err(ErrorData::internal_error("unexpected result", data)),
        }
    }

    /// `resources/read` of `uri`.
    async fn read(
        &self,
        request: rmcp::model::ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::ReadResourceResponse, ErrorData> {
        use rmcp::model::{ReadResourceResult, ResourceContents};
        let not_found = |why: &str| {
            ErrorData::invalid_params(
                format!("Resource not found: {why}"),
                Some(json!({ "uri": request.uri })),
            )
        };
        if let Err(why) = crate::resources::ReadUri::parse(&request.uri) {
            return Err(not_found(&why));
        }
        let Some((served, mut args, parsed)) = find_template(&self.inner.templates, &request.uri)
        else {
            return Err(not_found(
                "no resource template of a served service matches it",
            ));
        };
        if let Some(label) = &parsed.account {
            args.insert("account".into(), Value::String(label.clone()));
        }
        let response = self
            .run_read(
                &served.key,
                args,
                Some(&parsed.uri),
                request.input_responses,
                request.request_state,
                context,
            )
            .await?;
        let result = match Self::completed(response, Some(&request.uri))? {
            Ok(result) => result,
            Err(input) => return Ok(input.into()),
        };
        let mut contents = Vec::new();
        for block in result.content {
            let ContentBlock::Resource(embedded) = block else {
                continue;
            };
            contents.push(match embedded.resource {
                ResourceContents::TextResourceContents {
                    uri,
                    mime_type,
                    text,
                    meta,
                } => {
                    let (part, next) =
                        crate::resources::window(&text, parsed.offset).map_err(|why| {
                            ErrorData::invalid_params(why, Some(json!({"uri": request.uri})))
                        })?;
                    let mut part = part.to_owned();
                    let mut meta = meta;
                    if let Some(next) = next {
                        let rest =
                            crate::resources::continuation(&uri, parsed.account.as_deref(), next);
                        part.push_str(&format!(
                            "\n… [cut at byte {next} of {}; read {rest} for the rest]",
                            text.len()
                        ));
                        let mut object = meta.unwrap_or_default();
                        object.insert("io.mcpist/next".into(), Value::String(rest));
                        meta = Some(object);
                    }
                    ResourceContents::TextResourceContents {
                        uri,
                        mime_type,
                        text: part,
                        meta,
                    }
                }
                blob if parsed.offset == 0 => blob,
                _ => {
                    return Err(ErrorData::invalid_params(
                        "offset applies to text contents only",
                        Some(json!({"uri": request.uri})),
                    ));
                }
            });
        }
        Ok(ReadResourceResult::new(contents)
            .with_cache_scope(rmcp::model::CacheScope::Private)
            .with_ttl_ms(0)
            .into())
    }

    /// `prompts/get` of `request.name`.
    async fn prompt(
        &self,
        request: rmcp::model::GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::GetPromptResponse, ErrorData> {
        let Some(served) = self.inner.prompts.get(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown prompt: {}", request.name),
                None,
            ));
        };
        let args = request.arguments.unwrap_or_default();
        let response = self
            .run_read(
                &served.key,
                args,
                None,
                request.input_responses,
                request.request_state,
                context,
            )
            .await?;
        let result = match Self::completed(response, None)? {
            Ok(result) => result,
            Err(input) => return Ok(input.into()),
        };
        let messages: Vec<rmcp::model::PromptMessage> =
            serde_json::from_value(result.structured_content.unwrap_or_default())
                .map_err(|e| ErrorData::internal_error(format!("prompt messages: {e}"), None))?;
        Ok(rmcp::model::GetPromptResult::new(messages)
            .with_description(served.spec.description.to_string())
            .into())
    }

    /// `completion/complete` for a template's or prompt's argument.
    async fn completion(
        &self,
        request: rmcp::model::CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::CompleteResult, ErrorData> {
        use rmcp::model::{CompleteResult, CompletionInfo, Reference};
        let key = match &request.r#ref {
            Reference::Prompt(prompt) => self
                .inner
                .prompts
                .get(&prompt.name)
                .map(|p| &p.complete_key),
            Reference::Resource(resource) => {
                let template = resource
                    .uri
                    .strip_suffix("{?account}")
                    .unwrap_or(&resource.uri);
                self.inner
                    .templates
                    .iter()
                    .find(|t| t.spec.uri_template == template)
                    .map(|t| &t.complete_key)
            }
            _ => None,
        };
        let Some(key) = key.filter(|key| self.inner.reads.contains_key(key.as_str())) else {
            return Err(ErrorData::invalid_params(
                "no prompt or resource template of that name takes arguments",
                None,
            ));
        };
        let mut context_args: JsonObject = request
            .context
            .and_then(|c| c.arguments)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let mut args = JsonObject::new();
        // The account chosen so far picks the account the values come from.
        if let Some(label) = context_args.remove("account") {
            args.insert("account".into(), label);
        }
        args.insert("argument".into(), Value::String(request.argument.name));
        args.insert("value".into(), Value::String(request.argument.value));
        args.insert("context".into(), Value::Object(context_args));
        let response = self.run_read(key, args, None, None, None, context).await?;
        let result = match Self::completed(response, None)? {
            Ok(result) => result,
            Err(_) => {
                return Err(ErrorData::invalid_params(
                    "completion needs an account: pass `account` in the context",
                    None,
                ));
            }
        };
        let structured = result.structured_content.unwrap_or_default();
        let values: Vec<String> =
            serde_json::from_value(structured["values"].clone()).unwrap_or_default();
        let total = structured["total"].as_u64().unwrap_or(values.len() as u64);
        let mut info =
            CompletionInfo::new(values).map_err(|e| ErrorData::internal_error(e, None))?;
        info.total = Some(u32::try_from(total).unwrap_or(u32::MAX));
        info.has_more = Some(total as usize > info.values.len());
        Ok(CompleteResult::new(info))
    }

    /// The resources `resources/list` shows: the fixed ones connectors
    /// declare and the ones the user pinned, of templates policy allows.
    fn listed_resources(&self) -> Vec<rmcp::model::Resource> {
        let listing = self.listing();
        let mut out = Vec::new();
        for served in &self.inner.templates {
            if served.template.as_ref().is_some_and(|t| t.is_fixed())
                && self.read_allowed(&served.key)
            {
                let mut resource = rmcp::model::Resource::new(
                    served.spec.uri_template.to_string(),
                    crate::names::tool_name(served.service, &served.spec.name),
                )
                .with_description(served.spec.description.to_string());
                if let Some(mime) = served.spec.mime_type {
                    resource = resource.with_mime_type(mime);
                }
                out.push(resource);
            }
        }
        for policy in listing.policies.values() {
            for pin in &policy.resources {
                if let Some((served, _, _)) = find_template(&self.inner.templates, pin)
                    && self.read_allowed(&served.key)
                {
                    let mut resource = rmcp::model::Resource::new(pin.clone(), pin.clone())
                        .with_description(served.spec.description.to_string());
                    if let Some(mime) = served.spec.mime_type {
                        resource = resource.with_mime_type(mime);
                    }
                    out.push(resource);
                }
            }
        }
        out
    }

    /// The templates `resources/templates/list` shows: those with variables
    /// that policy allows, with `{?account}` when the service has accounts.
    fn listed_templates(&self) -> Vec<rmcp::model::ResourceTemplate> {
        self.inner
            .templates
            .iter()
            .filter(|t| t.template.as_ref().is_some_and(|t| !t.is_fixed()))
            .filter(|t| self.read_allowed(&t.key))
            .map(|t| {
                let accounts = self.inner.connectors[t.service].auth() != Auth::None;
                let uri = if accounts {
                    format!("{}{{?account}}", t.spec.uri_template)
                } else {
                    t.spec.uri_template.to_string()
                };
                let mut template = rmcp::model::ResourceTemplate::new(
                    uri,
                    crate::names::tool_name(t.service, &t.spec.name),
                )
                .with_description(t.spec.description.to_string());
                if let Some(mime) = t.spec.mime_type {
                    template = template.with_mime_type(mime);
                }
                template
            })
            .collect()
    }

    /// The prompts `prompts/list` shows: those policy allows.
    fn listed_prompts(&self) -> Vec<rmcp::model::Prompt> {
        self.inner
            .prompts
            .iter()
            .filter(|(_, p)| self.read_allowed(&p.key))
            .map(|(name, p)| {
                let arguments = p
                    .spec
                    .arguments
                    .iter()
                    .map(|a| {
                        rmcp::model::PromptArgument::new(a.name.to_string())
                            .with_description(a.description.to_string())
                            .with_required(a.required)
                    })
                    .collect::<Vec<_>>();
                rmcp::model::Prompt::new(
                    name.clone(),
                    Some(p.spec.description.to_string()),
                    (!arguments.is_empty()).then_some(arguments),
                )
            })
            .collect()
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_logging()
            .build();
        // Only what is served: resources, prompts and completion when a
        // connector declares them.
        if !self.inner.templates.is_empty() {
            let mut resources = rmcp::model::ResourcesCapability::default();
            resources.list_changed = Some(true);
            // Changes made through MCPist (its writes) are told.
            resources.subscribe = Some(true);
            capabilities.resources = Some(resources);
        }
        if !self.inner.prompts.is_empty() {
            let mut prompts = rmcp::model::PromptsCapability::default();
            prompts.list_changed = Some(true);
            capabilities.prompts = Some(prompts);
        }
        if self
            .inner
            .reads
            .values()
            .any(|r| matches!(r.kind, Kind::Complete(_)))
        {
            capabilities.completions = Some(JsonObject::new());
        }
        ServerConfig::new(capabilities)
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

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::ListResourcesResult, ErrorData> {
        if self.inner.templates.is_empty() {
            return Err(ErrorData::method_not_found::<
                rmcp::model::ListResourcesRequestMethod,
            >());
        }
        Ok(
            rmcp::model::ListResourcesResult::with_all_items(self.listed_resources())
                .with_ttl_ms(LISTS_TTL_MS)
                .with_cache_scope(rmcp::model::CacheScope::Private),
        )
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::ListResourceTemplatesResult, ErrorData> {
        if self.inner.templates.is_empty() {
            return Err(ErrorData::method_not_found::<
                rmcp::model::ListResourceTemplatesRequestMethod,
            >());
        }
        Ok(
            rmcp::model::ListResourceTemplatesResult::with_all_items(self.listed_templates())
                .with_ttl_ms(LISTS_TTL_MS)
                .with_cache_scope(rmcp::model::CacheScope::Private),
        )
    }

    async fn read_resource(
        &self,
        request: rmcp::model::ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::ReadResourceResponse, ErrorData> {
        self.read(request, context).await
    }

    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<(), ErrorData> {
        let uri = self.subscribable(&request.uri)?;
        let first = {
            let mut subscribed = self.subscribed.lock().unwrap_or_else(|e| e.into_inner());
            let first = subscribed.is_empty();
            subscribed.insert(uri);
            first
        };
        if first {
            self.inner
                .subscribers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((context.peer, self.subscribed.clone()));
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: rmcp::model::UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<(), ErrorData> {
        let uri = crate::resources::ReadUri::parse(&request.uri)
            .map(|parsed| parsed.uri)
            .unwrap_or(request.uri);
        self.subscribed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::ListPromptsResult, ErrorData> {
        if self.inner.prompts.is_empty() {
            return Err(ErrorData::method_not_found::<
                rmcp::model::ListPromptsRequestMethod,
            >());
        }
        Ok(
            rmcp::model::ListPromptsResult::with_all_items(self.listed_prompts())
                .with_ttl_ms(LISTS_TTL_MS)
                .with_cache_scope(rmcp::model::CacheScope::Private),
        )
    }

    async fn get_prompt(
        &self,
        request: rmcp::model::GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::GetPromptResponse, ErrorData> {
        self.prompt(request, context).await
    }

    async fn complete(
        &self,
        request: rmcp::model::CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::CompleteResult, ErrorData> {
        self.completion(request, context).await
    }

    fn accepted_subscription_filter(
        &self,
        requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        // The lists change with policy; resource updates are not offered.
        let mut accepted = rmcp::model::SubscriptionFilter::new();
        accepted.tools_list_changed = requested.tools_list_changed;
        if !self.inner.prompts.is_empty() {
            accepted.prompts_list_changed = requested.prompts_list_changed;
        }
        if !self.inner.templates.is_empty() {
            accepted.resources_list_changed = requested.resources_list_changed;
            accepted.resource_subscriptions =
                requested.resource_subscriptions.as_ref().map(|uris| {
                    uris.iter()
                        .filter_map(|uri| self.subscribable(uri).ok())
                        .collect()
                });
        }
        Some(accepted)
    }

    async fn listen(
        &self,
        context: rmcp::service::SubscriptionContext,
    ) -> std::result::Result<(), ErrorData> {
        let mut changes = self.inner.changes.subscribe();
        changes.mark_unchanged();
        let mut updates = self.inner.updates.subscribe();
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                updated = updates.recv() => {
                    let uri = match updated {
                        Ok(uri) => uri,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                    };
                    let wanted = context
                        .sink()
                        .accepted()
                        .resource_subscriptions
                        .as_ref()
                        .is_some_and(|uris| uris.contains(&uri));
                    if wanted && context.sink().notify_resource_updated(uri).await.is_err() {
                        return Ok(());
                    }
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let sink = context.sink();
                    let accepted = sink.accepted().clone();
                    let mut sent = Ok(());
                    if accepted.tools_list_changed == Some(true) {
                        sent = sent.and(sink.notify_tool_list_changed().await);
                    }
                    if accepted.prompts_list_changed == Some(true) {
                        sent = sent.and(sink.notify_prompt_list_changed().await);
                    }
                    if accepted.resources_list_changed == Some(true) {
                        sent = sent.and(sink.notify_resource_list_changed().await);
                    }
                    if sent.is_err() {
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
        self.call_in(&self.inner.routes, request, None, context, None)
            .await
    }

    /// Runs the route `request.name` of `routes` (the tools, or the reads:
    /// a resource named `uri`, a prompt, a completion) on the one path every
    /// call takes: policy, audit, account resolution, validation, redaction.
    /// As a task of a batch, `batch` holds the task's request id
    /// (`BATCH_ID.TASK_ID`): audited under it, and without elicitations (a
    /// task's account error is its `isError`).
    async fn call_in(
        &self,
        routes: &BTreeMap<String, Route>,
        request: CallToolRequestParams,
        uri: Option<&str>,
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
        let Some(route) = routes.get(request.name.as_ref()) else {
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
            let message = format!(
                "{} {} is not allowed by policy: {reason}",
                route.kind.noun(),
                request.name
            );
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
        // A batch task asks nothing of its own: an account error is its
        // `isError`, and a connector's question ends it (the batch cannot
        // answer); it still speaks its client's protocol generation.
        let asks = match batch {
            None => crate::elicit::Asks::of(&context),
            Some(_) => crate::elicit::Asks {
                url: false,
                form: false,
                modern: crate::elicit::Asks::of(&context).modern,
            },
        };
        // A 2026-07-28 call: what the client declared in this request, and
        // the answers a connector's questions got so far.
        let modern = asks.modern.then(|| {
            (
                context.client_capabilities().unwrap_or_default(),
                self.inner.states.answers(
                    request.name.as_ref(),
                    request.request_state.as_deref(),
                    request.input_responses.as_ref(),
                ),
            )
        });
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
            input,
            missing,
        } = tokio::select! {
            ran = self.run(route, args, account, Some((peer.clone(), token, context.meta.log_level())), asks, Call { uri, modern: modern.clone() }) => ran,
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
        if outcome == Outcome::Ok && !route.spec.hints.read_only && matches!(route.kind, Kind::Tool)
        {
            let changed = route
                .connector
                .changed_resources(&route.spec.name, &sent_args);
            self.resources_updated(&changed).await;
        }
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
        if let Some(capability) = missing {
            // The protocol's own error (HTTP 400), naming the capability.
            let required = serde_json::from_value(json!({ capability: {} })).unwrap_or_default();
            return Err(ErrorData::missing_required_client_capability(required));
        }
        if let (Some(requests), Some((_, answers))) = (input, modern) {
            return self
                .inner
                .states
                .ask_input(request.name.as_ref(), answers, requests);
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
    /// [`Self::call_in`] with the batch's id.
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
                    let result = match self.call_in(&self.inner.routes, call, None, context, Some(request_id)).await {
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
                .run(
                    route,
                    args,
                    None,
                    None,
                    crate::elicit::Asks::default(),
                    Call::default(),
                )
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
