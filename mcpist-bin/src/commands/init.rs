//! `mcpist init`: creates the config file, data directory, key, store, bearer token and web UI password.

use anyhow::{Context, Result};
use secrecy::ExposeSecret;

use crate::{
    config::{self, Loaded},
    wiring,
};

/// Creates what is missing and says what exists; keeps everything that does.
pub(crate) async fn run(loaded: &Loaded) -> Result<()> {
    let path = &loaded.config_path;
    if loaded.config_exists {
        eprintln!("config:  {} (exists, kept)", path.display());
    } else {
        if let Some(dir) = path.parent() {
            mcpist_core::seal::create_private_dir(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, config::TEMPLATE)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("config:  {} (created)", path.display());
    }
    let (stores, created) = wiring::open_store(loaded, true)?;
    if loaded.config.store.kind == config::StoreKind::Sqlite {
        let state = |new: bool| if new { "created" } else { "exists, kept" };
        if loaded.config.store.key == config::KeySource::Passphrase {
            eprintln!("key:     derived from the passphrase (argon2id; salt kept in the store)");
        } else {
            eprintln!(
                "key:     {} ({}, mode 0600)",
                loaded.key_path().display(),
                state(created.key)
            );
        }
        eprintln!(
            "store:   {} ({})",
            loaded.store_path().display(),
            state(created.store)
        );
    }
    if loaded.config.store.kind == config::StoreKind::Postgres {
        if loaded.config.store.key == config::KeySource::Passphrase {
            eprintln!("key:     derived from the passphrase (argon2id; salt kept in the database)");
        } else {
            let state = if created.key {
                "created"
            } else {
                "exists, kept"
            };
            eprintln!(
                "key:     {} ({state}; every replica needs this key)",
                loaded.key_path().display()
            );
        }
        eprintln!("store:   {}", stores.tokens.location());
    }
    let (bearer, bearer_created) = wiring::ensure_bearer(stores.tokens.as_ref()).await?;
    if bearer_created {
        eprintln!("bearer:  created; MCP clients send it as `Authorization: Bearer <token>`:");
        println!("{}", bearer.expose_secret());
        eprintln!("         (print it again with `mcpist bearer show`)");
    } else {
        eprintln!("bearer:  exists, kept (`mcpist bearer show` prints it)");
    }
    match wiring::ensure_ui_password(stores.tokens.as_ref()).await? {
        Some(password) => eprintln!(
            "web UI:  password {} (shown once; change it with `mcpist password set`)",
            password.expose_secret()
        ),
        None => eprintln!("web UI:  password exists, kept (`mcpist password set` changes it)"),
    }
    eprintln!("next:    echo \"$TOKEN\" | mcpist accounts add github --account work --token-stdin");
    eprintln!(
        "         mcpist serve           # web UI at http://{0}/, MCP at http://{0}/mcp",
        loaded.config.server.bind
    );
    Ok(())
}
