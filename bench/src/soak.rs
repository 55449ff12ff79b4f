//! The soak's verdict: the run fails when any call failed, or when, after a
//! warm-up, the server's resident memory or its open file descriptors grew
//! beyond a bound. Samples are `(VmRSS in KiB, open fds)`, taken evenly
//! through the run.

/// The share of samples treated as warm-up (caches, pools, allocator arenas).
const WARM_UP: f64 = 0.2;

/// RSS may grow by this much over the warm baseline...
const RSS_SLACK_KIB: u64 = 16 * 1024;

/// ...or by this fraction of it, whichever is larger.
const RSS_SLACK_SHARE: f64 = 0.2;

/// Open fds may grow by this many (a connection being replaced mid-sample).
const FD_SLACK: usize = 8;

/// `Ok` with a one-line summary, or the reason the soak failed.
pub(crate) fn verdict(samples: &[(u64, usize)], errors: usize) -> Result<String, String> {
    if errors > 0 {
        return Err(format!("{errors} calls failed"));
    }
    let Some(&(last_rss, last_fds)) = samples.last() else {
        return Err("no samples were taken".into());
    };
    let base = ((samples.len() as f64 * WARM_UP) as usize).min(samples.len() - 1);
    let (base_rss, base_fds) = samples[base];
    let rss_bound = base_rss + RSS_SLACK_KIB.max((base_rss as f64 * RSS_SLACK_SHARE) as u64);
    let peak_rss = samples[base..]
        .iter()
        .map(|s| s.0)
        .max()
        .unwrap_or(last_rss);
    if peak_rss > rss_bound {
        return Err(format!(
            "RSS grew from {base_rss} KiB after warm-up to {peak_rss} KiB (bound {rss_bound} KiB)"
        ));
    }
    let peak_fds = samples[base..]
        .iter()
        .map(|s| s.1)
        .max()
        .unwrap_or(last_fds);
    if peak_fds > base_fds + FD_SLACK {
        return Err(format!(
            "open fds grew from {base_fds} after warm-up to {peak_fds} (bound {})",
            base_fds + FD_SLACK
        ));
    }
    Ok(format!(
        "RSS {base_rss} -> {last_rss} KiB (bound {rss_bound}), fds {base_fds} -> {last_fds}"
    ))
}

#[cfg(test)]
mod tests {
    use super::verdict;

    #[test]
    fn a_flat_run_passes() {
        let samples = vec![
            (60_000, 20),
            (80_000, 24),
            (81_000, 24),
            (82_000, 25),
            (80_500, 24),
        ];
        assert!(verdict(&samples, 0).is_ok());
    }

    #[test]
    fn any_failed_call_fails_the_soak() {
        assert!(
            verdict(&[(1, 1)], 1)
                .unwrap_err()
                .contains("1 calls failed")
        );
    }

    #[test]
    fn memory_growth_after_warm_up_fails_the_soak() {
        // Warm-up may grow freely; afterwards 30 MiB more fails.
        let samples = vec![
            (10_000, 20),
            (80_000, 20),
            (90_000, 20),
            (100_000, 20),
            (112_000, 20),
        ];
        let err = verdict(&samples, 0).unwrap_err();
        assert!(err.contains("RSS grew"), "{err}");
    }

    #[test]
    fn leaked_descriptors_fail_the_soak() {
        let samples = vec![(80_000, 20), (80_000, 20), (80_000, 25), (80_000, 40)];
        let err = verdict(&samples, 0).unwrap_err();
        assert!(err.contains("open fds grew"), "{err}");
    }

    #[test]
    fn no_samples_is_a_failure_not_a_pass() {
        assert!(verdict(&[], 0).is_err());
    }
}
