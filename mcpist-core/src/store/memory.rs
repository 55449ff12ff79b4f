//! An in-memory [`TokenStore`]: nothing touches the disk.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;
use secrecy::SecretString;

use super::{
    AccountInfo, AccountKey, AccountRecord, AccountWrite, Expect, TokenStore, check_expect,
    missing_account, now_unix,
};
use crate::{
    Error, Result,
    audit::{
        AuditEntry, AuditEvent, AuditFilter, AuditKey, AuditOutcome, AuditSink, MacBytes, Outcome,
        VerifyReport, verify_chain,
    },
};

/// Keeps accounts and the audit log in process memory. Everything is gone
/// when the process exits.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    audit_key: AuditKey,
}

#[derive(Debug, Default)]
struct State {
    accounts: BTreeMap<AccountKey, AccountRecord>,
    // The last version of each deleted account: a re-added one continues
    // from it, so a stale compare-and-swap cannot match it (ABA).
    retired: BTreeMap<AccountKey, u64>,
    defaults: BTreeMap<String, String>,
    secrets: BTreeMap<String, SecretString>,
    audit: Vec<(AuditEntry, MacBytes, Option<MacBytes>)>,
    // The (seq, mac) the first kept record chains from.
    audit_anchor: (u64, MacBytes),
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store.
    ///
    /// # Panics
    ///
    /// If the operating system has no random numbers for the audit key.
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
            audit_key: AuditKey::generate().expect("operating system randomness"),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-written record:
        // every mutation below is a single map operation.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn get(&self, key: &AccountKey) -> Result<Option<AccountRecord>> {
        Ok(self.state().accounts.get(key).cloned())
    }

    async fn put(&self, key: &AccountKey, write: AccountWrite, expect: Expect) -> Result<u64> {
        let mut state = self.state();
        let found = state.accounts.get(key).map(|r| r.version);
        check_expect(key, expect, found)?;
        let version = found
            .or_else(|| state.retired.get(key).copied())
            .unwrap_or(0)
            + 1;
        state.accounts.insert(
            key.clone(),
            AccountRecord {
                credential: write.credential,
                identity: write.identity,
                status: write.status,
                version,
                updated_at: now_unix(),
            },
        );
        Ok(version)
    }

    async fn list(&self) -> Result<Vec<AccountInfo>> {
        let state = self.state();
        Ok(state
            .accounts
            .iter()
            .map(|(key, r)| AccountInfo {
                service: key.service().to_owned(),
                account: key.account().to_owned(),
                kind: r.credential.kind,
                identity: r.identity.clone(),
                status: r.status,
                expires_at: r.credential.expires_at,
                scopes: r.credential.scopes.clone(),
                is_default: state.defaults.get(key.service()).map(String::as_str)
                    == Some(key.account()),
                version: r.version,
                updated_at: r.updated_at,
            })
            .collect())
    }

    async fn delete(&self, key: &AccountKey) -> Result<bool> {
        let mut state = self.state();
        if state.defaults.get(key.service()).map(String::as_str) == Some(key.account()) {
            state.defaults.remove(key.service());
        }
        let Some(gone) = state.accounts.remove(key) else {
            return Ok(false);
        };
        state.retired.insert(key.clone(), gone.version);
        Ok(true)
    }

    async fn set_default(&self, key: &AccountKey) -> Result<()> {
        let mut state = self.state();
        if !state.accounts.contains_key(key) {
            return Err(missing_account(key));
        }
        state
            .defaults
            .insert(key.service().to_owned(), key.account().to_owned());
        Ok(())
    }

    async fn get_secret(&self, name: &str) -> Result<Option<SecretString>> {
        Ok(self.state().secrets.get(name).cloned())
    }

    async fn put_secret(&self, name: &str, value: &SecretString) -> Result<()> {
        self.state().secrets.insert(name.to_owned(), value.clone());
        Ok(())
    }

    fn location(&self) -> String {
        "memory".into()
    }
}

#[async_trait]
impl AuditSink for MemoryStore {
    async fn begin(&self, event: AuditEvent) -> Result<u64> {
        let mut state = self.state();
        let (seq, previous) = match state.audit.last() {
            Some((entry, mac, _)) => (entry.seq + 1, *mac),
            None => (state.audit_anchor.0 + 1, state.audit_anchor.1),
        };
        let mac = self.audit_key.event_mac(&previous, seq, &event);
        let entry = AuditEntry {
            seq,
            event,
            outcome: AuditOutcome::of(Outcome::Pending),
        };
        state.audit.push((entry, mac, None));
        Ok(seq)
    }

    async fn finish(&self, seq: u64, outcome: AuditOutcome) -> Result<()> {
        let mut state = self.state();
        let Some((entry, mac, outcome_mac)) = state
            .audit
            .iter_mut()
            .find(|(e, _, om)| e.seq == seq && om.is_none())
        else {
            return Err(Error::Store(format!("no pending audit record {seq}")));
        };
        *outcome_mac = Some(self.audit_key.outcome_mac(mac, &outcome));
        entry.outcome = outcome;
        Ok(())
    }

    async fn record(&self, event: AuditEvent, outcome: AuditOutcome) -> Result<u64> {
        let seq = self.begin(event).await?;
        self.finish(seq, outcome).await?;
        Ok(seq)
    }

    async fn query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let state = self.state();
        Ok(state
            .audit
            .iter()
            .rev()
            .map(|(e, _, _)| e)
            .filter(|e| filter.matches(e))
            .take(filter.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn verify(&self) -> Result<VerifyReport> {
        let state = self.state();
        Ok(verify_chain(
            &self.audit_key,
            state.audit_anchor,
            &state.audit,
            None,
        ))
    }

    async fn prune(&self, before_ms: u64) -> Result<u64> {
        let mut state = self.state();
        let cut = state
            .audit
            .iter()
            .take_while(|(e, _, _)| e.event.time_ms < before_ms)
            .count();
        if let Some((last, mac, _)) = state.audit.get(cut.wrapping_sub(1)) {
            state.audit_anchor = (last.seq, *mac);
        }
        state.audit.drain(..cut);
        Ok(cut as u64)
    }

    fn summarize(&self, args: &serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
        self.audit_key.summarize(args)
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conforms() {
        let store = std::sync::Arc::new(super::MemoryStore::new());
        crate::testkit::token_store::run_all(&store).await;
        crate::testkit::audit_sink::run_all(store.as_ref()).await;
        crate::testkit::audit_sink::run_all(store.as_ref()).await;
    }
}
