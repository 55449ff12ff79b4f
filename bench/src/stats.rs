//! Latency percentiles and the numbers a load run yields.

use std::time::Duration;

/// The `q`-quantile (0..=1) of `sorted` by the nearest-rank method: the
/// smallest value with at least `q` of the samples at or below it.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What one load run (fixed number of calls at one concurrency) measured.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// Calls made.
    pub(crate) calls: usize,
    /// Calls whose result was an error (`isError` or a JSON-RPC error).
    pub(crate) errors: usize,
    /// Wall time of the whole run.
    pub(crate) wall: Duration,
    /// Server CPU time (user + system) spent during the run, if measured.
    pub(crate) server_cpu: Option<Duration>,
    /// Every call's latency, sorted.
    pub(crate) latencies: Vec<Duration>,
}

impl Run {
    /// Calls per second of wall time.
    pub(crate) fn rate(&self) -> f64 {
        self.calls as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Median latency.
    pub(crate) fn p50(&self) -> Option<Duration> {
        percentile(&self.latencies, 0.50)
    }

    /// 99th percentile latency.
    pub(crate) fn p99(&self) -> Option<Duration> {
        percentile(&self.latencies, 0.99)
    }
}

/// Server CPU per call over several runs together: total CPU / total calls.
pub(crate) fn cpu_per_call(runs: &[Run]) -> Option<Duration> {
    let calls: usize = runs.iter().map(|r| r.calls).sum();
    let mut cpu = Duration::ZERO;
    for run in runs {
        cpu += run.server_cpu?;
    }
    (calls > 0).then(|| cpu / calls as u32)
}

/// The median of a few samples (startup times).
pub(crate) fn median(samples: &mut [Duration]) -> Option<Duration> {
    samples.sort();
    percentile(samples, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 0.50), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&sorted, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&sorted, 0.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&ms(&[7]), 0.99), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn cpu_per_call_pools_the_runs_and_needs_every_measurement() {
        let run = |calls, cpu_ms: Option<u64>| Run {
            calls,
            errors: 0,
            wall: Duration::from_secs(1),
            server_cpu: cpu_ms.map(Duration::from_millis),
            latencies: Vec::new(),
        };
        let runs = [run(100, Some(10)), run(300, Some(30))];
        assert_eq!(cpu_per_call(&runs), Some(Duration::from_micros(100)));
        assert_eq!(cpu_per_call(&[run(100, Some(10)), run(1, None)]), None);
        assert_eq!(cpu_per_call(&[]), None);
        assert_eq!(runs[0].rate(), 100.0);
    }

    #[test]
    fn the_median_sorts_first() {
        let mut samples = ms(&[30, 10, 20]);
        assert_eq!(median(&mut samples), Some(Duration::from_millis(20)));
    }
}
