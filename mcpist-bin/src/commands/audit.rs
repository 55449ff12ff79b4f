//! `mcpist audit`: lists the audit log, or verifies its hash chain.

use std::io::Write;

use anyhow::{Result, bail};
use mcpist_core::{
    audit::{AuditFilter, format_time},
    output::terminal_safe,
};

use crate::{config::Loaded, wiring};

/// Prints the records `--limit`, `--service` and `--since` select (text or
/// JSON lines), or with `--verify` checks the chain and fails if it is broken.
pub(crate) async fn run(
    loaded: &Loaded,
    json: bool,
    limit: usize,
    service: Option<String>,
    since: Option<String>,
    verify: bool,
) -> Result<()> {
    let filter = AuditFilter {
        limit: Some(limit),
        service,
        since_ms: since.as_deref().map(parse_since).transpose()?,
        ..AuditFilter::default()
    };
    let (stores, _) = wiring::open_store(loaded, false)?;
    let mut out = std::io::stdout().lock();
    if verify {
        let report = stores.audit.verify().await?;
        if json {
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "{} records checked, {} pending",
                report.checked, report.pending
            )?;
            for problem in &report.problems {
                writeln!(out, "BROKEN: {problem}")?;
            }
        }
        if !report.is_intact() {
            bail!(
                "the audit log was tampered with ({} problems)",
                report.problems.len()
            );
        }
        if !json {
            writeln!(out, "the audit chain is intact")?;
        }
        return Ok(());
    }
    for entry in stores.audit.query(&filter).await? {
        if json {
            serde_json::to_writer(&mut out, &entry)?;
            writeln!(out)?;
            continue;
        }
        let e = &entry.event;
        let o = &entry.outcome;
        writeln!(
            out,
            "{} {:>6} {:<15} {:<8} {:<10} {:<24} {:<17} {:>4} {:>6}ms {}",
            format_time(e.time_ms),
            entry.seq,
            e.kind.as_str(),
            terminal_safe(e.service.as_deref().unwrap_or("-")),
            terminal_safe(e.account.as_deref().unwrap_or("-")),
            terminal_safe(e.tool.as_deref().unwrap_or("-")),
            o.outcome.as_str(),
            o.upstream_status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            o.latency_ms,
            terminal_safe(o.message.as_deref().unwrap_or("")),
        )?;
    }
    Ok(())
}

/// `30m`, `24h`, `7d`, `90s`, or `YYYY-MM-DD` (UTC), as ms since the epoch.
fn parse_since(text: &str) -> Result<u64> {
    let now = mcpist_core::audit::now_ms();
    let units = [
        ("s", 1_000u64),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
    ];
    for (suffix, ms) in units {
        if let Some(n) = text
            .strip_suffix(suffix)
            .and_then(|n| n.parse::<u64>().ok())
        {
            return Ok(now.saturating_sub(n.saturating_mul(ms)));
        }
    }
    let parts: Vec<_> = text.split('-').map(|p| p.parse::<i64>()).collect();
    if let [Ok(y), Ok(m), Ok(d)] = parts.as_slice()
        && (1..=12).contains(m)
        && (1..=31).contains(d)
    {
        // Days from civil (Howard Hinnant), the inverse of `format_time`.
        let y = if *m <= 2 { y - 1 } else { *y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        return Ok((days.max(0) as u64) * 86_400_000);
    }
    bail!("--since {text:?}: use a duration such as 30m, 24h, 7d, or a date such as 2026-11-01")
}
