//! Behaviour every [`TokenStore`] must have. Each check uses fresh account
//! labels, so a backend with shared state can run the suite repeatedly.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::{
    Error,
    store::{
        AccountKey, AccountStatus, AccountWrite, Credential, CredentialKind, Expect, TokenStore,
    },
};

/// Runs every check in this module against `store`.
pub async fn run_all<S: TokenStore>(store: &Arc<S>) {
    get_missing_returns_none(store.as_ref()).await;
    put_then_get_round_trips_every_field(store.as_ref()).await;
    put_replaces_and_bumps_the_version(store.as_ref()).await;
    compare_and_swap_conflicts_write_nothing(store.as_ref()).await;
    list_shows_no_secrets(store.as_ref()).await;
    delete_removes_and_clears_the_default(store.as_ref()).await;
    versions_never_repeat_after_a_delete(store.as_ref()).await;
    set_default_requires_the_account(store.as_ref()).await;
    accounts_are_isolated(store.as_ref()).await;
    server_secrets_round_trip(store.as_ref()).await;
    saved_prompts_round_trip(store.as_ref()).await;
    concurrent_writers_never_lose_an_update(store).await;
}

/// A key with a label no other check uses.
pub fn fresh_key(service: &str) -> AccountKey {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("randomness");
    let label: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    AccountKey::new(service, &format!("t{label}")).expect("valid label")
}

fn oauth_write(access: &str, refresh: &str) -> AccountWrite {
    AccountWrite {
        credential: Credential {
            kind: CredentialKind::Oauth,
            access_token: SecretString::from(access.to_owned()),
            refresh_token: Some(SecretString::from(refresh.to_owned())),
            expires_at: Some(1_900_000_000),
            scopes: vec!["repo".into(), "read:user".into()],
        },
        identity: Some("octocat".into()),
        status: AccountStatus::Ok,
    }
}

fn static_write(token: &str) -> AccountWrite {
    AccountWrite {
        credential: Credential::static_token(SecretString::from(token.to_owned())).expect("token"),
        identity: None,
        status: AccountStatus::Ok,
    }
}

/// `get` on a missing key is `Ok(None)`.
pub async fn get_missing_returns_none(store: &dyn TokenStore) {
    assert!(store.get(&fresh_key("kit")).await.expect("get").is_none());
}

/// Every field written comes back.
pub async fn put_then_get_round_trips_every_field(store: &dyn TokenStore) {
    let key = fresh_key("kit");
    let version = store
        .put(&key, oauth_write("access-1", "refresh-1"), Expect::Absent)
        .await
        .expect("put");
    let got = store.get(&key).await.expect("get").expect("stored");
    assert_eq!(got.version, version);
    assert_eq!(got.credential.kind, CredentialKind::Oauth);
    assert_eq!(got.credential.access_token.expose_secret(), "access-1");
    assert_eq!(
        got.credential
            .refresh_token
            .expect("refresh")
            .expose_secret(),
        "refresh-1"
    );
    assert_eq!(got.credential.expires_at, Some(1_900_000_000));
    assert_eq!(got.credential.scopes, ["repo", "read:user"]);
    assert_eq!(got.identity.as_deref(), Some("octocat"));
    assert_eq!(got.status, AccountStatus::Ok);
}

/// `put` with [`Expect::Any`] replaces the record and increments its version.
pub async fn put_replaces_and_bumps_the_version(store: &dyn TokenStore) {
    let key = fresh_key("kit");
    let v1 = store
        .put(&key, static_write("one"), Expect::Any)
        .await
        .expect("put");
    let v2 = store
        .put(&key, static_write("two"), Expect::Any)
        .await
        .expect("put");
    assert!(v2 > v1);
    let got = store.get(&key).await.expect("get").expect("stored");
    assert_eq!(got.credential.access_token.expose_secret(), "two");
    assert_eq!(
        got.credential
            .refresh_token
            .map(|r| r.expose_secret().to_owned()),
        None
    );
}

/// A failed compare-and-swap is [`Error::Conflict`] and writes nothing.
pub async fn compare_and_swap_conflicts_write_nothing(store: &dyn TokenStore) {
    let key = fresh_key("kit");
    let v1 = store
        .put(&key, static_write("first"), Expect::Absent)
        .await
        .expect("put");
    let err = store
        .put(&key, static_write("second"), Expect::Absent)
        .await;
    assert!(matches!(err, Err(Error::Conflict { .. })), "{err:?}");
    let err = store
        .put(&key, static_write("third"), Expect::Version(v1 + 7))
        .await;
    assert!(matches!(err, Err(Error::Conflict { .. })), "{err:?}");
    let got = store.get(&key).await.expect("get").expect("stored");
    assert_eq!(got.credential.access_token.expose_secret(), "first");
    assert_eq!(got.version, v1);
    store
        .put(&key, static_write("fourth"), Expect::Version(v1))
        .await
        .expect("matching version");
}

/// Listings carry labels and metadata, never a secret.
pub async fn list_shows_no_secrets(store: &dyn TokenStore) {
    let key = fresh_key("kit");
    store
        .put(
            &key,
            oauth_write("canary-access-77", "canary-refresh-77"),
            Expect::Any,
        )
        .await
        .expect("put");
    let listed = store.list().await.expect("list");
    let text = format!("{listed:?}");
    assert!(!text.contains("canary-access-77") && !text.contains("canary-refresh-77"));
    let info = listed
        .iter()
        .find(|a| a.account == key.account())
        .expect("listed");
    assert_eq!(info.identity.as_deref(), Some("octocat"));
    assert_eq!(info.expires_at, Some(1_900_000_000));
}

/// `delete` removes the record, clears a default pointing at it, and is
/// `Ok(false)` for a missing key.
pub async fn delete_removes_and_clears_the_default(store: &dyn TokenStore) {
    let key = fresh_key("kitdel");
    store
        .put(&key, static_write("x"), Expect::Any)
        .await
        .expect("put");
    store.set_default(&key).await.expect("default");
    assert!(store.delete(&key).await.expect("delete"));
    assert!(store.get(&key).await.expect("get").is_none());
    assert!(!store.delete(&key).await.expect("delete missing"));
    let again = AccountKey::new(key.service(), key.account()).expect("key");
    store
        .put(&again, static_write("y"), Expect::Absent)
        .await
        .expect("put");
    let listed = store.list().await.expect("list");
    let info = listed
        .iter()
        .find(|a| a.account == key.account())
        .expect("listed");
    assert!(
        !info.is_default,
        "the old default did not survive the delete"
    );
}

/// A record deleted and added again continues its versions: a writer that
/// read the old record (a refresh that started before the delete) cannot
/// compare-and-swap over the new one, whatever version it read.
pub async fn versions_never_repeat_after_a_delete(store: &dyn TokenStore) {
    let key = fresh_key("kitaba");
    let v1 = store
        .put(
            &key,
            oauth_write("old-access", "old-refresh"),
            Expect::Absent,
        )
        .await
        .expect("put");
    let v2 = store
        .put(
            &key,
            oauth_write("old-access-2", "old-refresh-2"),
            Expect::Version(v1),
        )
        .await
        .expect("put");
    assert!(store.delete(&key).await.expect("delete"));
    let new = store
        .put(&key, static_write("re-added"), Expect::Absent)
        .await
        .expect("re-add");
    assert!(
        new > v2,
        "the re-added record has version {new}, the deleted one had {v2}"
    );
    for stale in [v1, v2] {
        let err = store
            .put(&key, oauth_write("stale", "stale"), Expect::Version(stale))
            .await;
        assert!(matches!(err, Err(Error::Conflict { .. })), "{err:?}");
    }
    // Deleted and re-added again, with a blanket write this time.
    assert!(store.delete(&key).await.expect("delete"));
    let newer = store
        .put(&key, static_write("re-added-2"), Expect::Any)
        .await
        .expect("re-add");
    assert!(newer > new, "version {newer} after {new}");
    let got = store.get(&key).await.expect("get").expect("stored");
    assert_eq!(got.credential.access_token.expose_secret(), "re-added-2");
    assert_eq!(got.version, newer);
}

/// `set_default` needs an existing account and marks exactly one default.
pub async fn set_default_requires_the_account(store: &dyn TokenStore) {
    let service = format!("kitdef{}", fresh_key("x").account());
    let missing = AccountKey::new(&service, "nobody").expect("key");
    assert!(store.set_default(&missing).await.is_err());
    let (a, b) = (
        AccountKey::new(&service, "a").expect("key"),
        AccountKey::new(&service, "b").expect("key"),
    );
    store
        .put(&a, static_write("a"), Expect::Any)
        .await
        .expect("put");
    store
        .put(&b, static_write("b"), Expect::Any)
        .await
        .expect("put");
    store.set_default(&a).await.expect("default");
    store.set_default(&b).await.expect("default");
    let defaults: Vec<_> = store
        .list()
        .await
        .expect("list")
        .into_iter()
        .filter(|i| i.service == service && i.is_default)
        .map(|i| i.account)
        .collect();
    assert_eq!(defaults, ["b"]);
}

/// Writing one account never changes another.
pub async fn accounts_are_isolated(store: &dyn TokenStore) {
    let (a, b) = (fresh_key("kit"), fresh_key("kit"));
    store
        .put(&a, static_write("token-a"), Expect::Any)
        .await
        .expect("put");
    store
        .put(&b, static_write("token-b"), Expect::Any)
        .await
        .expect("put");
    store
        .put(&a, static_write("token-a2"), Expect::Any)
        .await
        .expect("put");
    let got = store.get(&b).await.expect("get").expect("stored");
    assert_eq!(got.credential.access_token.expose_secret(), "token-b");
    assert_eq!(got.version, 1);
}

/// Server secrets come back as written and can be replaced.
pub async fn server_secrets_round_trip(store: &dyn TokenStore) {
    let name = format!("kit/{}", fresh_key("x").account());
    assert!(store.get_secret(&name).await.expect("get").is_none());
    store
        .put_secret(&name, &SecretString::from("one"))
        .await
        .expect("put");
    store
        .put_secret(&name, &SecretString::from("two"))
        .await
        .expect("put");
    let got = store.get_secret(&name).await.expect("get").expect("stored");
    assert_eq!(got.expose_secret(), "two");
}

/// The user's prompts saved in the store: added, refused a second time
/// without `replace`, replaced, listed, removed; a refused change writes
/// nothing. Every change is audited (here into a memory log) without the text.
pub async fn saved_prompts_round_trip(store: &dyn TokenStore) {
    use crate::prompts::{self, UserArgument, UserPrompt};
    let audit = crate::store::MemoryStore::new();
    let name = format!("kit_{}", fresh_key("x").account());
    let prompt = |text: &str| UserPrompt {
        description: "kit".into(),
        text: text.into(),
        arguments: vec![UserArgument {
            name: "repo".into(),
            description: String::new(),
            required: true,
        }],
    };
    let replaced = prompts::save(store, &audit, &name, prompt("one {{repo}}"), false)
        .await
        .expect("save");
    assert!(!replaced);
    let duplicate = prompts::save(store, &audit, &name, prompt("two {{repo}}"), false)
        .await
        .unwrap_err();
    assert!(
        duplicate.to_string().contains("saved already"),
        "{duplicate}"
    );
    let undeclared = prompts::save(store, &audit, &name, prompt("{{nope}}"), true)
        .await
        .unwrap_err();
    assert!(undeclared.to_string().contains("{{nope}}"), "{undeclared}");
    let saved = prompts::load_saved(store).await.expect("load");
    assert_eq!(saved[&name].text, "one {{repo}}");
    assert!(
        prompts::save(store, &audit, &name, prompt("two {{repo}}"), true)
            .await
            .expect("replace")
    );
    assert_eq!(
        prompts::load_saved(store).await.expect("load")[&name].text,
        "two {{repo}}"
    );
    prompts::remove(store, &audit, &name).await.expect("remove");
    assert!(
        !prompts::load_saved(store)
            .await
            .expect("load")
            .contains_key(&name)
    );
    assert!(prompts::remove(store, &audit, &name).await.is_err());
    let log = crate::AuditSink::query(&audit, &crate::audit::AuditFilter::default())
        .await
        .expect("query");
    let text = serde_json::to_string(&log).expect("json");
    assert!(
        text.contains("prompt_set") && text.contains("prompt_remove"),
        "{text}"
    );
    assert!(
        !text.contains("{{repo}}"),
        "prompt text in the audit log: {text}"
    );
}

/// Twenty writers doing read-modify-write with compare-and-swap on one
/// record: every update lands exactly once.
pub async fn concurrent_writers_never_lose_an_update<S: TokenStore>(store: &Arc<S>) {
    let key = fresh_key("kitcas");
    store
        .put(&key, static_write("0"), Expect::Absent)
        .await
        .expect("put");
    let writers: Vec<_> = (0..20)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                loop {
                    let current = store.get(&key).await.expect("get").expect("stored");
                    let n: u64 = current
                        .credential
                        .access_token
                        .expose_secret()
                        .parse()
                        .expect("number");
                    match store
                        .put(
                            &key,
                            static_write(&(n + 1).to_string()),
                            Expect::Version(current.version),
                        )
                        .await
                    {
                        Ok(_) => return,
                        Err(Error::Conflict { .. }) => tokio::task::yield_now().await,
                        Err(e) => panic!("write failed: {e}"),
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let got = store.get(&key).await.expect("get").expect("stored");
    assert_eq!(got.credential.access_token.expose_secret(), "20");
    assert_eq!(got.version, 21);
}
