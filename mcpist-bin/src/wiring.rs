//! Builds the store, the connectors and the server from a loaded config.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use mcpist_core::{
    AuditSink, Exchanger, McpServer, MemoryStore, Registration, Service, SqliteStore, TokenStore,
    seal::{MasterKey, create_private_dir},
};
use secrecy::SecretString;

use crate::config::{Loaded, StoreKind};

/// The name under which the MCP bearer token is stored.
pub(crate) const BEARER_SECRET: &str = "mcp_bearer";

/// What `open_store` had to create, so commands can say where.
#[derive(Debug, Default)]
pub(crate) struct Created {
    pub(crate) data_dir: bool,
    pub(crate) key: bool,
    pub(crate) store: bool,
}

/// The opened store: accounts and the audit log live together.
#[derive(Debug, Clone)]
pub(crate) struct Stores {
    pub(crate) tokens: Arc<dyn TokenStore>,
    pub(crate) audit: Arc<dyn AuditSink>,
}

impl Stores {
    fn of<S: TokenStore + AuditSink>(store: S) -> Self {
        let store = Arc::new(store);
        Self {
            tokens: store.clone(),
            audit: store,
        }
    }
}

/// Opens the configured store. With `create`, a missing data directory, key
/// file or store file is created (private to the user).
pub(crate) fn open_store(loaded: &Loaded, create: bool) -> Result<(Stores, Created)> {
    let mut created = Created::default();
    match loaded.config.store.kind {
        StoreKind::Memory => Ok((Stores::of(MemoryStore::new()), created)),
        StoreKind::Sqlite => {
            let store_path = loaded.store_path();
            let key_path = loaded.key_path();
            for dir in [store_path.parent(), key_path.parent()]
                .into_iter()
                .flatten()
            {
                if !dir.exists() {
                    if !create {
                        bail!("{} does not exist; run `mcpist init` first", dir.display());
                    }
                    create_private_dir(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    created.data_dir = true;
                }
            }
            let store_existed = store_path.exists();
            if !store_existed && !create {
                bail!(
                    "no store at {}; run `mcpist init` first",
                    store_path.display()
                );
            }
            if store_existed
                && !key_path.exists()
                && std::env::var_os(mcpist_core::seal::MASTER_KEY_ENV).is_none()
            {
                // Never create a new key for an existing store: it could not open it.
                bail!(
                    "the store {} exists but its key file {} is missing; restore the key file or set {}",
                    store_path.display(),
                    key_path.display(),
                    mcpist_core::seal::MASTER_KEY_ENV
                );
            }
            let (key, key_created) = MasterKey::load(&key_path, create)?;
            created.key = key_created;
            let store = SqliteStore::open(&store_path, key)?;
            created.store = !store_existed;
            Ok((Stores::of(store), created))
        }
    }
}

/// A new random bearer token (256 bits, URL-safe base64).
pub(crate) fn new_bearer() -> Result<SecretString> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| anyhow!("random bearer: {e}"))?;
    Ok(SecretString::from(format!(
        "mcpist_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref())
    )))
}

/// The stored MCP bearer token; created (and reported) when missing.
pub(crate) async fn ensure_bearer(store: &dyn TokenStore) -> Result<(SecretString, bool)> {
    if let Some(bearer) = store.get_secret(BEARER_SECRET).await? {
        return Ok((bearer, false));
    }
    let bearer = new_bearer()?;
    store.put_secret(BEARER_SECRET, &bearer).await?;
    Ok((bearer, true))
}

/// The services this config serves: every registered connector that is
/// enabled by default or named in `[connectors]`, minus those with
/// `enabled = false`. Core keys (policy, `oauth`, `route`) are taken out of
/// each table before the connector parses the rest.
pub(crate) fn build_services(loaded: &Loaded) -> Result<Vec<Service>> {
    // Naming the crate keeps its `inventory` registrations linked in.
    let available = mcpist_connectors::builtin();
    for name in loaded.config.connectors.keys() {
        if Registration::find(name).is_none() {
            bail!(
                "bad configuration in {}: [connectors.{name}]: unknown connector; this build has: {}",
                loaded.source_of(&format!("connectors.{name}")),
                available.join(", ")
            );
        }
    }
    let mut services = Vec::new();
    for registration in Registration::all() {
        let name = registration.service;
        let named = loaded.config.connectors.get(name);
        let enabled = named
            .and_then(|t| t.get("enabled"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(named.is_some() || registration.enabled_by_default);
        if !enabled {
            continue;
        }
        let table = named.cloned().unwrap_or(serde_json::Value::Null);
        services.push(Service::from_config(registration, table).map_err(|e| {
            anyhow!(
                "bad configuration in {}: [connectors.{name}]: {e}",
                loaded.source_of(&format!("connectors.{name}"))
            )
        })?);
    }
    Ok(services)
}

/// The exchanger over `stores` for `services`.
pub(crate) fn build_exchanger(
    loaded: &Loaded,
    stores: &Stores,
    services: &[Service],
) -> Result<Exchanger> {
    let mut exchanger = Exchanger::new(stores.tokens.clone(), stores.audit.clone())?
        .with_refresh_margin(Duration::from_secs(loaded.config.oauth.refresh_margin_secs));
    for service in services {
        exchanger = exchanger.with_service(service);
    }
    Ok(exchanger)
}

/// The MCP server over `stores` with the configured services.
pub(crate) fn build_server(loaded: &Loaded, stores: &Stores) -> Result<McpServer> {
    let services = build_services(loaded)?;
    let mut server = McpServer::builder(
        build_exchanger(loaded, stores, &services)?,
        stores.audit.clone(),
    );
    for service in services {
        server = server.connector(service.connector, service.policy);
    }
    Ok(server.build()?)
}
