//! The live view: one consumer reads the topic, and a [`Hub`] fans every
//! record out to all WebSocket clients, along with the flow's state and the
//! demo services' progress.
//!
//! Each record is serialized once; clients share the frame. The consumer
//! never waits for a client: each client reads from a bounded broadcast
//! queue, and one that falls behind is told how many records it missed.
//! State snapshots are "latest wins" (a watch channel) and progress batches
//! have a queue of their own, so neither crowds records out of a client's
//! queue.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use wire::ServerMessage;
use wire::api::{ReplayRange, TopicHealth};
use wire::live::PartitionOffset;

use crate::produce::now_ms;
use crate::record;
use crate::sync::lock;
use crate::topic::Topic;

/// One serialized [`ServerMessage`], shared by every client that sends it.
pub(crate) type Frame = Utf8Bytes;

/// Serializes a message into a frame.
pub(crate) fn frame(message: &ServerMessage) -> Frame {
    // ServerMessage is plain data; serializing it cannot fail.
    Utf8Bytes::from(serde_json::to_string(message).unwrap_or_default())
}

/// Fans records out to clients and keeps the most recent ones per partition.
pub(crate) struct Hub {
    /// A std mutex, not tokio's: it is held only to push or copy a few frames
    /// (reference-counted, so copies are cheap) and never across an await.
    /// Publishing and subscribing under the same lock is what guarantees a
    /// new client no gap and no duplicate between its history and live records.
    history: Mutex<History>,
    sender: broadcast::Sender<Published>,
    /// The latest flow snapshot.
    flow: watch::Sender<Option<Frame>>,
    /// The demo services' progress batches.
    processed: broadcast::Sender<Frame>,
    /// Whether the consumer is assigned to the topic and reading.
    consuming: watch::Sender<bool>,
}

/// A record's frame with its position, which a resuming client filters on.
#[derive(Clone)]
pub(crate) struct Published {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) frame: Frame,
}

/// What one client reads from the hub.
pub(crate) struct Subscription {
    /// Recent records, oldest first, sent before the live ones.
    pub(crate) history: Vec<Frame>,
    pub(crate) records: broadcast::Receiver<Published>,
    pub(crate) flow: watch::Receiver<Option<Frame>>,
    pub(crate) processed: broadcast::Receiver<Frame>,
    /// Where this client's records start, per partition.
    pub(crate) positions: Vec<PartitionOffset>,
    /// Of a resuming client: what it still needs that the hub no longer
    /// holds, to be read from Kafka before the history is sent.
    pub(crate) gaps: Vec<ReplayRange>,
    /// Live records of a partition below this offset, the client already has
    /// (it had read further than this gateway has, so far).
    pub(crate) skip_below: HashMap<i32, i64>,
}

/// Progress batches a client may fall behind by before it skips some (the
/// counters in the next flow snapshot stay right).
const PROCESSED_QUEUE: usize = 256;

struct History {
    per_partition: HashMap<i32, PartitionHistory>,
    next_seq: u64,
    capacity: usize,
}

struct PartitionHistory {
    /// Most recent frames, each with its publish sequence number (so
    /// histories of several partitions merge in consumed order) and offset.
    frames: VecDeque<(u64, i64, Frame)>,
    /// Every record of the partition at or after this offset is in `frames`
    /// or is still to be published: where what the hub can give starts.
    covered_from: i64,
    /// The offset after the last record published (`covered_from` before any).
    next: i64,
}

impl PartitionHistory {
    fn starting_at(offset: i64) -> Self {
        Self {
            frames: VecDeque::new(),
            covered_from: offset,
            next: offset,
        }
    }
}

impl Hub {
    /// `history`: frames kept per partition; `client_queue`: how far a client
    /// may fall behind before it misses records.
    pub(crate) fn new(history: usize, client_queue: usize) -> Self {
        let (sender, _) = broadcast::channel(client_queue.max(1));
        Self {
            history: Mutex::new(History {
                per_partition: HashMap::new(),
                next_seq: 0,
                capacity: history,
            }),
            sender,
            flow: watch::channel(None).0,
            processed: broadcast::channel(PROCESSED_QUEUE).0,
            consuming: watch::channel(false).0,
        }
    }

    /// Replaces the flow snapshot every client is sent.
    pub(crate) fn set_flow(&self, frame: Frame) {
        self.flow.send_replace(Some(frame));
    }

    /// Sends a progress batch to every client.
    pub(crate) fn publish_processed(&self, frame: Frame) {
        // An error only means no client is connected.
        let _ = self.processed.send(frame);
    }

    /// Records that the consumer reads `partition` from `offset` on: every
    /// record from there will be published.
    pub(crate) fn start(&self, partition: i32, offset: i64) {
        lock(&self.history)
            .per_partition
            .insert(partition, PartitionHistory::starting_at(offset));
    }

    /// Sends a record's frame to every client and remembers it.
    pub(crate) fn publish(&self, partition: i32, offset: i64, frame: Frame) {
        let mut history = lock(&self.history);
        let seq = history.next_seq;
        history.next_seq += 1;
        let capacity = history.capacity;
        let kept = history
            .per_partition
            .entry(partition)
            .or_insert_with(|| PartitionHistory::starting_at(offset));
        kept.next = offset + 1;
        if capacity == 0 {
            kept.covered_from = kept.next;
        } else {
            if kept.frames.len() == capacity
                && let Some((_, dropped, _)) = kept.frames.pop_front()
            {
                kept.covered_from = dropped + 1;
            }
            kept.frames.push_back((seq, offset, frame.clone()));
        }
        // An error only means no client is connected.
        let _ = self.sender.send(Published {
            partition,
            offset,
            frame,
        });
    }

    /// A new client's view: for each partition in `resume`, every record
    /// from its offset on (what the hub no longer holds comes back as
    /// `gaps`); for the others up to `last` recent frames; all in the order
    /// they were consumed, then every frame published after them. And the
    /// flow and progress streams.
    pub(crate) fn subscribe(&self, last: usize, resume: &[PartitionOffset]) -> Subscription {
        let history = lock(&self.history);
        let records = self.sender.subscribe();
        let mut sent: Vec<&(u64, i64, Frame)> = Vec::new();
        let mut positions = Vec::with_capacity(history.per_partition.len());
        let mut gaps = Vec::new();
        let mut skip_below = HashMap::new();
        for (&partition, kept) in &history.per_partition {
            let wanted = resume.iter().find(|r| r.partition == partition);
            let from = match wanted {
                Some(&PartitionOffset { offset, .. }) if offset < kept.covered_from => {
                    gaps.push(ReplayRange {
                        partition,
                        from: offset,
                        to: kept.covered_from,
                    });
                    sent.extend(&kept.frames);
                    offset
                }
                Some(&PartitionOffset { offset, .. }) => {
                    sent.extend(kept.frames.iter().filter(|(_, o, _)| *o >= offset));
                    if offset > kept.next {
                        skip_below.insert(partition, offset);
                    }
                    offset
                }
                None => {
                    let recent = kept.frames.range(kept.frames.len().saturating_sub(last)..);
                    let from = recent.clone().next().map_or(kept.next, |(_, o, _)| *o);
                    sent.extend(recent);
                    from
                }
            };
            positions.push(PartitionOffset {
                partition,
                offset: from,
            });
        }
        sent.sort_unstable_by_key(|(seq, _, _)| *seq);
        positions.sort_unstable_by_key(|p| p.partition);
        gaps.sort_unstable_by_key(|g| g.partition);
        Subscription {
            history: sent.into_iter().map(|(_, _, f)| f.clone()).collect(),
            records,
            flow: self.flow.subscribe(),
            processed: self.processed.subscribe(),
            positions,
            gaps,
            skip_below,
        }
    }

    /// Clients connected right now.
    pub(crate) fn clients(&self) -> usize {
        self.sender.receiver_count()
    }

    pub(crate) fn consuming(&self) -> bool {
        *self.consuming.borrow()
    }

    /// Waits until the consumer reads the topic, at most `timeout`; whether it does.
    pub(crate) async fn wait_consuming(&self, timeout: Duration) -> bool {
        let mut consuming = self.consuming.subscribe();
        tokio::time::timeout(timeout, consuming.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Reads the topic into `hub` until `shutdown`: waits (with backoff) until
/// the broker answers and the topic exists (creating it if needed), says so
/// on `topic_ready`, assigns
/// every partition starting `history` records from its end, and publishes
/// every record. Partitions added to the topic later are picked up.
pub(crate) async fn consume(
    consumer: StreamConsumer,
    topic: Topic,
    create: (i32, i32),
    history: u64,
    hub: &Hub,
    topic_ready: tokio::sync::watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let (partitions, replication) = create;
    let ensured = retry("topic not available yet", &shutdown, || async {
        topic
            .ensure(partitions, replication)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    if ensured.is_none() {
        return;
    }
    topic_ready.send_replace(true);
    // Explicit start offsets, not "the last N": the hub must know where each
    // partition's records start to resume a client exactly.
    let described = retry("could not read where the topic ends", &shutdown, || async {
        match topic.describe().await {
            Ok(Some(health)) => Ok(health),
            Ok(None) => Err("the topic has no partitions yet".to_owned()),
            Err(err) => Err(err.to_string()),
        }
    })
    .await;
    let Some(described) = described else {
        return;
    };
    let starts = start_offsets(&described, history);
    for &(partition, offset) in &starts {
        hub.start(partition, offset);
    }
    let mut assigned: Vec<i32> = starts.iter().map(|&(p, _)| p).collect();
    if let Err(err) = assign(&consumer, topic.name(), &starts, false) {
        tracing::error!(%err, "could not assign the topic's partitions to the live consumer");
        return;
    }
    hub.consuming.send_replace(true);
    tracing::info!(topic = topic.name(), partitions = ?assigned, "live view consuming");

    let mut refresh = tokio::time::interval(Duration::from_secs(10));
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            received = consumer.recv() => match received {
                Ok(message) => {
                    let live = record::to_live(&message, now_ms());
                    hub.publish(live.partition, live.offset, frame(&ServerMessage::Record(live)));
                }
                // Transport errors while the broker is away: librdkafka
                // reconnects by itself, and recv waits for the next event.
                Err(err) => tracing::debug!(%err, "live consumer"),
            },
            _ = refresh.tick() => {
                // New partitions are read from their beginning: every record
                // in them was written after the gateway started watching.
                if let Ok(Some(now)) = topic.partition_ids().await {
                    // (Offset 0 stands for the log start, wherever it is.)
                    let added: Vec<(i32, i64)> = now.iter().filter(|p| !assigned.contains(p)).map(|&p| (p, 0)).collect();
                    if !added.is_empty() {
                        for &(partition, offset) in &added {
                            hub.start(partition, offset);
                        }
                        match assign(&consumer, topic.name(), &added, true) {
                            Ok(()) => {
                                tracing::info!(partitions = ?added, "live view picked up new partitions");
                                assigned = now;
                            }
                            Err(err) => tracing::warn!(%err, "could not assign new partitions"),
                        }
                    }
                }
            }
        }
    }
    hub.consuming.send_replace(false);
}

/// Calls `attempt` until it succeeds, backing off from 200 ms to 5 s and
/// logging why it failed (`what`); `None` on shutdown.
async fn retry<T, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    mut attempt: impl FnMut() -> Fut,
) -> Option<T>
where
    Fut: Future<Output = Result<T, String>>,
{
    let mut backoff = Duration::from_millis(200);
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(err) => tracing::warn!(%err, retry_in = ?backoff, "{what}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Where the live consumer starts in each partition: `history` records
/// before the end, or the log start.
fn start_offsets(topic: &TopicHealth, history: u64) -> Vec<(i32, i64)> {
    let history = i64::try_from(history).unwrap_or(i64::MAX);
    topic
        .partitions
        .iter()
        .map(|p| {
            (
                p.id,
                p.high_watermark
                    .saturating_sub(history)
                    .max(p.low_watermark),
            )
        })
        .collect()
}

fn assign(
    consumer: &StreamConsumer,
    topic: &str,
    starts: &[(i32, i64)],
    incremental: bool,
) -> rdkafka::error::KafkaResult<()> {
    let mut list = TopicPartitionList::new();
    for &(p, offset) in starts {
        list.add_partition_offset(topic, p, Offset::Offset(offset))?;
    }
    if incremental {
        consumer.incremental_assign(&list)
    } else {
        consumer.assign(&list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(frames: &[Frame]) -> Vec<&str> {
        frames.iter().map(Frame::as_str).collect()
    }

    fn at(partition: i32, offset: i64) -> PartitionOffset {
        PartitionOffset { partition, offset }
    }

    /// A hub holding `capacity` frames per partition, fed the given
    /// (partition, offset, text) records; partitions start at offset 0.
    fn hub_with(capacity: usize, records: &[(i32, i64, &str)]) -> Hub {
        let hub = Hub::new(capacity, 16);
        hub.start(0, 0);
        hub.start(1, 0);
        for &(p, o, text) in records {
            hub.publish(p, o, Frame::from(text));
        }
        hub
    }

    #[test]
    fn history_keeps_the_last_records_per_partition_in_consumed_order() {
        let hub = hub_with(
            2,
            &[
                (0, 0, "a"),
                (1, 0, "b"),
                (0, 1, "c"),
                (0, 2, "d"),
                (1, 1, "e"),
            ],
        );
        assert_eq!(texts(&hub.subscribe(2, &[]).history), ["b", "c", "d", "e"]);
        let one = hub.subscribe(1, &[]);
        assert_eq!(texts(&one.history), ["d", "e"]);
        // Each partition's records are complete from the first one sent.
        assert_eq!(one.positions, [at(0, 2), at(1, 1)]);
        let none = hub.subscribe(0, &[]);
        assert!(none.history.is_empty());
        assert_eq!(none.positions, [at(0, 3), at(1, 2)]);
    }

    #[test]
    fn a_subscriber_gets_everything_after_its_history_exactly_once() {
        let hub = hub_with(10, &[(0, 0, "old")]);
        let Subscription {
            history,
            mut records,
            ..
        } = hub.subscribe(10, &[]);
        hub.publish(0, 1, Frame::from("new"));
        assert_eq!(texts(&history), ["old"]);
        assert_eq!(records.try_recv().expect("new frame").frame.as_str(), "new");
        assert!(records.try_recv().is_err());
    }

    #[test]
    fn a_resuming_client_gets_what_it_has_not_seen_and_the_rest_as_gaps() {
        // Partition 0 holds offsets 3 and 4 (0 to 2 dropped); partition 1 holds 0 and 1.
        let hub = hub_with(
            2,
            &[
                (0, 0, "a0"),
                (0, 1, "a1"),
                (0, 2, "a2"),
                (0, 3, "a3"),
                (1, 0, "b0"),
                (0, 4, "a4"),
                (1, 1, "b1"),
            ],
        );
        let s = hub.subscribe(0, &[at(0, 1), at(1, 1)]);
        assert_eq!(texts(&s.history), ["a3", "a4", "b1"]);
        assert_eq!(
            s.gaps,
            [ReplayRange {
                partition: 0,
                from: 1,
                to: 3
            }]
        );
        assert_eq!(s.positions, [at(0, 1), at(1, 1)]);
        assert!(s.skip_below.is_empty());

        // A partition not named gets `last` records as usual.
        let s = hub.subscribe(1, &[at(1, 2)]);
        assert_eq!(texts(&s.history), ["a4"]);
        assert!(s.gaps.is_empty());
    }

    #[test]
    fn a_client_ahead_of_the_hub_skips_live_records_it_already_has() {
        let hub = hub_with(4, &[(0, 0, "a0")]);
        let s = hub.subscribe(0, &[at(0, 5)]);
        assert!(s.history.is_empty() && s.gaps.is_empty());
        assert_eq!(s.skip_below.get(&0), Some(&5));
        assert_eq!(s.positions[0], at(0, 5));
    }

    #[test]
    fn without_history_the_hub_still_knows_where_it_covers_from() {
        let hub = hub_with(0, &[(0, 0, "a0"), (0, 1, "a1")]);
        let s = hub.subscribe(10, &[at(0, 0)]);
        assert!(s.history.is_empty());
        assert_eq!(
            s.gaps,
            [ReplayRange {
                partition: 0,
                from: 0,
                to: 2
            }]
        );
    }

    #[test]
    fn a_client_that_falls_behind_learns_how_much_it_missed() {
        let hub = Hub::new(0, 4);
        let mut records = hub.subscribe(0, &[]).records;
        for i in 0..10 {
            hub.publish(0, i, Frame::from(i.to_string()));
        }
        assert!(matches!(
            records.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(6))
        ));
        assert_eq!(records.try_recv().expect("oldest kept").frame.as_str(), "6");
    }

    #[test]
    fn the_live_view_starts_history_records_before_the_end_or_at_the_log_start() {
        let partition = |id, low_watermark, high_watermark| wire::api::PartitionHealth {
            id,
            leader: 1,
            low_watermark,
            high_watermark,
        };
        let topic = TopicHealth {
            name: "t".into(),
            partitions: vec![
                partition(0, 0, 500),
                partition(1, 80, 120),
                partition(2, 0, 0),
            ],
        };
        assert_eq!(start_offsets(&topic, 100), [(0, 400), (1, 80), (2, 0)]);
        assert_eq!(start_offsets(&topic, 0), [(0, 500), (1, 120), (2, 0)]);
    }

    #[test]
    fn clients_are_counted() {
        let hub = Hub::new(0, 4);
        let a = hub.subscribe(0, &[]);
        let b = hub.subscribe(0, &[]);
        assert_eq!(hub.clients(), 2);
        drop((a, b));
        assert_eq!(hub.clients(), 0);
    }
}
