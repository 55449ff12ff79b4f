//! `mcpist accounts add|list|remove|default`: the accounts in the store.

use std::io::Write;

use anyhow::Result;
use mcpist_core::{
    accounts::ShownStatus,
    output::terminal_safe,
    store::{AccountKey, now_unix},
};

use crate::{
    cli::AccountsCommand,
    commands::{find_service, read_token},
    config::Loaded,
    wiring,
};

/// Runs one `accounts` subcommand.
pub(crate) async fn run(loaded: &Loaded, cmd: AccountsCommand) -> Result<()> {
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
