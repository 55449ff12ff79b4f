//! A server with the GitHub connector pointed at a fake GitHub, and an rmcp
//! client connected to it: the setup of the generic server tests
//! (`tests/server.rs`, where GitHub is just a connector) and of GitHub's own
//! (`tests/github.rs`).

use std::sync::Arc;

use mcpist_connectors::github::fake::FakeGithub;
use mcpist_core::{
    AuditSink, Exchanger, McpServer, MemoryStore, Registration, Service, ServicePolicy, TokenStore,
    discover::ToolMode,
    store::{AccountKey, AccountStatus, AccountWrite, Credential, Expect},
};
use rmcp::{RoleClient, service::RunningService};
use secrecy::SecretString;
use serde_json::{Value, json};

/// The fake, the store behind the server, and the connected client.
#[allow(missing_debug_implementations)] // the rmcp client is not Debug
pub struct Setup {
    /// The fake GitHub the connector calls.
    pub fake: FakeGithub,
    /// The server's token store and audit log.
    pub store: Arc<MemoryStore>,
    /// An rmcp client connected to the server.
    pub client: RunningService<RoleClient, ()>,
}

/// Stores a static token for GitHub account `label` (replacing any).
pub async fn add_account(store: &MemoryStore, label: &str, token: &str) {
    store
        .put(
            &AccountKey::new("github", label).unwrap(),
            AccountWrite {
                credential: Credential::static_token(SecretString::from(token.to_owned())).unwrap(),
                identity: None,
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
}

/// A server with the GitHub connector on a fake GitHub and `accounts`
/// (label, token, login) in a memory store, and a client connected to it.
pub async fn setup(accounts: &[(&str, &str, &str)]) -> Setup {
    setup_with(accounts, ServicePolicy::default(), None).await
}

/// [`setup`] with extra keys in the `[connectors.github]` table.
pub async fn setup_config(accounts: &[(&str, &str, &str)], extra: Value) -> Setup {
    setup_full(accounts, ServicePolicy::default(), None, extra).await
}

/// [`setup`] with a policy, and an audit sink other than the store.
pub async fn setup_with(
    accounts: &[(&str, &str, &str)],
    policy: ServicePolicy,
    audit: Option<Arc<dyn AuditSink>>,
) -> Setup {
    setup_full(accounts, policy, audit, json!({})).await
}

/// [`setup`] with a policy, an audit sink and extra config keys.
pub async fn setup_full(
    accounts: &[(&str, &str, &str)],
    policy: ServicePolicy,
    audit: Option<Arc<dyn AuditSink>>,
    extra: Value,
) -> Setup {
    setup_mode(accounts, policy, audit, extra, ToolMode::Flat).await
}

/// [`setup_full`] with the server's tool mode (flat or discover).
pub async fn setup_mode(
    accounts: &[(&str, &str, &str)],
    policy: ServicePolicy,
    audit: Option<Arc<dyn AuditSink>>,
    extra: Value,
    mode: ToolMode,
) -> Setup {
    let fake = FakeGithub::start().await;
    let store = Arc::new(MemoryStore::new());
    for (label, token, login) in accounts {
        fake.accept_token(token, login);
        add_account(&store, label, token).await;
    }
    let mut table = json!({ "base_url": fake.base_url() });
    for (k, v) in extra.as_object().unwrap() {
        table[k] = v.clone();
    }
    let github = Service::from_config(
        Registration::find("github").expect("github is registered"),
        table,
    )
    .unwrap();
    let audit = audit.unwrap_or_else(|| store.clone());
    let exchanger = Exchanger::new(store.clone(), audit.clone())
        .unwrap()
        .with_guide(Arc::new(mcpist_core::guide::McpistCli))
        .with_service(&github);
    let server = McpServer::builder(exchanger, audit)
        .connector(github.connector, policy)
        .tool_mode(mode)
        .build()
        .unwrap();
    let client = crate::connect(server).await;
    Setup {
        fake,
        store,
        client,
    }
}
