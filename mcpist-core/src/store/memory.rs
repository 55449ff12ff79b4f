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
use crate::Result;

/// Keeps accounts in process memory. Everything is gone when the process exits.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    accounts: BTreeMap<AccountKey, AccountRecord>,
    defaults: BTreeMap<String, String>,
    secrets: BTreeMap<String, SecretString>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
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
        let version = found.unwrap_or(0) + 1;
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
        Ok(state.accounts.remove(key).is_some())
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
