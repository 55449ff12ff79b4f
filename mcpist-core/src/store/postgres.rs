//! The PostgreSQL store: the same sealed records as the SQLite store, in one
//! database that several MCPist replicas share.
//!
//! - Every secret is sealed with the same envelope ([`Sealer`]) and the same
//!   associated data, so a value moved between rows does not open.
//! - Compare-and-swap writes are single conditional statements.
//! - The audit log lives in the same database with the same MAC chain; appends
//!   from several processes are serialized by a transaction-scoped advisory lock.
//! - [`TokenStore::lock_account`] takes a session advisory lock on a
//!   connection of its own, so a refresh in one replica makes the others wait
//!   and then re-read the record instead of spending the refresh token again.
//!
//! Connections are plain TCP (`NoTls`): keep the database on loopback or a
//! private network.

mod audit;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{Client, NoTls};

use super::{
    AccountInfo, AccountKey, AccountLock, AccountRecord, AccountStatus, AccountWrite, Credential,
    CredentialKind, Expect, TokenStore, Unlock, missing_account, now_unix, wrong_key,
};
use crate::{
    Error, Result,
    audit::AuditKey,
    seal::{KdfParams, MasterKey, Sealer},
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mcpist_meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS mcpist_accounts (
    service    TEXT NOT NULL,
    account    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    identity   TEXT,
    status     TEXT NOT NULL,
    expires_at BIGINT,
    scopes     TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (service, account)
);
CREATE TABLE IF NOT EXISTS mcpist_defaults (service TEXT PRIMARY KEY, account TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mcpist_retired (
    service TEXT NOT NULL,
    account TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (service, account)
);
CREATE TABLE IF NOT EXISTS mcpist_secrets (name TEXT PRIMARY KEY, sealed BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS mcpist_audit (
    seq             BIGINT PRIMARY KEY,
    time_ms         BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    service         TEXT,
    account         TEXT,
    tool            TEXT,
    args            TEXT,
    outcome         TEXT NOT NULL,
    is_error        BOOLEAN,
    upstream_status INTEGER,
    latency_ms      BIGINT NOT NULL,
    message         TEXT,
    mac             BYTEA NOT NULL,
    outcome_mac     BYTEA
);
CREATE INDEX IF NOT EXISTS mcpist_audit_time ON mcpist_audit (time_ms);
";

/// Advisory lock ids (`"mcpist"` and a number): schema setup, audit appends.
const SETUP_LOCK: i64 = 0x6d63_7069_7374_0001;
const AUDIT_LOCK: i64 = 0x6d63_7069_7374_0002;

const KEY_CHECK_AAD: &[u8] = b"mcpist/key-check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"mcpist key check v1";

/// Accounts in a PostgreSQL database, secrets sealed with the master key.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: SecretString,
    location: String,
    client: Mutex<Client>,
    sealer: Sealer,
    audit_key: AuditKey,
}

fn pg_err(e: tokio_postgres::Error) -> Error {
    Error::Store(match e.as_db_error() {
        Some(db) => format!("PostgreSQL: {}", db.message()),
        None => format!("PostgreSQL: {e}"),
    })
}

/// The URL without its password, for messages.
fn redact(url: &SecretString) -> String {
    match url::Url::parse(url.expose_secret()) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("REDACTED"));
            }
            parsed.to_string()
        }
        Err(_) => "the configured PostgreSQL URL".into(),
    }
}

async fn connect(url: &SecretString, location: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url.expose_secret(), NoTls)
        .await
        .map_err(|e| Error::Store(format!("cannot connect to {location}: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

fn secret_aad(name: &str) -> Vec<u8> {
    [b"mcpist/secret\0".as_slice(), name.as_bytes()].concat()
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:pass@host/db`),
    /// creates the tables if needed, and checks `key` against the store's
    /// key-check record. A wrong key is [`Error::WrongKey`] and writes nothing.
    pub async fn open(url: &SecretString, key: MasterKey) -> Result<Self> {
        Self::open_with(url, Unlock::Key(key)).await
    }

    /// Like [`Self::open`], with a master key derived from `passphrase`
    /// (argon2id); the salt and cost live in the database (`mcpist_meta`,
    /// row `kdf`), so every replica derives the same key from the same passphrase.
    pub async fn open_with_passphrase(
        url: &SecretString,
        passphrase: &SecretString,
    ) -> Result<Self> {
        Self::open_with(url, Unlock::Passphrase(passphrase)).await
    }

    async fn open_with(url: &SecretString, unlock: Unlock<'_>) -> Result<Self> {
        let location = redact(url);
        let mut client = connect(url, &location).await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        // Replicas starting together must not race to create the same tables.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])
            .await
            .map_err(pg_err)?;
        // `IF NOT EXISTS` notices on every start are noise, not news.
        tx.batch_execute("SET LOCAL client_min_messages = warning")
            .await
            .map_err(pg_err)?;
        tx.batch_execute(SCHEMA).await.map_err(pg_err)?;
        let meta = async |name: &str| -> Result<Option<Vec<u8>>> {
            Ok(tx
                .query_opt("SELECT value FROM mcpist_meta WHERE name = $1", &[&name])
                .await
                .map_err(pg_err)?
                .map(|row| row.get(0)))
        };
        let stored_kdf = meta("kdf")
            .await?
            .map(|bytes| KdfParams::from_bytes(&bytes, &location))
            .transpose()?;
        let check = meta("key_check").await?;
        let by_passphrase = matches!(unlock, Unlock::Passphrase(_));
        let (sealer, new_kdf) = unlock.resolve(stored_kdf.as_ref(), check.is_some(), &location)?;
        match check {
            Some(sealed) => {
                if sealer.open(KEY_CHECK_AAD, &sealed, "key check").is_err() {
                    // Dropping the transaction rolls it back: nothing was written.
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
                let sealed = sealer.seal(KEY_CHECK_AAD, KEY_CHECK_PLAINTEXT)?;
                tx.execute(
                    "INSERT INTO mcpist_meta (name, value) VALUES ('key_check', $1), ('schema_version', '\\x01')",
                    &[&sealed],
                )
                .await
                .map_err(pg_err)?;
                if let Some(params) = &new_kdf {
                    tx.execute(
                        "INSERT INTO mcpist_meta (name, value) VALUES ('kdf', $1)",
                        &[&params.to_bytes()],
                    )
                    .await
                    .map_err(pg_err)?;
                }
            }
        }
        let audit_key = audit::load_or_create_key(&tx, &sealer).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(Self {
            inner: Arc::new(Inner {
                url: url.clone(),
                location,
                client: Mutex::new(client),
                sealer,
                audit_key,
            }),
        })
    }

    /// The shared connection, opened again if it was closed (a database restart).
    async fn client(&self) -> Result<MutexGuard<'_, Client>> {
        let mut client = self.inner.client.lock().await;
        if client.is_closed() {
            *client = connect(&self.inner.url, &self.inner.location).await?;
        }
        Ok(client)
    }
}

/// The advisory lock id of an account's refresh.
fn lock_id(key: &AccountKey) -> i64 {
    let digest = Sha256::new()
        .chain_update(b"mcpist/refresh\0")
        .chain_update(key.aad())
        .finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn get(&self, key: &AccountKey) -> Result<Option<AccountRecord>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT kind, identity, status, expires_at, scopes, sealed, version, updated_at
                 FROM mcpist_accounts WHERE service = $1 AND account = $2",
                &[&key.service(), &key.account()],
            )
            .await
            .map_err(pg_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let what = key.to_string();
        let damaged = || Error::Unseal { what: what.clone() };
        let sealed: Vec<u8> = row.get(5);
        let plain = self.inner.sealer.open(&key.aad(), &sealed, &what)?;
        let kind: String = row.get(0);
        let status: String = row.get(2);
        let scopes: String = row.get(4);
        let credential = Credential::from_secret_bytes(
            &plain,
            CredentialKind::parse(&kind).ok_or_else(damaged)?,
            row.get::<_, Option<i64>>(3).map(|e| e as u64),
            serde_json::from_str(&scopes).map_err(|_| damaged())?,
        )?;
        Ok(Some(AccountRecord {
            credential,
            identity: row.get(1),
            status: AccountStatus::parse(&status).ok_or_else(damaged)?,
            version: row.get::<_, i64>(6) as u64,
            updated_at: row.get::<_, i64>(7) as u64,
        }))
    }

    async fn put(&self, key: &AccountKey, write: AccountWrite, expect: Expect) -> Result<u64> {
        let sealed = self
            .inner
            .sealer
            .seal(&key.aad(), &write.credential.secret_bytes())?;
        let c = &write.credential;
        let expires_at = c.expires_at.map(|e| e as i64);
        let scopes = serde_json::to_string(&c.scopes).expect("strings serialize");
        let now = now_unix() as i64;
        let (service, account) = (key.service(), key.account());
        let client = self.client().await?;
        // Each case is one statement, so the check and the write are atomic.
        let row = match expect {
            Expect::Any => client
                .query_opt(
                    "INSERT INTO mcpist_accounts
                       (service, account, kind, identity, status, expires_at, scopes, sealed, version, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                       COALESCE((SELECT version FROM mcpist_retired WHERE service = $1 AND account = $2), 0) + 1,
                       $9)
                     ON CONFLICT (service, account) DO UPDATE SET
                       kind = excluded.kind, identity = excluded.identity, status = excluded.status,
                       expires_at = excluded.expires_at, scopes = excluded.scopes,
                       sealed = excluded.sealed, version = mcpist_accounts.version + 1,
                       updated_at = excluded.updated_at
                     RETURNING version",
                    &[&service, &account, &c.kind.as_str(), &write.identity, &write.status.as_str(), &expires_at, &scopes, &sealed, &now],
                )
                .await,
            Expect::Absent => client
                .query_opt(
                    "INSERT INTO mcpist_accounts
                       (service, account, kind, identity, status, expires_at, scopes, sealed, version, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                       COALESCE((SELECT version FROM mcpist_retired WHERE service = $1 AND account = $2), 0) + 1,
                       $9)
                     ON CONFLICT (service, account) DO NOTHING
                     RETURNING version",
                    &[&service, &account, &c.kind.as_str(), &write.identity, &write.status.as_str(), &expires_at, &scopes, &sealed, &now],
                )
                .await,
            Expect::Version(v) => client
                .query_opt(
                    "UPDATE mcpist_accounts SET
                       kind = $3, identity = $4, status = $5, expires_at = $6, scopes = $7,
                       sealed = $8, version = version + 1, updated_at = $9
                     WHERE service = $1 AND account = $2 AND version = $10
                     RETURNING version",
                    &[&service, &account, &c.kind.as_str(), &write.identity, &write.status.as_str(), &expires_at, &scopes, &sealed, &now, &(v as i64)],
                )
                .await,
        }
        .map_err(pg_err)?;
        if let Some(row) = row {
            return Ok(row.get::<_, i64>(0) as u64);
        }
        let found = client
            .query_opt(
                "SELECT version FROM mcpist_accounts WHERE service = $1 AND account = $2",
                &[&service, &account],
            )
            .await
            .map_err(pg_err)?
            .map(|r| r.get::<_, i64>(0) as u64);
        Err(Error::Conflict {
            service: service.to_owned(),
            account: account.to_owned(),
            expected: match expect {
                Expect::Version(v) => Some(v),
                _ => None,
            },
            found,
        })
    }

    async fn list(&self) -> Result<Vec<AccountInfo>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT a.service, a.account, a.kind, a.identity, a.status, a.expires_at,
                        a.scopes, d.account IS NOT NULL, a.version, a.updated_at
                 FROM mcpist_accounts a
                 LEFT JOIN mcpist_defaults d ON d.service = a.service AND d.account = a.account
                 ORDER BY a.service COLLATE \"C\", a.account COLLATE \"C\"",
                &[],
            )
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                let (service, account): (String, String) = (r.get(0), r.get(1));
                let damaged = || Error::Unseal {
                    what: format!("{service}/{account}"),
                };
                let kind: String = r.get(2);
                let status: String = r.get(4);
                let scopes: String = r.get(6);
                Ok(AccountInfo {
                    kind: CredentialKind::parse(&kind).ok_or_else(damaged)?,
                    status: AccountStatus::parse(&status).ok_or_else(damaged)?,
                    scopes: serde_json::from_str(&scopes).map_err(|_| damaged())?,
                    identity: r.get(3),
                    expires_at: r.get::<_, Option<i64>>(5).map(|e| e as u64),
                    is_default: r.get(7),
                    version: r.get::<_, i64>(8) as u64,
                    updated_at: r.get::<_, i64>(9) as u64,
                    service,
                    account,
                })
            })
            .collect()
    }

    async fn delete(&self, key: &AccountKey) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        tx.execute(
            "DELETE FROM mcpist_defaults WHERE service = $1 AND account = $2",
            &[&key.service(), &key.account()],
        )
        .await
        .map_err(pg_err)?;
        // The deleted record's version is kept, so that a re-added record
        // continues from it and a stale compare-and-swap cannot match (ABA).
        let n = tx
            .execute(
                "WITH gone AS (
                   DELETE FROM mcpist_accounts WHERE service = $1 AND account = $2
                   RETURNING service, account, version)
                 INSERT INTO mcpist_retired (service, account, version)
                 SELECT service, account, version FROM gone
                 ON CONFLICT (service, account) DO UPDATE SET
                   version = GREATEST(mcpist_retired.version, excluded.version)",
                &[&key.service(), &key.account()],
            )
            .await
            .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(n > 0)
    }

    async fn set_default(&self, key: &AccountKey) -> Result<()> {
        let n = self
            .client()
            .await?
            .execute(
                "INSERT INTO mcpist_defaults (service, account)
                 SELECT service, account FROM mcpist_accounts WHERE service = $1 AND account = $2
                 ON CONFLICT (service) DO UPDATE SET account = excluded.account",
                &[&key.service(), &key.account()],
            )
            .await
            .map_err(pg_err)?;
        if n == 0 {
            return Err(missing_account(key));
        }
        Ok(())
    }

    async fn get_secret(&self, name: &str) -> Result<Option<SecretString>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT sealed FROM mcpist_secrets WHERE name = $1",
                &[&name],
            )
            .await
            .map_err(pg_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let sealed: Vec<u8> = row.get(0);
        let what = format!("secret {name}");
        let plain = self.inner.sealer.open(&secret_aad(name), &sealed, &what)?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| Error::Unseal { what })?;
        Ok(Some(SecretString::from(text)))
    }

    async fn put_secret(&self, name: &str, value: &SecretString) -> Result<()> {
        let sealed = self
            .inner
            .sealer
            .seal(&secret_aad(name), value.expose_secret().as_bytes())?;
        self.client()
            .await?
            .execute(
                "INSERT INTO mcpist_secrets (name, sealed) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed",
                &[&name, &sealed],
            )
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    fn location(&self) -> String {
        self.inner.location.clone()
    }

    async fn lock_account(&self, key: &AccountKey) -> Result<AccountLock> {
        // A session lock on a connection of its own: dropping the guard drops
        // the connection, and the server releases the lock with the session,
        // also when this process dies.
        let client = connect(&self.inner.url, &self.inner.location).await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&lock_id(key)])
            .await
            .map_err(pg_err)?;
        Ok(AccountLock::new(client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::postgres::TempDatabase;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conforms() {
        let db = TempDatabase::create().await;
        let store = Arc::new(
            PostgresStore::open(&db.url(), MasterKey::generate().unwrap())
                .await
                .unwrap(),
        );
        crate::testkit::token_store::run_all(&store).await;
        crate::testkit::token_store::run_all(&store).await;
        crate::testkit::audit_sink::run_all(store.as_ref()).await;
        crate::testkit::audit_sink::run_all(store.as_ref()).await;
    }

    fn write(token: &str) -> AccountWrite {
        AccountWrite {
            credential: Credential::static_token(SecretString::from(token.to_owned())).unwrap(),
            identity: None,
            status: AccountStatus::Ok,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_key_is_refused_and_a_moved_value_does_not_open() {
        let db = TempDatabase::create().await;
        let key = MasterKey::generate().unwrap();
        let text = key.encode();
        let store = PostgresStore::open(&db.url(), key).await.unwrap();
        let work = AccountKey::new("github", "work").unwrap();
        let home = AccountKey::new("github", "home").unwrap();
        store
            .put(&work, write("canary-pg-8d1e"), Expect::Any)
            .await
            .unwrap();
        store.put(&home, write("h"), Expect::Any).await.unwrap();
        assert!(matches!(
            PostgresStore::open(&db.url(), MasterKey::generate().unwrap()).await,
            Err(Error::WrongKey { .. })
        ));
        let raw = store.client().await.unwrap();
        let sealed: Vec<u8> = raw
            .query_one(
                "SELECT sealed FROM mcpist_accounts WHERE account = 'work'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(!sealed.windows(9).any(|w| w == b"canary-pg"));
        raw.execute(
            "UPDATE mcpist_accounts SET sealed = $1 WHERE account = 'home'",
            &[&sealed],
        )
        .await
        .unwrap();
        drop(raw);
        assert!(matches!(store.get(&home).await, Err(Error::Unseal { .. })));
        // A second handle with the same key sees the same records.
        let again = PostgresStore::open(
            &db.url(),
            MasterKey::from_encoded(text.expose_secret()).unwrap(),
        )
        .await
        .unwrap();
        let got = again.get(&work).await.unwrap().unwrap();
        assert_eq!(
            got.credential.access_token.expose_secret(),
            "canary-pg-8d1e"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_account_lock_holds_off_other_handles_until_dropped() {
        let db = TempDatabase::create().await;
        let key = MasterKey::generate().unwrap();
        let text = key.encode();
        let a = PostgresStore::open(&db.url(), key).await.unwrap();
        let b = PostgresStore::open(
            &db.url(),
            MasterKey::from_encoded(text.expose_secret()).unwrap(),
        )
        .await
        .unwrap();
        let work = AccountKey::new("github", "work").unwrap();
        let held = a.lock_account(&work).await.unwrap();
        assert!(held.is_held());
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let waiter = tokio::spawn(async move {
            let lock = b.lock_account(&work).await.unwrap();
            let _ = tx.send(());
            drop(lock);
        });
        // Another account is not held up.
        let other = a
            .lock_account(&AccountKey::new("github", "home").unwrap())
            .await
            .unwrap();
        drop(other);
        // Wait until the server shows the second handle waiting for the lock.
        let mut waiting = 0;
        for _ in 0..200 {
            waiting = a
                .client()
                .await
                .unwrap()
                .query_one(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    &[],
                )
                .await
                .unwrap()
                .get::<_, i64>(0);
            if waiting == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(waiting, 1, "the second handle never waited");
        assert!(rx.try_recv().is_err(), "the second handle got a held lock");
        drop(held);
        waiter.await.unwrap();
    }
}
