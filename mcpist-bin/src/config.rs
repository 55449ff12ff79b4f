//! `mcpist.toml`: defaults, then the file, then `MCPIST_*` environment variables.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, anyhow, bail};
use figment::{
    Figment,
    providers::{Env, Format, Toml},
    value::magic::RelativePathBuf,
};
use serde::Deserialize;

/// Environment variables that are not config keys.
const NOT_CONFIG_KEYS: &[&str] = &[
    "config",
    "master_key",
    "passphrase",
    "new_passphrase",
    "log",
    "bearer",
];

/// The whole configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub(crate) server: ServerConfig,
    #[serde(default)]
    pub(crate) store: StoreConfig,
    #[serde(default)]
    pub(crate) audit: AuditConfig,
    #[serde(default)]
    pub(crate) oauth: OAuthConfig,
    #[serde(default)]
    pub(crate) log: LogConfig,
    /// Connector tables, passed to each connector to parse.
    #[serde(default)]
    pub(crate) connectors: BTreeMap<String, serde_json::Value>,
    /// The prompts the user wrote (`[prompts.NAME]`), served as `my_NAME`.
    #[serde(default)]
    pub(crate) prompts: BTreeMap<String, mcpist_core::prompts::UserPrompt>,
}

/// The `[log]` table. The filter comes from `MCPIST_LOG`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogConfig {
    pub(crate) format: LogFormat,
}

/// How log lines on stderr look.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LogFormat {
    /// One readable line per event (default).
    #[default]
    Text,
    /// One JSON object per line, fields at the top level.
    Json,
}

/// The `[oauth]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct OAuthConfig {
    /// Access tokens are refreshed this many seconds before they expire.
    pub(crate) refresh_margin_secs: u64,
    /// How long `mcpist login` waits for the provider to redirect back.
    pub(crate) login_timeout_secs: u64,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            refresh_margin_secs: 300,
            login_timeout_secs: 300,
        }
    }
}

/// The `[audit]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AuditConfig {
    /// Records older than this many days are deleted when `serve` starts;
    /// unset keeps everything.
    pub(crate) retention_days: Option<u32>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention_days: Some(365),
        }
    }
}

/// The `[server]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    /// Where `mcpist serve` listens.
    pub(crate) bind: SocketAddr,
    /// The URL clients and browsers use when it is not the bind address (a reverse proxy).
    pub(crate) public_url: Option<String>,
    /// Extra host names accepted in the `Host` header.
    pub(crate) allowed_hosts: Vec<String>,
    /// Turns the bearer check off. Accepted only on a loopback bind; for the
    /// MCP conformance suite, whose client sends no `Authorization` header.
    pub(crate) dangerously_disable_auth: bool,
    /// After SIGTERM or Ctrl-C, how long tool calls in flight may take to finish.
    pub(crate) shutdown_grace_secs: u64,
    /// A request's headers must arrive within this many seconds of its first byte.
    pub(crate) header_read_timeout_secs: u64,
    /// A connection with no request in progress is closed after this many seconds.
    pub(crate) idle_timeout_secs: u64,
    /// Connections served at once; further ones wait until one closes.
    pub(crate) max_connections: usize,
    /// MCPist's own OAuth authorization server for remote clients
    /// (Claude.ai, ChatGPT, phones); on with the web UI unless set false.
    pub(crate) remote_clients: bool,
    /// Lifetime of the access tokens remote clients get, in seconds.
    pub(crate) remote_access_token_secs: u64,
    /// `flat`: `tools/list` holds every allowed tool; `discover`: a few
    /// meta-tools (search, describe, call) whatever is connected.
    pub(crate) tool_mode: mcpist_core::discover::ToolMode,
}

impl ServerConfig {
    /// The `[server]` limits on connections.
    pub(crate) fn connection_limits(&self) -> mcpist_core::http::ConnectionLimits {
        mcpist_core::http::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        let limits = mcpist_core::http::ConnectionLimits::default();
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8765)),
            public_url: None,
            allowed_hosts: Vec::new(),
            dangerously_disable_auth: false,
            shutdown_grace_secs: 10,
            header_read_timeout_secs: limits.header_read_timeout.as_secs(),
            idle_timeout_secs: limits.idle_timeout.as_secs(),
            max_connections: limits.max_connections,
            remote_clients: true,
            remote_access_token_secs: 3600,
            tool_mode: mcpist_core::discover::ToolMode::Flat,
        }
    }
}

/// Which store backend.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StoreKind {
    /// The encrypted SQLite file (default).
    #[default]
    Sqlite,
    /// Process memory; nothing persists.
    Memory,
    /// A PostgreSQL database (`url`), shared by several replicas.
    Postgres,
}

/// Where the master key of a persistent store comes from.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KeySource {
    /// A random key in `key_file` (or `MCPIST_MASTER_KEY`); the default.
    #[default]
    File,
    /// Derived with argon2id from `MCPIST_PASSPHRASE` or a terminal prompt.
    Passphrase,
}

/// The `[store]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StoreConfig {
    pub(crate) kind: StoreKind,
    /// Where the master key comes from.
    pub(crate) key: KeySource,
    /// The SQLite file; relative paths are relative to the config file.
    pub(crate) path: Option<RelativePathBuf>,
    /// The master key file; relative paths are relative to the config file.
    pub(crate) key_file: Option<RelativePathBuf>,
    /// The PostgreSQL database, `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
    pub(crate) url: Option<secrecy::SecretString>,
}

/// The loaded configuration and where everything lives.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) config: Config,
    pub(crate) config_path: PathBuf,
    pub(crate) config_exists: bool,
    pub(crate) data_dir: PathBuf,
    figment: Figment,
}

impl Loaded {
    /// The same configuration on a throwaway memory store.
    pub(crate) fn with_memory_store(&self) -> Self {
        let mut config = Config {
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            audit: AuditConfig::default(),
            oauth: OAuthConfig::default(),
            log: LogConfig::default(),
            connectors: self.config.connectors.clone(),
            prompts: self.config.prompts.clone(),
        };
        config.store.kind = StoreKind::Memory;
        Self {
            config,
            config_path: self.config_path.clone(),
            config_exists: self.config_exists,
            data_dir: self.data_dir.clone(),
            figment: self.figment.clone(),
        }
    }

    /// The SQLite store file.
    pub(crate) fn store_path(&self) -> PathBuf {
        self.config
            .store
            .path
            .as_ref()
            .map(RelativePathBuf::relative)
            .unwrap_or_else(|| self.data_dir.join("mcpist.db"))
    }

    /// The master key file.
    pub(crate) fn key_path(&self) -> PathBuf {
        self.config
            .store
            .key_file
            .as_ref()
            .map(RelativePathBuf::relative)
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// Where the `[connectors.NAME]` table came from, for error messages.
    pub(crate) fn source_of(&self, key: &str) -> String {
        match self.figment.find_metadata(key) {
            Some(meta) => match &meta.source {
                Some(figment::Source::File(path)) => path.display().to_string(),
                Some(other) => format!("{} ({other})", meta.name),
                None => meta.name.to_string(),
            },
            None => self.config_path.display().to_string(),
        }
    }
}

/// `$XDG_CONFIG_HOME/mcpist/mcpist.toml`, or `~/.config/mcpist/mcpist.toml`.
pub(crate) fn default_config_path() -> Result<PathBuf> {
    Ok(xdg_dir("XDG_CONFIG_HOME", ".config")?
        .join("mcpist")
        .join("mcpist.toml"))
}

/// `$XDG_DATA_HOME/mcpist`, or `~/.local/share/mcpist`.
pub(crate) fn default_data_dir() -> Result<PathBuf> {
    Ok(xdg_dir("XDG_DATA_HOME", ".local/share")?.join("mcpist"))
}

fn xdg_dir(var: &str, fallback: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        if dir.is_absolute() {
            return Ok(dir);
        }
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow!("neither {var} nor HOME is set; pass --config PATH"))?;
    Ok(PathBuf::from(home).join(fallback))
}

/// Loads the config at `path` (or the default path). A missing file is an
/// empty config: every key has a default.
pub(crate) fn load(path: Option<&Path>) -> Result<Loaded> {
    let config_path = match path {
        Some(p) => {
            std::path::absolute(p).with_context(|| format!("config path {}", p.display()))?
        }
        None => default_config_path()?,
    };
    let config_exists = config_path.exists();
    // An absolute path, so figment does not search parent directories; a
    // missing file is simply empty.
    let figment = Figment::new().merge(Toml::file(&config_path)).merge(
        Env::prefixed("MCPIST_")
            .filter(|key| {
                !NOT_CONFIG_KEYS
                    .iter()
                    .any(|k| key.as_str().eq_ignore_ascii_case(k))
            })
            .split("__"),
    );
    let config: Config = figment
        .extract()
        .map_err(|e| anyhow!("bad configuration: {}", describe(&e, &config_path)))?;
    if let Some(url) = &config.server.public_url {
        let parsed = url::Url::parse(url).map_err(|e| {
            anyhow!(
                "bad configuration in {}: server.public_url: {e}",
                config_path.display()
            )
        })?;
        if parsed.host_str().is_none() {
            bail!(
                "bad configuration in {}: server.public_url has no host",
                config_path.display()
            );
        }
    }
    let loaded = Loaded {
        config,
        config_exists,
        data_dir: default_data_dir()?,
        config_path,
        figment,
    };
    refuse_open_auth_behind_a_proxy(&loaded)?;
    for (key, value) in [
        (
            "header_read_timeout_secs",
            loaded.config.server.header_read_timeout_secs,
        ),
        ("idle_timeout_secs", loaded.config.server.idle_timeout_secs),
        (
            "max_connections",
            loaded.config.server.max_connections as u64,
        ),
    ] {
        if value == 0 {
            bail!(
                "bad configuration in {}: server.{key} must be at least 1",
                loaded.source_of(&format!("server.{key}"))
            );
        }
    }
    Ok(loaded)
}

/// Behind a proxy every request comes from loopback: with the bearer check
/// off, whoever reaches the proxy could call every tool. So
/// `dangerously_disable_auth` is refused with `public_url` or `allowed_hosts`.
fn refuse_open_auth_behind_a_proxy(loaded: &Loaded) -> Result<()> {
    let server = &loaded.config.server;
    if !server.dangerously_disable_auth {
        return Ok(());
    }
    let mut keys = vec!["server.dangerously_disable_auth"];
    if server.public_url.is_some() {
        keys.push("server.public_url");
    }
    if !server.allowed_hosts.is_empty() {
        keys.push("server.allowed_hosts");
    }
    if keys.len() == 1 {
        return Ok(());
    }
    let keys: Vec<String> = keys
        .iter()
        .map(|key| format!("{key} (in {})", loaded.source_of(key)))
        .collect();
    bail!(
        "bad configuration: {} cannot be set together: the bearer check may be switched off \
         only for a loopback-only server, never for one reached through a proxy or other host \
         names; remove dangerously_disable_auth",
        keys.join(" and ")
    )
}

/// One line per figment error, each naming the key and where it was set.
fn describe(error: &figment::Error, config_path: &Path) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(figment::Source::File(p)) => p.display().to_string(),
                    _ => m.name.to_string(),
                })
                .unwrap_or_else(|| config_path.display().to_string());
            let key = if key.is_empty() {
                String::new()
            } else {
                format!("key `{key}`: ")
            };
            format!("{source}: {key}{}", describe_kind(&e.kind))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What is wrong, never the value: a value can be a secret (a database
/// password in `store.url`, a token in the wrong key), and the TOML parser
/// quotes the whole offending line. Its "line N, column M" stays.
fn describe_kind(kind: &figment::error::Kind) -> String {
    use figment::error::{Actual, Kind};
    let actual = |a: &Actual| match a {
        Actual::Str(_) => "a string".to_owned(),
        Actual::Char(_) => "a character".to_owned(),
        Actual::Bytes(_) => "bytes".to_owned(),
        Actual::Other(_) => "a value".to_owned(),
        other => other.to_string(),
    };
    match kind {
        Kind::Message(message) => message
            .lines()
            .filter(|line| !is_quoted_source(line))
            .collect::<Vec<_>>()
            .join(" "),
        Kind::InvalidType(a, expected) => {
            format!("invalid type: found {}, expected {expected}", actual(a))
        }
        Kind::InvalidValue(a, expected) => {
            format!("invalid value: found {}, expected {expected}", actual(a))
        }
        Kind::Unsupported(a) => format!("unsupported type {}", actual(a)),
        Kind::UnsupportedKey(a, need) => format!("unsupported key type {}, need {need}", actual(a)),
        other => other.to_string(),
    }
}

/// A line of a parser's error that shows the source: `  |`, `3 | text`.
fn is_quoted_source(line: &str) -> bool {
    let rest = line
        .trim_start()
        .trim_start_matches(|c: char| c.is_ascii_digit());
    rest.trim_start().starts_with('|')
}

/// The file `mcpist init` writes.
pub(crate) const TEMPLATE: &str = r#"# MCPist configuration. Every key is optional; shown are the defaults.
# Environment variables override keys: MCPIST_SERVER__BIND=127.0.0.1:9000,
# MCPIST_CONNECTORS__GITHUB__BASE_URL=https://ghe.example.com/api/v3.

[server]
# bind = "127.0.0.1:8765"
# public_url = "https://mcpist.example.net"   # when behind a reverse proxy
# shutdown_grace_secs = 10   # after SIGTERM, how long calls in flight may take to finish
# header_read_timeout_secs = 10   # a request's headers must arrive within this long of its first byte
# idle_timeout_secs = 60     # a connection with no request in progress is closed after this long
# max_connections = 256      # connections served at once; more wait until one closes
# remote_clients = true      # OAuth for remote MCP clients (Claude.ai, ChatGPT, phones); see the README
# remote_access_token_secs = 3600   # lifetime of a remote client's access token
# tool_mode = "flat"        # flat | discover: see "Context economy"

[store]
# kind = "sqlite"            # sqlite | memory | postgres
# url = "postgres://mcpist@db.internal/mcpist"   # kind = "postgres" only; or MCPIST_STORE__URL
# path = "mcpist.db"         # default: $XDG_DATA_HOME/mcpist/mcpist.db; relative to this file
# key_file = "master.key"    # default: $XDG_DATA_HOME/mcpist/master.key; or set MCPIST_MASTER_KEY
# key = "file"               # file | passphrase (argon2id of MCPIST_PASSPHRASE or a prompt)

[audit]
# retention_days = 365       # older records are deleted when `serve` starts

[log]
# format = "text"            # text | json (one object per line); the filter is MCPIST_LOG

[oauth]
# refresh_margin_secs = 300  # refresh access tokens this long before they expire
# login_timeout_secs = 300   # how long `mcpist login` waits for the browser

[connectors.github]
# base_url = "https://api.github.com"   # GitHub Enterprise Server: https://HOST/api/v3
# read_only = true                      # only tools that change nothing
# toolsets = ["repos", "issues"]        # only these toolsets
# allow = ["github_get_*"]              # only tools matching these globs
# deny = ["*delete*"]                   # never tools matching these globs
# [connectors.github.route.owner]       # which account serves which owner
# acme = "work"
# [connectors.github.oauth]             # override the provider's endpoints or scopes
# scopes = ["repo", "read:user"]
"#;
