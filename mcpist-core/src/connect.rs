//! Connect on demand: when a call needs an account that is missing or must
//! be reconnected, the client gets a one-time link to MCPist's own page
//! `/connect/SERVICE?account=LABEL&link=…` (served by the web UI, behind its
//! login), where the user logs in with OAuth or pastes a token.
//!
//! - [`connect_need`] decides which account a failed call needs connected.
//! - [`ConnectLinks`] issues the links and lets each one connect its own
//!   service and account once, within [`LINK_TTL`]. A link is no
//!   credential: the page still needs the web UI password, so a hostile
//!   client holding one cannot attach an account of its own choosing.
//! - Where no web UI runs (`mcpist serve --stdio`), a [`PageOpener`] opens a
//!   loopback listener for the page when a link is first needed, and
//!   [`ConnectLinks`] closes it once no link of it is live any more.
//!
//! A link is used up when its account is connected, not when a login
//! starts: a failed or abandoned OAuth login leaves it usable. While one
//! connect with it is being stored ([`ConnectLinks::claim`]), a second is
//! refused.
//!
//! The links are in memory: a restart invalidates them (the client's next
//! call gets a new one). Persisting them would buy little: a link lasts
//! minutes and a new one costs one call, an on-demand page dies with its
//! process anyway, and every issue would become a store write.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::{exchanger::Exchanger, store::AccountStatus};

/// How long a connect link stays valid.
pub const LINK_TTL: Duration = Duration::from_secs(10 * 60);

/// The label a first account gets when the call named none.
pub const FIRST_ACCOUNT: &str = "default";

/// Why a link was refused. Nothing changes when one is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkRefusal {
    /// Not a link MCPist issued (forged, mistyped, or from before a restart).
    #[error(
        "this connect link is not one MCPist issued (or MCPist restarted since); nothing was changed. Call the tool again for a new link"
    )]
    Unknown,
    /// The link already connected its account.
    #[error(
        "this connect link was already used; nothing was changed. Call the tool again for a new link"
    )]
    Used,
    /// Another connect with this link is being stored right now.
    #[error(
        "this connect link is connecting its account right now (in another tab?); nothing was changed"
    )]
    InUse,
    /// The link is older than [`LINK_TTL`].
    #[error(
        "this connect link expired (links last 10 minutes); nothing was changed. Call the tool again for a new link"
    )]
    Expired,
    /// The link was issued for another service or account.
    #[error(
        "this connect link is for account '{account}' of {service}, not this one; nothing was changed"
    )]
    OtherAccount {
        /// The service the link was issued for.
        service: String,
        /// The account it was issued for.
        account: String,
    },
}

/// A link issued for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectLink {
    /// The service.
    pub service: String,
    /// The account label.
    pub account: String,
    /// The page to open: `BASE/connect/SERVICE?account=LABEL&link=TOKEN`.
    pub url: String,
    key: [u8; 32],
}

/// What a call that lacks an account can be offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// A link to the connect page.
    Link(ConnectLink),
    /// No page serves links (and none can be opened here).
    NoPage,
    /// A page could be opened but is not; the reason, saying how to fix it
    /// (no web UI password is set, say).
    Refused(String),
}

/// A page opened on demand for the links: its base URL, and the token that
/// closes it.
#[derive(Debug)]
pub struct OpenPage {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    /// Cancelled when no link of the page is live any more.
    pub close: CancellationToken,
}

/// Opens the connect page where no web UI runs (a stdio-only setup): a
/// loopback listener behind the web UI password. Installed with
/// [`ConnectLinks::open_on_demand`].
#[async_trait::async_trait]
pub trait PageOpener: Send + Sync {
    /// Opens the page for `server`, or says why not and how to fix it. (The
    /// server is passed, not kept: the opener lives inside it.)
    async fn open(&self, server: &crate::McpServer) -> std::result::Result<OpenPage, String>;
}

type Notify = Box<dyn FnOnce() + Send>;

struct Issued {
    service: String,
    account: String,
    issued: Instant,
    used: bool,
    // A connect with this link is being stored now.
    claimed: bool,
    // Run once the link connects its account.
    on_connected: Vec<Notify>,
}

#[derive(Default)]
struct State {
    // Keyed by the SHA-256 of the token: the map holds no live link.
    links: HashMap<[u8; 32], Issued>,
    // The page opened on demand, while a link of it is live.
    opened: Option<OpenPage>,
}

/// The one-time connect links of one server, in memory.
///
/// Links are issued once a page serves them: the web UI, mounted
/// ([`ConnectLinks::serve_at`]), or a page opened on demand
/// ([`ConnectLinks::open_on_demand`]). Without either, [`ConnectLinks::offer`]
/// gives [`Offer::NoPage`] and account errors name only the commands.
#[derive(Default)]
pub struct ConnectLinks {
    base: Mutex<Option<String>>,
    ttl: Mutex<Option<Duration>>,
    state: Mutex<State>,
    opener: Mutex<Option<Arc<dyn PageOpener>>>,
    // One page opening at a time.
    opening: tokio::sync::Mutex<()>,
    // A link was used up (the on-demand page may close).
    changed: tokio::sync::Notify,
}

impl std::fmt::Debug for ConnectLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectLinks")
            .field(
                "base",
                &*self.base.lock().unwrap_or_else(|e| e.into_inner()),
            )
            .finish_non_exhaustive()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl ConnectLinks {
    /// Links point at the page under `base_url` (the web UI's public URL)
    /// from now on.
    pub fn serve_at(&self, base_url: &str) {
        *self.base.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(base_url.trim_end_matches('/').to_owned());
    }

    /// Where no web UI serves the page: `opener` opens one when a link is
    /// needed; it is closed once none of its links is live.
    pub fn open_on_demand(&self, opener: Arc<dyn PageOpener>) {
        *self.opener.lock().unwrap_or_else(|e| e.into_inner()) = Some(opener);
    }

    /// Whether links are issued (a page serves them, or can be opened).
    pub fn enabled(&self) -> bool {
        self.base
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
            || self
                .opener
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
    }

    /// The base URL of the page opened on demand, while it is open.
    pub fn opened_page(&self) -> Option<String> {
        self.lock().opened.as_ref().map(|p| p.base_url.clone())
    }

    /// Changes how long links issued from now on last (default [`LINK_TTL`]);
    /// for tests of expiry.
    pub fn set_ttl(&self, ttl: Duration) {
        *self.ttl.lock().unwrap_or_else(|e| e.into_inner()) = Some(ttl);
    }

    fn ttl(&self) -> Duration {
        self.ttl
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(LINK_TTL)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new one-time link for `account` of `service` on the mounted web
    /// UI, or `None` when none is mounted.
    pub fn issue(&self, service: &str, account: &str) -> Option<ConnectLink> {
        let base = self
            .base
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        Some(self.insert(&mut self.lock(), &base, service, account))
    }

    fn insert(&self, state: &mut State, base: &str, service: &str, account: &str) -> ConnectLink {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let ttl = self.ttl();
        // Forget links long past their expiry (kept a while to say "expired").
        state
            .links
            .retain(|_, l| now.duration_since(l.issued) < ttl.max(LINK_TTL) * 2);
        let key = digest(&token);
        state.links.insert(
            key,
            Issued {
                service: service.to_owned(),
                account: account.to_owned(),
                issued: now,
                used: false,
                claimed: false,
                on_connected: Vec::new(),
            },
        );
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("account", account)
            .append_pair("link", &token)
            .finish();
        ConnectLink {
            service: service.to_owned(),
            account: account.to_owned(),
            url: format!("{base}/connect/{service}?{query}"),
            key,
        }
    }

    /// A link for `account` of `service`: on the mounted web UI, else on a
    /// page opened on demand (opened now if none is), else why not.
    pub async fn offer(
        self: &Arc<Self>,
        server: &crate::McpServer,
        service: &str,
        account: &str,
    ) -> Offer {
        if let Some(link) = self.issue(service, account) {
            return Offer::Link(link);
        }
        let Some(opener) = self
            .opener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return Offer::NoPage;
        };
        let _one = self.opening.lock().await;
        {
            let mut state = self.lock();
            if let Some(base) = state.opened.as_ref().map(|p| p.base_url.clone()) {
                return Offer::Link(self.insert(&mut state, &base, service, account));
            }
        }
        let page = match opener.open(server).await {
            Ok(page) => page,
            Err(why) => return Offer::Refused(why),
        };
        let base = page.base_url.clone();
        let link = {
            let mut state = self.lock();
            state.opened = Some(page);
            self.insert(&mut state, &base, service, account)
        };
        tokio::spawn(self.clone().close_when_idle());
        Offer::Link(link)
    }

    /// Closes the page opened on demand once none of its links is live
    /// (each was used up or expired).
    async fn close_when_idle(self: Arc<Self>) {
        loop {
            let changed = self.changed.notified();
            let until = {
                let mut state = self.lock();
                let ttl = self.ttl();
                let now = Instant::now();
                let live = state
                    .links
                    .values()
                    .filter(|l| !l.used && (l.claimed || now.duration_since(l.issued) < ttl))
                    .map(|l| l.issued + ttl)
                    .max();
                match live {
                    Some(until) => until.max(now + Duration::from_millis(10)),
                    None => {
                        if let Some(page) = state.opened.take() {
                            tracing::info!(url = %page.base_url, "closing the connect page: no link is live");
                            page.close.cancel();
                        }
                        return;
                    }
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(until.into()) => {}
                () = changed => {}
            }
        }
    }

    fn verdict(&self, issued: &Issued, service: &str, account: &str) -> Result<(), LinkRefusal> {
        if issued.service != service || issued.account != account {
            return Err(LinkRefusal::OtherAccount {
                service: issued.service.clone(),
                account: issued.account.clone(),
            });
        }
        if issued.used {
            return Err(LinkRefusal::Used);
        }
        if issued.issued.elapsed() >= self.ttl() {
            return Err(LinkRefusal::Expired);
        }
        Ok(())
    }

    /// Whether `token` is a live link for `account` of `service`, without
    /// using it up (to show the page, or to start a login with it).
    pub fn check(&self, token: &str, service: &str, account: &str) -> Result<(), LinkRefusal> {
        let state = self.lock();
        let issued = state
            .links
            .get(&digest(token))
            .ok_or(LinkRefusal::Unknown)?;
        self.verdict(issued, service, account)
    }

    /// Claims `token`, a live link for `account` of `service`, for the
    /// connect being stored now: a second claim is refused until this one
    /// ends. [`Claim::connected`] uses the link up; a claim dropped without
    /// it (the login or token failed) leaves the link usable.
    pub fn claim(
        self: &Arc<Self>,
        token: &str,
        service: &str,
        account: &str,
    ) -> Result<Claim, LinkRefusal> {
        let key = digest(token);
        let mut state = self.lock();
        let issued = state.links.get_mut(&key).ok_or(LinkRefusal::Unknown)?;
        self.verdict(issued, service, account)?;
        if issued.claimed {
            return Err(LinkRefusal::InUse);
        }
        issued.claimed = true;
        Ok(Claim {
            links: self.clone(),
            key,
            connected: false,
        })
    }

    /// Runs `notify` once `link` has connected its account (to tell the
    /// client that was given it).
    pub fn on_connected(&self, link: &ConnectLink, notify: impl FnOnce() + Send + 'static) {
        if let Some(issued) = self.lock().links.get_mut(&link.key) {
            issued.on_connected.push(Box::new(notify));
        }
    }
}

/// A connect link held by the connect being stored now (see
/// [`ConnectLinks::claim`]).
#[must_use = "a claim dropped without `connected` leaves the link usable"]
pub struct Claim {
    links: Arc<ConnectLinks>,
    key: [u8; 32],
    connected: bool,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim").finish_non_exhaustive()
    }
}

impl Claim {
    /// The account is connected: the link is used up, and whoever waited
    /// for it ([`ConnectLinks::on_connected`]) is told.
    pub fn connected(mut self) {
        self.connected = true;
        let notify = {
            let mut state = self.links.lock();
            match state.links.get_mut(&self.key) {
                Some(issued) => {
                    issued.used = true;
                    issued.claimed = false;
                    std::mem::take(&mut issued.on_connected)
                }
                None => Vec::new(),
            }
        };
        for notify in notify {
            notify();
        }
        self.links.changed.notify_waiters();
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.connected
            && let Some(issued) = self.links.lock().links.get_mut(&self.key)
        {
            issued.claimed = false;
        }
    }
}

/// The account of `service` a call that failed with an account error needs
/// connected, if connecting one would fix it: the requested (or routed)
/// label that does not exist, an account that needs to be reconnected
/// (`needs_reauth`, which an expired grant without a refresh token becomes),
/// or a first account ([`FIRST_ACCOUNT`]) when the service has none. `None`
/// when the problem is something else (several accounts and no default).
pub async fn connect_need(
    exchanger: &Exchanger,
    service: &str,
    requested: Option<&str>,
    args: &Map<String, Value>,
) -> Option<String> {
    let accounts: Vec<_> = exchanger
        .store()
        .list()
        .await
        .ok()?
        .into_iter()
        .filter(|a| a.service == service)
        .collect();
    // An expired grant without a refresh token is marked `needs_reauth` by
    // the call that found it, before this runs.
    let broken = |a: &crate::store::AccountInfo| a.status == AccountStatus::NeedsReauth;
    let label = requested
        .map(str::to_owned)
        .or_else(|| exchanger.routed_account(service, args));
    if let Some(label) = label {
        return match accounts.iter().find(|a| a.account == label) {
            None => Some(label),
            Some(a) if broken(a) => Some(label),
            Some(_) => None,
        };
    }
    let chosen = accounts
        .iter()
        .find(|a| a.is_default)
        .or(match accounts.as_slice() {
            [only] => Some(only),
            _ => None,
        });
    match chosen {
        Some(a) if broken(a) => Some(a.account.clone()),
        Some(_) => None,
        None if accounts.is_empty() => Some(FIRST_ACCOUNT.to_owned()),
        None => None,
    }
}

/// The accounts of `service` to choose from when a call names none, no
/// routing rule picks one and there is no default (label and upstream
/// identity); `None` when that is not the problem.
pub async fn which_account(
    exchanger: &Exchanger,
    service: &str,
    requested: Option<&str>,
    args: &Map<String, Value>,
) -> Option<Vec<(String, Option<String>)>> {
    if requested.is_some() || exchanger.routed_account(service, args).is_some() {
        return None;
    }
    let accounts: Vec<_> = exchanger
        .store()
        .list()
        .await
        .ok()?
        .into_iter()
        .filter(|a| a.service == service)
        .collect();
    if accounts.len() < 2 || accounts.iter().any(|a| a.is_default) {
        return None;
    }
    Some(
        accounts
            .into_iter()
            .map(|a| (a.account, a.identity))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use secrecy::SecretString;

    use super::*;
    use crate::store::{AccountKey, AccountWrite, Credential, Expect, MemoryStore, TokenStore};

    async fn put(store: &MemoryStore, label: &str, status: AccountStatus) {
        let write = AccountWrite {
            credential: Credential::static_token(SecretString::from("t0ken")).unwrap(),
            identity: None,
            status,
        };
        let key = AccountKey::new("github", label).unwrap();
        store.put(&key, write, Expect::Any).await.unwrap();
    }

    /// Connecting is offered for a missing label, a first account and an
    /// account to reconnect; not where an account works or the question is
    /// which of several (that is no account to connect).
    #[tokio::test]
    async fn connecting_is_offered_only_where_an_account_would_fix_the_call() {
        let store = Arc::new(MemoryStore::new());
        let exchanger = Exchanger::new(store.clone(), store.clone()).unwrap();
        let none = serde_json::Map::new();
        let need = |label: Option<&'static str>| {
            let exchanger = exchanger.clone();
            let args = none.clone();
            async move { connect_need(&exchanger, "github", label, &args).await }
        };
        assert_eq!(need(None).await.as_deref(), Some(FIRST_ACCOUNT));
        assert_eq!(need(Some("new")).await.as_deref(), Some("new"));
        put(&store, "work", AccountStatus::Ok).await;
        assert_eq!(need(None).await, None);
        assert_eq!(need(Some("work")).await, None);
        assert_eq!(need(Some("new")).await.as_deref(), Some("new"));
        put(&store, "home", AccountStatus::NeedsReauth).await;
        assert_eq!(need(Some("home")).await.as_deref(), Some("home"));
        // Several accounts and no default: which one is not a connect.
        assert_eq!(need(None).await, None);
        store
            .set_default(&AccountKey::new("github", "home").unwrap())
            .await
            .unwrap();
        assert_eq!(need(None).await.as_deref(), Some("home"));
    }

    fn token_of(link: &ConnectLink) -> String {
        link.url.split("link=").nth(1).unwrap().to_owned()
    }

    #[test]
    fn no_links_before_a_page_serves_them() {
        let links = ConnectLinks::default();
        assert!(links.issue("github", "work").is_none());
        links.serve_at("http://127.0.0.1:8765/");
        let link = links.issue("github", "work").unwrap();
        assert!(
            link.url
                .starts_with("http://127.0.0.1:8765/connect/github?account=work&link="),
            "{}",
            link.url
        );
    }

    #[test]
    fn a_link_works_once_for_its_own_account() {
        let links = Arc::new(ConnectLinks::default());
        links.serve_at("http://h");
        let token = token_of(&links.issue("github", "work").unwrap());
        assert_eq!(
            links.check(&token, "github", "home"),
            Err(LinkRefusal::OtherAccount {
                service: "github".into(),
                account: "work".into()
            })
        );
        assert_eq!(
            links.claim(&token, "notion", "work").unwrap_err(),
            LinkRefusal::OtherAccount {
                service: "github".into(),
                account: "work".into()
            }
        );
        assert_eq!(
            links.check("f00d", "github", "work"),
            Err(LinkRefusal::Unknown)
        );
        links.check(&token, "github", "work").unwrap();
        // A claim that ends without connecting (a failed login) uses nothing up.
        drop(links.claim(&token, "github", "work").unwrap());
        let claim = links.claim(&token, "github", "work").unwrap();
        // A second use while the first is being stored is refused.
        assert_eq!(
            links.claim(&token, "github", "work").unwrap_err(),
            LinkRefusal::InUse
        );
        let told = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = told.clone();
        links.on_connected(
            &ConnectLink {
                service: "github".into(),
                account: "work".into(),
                url: String::new(),
                key: digest(&token),
            },
            move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            },
        );
        claim.connected();
        assert_eq!(told.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(
            links.claim(&token, "github", "work").unwrap_err(),
            LinkRefusal::Used
        );
        assert_eq!(
            links.check(&token, "github", "work"),
            Err(LinkRefusal::Used)
        );
    }

    /// Opens pages that exist only as their close tokens (the real page is
    /// `mcpist_web::connect_on_demand`, tested with the binary).
    #[derive(Default)]
    struct Pages {
        opened: Mutex<Vec<CancellationToken>>,
        refuse: bool,
    }

    #[async_trait::async_trait]
    impl PageOpener for Pages {
        async fn open(&self, _: &crate::McpServer) -> std::result::Result<OpenPage, String> {
            if self.refuse {
                return Err("set a password".into());
            }
            let mut opened = self.opened.lock().unwrap();
            let close = CancellationToken::new();
            opened.push(close.clone());
            Ok(OpenPage {
                base_url: format!("http://127.0.0.1:{}", opened.len()),
                close,
            })
        }
    }

    fn link_of(offer: Offer) -> ConnectLink {
        match offer {
            Offer::Link(link) => link,
            other => panic!("no link: {other:?}"),
        }
    }

    /// A page opened on demand serves every link issued while it is open,
    /// and closes once none is live: each connected, or expired.
    #[tokio::test]
    async fn a_page_opened_on_demand_closes_when_no_link_is_live() {
        let store = Arc::new(MemoryStore::new());
        let exchanger = Exchanger::new(store.clone(), store.clone()).unwrap();
        let server = crate::McpServer::builder(exchanger, store).build().unwrap();
        let links = Arc::new(ConnectLinks::default());
        assert_eq!(links.offer(&server, "github", "work").await, Offer::NoPage);
        let pages = Arc::new(Pages::default());
        links.open_on_demand(pages.clone());
        let first = link_of(links.offer(&server, "github", "work").await);
        let second = link_of(links.offer(&server, "github", "home").await);
        assert!(
            first
                .url
                .starts_with("http://127.0.0.1:1/connect/github?account=work")
        );
        assert!(
            second
                .url
                .starts_with("http://127.0.0.1:1/connect/github?account=home")
        );
        let close = pages.opened.lock().unwrap()[0].clone();

        links
            .claim(&token_of(&first), "github", "work")
            .unwrap()
            .connected();
        tokio::task::yield_now().await;
        assert!(!close.is_cancelled(), "the second link is still live");
        assert!(links.opened_page().is_some());
        links
            .claim(&token_of(&second), "github", "home")
            .unwrap()
            .connected();
        close.cancelled().await;
        assert_eq!(links.opened_page(), None);

        // The next link opens a page again; one that expires closes it.
        links.set_ttl(Duration::ZERO);
        let late = link_of(links.offer(&server, "github", "late").await);
        assert!(late.url.starts_with("http://127.0.0.1:2/"), "{}", late.url);
        let close = pages.opened.lock().unwrap()[1].clone();
        close.cancelled().await;
        assert_eq!(links.opened_page(), None);

        // No page can be opened: the reason reaches the call's error.
        let links = Arc::new(ConnectLinks::default());
        links.open_on_demand(Arc::new(Pages {
            refuse: true,
            ..Pages::default()
        }));
        assert_eq!(
            links.offer(&server, "github", "work").await,
            Offer::Refused("set a password".into())
        );
    }

    #[test]
    fn a_late_link_is_refused() {
        let links = Arc::new(ConnectLinks::default());
        links.serve_at("http://h");
        links.set_ttl(Duration::ZERO);
        let token = token_of(&links.issue("github", "work").unwrap());
        assert_eq!(
            links.claim(&token, "github", "work").unwrap_err(),
            LinkRefusal::Expired
        );
    }
}
