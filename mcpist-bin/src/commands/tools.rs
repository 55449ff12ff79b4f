//! `mcpist tools`: lists the tools a client sees.

use std::io::Write;

use anyhow::Result;
use mcpist_core::policy::Verdict;

use crate::{
    config::{self, Loaded},
    wiring,
};

/// Prints the catalog: each tool with read/WRITE and its toolset; hidden ones last.
pub(crate) async fn run(loaded: &Loaded, json: bool, cost: bool) -> Result<()> {
    // Listing needs no credentials, but policies saved in the web UI live in
    // the store: open it when there is one, else a throwaway memory store.
    let has_store = match loaded.config.store.kind {
        config::StoreKind::Sqlite => loaded.store_path().exists(),
        config::StoreKind::Postgres => true,
        config::StoreKind::Memory => false,
    };
    let (stores, _) = if has_store {
        wiring::open_store(loaded, false)?
    } else {
        wiring::open_store(&loaded.with_memory_store(), false)?
    };
    let server = wiring::build_server(loaded, &stores).await?;
    server.load_saved_policies(stores.tokens.as_ref()).await?;
    let mut out = std::io::stdout().lock();
    if cost {
        return super::cost::print(&mut out, &server);
    }
    if json {
        serde_json::to_writer_pretty(&mut out, &server.listed_tools_json())?;
        writeln!(out)?;
        return Ok(());
    }
    let mut hidden = Vec::new();
    for listed in server.catalog() {
        if let Verdict::Hidden(reason) = &listed.verdict {
            hidden.push(format!("{:<28} hidden: {reason}", listed.tool.name));
            continue;
        }
        let read_only = listed
            .tool
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false);
        writeln!(
            out,
            "{:<28} {:<5} {:<14} {}",
            listed.tool.name,
            if read_only { "read" } else { "WRITE" },
            listed.toolset,
            listed.tool.description.as_deref().unwrap_or("")
        )?;
    }
    for line in hidden {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
