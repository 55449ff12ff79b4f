//! Account management shared by the CLI and the web UI: every change is
//! audited, and refused when its audit record cannot be written.

use std::future::Future;

use secrecy::SecretString;

use crate::{
    Error, Result,
    audit::{AuditEvent, AuditKind, AuditOutcome, AuditSink, Outcome},
    connector::{Auth, Connector},
    exchanger::Exchanger,
    store::{AccountInfo, AccountKey, AccountStatus, AccountWrite, Credential, Expect},
};

/// The status an account shows in listings, the web UI and diagnostics:
/// its stored [`AccountStatus`] with the access token's expiry applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownStatus {
    /// Usable, and not about to expire.
    Ok,
    /// Usable, but the access token expires within the margin.
    Expiring,
    /// The access token has expired (an OAuth grant is refreshed on the next call).
    Expired,
    /// The provider no longer accepts the grant: the user must log in again.
    NeedsReauth,
}

impl ShownStatus {
    /// The one rule: an [`AccountStatus::Ok`] account whose access token
    /// expired at or before `now` is expired, one that expires within
    /// `margin` seconds (the refresh margin) is expiring; any other status
    /// shows as stored.
    pub fn of(info: &AccountInfo, now: u64, margin: u64) -> Self {
        match (info.status, info.expires_at) {
            (AccountStatus::NeedsReauth, _) => Self::NeedsReauth,
            (AccountStatus::Ok, Some(t)) if t <= now => Self::Expired,
            (AccountStatus::Ok, Some(t)) if t <= now.saturating_add(margin) => Self::Expiring,
            (AccountStatus::Ok, _) => Self::Ok,
        }
    }

    /// The lowercase name shown: `ok`, `expiring`, `expired` or `needs_reauth`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => AccountStatus::Ok.as_str(),
            Self::Expiring => "expiring",
            Self::Expired => "expired",
            Self::NeedsReauth => AccountStatus::NeedsReauth.as_str(),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CredentialKind;

    fn info(status: AccountStatus, expires_at: Option<u64>) -> AccountInfo {
        AccountInfo {
            service: "github".into(),
            account: "work".into(),
            kind: CredentialKind::Oauth,
            identity: None,
            status,
            expires_at,
            scopes: Vec::new(),
            is_default: false,
            version: 1,
            updated_at: 0,
        }
    }

    #[test]
    fn an_account_shows_one_status_whatever_lists_it() {
        let (now, margin) = (1_000_000, 300);
        let shown = |status, expires_at| ShownStatus::of(&info(status, expires_at), now, margin);
        assert_eq!(shown(AccountStatus::Ok, None), ShownStatus::Ok);
        assert_eq!(shown(AccountStatus::Ok, Some(now + 301)), ShownStatus::Ok);
        assert_eq!(
            shown(AccountStatus::Ok, Some(now + 300)),
            ShownStatus::Expiring
        );
        assert_eq!(
            shown(AccountStatus::Ok, Some(now + 1)),
            ShownStatus::Expiring
        );
        assert_eq!(shown(AccountStatus::Ok, Some(now)), ShownStatus::Expired);
        assert_eq!(
            shown(AccountStatus::Ok, Some(now - 60)),
            ShownStatus::Expired
        );
        assert_eq!(
            shown(AccountStatus::NeedsReauth, Some(now + 3600)),
            ShownStatus::NeedsReauth
        );
        assert_eq!(
            shown(AccountStatus::NeedsReauth, Some(now - 1)).as_str(),
            "needs_reauth"
        );
        assert_eq!(ShownStatus::Expiring.as_str(), "expiring");
        assert_eq!(ShownStatus::Ok.as_str(), "ok");
    }
}
