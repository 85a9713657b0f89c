//! Scanning ranges of a topic for a search: every record of each range,
//! merged across partitions by timestamp, oldest or newest first, handed
//! on in batches as the record the feed shows and the document a filter
//! tests. Like every range read, by manual assignment, committing nothing.
//! Every call here blocks: run it on the blocking pool.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, OwnedMessage};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use wire::LiveRecord;
use wire::api::ReplayRange;
use wire::stream::PartitionOffset;

use super::reader::{RangeReader, ReadError};
use super::record;
use crate::clock::now_ms;

/// The longest a scan waits for a record before it looks at its
/// cancellation again.
const POLL: Duration = Duration::from_millis(200);
/// Records read ahead per partition at a time, at most, newest first (a
/// chunk is read whole before it is handed on, reversed).
const CHUNK: usize = 2_000;
/// Records held per partition, at most, oldest first: several of
/// librdkafka's fetches (1 MiB each), so that a partition is rarely paused
/// (pausing drops what was fetched for it, to be fetched again).
const FORWARD_AHEAD: usize = 20_000;
/// Bytes of documents read ahead over all partitions (at least
/// [`MIN_AHEAD_BYTES`] per partition, so that a 1 MiB record fits).
const AHEAD_BYTES: usize = 32 * 1024 * 1024;
const MIN_AHEAD_BYTES: usize = 2 * 1024 * 1024;
/// Records read between two readings of the clock, oldest first: at a few
/// hundred thousand records a second, well under a millisecond.
const CLOCK_EVERY: u32 = 64;
/// Records handed on at once, at most.
pub(crate) const BATCH: usize = 1_000;
/// The longest merged records wait to be handed on (the first match of a
/// search is on the page soon whatever the batch).
const HAND_ON_EVERY: Duration = Duration::from_millis(20);

/// Which records come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    OldestFirst,
    NewestFirst,
}

/// What a test the scan ran itself said of a record's document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tested {
    Match,
    NoMatch,
    /// The record could not be tested; why.
    Skipped(String),
}

/// A test the scan runs on each record as it reads it (a filter the
/// gateway may run itself), so that only matches are kept.
pub(crate) type Test<'a> = &'a mut dyn FnMut(&Candidate<'_>) -> Tested;

/// A record being scanned, as a test sees it: its plain fields when they
/// are enough, else its whole document, made only if asked for.
pub(crate) struct Candidate<'a> {
    message: &'a BorrowedMessage<'a>,
    schemas: &'a record::Schemas,
    /// Whether the test asked for the document (the scan then reads the
    /// clock at once: such a record may have taken a while).
    built: std::cell::Cell<bool>,
}

impl Candidate<'_> {
    /// The record's plain fields (see `record::Fields`), if its document
    /// would hold them as they are.
    pub(crate) fn fields(&self) -> Option<record::Fields<'_>> {
        record::Fields::of(self.message, self.schemas)
    }

    /// The record's document (`record::document`).
    pub(crate) fn document(&self) -> Vec<u8> {
        self.built.set(true);
        let decoded = self.schemas.decode_blocking(self.message);
        record::document(self.message, &decoded)
    }
}

/// A record read by a scan: the document a filter tests, and the record
/// itself, decoded into what the feed shows only when asked (for a match:
/// most records of a search are not). A record the scan tested itself
/// keeps neither its document nor, unless it matched, its bytes.
pub(crate) struct Scanned {
    /// The order records are merged in (see `reader::merge_key`).
    merge_key: (i64, i32, i64),
    message: Option<OwnedMessage>,
    pub(crate) document: Vec<u8>,
    /// The scan's own test's verdict, if it ran one.
    pub(crate) tested: Option<Tested>,
    /// Bytes held (the read-ahead budget counts them).
    held: usize,
    /// Whether making it took more than a look at its fields (a document
    /// built): the scan reads the clock after such a record.
    costly: bool,
}

impl Scanned {
    fn of(
        message: &BorrowedMessage<'_>,
        schemas: &record::Schemas,
        test: Option<&mut Test<'_>>,
    ) -> Self {
        let merge_key = (
            message.timestamp().to_millis().unwrap_or(i64::MIN),
            message.partition(),
            message.offset(),
        );
        match test {
            None => {
                // Decoded for the document only: a match is decoded again
                // (from the cache) rather than every record held ahead
                // keeping its JSON.
                let decoded = schemas.decode_blocking(message);
                let document = record::document(message, &decoded);
                Self {
                    merge_key,
                    message: Some(message.detach()),
                    held: document.len(),
                    document,
                    tested: None,
                    costly: true,
                }
            }
            Some(test) => {
                let candidate = Candidate {
                    message,
                    schemas,
                    built: std::cell::Cell::new(false),
                };
                let tested = test(&candidate);
                let kept = (tested == Tested::Match).then(|| message.detach());
                Self {
                    merge_key,
                    held: kept.as_ref().map_or(0, bytes_of),
                    message: kept,
                    document: Vec::new(),
                    tested: Some(tested),
                    costly: candidate.built.get(),
                }
            }
        }
    }

    pub(crate) fn offset(&self) -> i64 {
        self.merge_key.2
    }

    /// The record as the feed shows it (`None` for one the scan tested
    /// and dropped).
    pub(crate) async fn to_live(&self, schemas: &record::Schemas) -> Option<LiveRecord> {
        let message = self.message.as_ref()?;
        let decoded = schemas.decode(message).await;
        Some(record::to_live(message, now_ms(), &decoded))
    }

    fn merge_key(&self) -> (i64, i32, i64) {
        self.merge_key
    }
}

/// A record's bytes: its key, value and headers.
fn bytes_of(message: &OwnedMessage) -> usize {
    let headers = message.headers().map_or(0, |hs| {
        hs.iter()
            .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
            .sum()
    });
    message.payload().map_or(0, <[u8]>::len) + message.key().map_or(0, <[u8]>::len) + headers
}

/// Where one partition's scan is, and what it holds read ahead.
struct Cursor {
    partition: i32,
    /// What is not read yet: `[low, high)`. Oldest first reads from `low`
    /// up, newest first from `high` down.
    low: i64,
    high: i64,
    /// Read, not yet handed on, in the scan's order.
    ahead: VecDeque<Scanned>,
    ahead_bytes: usize,
}

impl Cursor {
    fn more(&self) -> bool {
        self.low < self.high
    }

    /// Where the scan of this partition is: the next offset to read
    /// oldest first, the lowest offset read newest first (what is left to
    /// read is below it).
    fn at(&self, direction: Direction) -> i64 {
        match direction {
            Direction::OldestFirst => self.ahead.front().map_or(self.low, Scanned::offset),
            Direction::NewestFirst => self.ahead.front().map_or(self.high, |s| s.offset() + 1),
        }
    }
}

impl RangeReader {
    /// Scans `ranges` in `direction`, handing each batch of at most
    /// [`BATCH`] records to `each` with every partition's position after
    /// it, until the ranges end, `each` says stop (false), `cancel` is
    /// cancelled (`Cancelled`), or `within` has passed (`TimedOut`).
    pub(crate) fn scan(
        &self,
        ranges: &[ReplayRange],
        direction: Direction,
        within: Duration,
        cancel: &CancellationToken,
        mut test: Option<Test<'_>>,
        mut each: impl FnMut(Vec<Scanned>, Vec<PartitionOffset>) -> bool,
    ) -> Result<(), ReadError> {
        let deadline = Instant::now() + within;
        let mut cursors: Vec<Cursor> = ranges
            .iter()
            .map(|r| Cursor {
                partition: r.partition,
                low: r.from,
                high: r.to.max(r.from),
                ahead: VecDeque::new(),
                ahead_bytes: 0,
            })
            .collect();
        let budget = (AHEAD_BYTES / cursors.len().max(1)).max(MIN_AHEAD_BYTES);
        if direction == Direction::OldestFirst {
            return self.scan_forward(&mut cursors, budget, deadline, cancel, test, each);
        }
        loop {
            if cursors.iter().any(|c| c.ahead.is_empty() && c.more()) {
                let low: Vec<usize> = (0..cursors.len())
                    .filter(|&i| cursors[i].more() && cursors[i].ahead.len() < CHUNK / 2)
                    .collect();
                self.read_chunks_back(&mut cursors, &low, budget, deadline, cancel, &mut test)?;
            }
            let batch = merge(&mut cursors, Direction::NewestFirst, BATCH);
            let done = cursors.iter().all(|c| c.ahead.is_empty() && !c.more());
            if !batch.is_empty() && !each(batch, positions(&cursors, Direction::NewestFirst)) {
                return Ok(());
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Oldest first: every partition assigned once, from its range's
    /// start, and read on while the merge takes its records; a partition
    /// holding its share of the budget (or [`FORWARD_AHEAD`] records) is paused
    /// until the merge drained half of it, so that librdkafka fetches
    /// ahead all along and nothing is read twice.
    fn scan_forward(
        &self,
        cursors: &mut [Cursor],
        budget: usize,
        deadline: Instant,
        cancel: &CancellationToken,
        mut test: Option<Test<'_>>,
        mut each: impl FnMut(Vec<Scanned>, Vec<PartitionOffset>) -> bool,
    ) -> Result<(), ReadError> {
        let mut list = TopicPartitionList::new();
        for c in cursors.iter().filter(|c| c.more()) {
            list.add_partition_offset(&self.topic, c.partition, Offset::Offset(c.low))?;
        }
        if list.count() == 0 {
            return Ok(());
        }
        self.consumer.assign(&list)?;
        let index: HashMap<i32, usize> = cursors
            .iter()
            .enumerate()
            .map(|(i, c)| (c.partition, i))
            .collect();
        let mut paused: Vec<i32> = Vec::new();
        // Merged records are handed on in batches of [`BATCH`], or every
        // [`HAND_ON_EVERY`], or when the scan waits or ends: one record at
        // a time would cost a round trip to the filter's worker each.
        let mut batch = Vec::with_capacity(BATCH);
        let mut handed = Instant::now();
        let mut idle = false;
        // The clock is read every [`CLOCK_EVERY`] records (a read costs
        // as much as testing a record on some machines' clocks).
        let mut now = Instant::now();
        let mut since_clock = 0;
        loop {
            let room = BATCH - batch.len();
            batch.extend(merge(cursors, Direction::OldestFirst, room));
            let done = cursors.iter().all(|c| c.ahead.is_empty() && !c.more());
            since_clock += 1;
            if since_clock >= CLOCK_EVERY || idle {
                now = Instant::now();
                since_clock = 0;
            }
            let due = batch.len() >= BATCH || done || idle || now - handed >= HAND_ON_EVERY;
            if due && !batch.is_empty() {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                handed = now;
                if !each(full, positions(cursors, Direction::OldestFirst)) {
                    return Ok(());
                }
            }
            if done {
                return Ok(());
            }
            // Drained enough: fetch again.
            let drained: Vec<i32> = paused
                .iter()
                .copied()
                .filter(|p| {
                    index.get(p).is_some_and(|&i| {
                        let c = &cursors[i];
                        c.more() && c.ahead.len() < FORWARD_AHEAD / 2 && c.ahead_bytes < budget / 2
                    })
                })
                .collect();
            if !drained.is_empty() {
                self.consumer.resume(&self.list_of(&drained)?)?;
                paused.retain(|p| !drained.contains(p));
            }
            // Waiting on the broker: hand on what is merged first.
            let wait = if batch.is_empty() {
                POLL
            } else {
                Duration::ZERO
            };
            let polled = self.next_event_at(wait, deadline, now, cancel)?;
            idle = polled.is_none();
            let Some((partition, message)) = polled else {
                continue;
            };
            let Some(&i) = index.get(&partition) else {
                continue;
            };
            let cursor = &mut cursors[i];
            match message {
                // The end of a paused partition's log, reported from what
                // was fetched before the pause: its records after the
                // pause were dropped, and are fetched again on resuming.
                None if paused.contains(&partition) => continue,
                // A record delivered again after a pause: it is held already.
                Some(m) if m.offset() < cursor.low => continue,
                Some(m) if m.offset() < cursor.high => {
                    cursor.low = m.offset() + 1;
                    let scanned = Scanned::of(&m, &self.schemas, test.as_mut());
                    if scanned.costly {
                        since_clock = CLOCK_EVERY;
                    }
                    cursor.ahead_bytes += scanned.held;
                    cursor.ahead.push_back(scanned);
                    let full = cursor.ahead.len() >= FORWARD_AHEAD || cursor.ahead_bytes >= budget;
                    if cursor.more() && full && !paused.contains(&partition) {
                        self.consumer.pause(&self.list_of(&[partition])?)?;
                        paused.push(partition);
                    }
                    if cursor.more() {
                        continue;
                    }
                }
                // Past the range, or at the log's end: this partition is done.
                _ => cursor.low = cursor.high,
            }
            if !paused.contains(&partition) {
                self.consumer.pause(&self.list_of(&[partition])?)?;
                paused.push(partition);
            }
        }
    }

    /// These partitions of the topic, as a list for librdkafka.
    fn list_of(&self, partitions: &[i32]) -> Result<TopicPartitionList, KafkaError> {
        let mut list = TopicPartitionList::new();
        for &p in partitions {
            list.add_partition(&self.topic, p);
        }
        Ok(list)
    }

    /// Newest first: reads the chunk of up to [`CHUNK`] records below
    /// `high` of each cursor numbered `these`, their partitions assigned
    /// together, keeping only the newest `budget` bytes of each (the rest is
    /// read again as a later, smaller chunk).
    fn read_chunks_back(
        &self,
        cursors: &mut [Cursor],
        these: &[usize],
        budget: usize,
        deadline: Instant,
        cancel: &CancellationToken,
        test: &mut Option<Test<'_>>,
    ) -> Result<(), ReadError> {
        let mut list = TopicPartitionList::new();
        let mut filling: HashMap<i32, Filling> = HashMap::new();
        for &i in these {
            let c = &mut cursors[i];
            let (from, to) = ((c.high - CHUNK as i64).max(c.low), c.high);
            list.add_partition_offset(&self.topic, c.partition, Offset::Offset(from))?;
            // What is left after this chunk is below it (or what the budget
            // could not keep of it).
            c.high = from;
            filling.insert(
                c.partition,
                Filling {
                    cursor: i,
                    to,
                    chunk: VecDeque::new(),
                    bytes: 0,
                },
            );
        }
        self.consumer.assign(&list)?;
        while !filling.is_empty() {
            let Some((partition, message)) = self.next_event(POLL, deadline, cancel)? else {
                continue;
            };
            let Some(fill) = filling.get_mut(&partition) else {
                continue;
            };
            let cursor = &mut cursors[fill.cursor];
            // The chunk ends at the log's end (records written since are not
            // in it), or at its last offset.
            let full = match message {
                Some(m) if m.offset() < fill.to => {
                    let scanned = Scanned::of(&m, &self.schemas, test.as_mut());
                    let offset = scanned.offset();
                    fill.bytes += scanned.held;
                    fill.chunk.push_back(scanned);
                    while fill.bytes > budget && fill.chunk.len() > 1 {
                        if let Some(dropped) = fill.chunk.pop_front() {
                            fill.bytes -= dropped.held;
                            cursor.high = cursor.high.max(dropped.offset() + 1);
                        }
                    }
                    offset + 1 >= fill.to
                }
                _ => true,
            };
            if full && let Some(fill) = filling.remove(&partition) {
                let i = fill.cursor;
                fill.finish(&mut cursors[i]);
            }
        }
        Ok(())
    }
}

/// One partition's chunk being read, newest first.
struct Filling {
    cursor: usize,
    /// Where the chunk ends (exclusive).
    to: i64,
    /// The chunk so far, oldest first, and its bytes.
    chunk: VecDeque<Scanned>,
    bytes: usize,
}

impl Filling {
    /// Hands the chunk to its cursor, newest first.
    fn finish(self, cursor: &mut Cursor) {
        for scanned in self.chunk.into_iter().rev() {
            cursor.ahead_bytes += scanned.held;
            cursor.ahead.push_back(scanned);
        }
    }
}

/// Takes records off the cursors in the scan's order, at most `most`,
/// while every partition that has more to read holds some (else the next
/// record may be one not read yet).
fn merge(cursors: &mut [Cursor], direction: Direction, most: usize) -> Vec<Scanned> {
    let mut batch = Vec::new();
    while batch.len() < most {
        if cursors.iter().any(|c| c.ahead.is_empty() && c.more()) {
            break;
        }
        let keys = cursors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.ahead.front().map(|s| (s.merge_key(), i)));
        let next = match direction {
            Direction::OldestFirst => keys.min(),
            Direction::NewestFirst => keys.max(),
        };
        let Some((_, i)) = next else { break };
        let Some(scanned) = cursors[i].ahead.pop_front() else {
            break;
        };
        cursors[i].ahead_bytes -= scanned.held;
        batch.push(scanned);
    }
    batch
}

/// Every partition's position (see [`Cursor::at`]).
fn positions(cursors: &[Cursor], direction: Direction) -> Vec<PartitionOffset> {
    cursors
        .iter()
        .map(|c| PartitionOffset {
            partition: c.partition,
            offset: c.at(direction),
        })
        .collect()
}
