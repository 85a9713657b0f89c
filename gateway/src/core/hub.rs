//! The hub of one watched topic: it fans every record out to all of the
//! topic's stream clients, along with the flow's state and the demo
//! services' progress, and keeps the most recent records per partition for
//! clients that connect later or resume.
//!
//! Each message is encoded once into a frame that every client shares; the
//! frame type is the HTTP edge's (so a frame goes out as it is, without a
//! copy or a second UTF-8 check per client). The consumer never waits for a
//! client: each client reads from a bounded broadcast queue, and one that
//! falls behind is told how many records it missed. State snapshots are
//! "latest wins" (a watch channel) and progress batches have a queue of
//! their own, so neither crowds records out of a client's queue.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use wire::ServerMessage;
use wire::api::ReplayRange;
use wire::stream::PartitionOffset;

use crate::sync::lock;

/// One encoded [`ServerMessage`], cheap to clone and shared by every client
/// that sends it. Made from the JSON text, so it is valid UTF-8 by
/// construction.
pub(crate) trait Frame:
    Clone + From<String> + std::ops::Deref<Target = str> + Send + Sync + 'static
{
}

impl<T> Frame for T where
    T: Clone + From<String> + std::ops::Deref<Target = str> + Send + Sync + 'static
{
}

/// Encodes a message into a frame.
pub(crate) fn encode<F: Frame>(message: &ServerMessage) -> F {
    // ServerMessage is plain data; serializing it cannot fail.
    F::from(serde_json::to_string(message).unwrap_or_default())
}

const HEAD: &str = wire::stream::RECORDS_HEAD;
const TAIL: &str = "]}";
/// What a `records` message adds to its records' text: its own start and
/// end, and (at most) one comma per record.
pub(crate) const JOINED_OVERHEAD: usize = HEAD.len() + TAIL.len();

/// One [`ServerMessage::Records`] of consecutive record frames, made by
/// joining their shared text (each element keeps its `"type":"record"`,
/// which readers of `records` ignore): one copy, no re-encoding. A single
/// frame is sent as it is.
pub(crate) fn join_records<F: Frame>(mut records: Vec<F>) -> F {
    if records.len() == 1 {
        return records.swap_remove(0);
    }
    let len = records.iter().map(|f| f.len() + 1).sum::<usize>() + HEAD.len() + TAIL.len();
    let mut text = String::with_capacity(len);
    text.push_str(HEAD);
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(record);
    }
    text.push_str(TAIL);
    F::from(text)
}

/// Fans records out to clients and keeps the most recent ones per partition.
pub(crate) struct Hub<F> {
    /// A std mutex, not tokio's: it is held only to push or copy a few frames
    /// (reference-counted, so copies are cheap) and never across an await.
    /// Publishing and subscribing under the same lock is what guarantees a
    /// new client no gap and no duplicate between its history and live records.
    history: Mutex<History<F>>,
    sender: broadcast::Sender<Published<F>>,
    /// The latest flow snapshot.
    flow: watch::Sender<Option<F>>,
    /// The demo services' progress batches.
    processed: broadcast::Sender<F>,
    /// Whether the consumer is assigned to the topic and reading.
    consuming: watch::Sender<bool>,
    /// How far a client may fall behind; a filter's hub takes the same.
    client_queue: usize,
}

/// A record's frame with its position, which a resuming client filters on.
#[derive(Clone)]
pub(crate) struct Published<F> {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) frame: F,
}

/// What one client reads from the hub.
pub(crate) struct Subscription<F> {
    /// Recent records, oldest first, sent before the live ones.
    pub(crate) history: Vec<F>,
    pub(crate) records: broadcast::Receiver<Published<F>>,
    pub(crate) flow: watch::Receiver<Option<F>>,
    pub(crate) processed: broadcast::Receiver<F>,
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

struct History<F> {
    per_partition: HashMap<i32, PartitionHistory<F>>,
    next_seq: u64,
    capacity: usize,
}

struct PartitionHistory<F> {
    /// Most recent frames, each with its publish sequence number (so
    /// histories of several partitions merge in consumed order) and offset.
    frames: VecDeque<(u64, i64, F)>,
    /// Every record of the partition at or after this offset is in `frames`
    /// or is still to be published: where what the hub can give starts.
    covered_from: i64,
    /// The offset after the last record published (`covered_from` before any).
    next: i64,
}

impl<F> PartitionHistory<F> {
    fn starting_at(offset: i64) -> Self {
        Self {
            frames: VecDeque::new(),
            covered_from: offset,
            next: offset,
        }
    }
}

impl<F: Frame> Hub<F> {
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
            client_queue: client_queue.max(1),
        }
    }

    /// Frames kept per partition.
    pub(crate) fn history(&self) -> usize {
        lock(&self.history).capacity
    }

    pub(crate) fn client_queue(&self) -> usize {
        self.client_queue
    }

    /// Per partition, the offset of the next record to be published.
    pub(crate) fn ends(&self) -> Vec<(i32, i64)> {
        let history = lock(&self.history);
        let mut ends: Vec<(i32, i64)> = history
            .per_partition
            .iter()
            .map(|(&p, kept)| (p, kept.next))
            .collect();
        ends.sort_unstable();
        ends
    }

    /// The flow snapshots and progress batches, for a client whose records
    /// come from elsewhere (a filter's hub).
    pub(crate) fn side_streams(&self) -> (watch::Receiver<Option<F>>, broadcast::Receiver<F>) {
        (self.flow.subscribe(), self.processed.subscribe())
    }

    /// Replaces the flow snapshot every client is sent.
    pub(crate) fn set_flow(&self, frame: F) {
        self.flow.send_replace(Some(frame));
    }

    /// Sends a progress batch to every client.
    pub(crate) fn publish_processed(&self, frame: F) {
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

    /// Sends a record's frame to every client and remembers it; how many
    /// clients it was sent to.
    pub(crate) fn publish(&self, partition: i32, offset: i64, frame: F) -> usize {
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
        self.sender
            .send(Published {
                partition,
                offset,
                frame,
            })
            .unwrap_or(0)
    }

    /// A new client's view: for each partition in `resume`, every record
    /// from its offset on (what the hub no longer holds comes back as
    /// `gaps`); for the others up to `last` recent frames; all in the order
    /// they were consumed, then every frame published after them. And the
    /// flow and progress streams.
    pub(crate) fn subscribe(&self, last: usize, resume: &[PartitionOffset]) -> Subscription<F> {
        let history = lock(&self.history);
        let records = self.sender.subscribe();
        let mut sent: Vec<&(u64, i64, F)> = Vec::new();
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

    /// Says whether the consumer reads the topic.
    pub(crate) fn set_consuming(&self, consuming: bool) {
        self.consuming.send_replace(consuming);
    }

    /// Waits until the consumer reads the topic, at most `timeout`; whether it does.
    pub(crate) async fn wait_consuming(&self, timeout: Duration) -> bool {
        let mut consuming = self.consuming.subscribe();
        tokio::time::timeout(timeout, consuming.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::record::record_message;

    /// The tests' frames are plain strings.
    type Frame = String;

    fn texts(frames: &[Frame]) -> Vec<&str> {
        frames.iter().map(Frame::as_str).collect()
    }

    fn at(partition: i32, offset: i64) -> PartitionOffset {
        PartitionOffset { partition, offset }
    }

    /// A hub holding `capacity` frames per partition, fed the given
    /// (partition, offset, text) records; partitions start at offset 0.
    fn hub_with(capacity: usize, records: &[(i32, i64, &str)]) -> Hub<Frame> {
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
        let hub = Hub::<Frame>::new(0, 4);
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
    fn consecutive_records_join_into_one_records_message() {
        let record =
            |offset: i64| -> Frame { encode(&record_message(offset, wire::Payload::Null)) };
        let one = record(1);
        assert_eq!(join_records(vec![one.clone()]), one);

        let joined: Frame = join_records(vec![record(1), record(2), record(3)]);
        let Ok(ServerMessage::Records { records }) = serde_json::from_str(&joined) else {
            panic!("not a records message: {joined}");
        };
        let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [1, 2, 3]);

        // The page takes both messages' records as texts without reading
        // them, by how they begin: this is how they begin.
        let parts = [record(1), record(2), record(3)];
        assert_eq!(
            wire::stream::record_texts(&joined),
            Some(parts.iter().map(Frame::as_str).collect())
        );
        assert_eq!(wire::stream::record_texts(&one), Some(vec![one.as_str()]));
    }

    #[test]
    fn clients_are_counted() {
        let hub = Hub::<Frame>::new(0, 4);
        let a = hub.subscribe(0, &[]);
        let b = hub.subscribe(0, &[]);
        assert_eq!(hub.clients(), 2);
        drop((a, b));
        assert_eq!(hub.clients(), 0);
    }
}
