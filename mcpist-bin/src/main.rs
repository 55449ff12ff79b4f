//! `mcpist`: the command line. Reads `mcpist.toml`, opens the store, builds the
//! configured connectors and serves them over MCP. All logic that an embedder
//! would need lives in the library crates; this binary only wires them.

mod cli;
mod commands;
mod config;
mod wiring;

use std::{io::IsTerminal, process::ExitCode};

use anyhow::Result;
use clap::Parser;

use crate::{
    cli::{Cli, Command, PasswordCommand},
    commands::{
        accounts, apps, audit, backup, bearer, client_config, doctor, init, key, login, password,
        prompts, serve, tools,
    },
};

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

/// Runs the parsed command; each command's body is in `commands/`.
async fn run(cli: Cli) -> Result<()> {
    if let Command::Doctor { json } = cli.command {
        init_logging(&cli.command, config::LogFormat::Text);
        // The doctor reports a bad config as one of its checks.
        return doctor::run(cli.config.as_deref(), json).await;
    }
    let loaded = config::load(cli.config.as_deref())?;
    init_logging(&cli.command, loaded.config.log.format);
    match cli.command {
        Command::Init => init::run(&loaded).await,
        Command::Serve { stdio, bind } => serve::run(&loaded, stdio, bind).await,
        Command::Tools { json, cost } => tools::run(&loaded, json, cost).await,
        Command::Accounts(cmd) => accounts::run(&loaded, cmd).await,
        Command::Apps(cmd) => apps::run(&loaded, cmd).await,
        Command::Prompts(cmd) => prompts::run(&loaded, cmd).await,
        Command::Login {
            service,
            account,
            scopes,
            port,
            no_browser,
        } => login::run(&loaded, &service, &account, scopes, port, no_browser).await,
        Command::Bearer(cmd) => bearer::run(&loaded, cmd).await,
        Command::Key(cmd) => key::run(&loaded, cmd).await,
        Command::Password(PasswordCommand::Set) => password::run(&loaded).await,
        Command::ClientConfig { client, http } => client_config::run(&loaded, client, http).await,
        Command::Audit {
            json,
            limit,
            service,
            since,
            verify,
        } => audit::run(&loaded, json, limit, service, since, verify).await,
        Command::Backup { out } => backup::backup(&loaded, &out).await,
        Command::Restore {
            file,
            force,
            accept_broken_audit,
        } => backup::restore(&loaded, &file, force, accept_broken_audit).await,
        Command::Doctor { .. } => unreachable!("handled above"),
    }
}
