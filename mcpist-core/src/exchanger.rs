//! The token exchanger: picks the account for a call and hands the connector an
//! upstream client that carries that account's credential.

use std::{sync::Arc, time::Duration};

use crate::{
    Error, Result,
    connector::{Auth, Connector, Upstream},
    store::{AccountKey, AccountStatus, CredentialKind, TokenStore},
};

/// Default timeout of one upstream request.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Resolves accounts and builds credential-carrying upstream clients.
#[derive(Debug, Clone)]
pub struct Exchanger {
    store: Arc<dyn TokenStore>,
    http: reqwest::Client,
}

impl Exchanger {
    /// An exchanger over `store` with the default HTTP client: no redirects
    /// (a redirect could carry the credential elsewhere), connection reuse,
    /// a 10 s connect timeout and a 30 s request timeout.
    pub fn new(store: Arc<dyn TokenStore>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(DEFAULT_UPSTREAM_TIMEOUT)
            .user_agent(concat!("mcpist/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::other("http client", e))?;
        Ok(Self { store, http })
    }

    /// The store this exchanger reads.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.store
    }

    /// Picks the account of `service` for a call: the `requested` label, else
    /// the service's default, else its only account. Never guesses between
    /// several: that is an error listing the labels.
    pub async fn resolve(&self, service: &str, requested: Option<&str>) -> Result<AccountKey> {
        let accounts: Vec<_> = self
            .store
            .list()
            .await?
            .into_iter()
            .filter(|a| a.service == service)
            .collect();
        let labels = || {
            accounts
                .iter()
                .map(|a| a.account.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let account_error = |message: String| Error::Account {
            service: service.to_owned(),
            message,
        };
        if let Some(label) = requested {
            let key = AccountKey::new(service, label)?;
            if accounts.iter().any(|a| a.account == label) {
                return Ok(key);
            }
            return Err(account_error(if accounts.is_empty() {
                format!(
                    "no {service} account '{label}'; add it with `mcpist accounts add {service} --account {label} --token-stdin`"
                )
            } else {
                format!(
                    "no {service} account '{label}'; the {service} accounts are: {}",
                    labels()
                )
            }));
        }
        if let Some(default) = accounts.iter().find(|a| a.is_default) {
            return AccountKey::new(service, &default.account);
        }
        match accounts.as_slice() {
            [] => Err(account_error(format!(
                "no {service} account yet; add one with `mcpist accounts add {service} --token-stdin`"
            ))),
            [only] => AccountKey::new(service, &only.account),
            _ => Err(account_error(format!(
                "{service} has several accounts and no default; pass `account` as one of: {}; \
                 or set a default with `mcpist accounts default {service} LABEL`",
                labels()
            ))),
        }
    }

    /// The upstream client for one call of `connector`, carrying the
    /// credential of the resolved account (none for [`Auth::None`]).
    pub async fn upstream_for(
        &self,
        connector: &dyn Connector,
        requested: Option<&str>,
    ) -> Result<Upstream> {
        let service = connector.service();
        let base = connector.base_url().clone();
        if connector.auth() == Auth::None {
            return Ok(Upstream::new(
                service,
                None,
                base,
                self.http.clone(),
                Auth::None,
                None,
            ));
        }
        let key = self.resolve(service, requested).await?;
        let record = self.store.get(&key).await?.ok_or_else(|| Error::Account {
            service: service.to_owned(),
            message: format!(
                "account '{}' of {service} was removed during the call",
                key.account()
            ),
        })?;
        if record.status == AccountStatus::NeedsReauth {
            return Err(Error::Account {
                service: service.to_owned(),
                message: reconnect_hint(&key, record.credential.kind, "needs to be reconnected"),
            });
        }
        Ok(Upstream::new(
            service,
            Some(key.account().to_owned()),
            base,
            self.http.clone(),
            connector.auth(),
            Some(record.credential.access_token),
        ))
    }
}

/// What the user runs to give `key` a working credential again.
pub fn reconnect_hint(key: &AccountKey, kind: CredentialKind, what: &str) -> String {
    let (service, account) = (key.service(), key.account());
    match kind {
        CredentialKind::Static => format!(
            "account '{account}' of {service} {what}; replace its token with \
             `mcpist accounts add {service} --account {account} --token-stdin`"
        ),
        CredentialKind::Oauth => format!(
            "account '{account}' of {service} {what}; reconnect it with \
             `mcpist login {service} --account {account}`"
        ),
    }
}
