//! A process's CPU time and resident memory, read from `/proc`.

use std::time::{Duration, Instant};

use anyhow::Context;

/// Clock ticks per second in `/proc/PID/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// The process's resident set size, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading the memory of process {pid}"))?;
    parse_rss_kib(&status).context("no VmRSS line")
}

fn parse_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// CPU time (user + system) the process has used so far.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading the CPU time of process {pid}"))?;
    let ticks = parse_cpu_ticks(&stat).context("unexpected /proc/PID/stat")?;
    Ok(Duration::from_secs_f64(ticks as f64 / TICKS_PER_SECOND))
}

/// utime + stime: fields 14 and 15, counted after the command name, which
/// is in parentheses and may itself hold spaces.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU and memory of one process over a measured window.
pub struct Meter {
    pid: u32,
    cpu_at_start: Duration,
    started: Instant,
}

/// What a [`Meter`] saw.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Usage {
    /// Average CPU over the window, in percent of one core.
    pub cpu_percent: f64,
    /// Resident memory at the end of the window, in MiB.
    pub rss_mib: f64,
}

impl Meter {
    pub fn start(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            cpu_at_start: cpu_time(pid)?,
            started: Instant::now(),
        })
    }

    pub fn stop(&self) -> anyhow::Result<Usage> {
        let cpu = cpu_time(self.pid)?.saturating_sub(self.cpu_at_start);
        let wall = self.started.elapsed().as_secs_f64().max(f64::EPSILON);
        Ok(Usage {
            cpu_percent: cpu.as_secs_f64() * 100.0 / wall,
            rss_mib: rss_kib(self.pid)? as f64 / 1024.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_past_a_name_with_spaces() {
        let stat = "42 (tokio (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 70 0 0 20 0 9 0";
        assert_eq!(parse_cpu_ticks(stat), Some(320));
    }

    #[test]
    fn rss_is_read_from_status() {
        let status = "Name:\tgateway\nVmPeak:\t  9000 kB\nVmRSS:\t   31024 kB\n";
        assert_eq!(parse_rss_kib(status), Some(31024));
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let pid = std::process::id();
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {
            std::hint::black_box(0u64);
        }
        assert!(cpu_time(pid).expect("cpu time") > Duration::ZERO);
        assert!(rss_kib(pid).expect("rss") > 0);
    }
}
