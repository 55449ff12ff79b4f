//! `mcpist password set`: sets the web UI password.

use std::io::IsTerminal;

use anyhow::{Result, bail};
use secrecy::{ExposeSecret, SecretString};

use crate::{commands::read_token, config::Loaded, wiring};

/// Reads the new password (twice at a terminal, else one line of stdin) and stores it.
pub(crate) async fn run(loaded: &Loaded) -> Result<()> {
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
