//! `mcpist serve`: serves MCP over stdio, or over HTTP beside the web UI.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use mcpist_core::http::{ClientAuth, HttpOptions};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    commands::stdio_entry,
    config::{self, Loaded},
    wiring,
};

/// The shortest bearer `serve` takes from `MCPIST_BEARER`.
const MIN_BEARER_CHARS: usize = 32;

/// Opens the store, builds the server and serves until SIGTERM or Ctrl-C.
pub(crate) async fn run(loaded: &Loaded, stdio: bool, bind: Option<SocketAddr>) -> Result<()> {
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
    let server = wiring::build_server(loaded, &stores).await?;
    server.exchanger().warm_up();
    server.load_saved_policies(stores.tokens.as_ref()).await?;
    if stdio {
        // No web UI here: a call that lacks an account gets a connect page
        // opened on loopback while its link lives (behind the password).
        mcpist_web::connect_on_demand(&server);
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
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let local = listener.local_addr()?;
    // The web UI, beside `/mcp` behind the same Host / Origin guard; its
    // URL (and the authorization server's issuer) has the port bound, also
    // when asked for port 0.
    let mut web_routes = axum::Router::new();
    if loaded.config.store.kind != config::StoreKind::Memory {
        let base = server_config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"));
        let mut web = mcpist_web::WebOptions::new(base);
        web.stdio_entry = stdio_entry(loaded).ok();
        web.configured_prompts = loaded.config.prompts.keys().cloned().collect();
        web.lockout_hint = "To get in at once, run `mcpist password set` where MCPist runs \
                            (the same password will do), or restart `mcpist serve`."
            .into();
        if server_config.remote_clients && !server_config.dangerously_disable_auth {
            let mut as_options = mcpist_core::auth_server::AuthServerOptions::new(&web.base_url);
            as_options.access_lifetime =
                std::time::Duration::from_secs(server_config.remote_access_token_secs.max(60));
            let oauth = mcpist_core::auth_server::AuthServer::new(
                as_options,
                stores.tokens.clone(),
                server.audit().clone(),
            );
            options.oauth = Some(oauth.clone());
            web.oauth = Some(oauth);
        }
        web_routes = mcpist_web::routes(server.clone(), web);
    }
    notice(
        loaded,
        false,
        &format!(
            "serving {} tools; web UI at http://{local}/, MCP at http://{local}/mcp",
            server.visible_tools()
        ),
    );
    // On SIGTERM or Ctrl-C: core's graceful shutdown (the calls in flight
    // get the grace period, then are cut off; then the streams close).
    let grace = std::time::Duration::from_secs(server_config.shutdown_grace_secs);
    let shutdown = mcpist_core::http::Shutdown::new(&server, &options, grace);
    mcpist_core::http::serve_until(
        listener,
        mcpist_core::http::router_with(server, options, web_routes),
        server_config.connection_limits(),
        shutdown,
        shutdown_signal(),
    )
    .await?;
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
