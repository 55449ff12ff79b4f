//! The commands' bodies, one file per command (or command group), and the
//! few helpers several of them share. `main.rs` dispatches here.

pub(crate) mod accounts;
pub(crate) mod apps;
pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod bearer;
pub(crate) mod client_config;
pub(crate) mod cost;
pub(crate) mod doctor;
pub(crate) mod init;
pub(crate) mod key;
pub(crate) mod login;
pub(crate) mod password;
pub(crate) mod prompts;
pub(crate) mod serve;
pub(crate) mod tools;

use std::io::{BufRead, IsTerminal, Read, Write};

use anyhow::{Context, Result};
use mcpist_core::clients::ServerEntry;
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::config::Loaded;

/// How a client starts this binary with this config over stdio.
pub(crate) fn stdio_entry(loaded: &Loaded) -> Result<ServerEntry> {
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
pub(crate) fn find_service<'a>(
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

/// Reads a token from standard input: one line at a terminal (with a prompt
/// on stderr), else everything until end of input.
pub(crate) fn read_token() -> Result<SecretString> {
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
