//! Helpers shared by the tests that drive the real `mcpist` binary.

// Each test crate uses a different subset.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex},
};

use mcpist_connectors::github::fake::FakeGithub;
use rmcp::model::CallToolResult;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_mcpist");

/// A private home for one test: config and data directories of its own.
pub(crate) struct Home {
    pub(crate) dir: tempfile::TempDir,
}

impl Home {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.path().join("config/mcpist/mcpist.toml")
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data/mcpist")
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.data_dir().join("mcpist.db")
    }

    pub(crate) fn key_path(&self) -> PathBuf {
        self.data_dir().join("master.key")
    }

    /// `mcpist` with this home's XDG directories and no stray MCPIST_* variables.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        self.program(BIN, &[], args)
    }

    /// [`Self::cmd`] with `env` set.
    pub(crate) fn cmd_env(&self, env: &[(&str, &str)], args: &[&str]) -> Command {
        self.program(BIN, env, args)
    }

    /// [`Self::cmd_env`] for another program (which may start `mcpist`).
    pub(crate) fn program(&self, program: &str, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars() {
            if key.starts_with("MCPIST_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path())
            .envs(env.iter().copied())
            .args(args);
        cmd
    }

    /// Runs `mcpist args` with `env` set and `input` on standard input (a
    /// pipe, not a terminal).
    pub(crate) fn run_input(&self, env: &[(&str, &str)], args: &[&str], input: &str) -> Output {
        let mut child = self
            .cmd_env(env, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// [`Self::run_input`]; asserts success.
    pub(crate) fn run_input_ok(&self, env: &[(&str, &str)], args: &[&str], input: &str) -> Output {
        let out = self.run_input(env, args, input);
        assert!(
            out.status.success(),
            "mcpist {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    pub(crate) fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mcpist {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub(crate) fn add_token(&self, account: &str, token: &str) -> Output {
        self.run_input_ok(
            &[],
            &[
                "accounts",
                "add",
                "github",
                "--account",
                account,
                "--token-stdin",
            ],
            &format!("{token}\n"),
        )
    }

    pub(crate) fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        self.run_input_ok(&[], args, input)
    }

    pub(crate) fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.config_path().parent().unwrap()).unwrap();
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// Every file under the data directory (store, WAL, key), concatenated.
    pub(crate) fn data_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.data_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() != "master.key" {
                all.extend(std::fs::read(&path).unwrap_or_default());
            }
        }
        all
    }
}

/// The forms a leaked secret could take on its way out: as is, base64
/// (standard and URL-safe, padded or not), hex (either case), percent-encoded
/// and JSON-escaped. Each is named, for the failure message.
pub(crate) fn encoded_forms(secret: &str) -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let json = serde_json::to_string(secret).unwrap();
    let mut forms = vec![
        ("raw", secret.to_owned()),
        ("base64", STANDARD.encode(secret)),
        ("base64 unpadded", STANDARD_NO_PAD.encode(secret)),
        ("base64url", URL_SAFE.encode(secret)),
        ("base64url unpadded", URL_SAFE_NO_PAD.encode(secret)),
        ("hex", hex.clone()),
        ("HEX", hex.to_ascii_uppercase()),
        (
            "percent-encoded",
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        ),
        ("JSON-escaped", json[1..json.len() - 1].to_owned()),
    ];
    forms.sort_by(|a, b| a.1.cmp(&b.1));
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

pub(crate) fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// An MCP client of a fresh `mcpist serve --stdio` on this home.
pub(crate) async fn stdio_client(
    home: &Home,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    use rmcp::{ServiceExt as _, transport::TokioChildProcess};
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", home.dir.path().join("config"))
        .env("XDG_DATA_HOME", home.dir.path().join("data"))
        .args(["serve", "--stdio"]);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ().serve(transport).await.unwrap()
}

/// Calls `tools` (name, arguments) over stdio and returns every result.
pub(crate) async fn stdio_calls(
    home: &Home,
    calls: &[(&str, serde_json::Value)],
) -> Vec<CallToolResult> {
    use rmcp::model::CallToolRequestParams;
    let client = stdio_client(home).await;
    let mut results = Vec::new();
    for (tool, args) in calls {
        results.push(
            client
                .call_tool(
                    CallToolRequestParams::new(tool.to_string())
                        .with_arguments(args.as_object().unwrap().clone()),
                )
                .await
                .unwrap(),
        );
    }
    client.cancel().await.unwrap();
    results
}

/// A fake GitHub accepting `token` as `octocat`, and a home configured for it.
pub(crate) async fn github_home(token: &str) -> (Home, FakeGithub) {
    let fake = FakeGithub::start().await;
    fake.accept_token(token, "octocat");
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config(&format!(
        "[connectors.github]\nbase_url = \"{}\"\n",
        fake.base_url()
    ));
    home.add_token("work", token);
    (home, fake)
}

/// `mcpist serve` over HTTP on an ephemeral port; killed on drop.
pub(crate) struct HttpServer {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) stderr: Arc<Mutex<String>>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn spawn_http(home: &Home) -> HttpServer {
    spawn_http_env(home, &[])
}

/// [`spawn_http`] with `env` set.
pub(crate) fn spawn_http_env(home: &Home, env: &[(&str, &str)]) -> HttpServer {
    let mut child = home
        .cmd_env(env, &["serve", "--bind", "127.0.0.1:0"])
        .env("MCPIST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        stderr.lock().unwrap().push_str(&line);
        if let Some(at) = line.find("MCP at ") {
            url = Some(line[at + 7..].trim().to_owned());
            break;
        }
    }
    let url = url.expect("the server announces its URL");
    let sink = stderr.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    HttpServer { child, url, stderr }
}

/// Runs `cmd` (standard input closed) and its output, killing it if it
/// still runs after `limit`: for commands that must refuse to start, so
/// that a regression fails instead of serving forever.
pub(crate) fn output_within(mut cmd: Command, limit: std::time::Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Calls `tool` (no arguments) `n` times at once, spread round-robin over
/// `clients`, and fails the test naming every call that did not succeed.
pub(crate) async fn call_all_at_once(
    clients: &[rmcp::service::RunningService<rmcp::RoleClient, ()>],
    tool: &'static str,
    n: usize,
) {
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..n {
        let peer = clients[i % clients.len()].peer().clone();
        calls.spawn(async move {
            peer.call_tool(rmcp::model::CallToolRequestParams::new(tool))
                .await
                .unwrap()
        });
    }
    let failed: Vec<_> = calls
        .join_all()
        .await
        .iter()
        .filter(|r| r.is_error != Some(false))
        .map(|r| format!("{:?}", r.content))
        .collect();
    assert!(
        failed.is_empty(),
        "{} calls failed: {failed:?}",
        failed.len()
    );
}
