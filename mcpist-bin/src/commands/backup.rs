//! `mcpist backup` and `mcpist restore`: snapshots of the SQLite store.

use std::path::Path;

use anyhow::{Context, Result, bail};
use mcpist_core::{
    AuditSink, SqliteStore,
    audit::{AuditEvent, AuditKind, AuditOutcome, Outcome},
    seal::MasterKey,
};

use crate::{
    config::{Loaded, StoreKind},
    wiring,
};

fn require_sqlite(loaded: &Loaded) -> Result<()> {
    if loaded.config.store.kind != StoreKind::Sqlite {
        bail!("only the sqlite store can be backed up or restored; a memory store keeps nothing");
    }
    Ok(())
}

/// Where the master key comes from, for messages.
fn key_source(loaded: &Loaded) -> String {
    if std::env::var_os(mcpist_core::seal::MASTER_KEY_ENV).is_some() {
        format!("the value of {}", mcpist_core::seal::MASTER_KEY_ENV)
    } else {
        format!("the key file {}", loaded.key_path().display())
    }
}

/// `mcpist backup --out FILE`.
pub(crate) async fn backup(loaded: &Loaded, out: &Path) -> Result<()> {
    require_sqlite(loaded)?;
    // The same checks and messages as every command (and an interrupted key
    // rotation is finished first, so the snapshot is sealed with the current key).
    drop(wiring::open_store(loaded, false)?);
    let (key, _) = MasterKey::load(&loaded.key_path(), false)?;
    let store = SqliteStore::open(&loaded.store_path(), key)?;
    let written = store.backup_to(out).await;
    // Recorded after the snapshot, so that it holds no pending record of itself.
    let outcome = match &written {
        Ok(_) => AuditOutcome::of(Outcome::Ok).message(format!("to {}", out.display())),
        Err(e) => AuditOutcome::of(Outcome::Failed).message(e.to_string()),
    };
    if let Err(e) = store
        .record(AuditEvent::now(AuditKind::Backup), outcome)
        .await
    {
        eprintln!("mcpist: warning: the backup could not be recorded in the audit log: {e}");
    }
    let bytes = written.with_context(|| format!("backup to {}", out.display()))?;
    eprintln!(
        "wrote a consistent snapshot of {} to {} ({bytes} bytes); every secret in it is \
         sealed with master key {:08x}",
        loaded.store_path().display(),
        out.display(),
        store.key_id()
    );
    eprintln!(
        "the master key is NOT in the backup: keep a copy of {} apart from it (a password \
         manager, another disk). Without that key the backup cannot be opened; whoever has \
         both can read every token.",
        key_source(loaded)
    );
    Ok(())
}

/// `mcpist restore FILE [--force] [--accept-broken-audit]`.
pub(crate) async fn restore(
    loaded: &Loaded,
    snapshot: &Path,
    force: bool,
    accept_broken_audit: bool,
) -> Result<()> {
    require_sqlite(loaded)?;
    let store_path = loaded.store_path();
    let key_path = loaded.key_path();
    if std::env::var_os(mcpist_core::seal::MASTER_KEY_ENV).is_none() && !key_path.exists() {
        bail!(
            "no master key at {}: a backup opens only with the key it was sealed with; put that \
             key file back (or set {}) and run restore again; nothing was replaced",
            key_path.display(),
            mcpist_core::seal::MASTER_KEY_ENV
        );
    }
    let (key, _) = MasterKey::load(&key_path, false)?;
    if let Some(dir) = store_path.parent()
        && !dir.exists()
    {
        mcpist_core::seal::create_private_dir(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let restored = mcpist_core::store::restore_snapshot(
        snapshot,
        &store_path,
        key,
        force,
        accept_broken_audit,
    )
    .await
    .with_context(|| format!("restore from {}", snapshot.display()))?;
    eprintln!(
        "restored {} into {}: {} account(s); audit chain of {} record(s) {}",
        snapshot.display(),
        store_path.display(),
        restored.accounts,
        restored.audit.checked,
        if restored.audit.is_intact() {
            "intact"
        } else {
            "BROKEN (see `mcpist audit --verify`)"
        }
    );
    let kept = match &restored.previous {
        Some(previous) => {
            eprintln!(
                "the store it replaced is kept as {}; delete it once you are satisfied",
                previous.display()
            );
            format!("; the previous store is kept as {}", previous.display())
        }
        None => String::new(),
    };
    let (stores, _) = wiring::open_store(loaded, false)?;
    stores
        .audit
        .record(
            AuditEvent::now(AuditKind::Restore),
            AuditOutcome::of(Outcome::Ok).message(format!("from {}{kept}", snapshot.display())),
        )
        .await
        .context("the restore could not be recorded in the audit log")?;
    Ok(())
}
