//! MCPist inside an application that already has an axum server: its own
//! routes stay as they are, MCP is mounted beside them, and tokens come from
//! the application's own secret source through a custom [`TokenStore`].

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use mcpist_core::{
    Error, Exchanger, McpServer, Registration, Result, Service, TokenStore,
    http::{BearerDigest, ClientAuth, HttpOptions, Shutdown},
    store::{
        AccountInfo, AccountKey, AccountRecord, AccountStatus, AccountWrite, Credential,
        CredentialKind, Expect,
    },
};
use secrecy::SecretString;

/// Read-only tokens handed over by the host application (from its own
/// vault, environment, …): one account, `app`, per service.
#[derive(Debug, Default)]
pub struct HostTokens {
    tokens: BTreeMap<String, SecretString>,
    secrets: Mutex<BTreeMap<String, SecretString>>,
}

impl HostTokens {
    /// Tokens by service name.
    pub fn new(tokens: impl IntoIterator<Item = (String, SecretString)>) -> Self {
        Self {
            tokens: tokens.into_iter().collect(),
            secrets: Mutex::default(),
        }
    }
}

fn read_only() -> Error {
    Error::Store("the host application's tokens are read-only here".into())
}

#[async_trait]
impl TokenStore for HostTokens {
    async fn get(&self, key: &AccountKey) -> Result<Option<AccountRecord>> {
        if key.account() != "app" {
            return Ok(None);
        }
        Ok(self.tokens.get(key.service()).map(|token| AccountRecord {
            credential: Credential {
                kind: CredentialKind::Static,
                access_token: token.clone(),
                refresh_token: None,
                expires_at: None,
                scopes: Vec::new(),
            },
            identity: None,
            status: AccountStatus::Ok,
            version: 1,
            updated_at: 0,
        }))
    }

    async fn put(&self, _: &AccountKey, _: AccountWrite, _: Expect) -> Result<u64> {
        Err(read_only())
    }

    async fn list(&self) -> Result<Vec<AccountInfo>> {
        Ok(self
            .tokens
            .keys()
            .map(|service| AccountInfo {
                service: service.clone(),
                account: "app".into(),
                kind: CredentialKind::Static,
                identity: None,
                status: AccountStatus::Ok,
                expires_at: None,
                scopes: Vec::new(),
                is_default: true,
                version: 1,
                updated_at: 0,
            })
            .collect())
    }

    async fn delete(&self, _: &AccountKey) -> Result<bool> {
        Err(read_only())
    }

    async fn set_default(&self, _: &AccountKey) -> Result<()> {
        Err(read_only())
    }

    async fn get_secret(&self, name: &str) -> Result<Option<SecretString>> {
        Ok(self
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned())
    }

    async fn put_secret(&self, name: &str, value: &SecretString) -> Result<()> {
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.into(), value.clone());
        Ok(())
    }

    fn location(&self) -> String {
        "host application".into()
    }
}

/// The host application's router with MCPist mounted: `/hello` is the
/// application's own route, `/mcp` is MCPist behind `bearer`.
pub fn app(
    tokens: HostTokens,
    github_base_url: &str,
    bearer: &SecretString,
) -> Result<axum::Router> {
    let (router, _) = app_with_shutdown(tokens, github_base_url, bearer, Duration::ZERO)?;
    Ok(router)
}

/// [`app`], and the graceful shutdown of its MCP server for
/// [`mcpist_core::http::serve_until`]: tool calls in flight get `grace` to
/// finish before they are cut off.
pub fn app_with_shutdown(
    tokens: HostTokens,
    github_base_url: &str,
    bearer: &SecretString,
    grace: Duration,
) -> Result<(axum::Router, Shutdown)> {
    // Naming the crate keeps its `inventory` registrations linked in.
    let _ = mcpist_connectors::builtin();
    let store = Arc::new(tokens);
    // The audit log of this example lives in memory; a real host would keep it.
    let audit = Arc::new(mcpist_core::MemoryStore::new());
    let github = Service::from_config(
        Registration::find("github").expect("linked"),
        serde_json::json!({ "base_url": github_base_url, "read_only": true }),
    )?;
    let server = McpServer::builder(Exchanger::new(store, audit.clone())?, audit)
        .service(github)
        .build()?;
    let options = HttpOptions::loopback(ClientAuth::Bearer(BearerDigest::of(bearer)));
    let shutdown = Shutdown::new(&server, &options, grace);
    let mcp = mcpist_core::http::router(server, options);
    let router = axum::Router::new()
        .route(
            "/hello",
            axum::routing::get(|| async { "hello from the host application" }),
        )
        .merge(mcp);
    Ok((router, shutdown))
}
