//! Two `mcpist serve` processes on one PostgreSQL database: they share
//! accounts, and an expired OAuth token is refreshed once between them.
#![cfg(feature = "postgres")]

use mcpist_connectors::github::fake::FakeGithub;
use mcpist_core::{
    PostgresStore, TokenStore,
    seal::MasterKey,
    store::{
        AccountKey, AccountStatus, AccountWrite, Credential, CredentialKind, Expect, now_unix,
    },
    testkit::postgres::TempDatabase,
};
use rmcp::{
    ServiceExt,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use secrecy::SecretString;

mod support;

use support::{Home, spawn_http};

/// `mcpist ARGS` with `input` on stdin; its stdout.
fn run_ok(home: &Home, args: &[&str], input: &str) -> String {
    String::from_utf8(home.run_input_ok(&[], args, input).stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_refresh_an_expired_token_once_between_them() {
    let db = TempDatabase::create().await;
    let fake = FakeGithub::start().await;
    fake.register_app("Iv1.pg", "pg-secret-canary-41c2");
    // Slow enough that both replicas are inside their refresh at once.
    fake.oauth(|o| o.delay = std::time::Duration::from_millis(300));
    let home = Home::new();
    // A password in the URL (trust auth ignores it) must never be shown.
    let mut url = url::Url::parse(&db.url_text()).unwrap();
    url.set_password(Some("pgpass-canary-9b7e")).unwrap();
    home.write_config(&format!(
        "[store]\nkind = \"postgres\"\nurl = \"{}\"\n\n[connectors.github]\nbase_url = \"{}\"\n",
        url,
        fake.base_url()
    ));
    let init = home.run_input_ok(&[], &["init"], "");
    let bearer = String::from_utf8(init.stdout.clone())
        .unwrap()
        .trim()
        .to_owned();
    let init_text = support::stderr(&init);
    assert!(
        init_text.contains("postgres://postgres:REDACTED@127.0.0.1"),
        "{init_text}"
    );
    assert!(bearer.starts_with("mcpist_"), "{bearer}");
    run_ok(
        &home,
        &[
            "apps",
            "set",
            "github",
            "--client-id",
            "Iv1.pg",
            "--client-secret-stdin",
        ],
        "pg-secret-canary-41c2\n",
    );
    // An OAuth account whose access token expired a minute ago.
    let (access, refresh) = fake.grant("octocat");
    {
        let store = PostgresStore::open(&db.url(), MasterKey::read_file(&home.key_path()).unwrap())
            .await
            .unwrap();
        store
            .put(
                &AccountKey::new("github", "work").unwrap(),
                AccountWrite {
                    credential: Credential {
                        kind: CredentialKind::Oauth,
                        access_token: SecretString::from(access.clone()),
                        refresh_token: Some(SecretString::from(refresh)),
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
    }
    let listed = run_ok(&home, &["accounts", "list"], "");
    assert!(
        listed.contains("work") && listed.contains("expired"),
        "{listed}"
    );

    let servers = [spawn_http(&home), spawn_http(&home)];
    let mut clients = Vec::new();
    for server in &servers {
        let config = StreamableHttpClientTransportConfig::with_uri(server.url.clone())
            .auth_header(bearer.clone());
        clients.push(
            ().serve(StreamableHttpClientTransport::from_config(config))
                .await
                .unwrap(),
        );
    }
    let token_requests_before = fake.token_requests();
    support::call_all_at_once(&clients, "github_get_me", 100).await;
    assert_eq!(
        fake.token_requests() - token_requests_before,
        1,
        "one refresh between two replicas; server logs: {} / {}",
        servers[0].stderr.lock().unwrap(),
        servers[1].stderr.lock().unwrap()
    );
    // Every call after the refresh used the new token, never the old one.
    let old = format!("Bearer {access}");
    let api = fake.api_requests();
    assert_eq!(api.len(), 100);
    assert!(
        api.iter()
            .all(|r| r.authorization.as_deref() != Some(old.as_str()))
    );
    for client in clients {
        client.cancel().await.unwrap();
    }
    // The audit log in the same database records the one refresh, and its
    // chain, appended to by both replicas, is intact.
    let audit = run_ok(&home, &["audit", "--limit", "500"], "");
    assert_eq!(
        audit.lines().filter(|l| l.contains(" refresh ")).count(),
        1,
        "{audit}"
    );
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains("github_get_me"))
            .count(),
        100
    );
    assert!(run_ok(&home, &["audit", "--verify"], "").contains("intact"));
    let logs = [&servers[0], &servers[1]].map(|s| s.stderr.lock().unwrap().clone());
    for text in [&init_text, &logs[0], &logs[1], &audit, &listed] {
        assert!(
            !text.contains("pgpass-canary"),
            "the database password leaked: {text}"
        );
    }
}

#[test]
fn a_postgres_store_without_a_url_says_what_is_missing() {
    let home = Home::new();
    home.write_config("[store]\nkind = \"postgres\"\n");
    let out = home.run_input(&[], &["accounts", "list"], "");
    assert!(!out.status.success());
    let err = support::stderr(&out);
    assert!(
        err.contains("needs url") && err.contains("mcpist.toml"),
        "{err}"
    );
}

#[test]
fn replicas_can_derive_the_key_from_a_passphrase_kept_nowhere_on_disk() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TempDatabase::create());
    let home = Home::new();
    home.write_config(&format!(
        "[store]\nkind = \"postgres\"\nkey = \"passphrase\"\nurl = \"{}\"\n",
        db.url_text()
    ));
    let pass = [("MCPIST_PASSPHRASE", "replica passphrase 5d2c")];
    let init = home.run_input_ok(&pass, &["init"], "");
    assert!(support::stderr(&init).contains("derived from the passphrase"));
    assert!(
        !home.key_path().exists(),
        "no key file for a passphrase store"
    );
    let bearer = home.run_input_ok(&pass, &["bearer", "show"], "").stdout;
    assert_eq!(bearer, init.stdout);
    let checked =
        || String::from_utf8(home.run_input_ok(&pass, &["audit", "--verify"], "").stdout).unwrap();
    let before = checked();

    let wrong = home.run_input(
        &[("MCPIST_PASSPHRASE", "replica passphrase 5d2d")],
        &["bearer", "show"],
        "",
    );
    assert!(!wrong.status.success() && wrong.stdout.is_empty());
    let err = support::stderr(&wrong);
    assert!(err.contains("the passphrase is wrong"), "{err}");
    assert!(!err.contains("5d2d") && !err.contains("5d2c"), "{err}");
    let missing = home.run_input(&[], &["bearer", "show"], "");
    assert!(support::stderr(&missing).contains("MCPIST_PASSPHRASE"));

    home.write_config(&format!(
        "[store]\nkind = \"postgres\"\nurl = \"{}\"\n",
        db.url_text()
    ));
    let as_file = home.run_input(
        &[(
            "MCPIST_MASTER_KEY",
            "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8A=",
        )],
        &["bearer", "show"],
        "",
    );
    assert!(
        support::stderr(&as_file).contains("sealed with a passphrase"),
        "{}",
        support::stderr(&as_file)
    );
    home.write_config(&format!(
        "[store]\nkind = \"postgres\"\nkey = \"passphrase\"\nurl = \"{}\"\n",
        db.url_text()
    ));
    // The audit log is as it was: the refused attempts wrote nothing.
    assert_eq!(checked(), before);
}
