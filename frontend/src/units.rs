//! Numbers as a person reads them.

/// A duration in the largest units that keep it short: `850 ms`, `4.2 s`,
/// `3 min 20 s`, `2 h 5 min`.
pub fn duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let text = match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1_000.0),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1_000),
        _ => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_human_units() {
        assert_eq!(duration(0), "0 ms");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(4_200), "4.2 s");
        assert_eq!(duration(200_000), "3 min 20 s");
        assert_eq!(duration(2_923_789), "48 min 43 s");
        assert_eq!(duration(7_500_000), "2 h 5 min");
        assert_eq!(duration(-1_500), "-1.5 s");
    }
}
