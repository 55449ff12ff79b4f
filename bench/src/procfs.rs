//! What the kernel says about a server process: CPU time, memory, open files.

use std::{path::PathBuf, sync::OnceLock, time::Duration};

use anyhow::{Context, Result};

fn proc_path(pid: u32, file: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{file}"))
}

/// Clock ticks per second, as `getconf CLK_TCK` says (100 when it cannot).
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// User + system CPU time of `pid` so far (all its threads, living or not),
/// from fields 14 and 15 of `/proc/<pid>/stat`.
pub(crate) fn cpu_time(pid: u32) -> Result<Duration> {
    let path = proc_path(pid, "stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| Duration::from_nanos(ticks * 1_000_000_000 / clock_ticks()))
        .with_context(|| format!("{}: unexpected format", path.display()))
}

fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces and parentheses: count
    // from the last ')'. Field 3 is then the first after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
    /// `VmRSS`: resident now.
    pub(crate) rss_kib: u64,
    /// `VmHWM`: the peak resident size so far.
    pub(crate) hwm_kib: u64,
    /// `RssAnon`: the resident heap and stacks, without the pages of the
    /// binary and libraries (which are file-backed and reclaimable).
    pub(crate) anon_kib: u64,
}

/// `VmRSS` and `VmHWM` of `pid`.
pub(crate) fn memory(pid: u32) -> Result<Memory> {
    let path = proc_path(pid, "status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("{}: no {name}", path.display()))
    };
    Ok(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        anon_kib: field("RssAnon:")?,
    })
}

/// How many file descriptors `pid` has open.
pub(crate) fn open_fds(pid: u32) -> Result<usize> {
    let path = proc_path(pid, "fd");
    Ok(std::fs::read_dir(&path)
        .with_context(|| format!("{}", path.display()))?
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 17 5 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some(22));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn this_process_can_be_measured() {
        let pid = std::process::id();
        let memory = memory(pid).unwrap();
        assert!(memory.rss_kib > 0 && memory.hwm_kib >= memory.rss_kib);
        assert!(open_fds(pid).unwrap() >= 3);
        cpu_time(pid).unwrap();
    }
}
