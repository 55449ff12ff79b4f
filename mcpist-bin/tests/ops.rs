//! Running MCPist for real: `doctor`, `backup` / `restore`, JSON logs and
//! graceful shutdown, through the real binary, a real SQLite file and a fake
//! GitHub on loopback.

use std::process::Output;

use mcpist_tests::canary;
use serde_json::Value;

mod support;
use support::*;

/// Config for a home whose GitHub is the fake at `base_url`; Notion is off
/// so that no check depends on the internet.
fn config_for(base_url: &str) -> String {
    format!(
        "[connectors.github]\nbase_url = \"{base_url}\"\n\n[connectors.notion]\nenabled = false\n"
    )
}

/// `mcpist doctor --json`: the exit status and the checks.
fn doctor(home: &Home) -> (Output, Vec<Value>) {
    let out = home.run(&["doctor", "--json"]);
    let checks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON array ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, checks)
}

/// The check called `name`, as (status, message, fix).
fn check<'a>(checks: &'a [Value], name: &str) -> (&'a str, &'a str, &'a str) {
    let found = checks
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {checks:#?}"));
    (
        found["status"].as_str().unwrap(),
        found["message"].as_str().unwrap(),
        found["fix"].as_str().unwrap_or(""),
    )
}

fn failed(checks: &[Value]) -> Vec<&str> {
    checks
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["check"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_healthy_setup_and_shows_no_secret() {
    let token = canary("doctorok");
    let (home, fake) = github_home(&token).await;
    home.write_config(&config_for(&fake.base_url()));
    let (out, checks) = doctor(&home);
    assert!(out.status.success(), "{checks:#?}");
    assert_eq!(failed(&checks), Vec::<&str>::new());
    for name in [
        "config",
        "key",
        "store",
        "bearer",
        "audit",
        "http bind",
        "account github/work",
        "reach github",
    ] {
        assert_eq!(check(&checks, name).0, "pass", "{name}: {checks:#?}");
    }
    assert!(check(&checks, "account github/work").1.contains("octocat"));
    assert!(check(&checks, "reach github").1.contains("answered HTTP"));
    let text = home.run(&["doctor"]);
    assert!(text.status.success());
    let bearer = String::from_utf8(home.run_ok(&["bearer", "show"]).stdout).unwrap();
    for output in [&out.stdout, &out.stderr, &text.stdout, &text.stderr] {
        assert!(!contains(output, &token) && !contains(output, bearer.trim()));
    }
    assert!(
        contains(&text.stdout, "PASS  store") && contains(&text.stdout, "summary: "),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_on_a_missing_key_and_creates_none() {
    let (home, fake) = github_home(&canary("doctornokey")).await;
    home.write_config(&config_for(&fake.base_url()));
    let key = home.data_dir().join("master.key");
    std::fs::remove_file(&key).unwrap();
    let before = std::fs::read(home.db()).unwrap();
    let (out, checks) = doctor(&home);
    assert!(!out.status.success());
    let (status, message, fix) = check(&checks, "key");
    assert_eq!(status, "fail");
    assert!(message.contains("no key file"), "{message}");
    assert!(fix.contains("key file you backed up"), "{fix}");
    assert_eq!(check(&checks, "store").0, "fail");
    assert!(!key.exists(), "the doctor must not create a key");
    assert_eq!(std::fs::read(home.db()).unwrap(), before);
    assert!(contains(&out.stderr, "check(s) failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_on_a_wrong_key_and_on_a_readable_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let (home, fake) = github_home(&canary("doctorwrongkey")).await;
    home.write_config(&config_for(&fake.base_url()));
    let key = home.data_dir().join("master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (out, checks) = doctor(&home);
    assert!(!out.status.success());
    let (status, message, fix) = check(&checks, "key");
    assert_eq!(status, "fail");
    assert!(message.contains("0644"), "{message}");
    assert_eq!(fix, format!("chmod 600 {}", key.display()));
    assert_eq!(
        check(&checks, "store").0,
        "pass",
        "a readable key still opens"
    );

    let other_key = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8A=\n";
    std::fs::write(&key, other_key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = std::fs::read(home.db()).unwrap();
    let (out, checks) = doctor(&home);
    assert!(!out.status.success());
    assert_eq!(check(&checks, "key").0, "pass");
    let (status, message, fix) = check(&checks, "store");
    assert_eq!(status, "fail");
    assert!(
        message.contains("master key does not open the store"),
        "{message}"
    );
    assert!(fix.contains("the key the store was created with"), "{fix}");
    assert_eq!(std::fs::read(home.db()).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_on_an_account_that_needs_reauth_or_has_expired() {
    let (home, fake) = github_home(&canary("doctorexpired")).await;
    home.add_token("home", &canary("doctorexpired2"));
    home.write_config(&config_for(&fake.base_url()));
    // What the exchanger writes when a provider refuses a refresh token, and
    // an access token past its expiry with nothing to refresh it.
    let db = rusqlite::Connection::open(home.db()).unwrap();
    db.execute(
        "UPDATE accounts SET status = 'needs_reauth' WHERE account = 'work'",
        [],
    )
    .unwrap();
    db.execute(
        "UPDATE accounts SET expires_at = strftime('%s', 'now') - 7200 WHERE account = 'home'",
        [],
    )
    .unwrap();
    drop(db);
    let (out, checks) = doctor(&home);
    assert!(!out.status.success());
    let (status, message, fix) = check(&checks, "account github/work");
    assert_eq!(status, "fail");
    assert!(message.contains("needs_reauth"), "{message}");
    assert!(fix.contains("--account work"), "{fix}");
    let (status, message, _) = check(&checks, "account github/home");
    assert_eq!(status, "fail");
    assert!(message.contains("expired 120 min ago"), "{message}");
    assert_eq!(
        failed(&checks),
        ["account github/home", "account github/work"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_on_an_unreachable_upstream() {
    let (home, _fake) = github_home(&canary("doctorunreach")).await;
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    home.write_config(&config_for(&format!("http://{closed}/api/v3")));
    let (out, checks) = doctor(&home);
    assert!(!out.status.success());
    let (status, message, fix) = check(&checks, "reach github");
    assert_eq!(status, "fail");
    assert!(message.contains("refused"), "{message}");
    assert!(fix.contains("base_url in [connectors.github]"), "{fix}");
    assert_eq!(failed(&checks), ["reach github"]);
}

#[test]
fn doctor_reports_a_bad_config_and_an_inconsistent_public_url() {
    let home = Home::new();
    home.write_config("[server]\nbnd = \"127.0.0.1:1\"\n");
    let (out, checks) = doctor(&home);
    assert!(!out.status.success());
    let (status, message, _) = check(&checks, "config");
    assert_eq!(status, "fail");
    assert!(message.contains("bnd"), "{message}");

    home.write_config(
        "[server]\npublic_url = \"http://mcp.example.net\"\nallowed_hosts = [\"mcp.example.net:443\"]\n",
    );
    let (out, checks) = doctor(&home);
    assert!(!out.status.success());
    assert_eq!(check(&checks, "public url").0, "fail");
    let (status, _, fix) = check(&checks, "allowed hosts");
    assert_eq!(status, "fail");
    assert!(fix.contains("\"mcp.example.net\""), "{fix}");
}
