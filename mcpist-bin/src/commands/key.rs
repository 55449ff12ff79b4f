//! `mcpist key rotate`: re-seals the store under a new master key.

use anyhow::Result;

use crate::{
    cli::KeyCommand,
    config::{self, Loaded},
    wiring,
};

/// Rotates the key, to a passphrase or key file when asked to switch.
pub(crate) async fn run(loaded: &Loaded, cmd: KeyCommand) -> Result<()> {
    let KeyCommand::Rotate {
        to_passphrase,
        to_key_file,
        skip_broken,
    } = cmd;
    let to = match (to_passphrase, to_key_file) {
        (true, _) => Some(config::KeySource::Passphrase),
        (_, true) => Some(config::KeySource::File),
        _ => None,
    };
    wiring::rotate_key(loaded, to, skip_broken).await
}
