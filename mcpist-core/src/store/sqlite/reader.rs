//! The accounts as tool calls read them: held in memory, still sealed, and
//! read again only when the `generation` counter says a writer changed them.
//!
//! Every tool call resolves its account (`list`) and takes its token (`get`).
//! Reading both from SQLite on a blocking thread cost two thread hops and two
//! queries per call; here a call costs one indexed read of the counter on a
//! connection of its own, done in place. Triggers bump the counter on every
//! change to `accounts` or `defaults`, whoever makes it (this process, another
//! `mcpist` on the same file, a hand edit), so the next call sees the change:
//! there is no invalidation to forget. Tokens stay sealed in memory and are
//! opened per call (a few hundred bytes of XChaCha20-Poly1305).

use std::{path::Path, sync::Arc};

use rusqlite::{Connection, OpenFlags};

use super::store_err;
use crate::{
    Error, Result,
    seal::Sealer,
    store::{AccountInfo, AccountKey, AccountRecord, AccountStatus, Credential, CredentialKind},
};

/// Appended to the store's schema: the counter and the triggers that keep it.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT OR IGNORE INTO generation (id, value) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS accounts_inserted AFTER INSERT ON accounts
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER IF NOT EXISTS accounts_updated AFTER UPDATE ON accounts
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER IF NOT EXISTS accounts_deleted AFTER DELETE ON accounts
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER IF NOT EXISTS defaults_inserted AFTER INSERT ON defaults
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER IF NOT EXISTS defaults_updated AFTER UPDATE ON defaults
    BEGIN UPDATE generation SET value = value + 1; END;
CREATE TRIGGER IF NOT EXISTS defaults_deleted AFTER DELETE ON defaults
    BEGIN UPDATE generation SET value = value + 1; END;
";

/// One account as stored: its secret part still sealed.
#[derive(Debug)]
pub(super) struct AccountRow {
    service: String,
    account: String,
    kind: String,
    identity: Option<String>,
    status: String,
    expires_at: Option<i64>,
    scopes: String,
    is_default: bool,
    sealed: Vec<u8>,
    version: i64,
    updated_at: i64,
}

impl AccountRow {
    /// Whether this is the row of `key`.
    pub(super) fn is(&self, key: &AccountKey) -> bool {
        self.service == key.service() && self.account == key.account()
    }

    fn damaged(&self) -> Error {
        Error::Unseal {
            what: format!("{}/{}", self.service, self.account),
        }
    }

    fn kind(&self) -> Result<CredentialKind> {
        CredentialKind::parse(&self.kind).ok_or_else(|| self.damaged())
    }

    fn status(&self) -> Result<AccountStatus> {
        AccountStatus::parse(&self.status).ok_or_else(|| self.damaged())
    }

    fn scopes(&self) -> Result<Vec<String>> {
        serde_json::from_str(&self.scopes).map_err(|_| self.damaged())
    }

    /// The row without its secret: what `list` returns.
    pub(super) fn info(&self) -> Result<AccountInfo> {
        Ok(AccountInfo {
            service: self.service.clone(),
            account: self.account.clone(),
            kind: self.kind()?,
            identity: self.identity.clone(),
            status: self.status()?,
            expires_at: self.expires_at.map(|e| e as u64),
            scopes: self.scopes()?,
            is_default: self.is_default,
            version: self.version as u64,
            updated_at: self.updated_at as u64,
        })
    }

    /// The row with its credential unsealed: what `get` returns.
    pub(super) fn record(&self, key: &AccountKey, sealer: &Sealer) -> Result<AccountRecord> {
        let plain = sealer.open(&key.aad(), &self.sealed, &key.to_string())?;
        let credential = Credential::from_secret_bytes(
            &plain,
            self.kind()?,
            self.expires_at.map(|e| e as u64),
            self.scopes()?,
        )?;
        Ok(AccountRecord {
            credential,
            identity: self.identity.clone(),
            status: self.status()?,
            version: self.version as u64,
            updated_at: self.updated_at as u64,
        })
    }
}

/// A connection that only reads, and the accounts it read last.
#[derive(Debug)]
pub(super) struct Reader {
    conn: Connection,
    generation: Option<i64>,
    rows: Arc<[AccountRow]>,
}

impl Reader {
    /// A second connection to the store at `path`, already opened and
    /// checked by the writer.
    pub(super) fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(store_err)?;
        conn.execute_batch(&format!(
            "PRAGMA query_only = 1; PRAGMA busy_timeout = 5000; {}",
            super::CACHE_SIZE
        ))
        .map_err(store_err)?;
        Ok(Self {
            conn,
            generation: None,
            rows: Arc::from([]),
        })
    }

    /// The connection itself, for tests that check how it was opened.
    #[cfg(test)]
    pub(super) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Every account, sorted by service then label, as of the last commit.
    pub(super) fn accounts(&mut self) -> Result<Arc<[AccountRow]>> {
        let now = generation(&self.conn)?;
        if self.generation != Some(now) {
            // The counter and the rows from one snapshot, so that a write
            // committed between them is seen at the next call, not missed.
            let tx = self.conn.unchecked_transaction().map_err(store_err)?;
            let generation = generation(&tx)?;
            let rows = read_rows(&tx)?;
            tx.commit().map_err(store_err)?;
            self.generation = Some(generation);
            self.rows = rows.into();
        }
        Ok(self.rows.clone())
    }
}

fn generation(conn: &Connection) -> Result<i64> {
    conn.prepare_cached("SELECT value FROM generation WHERE id = 1")
        .and_then(|mut statement| statement.query_row([], |r| r.get(0)))
        .map_err(store_err)
}

pub(super) fn read_rows(conn: &Connection) -> Result<Vec<AccountRow>> {
    let mut statement = conn
        .prepare_cached(
            "SELECT a.service, a.account, a.kind, a.identity, a.status, a.expires_at, a.scopes,
                    d.account IS NOT NULL, a.sealed, a.version, a.updated_at
             FROM accounts a
             LEFT JOIN defaults d ON d.service = a.service AND d.account = a.account
             ORDER BY a.service, a.account",
        )
        .map_err(store_err)?;
    let rows = statement
        .query_map([], |r| {
            Ok(AccountRow {
                service: r.get(0)?,
                account: r.get(1)?,
                kind: r.get(2)?,
                identity: r.get(3)?,
                status: r.get(4)?,
                expires_at: r.get(5)?,
                scopes: r.get(6)?,
                is_default: r.get(7)?,
                sealed: r.get(8)?,
                version: r.get(9)?,
                updated_at: r.get(10)?,
            })
        })
        .map_err(store_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(store_err)
}
