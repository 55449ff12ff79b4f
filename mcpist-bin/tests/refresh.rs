//! Several `mcpist serve --stdio` processes on one SQLite file (every stdio
//! client starts its own): an expired OAuth grant with a rotating refresh
//! token is refreshed once between them, and none of them loses it.

use mcpist_connectors::github::fake::FakeGithub;
use mcpist_core::{
    SqliteStore, TokenStore,
    seal::MasterKey,
    store::{
        AccountKey, AccountStatus, AccountWrite, Credential, CredentialKind, Expect, now_unix,
    },
};
use secrecy::SecretString;

mod support;

use support::{Home, stdio_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stdio_servers_on_one_file_refresh_a_rotating_grant_once() {
    let fake = FakeGithub::start().await;
    fake.register_app("Iv1.sq", "sq-secret-canary-5e1d");
    // Rotating refresh tokens (each accepted once, invalid_grant on reuse),
    // and slow enough that both processes are inside their refresh at once.
    fake.oauth(|o| {
        o.rotate = true;
        o.delay = std::time::Duration::from_millis(300);
    });
    let home = Home::new();
    home.run_input_ok(&[], &["init"], "");
    home.write_config(&format!(
        "[connectors.github]\nbase_url = \"{}\"\n\n[connectors.notion]\nenabled = false\n",
        fake.base_url()
    ));
    home.run_input_ok(
        &[],
        &[
            "apps",
            "set",
            "github",
            "--client-id",
            "Iv1.sq",
            "--client-secret-stdin",
        ],
        "sq-secret-canary-5e1d\n",
    );
    // An OAuth account whose access token expired a minute ago.
    let (access, refresh) = fake.grant("octocat");
    let work = AccountKey::new("github", "work").unwrap();
    SqliteStore::open(&home.db(), MasterKey::read_file(&home.key_path()).unwrap())
        .unwrap()
        .put(
            &work,
            AccountWrite {
                credential: Credential {
                    kind: CredentialKind::Oauth,
                    access_token: SecretString::from(access.clone()),
                    refresh_token: Some(SecretString::from(refresh.clone())),
                    expires_at: Some(now_unix() - 60),
                    scopes: vec!["repo".into()],
                },
                identity: Some("octocat".into()),
                status: AccountStatus::Ok,
            },
            Expect::Absent,
        )
        .await
        .unwrap();

    let clients = [stdio_client(&home).await, stdio_client(&home).await];
    let before = fake.token_requests();
    support::call_all_at_once(&clients, "github_get_me", 100).await;
    assert_eq!(
        fake.token_requests() - before,
        1,
        "one refresh between two processes"
    );
    for client in clients {
        client.cancel().await.unwrap();
    }
    let store =
        SqliteStore::open(&home.db(), MasterKey::read_file(&home.key_path()).unwrap()).unwrap();
    let record = store.get(&work).await.unwrap().unwrap();
    assert_eq!(record.status, AccountStatus::Ok);
    let kept = record.credential.refresh_token.unwrap();
    assert!(
        fake.refresh_token_is_valid(secrecy::ExposeSecret::expose_secret(&kept)),
        "the stored refresh token is the live one"
    );
    assert!(!fake.refresh_token_is_valid(&refresh));
    let listed =
        String::from_utf8(home.run_input_ok(&[], &["accounts", "list"], "").stdout).unwrap();
    assert!(!listed.contains("needs_reauth"), "{listed}");
}
