//! Running MCPist for real: `doctor`, `backup` / `restore`, JSON logs and
//! graceful shutdown, through the real binary, a real SQLite file and a fake
//! GitHub on loopback.

use std::{
    io::BufRead,
    path::Path,
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::Duration,
};

use mcpist_connectors::github::fake::FakeGithub;
use mcpist_tests::canary;
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult},
    service::{RunningService, ServiceError},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

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
        "web UI",
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
    let bearer = bearer_token(&home);
    for output in [&out.stdout, &out.stderr, &text.stdout, &text.stderr] {
        assert!(!contains(output, &token) && !contains(output, &bearer));
    }
    assert!(
        contains(&text.stdout, "PASS  store") && contains(&text.stdout, "summary: "),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

/// A passphrase store has no key file: the doctor checks it with the
/// passphrase, as every command opens it, instead of failing "no key file".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_a_passphrase_store_with_its_passphrase() {
    let token = canary("doctorpass");
    let fake = FakeGithub::start().await;
    fake.accept_token(&token, "octocat");
    let home = Home::new();
    home.write_config(&format!(
        "[store]\nkey = \"passphrase\"\n\n{}",
        config_for(&fake.base_url())
    ));
    let pass = "doctor passphrase canary 3c9e";
    let env = [("MCPIST_PASSPHRASE", pass)];
    home.run_input_ok(&env, &["init"], "");
    home.run_input_ok(
        &env,
        &[
            "accounts",
            "add",
            "github",
            "--account",
            "work",
            "--token-stdin",
            "--no-verify",
        ],
        &token,
    );
    let run = |env: &[(&str, &str)]| {
        let out = home.cmd_env(env, &["doctor", "--json"]).output().unwrap();
        let checks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        (out, checks)
    };
    let (out, checks) = run(&env);
    assert!(out.status.success(), "{checks:#?}");
    assert!(failed(&checks).is_empty(), "{checks:#?}");
    let (status, message, _) = check(&checks, "key");
    assert_eq!(status, "pass");
    assert!(message.contains("passphrase"), "{message}");
    assert_eq!(check(&checks, "store").0, "pass");
    assert_eq!(check(&checks, "account github/work").0, "pass");
    let all = format!("{checks:?}");
    assert!(!all.contains(pass) && !all.contains(&token));

    // Without the passphrase (and no terminal to ask at): said so, with the fix.
    let (out, checks) = run(&[]);
    assert!(!out.status.success());
    let (status, message, fix) = check(&checks, "key");
    assert_eq!(status, "fail", "{checks:#?}");
    assert!(
        format!("{message} {fix}").contains("MCPIST_PASSPHRASE"),
        "{message} / {fix}"
    );
    assert!(
        !format!("{checks:?}").contains("no key file"),
        "{checks:#?}"
    );
    // A wrong passphrase: the store check says the passphrase is wrong.
    let (out, checks) = run(&[("MCPIST_PASSPHRASE", "not the passphrase")]);
    assert!(!out.status.success());
    let (status, message, fix) = check(&checks, "store");
    assert_eq!(status, "fail");
    assert!(message.contains("the passphrase is wrong"), "{message}");
    assert!(fix.contains("passphrase"), "{fix}");
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

#[test]
fn disabling_auth_is_refused_with_a_public_url_or_extra_allowed_hosts() {
    for extra in [
        "public_url = \"https://mcp.example.net\"",
        "allowed_hosts = [\"mcp.example.net\"]",
    ] {
        let home = Home::new();
        home.run_ok(&["init"]);
        home.write_config(&format!(
            "[server]\nbind = \"127.0.0.1:0\"\ndangerously_disable_auth = true\n{extra}\n"
        ));
        let key = extra.split(' ').next().unwrap();
        let path = home.config_path().display().to_string();
        let (out, checks) = doctor(&home);
        assert!(!out.status.success(), "{checks:?}");
        let (status, message, _) = check(&checks, "config");
        assert_eq!(status, "fail");
        assert!(message.contains("dangerously_disable_auth") && message.contains(key));
        // `serve` refuses to start (a bounded wait, in case it serves).
        let served = output_within(home.cmd(&["serve"]), Duration::from_secs(20));
        assert!(!served.status.success(), "{extra}");
        let said = stderr(&served);
        for part in ["server.dangerously_disable_auth", key, &path] {
            assert!(said.contains(part), "{part} missing in: {said}");
        }
    }
}

/// `mcpist bearer show`.
fn bearer_token(home: &Home) -> String {
    String::from_utf8(home.run_ok(&["bearer", "show"]).stdout)
        .unwrap()
        .trim()
        .to_owned()
}

/// The audit records, oldest first.
fn audit_records(home: &Home) -> Vec<Value> {
    let out = home.run_ok(&["audit", "--json", "--limit", "100000"]);
    let mut records: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    records.reverse();
    records
}

/// An HTTP MCP client of `server`.
async fn http_client(server: &HttpServer, bearer: &str) -> RunningService<RoleClient, ()> {
    http_client_at(&server.url, bearer).await
}

/// An HTTP MCP client of the MCP endpoint at `url`.
async fn http_client_at(url: &str, bearer: &str) -> RunningService<RoleClient, ()> {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(bearer);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .unwrap()
}

/// `tool` with `args` as a call request.
fn request(tool: &str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_owned()).with_arguments(args.as_object().unwrap().clone())
}

/// Waits until the fake GitHub has seen `n` requests for paths containing `part`.
async fn seen(fake: &FakeGithub, part: &str, n: usize) {
    for _ in 0..500 {
        if fake
            .requests()
            .iter()
            .filter(|r| r.path.contains(part))
            .count()
            >= n
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the fake never saw {n} requests for {part}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_fifty_concurrent_calls_restores_accounts_apps_and_the_audit_chain() {
    let token = canary("backup");
    let (home, fake) = github_home(&token).await;
    home.write_config(&config_for(&fake.base_url()));
    home.run_with_stdin(
        &[
            "apps",
            "set",
            "github",
            "--client-id",
            "Iv1.backup",
            "--client-secret-stdin",
        ],
        "app-secret-backup-canary\n",
    );
    let bearer = bearer_token(&home);
    let server = spawn_http(&home);
    let client = Arc::new(http_client(&server, &bearer).await);
    // Half of the calls wait 3 s at the fake ("slow" owner), so the backup
    // surely runs while they are in flight; the other half finish at once.
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let call = if i % 2 == 0 {
                    request(
                        "github_list_issues",
                        json!({"owner": "slow", "repo": format!("r{i}")}),
                    )
                } else {
                    request("github_get_me", json!({}))
                };
                client.call_tool(call).await
            })
        })
        .collect();
    seen(&fake, "/repos/slow/", 25).await;
    let snapshot = home.dir.path().join("snapshot.db");
    let out = home.run_ok(&["backup", "--out", snapshot.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("NOT in the backup"), "{said}");
    assert!(said.contains("master.key"), "{said}");
    // A restore cannot pull the store from under a running server.
    let busy = home.run(&["restore", snapshot.to_str().unwrap(), "--force"]);
    assert!(!busy.status.success());
    assert!(
        contains(&busy.stderr, "in use by another process"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    for call in calls {
        call.await.unwrap().expect("every call is answered");
    }
    drop(server);
    let live = audit_records(&home);
    let live_calls = live.iter().filter(|r| r["kind"] == "tool_call").count();
    assert_eq!(live_calls, 50);
    assert!(
        live.iter()
            .any(|r| r["kind"] == "backup" && r["outcome"] == "ok"),
        "the backup is in the live audit log"
    );

    // The snapshot is sealed: no token, app secret, bearer or key in it.
    let bytes = std::fs::read(&snapshot).unwrap();
    let key = std::fs::read_to_string(home.data_dir().join("master.key")).unwrap();
    for secret in [&token, "app-secret-backup-canary", &bearer, key.trim()] {
        assert!(!contains(&bytes, secret));
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&snapshot).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!home.dir.path().join("snapshot.db-wal").exists());

    // Without --force, or with another key, nothing is replaced.
    let before = std::fs::read(home.db()).unwrap();
    let refused = home.run(&["restore", snapshot.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(contains(&refused.stderr, "pass --force"));
    let wrong_key = home
        .cmd(&["restore", snapshot.to_str().unwrap(), "--force"])
        .env(
            "MCPIST_MASTER_KEY",
            "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8A=",
        )
        .output()
        .unwrap();
    assert!(!wrong_key.status.success());
    assert!(
        contains(&wrong_key.stderr, "master key does not open"),
        "{}",
        String::from_utf8_lossy(&wrong_key.stderr)
    );
    assert_eq!(std::fs::read(home.db()).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(home.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("restor"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let restored = home.run_ok(&["restore", snapshot.to_str().unwrap(), "--force"]);
    let said = String::from_utf8_lossy(&restored.stderr).into_owned();
    assert!(
        said.contains("1 account(s)") && said.contains("intact"),
        "{said}"
    );
    let aside: Vec<_> = std::fs::read_dir(home.data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("mcpist.db.before-restore-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap().len(), before.len());

    let accounts: Value =
        serde_json::from_slice(&home.run_ok(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(accounts[0]["account"], "work");
    assert_eq!(accounts[0]["identity"], "octocat");
    let apps = home.run_ok(&["apps", "list"]);
    assert!(
        contains(&apps.stdout, "client id Iv1.backup, secret stored"),
        "{}",
        String::from_utf8_lossy(&apps.stdout)
    );
    assert_eq!(bearer_token(&home), bearer);
    let verify = home.run_ok(&["audit", "--verify"]);
    assert!(contains(&verify.stdout, "the audit chain is intact"));
    // The snapshot is one commit of a busy log: some calls in, not all done.
    let records = audit_records(&home);
    let last = records.last().unwrap();
    assert_eq!(last["kind"], "restore");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains(".before-restore-"),
        "{last}"
    );
    let calls_in_snapshot = records.iter().filter(|r| r["kind"] == "tool_call").count();
    assert!((1..=50).contains(&calls_in_snapshot), "{calls_in_snapshot}");
    assert!(
        records.iter().any(|r| r["outcome"] == "pending"),
        "the snapshot was taken while slow calls were in flight"
    );
    // The restored store works: a server on it answers with the same account.
    let server = spawn_http(&home);
    let client = http_client(&server, &bearer).await;
    let me = client
        .call_tool(request("github_get_me", json!({})))
        .await
        .unwrap();
    assert_eq!(me.is_error, Some(false), "{}", text(&me));
    client.cancel().await.unwrap();
}

/// The value of `key = "..."` in a TOML text.
fn toml_string(text: &str, key: &str) -> String {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_files_agree_and_a_request_through_the_proxy_is_served() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let read = |name: &str| std::fs::read_to_string(deploy.join(name)).unwrap();
    let (unit, caddy, config) = (
        read("mcpist.service"),
        read("Caddyfile"),
        read("mcpist.toml"),
    );
    let public_url = toml_string(&config, "public_url");
    let bind = toml_string(&config, "bind");
    let site = caddy
        .lines()
        .find(|l| l.ends_with(" {") && !l.starts_with(['#', '\t', ' ']))
        .map(|l| l.trim_end_matches(" {").to_owned())
        .expect("a site block");
    assert_eq!(public_url, format!("https://{site}"));
    assert!(
        caddy.contains(&format!("reverse_proxy {bind} {{")),
        "{caddy}"
    );
    // The unit points the binary at the config and at its state directory.
    for line in [
        "ExecStart=/usr/local/bin/mcpist serve",
        "Environment=MCPIST_CONFIG=/etc/mcpist/mcpist.toml",
        "Environment=XDG_DATA_HOME=/var/lib",
        "ConfigurationDirectory=mcpist",
        "StateDirectory=mcpist",
        "StateDirectoryMode=0700",
        "User=mcpist",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }

    // MCPist with that config answers what Caddy forwards: the public
    // Host and Origin, with the bearer.
    let home = Home::new();
    home.write_config(&config);
    home.run_ok(&["init"]);
    let (_, checks) = doctor(&home);
    for name in ["config", "http bind", "public url"] {
        assert_eq!(check(&checks, name).0, "pass", "{name}: {checks:#?}");
    }
    let bearer = bearer_token(&home);
    // The shipped config logs JSON: every line of stderr parses.
    let server = Served::start(&home, true);
    let http = reqwest::Client::new();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "proxy", "version": "1"}}});
    let post = |host: &str, auth: Option<&str>| {
        let mut req = http
            .post(&server.url)
            .header("Host", host)
            .header("Origin", &public_url)
            .header("X-Forwarded-Proto", "https")
            .header("Accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(bearer) = auth {
            req = req.bearer_auth(bearer);
        }
        req.send()
    };
    assert_eq!(post(&site, Some(&bearer)).await.unwrap().status(), 200);
    assert_eq!(post(&site, None).await.unwrap().status(), 401);
    assert_eq!(
        post("evil.example", Some(&bearer)).await.unwrap().status(),
        403
    );
}

/// `mcpist serve` on an ephemeral port whose stderr lines are collected
/// (until it exits) by a thread; the URL comes from the line that announces it.
struct Served {
    child: Option<Child>,
    url: String,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Served {
    fn start(home: &Home, json_logs: bool) -> Self {
        let mut child = home
            .cmd(&["serve", "--bind", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let url = loop {
            let line = stderr
                .next()
                .unwrap_or_else(|| panic!("serve exited: {:?}", lines.lock().unwrap()))
                .unwrap();
            lines.lock().unwrap().push(line.clone());
            let message = if json_logs {
                let event: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
                event["message"].as_str().unwrap_or("").to_owned()
            } else {
                line
            };
            if let Some(at) = message.find("MCP at ") {
                break message[at + 7..].trim().to_owned();
            }
        };
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in stderr.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child: Some(child),
            url,
            lines,
            reader: Some(reader),
        }
    }

    /// Sends SIGTERM and waits (off the async threads) for the exit status
    /// and every line of stderr.
    async fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().unwrap();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let reader = self.reader.take().unwrap();
        let status = tokio::task::spawn_blocking(move || {
            let status = child.wait().unwrap();
            reader.join().unwrap();
            status
        })
        .await
        .unwrap();
        (status, self.lines.lock().unwrap().clone())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_one_event_per_call_with_the_audit_fields_and_no_secret() {
    let token = canary("jsonlog");
    let (home, fake) = github_home(&token).await;
    home.write_config(&format!(
        "{}\n[log]\nformat = \"json\"\n",
        config_for(&fake.base_url())
    ));
    let bearer = bearer_token(&home);
    let server = Served::start(&home, true);
    let client = http_client_at(&server.url, &bearer).await;
    let me = client
        .call_tool(request("github_get_me", json!({"account": "work"})))
        .await
        .unwrap();
    assert_eq!(me.is_error, Some(false), "{}", text(&me));
    client.cancel().await.unwrap();
    let (status, lines) = server.terminate().await;
    assert!(status.success(), "{status:?}");

    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let calls: Vec<&Value> = events
        .iter()
        .filter(|e| e["message"] == "tool call")
        .collect();
    assert_eq!(calls.len(), 1, "{lines:#?}");
    let call = calls[0];
    let record = audit_records(&home)
        .into_iter()
        .find(|r| r["kind"] == "tool_call")
        .unwrap();
    assert_eq!(call["level"], "INFO");
    for (field, value) in [
        ("seq", record["seq"].clone()),
        ("request_id", record["request_id"].clone()),
        ("service", "github".into()),
        ("account", "work".into()),
        ("tool", "github_get_me".into()),
        ("outcome", "ok".into()),
        ("upstream_status", 200.into()),
        ("latency_ms", record["latency_ms"].clone()),
    ] {
        assert_eq!(call[field], value, "{field} in {call}");
    }
    assert_eq!(record["service"], "github");
    assert_eq!(record["account"], "work");
    let all = lines.join("\n");
    assert!(!all.contains(&token), "the token reached the logs");
    assert!(!all.contains(&bearer), "the bearer reached the logs");
}

/// Starts `n` calls that wait 3 s at the fake ("slow" owner) and returns
/// once the fake has seen all of them, so they are in flight.
async fn slow_calls(
    client: &Arc<RunningService<RoleClient, ()>>,
    fake: &FakeGithub,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<CallToolResult, ServiceError>>> {
    let calls = (0..n)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .call_tool(request(
                        "github_list_issues",
                        json!({"owner": "slow", "repo": format!("r{i}")}),
                    ))
                    .await
            })
        })
        .collect();
    seen(fake, "/repos/slow/", n).await;
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_calls_in_flight_finish_each_with_one_answer_and_one_audit_record() {
    let (home, fake) = github_home(&canary("sigterm")).await;
    home.write_config(&config_for(&fake.base_url()));
    let bearer = bearer_token(&home);
    let server = Served::start(&home, false);
    let client = Arc::new(http_client_at(&server.url, &bearer).await);
    let calls = slow_calls(&client, &fake, 8).await;
    let exit = tokio::spawn(server.terminate());
    let mut answers = Vec::new();
    for call in calls {
        let answer = tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("every call is answered")
            .unwrap();
        answers.push(answer);
    }
    let (status, lines) = exit.await.unwrap();
    assert!(status.success(), "{status:?}: {lines:#?}");
    // Within the grace period each call ran to its end: a real result (the
    // fake has no repository of that owner: GitHub's 404 as a tool error).
    for answer in &answers {
        let result = answer.as_ref().expect("a result, not a cut connection");
        assert_eq!(result.is_error, Some(true));
        assert!(
            text(result).contains("404") || text(result).contains("Not Found"),
            "{}",
            text(result)
        );
    }
    let records: Vec<Value> = audit_records(&home)
        .into_iter()
        .filter(|r| r["kind"] == "tool_call")
        .collect();
    assert_eq!(records.len(), 8, "{records:#?}");
    for record in &records {
        assert_eq!(record["outcome"], "tool_error", "{record}");
        assert_eq!(record["upstream_status"], 404, "{record}");
    }
    assert!(contains(
        &home.run_ok(&["audit", "--verify"]).stdout,
        "0 pending"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_that_outlast_the_grace_period_are_cut_and_the_server_still_exits_zero() {
    let (home, fake) = github_home(&canary("grace")).await;
    home.write_config(&format!(
        "[server]\nshutdown_grace_secs = 1\n\n{}",
        config_for(&fake.base_url())
    ));
    let bearer = bearer_token(&home);
    let server = Served::start(&home, false);
    let client = Arc::new(http_client_at(&server.url, &bearer).await);
    let calls = slow_calls(&client, &fake, 3).await;
    let (status, lines) = server.terminate().await;
    assert!(status.success(), "{status:?}: {lines:#?}");
    assert!(lines.iter().any(|l| l.contains("cut off")), "{lines:#?}");
    for call in calls {
        let answer = tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("a cut call still ends")
            .unwrap();
        let result = answer.expect("a clean answer, not a dropped connection");
        assert_eq!(result.is_error, Some(true));
        assert!(text(&result).starts_with("cut off"), "{}", text(&result));
    }
    let records: Vec<Value> = audit_records(&home)
        .into_iter()
        .filter(|r| r["kind"] == "tool_call")
        .collect();
    assert_eq!(records.len(), 3, "{records:#?}");
    for record in &records {
        assert_eq!(record["outcome"], "interrupted", "{record}");
    }
    assert!(contains(
        &home.run_ok(&["audit", "--verify"]).stdout,
        "0 pending"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_and_its_key_restore_on_a_fresh_machine() {
    let (old, fake) = github_home(&canary("fresh")).await;
    let snapshot = old.dir.path().join("snapshot.db");
    old.run_ok(&["backup", "--out", snapshot.to_str().unwrap()]);

    let new = Home::new();
    new.write_config(&config_for(&fake.base_url()));
    let no_key = new.run(&["restore", snapshot.to_str().unwrap()]);
    assert!(!no_key.status.success());
    assert!(
        contains(
            &no_key.stderr,
            "a backup opens only with the key it was sealed with"
        ),
        "{}",
        String::from_utf8_lossy(&no_key.stderr)
    );
    assert!(!new.db().exists(), "nothing was put in place");
    // The key travels separately, as the backup command said.
    let key = std::fs::read(old.data_dir().join("master.key")).unwrap();
    let key_path = new.data_dir().join("master.key");
    std::fs::create_dir_all(new.data_dir()).unwrap();
    write_private(&key_path, &key);
    new.run_ok(&["restore", snapshot.to_str().unwrap()]);
    let (out, checks) = doctor(&new);
    assert!(out.status.success(), "{checks:#?}");
    assert_eq!(check(&checks, "account github/work").0, "pass");
    assert_eq!(bearer_token(&new), bearer_token(&old));
}

/// A snapshot whose audit chain was edited would pass off altered history
/// as the store's: refused (with nothing replaced) unless accepted by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_with_a_broken_audit_chain_is_refused_unless_accepted() {
    let (home, _fake) = github_home(&canary("brokenchain")).await;
    let snapshot = home.dir.path().join("snapshot.db");
    home.run_ok(&["backup", "--out", snapshot.to_str().unwrap()]);
    let conn = rusqlite::Connection::open(&snapshot).unwrap();
    let edited = conn
        .execute(
            "UPDATE audit SET time_ms = time_ms + 1 WHERE seq = (SELECT min(seq) FROM audit)",
            [],
        )
        .unwrap();
    assert_eq!(edited, 1);
    drop(conn);
    let live = std::fs::read(home.db()).unwrap();
    let out = home.run(&["restore", snapshot.to_str().unwrap(), "--force"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("audit chain") && err.contains("--accept-broken-audit"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(home.db()).unwrap(),
        live,
        "nothing was replaced"
    );
    let aside = std::fs::read_dir(home.data_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("before-restore")
        })
        .count();
    assert_eq!(aside, 0);
    let out = home.run_ok(&[
        "restore",
        snapshot.to_str().unwrap(),
        "--force",
        "--accept-broken-audit",
    ]);
    assert!(
        contains(&out.stderr, "BROKEN"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `bytes` to a new file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

/// `mcpist serve` on an initialised home with `server` as its `[server]` table.
fn serve_with_server_table(server: &str) -> (Home, HttpServer, String) {
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config(&format!("[server]\n{server}\n"));
    let http = spawn_http(&home);
    let addr = http
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    (home, http, addr)
}

/// Whether the server closes `stream` before `deadline` (whatever it sends first).
fn closed_before(stream: &mut std::net::TcpStream, deadline: std::time::Instant) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// Sends `GET /healthz` on `stream` and reads until the answer arrives or
/// `wait` passes; returns what was read.
fn healthz(stream: &mut std::net::TcpStream, send: bool, wait: Duration) -> String {
    use std::io::{Read, Write};
    if send {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
    }
    let deadline = std::time::Instant::now() + wait;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !contains(&seen, "ok mcpist") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn half_sent_requests_and_silent_connections_are_closed_after_the_configured_timeouts() {
    let (_home, _server, addr) =
        serve_with_server_table("header_read_timeout_secs = 1\nidle_timeout_secs = 1");
    let mut open: Vec<std::net::TcpStream> = (0..50)
        .map(|_| {
            use std::io::Write;
            let mut half = std::net::TcpStream::connect(&addr).unwrap();
            half.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
                .unwrap();
            half
        })
        .collect();
    open.push(std::net::TcpStream::connect(&addr).unwrap());
    // Generous: the timeouts are 1 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let still_open = open
        .iter_mut()
        .map(|stream| closed_before(stream, deadline))
        .filter(|closed| !closed)
        .count();
    assert_eq!(still_open, 0, "of 51 slow connections");
    // A prompt client is still served.
    let mut prompt = std::net::TcpStream::connect(&addr).unwrap();
    let answer = healthz(&mut prompt, true, Duration::from_secs(20));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn connections_beyond_the_cap_wait_unserved_until_one_closes() {
    // Kept-alive connections wait for their next request up to the idle
    // timeout (60 s by default), not the header timeout.
    let (_home, _server, addr) =
        serve_with_server_table("max_connections = 2\nheader_read_timeout_secs = 1");
    let mut holders: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut held = std::net::TcpStream::connect(&addr).unwrap();
            let answer = healthz(&mut held, true, Duration::from_secs(20));
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            held
        })
        .collect();
    // Both held connections stay open (kept alive); a third is not served.
    let mut third = std::net::TcpStream::connect(&addr).unwrap();
    let early = healthz(&mut third, true, Duration::from_secs(2));
    assert_eq!(early, "", "served beyond the cap");
    drop(holders.pop());
    let answer = healthz(&mut third, false, Duration::from_secs(20));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The remaining holder, idle for over 2 s, still serves its next request.
    let again = healthz(&mut holders[0], true, Duration::from_secs(20));
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
}
