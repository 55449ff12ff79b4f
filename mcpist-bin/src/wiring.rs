//! Builds the store, the connectors and the server from a loaded config.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use mcpist_core::{
    AuditSink, Exchanger, McpServer, MemoryStore, Registration, Service, SqliteStore, TokenStore,
    guide::McpistCli,
    seal::{MasterKey, create_private_dir},
};
use secrecy::SecretString;

use crate::config::{KeySource, Loaded, StoreKind};

/// The name under which the MCP bearer token is stored.
pub(crate) use mcpist_core::http::BEARER_SECRET;

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
        StoreKind::Postgres => open_postgres(loaded, create),
        StoreKind::Sqlite => {
            let store_path = loaded.store_path();
            let key_path = loaded.key_path();
            let by_passphrase = loaded.config.store.key == KeySource::Passphrase;
            let key_dir = if by_passphrase {
                None
            } else {
                key_path.parent()
            };
            for dir in [store_path.parent(), key_dir].into_iter().flatten() {
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
            if by_passphrase {
                let passphrase = read_passphrase(
                    mcpist_core::seal::PASSPHRASE_ENV,
                    "Passphrase of the MCPist store",
                    !store_existed,
                )?;
                let store = SqliteStore::open_with_passphrase(&store_path, &passphrase)?;
                created.store = !store_existed;
                return Ok((Stores::of(store), created));
            }
            if store_existed
                && !key_path.exists()
                && std::env::var_os(mcpist_core::seal::MASTER_KEY_ENV).is_none()
            {
                if next_key_path(&key_path).exists() {
                    // `key rotate --to-key-file` stopped between its commit and the move.
                    let store = finish_rotation(&store_path, &key_path)?;
                    return Ok((Stores::of(store), created));
                }
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
            let store = match SqliteStore::open(&store_path, key) {
                Err(mcpist_core::Error::WrongKey { .. }) if next_key_path(&key_path).exists() => {
                    finish_rotation(&store_path, &key_path)?
                }
                other => other?,
            };
            created.store = !store_existed;
            Ok((Stores::of(store), created))
        }
    }
}

/// A passphrase from the environment variable `env`, else asked at the
/// terminal (twice when `confirm`); refused when standard input is not a
/// terminal, where nobody could answer.
pub(crate) fn read_passphrase(env: &str, prompt: &str, confirm: bool) -> Result<SecretString> {
    use std::io::IsTerminal as _;
    if let Ok(passphrase) = std::env::var(env) {
        return Ok(SecretString::from(passphrase));
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "[store] key = \"passphrase\" needs the passphrase: set {env}, or run this at a \
             terminal to be asked (standard input is not a terminal)"
        );
    }
    let first = SecretString::from(rpassword::prompt_password(format!("{prompt}: "))?);
    if confirm {
        let again = zeroize::Zeroizing::new(rpassword::prompt_password("Again, to confirm: ")?);
        if again.as_str() != secrecy::ExposeSecret::expose_secret(&first) {
            bail!("the two passphrases differ; nothing was changed");
        }
    }
    Ok(first)
}

/// Runs `open` to completion from synchronous code on the multi-thread
/// runtime (commands open their store outside async code).
#[cfg(feature = "postgres")]
fn block_on<T>(open: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(open))
}

/// Opens the PostgreSQL store of `[store] url` with the master key (key file,
/// `MCPIST_MASTER_KEY` or passphrase; every replica needs the same one).
#[cfg(feature = "postgres")]
fn open_postgres(loaded: &Loaded, create: bool) -> Result<(Stores, Created)> {
    let url = loaded.config.store.url.clone().with_context(|| {
        format!(
            "bad configuration in {}: [store] kind = \"postgres\" needs url = \"postgres://USER@HOST/DB\" \
             (or MCPIST_STORE__URL)",
            loaded.config_path.display()
        )
    })?;
    if loaded.config.store.key == KeySource::Passphrase {
        let passphrase = read_passphrase(
            mcpist_core::seal::PASSPHRASE_ENV,
            "Passphrase of the MCPist store",
            false,
        )?;
        let store = block_on(mcpist_core::PostgresStore::open_with_passphrase(
            &url,
            &passphrase,
        ))?;
        return Ok((Stores::of(store), Created::default()));
    }
    let mut created = Created::default();
    let key_path = loaded.key_path();
    if create
        && !key_path.exists()
        && std::env::var_os(mcpist_core::seal::MASTER_KEY_ENV).is_none()
        && let Some(dir) = key_path.parent()
        && !dir.exists()
    {
        create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        created.data_dir = true;
    }
    let (key, key_created) = MasterKey::load(&key_path, create)?;
    created.key = key_created;
    let store = block_on(mcpist_core::PostgresStore::open(&url, key))?;
    Ok((Stores::of(store), created))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_: &Loaded, _: bool) -> Result<(Stores, Created)> {
    bail!("[store] kind = \"postgres\": this mcpist was built without the `postgres` feature")
}

/// Where `mcpist key rotate` keeps the new key until the store uses it.
pub(crate) fn next_key_path(key_path: &std::path::Path) -> std::path::PathBuf {
    let mut name = key_path.file_name().unwrap_or_default().to_os_string();
    name.push(".next");
    key_path.with_file_name(name)
}

/// A rotation that re-sealed the store but stopped before the new key file
/// replaced the old one: the store opens with the `.next` key, so finish it.
fn finish_rotation(
    store_path: &std::path::Path,
    key_path: &std::path::Path,
) -> Result<SqliteStore> {
    let next = next_key_path(key_path);
    let store = SqliteStore::open(store_path, MasterKey::read_file(&next)?)?;
    std::fs::rename(&next, key_path)
        .with_context(|| format!("moving {} to {}", next.display(), key_path.display()))?;
    eprintln!(
        "mcpist: finished an interrupted key rotation: {} is now the key",
        key_path.display()
    );
    Ok(store)
}

/// `mcpist key rotate`: a new master key, every secret re-sealed with it.
///
/// Crash-safe at every step: the new key is written to `KEY.next` and synced
/// first; the re-seal is one transaction; only then does `KEY.next` replace
/// `KEY`. A crash before the commit leaves the store on the old key (the
/// stale `.next` is discarded next time); a crash after it is finished by the
/// next command that opens the store.
///
/// The store is held for this process alone from before the re-seal until
/// the new key is in place (refused while `serve` or any stdio client has it
/// open: they would go on writing with the retired key). With `skip_broken`,
/// records that no longer open are reported and left as they are instead of
/// stopping the rotation.
pub(crate) async fn rotate_key(
    loaded: &Loaded,
    to: Option<KeySource>,
    skip_broken: bool,
) -> Result<()> {
    let sqlite = loaded.config.store.kind == StoreKind::Sqlite;
    let from = loaded.config.store.key;
    match (from, to) {
        (KeySource::Passphrase, Some(KeySource::File)) if sqlite => {
            return rotate_to_key_file(loaded, skip_broken).await;
        }
        (KeySource::File, Some(KeySource::File)) | (KeySource::File, None) => {}
        _ if sqlite => return rotate_to_passphrase(loaded, skip_broken).await,
        _ => {}
    }
    if std::env::var_os(mcpist_core::seal::MASTER_KEY_ENV).is_some() {
        bail!(
            "the key comes from {}: rotation writes a key file; unset it and use the key file, \
             or re-seal by hand",
            mcpist_core::seal::MASTER_KEY_ENV
        );
    }
    if loaded.config.store.kind != StoreKind::Sqlite {
        bail!("only the sqlite store has a master key to rotate");
    }
    let (key_path, store_path) = (loaded.key_path(), loaded.store_path());
    // The same checks and messages as every command (and an interrupted
    // rotation is finished first); closed again, as the lock needs.
    drop(open_store(loaded, false)?);
    let next = next_key_path(&key_path);
    if next.exists() {
        // The store opened with the current key, so this is a leftover of a
        // rotation that stopped before its commit.
        std::fs::remove_file(&next).with_context(|| format!("removing {}", next.display()))?;
    }
    let store = SqliteStore::open_exclusive(&store_path, MasterKey::read_file(&key_path)?)?;
    let old_id = store.key_id();
    let new = MasterKey::generate()?;
    let new_id = new.id();
    new.write_new_file(&next)?;
    let seq = store
        .begin(mcpist_core::audit::AuditEvent::now(
            mcpist_core::audit::AuditKind::KeyRotate,
        ))
        .await
        .context("refused: the audit log cannot be written")?;
    let resealed = store.rotate_key(new, skip_broken).await;
    let outcome = match &resealed {
        Ok(r) => mcpist_core::audit::AuditOutcome::of(mcpist_core::audit::Outcome::Ok).message(
            format!("key {old_id:08x} -> {new_id:08x}, {}", resealed_summary(r)),
        ),
        Err(e) => mcpist_core::audit::AuditOutcome::of(mcpist_core::audit::Outcome::Failed)
            .message(e.to_string()),
    };
    let resealed = match resealed {
        Ok(resealed) => resealed,
        Err(e) => {
            let _ = std::fs::remove_file(&next);
            let _ = store.finish(seq, outcome).await;
            return Err(e.into());
        }
    };
    std::fs::rename(&next, &key_path)
        .with_context(|| format!("moving {} to {}", next.display(), key_path.display()))?;
    if let Some(dir) = key_path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    // Held until the new key is in place; then the record is finished
    // through a fresh handle, with the new key.
    drop(store);
    let (stores, _) = open_store(loaded, false)?;
    if let Err(e) = stores.audit.finish(seq, outcome).await {
        eprintln!("mcpist: warning: the audit record of the rotation could not be completed: {e}");
    }
    eprintln!(
        "rotated the master key {old_id:08x} -> {new_id:08x}: {}; \
         {} holds the new key: back it up, the old one no longer opens the store",
        resealed_summary(&resealed),
        key_path.display()
    );
    Ok(())
}

/// "N values re-sealed", and the records skipped, by name only.
fn resealed_summary(resealed: &mcpist_core::store::Resealed) -> String {
    let mut text = format!("{} values re-sealed", resealed.count);
    if !resealed.skipped.is_empty() {
        text.push_str(&format!(
            "; {} record(s) that no key opens were left as they are: {}",
            resealed.skipped.len(),
            resealed.skipped.join(", ")
        ));
    }
    text
}

/// The environment variable `mcpist key rotate` reads a new passphrase from.
pub(crate) const NEW_PASSPHRASE_ENV: &str = "MCPIST_NEW_PASSPHRASE";

/// `mcpist key rotate --to-key-file` on a passphrase store: a new random key
/// in the key file, every secret re-sealed with it. Crash-safe like the
/// file-to-file rotation: the key is written to `KEY.next` and synced first,
/// the re-seal (which also drops the passphrase parameters) is one
/// transaction, then `KEY.next` becomes `KEY`; a stop between the last two is
/// finished by the next command, once the config says `key = "file"`.
async fn rotate_to_key_file(loaded: &Loaded, skip_broken: bool) -> Result<()> {
    use mcpist_core::audit::{AuditEvent, AuditKind, AuditOutcome, Outcome};
    let (store_path, key_path) = (loaded.store_path(), loaded.key_path());
    if !store_path.exists() {
        bail!(
            "no store at {}; run `mcpist init` first",
            store_path.display()
        );
    }
    if key_path.exists() {
        bail!(
            "{} exists; the new key goes there: move that file away first",
            key_path.display()
        );
    }
    let current = read_passphrase(
        mcpist_core::seal::PASSPHRASE_ENV,
        "Current passphrase",
        false,
    )?;
    let store = SqliteStore::open_exclusive_with_passphrase(&store_path, &current)?;
    let next = next_key_path(&key_path);
    if next.exists() {
        std::fs::remove_file(&next).with_context(|| format!("removing {}", next.display()))?;
    }
    if let Some(dir) = key_path.parent() {
        create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (old_id, new) = (store.key_id(), MasterKey::generate()?);
    let new_id = new.id();
    new.write_new_file(&next)?;
    let seq = store
        .begin(AuditEvent::now(AuditKind::KeyRotate))
        .await
        .context("refused: the audit log cannot be written")?;
    let resealed = match store.rotate_key(new, skip_broken).await {
        Ok(resealed) => resealed,
        Err(e) => {
            let _ = std::fs::remove_file(&next);
            let _ = store
                .finish(
                    seq,
                    AuditOutcome::of(Outcome::Failed).message(e.to_string()),
                )
                .await;
            return Err(e.into());
        }
    };
    drop(store);
    std::fs::rename(&next, &key_path)
        .with_context(|| format!("moving {} to {}", next.display(), key_path.display()))?;
    if let Some(dir) = key_path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    let store = SqliteStore::open(&store_path, MasterKey::read_file(&key_path)?)?;
    let summary = resealed_summary(&resealed);
    let outcome = AuditOutcome::of(Outcome::Ok).message(format!(
        "key {old_id:08x} (passphrase) -> {new_id:08x} (key file), {summary}"
    ));
    if let Err(e) = store.finish(seq, outcome).await {
        eprintln!("mcpist: warning: the audit record of the rotation could not be completed: {e}");
    }
    eprintln!(
        "{summary} with a new key in {} ({old_id:08x} -> {new_id:08x}); back it up, \
         and remove `key = \"passphrase\"` from the [store] table of {}: the passphrase no longer opens the store",
        key_path.display(),
        loaded.config_path.display()
    );
    Ok(())
}

/// `mcpist key rotate` to a (new) passphrase: from the configured key (file
/// or passphrase), every secret re-sealed in one transaction with a key
/// derived from the new passphrase and a fresh salt.
async fn rotate_to_passphrase(loaded: &Loaded, skip_broken: bool) -> Result<()> {
    use mcpist_core::audit::{AuditEvent, AuditKind, AuditOutcome, Outcome};
    let store_path = loaded.store_path();
    if !store_path.exists() {
        bail!(
            "no store at {}; run `mcpist init` first",
            store_path.display()
        );
    }
    let from_file = loaded.config.store.key == KeySource::File;
    let store = if from_file {
        SqliteStore::open_exclusive(&store_path, MasterKey::load(&loaded.key_path(), false)?.0)?
    } else {
        let current = read_passphrase(
            mcpist_core::seal::PASSPHRASE_ENV,
            "Current passphrase",
            false,
        )?;
        SqliteStore::open_exclusive_with_passphrase(&store_path, &current)?
    };
    let new = read_passphrase(NEW_PASSPHRASE_ENV, "New passphrase", true)?;
    let old_id = store.key_id();
    let seq = store
        .begin(AuditEvent::now(AuditKind::KeyRotate))
        .await
        .context("refused: the audit log cannot be written")?;
    let (new_id, resealed) = match store.rotate_to_passphrase(&new, skip_broken).await {
        Ok(done) => done,
        Err(e) => {
            let outcome = AuditOutcome::of(Outcome::Failed).message(e.to_string());
            let _ = store.finish(seq, outcome).await;
            return Err(e.into());
        }
    };
    drop(store);
    let store = SqliteStore::open_with_passphrase(&store_path, &new)?;
    let summary = resealed_summary(&resealed);
    let outcome = AuditOutcome::of(Outcome::Ok).message(format!(
        "key {old_id:08x} -> {new_id:08x} (passphrase), {summary}"
    ));
    if let Err(e) = store.finish(seq, outcome).await {
        eprintln!("mcpist: warning: the audit record of the rotation could not be completed: {e}");
    }
    eprintln!(
        "{summary} with a key derived from the new passphrase ({old_id:08x} -> {new_id:08x})"
    );
    if from_file {
        eprintln!(
            "now set `key = \"passphrase\"` in the [store] table of {}; the key file {} no longer opens the store",
            loaded.config_path.display(),
            loaded.key_path().display()
        );
    }
    Ok(())
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

/// Creates a web UI password when there is none; returns it so the caller
/// can show it, once.
pub(crate) async fn ensure_ui_password(store: &dyn TokenStore) -> Result<Option<SecretString>> {
    if store
        .get_secret(mcpist_web::PASSWORD_SECRET)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let password = mcpist_web::generate_password()?;
    mcpist_web::set_password(store, &password).await?;
    Ok(Some(password))
}

/// The services this config serves: every registered connector that is
/// enabled by default or named in `[connectors]`, minus those with
/// `enabled = false`. Core keys (policy, `oauth`, `route`) are taken out of
/// each table before the connector parses the rest.
pub(crate) fn build_services(loaded: &Loaded) -> Result<Vec<Service>> {
    // Naming the crate keeps its `inventory` registrations linked in.
    let available = mcpist_connectors::builtin();
    let mut services = Vec::new();
    for (name, table) in &loaded.config.connectors {
        if Registration::find(name).is_none()
            && mcpist_connectors::declarative::is_declarative(table)
        {
            if table.get("enabled").and_then(serde_json::Value::as_bool) == Some(false) {
                continue;
            }
            let service = Service::from_table(name, table.clone(), |rest| {
                mcpist_connectors::declarative::build(name, rest)
            })
            .map_err(|e| {
                anyhow!(
                    "bad configuration in {}: [connectors.{name}]: {e}",
                    loaded.source_of(&format!("connectors.{name}"))
                )
            })?;
            services.push(service);
            continue;
        }
        if Registration::find(name).is_none() {
            bail!(
                "bad configuration in {}: [connectors.{name}]: unknown connector; this build has: {} (or define one with kind = \"http\")",
                loaded.source_of(&format!("connectors.{name}")),
                available.join(", ")
            );
        }
    }
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
        .with_refresh_margin(Duration::from_secs(loaded.config.oauth.refresh_margin_secs))
        .with_guide(Arc::new(McpistCli));
    for service in services {
        exchanger = exchanger.with_service(service);
    }
    Ok(exchanger)
}

/// The MCP server over `stores` with the configured services, and the
/// user's prompts: the config file's and those saved in the store (the
/// config file's wins a name both define, with a warning).
pub(crate) async fn build_server(loaded: &Loaded, stores: &Stores) -> Result<McpServer> {
    let services = build_services(loaded)?;
    let mut server =
        McpServer::builder(build_exchanger(loaded, stores, &[])?, stores.audit.clone());
    for service in services {
        server = server.service(service);
    }
    for (name, prompt) in &loaded.config.prompts {
        mcpist_core::prompts::check(name, prompt).map_err(|why| {
            anyhow!(
                "bad configuration in {}: prompts: {name}: {why}",
                loaded.source_of("prompts")
            )
        })?;
    }
    let saved = mcpist_core::prompts::load_saved(stores.tokens.as_ref()).await?;
    let (served, hidden) = mcpist_core::prompts::merge(&loaded.config.prompts, saved);
    for name in hidden {
        tracing::warn!(
            prompt = %name,
            "the prompt {name} saved in the store is not served: [prompts.{name}] in the config file wins; \
             rename one (`mcpist prompts remove {name}`, then add it under another name)"
        );
    }
    let prompts = mcpist_core::prompts::UserPrompts::new(served)
        .map_err(|e| anyhow!("the saved prompts: {e}"))?;
    server = server.user_prompts(prompts, mcpist_core::ServicePolicy::default());
    Ok(server.tool_mode(loaded.config.server.tool_mode).build()?)
}
