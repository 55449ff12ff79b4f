//! The audit log in the PostgreSQL store: the same MAC chain as SQLite's,
//! in the `mcpist_audit` table, with the head and anchor marks in
//! `mcpist_meta`. Appends take a transaction-scoped advisory lock, so
//! replicas writing at once still form one chain. The marks carry a MAC with
//! the audit key ([`AuditKey::seal_mark`]): what that proves, and against
//! whom, is in [`crate::audit`].

use async_trait::async_trait;
use tokio_postgres::{GenericClient, Row, Transaction};

use super::{AUDIT_LOCK, PostgresStore, pg_err};
use crate::{
    Error, Result,
    audit::{
        AuditEntry, AuditEvent, AuditFilter, AuditKey, AuditKind, AuditOutcome, AuditSink,
        MacBytes, Outcome, VerifyReport, verify_with_marks,
    },
    seal::Sealer,
};

/// The associated data of the sealed audit key. A database whose key is
/// still sealed under [`LEGACY_AUDIT_KEY_AAD`] predates authenticated marks.
const AUDIT_KEY_AAD: &[u8] = b"mcpist/audit-key/v2";
const LEGACY_AUDIT_KEY_AAD: &[u8] = b"mcpist/audit-key";

/// The audit key sealed in `mcpist_meta`, created on first use.
pub(super) async fn load_or_create_key(tx: &Transaction<'_>, sealer: &Sealer) -> Result<AuditKey> {
    let row = tx
        .query_opt(
            "SELECT value FROM mcpist_meta WHERE name = 'audit_key'",
            &[],
        )
        .await
        .map_err(pg_err)?;
    if let Some(row) = row {
        let sealed: Vec<u8> = row.get(0);
        if let Ok(bytes) = sealer.open(AUDIT_KEY_AAD, &sealed, "audit key") {
            return AuditKey::from_bytes(&bytes);
        }
        // Written before the marks were authenticated: they are trusted
        // this once, sealed with the key, and the key re-sealed to say so.
        let bytes = sealer.open(LEGACY_AUDIT_KEY_AAD, &sealed, "audit key")?;
        let key = AuditKey::from_bytes(&bytes)?;
        for name in ["audit_head", "audit_anchor"] {
            if let Some(value) = read_mark(tx, name).await?
                && let Some((seq, mac, false)) = key.open_mark(name, &value)
            {
                write_mark(tx, &key, name, seq, &mac).await?;
            }
        }
        tx.execute(
            "UPDATE mcpist_meta SET value = $1 WHERE name = 'audit_key'",
            &[&sealer.seal(AUDIT_KEY_AAD, key.bytes())?],
        )
        .await
        .map_err(pg_err)?;
        return Ok(key);
    }
    let key = AuditKey::generate()?;
    let sealed = sealer.seal(AUDIT_KEY_AAD, key.bytes())?;
    tx.execute(
        "INSERT INTO mcpist_meta (name, value) VALUES ('audit_key', $1)",
        &[&sealed],
    )
    .await
    .map_err(pg_err)?;
    Ok(key)
}

fn damaged_mac() -> Error {
    Error::Store("an audit record has a damaged MAC".into())
}

/// The stored value of the mark `name`, as [`AuditKey::seal_mark`] wrote it.
async fn read_mark(client: &impl GenericClient, name: &str) -> Result<Option<Vec<u8>>> {
    let row = client
        .query_opt("SELECT value FROM mcpist_meta WHERE name = $1", &[&name])
        .await
        .map_err(pg_err)?;
    Ok(row.map(|row| row.get(0)))
}

async fn write_mark(
    tx: &Transaction<'_>,
    key: &AuditKey,
    name: &str,
    seq: u64,
    mac: &MacBytes,
) -> Result<()> {
    let value = key.seal_mark(name, seq, mac);
    tx.execute(
        "INSERT INTO mcpist_meta (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        &[&name, &value],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

async fn begin_in(tx: &Transaction<'_>, key: &AuditKey, event: &AuditEvent) -> Result<u64> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await
        .map_err(pg_err)?;
    let last = tx
        .query_opt(
            "SELECT seq, mac FROM mcpist_audit ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .map_err(pg_err)?;
    let (seq, previous) = match last {
        Some(row) => (
            row.get::<_, i64>(0) as u64 + 1,
            row.get::<_, Vec<u8>>(1)
                .try_into()
                .map_err(|_| damaged_mac())?,
        ),
        None => {
            // An anchor that is not authentic is still chained from: `verify` reports it.
            let (seq, mac) = read_mark(tx, "audit_anchor")
                .await?
                .and_then(|value| key.open_mark("audit_anchor", &value))
                .map_or((0, [0; 32]), |(seq, mac, _)| (seq, mac));
            (seq + 1, mac)
        }
    };
    let mac = key.event_mac(&previous, seq, event);
    tx.execute(
        "INSERT INTO mcpist_audit (seq, time_ms, kind, request_id, service, account, tool, args,
                                   outcome, latency_ms, mac)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9)",
        &[
            &(seq as i64),
            &(event.time_ms as i64),
            &event.kind.as_str(),
            &event.request_id,
            &event.service,
            &event.account,
            &event.tool,
            &event.args.as_ref().map(|a| a.to_string()),
            &mac.as_slice(),
        ],
    )
    .await
    .map_err(pg_err)?;
    write_mark(tx, key, "audit_head", seq, &mac).await?;
    Ok(seq)
}

async fn finish_in(
    tx: &Transaction<'_>,
    key: &AuditKey,
    seq: u64,
    outcome: &AuditOutcome,
) -> Result<()> {
    let mac: MacBytes = tx
        .query_opt(
            "SELECT mac FROM mcpist_audit WHERE seq = $1 AND outcome_mac IS NULL FOR UPDATE",
            &[&(seq as i64)],
        )
        .await
        .map_err(pg_err)?
        .ok_or_else(|| Error::Store(format!("no pending audit record {seq}")))?
        .get::<_, Vec<u8>>(0)
        .try_into()
        .map_err(|_| damaged_mac())?;
    let outcome_mac = key.outcome_mac(&mac, outcome);
    tx.execute(
        "UPDATE mcpist_audit SET outcome = $2, is_error = $3, upstream_status = $4,
                                 latency_ms = $5, message = $6, outcome_mac = $7
         WHERE seq = $1",
        &[
            &(seq as i64),
            &outcome.outcome.as_str(),
            &outcome.is_error,
            &outcome.upstream_status.map(i32::from),
            &(outcome.latency_ms as i64),
            &outcome.message,
            &outcome_mac.as_slice(),
        ],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

const COLUMNS: &str = "seq, time_ms, kind, request_id, service, account, tool, args, outcome, \
                       is_error, upstream_status, latency_ms, message, mac, outcome_mac";

/// One row as an entry with its MACs. Unparseable values become a problem
/// `verify` reports (the MAC will not match), not a failure to read the log.
fn entry(row: &Row) -> (AuditEntry, MacBytes, Option<MacBytes>) {
    let kind: String = row.get(2);
    let args: Option<String> = row.get(7);
    let outcome: String = row.get(8);
    let mac: Vec<u8> = row.get(13);
    let outcome_mac: Option<Vec<u8>> = row.get(14);
    (
        AuditEntry {
            seq: row.get::<_, i64>(0) as u64,
            event: AuditEvent {
                time_ms: row.get::<_, i64>(1) as u64,
                kind: AuditKind::parse(&kind).unwrap_or(AuditKind::ToolCall),
                request_id: row.get(3),
                service: row.get(4),
                account: row.get(5),
                tool: row.get(6),
                args: args.and_then(|a| serde_json::from_str(&a).ok()),
            },
            outcome: AuditOutcome {
                outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failed),
                is_error: row.get(9),
                upstream_status: row
                    .get::<_, Option<i32>>(10)
                    .and_then(|s| u16::try_from(s).ok()),
                latency_ms: row.get::<_, i64>(11) as u64,
                message: row.get(12),
            },
        },
        mac.try_into().unwrap_or([0; 32]),
        outcome_mac.map(|m| m.try_into().unwrap_or([0; 32])),
    )
}

#[async_trait]
impl AuditSink for PostgresStore {
    async fn begin(&self, event: AuditEvent) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let seq = begin_in(&tx, &self.inner.audit_key, &event).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(seq)
    }

    async fn finish(&self, seq: u64, outcome: AuditOutcome) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        finish_in(&tx, &self.inner.audit_key, seq, &outcome).await?;
        tx.commit().await.map_err(pg_err)
    }

    async fn record(&self, event: AuditEvent, outcome: AuditOutcome) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let seq = begin_in(&tx, &self.inner.audit_key, &event).await?;
        finish_in(&tx, &self.inner.audit_key, seq, &outcome).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(seq)
    }

    async fn query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM mcpist_audit
                     WHERE ($1::TEXT IS NULL OR service = $1) AND ($2::BIGINT IS NULL OR time_ms >= $2)
                       AND ($4::TEXT IS NULL OR account = $4) AND ($5::TEXT IS NULL OR outcome = $5)
                       AND ($6::BIGINT IS NULL OR seq < $6)
                     ORDER BY seq DESC LIMIT $3"
                ),
                &[
                    &filter.service,
                    &filter.since_ms.map(|t| t as i64),
                    &filter.limit.map(|l| l as i64),
                    &filter.account,
                    &filter.outcome.map(|o| o.as_str()),
                    &filter.before_seq.map(|s| s as i64),
                ],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows.iter().map(|r| entry(r).0).collect())
    }

    async fn verify(&self) -> Result<VerifyReport> {
        let mut client = self.client().await?;
        // One snapshot: the marks and the rows as of the same moment.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg_err)?;
        let anchor = read_mark(&tx, "audit_anchor").await?;
        let head = read_mark(&tx, "audit_head").await?;
        let rows = tx
            .query(
                &format!("SELECT {COLUMNS} FROM mcpist_audit ORDER BY seq"),
                &[],
            )
            .await
            .map_err(pg_err)?;
        let rows: Vec<_> = rows.iter().map(entry).collect();
        tx.commit().await.map_err(pg_err)?;
        Ok(verify_with_marks(
            &self.inner.audit_key,
            anchor.as_deref(),
            &rows,
            head.as_deref(),
        ))
    }

    async fn prune(&self, before_ms: u64) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
            .await
            .map_err(pg_err)?;
        let last = tx
            .query_opt(
                "SELECT seq, mac FROM mcpist_audit WHERE time_ms < $1 ORDER BY seq DESC LIMIT 1",
                &[&(before_ms as i64)],
            )
            .await
            .map_err(pg_err)?;
        let Some(row) = last else {
            return Ok(0);
        };
        let seq: i64 = row.get(0);
        let mac: MacBytes = row
            .get::<_, Vec<u8>>(1)
            .try_into()
            .map_err(|_| damaged_mac())?;
        let deleted = tx
            .execute("DELETE FROM mcpist_audit WHERE seq <= $1", &[&seq])
            .await
            .map_err(pg_err)?;
        write_mark(&tx, &self.inner.audit_key, "audit_anchor", seq as u64, &mac).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(deleted)
    }

    fn summarize(&self, args: &serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
        self.inner.audit_key.summarize(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{seal::MasterKey, testkit::postgres::TempDatabase};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_chain_verifies_spans_handles_and_shows_tampering() {
        let db = TempDatabase::create().await;
        let key = MasterKey::generate().unwrap();
        let text = key.encode();
        let a = PostgresStore::open(&db.url(), key).await.unwrap();
        let b = PostgresStore::open(
            &db.url(),
            MasterKey::from_encoded(secrecy::ExposeSecret::expose_secret(&text)).unwrap(),
        )
        .await
        .unwrap();
        // Two handles (two replicas) appending at once still make one chain.
        let writes: Vec<_> = (0..40)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move {
                    let event = AuditEvent::now(AuditKind::ToolCall)
                        .service("github")
                        .tool(format!("github_tool_{i}"));
                    store.record(event, AuditOutcome::of(Outcome::Ok)).await
                })
            })
            .collect();
        for w in writes {
            w.await.unwrap().unwrap();
        }
        let pending = a.begin(AuditEvent::now(AuditKind::Login)).await.unwrap();
        let report = b.verify().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.checked, report.pending), (41, 1));
        b.finish(pending, AuditOutcome::of(Outcome::Ok))
            .await
            .unwrap();
        let newest = a
            .query(&AuditFilter {
                limit: Some(2),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(newest.iter().map(|e| e.seq).collect::<Vec<_>>(), [41, 40]);

        // Retention keeps the rest verifiable.
        assert_eq!(a.prune(u64::MAX / 2).await.unwrap(), 41);
        a.record(
            AuditEvent::now(AuditKind::Login),
            AuditOutcome::of(Outcome::Ok),
        )
        .await
        .unwrap();
        assert!(a.verify().await.unwrap().is_intact());

        a.client()
            .await
            .unwrap()
            .execute("UPDATE mcpist_audit SET tool = 'edited'", &[])
            .await
            .unwrap();
        let report = a.verify().await.unwrap();
        assert!(!report.is_intact(), "{report:?}");
    }

    /// The newest 100 and the oldest 50 records deleted with SQL and both
    /// marks rewritten to match what is left; then the head mark deleted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn truncation_at_both_ends_with_rewritten_marks_is_detected() {
        let db = TempDatabase::create().await;
        let store = PostgresStore::open(&db.url(), MasterKey::generate().unwrap())
            .await
            .unwrap();
        for i in 0..200 {
            let event = AuditEvent::now(AuditKind::ToolCall).tool(format!("t{i}"));
            store
                .record(event, AuditOutcome::of(Outcome::Ok))
                .await
                .unwrap();
        }
        assert!(store.verify().await.unwrap().is_intact());
        let client = store.client().await.unwrap();
        let mark = async |seq: i64| -> Vec<u8> {
            let mac: Vec<u8> = client
                .query_one("SELECT mac FROM mcpist_audit WHERE seq = $1", &[&seq])
                .await
                .unwrap()
                .get(0);
            [(seq as u64).to_be_bytes().as_slice(), &mac].concat()
        };
        let (anchor, head) = (mark(50).await, mark(100).await);
        client
            .execute("DELETE FROM mcpist_audit WHERE seq <= 50 OR seq > 100", &[])
            .await
            .unwrap();
        for (name, value) in [("audit_anchor", &anchor), ("audit_head", &head)] {
            client
                .execute(
                    "INSERT INTO mcpist_meta (name, value) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    &[&name, value],
                )
                .await
                .unwrap();
        }
        drop(client);
        let report = store.verify().await.unwrap();
        assert_eq!(report.checked, 50);
        assert!(
            report.problems.iter().any(|p| p.contains("audit_head"))
                && report.problems.iter().any(|p| p.contains("audit_anchor")),
            "{report:?}"
        );
        store
            .client()
            .await
            .unwrap()
            .execute("DELETE FROM mcpist_meta WHERE name = 'audit_head'", &[])
            .await
            .unwrap();
        let report = store.verify().await.unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("audit_head mark is missing")),
            "{report:?}"
        );
    }
}
