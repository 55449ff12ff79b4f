//! The audit log in the SQLite store: the `audit` table, chained by MACs.
//!
//! The newest record's (seq, mac) is also kept in `meta` as `audit_head`, so
//! records removed from the end are noticed too, and the last pruned record's
//! as `audit_anchor`, so the chain stays verifiable after retention deletes
//! old records. Both marks carry a MAC with the audit key
//! ([`AuditKey::seal_mark`]): what that proves, and against whom, is in
//! [`crate::audit`].

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::{SqliteStore, store_err};
use crate::{
    Error, Result,
    audit::{
        AuditEntry, AuditEvent, AuditFilter, AuditKey, AuditKind, AuditOutcome, AuditSink,
        MacBytes, Outcome, verify_with_marks,
    },
    seal::Sealer,
};

/// The associated data of the sealed audit key. A store whose key is still
/// sealed under [`LEGACY_AUDIT_KEY_AAD`] predates authenticated marks.
pub(super) const AUDIT_KEY_AAD: &[u8] = b"mcpist/audit-key/v2";
const LEGACY_AUDIT_KEY_AAD: &[u8] = b"mcpist/audit-key";
const MARKS: [&str; 2] = ["audit_head", "audit_anchor"];

/// `query_row` through the connection's statement cache: parsing the SQL
/// again on every write was a quarter of a tool call's instructions.
fn query_row_cached<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, row)
}

/// `execute` through the connection's statement cache.
fn execute_cached<P: rusqlite::Params>(conn: &Connection, sql: &str, params: P) -> Result<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute(params))
        .map_err(store_err)
}

/// The audit key sealed in `meta`, created on first use.
pub(super) fn load_or_create_key(tx: &Transaction<'_>, sealer: &Sealer) -> Result<AuditKey> {
    let sealed: Option<Vec<u8>> = tx
        .query_row("SELECT value FROM meta WHERE name = 'audit_key'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(store_err)?;
    if let Some(sealed) = sealed {
        if let Ok(bytes) = sealer.open(AUDIT_KEY_AAD, &sealed, "audit key") {
            return AuditKey::from_bytes(&bytes);
        }
        // Written before the marks were authenticated: they are trusted
        // this once, sealed with the key, and the key re-sealed to say so.
        let bytes = sealer.open(LEGACY_AUDIT_KEY_AAD, &sealed, "audit key")?;
        let key = AuditKey::from_bytes(&bytes)?;
        for name in MARKS {
            if let Some(value) = read_mark(tx, name)?
                && let Some((seq, mac, false)) = key.open_mark(name, &value)
            {
                write_mark(tx, &key, name, seq, &mac)?;
            }
        }
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'audit_key'",
            params![sealer.seal(AUDIT_KEY_AAD, key.bytes())?],
        )
        .map_err(store_err)?;
        return Ok(key);
    }
    let key = AuditKey::generate()?;
    let sealed = sealer.seal(AUDIT_KEY_AAD, key.bytes())?;
    tx.execute(
        "INSERT INTO meta (name, value) VALUES ('audit_key', ?1)",
        params![sealed],
    )
    .map_err(store_err)?;
    Ok(key)
}

/// The stored value of the mark `name`, as [`AuditKey::seal_mark`] wrote it.
fn read_mark(conn: &Connection, name: &str) -> Result<Option<Vec<u8>>> {
    query_row_cached(
        conn,
        "SELECT value FROM meta WHERE name = ?1",
        params![name],
        |r| r.get(0),
    )
    .optional()
    .map_err(store_err)
}

fn write_mark(
    conn: &Connection,
    key: &AuditKey,
    name: &str,
    seq: u64,
    mac: &MacBytes,
) -> Result<()> {
    let value = key.seal_mark(name, seq, mac);
    execute_cached(
        conn,
        "INSERT INTO meta (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}

/// The last record of the chain (its seq and MAC), or the anchor that
/// pruning left when there is none (an anchor that is not authentic is
/// still chained from: `verify` reports it).
fn chain_head(conn: &Connection, key: &AuditKey) -> Result<(u64, MacBytes)> {
    let last: Option<(i64, Vec<u8>)> = query_row_cached(
        conn,
        "SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(store_err)?;
    match last {
        Some((seq, mac)) => Ok((
            seq as u64,
            mac.try_into()
                .map_err(|_| Error::Store("an audit record has a damaged MAC".into()))?,
        )),
        None => Ok(read_mark(conn, "audit_anchor")?
            .and_then(|value| key.open_mark("audit_anchor", &value))
            .map_or((0, [0; 32]), |(seq, mac, _)| (seq, mac))),
    }
}

/// Appends `event` after `head` (the chain's last record) and returns the
/// new head.
fn begin_in(
    conn: &Connection,
    key: &AuditKey,
    head: (u64, MacBytes),
    event: &AuditEvent,
) -> Result<(u64, MacBytes)> {
    let (previous_seq, previous) = head;
    let seq = previous_seq + 1;
    let mac = key.event_mac(&previous, seq, event);
    execute_cached(
        conn,
        "INSERT INTO audit (seq, time_ms, kind, request_id, service, account, tool, args,
                            outcome, latency_ms, mac)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 0, ?9)",
        params![
            seq as i64,
            event.time_ms as i64,
            event.kind.as_str(),
            event.request_id,
            event.service,
            event.account,
            event.tool,
            event.args.as_ref().map(|a| a.to_string()),
            mac.as_slice(),
        ],
    )?;
    Ok((seq, mac))
}

fn finish_in(conn: &Connection, key: &AuditKey, seq: u64, outcome: &AuditOutcome) -> Result<()> {
    let mac: Vec<u8> = query_row_cached(
        conn,
        "SELECT mac FROM audit WHERE seq = ?1 AND outcome_mac IS NULL",
        params![seq as i64],
        |r| r.get(0),
    )
    .optional()
    .map_err(store_err)?
    .ok_or_else(|| Error::Store(format!("no pending audit record {seq}")))?;
    let mac: MacBytes = mac
        .try_into()
        .map_err(|_| Error::Store("an audit record has a damaged MAC".into()))?;
    let outcome_mac = key.outcome_mac(&mac, outcome);
    execute_cached(
        conn,
        "UPDATE audit SET outcome = ?2, is_error = ?3, upstream_status = ?4, latency_ms = ?5,
                          message = ?6, outcome_mac = ?7
         WHERE seq = ?1",
        params![
            seq as i64,
            outcome.outcome.as_str(),
            outcome.is_error,
            outcome.upstream_status,
            outcome.latency_ms as i64,
            outcome.message,
            outcome_mac.as_slice(),
        ],
    )?;
    Ok(())
}

const COLUMNS: &str = "seq, time_ms, kind, request_id, service, account, tool, args, outcome, \
                       is_error, upstream_status, latency_ms, message, mac, outcome_mac";

/// One row as an entry with its MACs. Unparseable values become a problem
/// `verify` reports (the MAC will not match), not a failure to read the log.
fn entry(row: &Row<'_>) -> rusqlite::Result<(AuditEntry, MacBytes, Option<MacBytes>)> {
    let kind: String = row.get(2)?;
    let args: Option<String> = row.get(7)?;
    let outcome: String = row.get(8)?;
    let mac: Vec<u8> = row.get(13)?;
    let outcome_mac: Option<Vec<u8>> = row.get(14)?;
    Ok((
        AuditEntry {
            seq: row.get::<_, i64>(0)? as u64,
            event: AuditEvent {
                time_ms: row.get::<_, i64>(1)? as u64,
                kind: AuditKind::parse(&kind).unwrap_or(AuditKind::ToolCall),
                request_id: row.get(3)?,
                service: row.get(4)?,
                account: row.get(5)?,
                tool: row.get(6)?,
                args: args.and_then(|a| serde_json::from_str(&a).ok()),
            },
            outcome: AuditOutcome {
                outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failed),
                is_error: row.get(9)?,
                upstream_status: row.get(10)?,
                latency_ms: row.get::<_, i64>(11)? as u64,
                message: row.get(12)?,
            },
        },
        mac.try_into().unwrap_or([0; 32]),
        outcome_mac.map(|m| m.try_into().unwrap_or([0; 32])),
    ))
}

/// One audit write waiting for the next group commit.
enum Write {
    Begin(AuditEvent),
    Finish(u64, AuditOutcome),
    Record(AuditEvent, AuditOutcome),
}

struct Queued {
    write: Write,
    /// Who waits for the commit; `None` for an outcome written with
    /// `finish_soon`, whose failure is logged instead.
    done: Option<tokio::sync::oneshot::Sender<Result<u64>>>,
}

/// How long an outcome written with `finish_soon` may wait for a write that
/// someone waits for, to share its commit, before it is committed alone.
const OUTCOME_LINGER: std::time::Duration = std::time::Duration::from_millis(5);

/// Audit writes waiting to be committed together: one transaction, so one
/// fsync, for every write that arrived while the previous batch was being
/// committed. Each write someone waits for gets its own answer, and only
/// after the commit: a caller is never told its record is written before it
/// is. Outcomes written with `finish_soon` wait for no one (see
/// [`OUTCOME_LINGER`]).
#[derive(Default)]
pub(super) struct WriteQueue(std::sync::Mutex<Queue>);

#[derive(Default)]
struct Queue {
    writes: Vec<Queued>,
    /// A writer was started and has not taken `writes` yet.
    writer_started: bool,
    /// A timer will start a writer for writes nobody waits for.
    timer_armed: bool,
}

impl WriteQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes every queued write, for the writer that holds the connection.
    fn take(&self) -> Vec<Queued> {
        let mut queue = self.lock();
        queue.writer_started = false;
        std::mem::take(&mut queue.writes)
    }
}

impl std::fmt::Debug for WriteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteQueue")
    }
}

impl SqliteStore {
    /// Queues `write` and waits for the commit of the batch that takes it.
    async fn write_audit(&self, write: Write) -> Result<u64> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let start = {
            let mut queue = self.inner.audit_writes.lock();
            queue.writes.push(Queued {
                write,
                done: Some(done),
            });
            !std::mem::replace(&mut queue.writer_started, true)
        };
        if start {
            self.start_writer();
        }
        answer
            .await
            .map_err(|_| Error::Store("the audit writer stopped before committing".into()))?
    }

    /// Queues `write` for the next commit, which is at most
    /// [`OUTCOME_LINGER`] away, and returns at once.
    fn queue_audit(&self, write: Write) {
        let arm = {
            let mut queue = self.inner.audit_writes.lock();
            queue.writes.push(Queued { write, done: None });
            !queue.writer_started && !std::mem::replace(&mut queue.timer_armed, true)
        };
        if arm {
            let store = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(OUTCOME_LINGER).await;
                let start = {
                    let mut queue = store.inner.audit_writes.lock();
                    queue.timer_armed = false;
                    !queue.writes.is_empty() && !std::mem::replace(&mut queue.writer_started, true)
                };
                if start {
                    store.start_writer();
                }
            });
        }
    }

    /// Starts a writer on a blocking thread: it waits for the connection,
    /// then commits every write queued by then. Writes queued while it
    /// commits start the next writer.
    fn start_writer(&self) {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.conn.lock().unwrap_or_else(|e| e.into_inner());
            commit_batch(&conn, &inner.audit_key, inner.audit_writes.take());
        });
    }
}

/// Runs `batch` in one transaction, each write under its own savepoint so a
/// write that fails is undone alone; answers every write after the commit.
/// If the commit fails, every write of the batch gets the error.
///
/// The chain's head is read once per batch (the transaction holds the write
/// lock, so no other process can append meanwhile) and the `audit_head` mark
/// written once, before the commit.
fn commit_batch(conn: &Connection, key: &AuditKey, batch: Vec<Queued>) {
    let run = |head: &mut Option<(u64, MacBytes)>, write: &Write| -> Result<u64> {
        let mut append = |event: &AuditEvent| -> Result<u64> {
            let last = match *head {
                Some(last) => last,
                None => chain_head(conn, key)?,
            };
            let appended = begin_in(conn, key, last, event)?;
            *head = Some(appended);
            Ok(appended.0)
        };
        match write {
            Write::Begin(event) => append(event),
            Write::Finish(seq, outcome) => finish_in(conn, key, *seq, outcome).map(|()| *seq),
            Write::Record(event, outcome) => {
                let seq = append(event)?;
                finish_in(conn, key, seq, outcome)?;
                Ok(seq)
            }
        }
    };
    let fail_all = |batch: Vec<Queued>, why: String| {
        for queued in batch {
            answer(queued, Err(Error::Store(why.clone())));
        }
    };
    if batch.is_empty() {
        return;
    }
    // A writer that panicked mid-batch left its transaction open; its
    // callers were answered with an error, so nothing of it may commit.
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    if let Err(e) = execute_cached(conn, "BEGIN IMMEDIATE", []) {
        return fail_all(batch, format!("cannot start an audit transaction: {e}"));
    }
    let mut results = Vec::with_capacity(batch.len());
    // The chain's head after the last append that stayed: `None` until one
    // does, so it is also whether the `audit_head` mark must move.
    let mut head = None;
    for queued in &batch {
        let mut tentative = head;
        let result = execute_cached(conn, "SAVEPOINT audit_write", [])
            .and_then(|_| run(&mut tentative, &queued.write));
        let undone = if result.is_ok() {
            head = tentative;
            Ok(0)
        } else {
            execute_cached(conn, "ROLLBACK TO audit_write", [])
        };
        if let Err(e) = undone.and_then(|_| execute_cached(conn, "RELEASE audit_write", [])) {
            let _ = conn.execute_batch("ROLLBACK");
            return fail_all(batch, format!("audit savepoint failed: {e}"));
        }
        results.push(result);
    }
    if let Some((seq, mac)) = head
        && let Err(e) = write_mark(conn, key, "audit_head", seq, &mac)
    {
        let _ = conn.execute_batch("ROLLBACK");
        return fail_all(batch, format!("cannot write the audit head: {e}"));
    }
    if let Err(e) = execute_cached(conn, "COMMIT", []) {
        let _ = conn.execute_batch("ROLLBACK");
        return fail_all(batch, format!("cannot commit the audit log: {e}"));
    }
    for (queued, result) in batch.into_iter().zip(results) {
        answer(queued, result);
    }
}

/// Commits every queued write now, on `conn` (held by the caller): before
/// the log is read, so a read sees every outcome already written with
/// `finish_soon`, and when the store closes.
pub(super) fn commit_queued(conn: &Connection, key: &AuditKey, writes: &WriteQueue) {
    commit_batch(conn, key, writes.take());
}

/// Tells whoever waits for `queued` how it went; logs a failure nobody waits for.
fn answer(queued: Queued, result: Result<u64>) {
    match queued.done {
        Some(done) => {
            let _ = done.send(result);
        }
        None => {
            if let Err(e) = result {
                tracing::error!(error = %e, "could not write the outcome of an audit record");
            }
        }
    }
}

#[async_trait]
impl AuditSink for SqliteStore {
    async fn begin(&self, event: AuditEvent) -> Result<u64> {
        self.write_audit(Write::Begin(event)).await
    }

    async fn finish(&self, seq: u64, outcome: AuditOutcome) -> Result<()> {
        self.write_audit(Write::Finish(seq, outcome))
            .await
            .map(drop)
    }

    async fn finish_soon(&self, seq: u64, outcome: AuditOutcome) -> Result<()> {
        self.queue_audit(Write::Finish(seq, outcome));
        Ok(())
    }

    async fn record(&self, event: AuditEvent, outcome: AuditOutcome) -> Result<u64> {
        self.write_audit(Write::Record(event, outcome)).await
    }

    async fn query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let filter = filter.clone();
        self.with_inner(move |conn, inner| {
            commit_queued(conn, &inner.audit_key, &inner.audit_writes);
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM audit
                     WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR time_ms >= ?2)
                       AND (?4 IS NULL OR account = ?4) AND (?5 IS NULL OR outcome = ?5)
                       AND (?6 IS NULL OR seq < ?6)
                     ORDER BY seq DESC LIMIT ?3"
                ))
                .map_err(store_err)?;
            let limit = filter.limit.map(|l| l as i64).unwrap_or(-1);
            let rows = stmt
                .query_map(
                    params![
                        filter.service,
                        filter.since_ms.map(|t| t as i64),
                        limit,
                        filter.account,
                        filter.outcome.map(|o| o.as_str()),
                        filter.before_seq.map(|s| s as i64),
                    ],
                    entry,
                )
                .map_err(store_err)?;
            rows.map(|r| r.map(|(e, _, _)| e).map_err(store_err))
                .collect()
        })
        .await
    }

    async fn verify(&self) -> Result<crate::audit::VerifyReport> {
        self.with_inner(|conn, inner| {
            commit_queued(conn, &inner.audit_key, &inner.audit_writes);
            // One read transaction: the marks and the rows of one commit.
            let tx = conn.unchecked_transaction().map_err(store_err)?;
            let anchor = read_mark(&tx, "audit_anchor")?;
            let head = read_mark(&tx, "audit_head")?;
            let mut stmt = tx
                .prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"))
                .map_err(store_err)?;
            let rows = stmt
                .query_map([], entry)
                .map_err(store_err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(store_err)?;
            Ok(verify_with_marks(
                &inner.audit_key,
                anchor.as_deref(),
                &rows,
                head.as_deref(),
            ))
        })
        .await
    }

    async fn prune(&self, before_ms: u64) -> Result<u64> {
        self.with_inner(move |conn, inner| {
            commit_queued(conn, &inner.audit_key, &inner.audit_writes);
            let tx = conn.unchecked_transaction().map_err(store_err)?;
            let last: Option<(i64, Vec<u8>)> = tx
                .query_row(
                    "SELECT seq, mac FROM audit WHERE time_ms < ?1 ORDER BY seq DESC LIMIT 1",
                    params![before_ms as i64],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(store_err)?;
            let Some((seq, mac)) = last else {
                return Ok(0);
            };
            let mac: MacBytes = mac
                .try_into()
                .map_err(|_| Error::Store("an audit record has a damaged MAC".into()))?;
            let deleted = tx
                .execute("DELETE FROM audit WHERE seq <= ?1", params![seq])
                .map_err(store_err)?;
            write_mark(&tx, &inner.audit_key, "audit_anchor", seq as u64, &mac)?;
            tx.commit().map_err(store_err)?;
            Ok(deleted as u64)
        })
        .await
    }

    fn summarize(&self, args: &serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
        self.inner.audit_key.summarize(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{seal::MasterKey, store::SqliteStore};

    thread_local! {
        /// The master key of the stores [`store_with`] makes on this thread.
        static TEST_KEY: MasterKey = MasterKey::generate().unwrap();
    }

    async fn store_with(n: u64) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let key = TEST_KEY.with(MasterKey::duplicate);
        let store = SqliteStore::open(&dir.path().join("a.db"), key).unwrap();
        for i in 0..n {
            let event = AuditEvent::now(AuditKind::ToolCall)
                .service("github")
                .tool(format!("github_tool_{i}"));
            store
                .record(event, AuditOutcome::of(Outcome::Ok))
                .await
                .unwrap();
        }
        (dir, store)
    }

    async fn sql(store: &SqliteStore, statement: &'static str) {
        store
            .with_inner(move |conn, _| conn.execute_batch(statement).map_err(store_err))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_intact_log_verifies_and_queries_newest_first() {
        let (_dir, store) = store_with(5).await;
        let report = store.verify().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.checked, 5);
        let newest = store
            .query(&AuditFilter {
                limit: Some(2),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(newest.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 4]);
    }

    #[tokio::test]
    async fn an_edited_record_breaks_the_chain() {
        let (_dir, store) = store_with(5).await;
        sql(
            &store,
            "UPDATE audit SET tool = 'github_innocent' WHERE seq = 3",
        )
        .await;
        let report = store.verify().await.unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains("record 3")),
            "{report:?}"
        );
    }

    #[tokio::test]
    async fn an_edited_outcome_is_detected() {
        let (_dir, store) = store_with(5).await;
        sql(&store, "UPDATE audit SET outcome = 'denied' WHERE seq = 2").await;
        let report = store.verify().await.unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("outcome of record 2")),
            "{report:?}"
        );
    }

    #[tokio::test]
    async fn a_deleted_record_is_detected() {
        let (_dir, store) = store_with(5).await;
        sql(&store, "DELETE FROM audit WHERE seq = 3").await;
        let report = store.verify().await.unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("record 3 is missing")),
            "{report:?}"
        );
    }

    #[tokio::test]
    async fn reordered_records_are_detected() {
        let (_dir, store) = store_with(5).await;
        sql(
            &store,
            "UPDATE audit SET seq = 100 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3;
             UPDATE audit SET seq = 3 WHERE seq = 100;",
        )
        .await;
        assert!(!store.verify().await.unwrap().is_intact());
    }

    #[tokio::test]
    async fn records_removed_from_the_end_are_detected() {
        let (_dir, store) = store_with(5).await;
        sql(&store, "DELETE FROM audit WHERE seq >= 4").await;
        let report = store.verify().await.unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("removed from the end")),
            "{report:?}"
        );
    }

    /// (seq, mac) of record `seq`, read from the file as an attacker would.
    fn record_mac(conn: &Connection, seq: u64) -> Vec<u8> {
        conn.query_row(
            "SELECT mac FROM audit WHERE seq = ?1",
            params![seq as i64],
            |r| r.get(0),
        )
        .unwrap()
    }

    fn set_mark(conn: &Connection, name: &str, value: &[u8]) {
        conn.execute(
            "UPDATE meta SET value = ?2 WHERE name = ?1",
            params![name, value],
        )
        .unwrap();
    }

    /// The attack the marks used to let through: the newest 100 and the
    /// oldest 50 records deleted, and both marks rewritten to match what is
    /// left (as plain copies of a record's seq and MAC, or with a tag copied
    /// from a genuine mark). Detected, also after the store is opened again.
    #[tokio::test]
    async fn truncation_at_both_ends_with_rewritten_marks_is_detected() {
        let (dir, store) = store_with(200).await;
        assert!(store.verify().await.unwrap().is_intact());
        let path = dir.path().join("a.db");
        let key = store.inner.sealer.key_id();
        for forged_tag in [false, true] {
            let conn = Connection::open(&path).unwrap();
            let genuine_tag = read_mark(&conn, "audit_head").unwrap().unwrap()[40..].to_vec();
            if forged_tag {
                // Start again from an intact log of 200 records.
                conn.execute_batch("DELETE FROM audit; DELETE FROM meta WHERE name LIKE 'audit_%' AND name != 'audit_key';")
                    .unwrap();
                drop(conn);
                for i in 0..200 {
                    store
                        .record(
                            AuditEvent::now(AuditKind::ToolCall).tool(format!("t{i}")),
                            AuditOutcome::of(Outcome::Ok),
                        )
                        .await
                        .unwrap();
                }
            } else {
                drop(conn);
            }
            let conn = Connection::open(&path).unwrap();
            let (first, last): (i64, i64) = conn
                .query_row("SELECT min(seq), max(seq) FROM audit", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            let (first, last) = (first as u64, last as u64);
            let (cut_old, new_last) = (first + 49, last - 100);
            let mark = |seq: u64| {
                let mut value = [seq.to_be_bytes().as_slice(), &record_mac(&conn, seq)].concat();
                if forged_tag {
                    value.extend_from_slice(&genuine_tag);
                }
                value
            };
            let (anchor, head) = (mark(cut_old), mark(new_last));
            conn.execute(
                "DELETE FROM audit WHERE seq <= ?1 OR seq > ?2",
                params![cut_old as i64, new_last as i64],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('audit_anchor', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![anchor],
            )
            .unwrap();
            set_mark(&conn, "audit_head", &head);
            drop(conn);
            let report = store.verify().await.unwrap();
            assert_eq!(report.checked, 50);
            assert!(!report.is_intact(), "forged tag {forged_tag}: {report:?}");
            assert!(
                report.problems.iter().any(|p| p.contains("audit_head"))
                    && report.problems.iter().any(|p| p.contains("audit_anchor")),
                "{report:?}"
            );
            // A new handle (another command, a restart) does not bless them.
            let again = SqliteStore::open(&path, TEST_KEY.with(MasterKey::duplicate)).unwrap();
            assert_eq!(again.key_id(), key);
            assert!(!again.verify().await.unwrap().is_intact());
        }
    }

    #[tokio::test]
    async fn a_deleted_head_mark_is_detected() {
        let (dir, store) = store_with(5).await;
        let conn = Connection::open(dir.path().join("a.db")).unwrap();
        conn.execute("DELETE FROM meta WHERE name = 'audit_head'", [])
            .unwrap();
        let report = store.verify().await.unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("audit_head mark is missing")),
            "{report:?}"
        );
        // Also with the newest records gone with it.
        conn.execute("DELETE FROM audit WHERE seq > 2", []).unwrap();
        assert!(!store.verify().await.unwrap().is_intact());
    }

    /// A store written before the marks were authenticated (audit key sealed
    /// under the old associated data, marks as plain copies) opens intact
    /// once; from then on, plain marks written by hand are breaks.
    #[tokio::test]
    async fn marks_of_an_older_store_are_trusted_once_then_authenticated() {
        let (dir, store) = store_with(5).await;
        let path = dir.path().join("a.db");
        let conn = Connection::open(&path).unwrap();
        let plain = |seq: u64| [seq.to_be_bytes().as_slice(), &record_mac(&conn, seq)].concat();
        set_mark(&conn, "audit_head", &plain(5));
        let legacy = store
            .inner
            .sealer
            .seal(LEGACY_AUDIT_KEY_AAD, store.inner.audit_key.bytes())
            .unwrap();
        set_mark(&conn, "audit_key", &legacy);
        drop(store);
        let store = SqliteStore::open(&path, TEST_KEY.with(MasterKey::duplicate)).unwrap();
        let report = store.verify().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(read_mark(&conn, "audit_head").unwrap().unwrap().len(), 72);
        conn.execute("DELETE FROM audit WHERE seq > 3", []).unwrap();
        set_mark(&conn, "audit_head", &plain(3));
        drop(store);
        let store = SqliteStore::open(&path, TEST_KEY.with(MasterKey::duplicate)).unwrap();
        assert!(!store.verify().await.unwrap().is_intact());
    }

    #[tokio::test]
    async fn pruning_keeps_the_rest_verifiable() {
        let (_dir, store) = store_with(5).await;
        let cutoff = crate::audit::now_ms() + 1;
        let event = AuditEvent {
            time_ms: cutoff + 10,
            ..AuditEvent::now(AuditKind::Login)
        };
        store
            .record(event, AuditOutcome::of(Outcome::Ok))
            .await
            .unwrap();
        assert_eq!(store.prune(cutoff).await.unwrap(), 5);
        let report = store.verify().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.checked, 1);
        let seq = store
            .record(
                AuditEvent::now(AuditKind::Login),
                AuditOutcome::of(Outcome::Ok),
            )
            .await
            .unwrap();
        assert_eq!(seq, 7);
        assert!(store.verify().await.unwrap().is_intact());
    }

    #[tokio::test]
    async fn a_pending_record_is_reported_not_broken() {
        let (_dir, store) = store_with(1).await;
        store
            .begin(AuditEvent::now(AuditKind::ToolCall))
            .await
            .unwrap();
        let report = store.verify().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.pending, 1);
    }

    /// A store at `path` under `key` with one record whose outcome was
    /// written with `finish_soon`.
    async fn store_with_an_outcome_queued(path: &std::path::Path, key: &MasterKey) -> SqliteStore {
        let store = SqliteStore::open(path, key.duplicate()).unwrap();
        let event = AuditEvent::now(AuditKind::ToolCall);
        let seq = store.begin(event).await.unwrap();
        let outcome = AuditOutcome::of(Outcome::Ok);
        store.finish_soon(seq, outcome).await.unwrap();
        store
    }

    /// The outcomes in the log at `path`, read through a connection of its
    /// own (as `mcpist audit` in another process reads them).
    async fn outcomes_seen_by_another_connection(
        path: &std::path::Path,
        key: &MasterKey,
    ) -> Vec<Outcome> {
        let other = SqliteStore::open(path, key.duplicate()).unwrap();
        let entries = other.query(&AuditFilter::default()).await.unwrap();
        entries.into_iter().map(|e| e.outcome.outcome).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_outcome_written_soon_is_committed_without_another_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let key = MasterKey::generate().unwrap();
        let _store = store_with_an_outcome_queued(&path, &key).await;
        // No other write comes: the outcome's own commit follows within
        // milliseconds. Another connection polls for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let seen = outcomes_seen_by_another_connection(&path, &key).await;
            if seen == [Outcome::Ok] {
                break;
            }
            assert_eq!(seen, [Outcome::Pending]);
            assert!(
                std::time::Instant::now() < deadline,
                "the outcome was never committed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn outcomes_waiting_for_a_commit_are_committed_when_the_store_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let key = MasterKey::generate().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(store_with_an_outcome_queued(&path, &key));
        // The runtime stops before the linger is over: its timer never
        // fires, and the last handle on the store goes with it.
        drop(runtime);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let seen = runtime.block_on(outcomes_seen_by_another_connection(&path, &key));
        assert_eq!(seen, [Outcome::Ok]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_committed_together_and_each_answered() {
        let (_dir, store) = store_with(0).await;
        let calls: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let event = AuditEvent::now(AuditKind::ToolCall).tool(format!("t{i}"));
                    let seq = store.begin(event).await?;
                    store.finish(seq, AuditOutcome::of(Outcome::Ok)).await?;
                    Ok::<_, Error>(seq)
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for call in calls {
            seqs.push(call.await.unwrap().unwrap());
        }
        seqs.sort();
        assert_eq!(seqs, (1..=64).collect::<Vec<u64>>());
        let report = store.verify().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.checked, report.pending), (64, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_fails_is_refused_alone_and_one_that_cannot_commit_is_refused() {
        let (_dir, store) = store_with(1).await;
        // Finishing a record that does not exist fails; the begin next to it stands.
        let (bad, good) = tokio::join!(
            store.finish(999, AuditOutcome::of(Outcome::Ok)),
            store.begin(AuditEvent::now(AuditKind::ToolCall)),
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("no pending audit record 999")
        );
        assert_eq!(good.unwrap(), 2);
        // A log that cannot take a record refuses the write: the call must not run.
        sql(
            &store,
            "CREATE TRIGGER refuse BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
        )
        .await;
        let refused = store.begin(AuditEvent::now(AuditKind::ToolCall)).await;
        assert!(refused.unwrap_err().to_string().contains("disk says no"));
        sql(&store, "DROP TRIGGER refuse").await;
        let report = store.verify().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.checked, report.pending), (2, 1));
    }
}
