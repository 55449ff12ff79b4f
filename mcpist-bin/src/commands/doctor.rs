//! `mcpist doctor`: checks the installation and says how to fix what is wrong.
//!
//! Each check ends as pass, warn or fail, with the fix for the last two. The
//! doctor only reads: it creates no file and writes no record (opening the
//! store may finish an interrupted key rotation, as every command does).

use std::{
    io::Write,
    net::IpAddr,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use mcpist_core::{
    Auth, Service,
    accounts::ShownStatus,
    store::{AccountKey, now_unix},
};
use serde::Serialize;

use crate::{
    config::{self, KeySource, Loaded, StoreKind},
    wiring,
};

/// How long a service's API host gets to resolve, then to answer.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pass,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug, Serialize)]
struct Check {
    /// What was checked: `config`, `key`, `store`, `account github/work`, ...
    check: String,
    status: Status,
    message: String,
    /// What to do about a warning or a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

#[derive(Debug, Default)]
struct Report(Vec<Check>);

impl Report {
    fn add(&mut self, check: impl Into<String>, status: Status, message: impl Into<String>) {
        self.0.push(Check {
            check: check.into(),
            status,
            message: message.into(),
            fix: None,
        });
    }

    fn pass(&mut self, check: impl Into<String>, message: impl Into<String>) {
        self.add(check, Status::Pass, message);
    }

    fn problem(
        &mut self,
        status: Status,
        check: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.0.push(Check {
            check: check.into(),
            status,
            message: message.into(),
            fix: Some(fix.into()),
        });
    }

    fn print(&self, json: bool) -> Result<()> {
        let mut out = std::io::stdout().lock();
        if json {
            serde_json::to_writer_pretty(&mut out, &self.0)?;
            writeln!(out)?;
            return Ok(());
        }
        for c in &self.0 {
            let status = match c.status {
                Status::Pass => "PASS",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
            };
            writeln!(out, "{status}  {:<24} {}", c.check, c.message)?;
            if let Some(fix) = &c.fix {
                writeln!(out, "      {:<24} fix: {fix}", "")?;
            }
        }
        let count = |s| self.0.iter().filter(|c| c.status == s).count();
        writeln!(
            out,
            "summary: {} pass, {} warn, {} fail",
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail)
        )?;
        Ok(())
    }

    fn failures(&self) -> usize {
        self.0.iter().filter(|c| c.status == Status::Fail).count()
    }
}

/// Runs every check, prints the report, and fails if any check failed.
pub(crate) async fn run(config_path: Option<&Path>, json: bool) -> Result<()> {
    let mut report = Report::default();
    check_all(&mut report, config_path).await;
    report.print(json)?;
    match report.failures() {
        0 => Ok(()),
        n => bail!("doctor: {n} check(s) failed; see the fix under each"),
    }
}

async fn check_all(report: &mut Report, config_path: Option<&Path>) {
    let loaded = match config::load(config_path) {
        Ok(loaded) => loaded,
        Err(e) => {
            report.problem(
                Status::Fail,
                "config",
                format!("{e:#}"),
                "correct or remove the key named above (`mcpist init` writes a commented template)",
            );
            return;
        }
    };
    let path = loaded.config_path.display();
    if loaded.config_exists {
        report.pass("config", format!("{path} parses; every key is known"));
    } else {
        report.problem(
            Status::Warn,
            "config",
            format!("no config file at {path}; the defaults are in use"),
            "run `mcpist init`, or pass --config PATH",
        );
    }
    let services = match wiring::build_services(&loaded) {
        Ok(services) => {
            let names: Vec<_> = services.iter().map(|s| s.connector.service()).collect();
            report.pass("connectors", format!("serving {}", names.join(", ")));
            services
        }
        Err(e) => {
            report.problem(
                Status::Fail,
                "connectors",
                format!("{e:#}"),
                "correct the [connectors.NAME] table named above",
            );
            Vec::new()
        }
    };
    check_http(report, &loaded);
    if loaded.config.store.kind == StoreKind::Memory {
        report.problem(
            Status::Warn,
            "store",
            "store.kind = \"memory\": accounts, the bearer and the audit log are lost at exit",
            "remove `kind = \"memory\"` from [store] to keep them in the encrypted SQLite file",
        );
        return;
    }
    if !check_key(report, &loaded) {
        // No passphrase to open the store with: nothing more can be checked.
        return;
    }
    let store_path = loaded.store_path();
    if !store_path.exists() {
        report.problem(
            Status::Fail,
            "store",
            format!("no store at {}", store_path.display()),
            "run `mcpist init`, or `mcpist restore BACKUP` to bring back a backup",
        );
        return;
    }
    let stores = match wiring::open_store(&loaded, false) {
        Ok((stores, _)) => {
            report.pass(
                "store",
                format!("{} opens with the master key", store_path.display()),
            );
            stores
        }
        Err(e) => {
            report.problem(
                Status::Fail,
                "store",
                format!("{e:#}"),
                if loaded.config.store.key == KeySource::Passphrase {
                    "give the passphrase the store was created with (MCPIST_PASSPHRASE or the \
                     prompt); a store cannot be opened without it"
                } else {
                    "use the key the store was created with (its key file or MCPIST_MASTER_KEY); \
                     a store cannot be opened without it"
                },
            );
            return;
        }
    };
    check_private(report, "store", &store_path);
    match stores.tokens.get_secret(wiring::BEARER_SECRET).await {
        Ok(Some(_)) => report.pass("bearer", "the MCP bearer token is set"),
        Ok(None) => report.problem(
            Status::Warn,
            "bearer",
            "no MCP bearer token yet",
            "run `mcpist init` (or `mcpist serve`, which creates one); `mcpist bearer show` prints it",
        ),
        Err(e) => report.problem(
            Status::Fail,
            "bearer",
            format!("the bearer token does not open: {e}"),
            "replace it with `mcpist bearer rotate`",
        ),
    }
    match stores.tokens.get_secret(mcpist_web::PASSWORD_SECRET).await {
        Ok(Some(_)) => report.pass("web UI", "the web UI password is set"),
        Ok(None) => report.problem(
            Status::Warn,
            "web UI",
            "no web UI password yet: nobody can log in to the web UI",
            "run `mcpist password set`",
        ),
        Err(e) => report.problem(
            Status::Fail,
            "web UI",
            format!("the web UI password hash does not open: {e}"),
            "set a new one with `mcpist password set`",
        ),
    }
    match stores.audit.verify().await {
        Ok(r) if r.is_intact() => report.pass(
            "audit",
            format!(
                "the chain of {} records is intact ({} pending)",
                r.checked, r.pending
            ),
        ),
        Ok(r) => report.problem(
            Status::Fail,
            "audit",
            format!(
                "the audit log was changed outside MCPist: {} problem(s), first: {}",
                r.problems.len(),
                r.problems.first().map(String::as_str).unwrap_or("")
            ),
            "keep a copy of the store for investigation; `mcpist audit --verify` lists every break",
        ),
        Err(e) => report.problem(
            Status::Fail,
            "audit",
            format!("the audit log cannot be read: {e}"),
            "restore the store from a backup (`mcpist restore BACKUP`)",
        ),
    }
    check_accounts(report, &loaded, &stores, &services).await;
    check_reachable(report, &stores, &services).await;
}

/// The bind address, the public URL and the Host / Origin allow-list agree.
fn check_http(report: &mut Report, loaded: &Loaded) {
    let server = &loaded.config.server;
    let bind = server.bind;
    let public = server
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok());
    if server.dangerously_disable_auth {
        let status = if bind.ip().is_loopback() {
            Status::Warn
        } else {
            Status::Fail
        };
        report.problem(
            status,
            "http auth",
            "server.dangerously_disable_auth = true: any caller can run every tool",
            "remove it; it exists only for the MCP conformance suite on loopback",
        );
    }
    match (bind.ip().is_loopback(), &public) {
        (true, _) => report.pass("http bind", format!("{bind} (loopback only)")),
        (false, Some(_)) => report.problem(
            Status::Warn,
            "http bind",
            format!("{bind} is reachable beyond loopback, around the reverse proxy"),
            "bind 127.0.0.1 and let the proxy be the only way in",
        ),
        (false, None) => report.problem(
            Status::Warn,
            "http bind",
            format!("{bind} is reachable beyond loopback over plain HTTP"),
            "bind 127.0.0.1 and put a TLS reverse proxy in front; set server.public_url to its URL",
        ),
    }
    if let Some(url) = &public {
        let host = url.host_str().unwrap_or("").trim_matches(['[', ']']);
        if url.scheme() != "https" && !is_loopback_host(host) {
            report.problem(
                Status::Fail,
                "public url",
                format!(
                    "{url} is {} on a host beyond loopback: the bearer token would cross the network in clear",
                    url.scheme()
                ),
                "use an https:// public_url and terminate TLS in the reverse proxy",
            );
        } else if url.path() != "/" {
            report.problem(
                Status::Warn,
                "public url",
                format!(
                    "{url} has the path {}; MCPist serves /mcp at the root",
                    url.path()
                ),
                "serve MCPist at the root of its own host name (the proxy must not add a prefix)",
            );
        } else {
            report.pass(
                "public url",
                format!(
                    "{url}: Host {host} and Origin {} are accepted",
                    url.origin().ascii_serialization()
                ),
            );
        }
    }
    for entry in &server.allowed_hosts {
        let bare = !entry.is_empty()
            && (entry.parse::<IpAddr>().is_ok()
                || !entry.contains([':', '/', '@', '*'])
                    && !entry.chars().any(char::is_whitespace));
        if !bare {
            report.problem(
                Status::Fail,
                "allowed hosts",
                format!(
                    "allowed_hosts entry {entry:?} is not a bare host name; the Host check compares names without scheme or port"
                ),
                format!(
                    "write only the name, such as {:?}",
                    entry
                        .split("://")
                        .last()
                        .unwrap_or(entry)
                        .split([':', '/'])
                        .next()
                        .unwrap_or("")
                ),
            );
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The key file is there and private, or the key comes from the environment,
/// or (`key = "passphrase"`) a passphrase can be had. False when a passphrase
/// store has no passphrase to open it with.
fn check_key(report: &mut Report, loaded: &Loaded) -> bool {
    use std::io::IsTerminal as _;
    if loaded.config.store.key == KeySource::Passphrase {
        let env = mcpist_core::seal::PASSPHRASE_ENV;
        if std::env::var_os(env).is_some() {
            report.pass(
                "key",
                format!("the master key is derived from the passphrase in {env}"),
            );
        } else if std::io::stdin().is_terminal() {
            report.pass(
                "key",
                "the master key is derived from the passphrase asked at the prompt",
            );
        } else {
            report.problem(
                Status::Fail,
                "key",
                format!(
                    "[store] key = \"passphrase\", but {env} is not set and standard input is \
                     not a terminal to ask at"
                ),
                format!("set {env}, or run `mcpist doctor` at a terminal"),
            );
            return false;
        }
        return true;
    }
    let key_path = loaded.key_path();
    if std::env::var_os(mcpist_core::seal::MASTER_KEY_ENV).is_some() {
        report.pass(
            "key",
            format!(
                "the master key comes from {}",
                mcpist_core::seal::MASTER_KEY_ENV
            ),
        );
        return true;
    }
    if !key_path.exists() {
        report.problem(
            Status::Fail,
            "key",
            format!("no key file at {}", key_path.display()),
            format!(
                "put back the key file you backed up (or set {}); without it the store cannot be opened",
                mcpist_core::seal::MASTER_KEY_ENV
            ),
        );
        return true;
    }
    if check_private(report, "key", &key_path) {
        report.pass(
            "key",
            format!("{} is present and private (0600)", key_path.display()),
        );
    }
    true
}

/// Reports a file that users other than its owner can read or write; true if private.
fn check_private(report: &mut Report, check: &str, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                report.problem(
                    Status::Fail,
                    check,
                    format!(
                        "{} has mode {mode:04o}: other users can read it",
                        path.display()
                    ),
                    format!("chmod 600 {}", path.display()),
                );
                return false;
            }
        }
    }
    true
}

/// Every served service has a usable account; every stored account is served.
async fn check_accounts(
    report: &mut Report,
    loaded: &Loaded,
    stores: &wiring::Stores,
    services: &[Service],
) {
    let accounts = match stores.tokens.list().await {
        Ok(accounts) => accounts,
        Err(e) => {
            report.problem(
                Status::Fail,
                "accounts",
                format!("the accounts cannot be listed: {e}"),
                "restore the store from a backup (`mcpist restore BACKUP`)",
            );
            return;
        }
    };
    let now = now_unix();
    let margin = loaded.config.oauth.refresh_margin_secs;
    for service in services {
        let name = service.connector.service();
        let reconnect = |account: &str| match service.oauth {
            Some(_) => format!("mcpist login {name} --account {account}"),
            None => format!(
                "echo \"$TOKEN\" | mcpist accounts add {name} --account {account} --token-stdin"
            ),
        };
        if service.connector.auth() == Auth::None {
            continue;
        }
        let mine: Vec<_> = accounts.iter().filter(|a| a.service == name).collect();
        if mine.is_empty() {
            report.problem(
                Status::Warn,
                format!("account {name}"),
                format!("{name} is served but has no account: its tools will refuse every call"),
                format!(
                    "echo \"$TOKEN\" | mcpist accounts add {name} --account LABEL --token-stdin{}; \
                     or `enabled = false` in [connectors.{name}]",
                    if service.oauth.is_some() {
                        format!(" (or `mcpist login {name} --account LABEL`)")
                    } else {
                        String::new()
                    }
                ),
            );
            continue;
        }
        for info in mine {
            let check = format!("account {name}/{}", info.account);
            let record = match AccountKey::new(name, &info.account) {
                Ok(key) => stores.tokens.get(&key).await,
                Err(e) => Err(e),
            };
            let record = match record {
                Ok(Some(record)) => record,
                Ok(None) => continue, // removed meanwhile
                Err(e) => {
                    report.problem(
                        Status::Fail,
                        check,
                        format!("the record does not open: {e}"),
                        format!("add the account again: {}", reconnect(&info.account)),
                    );
                    continue;
                }
            };
            let who = info
                .identity
                .as_deref()
                .map(|i| format!(" as {i}"))
                .unwrap_or_default();
            let refreshable = record.credential.refresh_token.is_some();
            // The one status rule; `t` is only read for expiring and expired accounts.
            let t = info.expires_at.unwrap_or(now);
            match ShownStatus::of(info, now, margin) {
                ShownStatus::NeedsReauth => report.problem(
                    Status::Fail,
                    check,
                    "needs_reauth: the provider no longer accepts its grant",
                    format!("connect it again: {}", reconnect(&info.account)),
                ),
                ShownStatus::Expired if refreshable => report.problem(
                    Status::Warn,
                    check,
                    format!(
                        "the access token expired {} min ago; it is refreshed on the next call",
                        (now - t) / 60
                    ),
                    format!(
                        "nothing if the next call works; else {}",
                        reconnect(&info.account)
                    ),
                ),
                ShownStatus::Expired => report.problem(
                    Status::Fail,
                    check,
                    format!(
                        "expired {} min ago and has no refresh token",
                        (now - t) / 60
                    ),
                    format!("connect it again: {}", reconnect(&info.account)),
                ),
                ShownStatus::Expiring if !refreshable => report.problem(
                    Status::Warn,
                    check,
                    format!(
                        "expiring in {} min and has no refresh token",
                        (t - now) / 60
                    ),
                    format!("replace it soon: {}", reconnect(&info.account)),
                ),
                ShownStatus::Expiring => report.pass(
                    check,
                    format!(
                        "expiring in {} min, refreshed automatically{who}",
                        (t - now) / 60
                    ),
                ),
                ShownStatus::Ok => {
                    report.pass(check, format!("valid ({} token{who})", info.kind.as_str()))
                }
            }
        }
    }
    for info in &accounts {
        if !services
            .iter()
            .any(|s| s.connector.service() == info.service)
        {
            report.problem(
                Status::Warn,
                format!("account {}/{}", info.service, info.account),
                format!("{} is not served by this config", info.service),
                format!(
                    "enable [connectors.{}], or `mcpist accounts remove {} {}`",
                    info.service, info.service, info.account
                ),
            );
        }
    }
}

/// Each service's API host resolves and answers HTTP (any status counts).
/// Unreachable is a failure for a service with accounts, a warning otherwise.
async fn check_reachable(report: &mut Report, stores: &wiring::Stores, services: &[Service]) {
    let accounts = stores.tokens.list().await.unwrap_or_default();
    let client = match reqwest::Client::builder()
        .timeout(REACH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mcpist-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            report.problem(
                Status::Fail,
                "reach",
                format!("no HTTP client: {e}"),
                "check the system's TLS setup",
            );
            return;
        }
    };
    // Concurrently: each probe may wait out its timeout.
    let mut probes = tokio::task::JoinSet::new();
    for (i, service) in services.iter().enumerate() {
        let client = client.clone();
        let url = service.connector.base_url().clone();
        probes.spawn(async move {
            let result = probe(&client, &url).await;
            (i, url, result)
        });
    }
    let mut results = probes.join_all().await;
    results.sort_by_key(|(i, _, _)| *i);
    for (i, url, result) in results {
        let name = services[i].connector.service();
        let used = accounts.iter().any(|a| a.service == name);
        match result {
            Ok(answer) => report.pass(format!("reach {name}"), format!("{url} {answer}")),
            Err(problem) => report.problem(
                if used { Status::Fail } else { Status::Warn },
                format!("reach {name}"),
                format!("{url} {problem}"),
                format!(
                    "check the network, DNS and proxy of this machine, and base_url in [connectors.{name}]"
                ),
            ),
        }
    }
}

async fn probe(client: &reqwest::Client, url: &url::Url) -> std::result::Result<String, String> {
    let host = url.host_str().unwrap_or("").trim_matches(['[', ']']);
    let port = url.port_or_known_default().unwrap_or(443);
    match tokio::time::timeout(REACH_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Err(_) => return Err(format!("does not resolve: no answer from DNS for {host}")),
        Ok(Err(e)) => return Err(format!("does not resolve: {e}")),
        Ok(Ok(_)) => {}
    }
    let started = Instant::now();
    match client.get(url.as_str()).send().await {
        Ok(response) => Ok(format!(
            "answered HTTP {} in {} ms",
            response.status().as_u16(),
            started.elapsed().as_millis()
        )),
        Err(e) if e.is_timeout() => Err(format!(
            "gave no answer within {} s",
            REACH_TIMEOUT.as_secs()
        )),
        Err(e) if e.is_connect() => Err(format!(
            "refused or dropped the connection: {}",
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| e.to_string())
        )),
        Err(e) => Err(format!("gave no HTTP answer: {}", e.without_url())),
    }
}
