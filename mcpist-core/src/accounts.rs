//! Account management shared by the CLI and the web UI: every change is
//! audited, and refused when its audit record cannot be written.

use std::future::Future;

use secrecy::SecretString;

use crate::{
    Error, Result,
    audit::{AuditEvent, AuditKind, AuditOutcome, AuditSink, Outcome},
    connector::{Auth, Connector},
    exchanger::Exchanger,
    store::{AccountKey, AccountStatus, AccountWrite, Credential, Expect},
};

/// Runs `op` inside the audit record `event`: the record is written first
/// (if it cannot be, `op` does not run), then completed with how `op` ended.
pub async fn audited<T>(
    audit: &dyn AuditSink,
    event: AuditEvent,
    op: impl Future<Output = Result<T>>,
) -> Result<T> {
    let seq = audit.begin(event).await.map_err(|e| {
        Error::Store(format!(
            "refused: the audit log cannot be written ({e}); nothing was changed"
        ))
    })?;
    let result = op.await;
    let outcome = match &result {
        Ok(_) => AuditOutcome::of(Outcome::Ok),
        Err(e) => AuditOutcome::of(Outcome::Failed).message(e.to_string()),
    };
    if let Err(e) = audit.finish(seq, outcome).await {
        tracing::error!(error = %e, seq, "could not complete an audit record");
    }
    result
}

/// What [`Exchanger::add_token`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedToken {
    /// Who the token belongs to upstream, when the connector could tell.
    pub identity: Option<String>,
    /// Whether an existing account's token was replaced.
    pub replaced: bool,
}

fn account_event(kind: AuditKind, key: &AccountKey) -> AuditEvent {
    AuditEvent::now(kind)
        .service(key.service())
        .account(key.account())
}

impl Exchanger {
    /// Stores `token` (pasted by the user) as the account `key` of
    /// `connector`'s service, replacing any previous token. With `verify`,
    /// first asks the upstream who the token belongs to (an answer is not
    /// required: the token is stored either way).
    pub async fn add_token(
        &self,
        connector: &dyn Connector,
        key: &AccountKey,
        token: SecretString,
        verify: bool,
    ) -> Result<AddedToken> {
        if connector.auth() == Auth::None {
            return Err(Error::InvalidArguments(format!(
                "{} needs no credential",
                key.service()
            )));
        }
        let credential = Credential::static_token(token)?;
        let identity = if verify {
            self.identity(connector, key, &credential.access_token)
                .await
        } else {
            None
        };
        let store = self.store();
        let replaced = store.get(key).await.ok().flatten().is_some();
        let write = AccountWrite {
            credential,
            identity: identity.clone(),
            status: AccountStatus::Ok,
        };
        audited(
            self.audit_sink().as_ref(),
            account_event(AuditKind::AccountAdd, key),
            store.put(key, write, Expect::Any),
        )
        .await?;
        Ok(AddedToken { identity, replaced })
    }

    /// Removes the account `key`. Fails if there is none.
    pub async fn remove_account(&self, key: &AccountKey) -> Result<()> {
        audited(
            self.audit_sink().as_ref(),
            account_event(AuditKind::AccountRemove, key),
            async {
                if self.store().delete(key).await? {
                    Ok(())
                } else {
                    Err(Error::Account {
                        service: key.service().to_owned(),
                        message: format!("no account '{}' of {}", key.account(), key.service()),
                    })
                }
            },
        )
        .await
    }

    /// Makes `key` its service's default account.
    pub async fn set_default_account(&self, key: &AccountKey) -> Result<()> {
        audited(
            self.audit_sink().as_ref(),
            account_event(AuditKind::AccountDefault, key),
            self.store().set_default(key),
        )
        .await
    }
}
