//! `GET /api/search`: a topic's history scanned for the records a filter
//! selects, answered as it goes in NDJSON, one [`SearchEvent`] a line:
//! `started` (the ranges), then `match`es as they are found and `progress`
//! a few times a second, then `done` (or `error`).

use serde::{Deserialize, Serialize};

use crate::LiveRecord;
use crate::api::ReplayRange;
use crate::stream::PartitionOffset;

/// Most matches one search returns.
pub const MAX_SEARCH_MATCHES: usize = 10_000;
/// Matches one search returns unless it says how many.
pub const DEFAULT_SEARCH_MATCHES: usize = 500;

/// One line of a search's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SearchEvent {
    /// First: what will be scanned.
    Started {
        topic: String,
        /// Each partition's range: from the start asked for to the log end
        /// when the search began (or the first offset at the end time).
        ranges: Vec<ReplayRange>,
        /// Records in the ranges (fewer where a log is compacted).
        total: u64,
        newest_first: bool,
    },
    /// A record the filter selects, as the live stream sends records.
    Match(Box<LiveRecord>),
    /// How far the scan is, a few times a second.
    Progress(SearchProgress),
    /// Last, when the scan ended: why, and the final counts.
    Done(SearchDone),
    /// Last, when the scan failed.
    Error { message: String },
}

/// See [`SearchEvent::Progress`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SearchProgress {
    /// Records read and tested so far.
    pub scanned: u64,
    pub matched: u64,
    /// Records the filter failed on, and so skipped.
    pub skipped: u64,
    /// Per partition: scanning oldest first, the next offset to read;
    /// newest first, the lowest offset read.
    pub positions: Vec<PartitionOffset>,
    /// Since the search began.
    pub elapsed_ms: u64,
    /// Records scanned per second, since the search began.
    pub records_per_second: f64,
    /// Why the last skipped record was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// See [`SearchEvent::Done`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SearchDone {
    pub reason: SearchEnd,
    #[serde(flatten)]
    pub progress: SearchProgress,
}

/// Why a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SearchEnd {
    /// Every record of the ranges was scanned.
    End,
    /// `limit` matches were found.
    Limit,
    /// The filter was stopped (it failed record after record).
    FilterStopped,
    /// The search ran out of its time (`elapsed_ms`).
    TimedOut,
}
