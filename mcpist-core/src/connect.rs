//! Connect on demand: when a call needs an account that is missing or must
//! be reconnected, the client gets a one-time link to MCPist's own page
//! `/connect/SERVICE?account=LABEL&link=…` (served by the web UI, behind its
//! login), where the user logs in with OAuth or pastes a token.
//!
//! - [`connect_need`] decides which account a failed call needs connected.
//! - [`ConnectLinks`] issues the links and redeems each one once, for its own
//!   service and account, within [`LINK_TTL`]. A link is no credential: the
//!   page still needs the web UI password, so a hostile client holding one
//!   cannot attach an account of its own choosing.
//!
//! The links are in memory: a restart invalidates them (the client's next
//! call gets a new one).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

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
    /// The link was already used.
    #[error(
        "this connect link was already used; nothing was changed. Call the tool again for a new link"
    )]
    Used,
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
}

struct Issued {
    service: String,
    account: String,
    issued: Instant,
    used: bool,
}

/// The one-time connect links of one server, in memory.
///
/// Links are only issued once the web UI that serves the page is mounted
/// ([`ConnectLinks::serve_at`]); before that, [`ConnectLinks::issue`] gives
/// `None` and account errors name only the command.
#[derive(Default)]
pub struct ConnectLinks {
    base: Mutex<Option<String>>,
    ttl: Mutex<Option<Duration>>,
    // Keyed by the SHA-256 of the token: the map holds no live link.
    links: Mutex<HashMap<[u8; 32], Issued>>,
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

    /// Whether links are issued (a page serves them).
    pub fn enabled(&self) -> bool {
        self.base
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
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

    /// A new one-time link for `account` of `service`, or `None` when no page
    /// serves links.
    pub fn issue(&self, service: &str, account: &str) -> Option<ConnectLink> {
        let base = self
            .base
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let ttl = self.ttl();
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        // Forget links long past their expiry (kept a while to say "expired").
        links.retain(|_, l| now.duration_since(l.issued) < ttl.max(LINK_TTL) * 2);
        links.insert(
            digest(&token),
            Issued {
                service: service.to_owned(),
                account: account.to_owned(),
                issued: now,
                used: false,
            },
        );
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("account", account)
            .append_pair("link", &token)
            .finish();
        Some(ConnectLink {
            service: service.to_owned(),
            account: account.to_owned(),
            url: format!("{base}/connect/{service}?{query}"),
        })
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
    /// using it up (to show the page).
    pub fn check(&self, token: &str, service: &str, account: &str) -> Result<(), LinkRefusal> {
        let links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        let issued = links.get(&digest(token)).ok_or(LinkRefusal::Unknown)?;
        self.verdict(issued, service, account)
    }

    /// Uses `token` up if it is a live link for `account` of `service`.
    pub fn redeem(&self, token: &str, service: &str, account: &str) -> Result<(), LinkRefusal> {
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        let issued = links.get_mut(&digest(token)).ok_or(LinkRefusal::Unknown)?;
        self.verdict(issued, service, account)?;
        issued.used = true;
        Ok(())
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
        let links = ConnectLinks::default();
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
            links.redeem(&token, "notion", "work").unwrap_err(),
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
        links.redeem(&token, "github", "work").unwrap();
        assert_eq!(
            links.redeem(&token, "github", "work"),
            Err(LinkRefusal::Used)
        );
        assert_eq!(
            links.check(&token, "github", "work"),
            Err(LinkRefusal::Used)
        );
    }

    #[test]
    fn a_late_link_is_refused() {
        let links = ConnectLinks::default();
        links.serve_at("http://h");
        links.set_ttl(Duration::ZERO);
        let token = token_of(&links.issue("github", "work").unwrap());
        assert_eq!(
            links.redeem(&token, "github", "work"),
            Err(LinkRefusal::Expired)
        );
    }
}
