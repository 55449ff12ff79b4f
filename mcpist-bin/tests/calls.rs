//! What the real `mcpist` process writes about tool calls and its config:
//! its logs on a pipe, at `debug`, and its config errors, carry no escape
//! codes, argument values or secrets.

use std::process::Stdio;

use mcpist_tests::canary;
use rmcp::{ServiceExt as _, model::CallToolRequestParams, transport::TokioChildProcess};
use serde_json::json;
use tokio::io::AsyncReadExt as _;

mod support;
use support::*;

/// Runs `calls` over stdio with `MCPIST_LOG=log` and stderr on a pipe;
/// returns everything the server wrote to stderr.
async fn stderr_of_calls(home: &Home, log: &str, calls: &[(&str, serde_json::Value)]) -> Vec<u8> {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", home.dir.path().join("config"))
        .env("XDG_DATA_HOME", home.dir.path().join("data"))
        .env("MCPIST_LOG", log)
        .args(["serve", "--stdio"]);
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = stderr.expect("stderr is piped");
    let reader = tokio::spawn(async move {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all).await;
        all
    });
    let client = ().serve(transport).await.unwrap();
    for (tool, args) in calls {
        client
            .call_tool(
                CallToolRequestParams::new(tool.to_string())
                    .with_arguments(args.as_object().unwrap().clone()),
            )
            .await
            .unwrap();
    }
    client.cancel().await.unwrap();
    reader.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_on_a_pipe_carry_no_colour_codes() {
    let token = canary("ansi");
    let (home, _fake) = github_home(&token).await;
    let logs = stderr_of_calls(&home, "info", &[("github_get_me", json!({}))]).await;
    let text = String::from_utf8_lossy(&logs);
    assert!(text.contains("tool call"), "the call was logged: {text}");
    assert!(
        !logs.contains(&0x1b),
        "an escape byte in piped logs: {text:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_carry_no_tool_argument_but_rmcp_debug_is_honoured_when_named() {
    let token = canary("debuglog");
    let (home, _fake) = github_home(&token).await;
    let argument = canary("argument");
    let calls = [(
        "github_list_issues",
        json!({"owner": "octocat", "repo": argument}),
    )];
    let logs = String::from_utf8_lossy(&stderr_of_calls(&home, "debug", &calls).await).into_owned();
    assert!(logs.contains("DEBUG"), "debug logs were captured: {logs}");
    assert!(logs.contains("tool call"), "{logs}");
    assert!(
        !logs.contains(&argument),
        "a tool argument in debug logs: {logs}"
    );
    assert!(!logs.contains(&token), "the token in debug logs");

    // Naming rmcp is asking for its messages: they are written.
    let logs = String::from_utf8_lossy(&stderr_of_calls(&home, "info,rmcp=debug", &calls).await)
        .into_owned();
    assert!(
        logs.contains(&argument),
        "rmcp=debug was not honoured: {logs}"
    );
}

#[test]
fn a_config_that_does_not_parse_names_the_file_and_line_but_not_the_password() {
    let home = Home::new();
    let password = canary("dbpassword");
    for (config, needle) in [
        // An unterminated string: the TOML parser's error quoted the line.
        (
            format!(
                "[store]\nkind = \"postgres\"\nurl = \"postgres://mcpist:{password}@db/mcpist\n"
            ),
            "line 3",
        ),
        // A value of the wrong type: serde's error quoted the value.
        (
            format!("[server]\nbind = \"postgres://mcpist:{password}@db/mcpist\"\n"),
            "server.bind",
        ),
        (
            format!(
                "[store]\nkind = \"postgres\"\nurl = \"postgres://mcpist:{password}@db/mcpist\" x\n"
            ),
            "line 3",
        ),
        // A connector's own keys, parsed by the connector.
        (
            format!("[connectors.notion]\nrequests_per_second = \"{password}\"\n"),
            "notion",
        ),
        (
            format!("[connectors.github]\nbase_url = \"https://me:{password}@ghe.example.com\"\n"),
            "base_url",
        ),
    ] {
        home.write_config(&config);
        let out = home.run(&["tools"]);
        assert!(!out.status.success(), "{config}");
        let stderr = stderr(&out);
        assert!(
            stderr.contains("mcpist.toml") || stderr.contains("connectors"),
            "no file in {stderr}"
        );
        assert!(stderr.contains(needle), "no {needle:?} in {stderr}");
        assert!(!stderr.contains(&password), "the password leaked: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_an_upstream_or_client_chose_reach_the_terminal_without_escape_sequences() {
    let token = canary("escapes");
    let fake = mcpist_connectors::github::fake::FakeGithub::start().await;
    let evil = "octo\u{1b}]0;owned\u{7}\u{1b}[2Jcat";
    fake.accept_token(&token, evil);
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config(&format!(
        "[connectors.github]\nbase_url = \"{}\"\n",
        fake.base_url()
    ));
    let added = home.add_token("work", &token);
    // A client picks the account label of a call, and it is audited.
    stdio_calls(&home, &[("github_get_me", json!({"account": evil}))]).await;
    let listed = home.run_ok(&["accounts", "list"]);
    let audit = home.run_ok(&["audit"]);
    for (what, bytes) in [
        ("accounts add", &added.stderr),
        ("accounts list", &listed.stdout),
        ("audit", &audit.stdout),
    ] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !bytes.contains(&0x1b) && !bytes.contains(&0x07),
            "{what}: {text:?}"
        );
        assert!(
            text.contains("\\u{1b}]0;owned"),
            "{what} shows the name escaped: {text}"
        );
    }
}
