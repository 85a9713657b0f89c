//! Reading offset ranges of a topic again: what a replay shows and what a
//! resuming browser missed.
//!
//! Each reader is a consumer of its own that takes partitions by manual
//! assignment and never commits: reading moves no group's offsets and
//! triggers no rebalance, so every consumer group goes on as if nothing
//! happened. Every call here blocks: run it on the blocking pool.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use wire::LiveRecord;
use wire::api::ReplayRange;

use super::record::{self, Schemas};
use crate::clock::now_ms;
use crate::config::Config;

const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one read may take in all, at most.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a read waits for a record before it looks at its
/// cancellation again.
const POLL: Duration = Duration::from_millis(200);
/// Most records read ahead of the answer per partition at a time.
const MAX_CHUNK: usize = 500;
/// Fewest records read ahead per partition at a time: on a topic with many
/// partitions, reading one or two at a time would cost a fetch each.
const MIN_CHUNK: usize = 16;

/// Where each partition's read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Beginning,
    Offset(i64),
    Timestamp(i64),
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error("topic {0} does not exist yet")]
    NoTopic(String),
    #[error("the topic has partitions 0 to {last}, not {asked}")]
    NoPartition { asked: i32, last: usize },
    #[error("did not finish in the time it had")]
    TimedOut,
    #[error("the read was cancelled")]
    Cancelled,
    /// The blocking task ended without an answer.
    #[error("{0}")]
    Interrupted(String),
}

/// Records read, oldest first.
pub(crate) struct Read {
    pub(crate) records: Vec<LiveRecord>,
    /// Whether the limit stopped the read before the ranges' ends.
    pub(crate) truncated: bool,
}

/// A reader of one topic.
pub(crate) struct RangeReader {
    pub(super) consumer: BaseConsumer<super::client::EndIsNoError>,
    pub(super) topic: String,
    pub(super) schemas: Schemas,
}

impl RangeReader {
    pub(crate) fn new(config: &Config, topic: &str, schemas: Schemas) -> Result<Self, ReadError> {
        Ok(Self {
            consumer: super::client::range_consumer(config, "replay")?,
            topic: topic.to_owned(),
            schemas,
        })
    }

    /// A reader for a search (`RangeReader::scan`), named so in its
    /// (never joined) group id.
    pub(crate) fn for_search(
        config: &Config,
        topic: &str,
        schemas: Schemas,
    ) -> Result<Self, ReadError> {
        Ok(Self {
            consumer: super::client::range_consumer(config, "search")?,
            topic: topic.to_owned(),
            schemas,
        })
    }

    /// Each selected partition's range from `start` to `end` (the log end
    /// now, or the first offset at or after a time).
    pub(crate) fn ranges_until(
        &self,
        start: Start,
        end: Option<i64>,
        partition: Option<i32>,
    ) -> Result<Vec<ReplayRange>, ReadError> {
        let mut ranges = self.ranges(start, partition)?;
        if let Some(end) = end {
            let ends = self.ranges(Start::Timestamp(end), partition)?;
            for range in &mut ranges {
                if let Some(e) = ends.iter().find(|e| e.partition == range.partition) {
                    range.to = e.from.max(range.from);
                }
            }
        }
        Ok(ranges)
    }

    /// Each selected partition's range (all of them, or `partition`): its
    /// start per `start`, its end the log end now.
    pub(crate) fn ranges(
        &self,
        start: Start,
        partition: Option<i32>,
    ) -> Result<Vec<ReplayRange>, ReadError> {
        let ids = self.partitions(partition)?;
        let by_time = match start {
            Start::Timestamp(t) => Some(self.offsets_for_time(&ids, t)?),
            _ => None,
        };
        let mut ranges = Vec::with_capacity(ids.len());
        for p in ids {
            let (low, high) = self
                .consumer
                .fetch_watermarks(&self.topic, p, METADATA_TIMEOUT)?;
            let from = match start {
                Start::Beginning => low,
                // Records before the log start are gone (retention); past the
                // end there is nothing yet.
                Start::Offset(o) => o.clamp(low, high),
                Start::Timestamp(_) => match by_time
                    .as_ref()
                    .and_then(|l| l.find_partition(&self.topic, p))
                    .map(|e| (e.offset(), e.error()))
                {
                    Some((Offset::Offset(o), Ok(()))) => o.clamp(low, high),
                    // No record at or after the time.
                    Some((_, Ok(()))) => high,
                    Some((_, Err(err))) => return Err(err.into()),
                    None => {
                        return Err(
                            KafkaError::OffsetFetch(RDKafkaErrorCode::UnknownPartition).into()
                        );
                    }
                },
            };
            ranges.push(ReplayRange {
                partition: p,
                from,
                to: high,
            });
        }
        Ok(ranges)
    }

    /// The next record of an assigned partition, or a partition's end
    /// (`None` with its partition), waiting at most `wait` (`Ok(None)` if
    /// nothing came); `Cancelled` or `TimedOut` first if so.
    pub(super) fn next_event(
        &self,
        wait: Duration,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<Option<(i32, Option<BorrowedMessage<'_>>)>, ReadError> {
        self.next_event_at(wait, deadline, Instant::now(), cancel)
    }

    /// [`Self::next_event`] with the time now read by the caller (who may
    /// read the clock less often than once a record).
    pub(super) fn next_event_at(
        &self,
        wait: Duration,
        deadline: Instant,
        now: Instant,
        cancel: &CancellationToken,
    ) -> Result<Option<(i32, Option<BorrowedMessage<'_>>)>, ReadError> {
        if cancel.is_cancelled() {
            return Err(ReadError::Cancelled);
        }
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            return Err(ReadError::TimedOut);
        }
        match self.consumer.poll(left.min(wait)) {
            None => Ok(None),
            Some(Err(KafkaError::PartitionEOF(partition))) => Ok(Some((partition, None))),
            Some(Err(err)) => Err(err.into()),
            Some(Ok(message)) => Ok(Some((message.partition(), Some(message)))),
        }
    }

    /// The record at `offset` of `partition`, whole, as `record::full`
    /// gives it: `None` when there is none there (past the end, before the
    /// start, or compacted away).
    pub(crate) fn one(
        &self,
        partition: i32,
        offset: i64,
        within: Duration,
        cancel: &CancellationToken,
    ) -> Result<Option<Result<Vec<u8>, record::TooLarge>>, ReadError> {
        let deadline = Instant::now() + within;
        self.partitions(Some(partition))?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&self.topic, partition, Offset::Offset(offset))?;
        self.consumer.assign(&list)?;
        loop {
            match self.next_event(POLL, deadline, cancel)? {
                None => {}
                Some((p, _)) if p != partition => {}
                Some((_, None)) => return Ok(None),
                Some((_, Some(m))) if m.offset() != offset => return Ok(None),
                Some((_, Some(m))) => {
                    let decoded = self.schemas.decode_blocking(&m);
                    return Ok(Some(record::full(&m, &decoded)));
                }
            }
        }
    }

    /// The topic's partition ids, or just `only` after checking it exists.
    fn partitions(&self, only: Option<i32>) -> Result<Vec<i32>, ReadError> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), METADATA_TIMEOUT)?;
        let mut ids: Vec<i32> = metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.topic)
            .filter(|t| t.error().is_none())
            .map(|t| t.partitions().iter().map(|p| p.id()).collect())
            .unwrap_or_default();
        if ids.is_empty() {
            return Err(ReadError::NoTopic(self.topic.clone()));
        }
        ids.sort_unstable();
        match only {
            Some(p) if !ids.contains(&p) => Err(ReadError::NoPartition {
                asked: p,
                last: ids.len() - 1,
            }),
            Some(p) => Ok(vec![p]),
            None => Ok(ids),
        }
    }

    fn offsets_for_time(&self, ids: &[i32], t: i64) -> Result<TopicPartitionList, KafkaError> {
        let mut list = TopicPartitionList::new();
        for &p in ids {
            list.add_partition_offset(&self.topic, p, Offset::Offset(t))?;
        }
        self.consumer.offsets_for_times(list, METADATA_TIMEOUT)
    }

    /// Reads the ranges merged across partitions, oldest first (by record
    /// timestamp, then partition, then offset), at most `limit` records in
    /// all, within `within` (at most [`READ_TIMEOUT`]), until `cancel` is
    /// cancelled.
    ///
    /// Each partition is read ahead by up to `chunk` records, about `limit`
    /// ÷ partitions but at least [`MIN_CHUNK`]; partitions are read ahead
    /// together (one assignment, fetched at once), whenever one has run dry
    /// and all that run low. What is held besides the answer is bounded by
    /// the larger of `limit` and [`MIN_CHUNK`] × partitions.
    pub(crate) fn read(
        &self,
        ranges: &[ReplayRange],
        limit: usize,
        within: Duration,
        cancel: &CancellationToken,
    ) -> Result<Read, ReadError> {
        let deadline = Instant::now() + within.min(READ_TIMEOUT);
        let mut cursors: Vec<Cursor> = ranges
            .iter()
            .filter(|r| r.from < r.to)
            .map(|r| Cursor {
                partition: r.partition,
                next: r.from,
                to: r.to,
                ahead: VecDeque::new(),
            })
            .collect();
        let chunk = (limit / cursors.len().max(1)).clamp(MIN_CHUNK, MAX_CHUNK);
        let mut records = Vec::with_capacity(limit.min(MAX_CHUNK));
        while records.len() < limit {
            if cursors.iter().any(|c| c.ahead.is_empty() && c.more()) {
                let low: Vec<usize> = (0..cursors.len())
                    .filter(|&i| cursors[i].more() && cursors[i].ahead.len() < chunk / 2)
                    .collect();
                self.read_ahead(&mut cursors, &low, chunk, deadline, cancel)?;
            }
            let oldest = cursors
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.ahead.front().map(|r| (merge_key(r), i)))
                .min()
                .map(|(_, i)| i);
            let Some(next) = oldest.and_then(|i| cursors[i].ahead.pop_front()) else {
                break;
            };
            records.push(next);
        }
        let truncated = cursors.iter().any(|c| !c.ahead.is_empty() || c.more());
        Ok(Read { records, truncated })
    }

    /// Reads ahead the cursors numbered `these`, each up to `chunk` records
    /// held or its range's end, their partitions assigned together.
    fn read_ahead(
        &self,
        cursors: &mut [Cursor],
        these: &[usize],
        chunk: usize,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<(), ReadError> {
        let mut list = TopicPartitionList::new();
        for &i in these {
            let c = &cursors[i];
            list.add_partition_offset(&self.topic, c.partition, Offset::Offset(c.next))?;
        }
        self.consumer.assign(&list)?;
        // The cursors still filling, by partition.
        let mut filling: HashMap<i32, usize> =
            these.iter().map(|&i| (cursors[i].partition, i)).collect();
        while !filling.is_empty() {
            // `None`: nothing more, for now: the range ends here.
            let Some((partition, message)) = self.next_event(POLL, deadline, cancel)? else {
                continue;
            };
            // A record past what a full cursor holds is read again next time.
            let Some(&i) = filling.get(&partition) else {
                continue;
            };
            let cursor = &mut cursors[i];
            match message {
                // Records written since the range was taken are not in it.
                None => cursor.to = cursor.next,
                Some(m) if m.offset() >= cursor.to => cursor.to = cursor.next,
                Some(m) => {
                    cursor.next = m.offset() + 1;
                    let decoded = self.schemas.decode_blocking(&m);
                    cursor
                        .ahead
                        .push_back(record::to_live(&m, now_ms(), &decoded));
                }
            }
            if !cursor.more() || cursor.ahead.len() >= chunk {
                filling.remove(&partition);
            }
        }
        Ok(())
    }
}

/// Where one partition's read is.
struct Cursor {
    partition: i32,
    /// The next offset to read.
    next: i64,
    /// Where the range ends (exclusive).
    to: i64,
    /// Records read and not yet merged into the answer, oldest first.
    ahead: VecDeque<LiveRecord>,
}

impl Cursor {
    /// Whether the range has records not read yet.
    fn more(&self) -> bool {
        self.next < self.to
    }
}

/// The order records are merged in: by timestamp (records without one
/// first), then partition, then offset.
pub(super) fn merge_key(record: &LiveRecord) -> (i64, i32, i64) {
    (
        record.timestamp_ms.unwrap_or(i64::MIN),
        record.partition,
        record.offset,
    )
}
