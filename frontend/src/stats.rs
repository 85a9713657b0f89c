//! Latency percentiles over a sliding window.

use std::collections::VecDeque;

/// How far back a window looks.
pub const WINDOW_MS: i64 = 60_000;
/// Most samples a window holds, whatever the rate: the oldest go first.
pub const MAX_SAMPLES: usize = 5_000;

/// p50, p95 and p99 of the samples in a window, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: i64,
    pub p95: i64,
    pub p99: i64,
    pub count: usize,
}

/// Latency samples of the last [`WINDOW_MS`], at most [`MAX_SAMPLES`].
#[derive(Debug, Clone, Default)]
pub struct LatencyWindow {
    /// (when it was measured, latency), oldest first.
    samples: VecDeque<(i64, i64)>,
}

impl LatencyWindow {
    /// Adds a sample measured at `at_ms`. Negative latencies (clocks of two
    /// machines disagreeing) are kept as 0 rather than dropped, so the
    /// count stays true.
    pub fn record(&mut self, at_ms: i64, latency_ms: i64) {
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((at_ms, latency_ms.max(0)));
        self.evict(at_ms);
    }

    fn evict(&mut self, now_ms: i64) {
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now_ms - at > WINDOW_MS)
        {
            self.samples.pop_front();
        }
    }

    /// Percentiles of the samples measured within the window before `now_ms`
    /// (nearest rank); None when there are none.
    pub fn percentiles(&self, now_ms: i64) -> Option<Percentiles> {
        let mut values: Vec<i64> = self
            .samples
            .iter()
            .filter(|(at, _)| now_ms - at <= WINDOW_MS)
            .map(|(_, v)| *v)
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank = |q: f64| {
            // Nearest rank: the smallest value with at least q of the samples at or below it.
            let n = values.len();
            let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            values[index]
        };
        Some(Percentiles {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            count: values.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut window = LatencyWindow::default();
        for v in 1..=100 {
            window.record(1_000, v);
        }
        assert_eq!(
            window.percentiles(1_000),
            Some(Percentiles {
                p50: 50,
                p95: 95,
                p99: 99,
                count: 100
            })
        );
        let mut one = LatencyWindow::default();
        one.record(0, 7);
        let p = one.percentiles(0).expect("one sample");
        assert_eq!((p.p50, p.p95, p.p99), (7, 7, 7));
        assert_eq!(LatencyWindow::default().percentiles(0), None);
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut window = LatencyWindow::default();
        window.record(0, 1_000);
        window.record(WINDOW_MS, 5);
        // At WINDOW_MS both are in; a moment later the first is not.
        assert_eq!(window.percentiles(WINDOW_MS).map(|p| p.count), Some(2));
        let later = window.percentiles(WINDOW_MS + 1).expect("one left");
        assert_eq!((later.count, later.p99), (1, 5));
    }

    #[test]
    fn the_window_is_bounded_and_clamps_clock_skew() {
        let mut window = LatencyWindow::default();
        for i in 0..(MAX_SAMPLES + 10) {
            window.record(0, i as i64);
        }
        let p = window.percentiles(0).expect("samples");
        assert_eq!(p.count, MAX_SAMPLES);
        let mut skewed = LatencyWindow::default();
        skewed.record(0, -3);
        assert_eq!(skewed.percentiles(0).map(|p| p.p50), Some(0));
    }
}
