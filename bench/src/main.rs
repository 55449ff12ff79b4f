//! MCPist's whole-process benchmark: what a tool call costs, side by side in
//! one run with the floors (a client calling the fake upstream directly; a
//! do-nothing rmcp server with one echo tool) and the peers (the official
//! GitHub MCP server in Go, the official Notion MCP server in Node), all
//! against fake GitHub and Notion upstreams on loopback.
//!
//! Run it with `bench/run.sh [--quick]`, which installs the peers into a
//! cache directory, builds the release binaries and starts this one. Absolute
//! numbers drift on a shared machine; the ratios, measured in the same run,
//! are what the targets are about.

mod client;
mod procfs;
mod soak;
mod stats;

use std::{
    future::Future,
    path::{Path, PathBuf},
    pin::Pin,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use mcpist_connectors::{github::fake::FakeGithub, notion::fake::FakeNotion};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::{client::Client, stats::Run};

#[derive(Parser)]
#[command(about = "Benchmark MCPist against the SDK floor and the official MCP servers")]
struct Cli {
    /// Fewer calls and startups: a quick look, noisier numbers.
    #[arg(long)]
    quick: bool,
    /// Instead of the table: serve MCPist over HTTP under steady load for
    /// this many minutes, reporting RSS and open file descriptors over time.
    #[arg(long, value_name = "MINUTES")]
    soak: Option<f64>,
    /// Where `install-peers.sh` put the peers.
    #[arg(long, value_name = "DIR")]
    peers: Option<PathBuf>,
    /// Only the variants whose name contains one of these words.
    #[arg(long, value_name = "WORD")]
    only: Vec<String>,
    #[command(subcommand)]
    helper: Option<Helper>,
}

#[derive(Subcommand)]
enum Helper {
    /// (internal) Inside a fresh network namespace: bring up loopback, serve
    /// a fake GitHub on 127.0.0.1:80, run COMMAND with this process's stdio,
    /// and print its pid on stderr.
    NetnsGithub {
        /// The token the fake accepts.
        #[arg(long)]
        token: String,
        /// The server to run.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

/// How many calls each load run makes, and how often startup is timed.
#[derive(Debug, Clone, Copy)]
struct Plan {
    startups: usize,
    warmup: usize,
    calls: [(usize, usize); 3],
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                startups: 3,
                warmup: 100,
                calls: [(1, 300), (8, 1_000), (64, 2_000)],
            }
        } else {
            Self {
                startups: 7,
                warmup: 500,
                calls: [(1, 2_000), (8, 6_000), (64, 12_000)],
            }
        }
    }
}

/// How the benchmark reaches a server.
#[derive(Debug, Clone)]
enum Transport {
    Stdio,
    /// Streamable HTTP at `http://127.0.0.1:{port}/mcp`; `{port}` in the
    /// arguments is replaced by a free port at each start.
    Http {
        bearer: Option<String>,
    },
}

/// A server process to start, and the call to make.
#[derive(Debug, Clone)]
struct Variant {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: Option<PathBuf>,
    transport: Transport,
    /// The server runs under a helper that prints `bench-child-pid N`.
    pid_from_stderr: bool,
    /// The tool, or the suffix of its name when the server decides the prefix.
    tool: String,
    arguments: Value,
}

/// One row of the table.
#[derive(Debug, Default)]
struct Row {
    name: String,
    startup: Option<Duration>,
    tools: Option<usize>,
    list_bytes: Option<usize>,
    idle_kib: Option<u64>,
    idle_anon_kib: Option<u64>,
    peak_kib: Option<u64>,
    runs: Vec<Run>,
    note: Option<String>,
}

impl Row {
    fn skipped(name: &str, why: String) -> Self {
        Self {
            name: name.to_owned(),
            note: Some(why),
            ..Self::default()
        }
    }

    fn cpu_per_call(&self) -> Option<Duration> {
        stats::cpu_per_call(&self.runs)
    }

    fn rate_at(&self, concurrency: usize, plan: &Plan) -> Option<f64> {
        let index = plan.calls.iter().position(|(c, _)| *c == concurrency)?;
        self.runs.get(index).map(Run::rate)
    }
}

/// A running server with its client.
struct Running {
    child: Child,
    pid: u32,
    client: Client,
    startup: Duration,
}

impl Running {
    async fn stop(mut self) {
        let stdio = matches!(self.client, Client::Stdio(_));
        drop(self.client);
        // Stdio servers exit when stdin closes; HTTP ones are killed.
        if !stdio
            || tokio::time::timeout(Duration::from_secs(2), self.child.wait())
                .await
                .is_err()
        {
            if self.child.id() != Some(self.pid) {
                let _ = std::process::Command::new("kill")
                    .arg(self.pid.to_string())
                    .status();
            }
            let _ = self.child.kill().await;
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `variant`, sends `initialize` and times the reply from the spawn.
async fn start(variant: &Variant, log: &Path) -> Result<Running> {
    let port = free_port()?;
    let args: Vec<String> = variant
        .args
        .iter()
        .map(|a| a.replace("{port}", &port.to_string()))
        .collect();
    // For profiling: MCPIST_BENCH_WRAP="valgrind --tool=callgrind" runs
    // MCPist's variants under that command.
    let wrap: Vec<String> = std::env::var("MCPIST_BENCH_WRAP")
        .ok()
        .filter(|_| variant.name.starts_with("MCPist"))
        .map(|w| w.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut command = match wrap.split_first() {
        Some((program, rest)) => {
            let mut command = Command::new(program);
            command.args(rest).arg(&variant.program);
            command
        }
        None => Command::new(&variant.program),
    };
    command
        .args(&args)
        // MCPist reads MCPIST_* as configuration.
        .env_remove("MCPIST_BENCH_WRAP")
        .envs(variant.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = &variant.dir {
        command.current_dir(dir);
    }
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    if variant.pid_from_stderr {
        command.stderr(Stdio::piped());
    } else {
        command.stderr(log_file.try_clone()?);
    }
    let mut started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", variant.program.display()))?;
    let mut pid = child.id().context("the child has no pid")?;
    if variant.pid_from_stderr {
        let stderr = child.stderr.take().context("stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = String::new();
        loop {
            let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .context("no pid from the helper within 30 s")??
            else {
                bail!("the helper exited: {seen}");
            };
            if let Some(n) = line.strip_prefix("bench-child-pid ") {
                pid = n.trim().parse()?;
                started = Instant::now();
                break;
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        let mut log_file = tokio::fs::File::from_std(log_file);
        tokio::spawn(async move {
            let mut rest = lines.into_inner();
            let _ = tokio::io::copy(&mut rest, &mut log_file).await;
        });
    }
    let client = match &variant.transport {
        Transport::Stdio => {
            let stdin = child.stdin.take().context("stdin")?;
            let stdout = child.stdout.take().context("stdout")?;
            let client = Client::stdio(stdin, stdout);
            tokio::time::timeout(Duration::from_secs(30), client.initialize())
                .await
                .context("no initialize reply within 30 s")??;
            client
        }
        Transport::Http { bearer } => {
            let client = Client::http(format!("http://127.0.0.1:{port}/mcp"), bearer.clone())?;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match client.initialize().await {
                    Ok(_) => break,
                    Err(e) if Instant::now() > deadline => {
                        return Err(e.context("no initialize reply within 30 s"));
                    }
                    Err(_) => {
                        if let Some(status) = child.try_wait()? {
                            bail!("the server exited ({status}); see {}", log.display());
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            client
        }
    };
    let startup = started.elapsed();
    client.notify("notifications/initialized").await?;
    Ok(Running {
        child,
        pid,
        client,
        startup,
    })
}

type CallFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send + Sync>;

/// `total` calls, `concurrency` at a time; `pid`'s CPU time is read around it.
async fn load(call: &CallFn, concurrency: usize, total: usize, pid: Option<u32>) -> Result<Run> {
    let cpu_before = pid.map(procfs::cpu_time).transpose()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(total / concurrency + 1);
                let mut errors = 0usize;
                let mut first_error = None;
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let t = Instant::now();
                    let outcome = call().await;
                    latencies.push(t.elapsed());
                    if let Err(e) = outcome {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
                (latencies, errors, first_error)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    let mut first_error = None;
    for worker in workers {
        let (l, e, f) = worker.await?;
        latencies.extend(l);
        errors += e;
        if first_error.is_none() {
            first_error = f;
        }
    }
    let wall = started.elapsed();
    let cpu_after = pid.map(procfs::cpu_time).transpose()?;
    if let Some(e) = first_error {
        if errors == latencies.len() {
            return Err(e.context(format!("every call failed ({errors})")));
        }
        eprintln!(
            "  {errors} of {} calls failed; the first: {e:#}",
            latencies.len()
        );
    }
    latencies.sort();
    Ok(Run {
        calls: latencies.len(),
        errors,
        wall,
        server_cpu: cpu_before.zip(cpu_after).map(|(b, a)| a.saturating_sub(b)),
        latencies,
    })
}

/// Measures one server: startup (median of several), `tools/list`, idle
/// RSS, then the load runs and the peak RSS they left.
async fn measure(variant: &Variant, plan: &Plan, logs: &Path, fakes: &Fakes) -> Result<Row> {
    let log = logs.join(format!(
        "{}.log",
        variant.name.replace([' ', '/', '(', ')'], "_")
    ));
    let mut startups = Vec::new();
    for _ in 0..plan.startups {
        let running = start(variant, &log).await?;
        startups.push(running.startup);
        running.stop().await;
    }
    let running = start(variant, &log).await?;
    startups.push(running.startup);
    let client = running.client.clone();
    let list = client::result_of(client.request("tools/list", json!({})).await?, "tools/list")?;
    let tools = list["tools"]
        .as_array()
        .context("tools/list without tools")?;
    let tool = tools
        .iter()
        .filter_map(|t| t["name"].as_str())
        .find(|n| *n == variant.tool || n.ends_with(&variant.tool))
        .with_context(|| format!("no tool {} in tools/list", variant.tool))?
        .to_owned();
    let row_tools = tools.len();
    let list_bytes = serde_json::to_vec(&list)?.len();
    let arguments = Arc::new(variant.arguments.clone());
    let call: CallFn = Arc::new(move || {
        let client = client.clone();
        let tool = tool.clone();
        let arguments = arguments.clone();
        Box::pin(async move { client.call_tool(&tool, &arguments).await.map(drop) })
    });
    // One call first: a server that cannot make it is reported, not timed.
    call().await.context("the first call")?;
    load(&call, 8, plan.warmup, None).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = procfs::memory(running.pid)?;
    let mut runs = Vec::new();
    for (concurrency, total) in plan.calls {
        fakes.forget();
        let run = load(&call, concurrency, total, Some(running.pid)).await?;
        eprintln!(
            "  c={concurrency}: {:.0} calls/s, server CPU {} µs/call",
            run.rate(),
            fmt_us(stats::cpu_per_call(std::slice::from_ref(&run)))
        );
        runs.push(run);
    }
    let after = procfs::memory(running.pid)?;
    drop(call);
    running.stop().await;
    Ok(Row {
        name: variant.name.clone(),
        startup: stats::median(&mut startups),
        tools: Some(row_tools),
        list_bytes: Some(list_bytes),
        idle_kib: Some(idle.rss_kib),
        idle_anon_kib: Some(idle.anon_kib),
        peak_kib: Some(after.hwm_kib),
        runs,
        note: None,
    })
}

/// The HTTP floor: the same request MCPist's `github_get_issue` makes, sent
/// straight to the fake GitHub.
async fn http_floor(plan: &Plan, fakes: &Fakes) -> Result<Row> {
    let http = reqwest::Client::new();
    let url = format!(
        "{}/repos/octocat/hello-world/issues/1",
        fakes.github.base_url()
    );
    let token = fakes.github_token.clone();
    let call: CallFn = Arc::new(move || {
        let request = http
            .get(&url)
            .bearer_auth(&token)
            .header("accept", "application/vnd.github+json");
        Box::pin(async move {
            let response = request.send().await?.error_for_status()?;
            response.bytes().await?;
            Ok(())
        })
    });
    load(&call, 8, plan.warmup, None).await?;
    let mut runs = Vec::new();
    for (concurrency, total) in plan.calls {
        fakes.forget();
        runs.push(load(&call, concurrency, total, None).await?);
    }
    Ok(Row {
        name: "HTTP floor (reqwest -> fake)".into(),
        runs,
        note: Some("no server process: CPU, RSS, startup do not apply".into()),
        ..Row::default()
    })
}

/// The fake upstreams, served by this process.
struct Fakes {
    github: FakeGithub,
    github_token: String,
    notion: FakeNotion,
    notion_token: String,
}

impl Fakes {
    fn forget(&self) {
        self.github.clear_requests();
        self.notion.clear_requests();
    }
}

/// A temporary MCPist home: config, SQLite store (audit log on), accounts.
struct McpistHome {
    dir: tempfile::TempDir,
    bearer: String,
}

impl McpistHome {
    fn command(&self, bin: &Path) -> std::process::Command {
        let mut cmd = std::process::Command::new(bin);
        for (key, _) in std::env::vars() {
            if key.starts_with("MCPIST_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.env());
        cmd
    }

    fn env(&self) -> Vec<(String, String)> {
        let root = self.dir.path().display().to_string();
        vec![
            ("XDG_CONFIG_HOME".into(), format!("{root}/config")),
            ("XDG_DATA_HOME".into(), format!("{root}/data")),
            ("HOME".into(), root),
        ]
    }

    fn create(bin: &Path, fakes: &Fakes) -> Result<Self> {
        let mut home = Self {
            dir: tempfile::tempdir()?,
            bearer: String::new(),
        };
        let out = home.command(bin).arg("init").output()?;
        if !out.status.success() {
            bail!("mcpist init: {}", String::from_utf8_lossy(&out.stderr));
        }
        home.bearer = String::from_utf8(out.stdout)?.trim().to_owned();
        let config = home.dir.path().join("config/mcpist/mcpist.toml");
        std::fs::write(
            &config,
            format!(
                "[connectors.github]\nbase_url = \"{}\"\n\n[connectors.notion]\nbase_url = \"{}\"\n\
                 # The fake has no rate limit; the real Notion's 3/s would be all we measured.\n\
                 requests_per_second = 1000000\n",
                fakes.github.base_url(),
                fakes.notion.base_url()
            ),
        )?;
        for (service, token) in [
            ("github", &fakes.github_token),
            ("notion", &fakes.notion_token),
        ] {
            let mut child = home
                .command(bin)
                .args([
                    "accounts",
                    "add",
                    service,
                    "--account",
                    "work",
                    "--token-stdin",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?;
            use std::io::Write as _;
            child
                .stdin
                .take()
                .context("stdin")?
                .write_all(format!("{token}\n").as_bytes())?;
            let out = child.wait_with_output()?;
            if !out.status.success() {
                bail!(
                    "mcpist accounts add {service}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(home)
    }
}

fn issue_args() -> Value {
    json!({"owner": "octocat", "repo": "hello-world", "issue_number": 1})
}

fn variants(
    bins: &Path,
    peers: &Path,
    home: &McpistHome,
    fakes: &Fakes,
) -> Vec<Result<Variant, (String, String)>> {
    let floor = bins.join("sdk-floor");
    let mcpist = bins.join("mcpist");
    let echo = json!({"text": "hello"});
    let base = |name: &str,
                program: &Path,
                args: &[&str],
                transport: Transport,
                tool: &str,
                arguments: &Value| Variant {
        name: name.to_owned(),
        program: program.to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: Vec::new(),
        dir: None,
        transport,
        pid_from_stderr: false,
        tool: tool.to_owned(),
        arguments: arguments.clone(),
    };
    let http = Transport::Http { bearer: None };
    let mut mcpist_env = home.env();
    // What `serve` logs by default, written to the log file like a real deployment.
    mcpist_env.push(("MCPIST_LOG".into(), "info".into()));
    let with_home = |mut v: Variant| {
        v.env = mcpist_env.clone();
        v.dir = Some(home.dir.path().to_owned());
        v
    };
    let mut all = vec![
        Ok(base(
            "SDK floor echo, stdio",
            &floor,
            &["--stdio"],
            Transport::Stdio,
            "echo",
            &echo,
        )),
        Ok(base(
            "SDK floor echo, HTTP",
            &floor,
            &["--bind", "127.0.0.1:{port}"],
            http,
            "echo",
            &echo,
        )),
        Ok(with_home(base(
            "MCPist github_get_issue, stdio",
            &mcpist,
            &["serve", "--stdio"],
            Transport::Stdio,
            "github_get_issue",
            &issue_args(),
        ))),
        Ok(with_home(base(
            "MCPist github_get_issue, HTTP",
            &mcpist,
            &["serve", "--bind", "127.0.0.1:{port}"],
            Transport::Http {
                bearer: Some(home.bearer.clone()),
            },
            "github_get_issue",
            &issue_args(),
        ))),
        Ok(with_home(base(
            "MCPist notion_get_page, stdio",
            &mcpist,
            &["serve", "--stdio"],
            Transport::Stdio,
            "notion_get_page",
            &json!({"page_id": mcpist_connectors::notion::fake::PAGE}),
        ))),
    ];
    let go = peers.join("github/github-mcp-server");
    let go_name = "GitHub MCP server (Go) 0.12.1 get_issue, stdio";
    all.push(if !go.exists() {
        Err((go_name.into(), format!("not installed at {} (bench/install-peers.sh failed; see its output)", go.display())))
    } else if let Err(why) = netns_available() {
        Err((go_name.into(), format!("cannot run: it needs its fake GitHub on port 80 in a private network namespace, and {why}")))
    } else {
        let self_exe = std::env::current_exe().unwrap_or_else(|_| bins.join("mcpist-bench"));
        let mut v = base(
            go_name,
            Path::new("unshare"),
            &["--net", "--", &self_exe.display().to_string(), "netns-github", "--token", &fakes.github_token, "--", &go.display().to_string(), "stdio"],
            Transport::Stdio,
            "get_issue",
            &issue_args(),
        );
        v.env = vec![
            ("GITHUB_PERSONAL_ACCESS_TOKEN".into(), fakes.github_token.clone()),
            ("GITHUB_HOST".into(), "http://127.0.0.1".into()),
        ];
        v.pid_from_stderr = true;
        Ok(v)
    });
    let notion = peers.join("notion/node_modules/@notionhq/notion-mcp-server/bin/cli.mjs");
    let notion_name = "Notion MCP server (Node) retrieve-a-page, stdio";
    all.push(if !notion.exists() {
        Err((
            notion_name.into(),
            format!(
                "not installed at {} (bench/install-peers.sh failed; see its output)",
                notion.display()
            ),
        ))
    } else {
        let mut v = base(
            notion_name,
            Path::new("node"),
            &[&notion.display().to_string()],
            Transport::Stdio,
            "retrieve-a-page",
            &json!({"page_id": mcpist_connectors::notion::fake::PAGE}),
        );
        v.env = vec![
            ("NOTION_TOKEN".into(), fakes.notion_token.clone()),
            ("BASE_URL".into(), fakes.notion.base_url()),
        ];
        Ok(v)
    });
    all
}

fn netns_available() -> Result<(), String> {
    let out = std::process::Command::new("unshare")
        .args(["--net", "true"])
        .output()
        .map_err(|e| format!("`unshare` cannot be run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`unshare --net` fails here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn fmt_us(d: Option<Duration>) -> String {
    d.map_or("—".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e6))
}

fn fmt_ms(d: Option<Duration>) -> String {
    d.map_or("—".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

fn fmt_mib(kib: Option<u64>) -> String {
    kib.map_or("—".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn fmt_rate(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{r:.0}"))
}

fn print_table(rows: &[Row], plan: &Plan) {
    println!(
        "| server | CPU µs/call | p50 ms | p99 ms | calls/s c=1 | c=8 | c=64 | RSS idle MiB | of it anon | RSS peak MiB | startup ms | tools | tools/list B | B/tool |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for row in rows {
        let c1 = row.runs.first();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            fmt_us(row.cpu_per_call()),
            fmt_ms(c1.and_then(Run::p50)),
            fmt_ms(c1.and_then(Run::p99)),
            fmt_rate(row.rate_at(1, plan)),
            fmt_rate(row.rate_at(8, plan)),
            fmt_rate(row.rate_at(64, plan)),
            fmt_mib(row.idle_kib),
            fmt_mib(row.idle_anon_kib),
            fmt_mib(row.peak_kib),
            fmt_ms(row.startup),
            row.tools.map_or("—".into(), |t| t.to_string()),
            row.list_bytes.map_or("—".into(), |b| b.to_string()),
            row.tools
                .zip(row.list_bytes)
                .map_or("—".into(), |(t, b)| format!("{}", b / t.max(1))),
        );
    }
    let notes: Vec<_> = rows
        .iter()
        .filter_map(|r| r.note.as_ref().map(|n| (r, n)))
        .collect();
    if !notes.is_empty() {
        println!();
        for (row, note) in notes {
            println!("- {}: {note}", row.name);
        }
    }
    let errors: usize = rows.iter().flat_map(|r| &r.runs).map(|r| r.errors).sum();
    if errors > 0 {
        println!("- {errors} calls failed in total (see stderr)");
    }
}

/// One target: `measured` against `limit`, lower is better unless `at_least`.
struct Target {
    what: String,
    measured: Option<f64>,
    limit: f64,
    at_least: bool,
    unit: &'static str,
}

fn print_targets(rows: &[Row], plan: &Plan) {
    let find = |name: &str| {
        rows.iter()
            .find(|r| r.name.starts_with(name) && r.note.is_none())
    };
    let ratio = |a: Option<Duration>, b: Option<Duration>| {
        a.zip(b)
            .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64().max(1e-12))
    };
    let cpu = |name: &str| find(name).and_then(Row::cpu_per_call);
    let mcpist_stdio = "MCPist github_get_issue, stdio";
    let mcpist_http = "MCPist github_get_issue, HTTP";
    let mib = |kib: Option<u64>| kib.map(|k| k as f64 / 1024.0);
    let targets = [
        Target {
            what: "CPU/call, MCPist stdio / SDK floor stdio".into(),
            measured: ratio(cpu(mcpist_stdio), cpu("SDK floor echo, stdio")),
            limit: 1.5,
            at_least: false,
            unit: "x",
        },
        Target {
            what: "CPU/call, MCPist HTTP / SDK floor HTTP".into(),
            measured: ratio(cpu(mcpist_http), cpu("SDK floor echo, HTTP")),
            limit: 1.5,
            at_least: false,
            unit: "x",
        },
        Target {
            what: "CPU/call, MCPist stdio / GitHub MCP server (Go)".into(),
            measured: ratio(cpu(mcpist_stdio), cpu("GitHub MCP server")),
            limit: 0.4,
            at_least: false,
            unit: "x",
        },
        Target {
            what: "startup, MCPist stdio / SDK floor stdio".into(),
            measured: ratio(
                find(mcpist_stdio).and_then(|r| r.startup),
                find("SDK floor echo, stdio").and_then(|r| r.startup),
            ),
            limit: 1.5,
            at_least: false,
            unit: "x",
        },
        Target {
            what: "RSS idle, MCPist HTTP".into(),
            measured: mib(find(mcpist_http).and_then(|r| r.idle_kib)),
            limit: 8.0,
            at_least: false,
            unit: " MiB",
        },
        Target {
            what: "RSS idle, MCPist stdio".into(),
            measured: mib(find(mcpist_stdio).and_then(|r| r.idle_kib)),
            limit: 8.0,
            at_least: false,
            unit: " MiB",
        },
        Target {
            what: "RSS peak after 64 concurrent, MCPist HTTP".into(),
            measured: mib(find(mcpist_http).and_then(|r| r.peak_kib)),
            limit: 16.0,
            at_least: false,
            unit: " MiB",
        },
        Target {
            what: "calls/s at c=64, MCPist HTTP, instant upstream, audit on".into(),
            measured: find(mcpist_http).and_then(|r| r.rate_at(64, plan)),
            limit: 10_000.0,
            at_least: true,
            unit: "/s",
        },
        Target {
            what: "tools/list bytes per tool, MCPist".into(),
            measured: find(mcpist_stdio)
                .and_then(|r| r.tools.zip(r.list_bytes))
                .map(|(t, b)| b as f64 / t.max(1) as f64),
            limit: 400.0,
            at_least: false,
            unit: " B",
        },
    ];
    println!("\n| target | measured | limit | result |");
    println!("|---|--:|--:|---|");
    for t in targets {
        let (measured, result) = match t.measured {
            None => ("—".to_owned(), "n/a (not measured)"),
            Some(m) => {
                let pass = if t.at_least {
                    m >= t.limit
                } else {
                    m <= t.limit
                };
                (
                    format!("{m:.2}{}", t.unit),
                    if pass { "PASS" } else { "MISS" },
                )
            }
        };
        let cmp = if t.at_least { "≥" } else { "≤" };
        println!(
            "| {} | {measured} | {cmp}{}{} | {result} |",
            t.what, t.limit, t.unit
        );
    }
}

async fn soak(
    minutes: f64,
    bins: &Path,
    home: &McpistHome,
    fakes: &Fakes,
    logs: &Path,
) -> Result<()> {
    let all = variants(bins, Path::new("/nonexistent"), home, fakes);
    let variant = all
        .into_iter()
        .flatten()
        .find(|v| v.name == "MCPist github_get_issue, HTTP")
        .context("the MCPist HTTP variant")?;
    let running = start(&variant, &logs.join("soak.log")).await?;
    let client = running.client.clone();
    let arguments = Arc::new(issue_args());
    let call: CallFn = Arc::new(move || {
        let client = client.clone();
        let arguments = arguments.clone();
        Box::pin(async move {
            client
                .call_tool("github_get_issue", &arguments)
                .await
                .map(drop)
        })
    });
    let total = Duration::from_secs_f64(minutes * 60.0);
    let every = (total / 20).max(Duration::from_secs(5));
    let started = Instant::now();
    println!(
        "soak: MCPist over HTTP, 8 concurrent callers, {minutes} min, a sample every {every:?}"
    );
    println!("| elapsed s | calls | calls/s | CPU µs/call | RSS MiB | peak RSS MiB | open fds |");
    println!("|--:|--:|--:|--:|--:|--:|--:|");
    let mut calls = 0usize;
    let mut errors = 0usize;
    let mut samples = Vec::new();
    while started.elapsed() < total {
        let run_started = Instant::now();
        let mut window = Vec::new();
        while run_started.elapsed() < every {
            fakes.forget();
            window.push(load(&call, 8, 2_000, Some(running.pid)).await?);
        }
        let memory = procfs::memory(running.pid)?;
        let fds = procfs::open_fds(running.pid)?;
        let n: usize = window.iter().map(|r| r.calls).sum();
        calls += n;
        errors += window.iter().map(|r| r.errors).sum::<usize>();
        println!(
            "| {:.0} | {calls} | {:.0} | {} | {} | {} | {fds} |",
            started.elapsed().as_secs_f64(),
            n as f64 / run_started.elapsed().as_secs_f64(),
            fmt_us(stats::cpu_per_call(&window)),
            fmt_mib(Some(memory.rss_kib)),
            fmt_mib(Some(memory.hwm_kib)),
        );
        samples.push((memory.rss_kib, fds));
    }
    drop(call);
    running.stop().await;
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        println!(
            "\nsoak: {calls} calls, {errors} failed; RSS {} -> {} MiB, open fds {} -> {}",
            fmt_mib(Some(first.0)),
            fmt_mib(Some(last.0)),
            first.1,
            last.1
        );
    }
    match soak::verdict(&samples, errors) {
        Ok(summary) => {
            println!("soak passed: {summary}");
            Ok(())
        }
        Err(reason) => bail!("soak failed: {reason}"),
    }
}

fn netns_github(token: String, command: Vec<String>) -> Result<()> {
    let status = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()?;
    if !status.success() {
        bail!("ip link set lo up failed");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let fake = FakeGithub::start_on("127.0.0.1:80".parse()?).await;
        fake.accept_token(&token, "octocat");
        let (program, args) = command.split_first().context("no command")?;
        let mut child = Command::new(program).args(args).spawn()?;
        eprintln!("bench-child-pid {}", child.id().context("no pid")?);
        // The fake records what it sees; keep that bounded over long runs.
        let forget = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                fake.clear_requests();
            }
        });
        let status = child.wait().await?;
        forget.abort();
        std::process::exit(status.code().unwrap_or(1));
    })
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Helper::NetnsGithub { token, command }) = cli.helper {
        return netns_github(token, command);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let bins = std::env::current_exe()?
        .parent()
        .context("the binary's directory")?
        .to_owned();
    for bin in ["mcpist", "sdk-floor"] {
        if !bins.join(bin).exists() {
            bail!(
                "{} is missing: build with `cargo build --release -p mcpist -p mcpist-bench` (bench/run.sh does)",
                bins.join(bin).display()
            );
        }
    }
    let peers = cli
        .peers
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-peers"));
    let plan = Plan::new(cli.quick);
    let github = FakeGithub::start().await;
    let github_token = mcpist_tests::canary("BENCH");
    github.accept_token(&github_token, "octocat");
    let notion = FakeNotion::start().await;
    let notion_token = format!("ntn_bench{}", std::process::id());
    notion.accept_token(&notion_token);
    let fakes = Fakes {
        github,
        github_token,
        notion,
        notion_token,
    };
    let home = McpistHome::create(&bins.join("mcpist"), &fakes)?;
    let logs = home.dir.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    if let Some(minutes) = cli.soak {
        if !(minutes > 0.0 && minutes <= 24.0 * 60.0) {
            bail!("--soak takes minutes between 0 and 1440, not {minutes}");
        }
        return soak(minutes, &bins, &home, &fakes, &logs).await;
    }
    let wanted =
        |name: &str| cli.only.is_empty() || cli.only.iter().any(|w| name.contains(w.as_str()));
    let mut rows = Vec::new();
    if wanted("HTTP floor") {
        eprintln!("measuring: HTTP floor");
        rows.push(http_floor(&plan, &fakes).await?);
    }
    for variant in variants(&bins, &peers, &home, &fakes) {
        match variant {
            Ok(v) if wanted(&v.name) => {
                eprintln!("measuring: {}", v.name);
                match measure(&v, &plan, &logs, &fakes).await {
                    Ok(row) => rows.push(row),
                    Err(e) => {
                        eprintln!("  failed: {e:#}");
                        rows.push(Row::skipped(&v.name, format!("failed: {e:#}")));
                    }
                }
            }
            Ok(_) => {}
            Err((name, why)) if wanted(&name) => rows.push(Row::skipped(&name, why)),
            Err(_) => {}
        }
    }
    let calls: Vec<String> = plan
        .calls
        .iter()
        .map(|(c, n)| format!("{n} at c={c}"))
        .collect();
    println!(
        "calls per load run: {}; CPU/call pools all three; p50/p99 at c=1; startup: median of {}",
        calls.join(", "),
        plan.startups + 1
    );
    println!();
    print_table(&rows, &plan);
    print_targets(&rows, &plan);
    Ok(())
}
