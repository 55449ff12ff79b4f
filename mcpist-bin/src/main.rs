//! `mcpist`: the command line. Reads `mcpist.toml`, opens the store, builds the
//! configured connectors and serves them over MCP. All logic that an embedder
//! would need lives in the library crates; this binary only wires them.

mod backup;
mod config;
mod doctor;
mod wiring;

use std::{
    io::{BufRead, IsTerminal, Read, Write},
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use mcpist_core::{
    accounts::ShownStatus,
    audit::{AuditEvent, AuditFilter, AuditKind, AuditOutcome, Outcome, format_time},
    clients::{McpClient, ServerEntry},
    http::{ClientAuth, HttpOptions},
    oauth::AppCredentials,
    output::terminal_safe,
    policy::Verdict,
    store::{AccountKey, now_unix},
};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use crate::config::Loaded;

/// MCPist: one MCP server for your own API tokens. Clients get tools, never tokens.
#[derive(Debug, Parser)]
#[command(name = "mcpist", version, about)]
struct Cli {
    /// The config file [default: $XDG_CONFIG_HOME/mcpist/mcpist.toml]
    #[arg(long, global = true, env = "MCPIST_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the config file, data directory, master key, store and MCP bearer token.
    Init,
    /// Serve MCP: Streamable HTTP at /mcp (default) or stdio.
    Serve {
        /// Speak MCP over stdin/stdout (for Claude Desktop and other clients that start servers).
        #[arg(long)]
        stdio: bool,
        /// Listen here instead of `server.bind`.
        #[arg(long, value_name = "ADDR")]
        bind: Option<SocketAddr>,
    },
    /// List the tools a client sees.
    Tools {
        /// Print the exact `tools/list` JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage accounts (credentials) of services.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Your OAuth apps (client id and secret), one per service.
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Connect an account with OAuth: authorization code with PKCE, redirect to a loopback port.
    Login {
        /// The service, such as `github`.
        service: String,
        /// The account label.
        #[arg(long, default_value = "default")]
        account: String,
        /// A scope to request instead of the service's defaults (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// The loopback port to receive the redirect on [default: any free port].
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Print the URL only; do not try to open a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// The bearer token MCP clients send over HTTP.
    #[command(subcommand)]
    Bearer(BearerCommand),
    /// The master key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The web UI password.
    #[command(subcommand)]
    Password(PasswordCommand),
    /// Print the MCP client configuration that starts or reaches this MCPist.
    ClientConfig {
        /// Which client's format.
        #[arg(value_enum)]
        client: Client,
        /// Connect over HTTP with the bearer token instead of starting `mcpist serve --stdio`.
        #[arg(long)]
        http: bool,
    },
    /// Show or verify the audit log, newest first.
    Audit {
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
        /// Show at most this many records.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// Only records since then: `30m`, `24h`, `7d`, or a date `2026-11-01`.
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Check the hash chain instead: exit non-zero on any edited, deleted or reordered record.
        #[arg(long)]
        verify: bool,
    },
    /// Write a consistent snapshot of the store (safe while `serve` runs); the key is not in it.
    Backup {
        /// The snapshot file to create (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Replace the store with a snapshot, after checking that the current key opens it.
    Restore {
        /// The snapshot written by `mcpist backup`.
        file: PathBuf,
        /// Replace an existing store (it is kept as `<store>.before-restore-<timestamp>`).
        #[arg(long)]
        force: bool,
        /// Restore a snapshot whose audit chain is broken (refused otherwise).
        #[arg(long)]
        accept_broken_audit: bool,
    },
    /// Check the config, key, store, accounts, upstreams and HTTP settings; say how to fix each problem.
    Doctor {
        /// Print the checks as a JSON array.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AccountsCommand {
    /// Add (or replace) an account with a token read from standard input.
    Add {
        /// The service, such as `github`.
        service: String,
        /// The account label.
        #[arg(long, default_value = "default")]
        account: String,
        /// Read the token from standard input (tokens are never taken from arguments).
        #[arg(long, required = true)]
        token_stdin: bool,
        /// Store the token without asking the service who it belongs to.
        #[arg(long)]
        no_verify: bool,
    },
    /// List accounts: labels, status, expiry, identity; never secrets.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an account and its credential.
    Remove {
        /// The service.
        service: String,
        /// The account label.
        account: String,
    },
    /// Make an account the one tools use when no `account` argument is given.
    Default {
        /// The service.
        service: String,
        /// The account label.
        account: String,
    },
}

#[derive(Debug, Subcommand)]
enum AppsCommand {
    /// Store the OAuth app of a service; the secret is read from standard input.
    Set {
        /// The service, such as `github`.
        service: String,
        /// The app's client id.
        #[arg(long)]
        client_id: String,
        /// Read the client secret from standard input (omit for public clients).
        #[arg(long)]
        client_secret_stdin: bool,
    },
    /// The stored apps, with the redirect URIs to register with each provider.
    List,
}

/// The MCP clients `client-config` knows.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Client {
    /// `claude_desktop_config.json`
    ClaudeDesktop,
    /// Claude Code's `.mcp.json`
    ClaudeCode,
    /// `~/.cursor/mcp.json`
    Cursor,
    /// VS Code's `.vscode/mcp.json`
    Vscode,
}

#[derive(Debug, Subcommand)]
enum PasswordCommand {
    /// Set the web UI password: typed at the terminal (twice), or read from standard input.
    Set,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Replace the master key and re-seal every secret with it (crash-safe).
    ///
    /// With `[store] key = "passphrase"` (or `--to-passphrase`), the new key is
    /// derived from a new passphrase: `MCPIST_NEW_PASSPHRASE` or a prompt.
    Rotate {
        /// Switch a key-file store to a passphrase (then set `key = "passphrase"`).
        #[arg(long, conflicts_with = "to_key_file")]
        to_passphrase: bool,
        /// Switch a passphrase store to a new key file (then remove `key = "passphrase"`).
        #[arg(long)]
        to_key_file: bool,
        /// Re-seal every record that opens and leave those that do not (no key
        /// opens them) as they are; they are listed by service/account.
        #[arg(long)]
        skip_broken: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BearerCommand {
    /// Print the bearer token to standard output.
    Show,
    /// Replace the bearer token (clients must be given the new one) and print it.
    Rotate,
}

/// jemalloc (tuned in `.cargo/config.toml`): with glibc's allocator, malloc
/// and free were a quarter of the server's CPU; see the README's Benchmarks.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcpist: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mcpist: {}", cli_words(&err));
            ExitCode::FAILURE
        }
    }
}

/// `err` as the CLI user reads it: core's errors that call for a command
/// name this program's (core's own text names none).
fn cli_words(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    let Some(core) = err
        .chain()
        .find_map(|e| e.downcast_ref::<mcpist_core::Error>())
    else {
        return text;
    };
    let cli = match core {
        mcpist_core::Error::StoreInUse { location } => format!(
            "token store failed: {location} is in use by another process: stop `mcpist serve` and \
             every MCP client that starts `mcpist serve --stdio` (and any other `mcpist` \
             command), then try again; nothing was changed"
        ),
        mcpist_core::Error::BrokenRecords { records } => format!(
            "token store failed: {} record(s) do not open with the current key, so they cannot \
             be re-sealed: {}; nothing was changed. `mcpist key rotate --skip-broken` re-seals \
             the rest and leaves these as they are (no key opens them); or remove them first",
            records.len(),
            records.join(", ")
        ),
        _ => return text,
    };
    text.replace(&core.to_string(), &cli)
}

/// Logs go to stderr (stdout may be the MCP transport), as text or JSON lines,
/// coloured only when stderr is a terminal: MCP clients write a server's
/// stderr to log files, where escape codes are noise.
fn init_logging(command: &Command, format: config::LogFormat) {
    let default_level = match command {
        Command::Serve { .. } => "info",
        _ => "warn",
    };
    let filter = std::env::var("MCPIST_LOG")
        .ok()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(log_filter(&f)).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter);
    match format {
        config::LogFormat::Text => logs.init(),
        config::LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

/// The filter for `MCPIST_LOG=filter`: rmcp stays at `info` unless the
/// filter names it, since at `debug` it logs every message in full, tool
/// arguments and results included.
fn log_filter(filter: &str) -> String {
    let lower = filter.to_ascii_lowercase();
    let verbose = lower.contains("debug") || lower.contains("trace");
    if lower.contains("rmcp") || !verbose {
        filter.to_owned()
    } else {
        format!("{filter},rmcp=info")
    }
}

async fn run(cli: Cli) -> Result<()> {
    if let Command::Doctor { json } = cli.command {
        init_logging(&cli.command, config::LogFormat::Text);
        // The doctor reports a bad config as one of its checks.
        return doctor::run(cli.config.as_deref(), json).await;
    }
    let loaded = config::load(cli.config.as_deref())?;
    init_logging(&cli.command, loaded.config.log.format);
    match cli.command {
        Command::Init => init(&loaded).await,
        Command::Serve { stdio, bind } => serve(&loaded, stdio, bind).await,
        Command::Tools { json } => tools(&loaded, json).await,
        Command::Accounts(cmd) => accounts(&loaded, cmd).await,
        Command::Apps(cmd) => apps(&loaded, cmd).await,
        Command::Login {
            service,
            account,
            scopes,
            port,
            no_browser,
        } => login(&loaded, &service, &account, scopes, port, no_browser).await,
        Command::Bearer(cmd) => bearer(&loaded, cmd).await,
        Command::Key(KeyCommand::Rotate {
            to_passphrase,
            to_key_file,
            skip_broken,
        }) => {
            let to = match (to_passphrase, to_key_file) {
                (true, _) => Some(config::KeySource::Passphrase),
                (_, true) => Some(config::KeySource::File),
                _ => None,
            };
            wiring::rotate_key(&loaded, to, skip_broken).await
        }
        Command::Password(PasswordCommand::Set) => set_password(&loaded).await,
        Command::ClientConfig { client, http } => client_config(&loaded, client, http).await,
        Command::Audit {
            json,
            limit,
            service,
            since,
            verify,
        } => {
            let filter = AuditFilter {
                limit: Some(limit),
                service,
                since_ms: since.as_deref().map(parse_since).transpose()?,
                ..AuditFilter::default()
            };
            audit(&loaded, json, filter, verify).await
        }
        Command::Backup { out } => backup::backup(&loaded, &out).await,
        Command::Restore {
            file,
            force,
            accept_broken_audit,
        } => backup::restore(&loaded, &file, force, accept_broken_audit).await,
        Command::Doctor { .. } => unreachable!("handled above"),
    }
}

async fn bearer(loaded: &Loaded, cmd: BearerCommand) -> Result<()> {
    let (stores, _) = wiring::open_store(loaded, false)?;
    let bearer = match cmd {
        BearerCommand::Show => stores
            .tokens
            .get_secret(wiring::BEARER_SECRET)
            .await?
            .context("no bearer token yet; run `mcpist init`")?,
        BearerCommand::Rotate => {
            let bearer = wiring::new_bearer()?;
            let seq = stores
                .audit
                .begin(AuditEvent::now(AuditKind::BearerRotate))
                .await
                .context("refused: the audit log cannot be written")?;
            let stored = stores
                .tokens
                .put_secret(wiring::BEARER_SECRET, &bearer)
                .await;
            finish(stores.audit.as_ref(), seq, &stored).await;
            stored?;
            eprintln!(
                "the bearer token was replaced; give MCP clients the new one \
                 (a running `mcpist serve` keeps the old one until restarted)"
            );
            bearer
        }
    };
    println!("{}", bearer.expose_secret());
    Ok(())
}

async fn audit(loaded: &Loaded, json: bool, filter: AuditFilter, verify: bool) -> Result<()> {
    let (stores, _) = wiring::open_store(loaded, false)?;
    let mut out = std::io::stdout().lock();
    if verify {
        let report = stores.audit.verify().await?;
        if json {
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "{} records checked, {} pending",
                report.checked, report.pending
            )?;
            for problem in &report.problems {
                writeln!(out, "BROKEN: {problem}")?;
            }
        }
        if !report.is_intact() {
            bail!(
                "the audit log was tampered with ({} problems)",
                report.problems.len()
            );
        }
        if !json {
            writeln!(out, "the audit chain is intact")?;
        }
        return Ok(());
    }
    for entry in stores.audit.query(&filter).await? {
        if json {
            serde_json::to_writer(&mut out, &entry)?;
            writeln!(out)?;
            continue;
        }
        let e = &entry.event;
        let o = &entry.outcome;
        writeln!(
            out,
            "{} {:>6} {:<15} {:<8} {:<10} {:<24} {:<17} {:>4} {:>6}ms {}",
            format_time(e.time_ms),
            entry.seq,
            e.kind.as_str(),
            terminal_safe(e.service.as_deref().unwrap_or("-")),
            terminal_safe(e.account.as_deref().unwrap_or("-")),
            terminal_safe(e.tool.as_deref().unwrap_or("-")),
            o.outcome.as_str(),
            o.upstream_status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            o.latency_ms,
            terminal_safe(o.message.as_deref().unwrap_or("")),
        )?;
    }
    Ok(())
}

/// `30m`, `24h`, `7d`, `90s`, or `YYYY-MM-DD` (UTC), as ms since the epoch.
fn parse_since(text: &str) -> Result<u64> {
    let now = mcpist_core::audit::now_ms();
    let units = [
        ("s", 1_000u64),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
    ];
    for (suffix, ms) in units {
        if let Some(n) = text
            .strip_suffix(suffix)
            .and_then(|n| n.parse::<u64>().ok())
        {
            return Ok(now.saturating_sub(n.saturating_mul(ms)));
        }
    }
    let parts: Vec<_> = text.split('-').map(|p| p.parse::<i64>()).collect();
    if let [Ok(y), Ok(m), Ok(d)] = parts.as_slice()
        && (1..=12).contains(m)
        && (1..=31).contains(d)
    {
        // Days from civil (Howard Hinnant), the inverse of `format_time`.
        let y = if *m <= 2 { y - 1 } else { *y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        return Ok((days.max(0) as u64) * 86_400_000);
    }
    bail!("--since {text:?}: use a duration such as 30m, 24h, 7d, or a date such as 2026-11-01")
}

async fn init(loaded: &Loaded) -> Result<()> {
    let path = &loaded.config_path;
    if loaded.config_exists {
        eprintln!("config:  {} (exists, kept)", path.display());
    } else {
        if let Some(dir) = path.parent() {
            mcpist_core::seal::create_private_dir(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, config::TEMPLATE)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("config:  {} (created)", path.display());
    }
    let (stores, created) = wiring::open_store(loaded, true)?;
    if loaded.config.store.kind == config::StoreKind::Sqlite {
        let state = |new: bool| if new { "created" } else { "exists, kept" };
        if loaded.config.store.key == config::KeySource::Passphrase {
            eprintln!("key:     derived from the passphrase (argon2id; salt kept in the store)");
        } else {
            eprintln!(
                "key:     {} ({}, mode 0600)",
                loaded.key_path().display(),
                state(created.key)
            );
        }
        eprintln!(
            "store:   {} ({})",
            loaded.store_path().display(),
            state(created.store)
        );
    }
    if loaded.config.store.kind == config::StoreKind::Postgres {
        if loaded.config.store.key == config::KeySource::Passphrase {
            eprintln!("key:     derived from the passphrase (argon2id; salt kept in the database)");
        } else {
            let state = if created.key {
                "created"
            } else {
                "exists, kept"
            };
            eprintln!(
                "key:     {} ({state}; every replica needs this key)",
                loaded.key_path().display()
            );
        }
        eprintln!("store:   {}", stores.tokens.location());
    }
    let (bearer, bearer_created) = wiring::ensure_bearer(stores.tokens.as_ref()).await?;
    if bearer_created {
        eprintln!("bearer:  created; MCP clients send it as `Authorization: Bearer <token>`:");
        println!("{}", bearer.expose_secret());
        eprintln!("         (print it again with `mcpist bearer show`)");
    } else {
        eprintln!("bearer:  exists, kept (`mcpist bearer show` prints it)");
    }
    match wiring::ensure_ui_password(stores.tokens.as_ref()).await? {
        Some(password) => eprintln!(
            "web UI:  password {} (shown once; change it with `mcpist password set`)",
            password.expose_secret()
        ),
        None => eprintln!("web UI:  password exists, kept (`mcpist password set` changes it)"),
    }
    eprintln!("next:    echo \"$TOKEN\" | mcpist accounts add github --account work --token-stdin");
    eprintln!(
        "         mcpist serve           # web UI at http://{0}/, MCP at http://{0}/mcp",
        loaded.config.server.bind
    );
    Ok(())
}

async fn set_password(loaded: &Loaded) -> Result<()> {
    let (stores, _) = wiring::open_store(loaded, false)?;
    let password = if std::io::stdin().is_terminal() {
        let first = SecretString::from(rpassword::prompt_password("New web UI password: ")?);
        let again = SecretString::from(rpassword::prompt_password("Again: ")?);
        if first.expose_secret() != again.expose_secret() {
            bail!("the two passwords differ; nothing was changed");
        }
        first
    } else {
        // The line's end is not part of the password; spaces inside it are.
        let text = read_token()?;
        SecretString::from(
            text.expose_secret()
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        )
    };
    mcpist_web::set_password(stores.tokens.as_ref(), &password).await?;
    eprintln!("web UI password set; sessions already open stay open until `mcpist serve` restarts");
    Ok(())
}

/// The shortest bearer `serve` takes from `MCPIST_BEARER`.
const MIN_BEARER_CHARS: usize = 32;

async fn serve(loaded: &Loaded, stdio: bool, bind: Option<SocketAddr>) -> Result<()> {
    let (stores, created) = wiring::open_store(loaded, true)?;
    if created.key {
        notice(
            loaded,
            false,
            &format!(
                "created master key {} (mode 0600); back it up: without it the store cannot be opened",
                loaded.key_path().display()
            ),
        );
    }
    if created.store {
        notice(
            loaded,
            false,
            &format!("created store {}", loaded.store_path().display()),
        );
    }
    if let Some(days) = loaded.config.audit.retention_days {
        let before = mcpist_core::audit::now_ms().saturating_sub(u64::from(days) * 86_400_000);
        let pruned = stores.audit.prune(before).await?;
        if pruned > 0 {
            tracing::info!(pruned, days, "pruned audit records past their retention");
        }
    }
    let server = wiring::build_server(loaded, &stores)?;
    server.exchanger().warm_up();
    server.load_saved_policies(stores.tokens.as_ref()).await?;
    if stdio {
        tracing::info!(tools = server.visible_tools(), "serving MCP over stdio");
        return Ok(server.serve_stdio().await?);
    }
    let server_config = &loaded.config.server;
    let bind = bind.unwrap_or(server_config.bind);
    let auth = if server_config.dangerously_disable_auth {
        if !bind.ip().is_loopback() {
            bail!(
                "server.dangerously_disable_auth is accepted only on a loopback bind, not {bind}"
            );
        }
        notice(
            loaded,
            true,
            "server.dangerously_disable_auth = true: ANY local process can call every tool without a bearer token. Use only for the conformance suite.",
        );
        ClientAuth::DangerouslyNone
    } else if loaded.config.store.kind == config::StoreKind::Memory {
        // A memory store forgets everything at exit, so `bearer show` could
        // never print its token: the caller supplies one instead.
        let bearer = SecretString::from(std::env::var("MCPIST_BEARER").map_err(|_| {
            anyhow::anyhow!(
                "with [store] kind = \"memory\" nothing persists, not even the bearer token; \
                 set MCPIST_BEARER to the token HTTP clients will send"
            )
        })?);
        let chars = bearer.expose_secret().chars().count();
        if chars < MIN_BEARER_CHARS {
            bail!(
                "MCPIST_BEARER must be at least {MIN_BEARER_CHARS} characters, not {chars}: \
                 a short bearer can be guessed; `openssl rand -hex 32` makes a good one"
            );
        }
        ClientAuth::Bearer(mcpist_core::http::BearerDigest::of(&bearer))
    } else {
        let (bearer, bearer_created) = wiring::ensure_bearer(stores.tokens.as_ref()).await?;
        if bearer_created {
            notice(
                loaded,
                false,
                "created an MCP bearer token; print it with `mcpist bearer show`",
            );
        }
        // serve's output may be a service log: it never prints a password.
        if stores
            .tokens
            .get_secret(mcpist_web::PASSWORD_SECRET)
            .await?
            .is_none()
        {
            notice(
                loaded,
                false,
                "the web UI has no password yet; set one with `mcpist password set`",
            );
        }
        ClientAuth::Bearer(mcpist_core::http::BearerDigest::of(&bearer))
    };
    if !bind.ip().is_loopback() {
        notice(
            loaded,
            true,
            &format!(
                "listening on {bind}, beyond loopback: every host that reaches it can try the bearer token; put TLS in front (see the README)"
            ),
        );
    }
    let mut options = HttpOptions::loopback(auth);
    options
        .allowed_hosts
        .extend(server_config.allowed_hosts.iter().cloned());
    if let Some(public) = &server_config.public_url {
        let url = url::Url::parse(public)?;
        if let Some(host) = url.host_str() {
            options
                .allowed_hosts
                .push(host.trim_matches(['[', ']']).to_owned());
        }
        options
            .allowed_origins
            .push(url.origin().ascii_serialization());
    }
    let cancel = CancellationToken::new();
    options.cancel = cancel.clone();
    // The web UI, beside `/mcp` behind the same Host / Origin guard.
    let mut web_routes = axum::Router::new();
    if loaded.config.store.kind != config::StoreKind::Memory {
        let base = server_config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bind}"));
        let mut web = mcpist_web::WebOptions::new(base);
        web.stdio_entry = stdio_entry(loaded).ok();
        web.lockout_hint = "To get in at once, run `mcpist password set` where MCPist runs \
                            (the same password will do), or restart `mcpist serve`."
            .into();
        web_routes = mcpist_web::routes(server.clone(), web);
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let local = listener.local_addr()?;
    notice(
        loaded,
        false,
        &format!(
            "serving {} tools; web UI at http://{local}/, MCP at http://{local}/mcp",
            server.visible_tools()
        ),
    );
    // On SIGTERM: stop accepting at once; give the calls in flight the grace
    // period to finish, then cut off the rest with an error answer; only then
    // close the sessions' streams.
    let grace = std::time::Duration::from_secs(server_config.shutdown_grace_secs);
    let in_flight = options.in_flight.clone();
    let calls = server.clone();
    let hard_stop = CancellationToken::new();
    let stop = hard_stop.clone();
    let limits = server_config.connection_limits();
    let serving = mcpist_core::http::serve(
        listener,
        mcpist_core::http::router_with(server, options, web_routes),
        limits,
        async move {
            shutdown_signal().await;
            tracing::info!(
                in_flight = in_flight.count(),
                grace_secs = grace.as_secs(),
                "stopping: no new connections; waiting for the calls in flight"
            );
            tokio::spawn(async move {
                let flush = std::time::Duration::from_secs(5);
                if tokio::time::timeout(grace, in_flight.idle()).await.is_err() {
                    tracing::warn!(
                        in_flight = in_flight.count(),
                        grace_secs = grace.as_secs(),
                        "calls still running after the grace period are cut off"
                    );
                    calls.cut_calls();
                    let _ = tokio::time::timeout(flush, in_flight.idle()).await;
                }
                cancel.cancel();
                // A connection that ignores the close must not keep the process alive.
                tokio::time::sleep(flush).await;
                stop.cancel();
            });
        },
    );
    tokio::select! {
        served = serving => served?,
        () = hard_stop.cancelled() => {
            tracing::warn!("connections still open after the grace period; exiting anyway");
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// An operator message from `serve`: a plain stderr line, or a log event
/// when the logs are JSON (so that every line of stderr parses).
fn notice(loaded: &Loaded, warning: bool, message: &str) {
    match (loaded.config.log.format, warning) {
        (config::LogFormat::Text, false) => eprintln!("mcpist: {message}"),
        (config::LogFormat::Text, true) => eprintln!("mcpist: WARNING: {message}"),
        (config::LogFormat::Json, false) => tracing::info!("{message}"),
        (config::LogFormat::Json, true) => tracing::warn!("{message}"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn tools(loaded: &Loaded, json: bool) -> Result<()> {
    // Listing needs no credentials, but policies saved in the web UI live in
    // the store: open it when there is one, else a throwaway memory store.
    let has_store = match loaded.config.store.kind {
        config::StoreKind::Sqlite => loaded.store_path().exists(),
        config::StoreKind::Postgres => true,
        config::StoreKind::Memory => false,
    };
    let (stores, _) = if has_store {
        wiring::open_store(loaded, false)?
    } else {
        wiring::open_store(&loaded.with_memory_store(), false)?
    };
    let server = wiring::build_server(loaded, &stores)?;
    server.load_saved_policies(stores.tokens.as_ref()).await?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &server.tools_json())?;
        writeln!(out)?;
        return Ok(());
    }
    let mut hidden = Vec::new();
    for listed in server.catalog() {
        if let Verdict::Hidden(reason) = &listed.verdict {
            hidden.push(format!("{:<28} hidden: {reason}", listed.tool.name));
            continue;
        }
        let read_only = listed
            .tool
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false);
        writeln!(
            out,
            "{:<28} {:<5} {:<14} {}",
            listed.tool.name,
            if read_only { "read" } else { "WRITE" },
            listed.toolset,
            listed.tool.description.as_deref().unwrap_or("")
        )?;
    }
    for line in hidden {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

async fn accounts(loaded: &Loaded, cmd: AccountsCommand) -> Result<()> {
    let (stores, _) = wiring::open_store(loaded, matches!(cmd, AccountsCommand::Add { .. }))?;
    let store = stores.tokens.as_ref();
    match cmd {
        AccountsCommand::Add {
            service,
            account,
            token_stdin: _,
            no_verify,
        } => {
            let services = wiring::build_services(loaded)?;
            let connector = find_service(&services, &service)?.connector.clone();
            let key = AccountKey::new(&service, &account)?;
            let token = read_token()?;
            let exchanger = wiring::build_exchanger(loaded, &stores, &services)?;
            let added = exchanger
                .add_token(connector.as_ref(), &key, token, !no_verify)
                .await?;
            if !no_verify && added.identity.is_none() {
                eprintln!(
                    "warning: could not confirm the token with {service} (see the log line above); stored it anyway"
                );
            }
            eprintln!(
                "{} account '{account}' of {service}{} (stored sealed in {})",
                if added.replaced { "replaced" } else { "added" },
                added
                    .identity
                    .map(|i| format!(", signed in as {}", terminal_safe(&i)))
                    .unwrap_or_default(),
                store.location()
            );
            Ok(())
        }
        AccountsCommand::List { json } => {
            let accounts = store.list().await?;
            // Listing needs no secrets, but a record that no longer opens
            // (a damaged byte on disk) must show here, not at the next call.
            let mut broken = std::collections::HashSet::new();
            for a in &accounts {
                let key = AccountKey::new(&a.service, &a.account)?;
                if let Err(mcpist_core::Error::Unseal { .. }) = store.get(&key).await {
                    broken.insert(key);
                }
            }
            let is_broken = |a: &mcpist_core::store::AccountInfo| {
                AccountKey::new(&a.service, &a.account).is_ok_and(|k| broken.contains(&k))
            };
            let mut out = std::io::stdout().lock();
            if json {
                let mut listed = serde_json::to_value(&accounts)?;
                for (value, a) in listed.as_array_mut().into_iter().flatten().zip(&accounts) {
                    if is_broken(a) {
                        value["status"] = "broken".into();
                        value["problem"] = "cannot be decrypted".into();
                    }
                }
                serde_json::to_writer_pretty(&mut out, &listed)?;
                writeln!(out)?;
                return Ok(());
            }
            if accounts.is_empty() {
                eprintln!(
                    "no accounts yet; add one with `mcpist accounts add SERVICE --account LABEL --token-stdin`"
                );
            }
            let now = now_unix();
            let margin = loaded.config.oauth.refresh_margin_secs;
            for a in accounts {
                let expiry = match a.expires_at {
                    None => "never".to_owned(),
                    Some(t) if t <= now => "expired".to_owned(),
                    Some(t) => format!("in {} min", (t - now) / 60),
                };
                let status = if is_broken(&a) {
                    "broken: cannot be decrypted"
                } else {
                    ShownStatus::of(&a, now, margin).as_str()
                };
                writeln!(
                    out,
                    "{:<12} {:<16} {:<8} {:<13} {:<7} {:<10} {}",
                    a.service,
                    a.account,
                    if a.is_default { "default" } else { "" },
                    status,
                    a.kind.as_str(),
                    expiry,
                    terminal_safe(a.identity.as_deref().unwrap_or("-")),
                )?;
            }
            if !broken.is_empty() {
                eprintln!(
                    "{} account(s) cannot be decrypted (damaged on disk); the others work. \
                     Restore the store from a backup, or remove and add them again",
                    broken.len()
                );
            }
            Ok(())
        }
        AccountsCommand::Remove { service, account } => {
            let key = AccountKey::new(&service, &account)?;
            let services = wiring::build_services(loaded)?;
            wiring::build_exchanger(loaded, &stores, &services)?
                .remove_account(&key)
                .await?;
            eprintln!("removed account '{account}' of {service}");
            Ok(())
        }
        AccountsCommand::Default { service, account } => {
            let key = AccountKey::new(&service, &account)?;
            let services = wiring::build_services(loaded)?;
            wiring::build_exchanger(loaded, &stores, &services)?
                .set_default_account(&key)
                .await?;
            eprintln!("'{account}' is now the default {service} account");
            Ok(())
        }
    }
}

/// Prints `client`'s configuration for this binary and config file: the
/// stdio command with absolute paths, or the HTTP URL with the bearer header.
async fn client_config(loaded: &Loaded, client: Client, http: bool) -> Result<()> {
    let client = match client {
        Client::ClaudeDesktop => McpClient::ClaudeDesktop,
        Client::ClaudeCode => McpClient::ClaudeCode,
        Client::Cursor => McpClient::Cursor,
        Client::Vscode => McpClient::VsCode,
    };
    let entry = if http {
        let (stores, _) = wiring::open_store(loaded, false)?;
        let bearer = stores
            .tokens
            .get_secret(wiring::BEARER_SECRET)
            .await?
            .context("no bearer token yet; run `mcpist init`")?;
        let base = loaded
            .config
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", loaded.config.server.bind));
        ServerEntry::Http {
            url: format!("{}/mcp", base.trim_end_matches('/')),
            bearer,
        }
    } else {
        stdio_entry(loaded)?
    };
    if http && !client.speaks_http() {
        eprintln!(
            "note: Claude Desktop starts local servers over stdio; drop --http unless your version supports remote servers in this file"
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&client.document(&entry))?
    );
    Ok(())
}

/// How a client starts this binary with this config over stdio.
fn stdio_entry(loaded: &Loaded) -> Result<ServerEntry> {
    let exe = std::env::current_exe().context("cannot tell where this binary is")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    Ok(ServerEntry::Stdio {
        command: exe.display().to_string(),
        args: vec![
            "--config".into(),
            loaded.config_path.display().to_string(),
            "serve".into(),
            "--stdio".into(),
        ],
    })
}

/// The configured service called `name`, or an error listing those served.
fn find_service<'a>(
    services: &'a [mcpist_core::Service],
    name: &str,
) -> Result<&'a mcpist_core::Service> {
    services
        .iter()
        .find(|s| s.connector.service() == name)
        .with_context(|| {
            let served: Vec<_> = services.iter().map(|s| s.connector.service()).collect();
            format!(
                "unknown or disabled service {name:?}; this config serves: {}",
                served.join(", ")
            )
        })
}

async fn apps(loaded: &Loaded, cmd: AppsCommand) -> Result<()> {
    let services = wiring::build_services(loaded)?;
    match cmd {
        AppsCommand::Set {
            service,
            client_id,
            client_secret_stdin,
        } => {
            if find_service(&services, &service)?.oauth.is_none() {
                bail!(
                    "{service} does not support OAuth login; add a token with `mcpist accounts add`"
                );
            }
            if client_id.trim().is_empty() || client_id.chars().any(|c| c.is_control()) {
                bail!("--client-id must be a non-empty single line");
            }
            let client_secret = if client_secret_stdin {
                let secret = read_token()?;
                let trimmed = secret.expose_secret().trim().to_owned();
                if trimmed.is_empty() || trimmed.chars().any(|c| c.is_control()) {
                    bail!("the client secret must be a non-empty single line");
                }
                Some(SecretString::from(trimmed))
            } else {
                None
            };
            let (stores, _) = wiring::open_store(loaded, true)?;
            AppCredentials {
                client_id: client_id.trim().to_owned(),
                client_secret,
            }
            .save(stores.tokens.as_ref(), &service)
            .await?;
            eprintln!(
                "stored the {service} OAuth app (the secret sealed); connect an account with `mcpist login {service} --account LABEL`"
            );
            print_redirect_uris(loaded, &service);
            Ok(())
        }
        AppsCommand::List => {
            let (stores, _) = wiring::open_store(loaded, false)?;
            for service in services.iter().filter(|s| s.oauth.is_some()) {
                let name = service.connector.service();
                match AppCredentials::load(stores.tokens.as_ref(), name).await? {
                    Some(app) => println!(
                        "{name}: client id {}{}",
                        app.client_id,
                        if app.client_secret.is_some() {
                            ", secret stored"
                        } else {
                            ", public client"
                        }
                    ),
                    None => println!(
                        "{name}: no app; `mcpist apps set {name} --client-id ID --client-secret-stdin`"
                    ),
                }
                print_redirect_uris(loaded, name);
            }
            Ok(())
        }
    }
}

/// The redirect URIs to register with `service`'s provider.
fn print_redirect_uris(loaded: &Loaded, service: &str) {
    let served = loaded
        .config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", loaded.config.server.bind));
    println!(
        "  redirect URI for `mcpist login`: http://127.0.0.1/oauth/callback/{service} (any port; or register http://127.0.0.1:PORT/... and pass --port PORT)"
    );
    println!(
        "  redirect URI for the web UI:     {}/oauth/callback/{service}",
        served.trim_end_matches('/')
    );
}

async fn login(
    loaded: &Loaded,
    service: &str,
    account: &str,
    scopes: Vec<String>,
    port: u16,
    no_browser: bool,
) -> Result<()> {
    AccountKey::new(service, account)?;
    let services = wiring::build_services(loaded)?;
    let found = find_service(&services, service)?;
    let Some(spec) = &found.oauth else {
        bail!(
            "{service} does not support OAuth login; add a token with `mcpist accounts add {service} --token-stdin`"
        );
    };
    let scopes = if scopes.is_empty() {
        spec.scopes.clone()
    } else {
        scopes
    };
    let (stores, _) = wiring::open_store(loaded, true)?;
    let exchanger = wiring::build_exchanger(loaded, &stores, &services)?;
    let client = exchanger.oauth_client(service).await?;
    // RFC 8252 §8.3: the loopback IP literal, not `localhost`.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} for the redirect"))?;
    let redirect_uri = format!(
        "http://127.0.0.1:{}/oauth/callback/{service}",
        listener.local_addr()?.port()
    );
    let flows = std::sync::Arc::new(mcpist_core::oauth::LoginFlows::new());
    let url = flows.start(&client, service, account, &redirect_uri, &scopes)?;
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let callback = mcpist_web::LoginCallback {
        exchanger,
        flows,
        connectors: std::sync::Arc::new(
            services
                .iter()
                .map(|s| (s.connector.service().to_owned(), s.connector.clone()))
                .collect(),
        ),
        done: Some(done),
        back_to: None,
    };
    let app = mcpist_web::login_callback_routes(callback);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    eprintln!(
        "Open this URL in a browser to connect account '{account}' of {service}:

  {url}
"
    );
    if !no_browser {
        open_browser(url.as_str());
    }
    let timeout = std::time::Duration::from_secs(loaded.config.oauth.login_timeout_secs);
    eprintln!(
        "Waiting for {service} to redirect back to {redirect_uri} (up to {} s)...",
        timeout.as_secs()
    );
    let result = tokio::time::timeout(timeout, finished.recv()).await;
    server.abort();
    match result {
        Err(_) => bail!(
            "the login timed out after {} s; nothing was stored",
            timeout.as_secs()
        ),
        Ok(None) => bail!("the login ended without an answer; nothing was stored"),
        Ok(Some(Err(e))) => Err(e.into()),
        Ok(Some(Ok(key))) => {
            let record = stores.tokens.get(&key).await?;
            let who = record
                .and_then(|r| r.identity)
                .map(|i| format!(" as {}", terminal_safe(&i)))
                .unwrap_or_default();
            eprintln!(
                "Connected account '{}' of {}{who}.",
                key.account(),
                key.service()
            );
            Ok(())
        }
    }
}

/// Opens `url` in the desktop's browser, if there is a desktop. Never
/// through a shell; failure is not an error (the URL is printed anyway).
fn open_browser(url: &str) {
    let desktop =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if (desktop || cfg!(target_os = "macos"))
        && std::process::Command::new(opener)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
    {
        eprintln!("(opened your browser)");
    }
}

/// Completes the audit record `seq` with how `result` ended.
async fn finish<T>(audit: &dyn mcpist_core::AuditSink, seq: u64, result: &mcpist_core::Result<T>) {
    let outcome = match result {
        Ok(_) => AuditOutcome::of(Outcome::Ok),
        Err(e) => AuditOutcome::of(Outcome::Failed).message(e.to_string()),
    };
    if let Err(e) = audit.finish(seq, outcome).await {
        eprintln!("mcpist: warning: the audit record {seq} could not be completed: {e}");
    }
}

/// Reads a token from standard input: one line at a terminal (with a prompt
/// on stderr), else everything until end of input.
fn read_token() -> Result<SecretString> {
    let stdin = std::io::stdin();
    let mut text = Zeroizing::new(String::new());
    if stdin.is_terminal() {
        eprint!("Paste the token and press Enter: ");
        std::io::stderr().flush()?;
        stdin.lock().read_line(&mut text)?;
    } else {
        stdin.lock().read_to_string(&mut text)?;
    }
    Ok(SecretString::from(text.to_string()))
}
