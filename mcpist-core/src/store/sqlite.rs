//! The embedded default store: one SQLite file, every secret sealed.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};

use super::{
    AccountInfo, AccountKey, AccountLock, AccountRecord, AccountWrite, Expect, TokenStore, Unlock,
    check_expect, missing_account, now_unix, wrong_key,
};
use crate::{
    Error, Result,
    audit::AuditKey,
    seal::{KdfParams, MasterKey, Sealer, create_private_file},
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    service    TEXT NOT NULL,
    account    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    identity   TEXT,
    status     TEXT NOT NULL,
    expires_at INTEGER,
    scopes     TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (service, account)
);
CREATE TABLE IF NOT EXISTS defaults (service TEXT PRIMARY KEY, account TEXT NOT NULL);
-- The last version of each deleted account: a re-added one continues from
-- it, so a compare-and-swap that read the deleted record cannot match (ABA).
CREATE TABLE IF NOT EXISTS retired (
    service TEXT NOT NULL,
    account TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (service, account)
);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq             INTEGER PRIMARY KEY,
    time_ms         INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    service         TEXT,
    account         TEXT,
    tool            TEXT,
    args            TEXT,
    outcome         TEXT NOT NULL,
    is_error        INTEGER,
    upstream_status INTEGER,
    latency_ms      INTEGER NOT NULL,
    message         TEXT,
    mac             BLOB NOT NULL,
    outcome_mac     BLOB
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time_ms);
";

/// Raised with every change to [`SCHEMA`] or [`reader::SCHEMA`]. A store
/// whose header (`PRAGMA user_version`) already says it skips those
/// statements at open: parsing them was a tenth of `serve`'s startup.
const SCHEMA_REVISION: i64 = 2;

/// Each connection's page cache, in KiB (SQLite's default is 2,000). A call
/// appends to the audit log and reads a few small tables, so the pages it
/// touches are the right edges of a few B-trees; a larger cache only filled
/// with old audit pages as the log grew (RSS, measured in the README's
/// Benchmarks). Reads past the cache come from the OS page cache.
const CACHE_SIZE: &str = "PRAGMA cache_size = -256;";

mod audit;
mod backup;
mod reader;

pub use backup::{Restored, restore_snapshot};

const KEY_CHECK_AAD: &[u8] = b"mcpist/key-check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"mcpist key check v1";

/// What a key rotation re-sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resealed {
    /// How many values were re-sealed with the new key.
    pub count: u64,
    /// The records left as they were because they do not open with the old
    /// key either: `service/account` or `secret NAME`, never their content.
    pub skipped: Vec<String>,
}

/// Accounts in one SQLite file, secrets sealed with the master key.
///
/// The file is created with mode 0600. It runs in WAL mode with
/// `synchronous=FULL`: a rotated refresh token that was acknowledged must
/// survive a power cut, or the grant is lost.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// Declared before `conn`, so closed first: the writer, closing last,
    /// folds the WAL back into the file. `None` in a store opened with
    /// [`SqliteStore::open_exclusive`]: the writer's lock keeps every other
    /// connection out, this one too, so the writer reads as well.
    reader: Option<Mutex<reader::Reader>>,
    conn: Mutex<Connection>,
    sealer: Sealer,
    audit_key: AuditKey,
    audit_writes: audit::WriteQueue,
}

impl Drop for Inner {
    /// Outcomes written with `finish_soon` and still waiting for a commit
    /// are committed before the store closes.
    fn drop(&mut self) {
        let conn = self.conn.get_mut().unwrap_or_else(|e| e.into_inner());
        audit::commit_queued(conn, &self.audit_key, &self.audit_writes);
    }
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` with `key`.
    ///
    /// An existing store is checked against the key before anything is
    /// written: a wrong key is [`Error::WrongKey`] and leaves the file as it was.
    pub fn open(path: &Path, key: MasterKey) -> Result<Self> {
        Self::open_with(path, Unlock::Key(key), false)
    }

    /// Opens the existing store at `path` with `key` for this process
    /// alone, for work that must not race another process's writes (a key
    /// rotation): refused with [`Error::StoreInUse`]
    /// while any other connection has the file open (`mcpist serve`, each
    /// stdio client's `mcpist serve --stdio`, any command). Until the handle
    /// is dropped, every other process is kept out.
    pub fn open_exclusive(path: &Path, key: MasterKey) -> Result<Self> {
        Self::open_with(path, Unlock::Key(key), true)
    }

    /// [`Self::open_exclusive`] with a passphrase, like [`Self::open_with_passphrase`].
    pub fn open_exclusive_with_passphrase(path: &Path, passphrase: &SecretString) -> Result<Self> {
        Self::open_with(path, Unlock::Passphrase(passphrase), true)
    }

    /// Opens (or creates) the store at `path` with a master key derived from
    /// `passphrase` (argon2id). A new store gets fresh [`KdfParams`] (random
    /// salt), kept in its `meta` table; an existing one is opened with the
    /// parameters it holds. A wrong passphrase is [`Error::WrongKey`] and
    /// leaves the file as it was; so is a store that was sealed with a key file.
    pub fn open_with_passphrase(path: &Path, passphrase: &SecretString) -> Result<Self> {
        Self::open_with(path, Unlock::Passphrase(passphrase), false)
    }

    fn open_with(path: &Path, unlock: Unlock<'_>, exclusive: bool) -> Result<Self> {
        let location = path.display().to_string();
        let fresh = !path.exists();
        if fresh {
            // Created here, not by SQLite, so that it is private from the first byte.
            create_private_file(path).map_err(|e| {
                Error::Store(format!("cannot create the store file {location}: {e}"))
            })?;
        }
        let conn = Connection::open(path)
            .map_err(|e| Error::Store(format!("cannot open {location}: {e}")))?;
        let unreadable = |e: &dyn std::fmt::Display| {
            Error::Store(format!(
                "{location} is not a readable MCPist store ({e}); it was left untouched"
            ))
        };
        if exclusive {
            if fresh {
                let _ = std::fs::remove_file(path);
                return Err(Error::Store(format!("no store at {location}")));
            }
            take_exclusive(&conn).map_err(|e| match e {
                Some(e) => unreadable(&e),
                None => in_use(path),
            })?;
        }
        let has_meta: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| unreadable(&e))?;
        if has_meta {
            // Before anything is written, the file must be whole pages and
            // the tables of accounts and secrets whole. (SQLite itself refuses
            // a file shorter than its header says: the query above fails.)
            let page_size: u64 = conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .map_err(|e| unreadable(&e))?;
            let length = std::fs::metadata(path).map_err(|e| unreadable(&e))?.len();
            if page_size == 0 || length % page_size != 0 {
                return Err(unreadable(&format!(
                    "truncated: {length} bytes is not a whole number of {page_size}-byte pages"
                )));
            }
            // The audit table is not walked: that grew with the log (189 ms
            // at 105 MB, at every start of every command); a damaged audit
            // page fails its next write, which refuses the call, and
            // `mcpist audit --verify` reads every record.
            for table in ["meta", "accounts", "defaults", "secrets"] {
                let check: String = conn
                    .query_row(&format!("PRAGMA quick_check({table})"), [], |r| r.get(0))
                    .map_err(|e| unreadable(&e))?;
                if check != "ok" {
                    return Err(unreadable(&format!("damaged: {check}")));
                }
            }
        }
        let meta = |name: &str| -> Result<Option<Vec<u8>>> {
            if !has_meta {
                return Ok(None);
            }
            conn.query_row(
                "SELECT value FROM meta WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| unreadable(&e))
        };
        let stored_kdf = meta("kdf")?
            .map(|bytes| KdfParams::from_bytes(&bytes, &location))
            .transpose()?;
        let by_passphrase = matches!(unlock, Unlock::Passphrase(_));
        let (sealer, new_kdf) = unlock.resolve(stored_kdf.as_ref(), has_meta, &location)?;
        if has_meta {
            match meta("key_check")? {
                Some(sealed) => {
                    if sealer.open(KEY_CHECK_AAD, &sealed, "key check").is_err() {
                        return Err(wrong_key(
                            location,
                            &sealed,
                            &sealer,
                            by_passphrase,
                            stored_kdf.is_some(),
                        ));
                    }
                }
                None => {
                    return Err(Error::Store(format!(
                        "{location} has no key check record; it was left untouched"
                    )));
                }
            }
        } else if !fresh && std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) > 0 {
            return Err(Error::Store(format!(
                "{location} is a SQLite file but not an MCPist store; it was left untouched"
            )));
        }
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; {CACHE_SIZE}"
        ))
        .map_err(|e| Error::Store(format!("{location}: {e}")))?;
        // Only now, with the key proven, may anything be written.
        let tx = conn.unchecked_transaction().map_err(store_err)?;
        let revision: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(store_err)?;
        if revision != SCHEMA_REVISION {
            tx.execute_batch(SCHEMA).map_err(store_err)?;
            tx.execute_batch(reader::SCHEMA).map_err(store_err)?;
            tx.pragma_update(None, "user_version", SCHEMA_REVISION)
                .map_err(store_err)?;
        }
        if !has_meta {
            let sealed = sealer.seal(KEY_CHECK_AAD, KEY_CHECK_PLAINTEXT)?;
            tx.execute(
                "INSERT INTO meta (name, value) VALUES ('key_check', ?1), ('schema_version', X'01')",
                params![sealed],
            )
            .map_err(store_err)?;
            if let Some(params) = &new_kdf {
                tx.execute(
                    "INSERT INTO meta (name, value) VALUES ('kdf', ?1)",
                    params![params.to_bytes()],
                )
                .map_err(store_err)?;
            }
        }
        let audit_key = audit::load_or_create_key(&tx, &sealer)?;
        tx.commit().map_err(store_err)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                reader: if exclusive {
                    None
                } else {
                    Some(Mutex::new(reader::Reader::open(path)?))
                },
                conn: Mutex::new(conn),
                sealer,
                audit_key,
                audit_writes: audit::WriteQueue::default(),
            }),
        })
    }

    /// Re-seals every secret of the store (accounts, server secrets, the audit
    /// key, the key check) with `new`, in one transaction: a crash leaves
    /// either every record under the old key or every record under the new
    /// one, never a mix. Returns how many values were re-sealed.
    ///
    /// The caller keeps `new` safe *before* calling this (see `mcpist key
    /// rotate`), and this handle must not be used afterwards: open the store
    /// again with the new key (writes through it are refused). Run it on a
    /// handle from [`Self::open_exclusive`], so that no other process keeps
    /// writing with the retired key.
    ///
    /// A record that does not open with the current key fails the whole
    /// rotation (nothing is re-sealed; the error names each one by
    /// service/account or secret name), unless `skip_broken`: then the rest
    /// is re-sealed and the broken ones, which no key opens anyway, are left
    /// as they are and listed in [`Resealed::skipped`].
    pub async fn rotate_key(&self, new: MasterKey, skip_broken: bool) -> Result<Resealed> {
        self.reseal(new, None, skip_broken).await
    }

    /// Like [`Self::rotate_key`], to a key derived from `passphrase` with
    /// fresh [`KdfParams`], stored in the same transaction. Returns the new
    /// key's id and what was re-sealed.
    pub async fn rotate_to_passphrase(
        &self,
        passphrase: &SecretString,
        skip_broken: bool,
    ) -> Result<(u32, Resealed)> {
        let params = KdfParams::generate()?;
        let key = MasterKey::derive(passphrase, &params)?;
        let id = key.id();
        Ok((id, self.reseal(key, Some(params), skip_broken).await?))
    }

    async fn reseal(
        &self,
        new: MasterKey,
        kdf: Option<KdfParams>,
        skip_broken: bool,
    ) -> Result<Resealed> {
        let new = Sealer::new(new);
        self.with_inner(move |conn, inner| {
            let old = &inner.sealer;
            let tx = rusqlite::Transaction::new_unchecked(
                conn,
                rusqlite::TransactionBehavior::Immediate,
            )
            .map_err(store_err)?;
            let mut count = 0;
            let mut broken = Vec::new();
            let accounts: Vec<(String, String, Vec<u8>)> = {
                let mut stmt = tx
                    .prepare("SELECT service, account, sealed FROM accounts")
                    .map_err(store_err)?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(store_err)?
                    .collect::<rusqlite::Result<_>>()
                    .map_err(store_err)?
            };
            for (service, account, sealed) in accounts {
                let Ok(key) = AccountKey::new(&service, &account) else {
                    broken.push("an account with an invalid label".to_owned());
                    continue;
                };
                let Ok(plain) = old.open(&key.aad(), &sealed, &key.to_string()) else {
                    broken.push(key.to_string());
                    continue;
                };
                tx.execute(
                    "UPDATE accounts SET sealed = ?3 WHERE service = ?1 AND account = ?2",
                    params![service, account, new.seal(&key.aad(), &plain)?],
                )
                .map_err(store_err)?;
                count += 1;
            }
            let secrets: Vec<(String, Vec<u8>)> = {
                let mut stmt = tx
                    .prepare("SELECT name, sealed FROM secrets")
                    .map_err(store_err)?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(store_err)?
                    .collect::<rusqlite::Result<_>>()
                    .map_err(store_err)?
            };
            for (name, sealed) in secrets {
                let what = format!("secret {name}");
                let Ok(plain) = old.open(&secret_aad(&name), &sealed, &what) else {
                    broken.push(what);
                    continue;
                };
                tx.execute(
                    "UPDATE secrets SET sealed = ?2 WHERE name = ?1",
                    params![name, new.seal(&secret_aad(&name), &plain)?],
                )
                .map_err(store_err)?;
                count += 1;
            }
            for (name, aad) in [
                ("key_check", KEY_CHECK_AAD),
                ("audit_key", audit::AUDIT_KEY_AAD),
            ] {
                let sealed: Option<Vec<u8>> = tx
                    .query_row(
                        "SELECT value FROM meta WHERE name = ?1",
                        params![name],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(store_err)?;
                if let Some(sealed) = sealed {
                    let plain = old.open(aad, &sealed, name)?;
                    tx.execute(
                        "UPDATE meta SET value = ?2 WHERE name = ?1",
                        params![name, new.seal(aad, &plain)?],
                    )
                    .map_err(store_err)?;
                    count += 1;
                }
            }
            // The key derivation parameters belong to the key: replaced with it.
            tx.execute("DELETE FROM meta WHERE name = 'kdf'", [])
                .map_err(store_err)?;
            if let Some(params) = &kdf {
                tx.execute(
                    "INSERT INTO meta (name, value) VALUES ('kdf', ?1)",
                    params![params.to_bytes()],
                )
                .map_err(store_err)?;
            }
            if !broken.is_empty() && !skip_broken {
                // Dropping the transaction rolls everything back.
                return Err(Error::BrokenRecords { records: broken });
            }
            tx.commit().map_err(store_err)?;
            Ok(Resealed {
                count,
                skipped: broken,
            })
        })
        .await
    }

    /// The id of the master key this store is sealed with.
    pub fn key_id(&self) -> u32 {
        self.inner.sealer.key_id()
    }

    /// Every account as of the last commit, from memory unless a writer
    /// changed them since the last call (see [`reader`]). Runs in place: on
    /// the hot path it is one indexed read, cheaper than a thread hop.
    fn accounts(&self) -> Result<Arc<[reader::AccountRow]>> {
        match &self.inner.reader {
            Some(reader) => reader.lock().unwrap_or_else(|e| e.into_inner()).accounts(),
            None => {
                let conn = self.inner.conn.lock().unwrap_or_else(|e| e.into_inner());
                Ok(reader::read_rows(&conn)?.into())
            }
        }
    }

    /// Runs `f` with the connection and the whole store state on a blocking thread.
    async fn with_inner<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Inner) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&conn, &inner)
        })
        .await
        .map_err(|e| Error::Store(format!("store task failed: {e}")))?
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn with_conn<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Sealer) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&conn, &inner.sealer)
        })
        .await
        .map_err(|e| Error::Store(format!("store task failed: {e}")))?
    }
}

fn store_err(e: rusqlite::Error) -> Error {
    Error::Store(e.to_string())
}

/// The refusal of work that needs the store to itself.
pub(crate) fn in_use(store: &Path) -> Error {
    Error::StoreInUse {
        location: store.display().to_string(),
    }
}

/// Puts `conn` in exclusive locking mode and takes the lock, which SQLite
/// then keeps until the connection closes: no other connection, in any
/// process, can read or write meanwhile. `Err(None)`: another connection
/// has the file open; `Err(Some(_))`: the file is not a database.
fn take_exclusive(conn: &Connection) -> std::result::Result<(), Option<rusqlite::Error>> {
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(Some)?;
    match conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;") {
        Ok(()) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Err(None)
        }
        Err(e) => Err(Some(e)),
    }
}

/// Refuses a write sealed with a key other than the one the store's key
/// check is sealed with now: a process that opened the store before a key
/// rotation (which should have been refused while it ran) would otherwise
/// write records that no key opens. Runs inside the write's transaction.
fn check_key_current(conn: &Connection, sealer: &Sealer, location: &Path) -> Result<()> {
    let sealed: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM meta WHERE name = 'key_check'")
        .and_then(|mut statement| statement.query_row([], |r| r.get(0)).optional())
        .map_err(store_err)?;
    match sealed.as_deref().and_then(Sealer::envelope_key_id) {
        Some(id) if id == sealer.key_id() => Ok(()),
        found => Err(Error::WrongKey {
            location: location.display().to_string(),
            hint: format!(
                "the store is now sealed with key {}, this process opened it with key {:08x} \
                 (was the key rotated while it was open?); restart it; nothing was written",
                found.map_or_else(|| "(unknown)".to_owned(), |id| format!("{id:08x}")),
                sealer.key_id()
            ),
        }),
    }
}

fn secret_aad(name: &str) -> Vec<u8> {
    [b"mcpist/secret\0".as_slice(), name.as_bytes()].concat()
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn get(&self, key: &AccountKey) -> Result<Option<AccountRecord>> {
        self.accounts()?
            .iter()
            .find(|row| row.is(key))
            .map(|row| row.record(key, &self.inner.sealer))
            .transpose()
    }

    async fn put(&self, key: &AccountKey, write: AccountWrite, expect: Expect) -> Result<u64> {
        let key = key.clone();
        self.with_inner(move |conn, inner| {
            let sealed = inner
                .sealer
                .seal(&key.aad(), &write.credential.secret_bytes())?;
            // IMMEDIATE takes the write lock first, so the version check and the
            // write are one step even against another process on the same file.
            let tx = rusqlite::Transaction::new_unchecked(
                conn,
                rusqlite::TransactionBehavior::Immediate,
            )
            .map_err(store_err)?;
            check_key_current(&tx, &inner.sealer, &inner.path)?;
            let found: Option<i64> = tx
                .query_row(
                    "SELECT version FROM accounts WHERE service = ?1 AND account = ?2",
                    params![key.service(), key.account()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(store_err)?;
            let found = found.map(|v| v as u64);
            check_expect(&key, expect, found)?;
            let last = match found {
                Some(version) => version,
                None => tx
                    .query_row(
                        "SELECT version FROM retired WHERE service = ?1 AND account = ?2",
                        params![key.service(), key.account()],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()
                    .map_err(store_err)?
                    .map_or(0, |v| v as u64),
            };
            let version = last + 1;
            let c = &write.credential;
            tx.execute(
                "INSERT INTO accounts
                   (service, account, kind, identity, status, expires_at, scopes, sealed, version, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (service, account) DO UPDATE SET
                   kind = excluded.kind, identity = excluded.identity, status = excluded.status,
                   expires_at = excluded.expires_at, scopes = excluded.scopes,
                   sealed = excluded.sealed, version = excluded.version,
                   updated_at = excluded.updated_at",
                params![
                    key.service(),
                    key.account(),
                    c.kind.as_str(),
                    write.identity,
                    write.status.as_str(),
                    c.expires_at.map(|e| e as i64),
                    serde_json::to_string(&c.scopes).expect("strings serialize"),
                    sealed,
                    version as i64,
                    now_unix() as i64,
                ],
            )
            .map_err(store_err)?;
            tx.commit().map_err(store_err)?;
            Ok(version)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<AccountInfo>> {
        self.accounts()?
            .iter()
            .map(reader::AccountRow::info)
            .collect()
    }

    async fn delete(&self, key: &AccountKey) -> Result<bool> {
        let key = key.clone();
        self.with_conn(move |conn, _| {
            let tx = rusqlite::Transaction::new_unchecked(
                conn,
                rusqlite::TransactionBehavior::Immediate,
            )
            .map_err(store_err)?;
            tx.execute(
                "DELETE FROM defaults WHERE service = ?1 AND account = ?2",
                params![key.service(), key.account()],
            )
            .map_err(store_err)?;
            tx.execute(
                "INSERT INTO retired (service, account, version)
                 SELECT service, account, version FROM accounts WHERE service = ?1 AND account = ?2
                 ON CONFLICT (service, account) DO UPDATE SET version = excluded.version",
                params![key.service(), key.account()],
            )
            .map_err(store_err)?;
            let n = tx
                .execute(
                    "DELETE FROM accounts WHERE service = ?1 AND account = ?2",
                    params![key.service(), key.account()],
                )
                .map_err(store_err)?;
            tx.commit().map_err(store_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn set_default(&self, key: &AccountKey) -> Result<()> {
        let key = key.clone();
        self.with_conn(move |conn, _| {
            let tx = conn.unchecked_transaction().map_err(store_err)?;
            let exists: bool = tx
                .query_row(
                    "SELECT count(*) FROM accounts WHERE service = ?1 AND account = ?2",
                    params![key.service(), key.account()],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(store_err)?
                > 0;
            if !exists {
                return Err(missing_account(&key));
            }
            tx.execute(
                "INSERT INTO defaults (service, account) VALUES (?1, ?2)
                 ON CONFLICT (service) DO UPDATE SET account = excluded.account",
                params![key.service(), key.account()],
            )
            .map_err(store_err)?;
            tx.commit().map_err(store_err)
        })
        .await
    }

    async fn get_secret(&self, name: &str) -> Result<Option<SecretString>> {
        let name = name.to_owned();
        self.with_conn(move |conn, sealer| {
            let sealed: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT sealed FROM secrets WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(store_err)?;
            let Some(sealed) = sealed else {
                return Ok(None);
            };
            let plain = sealer.open(&secret_aad(&name), &sealed, &format!("secret {name}"))?;
            let text = String::from_utf8(plain.to_vec()).map_err(|_| Error::Unseal {
                what: format!("secret {name}"),
            })?;
            Ok(Some(SecretString::from(text)))
        })
        .await
    }

    async fn put_secret(&self, name: &str, value: &SecretString) -> Result<()> {
        let name = name.to_owned();
        let sealed_value = {
            let sealer = &self.inner.sealer;
            sealer.seal(&secret_aad(&name), value.expose_secret().as_bytes())?
        };
        self.with_inner(move |conn, inner| {
            let tx = rusqlite::Transaction::new_unchecked(
                conn,
                rusqlite::TransactionBehavior::Immediate,
            )
            .map_err(store_err)?;
            check_key_current(&tx, &inner.sealer, &inner.path)?;
            tx.execute(
                "INSERT INTO secrets (name, sealed) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed",
                params![name, sealed_value],
            )
            .map_err(store_err)?;
            tx.commit().map_err(store_err)
        })
        .await
    }

    fn location(&self) -> String {
        self.inner.path.display().to_string()
    }

    /// An advisory lock (`flock`) on a file of the account's own in the
    /// directory `<store>-locks` beside the store, which every process on
    /// the file takes (each stdio client starts its own `mcpist serve
    /// --stdio`). The operating system releases it when the holder exits,
    /// also by a crash. Taken by polling `try_lock`, so no thread is blocked
    /// while another process holds it for its token request.
    async fn lock_account(&self, key: &AccountKey) -> Result<AccountLock> {
        let file = open_lock_file(&self.inner.path, key)?;
        let mut pause = std::time::Duration::from_millis(2);
        let deadline = tokio::time::Instant::now() + ACCOUNT_LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(AccountLock::new(file)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(Error::Store(format!(
                            "another process has held the refresh lock of {key} for over {} s; \
                             is an `mcpist` process stuck?",
                            ACCOUNT_LOCK_WAIT.as_secs()
                        )));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::Store(format!(
                        "cannot lock the refresh of {key}: {e}"
                    )));
                }
            }
        }
    }
}

/// How long [`TokenStore::lock_account`] waits for another process's
/// refresh (a token request, which has its own timeout, and a write).
const ACCOUNT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The lock file of `key`'s refreshes, created (mode 0600, in a 0700
/// directory) if missing. `+` is in no label, so names cannot collide.
fn open_lock_file(store: &Path, key: &AccountKey) -> Result<std::fs::File> {
    let mut dir = store.as_os_str().to_owned();
    dir.push("-locks");
    let dir = PathBuf::from(dir);
    let failed = |e: std::io::Error| {
        Error::Store(format!(
            "cannot open the refresh lock of {key} in {}: {e}",
            dir.display()
        ))
    };
    crate::seal::create_private_dir(&dir).map_err(failed)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(dir.join(format!("{}+{}", key.service(), key.account())))
        .map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AccountStatus, Credential};

    #[tokio::test]
    async fn rotating_the_key_reseals_everything_and_retires_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let old = MasterKey::generate().unwrap();
        let old_text = old.encode();
        let store = SqliteStore::open(&path, old).unwrap();
        let key = AccountKey::new("github", "work").unwrap();
        store
            .put(&key, write("tok-rotate"), Expect::Any)
            .await
            .unwrap();
        store
            .put_secret("mcp_bearer", &SecretString::from("bearer-x"))
            .await
            .unwrap();
        crate::audit::AuditSink::record(
            &store,
            crate::audit::AuditEvent::now(crate::audit::AuditKind::Login),
            crate::audit::AuditOutcome::of(crate::audit::Outcome::Ok),
        )
        .await
        .unwrap();
        let new = MasterKey::generate().unwrap();
        let new_text = new.encode();
        assert_eq!(
            store.rotate_key(new, false).await.unwrap().count,
            4,
            "account, secret, key check, audit key"
        );
        drop(store);
        let old_again = MasterKey::from_encoded(old_text.expose_secret()).unwrap();
        assert!(matches!(
            SqliteStore::open(&path, old_again),
            Err(Error::WrongKey { .. })
        ));
        let store = SqliteStore::open(
            &path,
            MasterKey::from_encoded(new_text.expose_secret()).unwrap(),
        )
        .unwrap();
        let got = store.get(&key).await.unwrap().unwrap();
        assert_eq!(got.credential.access_token.expose_secret(), "tok-rotate");
        assert_eq!(
            store
                .get_secret("mcp_bearer")
                .await
                .unwrap()
                .unwrap()
                .expose_secret(),
            "bearer-x"
        );
        assert!(
            crate::audit::AuditSink::verify(&store)
                .await
                .unwrap()
                .is_intact()
        );
    }

    /// The refresh lock is the operating system's, so it holds against
    /// another handle and any other process; other accounts are not held up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_account_lock_holds_off_other_handles_and_processes_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let key = MasterKey::generate().unwrap();
        let a = SqliteStore::open(&path, key.duplicate()).unwrap();
        let b = SqliteStore::open(&path, key).unwrap();
        let work = AccountKey::new("github", "work").unwrap();
        let held = a.lock_account(&work).await.unwrap();
        assert!(held.is_held());
        // As another process would see it: a lock on a descriptor of its own.
        let outside = open_lock_file(&path, &work).unwrap();
        assert!(matches!(
            outside.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        let other = b
            .lock_account(&AccountKey::new("github", "home").unwrap())
            .await
            .unwrap();
        drop(other);
        let waiter = tokio::spawn(async move { b.lock_account(&work).await.unwrap().is_held() });
        drop(held);
        assert!(waiter.await.unwrap(), "taken once the first is dropped");
        let mode = std::fs::metadata(dir.path().join("l.db-locks"))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .unwrap();
        assert_eq!(mode, 0o700);
    }

    /// Defence in depth behind the exclusive rotation: a handle opened
    /// before the store was re-sealed with another key writes nothing.
    #[tokio::test]
    async fn a_handle_with_a_retired_key_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let key = MasterKey::generate().unwrap();
        let stale = SqliteStore::open(&path, key.duplicate()).unwrap();
        let work = AccountKey::new("github", "work").unwrap();
        stale
            .put(&work, write("before"), Expect::Any)
            .await
            .unwrap();
        let rotating = SqliteStore::open(&path, key).unwrap();
        let new = MasterKey::generate().unwrap();
        let new_again = new.duplicate();
        rotating.rotate_key(new, false).await.unwrap();
        drop(rotating);
        let err = stale
            .put(&work, write("after"), Expect::Any)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::WrongKey { hint, .. } if hint.contains("restart")),
            "{err}"
        );
        assert!(matches!(
            stale
                .put_secret("policy/github", &SecretString::from("x"))
                .await,
            Err(Error::WrongKey { .. })
        ));
        let store = SqliteStore::open(&path, new_again).unwrap();
        let got = store.get(&work).await.unwrap().unwrap();
        assert_eq!(got.credential.access_token.expose_secret(), "before");
        assert!(store.get_secret("policy/github").await.unwrap().is_none());
    }

    /// An exclusive handle is refused while another connection has the
    /// file open, and works (reads included) once it is closed.
    #[tokio::test]
    async fn an_exclusive_open_is_refused_while_another_handle_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let key = MasterKey::generate().unwrap();
        let other = SqliteStore::open(&path, key.duplicate()).unwrap();
        let work = AccountKey::new("github", "work").unwrap();
        other.put(&work, write("w"), Expect::Any).await.unwrap();
        let err = SqliteStore::open_exclusive(&path, key.duplicate()).unwrap_err();
        assert!(
            err.to_string().contains("in use by another process"),
            "{err}"
        );
        drop(other);
        let alone = SqliteStore::open_exclusive(&path, key).unwrap();
        assert_eq!(alone.list().await.unwrap().len(), 1);
        let got = alone.get(&work).await.unwrap().unwrap();
        assert_eq!(got.credential.access_token.expose_secret(), "w");
    }

    #[test]
    fn both_connections_keep_a_small_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(&dir.path().join("s.db"), MasterKey::generate().unwrap()).unwrap();
        let cache_size = |conn: &Connection| -> i64 {
            conn.query_row("PRAGMA cache_size", [], |r| r.get(0))
                .unwrap()
        };
        let writer = store.inner.conn.lock().unwrap();
        assert_eq!(cache_size(&writer), -256, "the writer's cache, in KiB");
        let reader = store.inner.reader.as_ref().unwrap().lock().unwrap();
        assert_eq!(
            cache_size(reader.connection()),
            -256,
            "the reader's cache, in KiB"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conforms() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("kit.db"), MasterKey::generate().unwrap()).unwrap(),
        );
        crate::testkit::token_store::run_all(&store).await;
        // Twice: the suite must work against a store that already has data.
        crate::testkit::token_store::run_all(&store).await;
        crate::testkit::audit_sink::run_all(store.as_ref()).await;
        crate::testkit::audit_sink::run_all(store.as_ref()).await;
    }

    fn write(token: &str) -> AccountWrite {
        AccountWrite {
            credential: Credential::static_token(SecretString::from(token.to_owned())).unwrap(),
            identity: Some("octocat".into()),
            status: AccountStatus::Ok,
        }
    }

    /// Accounts are held in memory between calls; a change made by anyone
    /// (another handle, as another `mcpist` process would; a plain SQL edit)
    /// must be seen by the very next read.
    #[tokio::test]
    async fn every_change_to_the_accounts_is_seen_by_the_next_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let key = MasterKey::generate().unwrap();
        let again = key.duplicate();
        let server = SqliteStore::open(&path, key).unwrap();
        let cli = SqliteStore::open(&path, again).unwrap();
        let work = AccountKey::new("github", "work").unwrap();
        let home = AccountKey::new("github", "home").unwrap();
        let token = |store: &SqliteStore, key: &AccountKey| {
            let store = store.clone();
            let key = key.clone();
            async move {
                store
                    .get(&key)
                    .await
                    .unwrap()
                    .map(|r| r.credential.access_token.expose_secret().to_owned())
            }
        };
        let labels = |store: &SqliteStore| {
            let store = store.clone();
            async move {
                store
                    .list()
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|a| format!("{}{}", a.account, if a.is_default { "*" } else { "" }))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(token(&server, &work).await, None);
        assert!(labels(&server).await.is_empty());

        cli.put(&work, write("w1"), Expect::Absent).await.unwrap();
        assert_eq!(token(&server, &work).await.as_deref(), Some("w1"));
        cli.put(&home, write("h1"), Expect::Absent).await.unwrap();
        assert_eq!(labels(&server).await, ["home", "work"]);
        cli.put(&work, write("w2"), Expect::Any).await.unwrap();
        assert_eq!(token(&server, &work).await.as_deref(), Some("w2"));
        cli.set_default(&home).await.unwrap();
        assert_eq!(labels(&server).await, ["home*", "work"]);
        cli.set_default(&work).await.unwrap();
        assert_eq!(labels(&server).await, ["home", "work*"]);
        assert!(cli.delete(&work).await.unwrap());
        assert_eq!(token(&server, &work).await, None);
        assert_eq!(labels(&server).await, ["home"]);

        // Written by this handle's own writer connection.
        server.put(&home, write("h2"), Expect::Any).await.unwrap();
        assert_eq!(token(&server, &home).await.as_deref(), Some("h2"));
        // Written by hand, outside any MCPist code.
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE accounts SET status = 'needs_reauth'", [])
            .unwrap();
        let record = server.get(&home).await.unwrap().unwrap();
        assert_eq!(record.status, AccountStatus::NeedsReauth);
        conn.execute("DELETE FROM accounts", []).unwrap();
        assert!(labels(&server).await.is_empty());
        assert_eq!(token(&server, &home).await, None);
    }

    /// A store made before the generation counter existed gets it (and its
    /// triggers) the first time a newer `mcpist` opens it.
    #[tokio::test]
    async fn an_older_store_gets_the_generation_counter_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let key = MasterKey::generate().unwrap();
        let again = || key.duplicate();
        let work = AccountKey::new("github", "work").unwrap();
        SqliteStore::open(&path, again())
            .unwrap()
            .put(&work, write("w1"), Expect::Absent)
            .await
            .unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER accounts_inserted; DROP TRIGGER accounts_updated;
             DROP TRIGGER accounts_deleted; DROP TRIGGER defaults_inserted;
             DROP TRIGGER defaults_updated; DROP TRIGGER defaults_deleted;
             DROP TABLE generation; PRAGMA user_version = 0;",
        )
        .unwrap();
        drop(conn);
        let server = SqliteStore::open(&path, again()).unwrap();
        let cli = SqliteStore::open(&path, again()).unwrap();
        let token = || async {
            let record = server.get(&work).await.unwrap().unwrap();
            record.credential.access_token.expose_secret().to_owned()
        };
        assert_eq!(token().await, "w1");
        cli.put(&work, write("w2"), Expect::Any).await.unwrap();
        assert_eq!(token().await, "w2");
    }

    /// The audit table is not walked at open; a file cut short inside it is
    /// still refused, and left as it was.
    #[tokio::test]
    async fn a_store_cut_short_in_its_audit_pages_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.db");
        let key = MasterKey::generate().unwrap();
        let again = || key.duplicate();
        let store = SqliteStore::open(&path, again()).unwrap();
        for _ in 0..500 {
            crate::audit::AuditSink::record(
                &store,
                crate::audit::AuditEvent::now(crate::audit::AuditKind::ToolCall)
                    .tool("github_get_issue"),
                crate::audit::AuditOutcome::of(crate::audit::Outcome::Ok),
            )
            .await
            .unwrap();
        }
        drop(store);
        // Every page in the main file (the store may still be closing on
        // the audit writer's thread).
        Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap();
        let intact = std::fs::read(&path).unwrap();
        assert!(intact.len() > 20 * 4096, "{} bytes", intact.len());
        let cut = &intact[..intact.len() - 4096];
        std::fs::write(&path, cut).unwrap();
        let err = SqliteStore::open(&path, again()).unwrap_err().to_string();
        assert!(err.contains("left untouched"), "{err}");
        assert!(std::fs::read(&path).unwrap() == cut);
        std::fs::write(&path, &intact).unwrap();
        SqliteStore::open(&path, again()).unwrap();
    }

    #[tokio::test]
    async fn tokens_are_never_on_disk_in_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path, MasterKey::generate().unwrap()).unwrap();
        let key = AccountKey::new("github", "work").unwrap();
        store
            .put(&key, write("canary-sqlite-7f3a9c"), Expect::Absent)
            .await
            .unwrap();
        for file in ["s.db", "s.db-wal"] {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            assert!(!bytes.windows(12).any(|w| w == b"canary-sqlit"), "{file}");
        }
        let got = store.get(&key).await.unwrap().unwrap();
        assert_eq!(
            got.credential.access_token.expose_secret(),
            "canary-sqlite-7f3a9c"
        );
    }

    #[tokio::test]
    async fn a_sealed_value_swapped_onto_another_account_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path, MasterKey::generate().unwrap()).unwrap();
        let work = AccountKey::new("github", "work").unwrap();
        let home = AccountKey::new("github", "home").unwrap();
        store.put(&work, write("w"), Expect::Any).await.unwrap();
        store.put(&home, write("h"), Expect::Any).await.unwrap();
        store
            .with_conn(|conn, _| {
                conn.execute(
                    "UPDATE accounts SET sealed = (SELECT sealed FROM accounts WHERE account = 'work')
                     WHERE account = 'home'",
                    [],
                )
                .map_err(store_err)
            })
            .await
            .unwrap();
        assert!(matches!(store.get(&home).await, Err(Error::Unseal { .. })));
        // The other account still works, and listing never needed to decrypt.
        assert!(store.get(&work).await.unwrap().is_some());
        assert_eq!(store.list().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn compare_and_swap_refuses_a_stale_version() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(&dir.path().join("s.db"), MasterKey::generate().unwrap()).unwrap();
        let key = AccountKey::new("github", "work").unwrap();
        let v1 = store.put(&key, write("a"), Expect::Absent).await.unwrap();
        assert!(matches!(
            store.put(&key, write("b"), Expect::Absent).await,
            Err(Error::Conflict { .. })
        ));
        let v2 = store
            .put(&key, write("b"), Expect::Version(v1))
            .await
            .unwrap();
        assert!(matches!(
            store.put(&key, write("c"), Expect::Version(v1)).await,
            Err(Error::Conflict { found: Some(f), .. }) if f == v2
        ));
        let got = store.get(&key).await.unwrap().unwrap();
        assert_eq!(got.credential.access_token.expose_secret(), "b");
    }

    #[test]
    fn a_garbage_file_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        std::fs::write(
            &path,
            b"this is not a database at all, not even close......",
        )
        .unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = SqliteStore::open(&path, MasterKey::generate().unwrap()).unwrap_err();
        assert!(err.to_string().contains("left untouched"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn the_store_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        SqliteStore::open(&path, MasterKey::generate().unwrap()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
