//! Numbers as a person reads them, and how latencies are coloured.

/// A size in bytes as people say it: `812 B`, `16.4 kB`, `2.3 MB`.
pub fn bytes(n: usize) -> String {
    #[allow(clippy::cast_precision_loss)] // a size shown to one decimal
    let n_f = n as f64;
    if n < 1_000 {
        format!("{n} B")
    } else if n < 1_000_000 {
        format!("{:.1} kB", n_f / 1e3)
    } else {
        format!("{:.1} MB", n_f / 1e6)
    }
}

/// A duration in the largest units that keep it short: `850 ms`, `4.2 s`,
/// `3 min 20 s`, `2 min`, `2 h 5 min`.
pub fn duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let text = match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1_000.0),
        60_000..3_600_000 => match (ms / 60_000, ms % 60_000 / 1_000) {
            (min, 0) => format!("{min} min"),
            (min, s) => format!("{min} min {s} s"),
        },
        _ => match (ms / 3_600_000, ms % 3_600_000 / 60_000) {
            (h, 0) => format!("{h} h"),
            (h, min) => format!("{h} h {min} min"),
        },
    };
    format!("{sign}{text}")
}

/// Latencies up to this are shown green: the page feels live.
pub const FAST_MS: i64 = 250;
/// Latencies up to this are shown amber; above, red: something is behind.
pub const SLOW_MS: i64 = 2_000;

/// How a latency is coloured (`fast`, `slow`, `behind`), by the thresholds
/// the page states: [`FAST_MS`] and [`SLOW_MS`].
pub fn latency_level(ms: i64) -> &'static str {
    if ms <= FAST_MS {
        "fast"
    } else if ms <= SLOW_MS {
        "slow"
    } else {
        "behind"
    }
}

/// The thresholds, as the page states them.
pub fn latency_legend() -> String {
    format!(
        "green up to {}, amber up to {}, red beyond",
        duration(FAST_MS),
        duration(SLOW_MS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(16_400), "16.4 kB");
        assert_eq!(bytes(2_300_049), "2.3 MB");
    }

    #[test]
    fn latencies_are_coloured_by_stated_thresholds() {
        assert_eq!(latency_level(15), "fast");
        assert_eq!(latency_level(250), "fast");
        assert_eq!(latency_level(251), "slow");
        assert_eq!(latency_level(15_000), "behind");
        assert_eq!(
            latency_legend(),
            "green up to 250 ms, amber up to 2.0 s, red beyond"
        );
    }

    #[test]
    fn durations_read_in_human_units() {
        assert_eq!(duration(0), "0 ms");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(4_200), "4.2 s");
        assert_eq!(duration(200_000), "3 min 20 s");
        assert_eq!(duration(2_923_789), "48 min 43 s");
        assert_eq!(duration(7_500_000), "2 h 5 min");
        assert_eq!(duration(-1_500), "-1.5 s");
        assert_eq!(duration(120_000), "2 min");
        assert_eq!(duration(7_200_000), "2 h");
    }
}
