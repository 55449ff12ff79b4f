//! Counters for `GET /metrics`, in the Prometheus text format.
//!
//! Names: `mcpist_tool_calls_total{service,tool,outcome}`,
//! `mcpist_tool_call_duration_seconds{service}` (histogram),
//! `mcpist_upstream_responses_total{service,status}`,
//! `mcpist_token_refreshes_total{service,result}` and, computed when scraped,
//! `mcpist_accounts{service,status}`. No label ever holds a secret or an
//! argument value.

use std::{collections::BTreeMap, fmt::Write as _, sync::Mutex, time::Duration};

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters. Cheap to update; one lock, held for a map update.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    calls: BTreeMap<(String, String, &'static str), u64>,
    latency: BTreeMap<String, Histogram>,
    upstream: BTreeMap<(String, u16), u64>,
    refreshes: BTreeMap<(String, &'static str), u64>,
}

impl Metrics {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a finished tool call.
    pub fn tool_call(
        &self,
        service: &str,
        tool: &str,
        outcome: &'static str,
        latency: Duration,
        upstream_status: Option<u16>,
    ) {
        let mut inner = self.inner();
        *inner
            .calls
            .entry((service.to_owned(), tool.to_owned(), outcome))
            .or_default() += 1;
        let seconds = latency.as_secs_f64();
        let histogram = inner.latency.entry(service.to_owned()).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                histogram.counts[i] += 1;
            }
        }
        if let Some(status) = upstream_status {
            *inner
                .upstream
                .entry((service.to_owned(), status))
                .or_default() += 1;
        }
    }

    /// Counts a token refresh (`ok` or `failed`).
    pub fn refresh(&self, service: &str, result: &'static str) {
        *self
            .inner()
            .refreshes
            .entry((service.to_owned(), result))
            .or_default() += 1;
    }

    /// The Prometheus text exposition, with `accounts` (service, status,
    /// count) appended as a gauge.
    pub fn render(&self, accounts: &BTreeMap<(String, String), u64>) -> String {
        let inner = self.inner();
        let mut out = String::new();
        let _ = writeln!(out, "# HELP mcpist_tool_calls_total Tool calls by outcome.");
        let _ = writeln!(out, "# TYPE mcpist_tool_calls_total counter");
        for ((service, tool, outcome), n) in &inner.calls {
            let _ = writeln!(
                out,
                "mcpist_tool_calls_total{{service=\"{service}\",tool=\"{tool}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP mcpist_tool_call_duration_seconds Tool call latency."
        );
        let _ = writeln!(out, "# TYPE mcpist_tool_call_duration_seconds histogram");
        for (service, h) in &inner.latency {
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "mcpist_tool_call_duration_seconds_bucket{{service=\"{service}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "mcpist_tool_call_duration_seconds_bucket{{service=\"{service}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "mcpist_tool_call_duration_seconds_sum{{service=\"{service}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "mcpist_tool_call_duration_seconds_count{{service=\"{service}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP mcpist_upstream_responses_total Upstream HTTP responses by status."
        );
        let _ = writeln!(out, "# TYPE mcpist_upstream_responses_total counter");
        for ((service, status), n) in &inner.upstream {
            let _ = writeln!(
                out,
                "mcpist_upstream_responses_total{{service=\"{service}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP mcpist_token_refreshes_total OAuth token refreshes by result."
        );
        let _ = writeln!(out, "# TYPE mcpist_token_refreshes_total counter");
        for ((service, result), n) in &inner.refreshes {
            let _ = writeln!(
                out,
                "mcpist_token_refreshes_total{{service=\"{service}\",result=\"{result}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP mcpist_accounts Accounts by status.");
        let _ = writeln!(out, "# TYPE mcpist_accounts gauge");
        for ((service, status), n) in accounts {
            let _ = writeln!(
                out,
                "mcpist_accounts{{service=\"{service}\",status=\"{status}\"}} {n}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_the_prometheus_text_format() {
        let m = Metrics::default();
        m.tool_call(
            "github",
            "github_get_me",
            "ok",
            Duration::from_millis(30),
            Some(200),
        );
        m.tool_call(
            "github",
            "github_get_me",
            "ok",
            Duration::from_millis(300),
            Some(200),
        );
        m.refresh("github", "ok");
        let accounts = BTreeMap::from([(("github".to_owned(), "ok".to_owned()), 2)]);
        let text = m.render(&accounts);
        assert!(text.contains("mcpist_tool_calls_total{service=\"github\",tool=\"github_get_me\",outcome=\"ok\"} 2"), "{text}");
        assert!(
            text.contains(
                "mcpist_tool_call_duration_seconds_bucket{service=\"github\",le=\"0.05\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("mcpist_tool_call_duration_seconds_count{service=\"github\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("mcpist_upstream_responses_total{service=\"github\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("mcpist_token_refreshes_total{service=\"github\",result=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("mcpist_accounts{service=\"github\",status=\"ok\"} 2"),
            "{text}"
        );
    }
}
