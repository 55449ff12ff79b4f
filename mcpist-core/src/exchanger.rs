//! The token exchanger: picks the account for a call, keeps OAuth grants
//! alive, and hands the connector an upstream client that carries the
//! account's credential.
//!
//! Refresh follows the lessons of the systems before it:
//!
//! - one refresh at a time per account: a per-account lock, and under it a
//!   re-read of the store, so callers that waited use the token the first one
//!   obtained instead of spending the refresh token again;
//! - the refresh runs in its own task, so a cancelled tool call cannot stop it
//!   between the token request and the write;
//! - the new grant is written (compare-and-swap on the version read) before
//!   the new access token is used, and a refresh token the provider omits is
//!   kept, not erased; if the write fails, the grant stays in memory and is
//!   written first thing on the next call;
//! - `invalid_grant` re-reads the store once (a sibling may have rotated the
//!   refresh token) before it marks the account `needs_reauth`; an unreachable
//!   token endpoint never does;
//! - when the token endpoint is unreachable, the callers that were waiting
//!   for that refresh get its error instead of each asking again in turn: a
//!   burst makes one token request, the next burst one more.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::{
    Error, Result,
    audit::{AuditEvent, AuditKind, AuditOutcome, AuditSink, Outcome},
    connector::{CallContext, Connector},
    guide::{Guide, PlainGuide, Remedy},
    metrics::Metrics,
    oauth::{AppCredentials, Grant, OAuthClient, OAuthSpec, PendingLogin, TokenError},
    store::{
        AccountKey, AccountRecord, AccountStatus, AccountWrite, Credential, CredentialKind, Expect,
        TokenStore, now_unix,
    },
    upstream::{Auth, StaticToken, TokenSource, Upstream, UpstreamSettings},
};

/// Default timeout of one upstream request.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Default time before expiry at which an access token is refreshed.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

// Routing rules are part of a configured service and live with it.
pub use crate::service::Routing;

/// Resolves accounts, refreshes OAuth grants, and builds credential-carrying
/// upstream clients. Cheap to clone; clones share the refresh locks.
#[derive(Debug, Clone)]
pub struct Exchanger {
    store: Arc<dyn TokenStore>,
    audit: Arc<dyn AuditSink>,
    http: Arc<HttpClient>,
    oauth: Arc<HashMap<String, OAuthSpec>>,
    routing: Arc<HashMap<String, Routing>>,
    settings: Arc<HashMap<String, UpstreamSettings>>,
    refresh_margin: Duration,
    guide: Arc<dyn Guide>,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
}

/// The HTTP client every upstream call shares, built once.
#[derive(Debug, Default)]
struct HttpClient(OnceLock<std::result::Result<reqwest::Client, String>>);

impl HttpClient {
    fn get(&self) -> Result<reqwest::Client> {
        self.0
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(Duration::from_secs(10))
                    .timeout(DEFAULT_UPSTREAM_TIMEOUT)
                    .user_agent(concat!("mcpist/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| Error::other("http client", e))
    }
}

#[derive(Debug, Default)]
struct Shared {
    locks: Mutex<HashMap<AccountKey, Arc<tokio::sync::Mutex<()>>>>,
    // Grants obtained whose write failed: (version they replace, the write).
    unsaved: Mutex<HashMap<AccountKey, (u64, AccountWrite)>>,
    // The last refresh that failed because the token endpoint was unreachable
    // or broken: when it ended and its error. Callers that were already
    // waiting for the lock when it ended get that answer instead of asking
    // the failing endpoint again, one after the other (no refresh storm).
    failed: Mutex<HashMap<AccountKey, (Instant, String)>>,
}

impl Exchanger {
    /// An exchanger over `store` that records token operations in `audit`,
    /// with the default HTTP client: no redirects (a redirect could carry the
    /// credential elsewhere), connection reuse, a 10 s connect timeout and a
    /// 30 s request timeout. The client is built at its first use, or ahead
    /// of it by [`Exchanger::warm_up`].
    pub fn new(store: Arc<dyn TokenStore>, audit: Arc<dyn AuditSink>) -> Result<Self> {
        Ok(Self {
            store,
            audit,
            http: Arc::default(),
            oauth: Arc::default(),
            routing: Arc::default(),
            settings: Arc::default(),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            guide: Arc::new(PlainGuide),
            shared: Arc::default(),
            metrics: Arc::default(),
        })
    }

    /// Builds the HTTP client on a thread of its own, so that the first
    /// upstream call finds it ready while startup goes on. Building it reads
    /// the system's CA certificates, about a third of a cold start; without
    /// this, the first upstream call builds it (blocking its thread for
    /// those few milliseconds).
    pub fn warm_up(&self) {
        let http = self.http.clone();
        let spawned = std::thread::Builder::new()
            .name("mcpist-http-client".into())
            .spawn(move || {
                if let Err(e) = http.get() {
                    tracing::error!(error = %e, "cannot build the HTTP client; every upstream call will fail");
                }
            });
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "no thread to build the HTTP client ahead; it is built at first use");
        }
    }

    /// Uses `spec` for `service`'s logins and refreshes.
    #[must_use]
    pub fn with_oauth(mut self, service: &str, spec: OAuthSpec) -> Self {
        Arc::make_mut(&mut self.oauth).insert(service.to_owned(), spec);
        self
    }

    /// Uses `routing` to pick `service`'s account when a call names none.
    #[must_use]
    pub fn with_routing(mut self, service: &str, routing: Routing) -> Self {
        Arc::make_mut(&mut self.routing).insert(service.to_owned(), routing);
        self
    }

    /// Uses `settings` for `service`'s upstream timeouts and retries.
    #[must_use]
    pub fn with_upstream_settings(mut self, service: &str, settings: UpstreamSettings) -> Self {
        Arc::make_mut(&mut self.settings).insert(service.to_owned(), settings);
        self
    }

    /// Applies a configured service's OAuth spec, routing and upstream settings.
    #[must_use]
    pub fn with_service(mut self, service: &crate::service::Service) -> Self {
        let name = service.connector.service();
        if let Some(spec) = &service.oauth {
            self = self.with_oauth(name, spec.clone());
        }
        self.with_routing(name, service.routing.clone())
            .with_upstream_settings(name, service.upstream)
    }

    /// Refreshes access tokens this long before they expire.
    #[must_use]
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Words the remedies in account errors (what to run to add an account,
    /// log in, set a default, store an OAuth app). Defaults to
    /// [`PlainGuide`], which names no program.
    #[must_use]
    pub fn with_guide(mut self, guide: Arc<dyn Guide>) -> Self {
        self.guide = guide;
        self
    }

    fn means(&self, remedy: Remedy<'_>) -> String {
        self.guide.means(remedy)
    }

    /// What gives `key` a working credential again, after "account … {what}".
    fn reconnect_hint(&self, key: &AccountKey, kind: CredentialKind, what: &str) -> String {
        let (service, account) = (key.service(), key.account());
        let account = Some(account);
        match kind {
            CredentialKind::Static => format!(
                "account '{}' of {service} {what}; replace its token with {}",
                key.account(),
                self.means(Remedy::AddToken { service, account })
            ),
            CredentialKind::Oauth => format!(
                "account '{}' of {service} {what}; reconnect it with {}",
                key.account(),
                self.means(Remedy::Login { service, account })
            ),
        }
    }

    /// How long before expiry access tokens are refreshed: the margin of
    /// [`crate::accounts::ShownStatus::of`] for accounts this exchanger serves.
    pub fn refresh_margin(&self) -> Duration {
        self.refresh_margin
    }

    /// The counters this exchanger and its server update.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The audit log token operations are recorded in.
    pub fn audit_sink(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    /// The store this exchanger reads.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.store
    }

    /// The OAuth spec in force for `service`, if it supports login.
    pub fn oauth_spec(&self, service: &str) -> Option<&OAuthSpec> {
        self.oauth.get(service)
    }

    /// The means to connect `account` of `service` outside the chat, as the
    /// [`Guide`] words them: an OAuth login when the service supports it, or
    /// a token.
    pub fn connect_means(&self, service: &str, account: &str) -> String {
        let account = Some(account);
        let token = self.means(Remedy::AddToken { service, account });
        if self.oauth.contains_key(service) {
            format!(
                "{} or {token}",
                self.means(Remedy::Login { service, account })
            )
        } else {
            token
        }
    }

    /// The account a routing rule of `service` picks for `args`, if any.
    pub fn routed_account(&self, service: &str, args: &Map<String, Value>) -> Option<String> {
        self.routing
            .get(service)
            .and_then(|r| r.account_for(args))
            .map(str::to_owned)
    }

    /// Picks the account of `service` for a call: the `requested` label, else
    /// a routing rule matching `args`, else the service's default, else its
    /// only account. Never guesses between several: that is an error listing
    /// the labels.
    pub async fn resolve(
        &self,
        service: &str,
        requested: Option<&str>,
        args: &Map<String, Value>,
    ) -> Result<AccountKey> {
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
        let routed = self.routing.get(service).and_then(|r| r.account_for(args));
        if let Some(label) = requested.or(routed) {
            let key = AccountKey::new(service, label)?;
            if accounts.iter().any(|a| a.account == label) {
                return Ok(key);
            }
            let why = if requested.is_some() {
                ""
            } else {
                " (chosen by a routing rule)"
            };
            return Err(account_error(if accounts.is_empty() {
                format!(
                    "no {service} account '{label}'{why}; add it with {}",
                    self.connect_means(service, label)
                )
            } else {
                format!(
                    "no {service} account '{label}'{why}; the {service} accounts are: {}; \
                     to add it, use {}",
                    labels(),
                    self.connect_means(service, label)
                )
            }));
        }
        if let Some(default) = accounts.iter().find(|a| a.is_default) {
            return AccountKey::new(service, &default.account);
        }
        match accounts.as_slice() {
            [] => Err(account_error(format!(
                "no {service} account yet; add one with {}{}",
                self.means(Remedy::AddToken {
                    service,
                    account: None
                }),
                if self.oauth.contains_key(service) {
                    format!(
                        " or {}",
                        self.means(Remedy::Login {
                            service,
                            account: None
                        })
                    )
                } else {
                    String::new()
                }
            ))),
            [only] => AccountKey::new(service, &only.account),
            _ => Err(account_error(format!(
                "{service} has several accounts and no default; pass `account` as one of: {}; \
                 or set a default with {}",
                labels(),
                self.means(Remedy::SetDefault { service })
            ))),
        }
    }

    /// The upstream client for one call of `connector` with `args`, carrying
    /// the credential of the resolved account (none for [`Auth::None`]). An
    /// OAuth token that is about to expire is refreshed first.
    pub async fn upstream_for(
        &self,
        connector: &dyn Connector,
        requested: Option<&str>,
        args: &Map<String, Value>,
    ) -> Result<Upstream> {
        let service = connector.service();
        let base = connector.base_url().clone();
        let settings = self.settings.get(service).copied().unwrap_or_default();
        if connector.auth() == Auth::None {
            return Ok(
                Upstream::new(service, None, base, self.http.get()?, Auth::None, None)
                    .with_settings(settings),
            );
        }
        let key = self.resolve(service, requested, args).await?;
        let read_at = Instant::now();
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
                message: self.reconnect_hint(
                    &key,
                    record.credential.kind,
                    "needs to be reconnected",
                ),
            });
        }
        let kind = record.credential.kind;
        let source: Arc<dyn TokenSource> = match kind {
            CredentialKind::Static => Arc::new(StaticToken(record.credential.access_token)),
            CredentialKind::Oauth => {
                let expired = record
                    .credential
                    .expires_at
                    .is_some_and(|e| e <= now_unix());
                let refreshable = record.credential.refresh_token.is_some();
                let token = if self.expiring(&record) && (refreshable || expired) {
                    self.refresh_since(&key, None, read_at).await?
                } else {
                    record.credential.access_token
                };
                Arc::new(Lease {
                    exchanger: self.clone(),
                    key: key.clone(),
                    token: Mutex::new(token),
                    renewed: AtomicBool::new(false),
                })
            }
        };
        Ok(Upstream::new(
            service,
            Some(key.account().to_owned()),
            base,
            self.http.get()?,
            connector.auth(),
            Some(source),
        )
        .with_reconnect_hint(self.reconnect_hint(&key, kind, "was rejected"))
        .with_settings(settings))
    }

    fn expiring(&self, record: &AccountRecord) -> bool {
        record.credential.kind == CredentialKind::Oauth
            && record
                .credential
                .expires_at
                .is_some_and(|e| e <= now_unix() + self.refresh_margin.as_secs())
    }

    /// Refreshes the grant of `key` and returns the access token to use.
    ///
    /// `rejected` is the token the upstream just refused (`None` for a
    /// refresh before expiry). If another caller already replaced it, their
    /// token is returned and no request is made.
    pub async fn refresh(
        &self,
        key: &AccountKey,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString> {
        self.refresh_since(key, rejected, Instant::now()).await
    }

    /// [`Exchanger::refresh`] for a caller that read the record at `asked`:
    /// a refresh that failed at the token endpoint after that answers it too.
    async fn refresh_since(
        &self,
        key: &AccountKey,
        rejected: Option<&SecretString>,
        asked: Instant,
    ) -> Result<SecretString> {
        let lock = self
            .shared
            .locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let this = self.clone();
        let key = key.clone();
        let rejected = rejected.cloned();
        // Spawned, so a caller that goes away (a cancelled tool call) cannot
        // interrupt a refresh between the token request and the write.
        tokio::spawn(async move {
            let _guard = lock.lock().await;
            let shared = this.shared.clone();
            let service = key.service().to_owned();
            let failed_meanwhile = shared
                .failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .filter(|(at, _)| *at >= asked)
                .map(|(_, message)| message.clone());
            if let Some(message) = failed_meanwhile {
                return Err(Error::Transport { service, message });
            }
            // Other processes on the same store (replicas on one database).
            let _across = this.store.lock_account(&key).await?;
            let result = this.refresh_locked(key.clone(), rejected).await;
            let mut failed = shared.failed.lock().unwrap_or_else(|e| e.into_inner());
            match &result {
                Err(Error::Transport { message, .. }) => {
                    failed.insert(key, (Instant::now(), message.clone()));
                }
                _ => {
                    failed.remove(&key);
                }
            }
            result
        })
        .await
        .map_err(|e| Error::other("token refresh", e))?
    }

    async fn refresh_locked(
        self,
        key: AccountKey,
        rejected: Option<SecretString>,
    ) -> Result<SecretString> {
        let key = &key;
        let service = key.service();
        if let Some(token) = self.save_unsaved(key).await? {
            return Ok(token);
        }
        let record = self.store.get(key).await?.ok_or_else(|| Error::Account {
            service: service.to_owned(),
            message: format!("account '{}' of {service} was removed", key.account()),
        })?;
        if record.status == AccountStatus::NeedsReauth {
            return Err(Error::Account {
                service: service.to_owned(),
                message: self.reconnect_hint(
                    key,
                    record.credential.kind,
                    "needs to be reconnected",
                ),
            });
        }
        let current = &record.credential.access_token;
        match &rejected {
            // Someone refreshed (or the user replaced the token) while we waited.
            Some(r) if r.expose_secret() != current.expose_secret() => return Ok(current.clone()),
            None if !self.expiring(&record) => return Ok(current.clone()),
            _ => {}
        }
        if record.credential.kind == CredentialKind::Static {
            return Err(Error::Unauthorized {
                service: service.to_owned(),
                account: key.account().to_owned(),
                message: self.reconnect_hint(key, CredentialKind::Static, "was rejected"),
            });
        }
        let Some(refresh_token) = record.credential.refresh_token.clone() else {
            return Err(self
                .mark_needs_reauth(
                    key,
                    &record,
                    "the access token expired or was rejected and there is no refresh token"
                        .to_owned(),
                )
                .await);
        };
        let client = self.oauth_client(service).await?;
        let started = Instant::now();
        match client.refresh(&refresh_token).await {
            Ok(grant) => {
                let write = AccountWrite {
                    credential: credential_from(
                        grant,
                        Some(refresh_token.clone()),
                        &record.credential.scopes,
                    ),
                    identity: record.identity.clone(),
                    status: AccountStatus::Ok,
                };
                let token = write.credential.access_token.clone();
                let mut outcome = AuditOutcome::of(Outcome::Ok);
                outcome.latency_ms = started.elapsed().as_millis() as u64;
                let mut expect = record.version;
                let saved = loop {
                    match self
                        .store
                        .put(key, write.clone(), Expect::Version(expect))
                        .await
                    {
                        Err(Error::Conflict { .. }) => {
                            let now = self.store.get(key).await?.ok_or_else(|| Error::Account {
                                service: service.to_owned(),
                                message: format!(
                                    "account '{}' of {service} was removed",
                                    key.account()
                                ),
                            })?;
                            // Another write (a status change, a token written
                            // by another process) that still holds the refresh
                            // token just spent: the provider has retired it, so
                            // the new grant is the only live one. Keep it.
                            if same_secret(now.credential.refresh_token.as_ref(), &refresh_token)
                                && now.version > expect
                            {
                                expect = now.version;
                                continue;
                            }
                            break Err(now);
                        }
                        other => break Ok(other),
                    }
                };
                match saved {
                    Ok(Ok(_)) => {
                        self.audit_best_effort(token_event(AuditKind::Refresh, key), outcome)
                            .await;
                        Ok(token)
                    }
                    Err(now) => {
                        // The user replaced the grant meanwhile: theirs wins.
                        self.audit_best_effort(
                            token_event(AuditKind::Refresh, key),
                            AuditOutcome::of(Outcome::Failed)
                                .message("superseded by a newer write"),
                        )
                        .await;
                        Ok(now.credential.access_token)
                    }
                    Ok(Err(e)) => {
                        self.shared
                            .unsaved
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(key.clone(), (record.version, write));
                        self.audit_best_effort(
                            token_event(AuditKind::RefreshFailed, key),
                            AuditOutcome::of(Outcome::Failed)
                                .message(format!("refreshed, but the store write failed: {e}")),
                        )
                        .await;
                        Err(Error::Store(format!(
                            "the {service} token of '{}' was refreshed but could not be saved ({e}); \
                             the new grant is kept in memory and saved on the next call",
                            key.account()
                        )))
                    }
                }
            }
            Err(TokenError::Rejected(message)) => {
                self.metrics.refresh(service, "failed");
                // A sibling process may have rotated the refresh token meanwhile.
                let again = self.store.get(key).await?;
                if let Some(again) = again
                    && !same_secret(again.credential.refresh_token.as_ref(), &refresh_token)
                {
                    return Ok(again.credential.access_token);
                }
                Err(self.mark_needs_reauth(key, &record, message).await)
            }
            Err(TokenError::Temporary(message)) => {
                self.metrics.refresh(service, "failed");
                self.audit_best_effort(
                    token_event(AuditKind::RefreshFailed, key),
                    AuditOutcome::of(Outcome::Failed).message(message.as_str()),
                )
                .await;
                Err(Error::Transport {
                    service: service.to_owned(),
                    message: format!(
                        "could not refresh the token of '{}': {message}",
                        key.account()
                    ),
                })
            }
            Err(TokenError::Other(message)) => {
                self.metrics.refresh(service, "failed");
                self.audit_best_effort(
                    token_event(AuditKind::RefreshFailed, key),
                    AuditOutcome::of(Outcome::Failed).message(message.as_str()),
                )
                .await;
                Err(Error::other(format!("{service} token refresh"), message))
            }
        }
    }

    /// Writes a grant whose earlier write failed. `Some(token)` when it was
    /// written now; `None` when there was none or the user replaced it since.
    async fn save_unsaved(&self, key: &AccountKey) -> Result<Option<SecretString>> {
        let pending = self
            .shared
            .unsaved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        let Some((version, write)) = pending else {
            return Ok(None);
        };
        let result = self
            .store
            .put(key, write.clone(), Expect::Version(version))
            .await;
        match result {
            Ok(_) => {
                self.shared
                    .unsaved
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(key);
                self.audit_best_effort(
                    token_event(AuditKind::Refresh, key),
                    AuditOutcome::of(Outcome::Ok)
                        .message("saved a grant whose first write had failed"),
                )
                .await;
                Ok(Some(write.credential.access_token))
            }
            Err(Error::Conflict { .. }) => {
                self.shared
                    .unsaved
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(key);
                Ok(None)
            }
            Err(e) => Err(Error::Store(format!(
                "a refreshed {} token is still not saved: {e}",
                key.service()
            ))),
        }
    }

    /// Marks `key` as needing a new login, and returns the error for the caller.
    async fn mark_needs_reauth(
        &self,
        key: &AccountKey,
        record: &AccountRecord,
        why: String,
    ) -> Error {
        let write = AccountWrite {
            credential: record.credential.clone(),
            identity: record.identity.clone(),
            status: AccountStatus::NeedsReauth,
        };
        if let Err(e) = self
            .store
            .put(key, write, Expect::Version(record.version))
            .await
        {
            tracing::warn!(account = %key, error = %e, "could not mark the account needs_reauth");
        }
        self.audit_best_effort(
            token_event(AuditKind::NeedsReauth, key),
            AuditOutcome::of(Outcome::Failed).message(why.as_str()),
        )
        .await;
        Error::Account {
            service: key.service().to_owned(),
            message: format!(
                "{} ({why})",
                self.reconnect_hint(key, record.credential.kind, "needs to be reconnected")
            ),
        }
    }

    async fn audit_best_effort(&self, event: AuditEvent, outcome: AuditOutcome) {
        if let Err(e) = self.audit.record(event, outcome).await {
            tracing::error!(error = %e, "could not write an audit record for a token operation");
        }
    }

    /// An OAuth client for `service` with the stored app.
    pub async fn oauth_client(&self, service: &str) -> Result<OAuthClient> {
        let spec = self.oauth.get(service).ok_or_else(|| Error::Account {
            service: service.to_owned(),
            message: format!("{service} does not support OAuth login"),
        })?;
        let app = AppCredentials::load(self.store.as_ref(), service)
            .await?
            .ok_or_else(|| Error::Account {
                service: service.to_owned(),
                message: format!(
                    "no OAuth app for {service}; register one with the provider, then store it with {}",
                    self.means(Remedy::SetApp { service })
                ),
            })?;
        OAuthClient::new(spec.clone(), &app, self.http.get()?)
    }

    /// Finishes a login: exchanges `code`, asks the connector who the grant
    /// belongs to, stores the grant, and records it in the audit log.
    pub async fn complete_login(
        &self,
        login: PendingLogin,
        code: &str,
        connector: &dyn Connector,
    ) -> Result<AccountKey> {
        let key = AccountKey::new(&login.service, &login.account)?;
        let client = self.oauth_client(&login.service).await?;
        let grant = client
            .exchange_code(code, login.verifier, &login.redirect_uri)
            .await
            .map_err(|e| Error::Account {
                service: login.service.clone(),
                message: format!("the login failed: {e}"),
            })?;
        let credential = credential_from(grant, None, &[]);
        let identity = self
            .identity(connector, &key, &credential.access_token)
            .await;
        let write = AccountWrite {
            credential,
            identity,
            status: AccountStatus::Ok,
        };
        let seq = self
            .audit
            .begin(
                AuditEvent::now(AuditKind::Login)
                    .service(key.service())
                    .account(key.account()),
            )
            .await?;
        let stored = self.store.put(&key, write, Expect::Any).await;
        let outcome = match &stored {
            Ok(_) => AuditOutcome::of(Outcome::Ok),
            Err(e) => AuditOutcome::of(Outcome::Failed).message(e.to_string()),
        };
        if let Err(e) = self.audit.finish(seq, outcome).await {
            tracing::error!(error = %e, "could not complete the login's audit record");
        }
        stored?;
        Ok(key)
    }

    /// Who `token` belongs to upstream, asking `connector`; `None` when it cannot tell.
    pub async fn identity(
        &self,
        connector: &dyn Connector,
        key: &AccountKey,
        token: &SecretString,
    ) -> Option<String> {
        let http = match self.http.get() {
            Ok(http) => http,
            Err(e) => {
                tracing::warn!(account = %key, error = %e, "could not tell who the account is upstream");
                return None;
            }
        };
        let upstream = Upstream::new(
            connector.service(),
            Some(key.account().to_owned()),
            connector.base_url().clone(),
            http,
            connector.auth(),
            Some(Arc::new(StaticToken(token.clone()))),
        );
        let ctx = CallContext::new(upstream);
        match crate::connector::catch_panic(connector.service(), connector.identity(&ctx))
            .await
            .unwrap_or_else(|message| Err(Error::other("identity", message)))
        {
            Ok(identity) => identity,
            Err(e) => {
                tracing::warn!(account = %key, error = %e, "could not tell who the account is upstream");
                None
            }
        }
    }
}

/// Whether `a` holds the same secret as `b`.
fn same_secret(a: Option<&SecretString>, b: &SecretString) -> bool {
    a.is_some_and(|a| a.expose_secret() == b.expose_secret())
}

/// An audit event of `kind` about the account `key`.
fn token_event(kind: AuditKind, key: &AccountKey) -> AuditEvent {
    AuditEvent::now(kind)
        .service(key.service())
        .account(key.account())
}

/// A credential from a token endpoint's grant, keeping `previous_refresh`
/// when the provider sent no new refresh token (RFC 6749 §6).
fn credential_from(
    grant: Grant,
    previous_refresh: Option<SecretString>,
    previous_scopes: &[String],
) -> Credential {
    Credential {
        kind: CredentialKind::Oauth,
        access_token: grant.access_token,
        refresh_token: grant.refresh_token.or(previous_refresh),
        expires_at: grant.expires_at,
        scopes: if grant.scopes.is_empty() {
            previous_scopes.to_vec()
        } else {
            grant.scopes
        },
    }
}

/// The token of one OAuth account for one call; renews it once on a 401.
#[derive(Debug)]
struct Lease {
    exchanger: Exchanger,
    key: AccountKey,
    token: Mutex<SecretString>,
    renewed: AtomicBool,
}

#[async_trait]
impl TokenSource for Lease {
    fn current(&self) -> SecretString {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn renew(&self, rejected: &SecretString) -> Result<Option<SecretString>> {
        if self.renewed.swap(true, Ordering::SeqCst) {
            return Ok(None);
        }
        let fresh = self.exchanger.refresh(&self.key, Some(rejected)).await?;
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        Ok(Some(fresh))
    }
}
