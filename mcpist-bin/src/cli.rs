//! The command line's shape: clap's `Cli` and its subcommands, with the
//! help text `mcpist --help` prints. The commands' bodies live in
//! `commands/`, one file per command.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};

/// MCPist: one MCP server for your own API tokens. Clients get tools, never tokens.
#[derive(Debug, Parser)]
#[command(name = "mcpist", version, about)]
pub(crate) struct Cli {
    /// The config file [default: $XDG_CONFIG_HOME/mcpist/mcpist.toml]
    #[arg(long, global = true, env = "MCPIST_CONFIG", value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
        /// Print what the tool definitions cost: bytes and tokens per tool and
        /// in total, in flat and discover mode.
        #[arg(long, conflicts_with = "json")]
        cost: bool,
    },
    /// Manage accounts (credentials) of services.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Your OAuth apps (client id and secret), one per service.
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Your own prompts, kept in the store and served as `my_NAME` next to the config file's.
    #[command(subcommand)]
    Prompts(PromptsCommand),
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
pub(crate) enum AccountsCommand {
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
pub(crate) enum AppsCommand {
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

#[derive(Debug, Subcommand)]
pub(crate) enum PromptsCommand {
    /// Save a prompt in the store; its text is read from standard input (or --file),
    /// with `{{NAME}}` where each argument's value goes.
    Add {
        /// The prompt's name: clients see it as `my_NAME`.
        name: String,
        /// What the prompt is for, as clients list it.
        #[arg(long, default_value = "")]
        description: String,
        /// Read the text from this file instead of standard input.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// An argument, used as `{{NAME}}` in the text; required unless `NAME:optional` (repeatable).
        #[arg(long = "arg", value_name = "NAME[:optional]")]
        args: Vec<String>,
        /// Replace a saved prompt of the same name instead of refusing.
        #[arg(long)]
        replace: bool,
    },
    /// List the prompts served: the store's and the config file's.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print one prompt: where it comes from, its arguments and its text.
    Show {
        /// The prompt's name (without `my_`).
        name: String,
    },
    /// Remove a prompt saved in the store.
    Remove {
        /// The prompt's name (without `my_`).
        name: String,
    },
}

/// The MCP clients `client-config` knows.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Client {
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
pub(crate) enum PasswordCommand {
    /// Set the web UI password: typed at the terminal (twice), or read from standard input.
    Set,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
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
pub(crate) enum BearerCommand {
    /// Print the bearer token to standard output.
    Show,
    /// Replace the bearer token (clients must be given the new one) and print it.
    Rotate,
}
