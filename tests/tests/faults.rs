//! Real faults under the real SQLite store: a full filesystem (a
//! size-limited tmpfs). Mounting needs root; without it the tests say so and
//! pass without running (CI runs as root).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use mcpist_core::{
    AuditSink, Connector, Exchanger, McpServer, Registration, ServicePolicy, SqliteStore,
    TokenStore,
    oauth::AppCredentials,
    seal::MasterKey,
    store::{
        AccountKey, AccountStatus, AccountWrite, Credential, CredentialKind, Expect, now_unix,
    },
};
// Naming the crate keeps its `inventory` registrations linked in.
use mcpist_connectors as _;
use mcpist_connectors::github::fake::FakeGithub;
use mcpist_tests::{call, text};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (after saying why) when this process may not mount.
    fn mount(size: &str) -> Option<Self> {
        // Root is uid 0; `id -u` avoids a libc dependency for one check.
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("SKIPPED: mounting a size-limited tmpfs needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        if !status.success() {
            eprintln!("SKIPPED: mount -t tmpfs failed (no CAP_SYS_ADMIN in this container?)");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the filesystem of `dir` until a write fails; returns the filler.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    while file.write_all(&chunk).is_ok() {}
    // The last bytes a partial write left room for.
    while file.write_all(&[0u8; 512]).is_ok() {}
    while file.write_all(&[0u8]).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_during_a_refresh_is_answered_honestly_and_loses_no_grant() {
    let Some(disk) = Tmpfs::mount("3m") else {
        return;
    };
    let fake = FakeGithub::start().await;
    fake.register_app("Iv1.client", "client-secret-canary");
    let key_text = MasterKey::generate().unwrap().encode();
    let db = disk.path().join("mcpist.db");
    let store = Arc::new(
        SqliteStore::open(
            &db,
            MasterKey::from_encoded(key_text.expose_secret()).unwrap(),
        )
        .unwrap(),
    );
    AppCredentials {
        client_id: "Iv1.client".into(),
        client_secret: Some(SecretString::from("client-secret-canary")),
    }
    .save(store.as_ref(), "github")
    .await
    .unwrap();
    let (access, refresh) = fake.grant("octocat");
    let account = AccountKey::new("github", "work").unwrap();
    store
        .put(
            &account,
            AccountWrite {
                credential: Credential {
                    kind: CredentialKind::Oauth,
                    access_token: SecretString::from(access),
                    refresh_token: Some(SecretString::from(refresh)),
                    expires_at: Some(now_unix() - 60),
                    scopes: vec!["repo".into()],
                },
                identity: Some("octocat".into()),
                status: AccountStatus::Ok,
            },
            Expect::Any,
        )
        .await
        .unwrap();
    let github: Arc<dyn Connector> =
        (Registration::find("github").unwrap().build)(json!({ "base_url": fake.base_url() }))
            .unwrap();
    let exchanger = Exchanger::new(store.clone(), store.clone())
        .unwrap()
        .with_oauth("github", github.oauth().unwrap());
    let server = McpServer::builder(exchanger, store.clone())
        .connector(github, ServicePolicy::default())
        .build()
        .unwrap();
    let client = mcpist_tests::connect(server).await;

    let filler = fill(disk.path());
    let full = call(&client, "github_get_me", json!({})).await;
    assert_eq!(full.is_error, Some(true), "{}", text(&full));
    let message = text(&full);
    assert!(
        message.contains("full") || message.contains("audit") || message.contains("saved"),
        "the answer says what happened: {message}"
    );
    assert!(fake.token_requests() <= 1, "no refresh loop on a full disk");
    eprintln!("full disk: {message}");
    // Reads keep working while the disk is full.
    assert!(store.get(&account).await.unwrap().is_some());

    std::fs::remove_file(filler).unwrap();
    let after = call(&client, "github_get_me", json!({})).await;
    assert_eq!(after.is_error, Some(false), "{}", text(&after));
    assert_eq!(
        fake.token_requests(),
        1,
        "one refresh in all: a grant obtained while full was kept, not spent again"
    );
    // The store reopens clean, holds the live grant, and its audit chain verifies.
    let reopened = SqliteStore::open(
        &db,
        MasterKey::from_encoded(key_text.expose_secret()).unwrap(),
    )
    .unwrap();
    let record = reopened.get(&account).await.unwrap().unwrap();
    assert_eq!(record.status, AccountStatus::Ok);
    assert!(fake.refresh_token_is_valid(record.credential.refresh_token.unwrap().expose_secret()));
    let report = reopened.verify().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
}

/// `src` bound read-only on a fresh directory, unmounted on drop.
struct ReadOnlyBind {
    dir: tempfile::TempDir,
}

impl ReadOnlyBind {
    fn mount(src: &Path) -> Option<Self> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("SKIPPED: a read-only bind mount needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let bound = Command::new("mount")
            .arg("--bind")
            .arg(src)
            .arg(dir.path())
            .status()
            .unwrap();
        let ro = bound.success()
            && Command::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
        if !ro {
            let _ = Command::new("umount").arg("-l").arg(dir.path()).status();
            eprintln!("SKIPPED: mount --bind / remount,ro failed in this container");
            return None;
        }
        Some(Self { dir })
    }
}

impl Drop for ReadOnlyBind {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn files_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

// A store on a read-only filesystem (root ignores file modes, so a bind
// mount is the honest way to make it read-only): opening or calling is
// refused or answered with an error, no byte changes, and the same file
// works again once the filesystem is writable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_on_a_read_only_filesystem_is_refused_honestly_and_left_untouched() {
    let fake = FakeGithub::start().await;
    fake.register_app("Iv1.client", "client-secret-canary");
    let home = tempfile::tempdir().unwrap();
    let key_text = MasterKey::generate().unwrap().encode();
    let key = || MasterKey::from_encoded(key_text.expose_secret()).unwrap();
    let account = AccountKey::new("github", "work").unwrap();
    {
        let store = SqliteStore::open(&home.path().join("mcpist.db"), key()).unwrap();
        AppCredentials {
            client_id: "Iv1.client".into(),
            client_secret: Some(SecretString::from("client-secret-canary")),
        }
        .save(&store, "github")
        .await
        .unwrap();
        let (access, refresh) = fake.grant("octocat");
        store
            .put(
                &account,
                AccountWrite {
                    credential: Credential {
                        kind: CredentialKind::Oauth,
                        access_token: SecretString::from(access),
                        refresh_token: Some(SecretString::from(refresh)),
                        expires_at: Some(now_unix() - 60),
                        scopes: vec!["repo".into()],
                    },
                    identity: Some("octocat".into()),
                    status: AccountStatus::Ok,
                },
                Expect::Any,
            )
            .await
            .unwrap();
    }
    let Some(ro) = ReadOnlyBind::mount(home.path()) else {
        return;
    };
    let before = files_of(home.path());
    match SqliteStore::open(&ro.dir.path().join("mcpist.db"), key()) {
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("read") || message.contains("only") || message.contains("open"),
                "the refusal says why: {message}"
            );
            eprintln!("read-only store refused at open: {message}");
        }
        Ok(store) => {
            let store = Arc::new(store);
            let github: Arc<dyn Connector> = (Registration::find("github").unwrap().build)(
                json!({ "base_url": fake.base_url() }),
            )
            .unwrap();
            let exchanger = Exchanger::new(store.clone(), store.clone())
                .unwrap()
                .with_oauth("github", github.oauth().unwrap());
            let server = McpServer::builder(exchanger, store.clone())
                .connector(github, ServicePolicy::default())
                .build()
                .unwrap();
            let client = mcpist_tests::connect(server).await;
            let r = call(&client, "github_get_me", json!({})).await;
            assert_eq!(r.is_error, Some(true), "{}", text(&r));
            assert_eq!(
                fake.token_requests(),
                0,
                "fail closed: no refresh it cannot keep"
            );
        }
    }
    drop(ro);
    assert!(
        files_of(home.path()) == before,
        "no byte of the store changed"
    );
    // Writable again: the same file opens and the account works.
    let store = SqliteStore::open(&home.path().join("mcpist.db"), key()).unwrap();
    let record = store.get(&account).await.unwrap().unwrap();
    assert_eq!(record.status, AccountStatus::Ok);
    assert!(fake.refresh_token_is_valid(record.credential.refresh_token.unwrap().expose_secret()));
}
