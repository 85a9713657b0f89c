//! The live feed's state: a reducer over the gateway's WebSocket messages.
//!
//! Plain Rust, no Leptos: the components render a [`Feed`], and the tests
//! below drive it directly.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use wire::stream::{FilterStatus, PartitionOffset};
use wire::{LiveRecord, ServerMessage};

use crate::stats::{LatencyWindow, Percentiles};

/// How many records the feed shows; older ones leave the page.
pub const DEFAULT_CAPACITY: usize = 100;

/// Most live records added to the list by one [`Feed::publish`]. Each row
/// costs the browser about half a millisecond to build and lay out, so at
/// 1,000 records a second listing them all kept the main thread busy in
/// 100-300 ms tasks; 25 a repaint still made repaint frames of 50-60 ms on
/// a busy 2-core machine. The list shows the newest ones of each repaint
/// (40 a second at four repaints a second, more than anyone reads); the
/// counters count every record.
pub const MAX_NEW_ROWS: usize = 10;

/// One record as the feed shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    pub record: LiveRecord,
    /// When the browser received it, in milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    /// False for records the gateway sent as recent history on connect:
    /// they were not delivered live, so their delivery time means nothing.
    pub live: bool,
}

impl FeedEntry {
    /// Unique within a topic: what the list is keyed by.
    pub fn id(&self) -> (i32, i64) {
        (self.record.partition, self.record.offset)
    }

    /// Milliseconds from production to the gateway's consumer, when the
    /// producer recorded when it produced.
    pub fn consumed_after_ms(&self) -> Option<i64> {
        Head::of(&self.record).consumed_after_ms()
    }

    /// Milliseconds from production to this browser, for live records.
    pub fn shown_after_ms(&self) -> Option<i64> {
        if !self.live {
            return None;
        }
        Head::of(&self.record).shown_after_ms(self.received_at_ms)
    }
}

/// What the feed counts a record by: a [`LiveRecord`] without its key,
/// headers and value. Read from a record's text by its structure alone
/// ([`Head::read`]), so a record that is counted and never listed costs the
/// page no more than finding where its parts are.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Head {
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    produced_at_ms: Option<i64>,
    consumed_at_ms: i64,
}

impl Head {
    /// The head of a record's text (a `record` message's, or an element of
    /// a `records` message): its values are not read, only these numbers.
    /// `None` unless the text is an object with the fields a record needs.
    fn read(text: &str) -> Option<Self> {
        let (mut partition, mut offset, mut consumed_at_ms) = (None, None, None);
        let (mut timestamp_ms, mut produced_at_ms) = (None, None);
        let optional = |value: &str| match value {
            "null" => Some(None),
            v => v.parse().ok().map(Some),
        };
        for (key, value) in wire::scan::object_members(text)? {
            match key {
                "partition" => partition = Some(value.parse().ok()?),
                "offset" => offset = Some(value.parse().ok()?),
                "consumed_at_ms" => consumed_at_ms = Some(value.parse().ok()?),
                "timestamp_ms" => timestamp_ms = optional(value)?,
                "produced_at_ms" => produced_at_ms = optional(value)?,
                _ => {}
            }
        }
        Some(Self {
            partition: partition?,
            offset: offset?,
            timestamp_ms,
            produced_at_ms,
            consumed_at_ms: consumed_at_ms?,
        })
    }

    fn of(record: &LiveRecord) -> Self {
        Self {
            partition: record.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp_ms,
            produced_at_ms: record.produced_at_ms,
            consumed_at_ms: record.consumed_at_ms,
        }
    }

    /// The produce time: the gateway's header, else the record's timestamp
    /// (which a producer sets at send time by default).
    fn produced_at_ms(&self) -> Option<i64> {
        self.produced_at_ms.or(self.timestamp_ms)
    }

    fn consumed_after_ms(&self) -> Option<i64> {
        self.produced_at_ms()
            .map(|produced| self.consumed_at_ms - produced)
    }

    fn shown_after_ms(&self, received_at_ms: i64) -> Option<i64> {
        self.produced_at_ms()
            .map(|produced| received_at_ms - produced)
    }
}

/// A live record waiting for the next repaint: read whole only if it is
/// listed (at most [`MAX_NEW_ROWS`] a repaint, of thousands a second).
#[derive(Debug, Clone)]
enum Waiting {
    Read(Box<LiveRecord>),
    Text(String),
}

#[derive(Debug, Clone)]
struct PendingRow {
    record: Waiting,
    received_at_ms: i64,
}

/// Per-partition counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionStats {
    /// Records this page has seen from the partition.
    pub seen: u64,
    /// The highest offset seen.
    pub last_offset: i64,
}

/// Everything the live part of the page shows.
#[derive(Debug, Clone)]
pub struct Feed {
    /// What the list shows: newest first, at most `capacity`.
    entries: VecDeque<Arc<FeedEntry>>,
    /// Live records not yet listed, newest first, at most [`MAX_NEW_ROWS`].
    pending: VecDeque<PendingRow>,
    /// Live records never listed: more arrived between two repaints than
    /// one repaint lists.
    unlisted: u64,
    capacity: usize,
    partitions: BTreeMap<i32, PartitionStats>,
    /// Per partition, the next offset this page needs: what it asks a
    /// reconnect to resume from.
    positions: BTreeMap<i32, i64>,
    /// Records the gateway dropped for this page because it fell behind.
    missed: u64,
    topic: Option<String>,
    /// How the stream's live filter does, for a filtered stream.
    filter: Option<FilterStatus>,
    /// History records still expected since the last `Hello`.
    history_remaining: usize,
    /// Live records: production to the gateway's consumer, and to this page.
    consumed_latency: LatencyWindow,
    shown_latency: LatencyWindow,
    /// Records read whole from their texts (see [`Feed::apply_texts`]).
    #[cfg(test)]
    texts_read: usize,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl Feed {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::with_capacity(capacity),
            pending: VecDeque::with_capacity(MAX_NEW_ROWS),
            unlisted: 0,
            capacity,
            partitions: BTreeMap::new(),
            positions: BTreeMap::new(),
            missed: 0,
            topic: None,
            filter: None,
            history_remaining: 0,
            consumed_latency: LatencyWindow::default(),
            shown_latency: LatencyWindow::default(),
            #[cfg(test)]
            texts_read: 0,
        }
    }

    /// Applies one message from the gateway, received at `now_ms`.
    ///
    /// A reconnect asks the gateway to resume from [`Feed::resume`], so it
    /// sends exactly what this page has not seen. Records the page has seen
    /// anyway (an offset at or below the last one seen in that partition,
    /// e.g. from an older gateway that ignores the resume and resends its
    /// history) are skipped.
    pub fn apply(&mut self, message: ServerMessage, now_ms: i64) {
        match message {
            ServerMessage::Hello {
                topic,
                history,
                positions,
            } => {
                if self.topic.as_ref().is_some_and(|t| *t != topic) {
                    // Another topic: offsets start over.
                    *self = Self::new(self.capacity);
                }
                self.topic = Some(topic);
                self.history_remaining = history;
                for p in positions {
                    let next = self.positions.entry(p.partition).or_insert(p.offset);
                    *next = (*next).max(p.offset);
                }
            }
            ServerMessage::Record(record) => {
                if let Some(live) = self.count(Head::of(&record), now_ms) {
                    self.keep(Waiting::Read(Box::new(record)), live, now_ms);
                }
            }
            ServerMessage::Records { records } => {
                for record in records {
                    self.apply(ServerMessage::Record(record), now_ms);
                }
            }
            ServerMessage::Lagged { missed } => self.missed += missed,
            ServerMessage::Filter(status) => self.filter = Some(status),
            // The flow's state is kept by `flow::FlowState`.
            ServerMessage::Flow(_) | ServerMessage::Processed { .. } => {}
        }
    }

    /// Applies records given as their texts (a `record` message's, or each
    /// of a `records` message's, see [`wire::stream::record_texts`]), as
    /// [`Feed::apply`] applies them read: each is counted from the fields
    /// the feed counts by, and read whole only when it is listed. One that
    /// does not read as a record is skipped.
    pub fn apply_texts<'a>(&mut self, texts: impl IntoIterator<Item = &'a str>, now_ms: i64) {
        // All counted first, in order, then kept: a live record followed by
        // a repaint's worth of live ones (before any history, which lists
        // what waits) would only be pushed out of the waiting rows, so it
        // is counted as not listed without even being copied.
        let kept: Vec<(&str, bool)> = texts
            .into_iter()
            .filter_map(|text| {
                let head = Head::read(text)?;
                self.count(head, now_ms).map(|live| (text, live))
            })
            .collect();
        let room = MAX_NEW_ROWS.min(self.capacity);
        let mut pushed_out = vec![false; kept.len()];
        let mut live_after = 0;
        for (i, &(_, live)) in kept.iter().enumerate().rev() {
            if live {
                pushed_out[i] = live_after >= room;
                live_after += 1;
            } else {
                live_after = 0;
            }
        }
        for ((text, live), pushed_out) in kept.into_iter().zip(pushed_out) {
            if pushed_out {
                self.unlisted += 1;
            } else {
                self.keep(Waiting::Text(text.to_owned()), live, now_ms);
            }
        }
    }

    /// Counts a record, unless the page has seen it; whether it is live
    /// (not history) when it is to be kept for the list.
    fn count(&mut self, head: Head, now_ms: i64) -> Option<bool> {
        let live = self.history_remaining == 0;
        self.history_remaining = self.history_remaining.saturating_sub(1);
        let next = self.positions.entry(head.partition).or_insert(0);
        *next = (*next).max(head.offset + 1);
        let stats = self.partitions.entry(head.partition).or_default();
        if stats.seen > 0 && head.offset <= stats.last_offset {
            return None;
        }
        stats.seen += 1;
        stats.last_offset = head.offset;
        if live {
            if let Some(ms) = head.consumed_after_ms() {
                self.consumed_latency.record(now_ms, ms);
            }
            if let Some(ms) = head.shown_after_ms(now_ms) {
                self.shown_latency.record(now_ms, ms);
            }
        }
        (self.capacity > 0).then_some(live)
    }

    /// A counted record, for the list: a live one waits for the next
    /// repaint, history is listed at once.
    fn keep(&mut self, record: Waiting, live: bool, now_ms: i64) {
        let row = PendingRow {
            record,
            received_at_ms: now_ms,
        };
        if live {
            if self.pending.len() == MAX_NEW_ROWS.min(self.capacity) {
                self.pending.pop_back();
                self.unlisted += 1;
            }
            self.pending.push_front(row);
        } else {
            // History is bounded by what the page asked for, and listed
            // whole, after any live records that came first.
            self.publish();
            self.list(row, false);
        }
    }

    /// Lists the live records that arrived since the last call (at most
    /// [`MAX_NEW_ROWS`], the newest); true when the list changed.
    pub fn publish(&mut self) -> bool {
        let changed = !self.pending.is_empty();
        while let Some(row) = self.pending.pop_back() {
            self.list(row, true);
        }
        changed
    }

    /// Lists a row, read whole first if it is still text. One that does not
    /// read as a record (a value of a kind this build does not know) is
    /// skipped, as a message this build cannot read is; the partition
    /// counters have counted it.
    fn list(&mut self, row: PendingRow, live: bool) {
        let record = match row.record {
            Waiting::Read(record) => *record,
            Waiting::Text(text) => {
                #[cfg(test)]
                {
                    self.texts_read += 1;
                }
                match serde_json::from_str(&text) {
                    Ok(record) => record,
                    Err(_) => return,
                }
            }
        };
        if self.entries.len() == self.capacity {
            self.entries.pop_back();
        }
        self.entries.push_front(Arc::new(FeedEntry {
            record,
            received_at_ms: row.received_at_ms,
            live,
        }));
    }

    /// Live records never listed because they arrived faster than the
    /// list adds them.
    pub fn unlisted(&self) -> u64 {
        self.unlisted
    }

    /// Production to the gateway's consumer, over the last minute of live records.
    pub fn consumed_latency(&self, now_ms: i64) -> Option<Percentiles> {
        self.consumed_latency.percentiles(now_ms)
    }

    /// Production to this page, over the last minute of live records.
    pub fn shown_latency(&self, now_ms: i64) -> Option<Percentiles> {
        self.shown_latency.percentiles(now_ms)
    }

    /// Newest first.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &Arc<FeedEntry>> {
        self.entries.iter()
    }

    pub fn partitions(&self) -> &BTreeMap<i32, PartitionStats> {
        &self.partitions
    }

    pub fn total_seen(&self) -> u64 {
        self.partitions.values().map(|p| p.seen).sum()
    }

    /// The live filter's latest status, for a filtered stream.
    pub fn filter(&self) -> Option<&FilterStatus> {
        self.filter.as_ref()
    }

    pub fn missed(&self) -> u64 {
        self.missed
    }

    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }

    /// The topic and, per partition, the next offset this page needs: what
    /// a reconnect resumes from. `None` before the first `Hello`.
    pub fn resume(&self) -> Option<(&str, Vec<PartitionOffset>)> {
        let topic = self.topic.as_deref()?;
        let positions = self
            .positions
            .iter()
            .take(wire::stream::MAX_RESUME_PARTITIONS)
            .map(|(&partition, &offset)| PartitionOffset { partition, offset })
            .collect();
        Some((topic, positions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::Payload;

    fn record(partition: i32, offset: i64) -> ServerMessage {
        ServerMessage::Record(LiveRecord {
            partition,
            offset,
            key: None,
            headers: vec![],
            timestamp_ms: Some(1_000),
            produced_at_ms: None,
            consumed_at_ms: 1_004,
            size: 0,
            payload: Payload::Null,
            key_schema: None,
            value_schema: None,
        })
    }

    /// A record's head read by its structure is the head serde reads,
    /// whatever fields the record has and however its value is made.
    #[test]
    fn a_head_is_read_as_serde_reads_it() {
        #[derive(serde::Deserialize)]
        struct Serde {
            partition: i32,
            offset: i64,
            #[serde(default)]
            timestamp_ms: Option<i64>,
            #[serde(default)]
            produced_at_ms: Option<i64>,
            consumed_at_ms: i64,
        }
        let value =
            wire::JsonValue::from_text(r#"{"partition":9,"offset":[{"x":"}\"{"}],"n":-1}"#.into())
                .expect("json");
        let payloads = [
            Payload::Null,
            Payload::Json { value },
            Payload::Text {
                text: "\"offset\": 3, } é".into(),
                truncated: true,
            },
        ];
        for (i, payload) in payloads.into_iter().enumerate() {
            let record = LiveRecord {
                partition: i as i32,
                offset: -1 + 1_000_000_000_000 * i as i64,
                key: (i > 0).then(|| "c-\"1\"".into()),
                headers: vec![wire::RecordHeader {
                    key: "offset".into(),
                    value: Some("7".into()),
                }],
                timestamp_ms: (i != 1).then_some(1_000),
                produced_at_ms: (i == 2).then_some(998),
                consumed_at_ms: 1_004,
                size: 3,
                payload,
                key_schema: None,
                value_schema: None,
            };
            let text = serde_json::to_string(&ServerMessage::Record(record.clone())).expect("json");
            let read = Head::read(&text).expect("a head");
            let by_serde: Serde = serde_json::from_str(&text).expect("serde");
            assert_eq!(read, Head::of(&record));
            assert_eq!(
                (
                    read.partition,
                    read.offset,
                    read.timestamp_ms,
                    read.produced_at_ms,
                    read.consumed_at_ms
                ),
                (
                    by_serde.partition,
                    by_serde.offset,
                    by_serde.timestamp_ms,
                    by_serde.produced_at_ms,
                    by_serde.consumed_at_ms
                )
            );
            // Explicit nulls read as absent, as serde reads them.
            let nulls = text.replacen('{', r#"{"timestamp_ms":null,"produced_at_ms":null,"#, 1);
            if record.timestamp_ms.is_none() {
                assert_eq!(Head::read(&nulls).map(|h| h.timestamp_ms), Some(None));
            }
        }
        for broken in [
            "",
            "{}",
            r#"{"partition":1,"offset":2}"#,
            r#"{"partition":"1","offset":2,"consumed_at_ms":3}"#,
            r#"{"partition":1,"offset":2.5,"consumed_at_ms":3}"#,
            r#"{"partition":1,"offset":2,"consumed_at_ms":3"#,
        ] {
            assert_eq!(Head::read(broken), None, "{broken}");
        }
    }

    fn ids(feed: &mut Feed) -> Vec<(i32, i64)> {
        feed.publish();
        feed.entries().map(|e| e.id()).collect()
    }

    #[test]
    fn newest_first_and_bounded() {
        let mut feed = Feed::new(3);
        for offset in 0..5 {
            feed.apply(record(0, offset), 0);
        }
        assert_eq!(ids(&mut feed), [(0, 4), (0, 3), (0, 2)]);
        assert_eq!(feed.total_seen(), 5);
    }

    #[test]
    fn a_repaint_lists_at_most_the_newest_live_records_and_counts_the_rest() {
        let mut feed = Feed::default();
        let burst = MAX_NEW_ROWS as i64 + 7;
        for offset in 0..burst {
            feed.apply(record(0, offset), 0);
        }
        // Nothing listed until the repaint.
        assert_eq!(feed.entries().len(), 0);
        assert!(feed.publish());
        let listed = ids(&mut feed);
        assert_eq!(listed.len(), MAX_NEW_ROWS);
        assert_eq!(listed.first(), Some(&(0, burst - 1)));
        assert_eq!(listed.last(), Some(&(0, 7)));
        assert_eq!(feed.unlisted(), 7);
        // Every record is still counted.
        assert_eq!(feed.total_seen(), burst as u64);
        assert!(!feed.publish(), "nothing new");
    }

    #[test]
    fn history_is_listed_whole_after_the_live_records_before_it() {
        let mut feed = Feed::default();
        feed.apply(record(0, 0), 0);
        feed.apply(
            ServerMessage::Hello {
                topic: "orders".into(),
                history: MAX_NEW_ROWS * 2,
                positions: vec![],
            },
            0,
        );
        for offset in 1..=(MAX_NEW_ROWS * 2) as i64 {
            feed.apply(record(1, offset), 0);
        }
        let listed = ids(&mut feed);
        assert_eq!(listed.len(), MAX_NEW_ROWS * 2 + 1);
        assert_eq!(listed.last(), Some(&(0, 0)));
        assert_eq!(feed.unlisted(), 0);
    }

    #[test]
    fn records_joined_in_one_message_count_as_that_many_records() {
        let mut joined = Feed::default();
        let mut one_by_one = Feed::default();
        let records: Vec<LiveRecord> = (0..5)
            .map(|offset| match record(offset % 2, offset.into()) {
                ServerMessage::Record(r) => r,
                _ => unreachable!(),
            })
            .collect();
        joined.apply(
            ServerMessage::Records {
                records: records.clone(),
            },
            0,
        );
        for r in records {
            one_by_one.apply(ServerMessage::Record(r), 0);
        }
        assert_eq!(joined.total_seen(), 5);
        assert_eq!(joined.partitions(), one_by_one.partitions());
        assert_eq!(ids(&mut joined), ids(&mut one_by_one));
    }

    #[test]
    fn partitions_are_counted_separately() {
        let mut feed = Feed::default();
        feed.apply(record(0, 0), 0);
        feed.apply(record(2, 10), 0);
        feed.apply(record(2, 11), 0);
        assert_eq!(
            feed.partitions().get(&2),
            Some(&PartitionStats {
                seen: 2,
                last_offset: 11
            })
        );
        assert_eq!(feed.partitions().get(&0).map(|p| p.seen), Some(1));
        assert_eq!(feed.partitions().get(&1), None);
    }

    #[test]
    fn history_resent_after_a_reconnect_is_not_shown_twice() {
        let mut feed = Feed::default();
        for offset in 0..3 {
            feed.apply(record(1, offset), 0);
        }
        // Reconnect: the gateway sends its history (offsets 1..=3) again.
        feed.apply(
            ServerMessage::Hello {
                topic: "orders".into(),
                history: 3,
                positions: vec![],
            },
            0,
        );
        for offset in 1..4 {
            feed.apply(record(1, offset), 0);
        }
        assert_eq!(ids(&mut feed), [(1, 3), (1, 2), (1, 1), (1, 0)]);
        assert_eq!(feed.total_seen(), 4);
    }

    #[test]
    fn a_different_topic_starts_over() {
        let mut feed = Feed::default();
        let hello = |topic: &str| ServerMessage::Hello {
            topic: topic.into(),
            history: 0,
            positions: vec![],
        };
        feed.apply(hello("a"), 0);
        feed.apply(record(0, 5), 0);
        feed.apply(hello("b"), 0);
        feed.apply(record(0, 0), 0);
        assert_eq!(ids(&mut feed), [(0, 0)]);
        assert_eq!(feed.topic(), Some("b"));
    }

    #[test]
    fn history_records_have_no_delivery_time() {
        let mut feed = Feed::default();
        feed.apply(
            ServerMessage::Hello {
                topic: "orders".into(),
                history: 2,
                positions: vec![],
            },
            0,
        );
        for offset in 0..3 {
            feed.apply(record(0, offset), 1_010);
        }
        feed.publish();
        let live: Vec<bool> = feed.entries().map(|e| e.live).collect();
        assert_eq!(live, [true, false, false]);
        let shown: Vec<Option<i64>> = feed.entries().map(|e| e.shown_after_ms()).collect();
        assert_eq!(shown, [Some(10), None, None]);
        // The time to the gateway's consumer is known either way.
        assert!(feed.entries().all(|e| e.consumed_after_ms() == Some(4)));
    }

    #[test]
    fn live_records_feed_the_latency_percentiles_and_history_does_not() {
        let mut feed = Feed::default();
        feed.apply(
            ServerMessage::Hello {
                topic: "orders".into(),
                history: 1,
                positions: vec![],
            },
            0,
        );
        feed.apply(record(0, 0), 9_000);
        assert_eq!(feed.shown_latency(9_000), None);
        feed.apply(record(0, 1), 1_010);
        let shown = feed.shown_latency(1_010).expect("one live record");
        assert_eq!((shown.p50, shown.count), (10, 1));
        assert_eq!(feed.consumed_latency(1_010).map(|p| p.p99), Some(4));
    }

    fn at(partition: i32, offset: i64) -> PartitionOffset {
        PartitionOffset { partition, offset }
    }

    #[test]
    fn a_reconnect_resumes_after_the_last_record_seen_in_each_partition() {
        let mut feed = Feed::default();
        assert_eq!(feed.resume(), None);
        feed.apply(
            ServerMessage::Hello {
                topic: "orders".into(),
                history: 0,
                positions: vec![at(0, 7), at(1, 0), at(2, 3)],
            },
            0,
        );
        feed.apply(record(0, 7), 0);
        feed.apply(record(0, 8), 0);
        feed.apply(record(2, 5), 0);
        assert_eq!(
            feed.resume(),
            Some(("orders", vec![at(0, 9), at(1, 0), at(2, 6)]))
        );
        // A later connection that starts further on (its gateway could not
        // read all the page missed) moves the position; one behind does not.
        feed.apply(
            ServerMessage::Hello {
                topic: "orders".into(),
                history: 0,
                positions: vec![at(0, 4), at(1, 20)],
            },
            0,
        );
        assert_eq!(
            feed.resume(),
            Some(("orders", vec![at(0, 9), at(1, 20), at(2, 6)]))
        );
    }

    #[test]
    fn missed_records_add_up() {
        let mut feed = Feed::default();
        feed.apply(ServerMessage::Lagged { missed: 3 }, 0);
        feed.apply(ServerMessage::Lagged { missed: 4 }, 0);
        assert_eq!(feed.missed(), 7);
    }

    #[test]
    fn latency_prefers_the_produce_header() {
        let mut feed = Feed::default();
        feed.apply(record(0, 0), 1_010);
        feed.publish();
        let entry = feed.entries().next().expect("entry").clone();
        assert_eq!(entry.consumed_after_ms(), Some(4));
        assert_eq!(entry.shown_after_ms(), Some(10));

        let mut with_header = (*entry).clone();
        with_header.record.produced_at_ms = Some(1_002);
        assert_eq!(with_header.consumed_after_ms(), Some(2));
        assert_eq!(with_header.shown_after_ms(), Some(8));
    }

    fn text(message: &ServerMessage) -> String {
        serde_json::to_string(message).expect("json")
    }

    #[test]
    fn records_given_as_texts_are_counted_and_listed_as_records_read() {
        let mut messages = vec![ServerMessage::Hello {
            topic: "orders".into(),
            history: 3,
            positions: vec![],
        }];
        messages.extend((0..3).map(|offset| record(0, offset)));
        // Live: a repeat of history, then a burst over two partitions, more
        // than one repaint lists.
        messages.push(record(0, 2));
        messages.extend(
            (3..3 + MAX_NEW_ROWS as i64 + 4).map(|offset| record((offset % 2) as i32, offset)),
        );
        let mut read = Feed::default();
        let mut texts = Feed::default();
        // And all the records' texts in one call, as one message brings them.
        let mut at_once = Feed::default();
        at_once.apply(messages[0].clone(), 2_000);
        let all: Vec<String> = messages[1..].iter().map(text).collect();
        at_once.apply_texts(all.iter().map(String::as_str), 2_000);
        for (i, message) in messages.iter().enumerate() {
            let now = 2_000 + i as i64;
            read.apply(message.clone(), now);
            match message {
                ServerMessage::Hello { .. } => texts.apply(message.clone(), now),
                _ => texts.apply_texts([text(message).as_str()], now),
            }
        }
        assert_eq!(texts.total_seen(), read.total_seen());
        assert_eq!(texts.partitions(), read.partitions());
        assert_eq!(texts.resume(), read.resume());
        assert_eq!(texts.consumed_latency(2_100), read.consumed_latency(2_100));
        assert_eq!(texts.shown_latency(2_100), read.shown_latency(2_100));
        assert_eq!(ids(&mut texts), ids(&mut read));
        assert_eq!(texts.unlisted(), read.unlisted());
        assert_eq!(texts.unlisted(), 4);
        let listed: Vec<FeedEntry> = texts.entries().map(|e| (**e).clone()).collect();
        let expected: Vec<FeedEntry> = read.entries().map(|e| (**e).clone()).collect();
        assert_eq!(listed, expected);

        assert_eq!(at_once.total_seen(), read.total_seen());
        assert_eq!(at_once.partitions(), read.partitions());
        assert_eq!(at_once.resume(), read.resume());
        assert_eq!(ids(&mut at_once), ids(&mut read));
        assert_eq!(at_once.unlisted(), read.unlisted());
        // Only the listed ones were read: the history, and the newest live
        // records of a repaint.
        assert_eq!(at_once.texts_read, 3 + MAX_NEW_ROWS);
    }

    #[test]
    fn a_record_given_as_text_is_read_whole_only_if_listed() {
        // The head reads, the value does not (a kind this build does not know).
        let unreadable = text(&record(0, 0)).replace(r#"{"kind":"null"}"#, r#"{"kind":"new"}"#);
        assert!(serde_json::from_str::<ServerMessage>(&unreadable).is_err());

        // Counted, and never read: newer records took its place in the
        // list, in one message or in the next.
        let newer: Vec<String> = (1..=MAX_NEW_ROWS as i64)
            .map(|offset| text(&record(0, offset)))
            .collect();
        for split in [false, true] {
            let mut feed = Feed::default();
            if split {
                feed.apply_texts([unreadable.as_str()], 0);
                feed.apply_texts(newer.iter().map(String::as_str), 0);
            } else {
                feed.apply_texts(
                    std::iter::once(unreadable.as_str()).chain(newer.iter().map(String::as_str)),
                    0,
                );
            }
            assert_eq!(feed.total_seen(), MAX_NEW_ROWS as u64 + 1);
            assert_eq!(ids(&mut feed).len(), MAX_NEW_ROWS);
            assert_eq!(feed.unlisted(), 1);
            assert_eq!(feed.texts_read, MAX_NEW_ROWS);
        }

        // Its turn to be listed: read, and skipped, since it cannot be;
        // counted, and not as too fast for the list.
        let mut feed = Feed::default();
        feed.apply_texts([unreadable.as_str()], 0);
        assert_eq!(feed.total_seen(), 1);
        assert!(ids(&mut feed).is_empty());
        assert_eq!(feed.texts_read, 1);
        assert_eq!(feed.unlisted(), 0);

        // Not a record at all: not counted.
        feed.apply_texts(["{}", "not json"], 0);
        assert_eq!(feed.total_seen(), 1);
    }
}
