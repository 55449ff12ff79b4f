//! `mcpist apps set|list`: the OAuth apps (client id and secret) logins use.

use anyhow::{Result, bail};
use mcpist_core::oauth::AppCredentials;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    cli::AppsCommand,
    commands::{find_service, read_token},
    config::Loaded,
    wiring,
};

/// Runs one `apps` subcommand.
pub(crate) async fn run(loaded: &Loaded, cmd: AppsCommand) -> Result<()> {
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
