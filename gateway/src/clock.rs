//! The one clock the gateway stamps records and snapshots with.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as Kafka stamps records.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
