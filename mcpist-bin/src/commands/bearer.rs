//! `mcpist bearer show|rotate`: prints or replaces the MCP bearer token.

use anyhow::{Context, Result};
use mcpist_core::audit::{AuditEvent, AuditKind, AuditOutcome, Outcome};
use secrecy::ExposeSecret;

use crate::{cli::BearerCommand, config::Loaded, wiring};

/// Prints the bearer token, or replaces it (audited) and prints the new one.
pub(crate) async fn run(loaded: &Loaded, cmd: BearerCommand) -> Result<()> {
    let (stores, _) = wiring::open_store(loaded, false)?;
    let bearer = match cmd {
        BearerCommand::Show => stores
            .tokens
            .get_secret(wiring::BEARER_SECRET)
            .await?
            .context("no bearer token yet; run `mcpist init`")?,
        BearerCommand::Rotate => {
            let bearer = wiring::new_bearer()?;
            let seq = stores
                .audit
                .begin(AuditEvent::now(AuditKind::BearerRotate))
                .await
                .context("refused: the audit log cannot be written")?;
            let stored = stores
                .tokens
                .put_secret(wiring::BEARER_SECRET, &bearer)
                .await;
            finish(stores.audit.as_ref(), seq, &stored).await;
            stored?;
            eprintln!(
                "the bearer token was replaced; give MCP clients the new one \
                 (a running `mcpist serve` keeps the old one until restarted)"
            );
            bearer
        }
    };
    println!("{}", bearer.expose_secret());
    Ok(())
}

/// Completes the audit record `seq` with how `result` ended.
async fn finish<T>(audit: &dyn mcpist_core::AuditSink, seq: u64, result: &mcpist_core::Result<T>) {
    let outcome = match result {
        Ok(_) => AuditOutcome::of(Outcome::Ok),
        Err(e) => AuditOutcome::of(Outcome::Failed).message(e.to_string()),
    };
    if let Err(e) = audit.finish(seq, outcome).await {
        eprintln!("mcpist: warning: the audit record {seq} could not be completed: {e}");
    }
}
