//! A remote client that nobody on the team wrote (the official MCP Python
//! SDK's `OAuthClientProvider`, `tests/clients/remote_oauth.py`) connects to
//! the real `mcpist serve` from its MCP URL alone: discovery from the 401,
//! Dynamic Client Registration, the browser step (headless Chromium logs in
//! to the web UI and allows the client on the consent page), the token
//! exchange, `tools/list` and a call, a refresh, revocation. No access or
//! refresh token reaches the server's log or the store file in plaintext.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{ClientBuilder, Locator};
use mcpist_tests::{canary, client_script, python_sdk};
use serde_json::{Value, json};

mod support;
use support::*;

const PASSWORD: &str = "remote clients need a long password";

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser() -> (Killed, fantoccini::Client) {
    let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let chrome_bin = std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Killed(
        Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {driver_bin} ({e}): `apt-get install chromium chromium-driver`"
                )
            }),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{url}/status")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = tempfile::tempdir().unwrap().keep();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chrome_bin,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a Chromium session through chromedriver");
    (driver, client)
}

async fn wait_for(browser: &fantoccini::Client, css: &str) -> fantoccini::elements::Element {
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_connects_through_discovery_consent_and_token_exchange() {
    let upstream = canary("REMOTE");
    let (home, _fake) = github_home(&upstream).await;
    home.run_input_ok(&[], &["password", "set"], &format!("{PASSWORD}\n"));
    let server = spawn_http(&home);

    let script = client_script("remote_oauth.py");
    let mut client = home
        .program(
            python_sdk().to_str().unwrap(),
            &[],
            &[script.to_str().unwrap(), &server.url, "github_get_me"],
        )
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let mut client = Killed(client);
    let Some(Ok(first)) = lines.next() else {
        let _ = client.0.wait();
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(client.0.stderr.as_mut().unwrap(), &mut err);
        panic!("the client stopped before authorizing: {err}");
    };
    let first: Value = serde_json::from_str(&first).unwrap();
    let authorize = first["authorize"]
        .as_str()
        .expect("an authorization URL")
        .to_owned();

    // The user's browser: log in, see the consent page, allow.
    let (_driver, browser) = browser().await;
    browser.goto(&authorize).await.unwrap();
    wait_for(&browser, "#password")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    wait_for(&browser, "main form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let approve = wait_for(&browser, "#approve").await;
    let consent = browser.source().await.unwrap();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(
        shots.join("consent.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();
    for shown in [
        "Python SDK remote client",
        "127.0.0.1",
        "every tool your policy allows",
    ] {
        assert!(
            consent.contains(shown),
            "{shown} missing from the consent page"
        );
    }
    approve.click().await.unwrap();
    wait_for(&browser, "#done").await;
    let _ = browser.close().await;

    let last = lines.next().unwrap_or_else(|| {
        let _ = client.0.wait();
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(client.0.stderr.as_mut().unwrap(), &mut err);
        panic!("the client printed no result: {err}")
    });
    let seen: Value = serde_json::from_str(&last.unwrap()).unwrap();
    eprintln!(
        "remote client figures: {}",
        json!({
            "connect_requests": seen["connect_requests"],
            "all_requests": seen["all_requests"].as_array().map(Vec::len),
            "expires_in": seen["expires_in"],
        })
    );
    let tools: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tools.contains(&"github_get_me"), "{tools:?}");
    let text = seen["text"].as_str().unwrap();
    assert!(text.contains("octocat"), "{text}");
    assert!(!text.contains(&upstream));
    assert_eq!(seen["second_is_error"], false);
    assert_eq!(seen["refreshed"], true, "{seen}");
    assert_eq!(seen["expires_in"], 3600);
    assert_eq!(seen["revoke_status"], 200);
    assert_eq!(seen["after_revoke_status"], 401);
    let connect: Vec<&str> = seen["connect_requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for step in [
        "GET /.well-known/oauth-protected-resource/mcp",
        "GET /.well-known/oauth-authorization-server",
        "POST /oauth/register",
        "POST /oauth/token",
    ] {
        assert!(connect.contains(&step), "{step} not in {connect:?}");
    }

    let secrets: Vec<String> = seen["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    // The code, then two access and two refresh tokens.
    assert!(secrets.len() >= 5, "{secrets:?}");
    // The server logs at debug level; give its last lines a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.stderr.lock().unwrap().clone();
    assert!(log.contains("MCP at"), "the log was captured");
    drop(server);
    let data = home.data_bytes();
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a code or token in the server log"
        );
        assert!(
            !contains(&data, secret),
            "a code or token in the store file"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_clients_false_serves_no_authorization_server() {
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config("[server]\nremote_clients = false\n");
    let server = spawn_http(&home);
    let base = server.url.trim_end_matches("/mcp").to_owned();
    let refused = reqwest::Client::new()
        .post(&server.url)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
    ] {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let register = reqwest::Client::new()
        .post(format!("{base}/oauth/register"))
        .json(&json!({"redirect_uris": ["http://127.0.0.1:1/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 404);
}
