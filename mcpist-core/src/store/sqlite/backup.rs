//! Snapshots of the store: SQLite's online backup, and a restore that checks
//! the snapshot before it replaces anything.

use std::{
    fs,
    path::{Path, PathBuf},
};

use rusqlite::{Connection, backup::StepResult};

use super::{SqliteStore, store_err};
use crate::{
    Error, Result,
    audit::{AuditSink, VerifyReport},
    seal::{MasterKey, create_private_file},
    store::TokenStore,
};

/// What [`restore_snapshot`] put in place.
#[derive(Debug)]
pub struct Restored {
    /// Accounts in the restored store.
    pub accounts: usize,
    /// The restored audit log's chain check.
    pub audit: VerifyReport,
    /// Where the store that was replaced now is (with its `-wal` / `-shm`
    /// files, if it had any, beside it under the same name).
    pub previous: Option<PathBuf>,
}

impl SqliteStore {
    /// Writes a consistent snapshot of the store to `dest`, which must not
    /// exist, and returns its size in bytes.
    ///
    /// Uses SQLite's online backup in one step under one read transaction:
    /// other connections, in this process or another (a running `mcpist
    /// serve`), keep writing meanwhile, and the snapshot is the store as of
    /// one commit. The snapshot is one self-contained file (no `-wal`), mode
    /// 0600, and as sealed as the store: the master key is not in it. It
    /// appears at `dest` complete or not at all.
    pub async fn backup_to(&self, dest: &Path) -> Result<u64> {
        let dest = dest.to_owned();
        self.with_inner(move |conn, inner| {
            if dest.exists() {
                return Err(Error::Store(format!(
                    "{} already exists; choose a new file name",
                    dest.display()
                )));
            }
            // Outcomes still waiting for their commit go into the snapshot.
            super::audit::commit_queued(conn, &inner.audit_key, &inner.audit_writes);
            let partial = sibling(&dest, ".partial");
            let written = write_snapshot(conn, &partial).and_then(|()| {
                // A hard link does not replace an existing file, unlike rename.
                fs::hard_link(&partial, &dest)
                    .map_err(|e| Error::Store(format!("cannot create {}: {e}", dest.display())))?;
                sync_parent(&dest);
                Ok(fs::metadata(&dest).map(|m| m.len()).unwrap_or(0))
            });
            let _ = fs::remove_file(&partial);
            written
        })
        .await
    }
}

fn write_snapshot(conn: &Connection, path: &Path) -> Result<()> {
    let location = path.display().to_string();
    let io = |e: std::io::Error| Error::Store(format!("{location}: {e}"));
    // Created here, so that it is private from the first byte.
    let _ = fs::remove_file(path);
    drop(create_private_file(path).map_err(io)?);
    let mut copy = Connection::open(path).map_err(store_err)?;
    {
        let backup = rusqlite::backup::Backup::new(conn, &mut copy).map_err(store_err)?;
        // All pages in one step: one read transaction, so one consistent commit.
        loop {
            match backup.step(-1).map_err(store_err)? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                _ => {}
            }
        }
    }
    // One file, no WAL beside it.
    copy.pragma_update(None, "journal_mode", "DELETE")
        .map_err(store_err)?;
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(store_err)?;
    if check != "ok" {
        return Err(Error::Store(format!(
            "the snapshot failed SQLite's integrity check: {check}"
        )));
    }
    drop(copy);
    fs::File::open(path).and_then(|f| f.sync_all()).map_err(io)
}

/// Replaces the store at `store` with the snapshot at `snapshot`.
///
/// In order, stopping at the first problem with nothing replaced: refuses an
/// existing store unless `force`; copies the snapshot beside the store and
/// opens the copy with `key` (a snapshot sealed with another key is refused);
/// verifies its audit chain (a broken chain is refused unless
/// `accept_broken_audit`: restoring it would pass off edited history as
/// the store's); takes an exclusive lock on the existing store (refused
/// while another process, such as `mcpist serve`, has it open). Only then is
/// the existing store, with its `-wal` and `-shm` files, renamed to
/// `<store>.before-restore-<timestamp>` and the checked copy renamed into
/// place, the lock held until it is.
///
/// Blocks on file and SQLite work: a one-shot command's tool, not a server's.
pub async fn restore_snapshot(
    snapshot: &Path,
    store: &Path,
    key: MasterKey,
    force: bool,
    accept_broken_audit: bool,
) -> Result<Restored> {
    if !snapshot.is_file() {
        return Err(Error::Store(format!(
            "{} is not a file; nothing was replaced",
            snapshot.display()
        )));
    }
    let exists = store.exists();
    if exists && !force {
        return Err(Error::Store(format!(
            "refusing to replace the existing store {}; pass --force to replace it \
             (it is kept as {}.before-restore-<timestamp>)",
            store.display(),
            store.display()
        )));
    }
    let staged = sibling(store, ".restoring");
    remove_with_sidecars(&staged);
    let result = stage(snapshot, &staged, key)
        .await
        .and_then(|(accounts, audit)| {
            if !audit.is_intact() && !accept_broken_audit {
                return Err(Error::Store(format!(
                    "the audit chain of {} is broken ({} problem(s), first: {}); nothing was \
                     replaced. Pass --accept-broken-audit to restore it anyway",
                    snapshot.display(),
                    audit.problems.len(),
                    audit.problems.first().map(String::as_str).unwrap_or("")
                )));
            }
            // Held until the checked copy is in place, so that no process
            // opens the old store between the two renames.
            let (previous, _held) = if exists {
                let (aside, held) = set_aside(store)?;
                (Some(aside), Some(held))
            } else {
                (None, None)
            };
            fs::rename(&staged, store).map_err(|e| {
                Error::Store(format!(
                    "cannot move the checked snapshot to {}: {e}",
                    store.display()
                ))
            })?;
            sync_parent(store);
            Ok(Restored {
                accounts,
                audit,
                previous,
            })
        });
    remove_with_sidecars(&staged);
    result
}

/// Copies `snapshot` to `staged` and proves that it is a store `key` opens.
async fn stage(snapshot: &Path, staged: &Path, key: MasterKey) -> Result<(usize, VerifyReport)> {
    let io = |e: std::io::Error| Error::Store(format!("{}: {e}", staged.display()));
    let mut from = fs::File::open(snapshot)
        .map_err(|e| Error::Store(format!("cannot read {}: {e}", snapshot.display())))?;
    let mut to = create_private_file(staged).map_err(io)?;
    std::io::copy(&mut from, &mut to).map_err(io)?;
    to.sync_all().map_err(io)?;
    drop(to);
    let opened = SqliteStore::open(staged, key).map_err(|e| match e {
        Error::WrongKey { hint, .. } => Error::WrongKey {
            location: snapshot.display().to_string(),
            hint,
        },
        other => other,
    })?;
    let accounts = opened.list().await?.len();
    let audit = opened.verify().await?;
    drop(opened);
    // Fold the WAL that opening created back into the one file.
    let conn = Connection::open(staged).map_err(store_err)?;
    conn.pragma_update(None, "journal_mode", "DELETE")
        .map_err(store_err)?;
    drop(conn);
    Ok((accounts, audit))
}

/// Renames `store` and its `-wal` / `-shm` files aside, once no other
/// process has the store open. Returns the connection that holds the
/// store's exclusive lock: it keeps every process out of the old file until
/// dropped. It is in rollback-journal mode by then, so that closing it
/// deletes no `-wal` or `-shm` file by name (which would be the new store's).
fn set_aside(store: &Path) -> Result<(PathBuf, Connection)> {
    let conn = Connection::open(store).map_err(store_err)?;
    super::take_exclusive(&conn).map_err(|e| match e {
        Some(e) => store_err(e),
        None => super::in_use(store),
    })?;
    // Everything committed into the main file, so the set-aside copy is
    // whole, and the WAL closed.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(store_err)?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(Error::Store(format!(
            "{}: cannot fold the write-ahead log into the file (journal mode {mode}); \
             nothing was replaced",
            store.display()
        )));
    }
    let stamp: String = crate::audit::format_time(crate::audit::now_ms())
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .take(15)
        .collect();
    let aside = sibling(store, &format!(".before-restore-{stamp}Z"));
    for suffix in ["", "-wal", "-shm"] {
        let from = sibling(store, suffix);
        if from.exists() {
            fs::rename(&from, sibling(&aside, suffix))
                .map_err(|e| Error::Store(format!("cannot move {} aside: {e}", from.display())))?;
        }
    }
    Ok((aside, conn))
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn remove_with_sidecars(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = fs::remove_file(sibling(path, suffix));
    }
}

/// Makes a rename or link in `path`'s directory durable.
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
}
