//! The real `mcpist` binary: its commands, stdio and HTTP transports, the
//! real rmcp client, a real SQLite file, and a fake GitHub on loopback.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, Stdio},
    sync::{Arc, Mutex},
};

use mcpist_connectors::github::fake::FakeGithub;
use mcpist_tests::canary;
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{
        StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;

mod support;
use support::*;

#[test]
fn init_creates_a_private_store_key_and_config_and_is_idempotent() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let first = home.run_ok(&["init"]);
    let bearer = String::from_utf8(first.stdout).unwrap().trim().to_owned();
    assert!(
        bearer.starts_with("mcpist_") && bearer.len() > 40,
        "{bearer}"
    );
    for file in ["mcpist.db", "master.key"] {
        let mode = std::fs::metadata(home.data_dir().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let mode = std::fs::metadata(home.data_dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(home.config_path().exists());
    // The bearer is stored sealed, not in plaintext.
    assert!(!contains(&home.data_bytes(), &bearer));

    let key = std::fs::read(home.data_dir().join("master.key")).unwrap();
    let second = home.run_ok(&["init"]);
    assert!(
        second.stdout.is_empty(),
        "a second init prints no new bearer"
    );
    assert_eq!(
        std::fs::read(home.data_dir().join("master.key")).unwrap(),
        key
    );
    let shown = home.run_ok(&["bearer", "show"]);
    assert_eq!(String::from_utf8(shown.stdout).unwrap().trim(), bearer);
}

#[test]
fn accounts_can_be_added_listed_defaulted_and_removed_without_showing_secrets() {
    let home = Home::new();
    home.run_ok(&["init"]);
    let (work, home_token) = (canary("cliwork"), canary("clihome"));
    home.add_token("work", &work);
    home.add_token("home", &home_token);
    home.run_ok(&["accounts", "default", "github", "home"]);
    let listed = home.run_ok(&["accounts", "list", "--json"]);
    let accounts: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let summary: Vec<_> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap(),
                a["is_default"].as_bool().unwrap(),
                a["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [("home", true, "ok"), ("work", false, "ok")]);
    let text_list = home.run_ok(&["accounts", "list"]);
    for out in [&listed.stdout, &text_list.stdout, &text_list.stderr] {
        assert!(!contains(out, &work) && !contains(out, &home_token));
    }
    assert!(!contains(&home.data_bytes(), &work));

    home.run_ok(&["accounts", "remove", "github", "home"]);
    let after: Value =
        serde_json::from_slice(&home.run_ok(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(after.as_array().unwrap().len(), 1);
    let missing = home.run(&["accounts", "remove", "github", "home"]);
    assert!(!missing.status.success());
    let bad_label = home.run(&["accounts", "default", "github", "../x"]);
    assert!(String::from_utf8_lossy(&bad_label.stderr).contains("account label must be"));
}

#[test]
fn a_wrong_master_key_is_refused_and_the_store_is_left_byte_for_byte() {
    let home = Home::new();
    home.run_ok(&["init"]);
    home.add_token("work", &canary("wrongkey"));
    let before = std::fs::read(home.db()).unwrap();
    let other_key = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8A=";
    for args in [
        &["accounts", "list"][..],
        &["serve", "--stdio"],
        &["bearer", "show"],
    ] {
        let out = home
            .cmd(args)
            .env("MCPIST_MASTER_KEY", other_key)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded with a wrong key");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("master key does not open the store"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
    assert_eq!(std::fs::read(home.db()).unwrap(), before);
    assert!(
        !home.data_dir().join("mcpist.db-wal").exists()
            || std::fs::read(home.data_dir().join("mcpist.db-wal"))
                .unwrap()
                .is_empty()
    );
}

#[test]
fn a_bad_config_key_names_the_key_and_the_file() {
    let home = Home::new();
    for (config, needles) in [
        (
            "[server]\nbnid = \"127.0.0.1:1\"\n",
            &["server.bnid", "mcpist.toml"][..],
        ),
        (
            "[connectors.github]\nbase_ur = \"https://x\"\n",
            &["base_ur", "connectors.github", "mcpist.toml"],
        ),
        (
            "[connectors.gitlub]\n",
            &["connectors.gitlub", "unknown connector", "github"],
        ),
        (
            "[connectors.github]\nbase_url = \"http://api.github.com\"\n",
            &["only https"],
        ),
    ] {
        home.write_config(config);
        let out = home.run(&["tools"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{config}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{config}: no {needle:?} in {stderr}"
            );
        }
    }

    let out = home
        .cmd(&["tools"])
        .env("MCPIST_SERVER__BIND", "not-an-address")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("server.bind") && stderr.contains("MCPIST_"),
        "{stderr}"
    );
}

#[test]
fn tools_json_is_what_a_client_sees() {
    let home = Home::new();
    let out = home.run_ok(&["tools", "--json"]);
    let tools: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<_> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("notion_")).count(),
        14
    );
    assert_eq!(
        names.iter().filter(|n| n.starts_with("github_")).count(),
        33
    );
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    eprintln!(
        "tools --json: {} bytes for {} tools",
        out.stdout.len(),
        names.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_serves_a_github_tool_and_the_token_appears_nowhere() {
    let token = canary("stdio");
    let (home, fake) = github_home(&token).await;
    let setup_requests = fake.requests().len();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", home.dir.path().join("config"))
        .env("XDG_DATA_HOME", home.dir.path().join("data"))
        .env("MCPIST_LOG", "trace")
        .args(["serve", "--stdio"]);
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained while the server runs: trace logs fill a pipe buffer quickly.
    let mut stderr = stderr.unwrap();
    let stderr_reader = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let client = ().serve(transport).await.unwrap();
    let result = client
        .call_tool(CallToolRequestParams::new("github_get_me"))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let me: Value = serde_json::from_str(&text(&result)).unwrap();
    assert_eq!(me["login"], "octocat");
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(
        tools.len(),
        mcpist_tests::default_tool_count() + 1,
        "every GitHub and Notion tool, and mcpist_batch"
    );
    client.cancel().await.unwrap();

    let stderr_text = stderr_reader.await.unwrap();
    let seen = &fake.requests()[setup_requests..];
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );

    let responses = serde_json::to_string(&(&result, &tools)).unwrap();
    assert!(!responses.contains(&token), "a response carried the token");
    assert!(
        stderr_text.contains("tool call"),
        "trace logs were captured: {stderr_text}"
    );
    assert!(!stderr_text.contains(&token), "stderr carried the token");
    assert!(
        !contains(&home.data_bytes(), &token),
        "the store holds the token in plaintext"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requires_the_bearer_and_refuses_foreign_origins_and_hosts() {
    let token = canary("http");
    let (home, fake) = github_home(&token).await;
    let setup_requests = fake.requests().len();
    let bearer = String::from_utf8(home.run_ok(&["bearer", "show"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let server = spawn_http(&home);
    let http = reqwest::Client::new();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"}}});
    let post = |auth: Option<&str>| {
        let mut req = http
            .post(&server.url)
            .header("Accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        req
    };
    for auth in [
        None,
        Some("Bearer wrong".to_owned()),
        Some(format!("Basic {bearer}")),
        Some(format!("Bearer {bearer}x")),
    ] {
        let response = post(auth.as_deref()).send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        // The challenge points remote (OAuth) clients to the resource metadata.
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with(&format!(
                "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
                server.url.trim_end_matches("/mcp")
            )),
            "{challenge}"
        );
    }
    let response = post(Some(&format!("Bearer {bearer}")))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = post(Some(&format!("Bearer {bearer}")))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = post(Some(&format!("Bearer {bearer}")))
        .header("Origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        fake.requests().len(),
        setup_requests,
        "refused requests reached GitHub"
    );
    let health = http
        .get(server.url.replace("/mcp", "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let config = StreamableHttpClientTransportConfig::with_uri(server.url.clone())
        .auth_header(bearer.clone());
    let client = ().serve(StreamableHttpClientTransport::from_config(config)).await.unwrap();
    let result = client
        .call_tool(
            CallToolRequestParams::new("github_list_issues").with_arguments(
                json!({"owner": "octocat", "repo": "hello-world", "state": "all"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let issues: Value = serde_json::from_str(&text(&result)).unwrap();
    assert_eq!(issues["items"].as_array().unwrap().len(), 3);
    assert!(!serde_json::to_string(&result).unwrap().contains(&token));
    client.cancel().await.unwrap();
    let logs = server.stderr.lock().unwrap().clone();
    assert!(
        !logs.contains(&token) && !logs.contains(&bearer),
        "a secret reached the logs"
    );
}

#[test]
fn the_conformance_fixture_is_not_served_unless_configured() {
    let home = Home::new();
    home.write_config("[connectors.test]\n");
    let out = home.run(&["tools"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Default builds do not even contain it.
    assert!(
        !out.status.success() && stderr.contains("unknown connector"),
        "{stderr}"
    );
}

#[test]
fn a_memory_store_serves_http_only_with_a_bearer_from_the_environment() {
    let home = Home::new();
    home.write_config("[store]\nkind = \"memory\"\n");
    let out = home.run(&["serve", "--bind", "127.0.0.1:0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("MCPIST_BEARER"),
        "{stderr}"
    );
    assert!(!home.data_dir().exists(), "a memory store writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_from_the_environment_needs_32_characters() {
    let home = Home::new();
    home.write_config("[store]\nkind = \"memory\"\n");
    let short = "guessable-bearer-of-31-characte";
    assert_eq!(short.len(), 31);
    let out = output_within(
        home.cmd_env(
            &[("MCPIST_BEARER", short)],
            &["serve", "--bind", "127.0.0.1:0"],
        ),
        std::time::Duration::from_secs(20),
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("MCPIST_BEARER") && said.contains("32 characters"),
        "{said}"
    );
    assert!(!said.contains(short), "the value is never echoed: {said}");

    let long = format!("{short}r");
    let server = spawn_http_env(&home, &[("MCPIST_BEARER", &long)]);
    let answer = reqwest::Client::new()
        .post(&server.url)
        .bearer_auth(&long)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_ne!(answer.status(), 401, "a 32-character bearer is accepted");
}

#[test]
fn tools_shows_what_policy_hides_and_why() {
    let home = Home::new();
    home.write_config("[connectors.github]\nread_only = true\ndeny = [\"*repos\"]\n");
    let out = String::from_utf8(home.run_ok(&["tools"]).stdout).unwrap();
    assert!(
        out.contains("github_create_issue") && out.contains("hidden: read_only = true"),
        "{out}"
    );
    assert!(
        out.contains("github_list_repos") && out.contains("hidden: denied by `*repos`"),
        "{out}"
    );
    let json: Value = serde_json::from_slice(&home.run_ok(&["tools", "--json"]).stdout).unwrap();
    let names: Vec<_> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .filter(|n| n.starts_with("github_"))
        .collect();
    assert_eq!(names.len(), 25, "26 read tools less github_list_repos");
    assert!(names.contains(&"github_get_issue"));
    assert!(!names.contains(&"github_create_issue") && !names.contains(&"github_list_repos"));

    home.write_config("[connectors.github]\nread_only = \"yes\"\n");
    let stderr = String::from_utf8_lossy(&home.run(&["tools"]).stderr).into_owned();
    assert!(
        stderr.contains("connectors.github") && stderr.contains("mcpist.toml"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_every_operation_and_shows_tampering() {
    let (home, _fake) = github_home(&canary("audit")).await;
    home.add_token("home", &canary("audit2"));
    home.run_ok(&["accounts", "default", "github", "work"]);
    stdio_calls(
        &home,
        &[
            ("github_get_me", json!({})),
            (
                "github_get_issue",
                json!({"owner": "octocat", "repo": "hello-world", "issue_number": 42}),
            ),
            ("github_get_me", json!({"account": "nobody"})),
        ],
    )
    .await;
    let out = home.run_ok(&["audit", "--json"]);
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("tool_call", "no_account"),
            ("tool_call", "tool_error"),
            ("tool_call", "ok"),
            ("account_default", "ok"),
            ("account_add", "ok"),
            ("account_add", "ok"),
        ]
    );
    assert_eq!(records[1]["upstream_status"], 404);
    assert_eq!(records[1]["args"]["issue_number"], 42);
    assert_eq!(
        records[1]["args"]["owner"]["len"], 7,
        "strings are summarised, not stored"
    );
    assert!(!records[1].to_string().contains("octocat"));
    let filtered = home.run_ok(&[
        "audit",
        "--service",
        "github",
        "--since",
        "1h",
        "--limit",
        "2",
    ]);
    assert_eq!(
        String::from_utf8(filtered.stdout).unwrap().lines().count(),
        2
    );

    let ok = home.run_ok(&["audit", "--verify"]);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact"));

    let db = rusqlite::Connection::open(home.db()).unwrap();
    db.execute("UPDATE audit SET outcome = 'ok' WHERE seq = 5", [])
        .unwrap();
    drop(db);
    let broken = home.run(&["audit", "--verify"]);
    assert!(!broken.status.success());
    let out = String::from_utf8_lossy(&broken.stdout);
    assert!(
        out.contains("BROKEN: the outcome of record 5 was changed"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_rotate_replaces_the_token_clients_must_send() {
    let home = Home::new();
    let old = String::from_utf8(home.run_ok(&["init"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let new = String::from_utf8(home.run_ok(&["bearer", "rotate"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert_ne!(old, new);
    assert_eq!(
        String::from_utf8(home.run_ok(&["bearer", "show"]).stdout)
            .unwrap()
            .trim(),
        new
    );
    let server = spawn_http(&home);
    let http = reqwest::Client::new();
    let status = |token: String| {
        http.post(&server.url)
            .header("Accept", "application/json, text/event-stream")
            .header("Authorization", format!("Bearer {token}"))
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}}),
            )
            .send()
    };
    assert_eq!(status(old).await.unwrap().status(), 401);
    assert_eq!(status(new).await.unwrap().status(), 200);
    let audit = String::from_utf8(home.run_ok(&["audit"]).stdout).unwrap();
    assert!(audit.contains("bearer_rotate"), "{audit}");
}

/// Plants a canary in every secret MCPist handles and looks for it
/// everywhere something leaves: stdout, stderr at trace level, every MCP
/// response, the audit log, listings, and the SQLite file with its WAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_leaves_through_any_channel() {
    let token = canary("sweep");
    let master_key = "Q0FOQVJZbWFzdGVya2V5Q0FOQVJZbWFzdGVya2V5MDA="; // base64 of 32 bytes
    let fake = FakeGithub::start().await;
    fake.accept_token(&token, "octocat");
    let home = Home::new();
    let with_key = |args: &[&str]| {
        let mut cmd = home.cmd(args);
        cmd.env("MCPIST_MASTER_KEY", master_key)
            .env("MCPIST_LOG", "trace")
            .env("RUST_BACKTRACE", "1");
        cmd
    };
    let init = with_key(&["init"]).output().unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let bearer = String::from_utf8(init.stdout).unwrap().trim().to_owned();
    home.write_config(&format!(
        "[connectors.github]\nbase_url = \"{}\"\ndeny = [\"github_update_issue\"]\n",
        fake.base_url()
    ));
    let mut add = with_key(&[
        "accounts",
        "add",
        "github",
        "--account",
        "work",
        "--token-stdin",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(format!("  {token}\n").as_bytes())
        .unwrap();
    let add = add.wait_with_output().unwrap();
    assert!(add.status.success());

    let mut serve = with_key(&["serve", "--bind", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(serve.stderr.take().unwrap());
    let mut logs = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "server exited: {logs}"
        );
        logs.push_str(&line);
        if let Some(at) = line.find("MCP at ") {
            break line[at + 7..].trim().to_owned();
        }
    };
    let log_sink = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        rest
    });
    let http = reqwest::Client::new();
    let mut headers = String::new();
    for auth in ["Bearer wrong-bearer", "", "Basic Zm9vOmJhcg=="] {
        let answer = http
            .post(&url)
            .header("Authorization", auth)
            .body("{}")
            .send()
            .await
            .unwrap();
        for (name, value) in answer.headers() {
            headers.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        headers.push_str(&answer.text().await.unwrap());
    }
    assert!(headers.contains("www-authenticate"), "{headers}");
    let config =
        StreamableHttpClientTransportConfig::with_uri(url.clone()).auth_header(bearer.clone());
    let client = ().serve(StreamableHttpClientTransport::from_config(config)).await.unwrap();
    let mut responses = serde_json::to_string(&client.list_all_tools().await.unwrap()).unwrap();
    let calls = [
        ("github_get_me", json!({})),
        (
            "github_get_issue",
            json!({"owner": "octocat", "repo": "hello-world", "issue_number": 1}),
        ),
        (
            "github_get_issue",
            json!({"owner": "octocat", "repo": "hello-world", "issue_number": 77}),
        ),
        ("github_list_issues", json!({"owner": "echo", "repo": "x"})),
        (
            "github_list_issues",
            json!({"owner": "broken", "repo": "x"}),
        ),
        (
            "github_get_issue",
            json!({"owner": "octocat", "repo": "hello-world", "issue_number": "x"}),
        ),
        (
            "github_update_issue",
            json!({"owner": "octocat", "repo": "hello-world", "issue_number": 1, "state": "closed"}),
        ),
        ("github_get_me", json!({"account": "nobody"})),
    ];
    for (tool, args) in calls {
        let result = client
            .call_tool(
                CallToolRequestParams::new(tool).with_arguments(args.as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        responses.push_str(&serde_json::to_string(&result).unwrap());
    }
    let unknown = client
        .call_tool(CallToolRequestParams::new("github_nope"))
        .await
        .unwrap_err();
    responses.push_str(&unknown.to_string());
    client.cancel().await.unwrap();
    assert!(
        responses.contains("Validation Failed"),
        "the echoing upstream was exercised"
    );
    let _ = serve.kill();
    let serve_out = serve.wait_with_output().unwrap();
    logs.push_str(&log_sink.join().unwrap());
    assert!(logs.contains("tool call"), "trace logs were captured");

    let mut outputs = vec![
        (
            "serve stdout",
            String::from_utf8_lossy(&serve_out.stdout).into_owned(),
        ),
        ("serve stderr", logs),
        ("MCP responses", responses),
        ("HTTP response headers and bodies", headers),
        (
            "accounts add",
            String::from_utf8_lossy(&add.stdout).into_owned()
                + &String::from_utf8_lossy(&add.stderr),
        ),
    ];
    for args in [
        &["audit", "--json", "--limit", "1000"][..],
        &["accounts", "list", "--json"],
        &["tools", "--json"],
        &["audit", "--verify"],
    ] {
        let out = with_key(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push((
            "command",
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        ));
    }
    let data = home.data_bytes();
    for (secret_name, secret) in [
        ("token", token.as_str()),
        ("bearer", &bearer),
        ("master key", master_key),
    ] {
        for (form, encoded) in encoded_forms(secret) {
            for (channel, text) in &outputs {
                assert!(
                    !text.contains(&encoded),
                    "the {secret_name} leaked through {channel} ({form})"
                );
            }
            assert!(
                !contains(&data, &encoded),
                "the {secret_name} is on disk in plaintext ({form})"
            );
        }
    }
    assert!(
        !home.data_dir().join("master.key").exists(),
        "MCPIST_MASTER_KEY wins over a key file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_add_records_who_the_token_belongs_to_and_refuses_nothing_silently() {
    let token = canary("identity");
    let (home, _fake) = github_home(&token).await;
    let listed: Value =
        serde_json::from_slice(&home.run_ok(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["identity"], "octocat");
    let out = home.add_token("bad", &canary("unknown-to-github"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not confirm"), "{stderr}");
}

/// `mcpist login` as a child, with the URL it prints.
struct Login {
    child: Child,
    url: String,
    stderr: std::thread::JoinHandle<String>,
}

fn start_login(home: &Home, args: &[&str]) -> Login {
    let mut all = vec!["login", "github", "--no-browser"];
    all.extend_from_slice(args);
    let mut child = home
        .cmd(&all)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "login exited: {seen}"
        );
        seen.push_str(&line);
        if let Some(url) = line.trim().strip_prefix("http") {
            break format!("http{url}");
        }
    };
    let stderr = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
        seen + &rest
    });
    Login { child, url, stderr }
}

async fn oauth_home() -> (Home, FakeGithub) {
    let fake = FakeGithub::start().await;
    fake.register_app("Iv1.cli", "cli-secret-canary-5e1f");
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config(&format!(
        "[connectors.github]\nbase_url = \"{}\"\n",
        fake.base_url()
    ));
    let mut set = home
        .cmd(&[
            "apps",
            "set",
            "github",
            "--client-id",
            "Iv1.cli",
            "--client-secret-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    set.stdin
        .take()
        .unwrap()
        .write_all(b"cli-secret-canary-5e1f\n")
        .unwrap();
    let out = set.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("/oauth/callback/github"));
    (home, fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_runs_the_whole_flow_through_a_browser_that_follows_redirects() {
    let (home, fake) = oauth_home().await;
    let mut login = start_login(&home, &["--account", "work"]);
    let url = url::Url::parse(&login.url).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["client_id"], "Iv1.cli");
    assert!(query["redirect_uri"].starts_with("http://127.0.0.1:"));
    assert_eq!(query["state"].len(), 64);

    // A forged callback with another state is refused and the login goes on waiting.
    let callback = query["redirect_uri"].clone();
    let forged = reqwest::get(format!("{callback}?code=x&state=forged"))
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    let page = reqwest::get(login.url.clone()).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Connected"), "{html}");
    let status = login.child.wait().unwrap();
    let stderr = login.stderr.join().unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("Connected account 'work' of github as octocat"),
        "{stderr}"
    );
    assert_eq!(fake.token_requests(), 1);

    // The one-login listener is gone after the login, so a replay cannot
    // reach it here; replays against a callback that stays up (the web
    // UI's) are refused in web.rs, a_replayed_oauth_callback_is_refused_*.
    let replay = reqwest::get(format!("{callback}?code=code1&state={}", query["state"])).await;
    assert!(
        replay.is_err(),
        "the callback listener is gone after the login"
    );

    let listed: Value =
        serde_json::from_slice(&home.run_ok(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["kind"], "oauth");
    assert_eq!(listed[0]["identity"], "octocat");
    assert!(listed[0]["expires_at"].as_u64().unwrap() > 0);
    let audit = String::from_utf8(home.run_ok(&["audit"]).stdout).unwrap();
    assert!(audit.contains("login"), "{audit}");

    // The grant works for tool calls.
    let results = stdio_calls(&home, &[("github_get_me", json!({}))]).await;
    assert_eq!(results[0].is_error, Some(false), "{}", text(&results[0]));

    // No secret reached the output or the disk in plaintext, in any
    // encoding; the PKCE verifier included.
    let data = home.data_bytes();
    let everything = format!("{stderr}{html}{audit}");
    let verifiers = fake.code_verifiers();
    assert_eq!(verifiers.len(), 1);
    assert!(verifiers[0].len() >= 43, "RFC 7636: 43-128 characters");
    let mut secrets = vec!["cli-secret-canary-5e1f", "ghu_fake", "ghr_fake", "code1"];
    secrets.push(&verifiers[0]);
    for secret in secrets {
        for (form, encoded) in encoded_forms(secret) {
            assert!(
                !everything.contains(&encoded),
                "{secret} leaked into output ({form})"
            );
            assert!(
                !contains(&data, &encoded),
                "{secret} is on disk in plaintext ({form})"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_login_says_so_and_stores_nothing() {
    let (home, fake) = oauth_home().await;
    fake.oauth(|b| b.deny = true);
    let mut login = start_login(&home, &["--account", "work"]);
    let page = reqwest::get(login.url.clone()).await.unwrap();
    assert_eq!(page.status(), 400);
    let html = page.text().await.unwrap();
    assert!(html.contains("access_denied"), "{html}");
    assert!(!login.child.wait().unwrap().success());
    let stderr = login.stderr.join().unwrap();
    assert!(
        stderr.contains("refused the login: access_denied"),
        "{stderr}"
    );
    let listed: Value =
        serde_json::from_slice(&home.run_ok(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(listed, json!([]));
    assert_eq!(fake.token_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_without_an_app_says_how_to_register_one() {
    let fake = FakeGithub::start().await;
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config(&format!(
        "[connectors.github]\nbase_url = \"{}\"\n",
        fake.base_url()
    ));
    let out = home.run(&["login", "github", "--no-browser"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("mcpist apps set github --client-id ID --client-secret-stdin"),
        "{stderr}"
    );
}

#[test]
fn a_login_that_gets_no_answer_times_out_and_stores_nothing() {
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config("[oauth]\nlogin_timeout_secs = 1\n");
    let mut set = home
        .cmd(&[
            "apps",
            "set",
            "github",
            "--client-id",
            "Iv1.x",
            "--client-secret-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    set.stdin.take().unwrap().write_all(b"s\n").unwrap();
    assert!(set.wait().unwrap().success());
    let mut login = start_login(&home, &["--account", "work"]);
    let url = url::Url::parse(&login.url).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let status = login.child.wait().unwrap();
    let stderr = login.stderr.join().unwrap();
    assert!(
        !status.success() && stderr.contains("timed out"),
        "{stderr}"
    );
    // Nothing was stored, and a callback arriving late finds no listener
    // that could still store what it carries.
    let listed: Value =
        serde_json::from_slice(&home.run_ok(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(listed, json!([]));
    let redirect = url::Url::parse(&query["redirect_uri"]).unwrap();
    let port = redirect.port().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the callback listener on {port} is closed after the timeout"
    );
}

#[test]
fn key_rotate_reseals_everything_and_an_interrupted_rotation_finishes_itself() {
    let home = Home::new();
    let bearer = String::from_utf8(home.run_ok(&["init"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let token = canary("rotate");
    home.add_token("work", &token);
    let key_path = home.data_dir().join("master.key");
    let old_key = std::fs::read(&key_path).unwrap();
    let out = home.run_ok(&["key", "rotate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("values re-sealed"), "{stderr}");
    let new_key = std::fs::read(&key_path).unwrap();
    assert_ne!(old_key, new_key);
    assert_eq!(
        String::from_utf8(home.run_ok(&["bearer", "show"]).stdout)
            .unwrap()
            .trim(),
        bearer
    );
    let verify = home.run_ok(&["audit", "--verify"]);
    assert!(String::from_utf8_lossy(&verify.stdout).contains("intact"));
    let audit = String::from_utf8(home.run_ok(&["audit"]).stdout).unwrap();
    assert!(
        audit.contains("key_rotate") && audit.contains("values re-sealed"),
        "{audit}"
    );
    assert!(!contains(&home.data_bytes(), &token));

    // The old key no longer opens the store.
    let old_text = String::from_utf8(old_key.clone()).unwrap();
    let out = home
        .cmd(&["accounts", "list"])
        .env("MCPIST_MASTER_KEY", old_text.trim())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("master key does not open"));

    // A crash after the re-seal but before the key file was replaced: the
    // old key file is in place and the new one waits as `.next`.
    std::fs::write(&key_path, &old_key).unwrap();
    std::fs::write(home.data_dir().join("master.key.next"), &new_key).unwrap();
    let out = home.run_ok(&["accounts", "list", "--json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("finished an interrupted key rotation"));
    assert_eq!(std::fs::read(&key_path).unwrap(), new_key);
    assert!(!home.data_dir().join("master.key.next").exists());

    // A crash before the re-seal: a stale `.next` is ignored and discarded.
    std::fs::write(home.data_dir().join("master.key.next"), b"c3RhbGU=\n").unwrap();
    home.run_ok(&["accounts", "list"]);
    home.run_ok(&["key", "rotate"]);
    assert!(!home.data_dir().join("master.key.next").exists());
    home.run_ok(&["accounts", "list"]);
}

#[test]
fn client_configs_parse_and_name_a_binary_and_config_that_exist() {
    let home = Home::new();
    let bearer = String::from_utf8(home.run_ok(&["init"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    for (client, servers_key) in [
        ("claude-desktop", "mcpServers"),
        ("claude-code", "mcpServers"),
        ("cursor", "mcpServers"),
        ("vscode", "servers"),
    ] {
        let out = home.run_ok(&["client-config", client]);
        let config: Value = serde_json::from_slice(&out.stdout).unwrap();
        let entry = &config[servers_key]["mcpist"];
        let command = std::path::Path::new(entry["command"].as_str().unwrap());
        assert!(
            command.is_absolute() && command.exists(),
            "{client}: {entry}"
        );
        let args: Vec<_> = entry["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args[0], "--config");
        assert_eq!(std::path::Path::new(args[1]), home.config_path());
        assert!(home.config_path().exists());
        assert_eq!(&args[2..], ["serve", "--stdio"]);

        let out = home.run_ok(&["client-config", client, "--http"]);
        let config: Value = serde_json::from_slice(&out.stdout).unwrap();
        let entry = &config[servers_key]["mcpist"];
        assert_eq!(entry["url"], "http://127.0.0.1:8765/mcp");
        assert_eq!(
            entry["headers"]["Authorization"],
            format!("Bearer {bearer}")
        );
    }
}

/// A Todoist-like REST API: bearer auth, tasks, `{"error": ...}` failures.
async fn fake_todo(token: &'static str) -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    use axum::{http::StatusCode, response::IntoResponse};
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method, uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((format!("{method} {uri}"), body.clone()));
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {token}")) {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "Invalid token"}))).into_response();
                }
                match (method.as_str(), uri.path()) {
                    ("GET", "/rest/v2/tasks") => axum::Json(json!([
                        {"id": "7", "content": "Buy milk", "project_id": "p1", "due": {"string": "tomorrow", "date": "2026-11-27"}, "priority": 1},
                        {"id": "8", "content": "Ship MCPist", "project_id": "p2", "due": null, "priority": 4}])).into_response(),
                    ("GET", "/rest/v2/tasks/7") => axum::Json(json!({"id": "7", "content": "Buy milk", "due": {"string": "tomorrow"}})).into_response(),
                    ("POST", "/rest/v2/tasks") => {
                        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        axum::Json(json!({"id": "9", "content": body["content"], "due": {"string": body["due_string"]}})).into_response()
                    }
                    _ => (StatusCode::NOT_FOUND, axum::Json(json!({"error": "Task not found"}))).into_response(),
                }
            }
        },
    );
    let addr = mcpist_tests::serve(app).await;
    (format!("http://{addr}/rest/v2"), seen)
}

fn todo_config(base: &str, extra: &str) -> String {
    format!(
        r#"[connectors.github]
enabled = false
[connectors.notion]
enabled = false
[connectors.todo]
kind = "http"
base_url = "{base}"
{extra}
[[connectors.todo.tools]]
name = "list_tasks"
description = "Open tasks."
path = "tasks"
query = ["project_id"]
result = ["id", "content", "due=due/string"]
input_schema = {{ type = "object", properties = {{ project_id = {{ type = "string" }} }}, additionalProperties = false }}
[[connectors.todo.tools]]
name = "get_task"
description = "One task."
path = "tasks/{{id}}"
result = ["id", "content"]
input_schema = {{ type = "object", properties = {{ id = {{ type = "string" }} }} }}
[[connectors.todo.tools]]
name = "create_task"
description = "Add a task."
method = "POST"
path = "tasks"
body = ["content", "due_string"]
result = ["id", "content", "due=due/string"]
input_schema = {{ type = "object", properties = {{ content = {{ type = "string" }}, due_string = {{ type = "string" }} }}, required = ["content"] }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_defined_in_the_config_file_works_like_a_built_in_one() {
    let (base, seen) = fake_todo("todo-token-4d2").await;
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config(&todo_config(&base, ""));
    let tools: Value = serde_json::from_slice(&home.run_ok(&["tools", "--json"]).stdout).unwrap();
    let names: Vec<_> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "mcpist_batch",
            "todo_create_task",
            "todo_get_task",
            "todo_list_tasks"
        ]
    );
    // A write leaves readOnlyHint out (MCP's default is false); a read says
    // true. (tools[0] is the batch tool.)
    assert_eq!(tools[1]["annotations"].get("readOnlyHint"), None);
    assert_eq!(tools[2]["annotations"]["readOnlyHint"], true);
    assert_eq!(
        tools[2]["inputSchema"]["required"],
        json!(["id"]),
        "path arguments are required"
    );

    let mut add = home
        .cmd(&[
            "accounts",
            "add",
            "todo",
            "--account",
            "me",
            "--token-stdin",
            "--no-verify",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"todo-token-4d2\n")
        .unwrap();
    assert!(add.wait().unwrap().success());

    let results = stdio_calls(
        &home,
        &[
            ("todo_list_tasks", json!({"project_id": "p1"})),
            ("todo_get_task", json!({"id": "../projects"})),
            (
                "todo_create_task",
                json!({"content": "Write docs", "due_string": "friday"}),
            ),
            ("todo_get_task", json!({"id": "7"})),
        ],
    )
    .await;
    let listed: Value = serde_json::from_str(&text(&results[0])).unwrap();
    assert_eq!(
        listed[0],
        json!({"id": "7", "content": "Buy milk", "due": "tomorrow"})
    );
    assert_eq!(results[1].is_error, Some(true));
    assert!(
        text(&results[1]).contains("404") && text(&results[1]).contains("Task not found"),
        "{}",
        text(&results[1])
    );
    let created: Value = serde_json::from_str(&text(&results[2])).unwrap();
    assert_eq!(
        created,
        json!({"id": "9", "content": "Write docs", "due": "friday"})
    );
    assert_eq!(results[3].is_error, Some(false));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, "GET /rest/v2/tasks?project_id=p1");
    assert_eq!(
        seen[1].0, "GET /rest/v2/tasks/..%2Fprojects",
        "an id stays one segment"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&seen[2].1).unwrap(),
        json!({"content": "Write docs", "due_string": "friday"})
    );
    let audit = String::from_utf8(home.run_ok(&["audit"]).stdout).unwrap();
    assert_eq!(audit.matches("todo_").count(), 4, "{audit}");

    // Policy applies as to built-in connectors.
    home.write_config(&todo_config(&base, "read_only = true"));
    let tools: Value = serde_json::from_slice(&home.run_ok(&["tools", "--json"]).stdout).unwrap();
    assert_eq!(
        tools.as_array().unwrap().len(),
        2 + 1,
        "two reads and the batch tool"
    );
}

#[test]
fn a_bad_config_defined_service_names_the_connector_the_tool_and_the_key() {
    let home = Home::new();
    let config = todo_config("http://127.0.0.1:9/rest/v2", "")
        .replace("path = \"tasks/{id}\"", "path = \"tasks/{task}\"");
    home.write_config(&config);
    let stderr = String::from_utf8_lossy(&home.run(&["tools"]).stderr).into_owned();
    assert!(
        stderr.contains("[connectors.todo]")
            && stderr.contains("tools[1] (get_task)")
            && stderr.contains("path")
            && stderr.contains("{task}"),
        "{stderr}"
    );
    // `get.task` is a valid label but no tool name: the config check says so,
    // naming the tool, instead of the server refusing `todo_get.task` later.
    let config = todo_config("http://127.0.0.1:9/rest/v2", "")
        .replace("name = \"get_task\"", "name = \"get.task\"");
    home.write_config(&config);
    let stderr = String::from_utf8_lossy(&home.run(&["tools"]).stderr).into_owned();
    assert!(
        stderr.contains("[connectors.todo]") && stderr.contains("tools[1] (get.task): name"),
        "{stderr}"
    );
    home.write_config(&todo_config("http://example.com/api", ""));
    let stderr = String::from_utf8_lossy(&home.run(&["tools"]).stderr).into_owned();
    assert!(stderr.contains("only https"), "{stderr}");
    home.write_config(&todo_config("https://example.com/api", "auth = \"header\""));
    let stderr = String::from_utf8_lossy(&home.run(&["tools"]).stderr).into_owned();
    assert!(stderr.contains("auth_name"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_bearer_and_count_the_calls_made() {
    let (home, _fake) = github_home(&canary("metrics")).await;
    let bearer = String::from_utf8(home.run_ok(&["bearer", "show"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let server = spawn_http(&home);
    let metrics_url = server.url.replace("/mcp", "/metrics");
    let http = reqwest::Client::new();
    assert_eq!(http.get(&metrics_url).send().await.unwrap().status(), 401);
    let health = http
        .get(server.url.replace("/mcp", "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok mcpist 0.1.0");

    let config = StreamableHttpClientTransportConfig::with_uri(server.url.clone())
        .auth_header(bearer.clone());
    let client = ().serve(StreamableHttpClientTransport::from_config(config)).await.unwrap();
    for (tool, args) in [
        ("github_get_me", json!({})),
        ("github_get_me", json!({})),
        (
            "github_get_issue",
            json!({"owner": "octocat", "repo": "hello-world", "issue_number": 404}),
        ),
    ] {
        client
            .call_tool(
                CallToolRequestParams::new(tool).with_arguments(args.as_object().unwrap().clone()),
            )
            .await
            .unwrap();
    }
    client.cancel().await.unwrap();
    let text = http
        .get(&metrics_url)
        .header("Authorization", format!("Bearer {bearer}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "mcpist_tool_calls_total{service=\"github\",tool=\"github_get_me\",outcome=\"ok\"} 2",
        "mcpist_tool_calls_total{service=\"github\",tool=\"github_get_issue\",outcome=\"tool_error\"} 1",
        "mcpist_upstream_responses_total{service=\"github\",status=\"404\"} 1",
        "mcpist_upstream_responses_total{service=\"github\",status=\"200\"} 2",
        "mcpist_tool_call_duration_seconds_count{service=\"github\"} 3",
        "mcpist_accounts{service=\"github\",status=\"ok\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
    assert!(!text.contains(&bearer));
}

/// Runs `mcpist password set` with `password` on standard input.
fn set_password(home: &Home, password: &str) -> std::process::Output {
    home.run_input(&[], &["password", "set"], &format!("{password}\n"))
}

/// The login form's cookie and CSRF token, fetched like a browser would.
async fn login_form(http: &reqwest::Client, base: &str) -> (String, String) {
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let body = page.text().await.unwrap();
    let at = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    (cookie, body[at..at + 64].to_owned())
}

/// The login form's POST with `password`.
fn login_post(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    csrf: &str,
    password: &str,
) -> reqwest::RequestBuilder {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", csrf)
        .append_pair("password", password)
        .finish();
    http.post(format!("{base}/login"))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
}

/// Logs in to the web UI at `base` and returns the session cookie, or the
/// login's HTTP status when it fails.
async fn ui_login(http: &reqwest::Client, base: &str, password: &str) -> Result<String, u16> {
    let (cookie, csrf) = login_form(http, base).await;
    let answer = login_post(http, base, &cookie, &csrf, password)
        .send()
        .await
        .unwrap();
    if answer.status() != 303 {
        return Err(answer.status().as_u16());
    }
    let session = answer.headers()["set-cookie"].to_str().unwrap();
    Ok(session.split(';').next().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_password_comes_from_init_or_password_set_and_policy_saved_in_the_ui_reaches_mcpist_tools()
 {
    let token = canary("uipw");
    let fake = FakeGithub::start().await;
    fake.accept_token(&token, "octocat");
    let home = Home::new();
    let init = home.run_ok(&["init"]);
    let stderr = String::from_utf8(init.stderr).unwrap();
    let at = stderr
        .find("web UI:  password ")
        .expect("init shows the password")
        + 18;
    let first = stderr[at..].split_whitespace().next().unwrap().to_owned();
    assert_eq!(first.len(), 24, "{first}");
    home.write_config(&format!(
        "[connectors.github]\nbase_url = \"{}\"\n",
        fake.base_url()
    ));
    home.add_token("work", &token);
    let again = String::from_utf8(home.run_ok(&["init"]).stderr).unwrap();
    assert!(!again.contains(&first), "shown once: {again}");

    let short = set_password(&home, "too-short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let chosen = "a chosen passphrase, long enough";
    let set = set_password(&home, chosen);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let data = home.data_bytes();
    assert!(
        !contains(&data, &first) && !contains(&data, chosen),
        "only hashes are stored"
    );

    let server = spawn_http(&home);
    let base = server.url.trim_end_matches("/mcp").to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(ui_login(&http, &base, &first).await, Err(401), "replaced");
    let session = ui_login(&http, &base, chosen).await.expect("logs in");

    // Save a read-only policy through the UI's form, every tool switched on.
    let listed: Value = serde_json::from_slice(&home.run_ok(&["tools", "--json"]).stdout).unwrap();
    let all = listed.as_array().unwrap().len();
    let page = http
        .get(format!("{base}/policy/github"))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("csrf", &page[at..at + 64])
        .append_pair("enabled", "on")
        .append_pair("read_only", "on");
    for tool in listed.as_array().unwrap() {
        form.append_pair("tool", tool["name"].as_str().unwrap());
    }
    for part in page.split("name=\"toolset\" value=\"").skip(1) {
        form.append_pair("toolset", part.split('"').next().unwrap());
    }
    let saved = http
        .post(format!("{base}/policy/github"))
        .header("Cookie", &session)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let listed: Value = serde_json::from_slice(&home.run_ok(&["tools", "--json"]).stdout).unwrap();
    let tools = listed.as_array().unwrap();
    assert!(tools.len() < all, "{} of {all}", tools.len());
    let github: Vec<_> = tools
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("github_"))
        .collect();
    assert!(!github.is_empty());
    assert!(
        github
            .iter()
            .all(|t| t["annotations"]["readOnlyHint"] == json!(true))
    );
}

/// The peak resident memory of process `pid` (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_wrong_logins_verify_five_and_keep_the_server_under_100_mib() {
    let home = Home::new();
    home.run_ok(&["init"]);
    let server = spawn_http(&home);
    let base = server.url.trim_end_matches("/mcp").to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (cookie, csrf) = login_form(&http, &base).await;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..200 {
        let request = login_post(&http, &base, &cookie, &csrf, &format!("guess-{i}"));
        attempts.spawn(async move {
            let answer = request.send().await.unwrap();
            (answer.status().as_u16(), answer.text().await.unwrap())
        });
    }
    let mut wrong = 0;
    while let Some(answer) = attempts.join_next().await {
        match answer.unwrap() {
            (401, _) => wrong += 1,
            (429, page) => assert!(page.contains("mcpist password set"), "{page}"),
            (status, page) => panic!("{status}: {page}"),
        }
    }
    let peak = peak_rss_kib(server.child.id());
    eprintln!("peak RSS after 200 concurrent logins: {peak} KiB");
    assert_eq!(wrong, 5, "only five passwords were verified");
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn tools_cost_gives_each_listed_tool_and_both_totals() {
    let home = Home::new();
    let listed: Value = serde_json::from_slice(&home.run_ok(&["tools", "--json"]).stdout).unwrap();
    let listed = listed.as_array().unwrap();
    let out = home.run_ok(&["tools", "--cost"]);
    let out = String::from_utf8(out.stdout).unwrap();
    let row = |label: &str| -> (usize, usize) {
        let line = out
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} in {out}"));
        let figures: Vec<usize> = line
            .split_whitespace()
            .rev()
            .take(2)
            .map(|n| n.parse().unwrap())
            .collect();
        (figures[1], figures[0])
    };
    // Each tool's bytes are its compact JSON in `tools/list`.
    for tool in listed {
        let name = tool["name"].as_str().unwrap();
        let (bytes, tokens) = row(&format!("{name} "));
        assert_eq!(bytes, serde_json::to_string(tool).unwrap().len(), "{name}");
        assert!(tokens > 0 && tokens < bytes, "{name}: {tokens} tokens");
    }
    let (flat_bytes, flat_tokens) = row(&format!("flat total ({} tools)", listed.len()));
    assert_eq!(flat_bytes, serde_json::to_string(listed).unwrap().len());
    let (discover_bytes, discover_tokens) = row("discover total (4 meta-tools)");
    assert!(discover_bytes <= 2048, "{discover_bytes}");
    assert!(discover_tokens * 10 < flat_tokens, "{out}");
    assert!(out.contains("o200k_base"), "{out}");
    eprintln!("tools --cost:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_discover_mode_lists_meta_tools_and_calls_through_them() {
    let token = canary("discover");
    let (home, fake) = github_home(&token).await;
    let config = std::fs::read_to_string(home.config_path()).unwrap();
    home.write_config(&format!("[server]\ntool_mode = \"lazy\"\n{config}"));
    let out = home.run(&["tools"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tool_mode"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    home.write_config(&format!("[server]\ntool_mode = \"discover\"\n{config}"));
    let setup_requests = fake.requests().len();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", home.dir.path().join("config"))
        .env("XDG_DATA_HOME", home.dir.path().join("data"))
        .args(["serve", "--stdio"]);
    let transport = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
        .0;
    let client = ().serve(transport).await.unwrap();
    let instructions = client.peer_info().unwrap().instructions.clone().unwrap();
    assert!(
        instructions.contains("- github (accounts: work)"),
        "{instructions}"
    );
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "mcpist_search_tools",
            "mcpist_describe_tool",
            "mcpist_call_tool",
            "mcpist_batch"
        ]
    );
    let result = client
        .call_tool(
            CallToolRequestParams::new("mcpist_call_tool").with_arguments(
                json!({"name": "github_get_me"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_ne!(result.is_error, Some(true), "{}", text(&result));
    let me: Value = serde_json::from_str(&text(&result)).unwrap();
    assert_eq!(me["login"], "octocat");
    client.cancel().await.unwrap();
    assert_eq!(fake.requests().len() - setup_requests, 1);
    assert!(!serde_json::to_string(&tools).unwrap().contains(&token));
}

/// `mcpist prompts add|list|show|remove` on the real binary and a real
/// store: the text from standard input or a file, arguments from `--arg`;
/// bad input (an undeclared placeholder, a duplicate name, a bad name, a
/// name the config file defines) is refused with a clear error and changes
/// nothing; every change is audited without the text; the text is sealed.
#[test]
fn prompts_are_added_listed_shown_and_removed_and_bad_ones_change_nothing() {
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config(
        "[prompts.review]\ndescription = \"Review a pull request\"\ntext = \"Review {{url}}\"\n\
         arguments = [{ name = \"url\" }]\n",
    );
    let secret_text = canary("PROMPTTEXT");
    let text = format!("Standup notes for {{{{team}}}} on {{{{day}}}}. {secret_text}\n");
    home.run_with_stdin(
        &[
            "prompts",
            "add",
            "standup",
            "--description",
            "Write standup notes",
            "--arg",
            "team",
            "--arg",
            "day:optional",
        ],
        &text,
    );
    let file = home.dir.path().join("triage.md");
    std::fs::write(&file, "Triage {{repo}}").unwrap();
    home.run_ok(&[
        "prompts",
        "add",
        "triage",
        "--arg",
        "repo",
        "--file",
        file.to_str().unwrap(),
    ]);
    let list = |home: &Home| -> Value {
        serde_json::from_slice(&home.run_ok(&["prompts", "list", "--json"]).stdout).unwrap()
    };
    let before = list(&home);
    let summary: Vec<_> = before
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["from"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("my_review", "config"),
            ("my_standup", "store"),
            ("my_triage", "store")
        ]
    );
    assert_eq!(
        before[1]["arguments"],
        json!([
            {"name": "team", "description": "", "required": true},
            {"name": "day", "description": "", "required": false},
        ])
    );
    let shown = String::from_utf8(home.run_ok(&["prompts", "show", "standup"]).stdout).unwrap();
    assert!(shown.contains("from: store"), "{shown}");
    assert!(shown.contains("arguments: team, day (optional)"), "{shown}");
    assert!(shown.contains(text.trim_end()), "{shown}");
    // The text is sealed in the store, like every secret.
    assert!(!contains(&home.data_bytes(), &secret_text));

    let refused = |args: &[&str], input: &str, says: &str| {
        let out = home.run_input(&[], args, input);
        assert!(!out.status.success(), "{args:?} accepted");
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    let add = ["prompts", "add"];
    refused(
        &[&add[..], &["standup", "--arg", "team"]].concat(),
        "Notes for {{team}} and {{mood}}",
        "{{mood}} is not one of its arguments",
    );
    refused(
        &[&add[..], &["standup", "--arg", "team"]].concat(),
        "Other notes for {{team}}",
        "saved already",
    );
    refused(&[&add[..], &["bad name"]].concat(), "text", "a prompt name");
    refused(
        &[&add[..], &["review"]].concat(),
        "text",
        "[prompts.review]",
    );
    refused(
        &[&add[..], &["x", "--arg", "team:maybe"]].concat(),
        "{{team}}",
        ":optional",
    );
    refused(&[&add[..], &["empty"]].concat(), "  \n", "empty");
    refused(
        &["prompts", "remove", "nothing"],
        "",
        "no saved prompt nothing",
    );
    refused(&["prompts", "remove", "review"], "", "[prompts.review]");
    refused(&["prompts", "show", "nothing"], "", "no prompt nothing");
    assert_eq!(list(&home), before, "a refused change changed something");

    // Replacing is explicit.
    home.run_with_stdin(
        &[&add[..], &["triage", "--arg", "repo", "--replace"]].concat(),
        "Triage the open issues of {{repo}}",
    );
    let shown = String::from_utf8(home.run_ok(&["prompts", "show", "triage"]).stdout).unwrap();
    assert!(
        shown.contains("Triage the open issues of {{repo}}"),
        "{shown}"
    );

    home.run_ok(&["prompts", "remove", "standup"]);
    let names: Vec<_> = list(&home)
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["my_review", "my_triage"]);

    let audit =
        String::from_utf8(home.run_ok(&["audit", "--json", "--limit", "50"]).stdout).unwrap();
    let kinds: Vec<(String, String, String)> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"].as_str().unwrap().starts_with("prompt_"))
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_owned(),
                r["tool"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("prompt_set".into(), "my_standup".into(), "ok".into())),
        "{audit}"
    );
    assert!(
        kinds.contains(&("prompt_remove".into(), "my_standup".into(), "ok".into())),
        "{audit}"
    );
    assert!(
        !audit.contains(&secret_text),
        "prompt text audited in clear: {audit}"
    );
    assert!(
        !audit.contains("Standup notes"),
        "prompt text audited in clear: {audit}"
    );

    // A memory store would lose a saved prompt at once: refused, nothing written.
    let memory = Home::new();
    memory.write_config("[store]\nkind = \"memory\"\n");
    let out = memory.run_input(&[], &["prompts", "add", "x"], "text");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("[prompts.NAME]"), "{}", stderr(&out));
    assert!(!memory.data_dir().exists());
}
