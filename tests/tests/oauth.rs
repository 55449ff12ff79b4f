//! The token exchanger against a fake OAuth provider that rotates refresh
//! tokens and invalidates the old pair on use (as GitHub does), can omit the
//! refresh token, answer `bad_refresh_token`, fail, and be slow.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use mcpist_core::{
    AuditSink, Connector, Exchanger, McpServer, MemoryStore, Registration, ServicePolicy,
    TokenStore,
    audit::{AuditFilter, AuditKind},
    exchanger::Routing,
    oauth::AppCredentials,
    store::{
        AccountInfo, AccountKey, AccountRecord, AccountStatus, AccountWrite, Credential,
        CredentialKind, Expect, now_unix,
    },
};
// Naming the crate keeps its `inventory` registrations linked in.
use mcpist_connectors as _;
use mcpist_connectors::github::fake::FakeGithub;
use mcpist_tests::{call, text};
use rmcp::{RoleClient, service::RunningService};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// A memory store whose next `put` can be made to fail, like a full disk,
/// or to meet a write of another process first.
#[derive(Debug, Default)]
struct FlakyStore {
    inner: MemoryStore,
    fail_next_put: AtomicBool,
    /// Before the next `put`, the record is marked `needs_reauth` (its
    /// tokens unchanged), as a sibling process does after its refresh with
    /// the same, already spent, refresh token was refused.
    reauth_before_next_put: AtomicBool,
    /// How many records were read: a caller that read an expired record is
    /// committed to refreshing it, which orders the concurrency tests.
    gets: AtomicUsize,
}

#[async_trait]
impl TokenStore for FlakyStore {
    async fn get(&self, key: &AccountKey) -> mcpist_core::Result<Option<AccountRecord>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn put(
        &self,
        key: &AccountKey,
        write: AccountWrite,
        expect: Expect,
    ) -> mcpist_core::Result<u64> {
        if self.fail_next_put.swap(false, Ordering::SeqCst) {
            return Err(mcpist_core::Error::Store("database or disk is full".into()));
        }
        if self.reauth_before_next_put.swap(false, Ordering::SeqCst)
            && let Some(current) = self.inner.get(key).await?
        {
            let marked = AccountWrite {
                credential: current.credential,
                identity: current.identity,
                status: AccountStatus::NeedsReauth,
            };
            self.inner.put(key, marked, Expect::Any).await?;
        }
        self.inner.put(key, write, expect).await
    }
    async fn list(&self) -> mcpist_core::Result<Vec<AccountInfo>> {
        self.inner.list().await
    }
    async fn delete(&self, key: &AccountKey) -> mcpist_core::Result<bool> {
        self.inner.delete(key).await
    }
    async fn set_default(&self, key: &AccountKey) -> mcpist_core::Result<()> {
        self.inner.set_default(key).await
    }
    async fn get_secret(&self, name: &str) -> mcpist_core::Result<Option<SecretString>> {
        self.inner.get_secret(name).await
    }
    async fn put_secret(&self, name: &str, value: &SecretString) -> mcpist_core::Result<()> {
        self.inner.put_secret(name, value).await
    }
    fn location(&self) -> String {
        "flaky memory".into()
    }
}

struct Setup {
    fake: FakeGithub,
    store: Arc<FlakyStore>,
    audit: Arc<MemoryStore>,
    exchanger: Exchanger,
    client: RunningService<RoleClient, ()>,
}

/// Stores an OAuth account `label` for `login` whose access token expires in
/// `expires_in` seconds (negative: already expired). Returns (access, refresh).
async fn add_oauth_account(
    s: &Setup,
    label: &str,
    login: &str,
    expires_in: i64,
) -> (String, String) {
    let (access, refresh) = s.fake.grant(login);
    s.store
        .put(
            &AccountKey::new("github", label).unwrap(),
            AccountWrite {
                credential: Credential {
                    kind: CredentialKind::Oauth,
                    access_token: SecretString::from(access.clone()),
                    refresh_token: Some(SecretString::from(refresh.clone())),
                    expires_at: Some((now_unix() as i64 + expires_in) as u64),
                    scopes: vec!["repo".into()],
                },
                identity: Some(login.into()),
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
    (access, refresh)
}

async fn setup_with(routing: Routing) -> Setup {
    let fake = FakeGithub::start().await;
    fake.register_app("Iv1.client", "client-secret-canary");
    let store = Arc::new(FlakyStore::default());
    let audit = Arc::new(MemoryStore::new());
    AppCredentials {
        client_id: "Iv1.client".into(),
        client_secret: Some(SecretString::from("client-secret-canary")),
    }
    .save(store.as_ref(), "github")
    .await
    .unwrap();
    let github: Arc<dyn Connector> =
        (Registration::find("github").unwrap().build)(json!({ "base_url": fake.base_url() }))
            .unwrap();
    let spec = github.oauth().expect("github supports OAuth");
    assert!(
        spec.token_url.starts_with("http://127.0.0.1:"),
        "GHE-style endpoints follow base_url: {}",
        spec.token_url
    );
    let exchanger = Exchanger::new(store.clone(), audit.clone())
        .unwrap()
        .with_guide(Arc::new(mcpist_core::guide::McpistCli))
        .with_oauth("github", spec)
        .with_routing("github", routing);
    let server = McpServer::builder(exchanger.clone(), audit.clone())
        .connector(github, ServicePolicy::default())
        .build()
        .unwrap();
    let client = mcpist_tests::connect(server).await;
    Setup {
        fake,
        store,
        audit,
        exchanger,
        client,
    }
}

async fn setup() -> Setup {
    setup_with(Routing::default()).await
}

async fn record(store: &FlakyStore, label: &str) -> AccountRecord {
    store
        .get(&AccountKey::new("github", label).unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// Waits until `n` more records than `from` have been read from `store`.
async fn wait_for_reads(store: &FlakyStore, from: usize, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.gets.load(Ordering::SeqCst) < from + n {
        assert!(
            std::time::Instant::now() < deadline,
            "expected {n} reads, saw {}",
            store.gets.load(Ordering::SeqCst) - from
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Spawns `n` calls of `github_get_me` (on `account`, if given).
fn burst(
    client: &Arc<RunningService<RoleClient, ()>>,
    n: usize,
    account: Option<&str>,
) -> Vec<tokio::task::JoinHandle<rmcp::model::CallToolResult>> {
    (0..n)
        .map(|_| {
            let client = client.clone();
            let args = match account {
                Some(a) => json!({ "account": a }),
                None => json!({}),
            };
            tokio::spawn(async move { call(&client, "github_get_me", args).await })
        })
        .collect()
}

// Deterministic: the token endpoint holds the first refresh until every one
// of the hundred callers has read the expired record (each is then committed
// to refreshing), so a missing single-flight or a missing re-read under the
// lock shows as more than one token request, however the threads run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_calls_on_an_expired_token_make_exactly_one_refresh() {
    let s = setup().await;
    let (old_access, old_refresh) = add_oauth_account(&s, "work", "octocat", -60).await;
    s.fake.hold_token_endpoint();
    let reads = s.store.gets.load(Ordering::SeqCst);
    let client = Arc::new(s.client);
    let calls = burst(&client, 100, None);
    // 100 callers' reads, and the first refresher's re-read under the lock.
    wait_for_reads(&s.store, reads, 101).await;
    s.fake.wait_for_token_requests(1).await;
    s.fake.release_token_endpoint();
    for c in calls {
        let r = c.await.unwrap();
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
    }
    assert_eq!(s.fake.token_requests(), 1);
    let stored = record(&s.store, "work").await;
    assert_ne!(stored.credential.access_token.expose_secret(), old_access);
    let new_refresh = stored.credential.refresh_token.unwrap();
    assert_ne!(new_refresh.expose_secret(), old_refresh);
    assert!(s.fake.refresh_token_is_valid(new_refresh.expose_secret()));
    assert!(stored.credential.expires_at.unwrap() > now_unix() + 3600);
    assert_eq!(stored.version, 2, "one write");
    let refreshes = s.audit.query(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        refreshes
            .iter()
            .filter(|r| r.event.kind == AuditKind::Refresh)
            .count(),
        1
    );
    // Every API call went out with the new access token.
    let new_access = format!("Bearer {}", stored.credential.access_token.expose_secret());
    let api = s.fake.api_requests();
    assert_eq!(api.len(), 100);
    assert!(
        api.iter()
            .all(|r| r.authorization.as_deref() == Some(new_access.as_str()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_user_replaces_while_a_refresh_runs_wins_over_the_refreshed_one() {
    let s = setup().await;
    add_oauth_account(&s, "work", "octocat", -60).await;
    s.fake.hold_token_endpoint();
    let client = Arc::new(s.client);
    let calls = burst(&client, 1, None);
    s.fake.wait_for_token_requests(1).await;
    // The refresh is in flight; the user pastes a token of their own (as the
    // web UI's replace does: an unconditional write).
    let pasted = "ghp_pasted_by_the_user_while_refreshing";
    s.fake.accept_token(pasted, "octocat");
    let key = AccountKey::new("github", "work").unwrap();
    s.store
        .put(
            &key,
            AccountWrite {
                credential: Credential {
                    kind: CredentialKind::Static,
                    access_token: SecretString::from(pasted),
                    refresh_token: None,
                    expires_at: None,
                    scopes: vec![],
                },
                identity: Some("octocat".into()),
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
    s.fake.release_token_endpoint();
    for c in calls {
        let r = c.await.unwrap();
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
    }
    let stored = record(&s.store, "work").await;
    assert_eq!(stored.credential.access_token.expose_secret(), pasted);
    assert_eq!(stored.credential.kind, CredentialKind::Static);
    assert_eq!(stored.version, 2, "the late refresh wrote nothing");
    assert_eq!(
        s.fake
            .api_requests()
            .last()
            .unwrap()
            .authorization
            .as_deref(),
        Some(format!("Bearer {pasted}").as_str()),
        "the call used the user's token"
    );
    let superseded = s
        .audit
        .query(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.event.kind == AuditKind::Refresh
                && r.outcome
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("superseded"))
        })
        .count();
    assert_eq!(superseded, 1, "the discarded refresh is logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_callers_cancelled_mid_refresh_leave_the_new_grant_stored() {
    let s = setup().await;
    let (_, old_refresh) = add_oauth_account(&s, "work", "octocat", -60).await;
    s.fake.hold_token_endpoint();
    let reads = s.store.gets.load(Ordering::SeqCst);
    let client = Arc::new(s.client);
    let calls = burst(&client, 30, None);
    wait_for_reads(&s.store, reads, 31).await;
    s.fake.wait_for_token_requests(1).await;
    for c in &calls {
        c.abort();
    }
    for c in calls {
        assert!(c.await.unwrap_err().is_cancelled());
    }
    s.fake.release_token_endpoint();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while record(&s.store, "work").await.version < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the grant was never stored"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stored = record(&s.store, "work").await;
    let rotated = stored.credential.refresh_token.unwrap();
    assert_ne!(rotated.expose_secret(), old_refresh);
    assert!(s.fake.refresh_token_is_valid(rotated.expose_secret()));
    let r = call(&client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(s.fake.token_requests(), 1, "one refresh for all of them");
    assert_eq!(record(&s.store, "work").await.version, 2);
}

// While the token endpoint holds every request, all five accounts' refreshes
// arrive: one account's refresh never waits for another's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_on_five_accounts_refresh_each_once_and_in_parallel() {
    let s = setup().await;
    let labels = ["a1", "a2", "a3", "a4", "a5"];
    let mut before = Vec::new();
    for label in labels {
        before.push(add_oauth_account(&s, label, &format!("user-{label}"), -60).await);
    }
    s.fake.hold_token_endpoint();
    let client = Arc::new(s.client);
    let calls: Vec<_> = labels
        .iter()
        .flat_map(|label| burst(&client, 10, Some(label)))
        .collect();
    s.fake.wait_for_token_requests(5).await;
    s.fake.release_token_endpoint();
    for c in calls {
        let r = c.await.unwrap();
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
    }
    assert_eq!(s.fake.token_requests(), 5);
    for (label, (_, old_refresh)) in labels.iter().zip(before) {
        let stored = record(&s.store, label).await;
        assert_eq!(stored.version, 2, "{label}");
        let rt = stored.credential.refresh_token.unwrap();
        assert_ne!(rt.expose_secret(), old_refresh, "{label}");
        assert!(s.fake.refresh_token_is_valid(rt.expose_secret()), "{label}");
        assert_eq!(
            stored.identity.as_deref(),
            Some(format!("user-{label}").as_str())
        );
    }
}

// A failing token endpoint under a burst: the callers waiting for the one
// refresh share its error; nobody asks the failing endpoint again in turn.
// The next burst tries once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_endpoint_gets_one_request_per_burst_not_a_storm() {
    let s = setup().await;
    add_oauth_account(&s, "work", "octocat", -60).await;
    s.fake
        .oauth(|b| b.fail_with = Some(axum::http::StatusCode::SERVICE_UNAVAILABLE));
    let client = Arc::new(s.client);
    for burst_number in 1..=2 {
        s.fake.hold_token_endpoint();
        let reads = s.store.gets.load(Ordering::SeqCst);
        let calls = burst(&client, 30, None);
        wait_for_reads(&s.store, reads, 31).await;
        s.fake.wait_for_token_requests(burst_number).await;
        s.fake.release_token_endpoint();
        for c in calls {
            let r = c.await.unwrap();
            assert_eq!(r.is_error, Some(true));
            assert!(text(&r).contains("could not refresh"), "{}", text(&r));
        }
        assert_eq!(
            s.fake.token_requests(),
            burst_number,
            "burst {burst_number}"
        );
    }
    assert_eq!(record(&s.store, "work").await.status, AccountStatus::Ok);
    s.fake.oauth(|b| b.fail_with = None);
    let r = call(&client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(s.fake.token_requests(), 3);
}

#[tokio::test]
async fn a_rejected_access_token_is_refreshed_and_the_call_retried_once() {
    let s = setup().await;
    let (access, _) = add_oauth_account(&s, "work", "octocat", 3600).await;
    s.fake.revoke_access_token(&access);
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(s.fake.token_requests(), 1);
    let api = s.fake.api_requests();
    assert_eq!(api.len(), 2, "the rejected call and its retry");
    assert_ne!(api[0].authorization, api[1].authorization);
}

#[tokio::test]
async fn a_token_rejected_again_after_refresh_is_not_refreshed_twice() {
    let s = setup().await;
    let (access, _) = add_oauth_account(&s, "work", "octocat", 3600).await;
    s.fake.revoke_access_token(&access);
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    // Now the provider revokes the whole grant.
    let fresh = record(&s.store, "work").await.credential.access_token;
    s.fake.revoke_access_token(fresh.expose_secret());
    s.fake.revoke_refresh_tokens();
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text(&r).contains("mcpist login github --account work"),
        "{}",
        text(&r)
    );
    assert_eq!(
        s.fake.token_requests(),
        2,
        "one refresh per rejected call, never a loop"
    );
    assert_eq!(s.fake.api_requests().len(), 3, "401, retry, 401");
}

#[tokio::test]
async fn a_refresh_runs_to_completion_when_its_call_is_cancelled() {
    let s = setup().await;
    s.fake.oauth(|b| b.delay = Duration::from_millis(400));
    let (_, old_refresh) = add_oauth_account(&s, "work", "octocat", -60).await;
    let key = AccountKey::new("github", "work").unwrap();
    let exchanger = s.exchanger.clone();
    let task = tokio::spawn(async move { exchanger.refresh(&key, None).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    task.abort();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let stored = record(&s.store, "work").await;
    let rotated = stored.credential.refresh_token.unwrap();
    assert_ne!(
        rotated.expose_secret(),
        old_refresh,
        "the rotated refresh token was stored"
    );
    assert!(!s.fake.refresh_token_is_valid(&old_refresh));
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(s.fake.token_requests(), 1);
}

#[tokio::test]
async fn a_refresh_whose_write_fails_fails_the_call_and_the_next_call_still_works() {
    let s = setup().await;
    add_oauth_account(&s, "work", "octocat", -60).await;
    s.store.fail_next_put.store(true, Ordering::SeqCst);
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text(&r).contains("could not be saved") && text(&r).contains("disk is full"),
        "{}",
        text(&r)
    );
    // The provider has rotated the refresh token: spending the stored (old)
    // one again would fail. The kept grant is written first instead.
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(s.fake.token_requests(), 1);
    let stored = record(&s.store, "work").await;
    assert!(
        s.fake
            .refresh_token_is_valid(stored.credential.refresh_token.unwrap().expose_secret())
    );
}

// With a provider that revokes the whole grant when a rotated-out refresh
// token comes back (RFC 9700 §4.14.2), one reuse would lose the account: a
// failed write, a burst and a cancelled caller never present one twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_refresh_token_is_presented_twice_when_reuse_revokes_the_grant() {
    let s = setup().await;
    s.fake.oauth(|b| b.revoke_grant_on_reuse = true);
    let (_, first_refresh) = add_oauth_account(&s, "work", "octocat", -60).await;
    s.store.fail_next_put.store(true, Ordering::SeqCst);
    let client = Arc::new(s.client);
    let r = call(&client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    for c in burst(&client, 20, None) {
        let r = c.await.unwrap();
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
    }
    assert_eq!(s.fake.refresh_token_reuses(), 0);
    assert_eq!(s.fake.token_requests(), 1);
    let live = record(&s.store, "work")
        .await
        .credential
        .refresh_token
        .unwrap();
    assert!(
        s.fake.refresh_token_is_valid(live.expose_secret()),
        "the stored grant is still alive"
    );
    // The mode bites: presenting the first, retired, refresh token again
    // (as a client that reused it would) revokes the live grant too.
    let token_url = s
        .fake
        .base_url()
        .replace("/api/v3", "/login/oauth/access_token");
    let reused = reqwest::Client::new()
        .post(token_url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json")
        .body(format!(
            "grant_type=refresh_token&refresh_token={first_refresh}\
             &client_id=Iv1.client&client_secret=client-secret-canary"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reused.contains("bad_refresh_token"), "{reused}");
    assert_eq!(s.fake.refresh_token_reuses(), 1);
    assert!(!s.fake.refresh_token_is_valid(live.expose_secret()));
}

#[tokio::test]
async fn a_new_grant_is_kept_when_a_sibling_marked_the_spent_one_needs_reauth_meanwhile() {
    let s = setup().await;
    let (_, old_refresh) = add_oauth_account(&s, "work", "octocat", -60).await;
    s.store.reauth_before_next_put.store(true, Ordering::SeqCst);
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(s.fake.token_requests(), 1);
    // The provider retired the old refresh token; the new grant is the only
    // live one, so it must be what the store holds, and the account usable.
    let stored = record(&s.store, "work").await;
    assert_eq!(stored.status, AccountStatus::Ok);
    let kept = stored.credential.refresh_token.unwrap();
    assert_ne!(kept.expose_secret(), old_refresh);
    assert!(s.fake.refresh_token_is_valid(kept.expose_secret()));
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(s.fake.token_requests(), 1, "no second refresh");
}

#[tokio::test]
async fn a_revoked_grant_marks_the_account_needs_reauth_and_fails_fast() {
    let s = setup().await;
    add_oauth_account(&s, "work", "octocat", -60).await;
    s.fake.revoke_refresh_tokens();
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    let message = text(&r);
    assert!(
        message.contains("mcpist login github --account work"),
        "{message}"
    );
    assert!(message.contains("bad_refresh_token"), "{message}");
    assert_eq!(
        record(&s.store, "work").await.status,
        AccountStatus::NeedsReauth
    );
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert!(text(&r).contains("needs to be reconnected"), "{}", text(&r));
    assert_eq!(s.fake.token_requests(), 1, "no further token requests");
    let kinds: Vec<_> = s
        .audit
        .query(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event.kind)
        .collect();
    assert!(kinds.contains(&AuditKind::NeedsReauth));
}

#[tokio::test]
async fn an_unavailable_token_endpoint_never_marks_needs_reauth() {
    let s = setup().await;
    add_oauth_account(&s, "work", "octocat", -60).await;
    s.fake
        .oauth(|b| b.fail_with = Some(axum::http::StatusCode::SERVICE_UNAVAILABLE));
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("could not refresh"), "{}", text(&r));
    assert_eq!(record(&s.store, "work").await.status, AccountStatus::Ok);
    s.fake.oauth(|b| b.fail_with = None);
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
}

#[tokio::test]
async fn a_refresh_answer_without_a_refresh_token_keeps_the_old_one() {
    let s = setup().await;
    s.fake.oauth(|b| {
        b.rotate = false;
        b.omit_refresh_token = true;
    });
    let (_, refresh) = add_oauth_account(&s, "work", "octocat", -60).await;
    let r = call(&s.client, "github_get_me", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let stored = record(&s.store, "work").await;
    assert_eq!(
        stored.credential.refresh_token.unwrap().expose_secret(),
        refresh
    );
}

// Clock skew and broken providers: a refresh answer whose `expires_in` is
// zero, negative or absurd still keeps the rotated grant (the provider has
// already retired the old refresh token), and is treated as "no known
// expiry": the token is used until rejected, not refreshed on every call.
#[tokio::test]
async fn a_zero_negative_or_absurd_lifetime_keeps_the_grant_and_causes_no_refresh_loop() {
    for expires_in in [json!(0), json!(-3600), json!(1e300), json!(u64::MAX)] {
        let s = setup().await;
        s.fake.oauth(|b| b.expires_in = expires_in.clone());
        add_oauth_account(&s, "work", "octocat", -60).await;
        for _ in 0..3 {
            let r = call(&s.client, "github_get_me", json!({})).await;
            assert_eq!(
                r.is_error,
                Some(false),
                "expires_in {expires_in}: {}",
                text(&r)
            );
        }
        assert_eq!(s.fake.token_requests(), 1, "expires_in {expires_in}");
        let stored = record(&s.store, "work").await;
        assert!(
            s.fake
                .refresh_token_is_valid(stored.credential.refresh_token.unwrap().expose_secret()),
            "expires_in {expires_in}: the rotated grant was kept"
        );
    }
}

#[tokio::test]
async fn two_accounts_of_one_service_never_touch_each_others_records() {
    let s = setup().await;
    add_oauth_account(&s, "work", "octocat", -60).await;
    add_oauth_account(&s, "home", "hubot", 3600).await;
    let before = record(&s.store, "home").await;
    let r = call(&s.client, "github_get_me", json!({"account": "work"})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let after = record(&s.store, "home").await;
    assert_eq!(after.version, before.version);
    assert_eq!(
        after.credential.access_token.expose_secret(),
        before.credential.access_token.expose_secret()
    );
    assert_eq!(
        after.credential.refresh_token.unwrap().expose_secret(),
        before.credential.refresh_token.unwrap().expose_secret()
    );
    let me: Value = serde_json::from_str(&text(
        &call(&s.client, "github_get_me", json!({"account": "home"})).await,
    ))
    .unwrap();
    assert_eq!(me["login"], "hubot");
}

#[tokio::test]
async fn a_routing_rule_picks_the_account_for_an_owner() {
    let routing: Routing =
        serde_json::from_value(json!({"owner": {"hubot": "home", "OctoCat": "work"}})).unwrap();
    let s = setup_with(routing).await;
    let (work_token, _) = add_oauth_account(&s, "work", "octocat", 3600).await;
    let (home_token, _) = add_oauth_account(&s, "home", "hubot", 3600).await;
    for (owner, token) in [("octocat", &work_token), ("hubot", &home_token)] {
        let r = call(&s.client, "github_list_repos", json!({"owner": owner})).await;
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
        let last = s.fake.api_requests().pop().unwrap();
        assert_eq!(
            last.authorization.unwrap(),
            format!("Bearer {token}"),
            "{owner}"
        );
    }
    // Unrouted owners still never get a silent pick.
    let r = call(
        &s.client,
        "github_list_repos",
        json!({"owner": "someone-else"}),
    )
    .await;
    assert!(text(&r).contains("several accounts"), "{}", text(&r));
}

// Deterministic evidence that a batch runs independent tasks at once: both
// tasks' accounts need a refresh, and the token endpoint holds every
// refresh; two held requests mean both tasks were running together (one at
// a time, the second could not start before the first was released).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_runs_independent_tasks_at_once() {
    let s = setup().await;
    add_oauth_account(&s, "work", "octocat", -60).await;
    add_oauth_account(&s, "home", "hubot", -60).await;
    s.fake.hold_token_endpoint();
    let client = Arc::new(s.client);
    let batch = {
        let client = client.clone();
        tokio::spawn(async move {
            call(
                &client,
                mcpist_core::batch::BATCH,
                json!({"tasks": [
                    {"id": "w", "tool": "github_get_me", "arguments": {"account": "work"}},
                    {"id": "h", "tool": "github_get_me", "arguments": {"account": "home"}},
                    {"id": "after", "tool": "github_get_me",
                     "arguments": {"account": "${w.login}"}, "after": ["h"]},
                ]}),
            )
            .await
        })
    };
    s.fake.wait_for_token_requests(2).await;
    s.fake.release_token_endpoint();
    let r = batch.await.unwrap();
    let body: Value = serde_json::from_str(&text(&r)).unwrap();
    let tasks = body["tasks"].as_array().unwrap();
    assert_eq!(tasks[0]["result"]["login"], "octocat", "{body}");
    assert_eq!(tasks[1]["result"]["login"], "hubot", "{body}");
    // The third task waited for both: its account label came from `w`.
    assert_eq!(tasks[2]["status"], "error", "{body}");
    assert!(
        tasks[2]["error"].as_str().unwrap().contains("octocat"),
        "{body}"
    );
    assert_eq!(s.fake.token_requests(), 2);
}
