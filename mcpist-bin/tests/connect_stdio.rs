//! Connect on demand in a stdio-only setup: `mcpist serve --stdio` runs no
//! web UI, so when a call lacks an account the stdio process opens a
//! one-time loopback listener for the connect page, behind the web UI
//! password, and closes it once the link is used. The official MCP Python
//! SDK drives the real binary over stdio at both protocol versions while
//! headless Chromium completes the connect through OAuth on the fake GitHub.

use std::{
    io::{BufRead, BufReader, Lines, Write},
    process::{ChildStdout, Stdio},
    time::Duration,
};

use mcpist_connectors::github::fake::FakeGithub;
use mcpist_tests::{
    browser::{login, path_of, press, start_browser},
    client_script, python_sdk,
};
use serde_json::Value;

mod support;
use support::*;

const PASSWORD: &str = "stdio connect password 42";
const APP_SECRET: &str = "stdio-app-secret-CANARY-5eed";

/// A home whose GitHub is the fake, with an OAuth app stored and, if
/// `password`, the web UI password set; no account yet.
async fn stdio_home(password: bool) -> (Home, FakeGithub) {
    let fake = FakeGithub::start().await;
    fake.register_app("Iv1.stdio", APP_SECRET);
    fake.oauth(|b| b.login = "monalisa".into());
    let home = Home::new();
    home.write_config(&format!(
        "[connectors.github]\nbase_url = \"{}\"\n",
        fake.base_url()
    ));
    home.run_input_ok(
        &[],
        &[
            "apps",
            "set",
            "github",
            "--client-id",
            "Iv1.stdio",
            "--client-secret-stdin",
        ],
        &format!("{APP_SECRET}\n"),
    );
    if password {
        home.run_input_ok(&[], &["password", "set"], &format!("{PASSWORD}\n"));
    }
    (home, fake)
}

/// The next JSON line `connect.py` printed (blocking: call it off the runtime).
fn next(lines: &mut Lines<BufReader<ChildStdout>>) -> Value {
    let line = lines.next().expect("the client printed a line").unwrap();
    serde_json::from_str(&line).unwrap()
}

/// Runs [`next`] on a blocking thread, handing the lines back.
async fn next_line(
    mut lines: Lines<BufReader<ChildStdout>>,
) -> (Value, Lines<BufReader<ChildStdout>>) {
    tokio::task::spawn_blocking(move || (next(&mut lines), lines))
        .await
        .unwrap()
}

/// Whether anything still accepts connections at `base`.
async fn listening(base: &str) -> bool {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    http.get(format!("{base}/login")).send().await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_stdio_the_python_sdk_connects_through_a_page_opened_on_demand_at_both_versions() {
    let (_driver, browser) = start_browser().await;
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let (home, _fake) = stdio_home(true).await;
        let script = client_script("connect.py");
        let mut child = home
            .program(
                python_sdk().to_str().unwrap(),
                &[("SMOKE_MCPIST", BIN)],
                &[
                    script.to_str().unwrap(),
                    mode,
                    "stdio",
                    "github_get_me",
                    r#"{"account": "new"}"#,
                ],
            )
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (elicited, lines) = next_line(lines).await;
        assert_eq!(elicited["event"], "elicit", "{mode}: {elicited}");
        let url = url::Url::parse(elicited["url"].as_str().unwrap()).unwrap();
        assert_eq!(url.host_str(), Some("127.0.0.1"), "{url}");
        assert_eq!(url.path(), "/connect/github", "{url}");
        let base = url.origin().ascii_serialization();

        // The page needs the web UI login, then OAuth on the fake GitHub.
        browser.goto(url.as_str()).await.unwrap();
        for _ in 0..100 {
            if path_of(&browser).await == "/login" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        login(&browser, &base, PASSWORD).await;
        assert!(
            path_of(&browser)
                .await
                .starts_with("/connect/github?account=new&link="),
            "{mode}: {}",
            path_of(&browser).await
        );
        press(
            &browser,
            "form[action='/connect/github/oauth'] button[type=submit]",
        )
        .await;
        let mut landed = String::new();
        for _ in 0..100 {
            landed = path_of(&browser).await;
            if landed.starts_with("/?connected=") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(landed, "/?connected=github%2Fnew", "{mode}");

        // 2025-11-25: the client is told its elicitation is complete.
        let mut lines = lines;
        if protocol == "2025-11-25" {
            let (complete, rest) = next_line(lines).await;
            lines = rest;
            assert_eq!(complete["event"], "complete", "{complete}");
            assert_eq!(
                complete["elicitation_id"], elicited["elicitation_id"],
                "{complete} {elicited}"
            );
        }

        // The link is used up: the page's listener closes.
        let mut closed = false;
        for _ in 0..100 {
            if !listening(&base).await {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(closed, "{mode}: the connect page still listens at {base}");

        // The client's retry succeeds with the new account.
        child.stdin.as_mut().unwrap().write_all(b"done\n").unwrap();
        let (result, _) = next_line(lines).await;
        assert!(child.wait().unwrap().success());
        assert_eq!(result["event"], "result", "{result}");
        assert_eq!(result["protocol"], protocol, "{result}");
        assert_eq!(result["is_error"], false, "{result}");
        assert!(
            result["text"].as_str().unwrap().contains("monalisa"),
            "{result}"
        );
        assert!(!result.to_string().contains(APP_SECRET));

        // The audit log shows the connect and the call.
        let audit =
            String::from_utf8(home.run_ok(&["audit", "--json", "--limit", "20"]).stdout).unwrap();
        assert!(audit.contains("\"login\""), "{audit}");
        assert!(audit.contains("no_account"), "{audit}");
    }
    browser.close().await.unwrap();
}

/// Without a web UI password no page is opened: the error says how to set
/// one (and still names the commands).
#[tokio::test(flavor = "multi_thread")]
async fn over_stdio_no_link_is_offered_without_a_web_ui_password() {
    let (home, fake) = stdio_home(false).await;
    let script = client_script("smoke.py");
    for mode in ["legacy", "auto"] {
        let out = home
            .program(
                python_sdk().to_str().unwrap(),
                &[("SMOKE_MCPIST", BIN)],
                &[
                    script.to_str().unwrap(),
                    mode,
                    "stdio",
                    "github_get_me",
                    r#"{"account": "new"}"#,
                ],
            )
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seen["is_error"], true, "{seen}");
        let text = seen["text"].as_str().unwrap();
        for part in [
            "no connect link was offered",
            "`mcpist password set`",
            "mcpist login github --account new",
        ] {
            assert!(text.contains(part), "{mode}: no `{part}` in: {text}");
        }
        assert!(!text.contains("/connect/"), "{text}");
    }
    assert!(fake.api_requests().is_empty(), "nothing was sent upstream");
}
