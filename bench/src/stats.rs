//! Latency histograms and the percentiles the reports show.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies in microseconds, 3 significant digits, up to 10 minutes.
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Self {
        // The bounds are constants that hdrhistogram accepts.
        #[allow(clippy::unwrap_used)]
        Self(Histogram::new_with_bounds(1, 600_000_000, 3).unwrap())
    }

    /// Records one latency; beyond the histogram's range it counts as the
    /// range's end.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn percentiles(&self) -> Percentiles {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: self.0.len(),
            p50_ms: ms(0.50),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

/// The percentiles a report shows, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut l = Latencies::new();
        // 1..=1000 ms: p50 is 500 ms, p99 990 ms, p99.9 999 ms.
        for ms in 1..=1000 {
            l.record(Duration::from_millis(ms));
        }
        let p = l.percentiles();
        assert_eq!(p.count, 1000);
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.001 + 0.001;
        assert!(close(p.p50_ms, 500.0), "{p:?}");
        assert!(close(p.p99_ms, 990.0), "{p:?}");
        assert!(close(p.p999_ms, 999.0), "{p:?}");
        assert!(close(p.max_ms, 1000.0), "{p:?}");
    }

    #[test]
    fn merging_adds_counts() {
        let (mut a, mut b) = (Latencies::new(), Latencies::new());
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(3));
        b.record(Duration::from_millis(5));
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert!((a.percentiles().max_ms - 5.0).abs() < 0.01);
    }
}
