//! `mcpist login`: connects an account through the provider's OAuth flow, with a loopback redirect.

use anyhow::{Context, Result, bail};
use mcpist_core::{output::terminal_safe, store::AccountKey};

use crate::{commands::find_service, config::Loaded, wiring};

/// Runs the login: prints (and opens) the URL, waits for the redirect, stores the account.
pub(crate) async fn run(
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
        links: None,
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
