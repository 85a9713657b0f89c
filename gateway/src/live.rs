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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use wire::ServerMessage;

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
    sender: broadcast::Sender<Frame>,
    /// The latest flow snapshot.
    flow: watch::Sender<Option<Frame>>,
    /// The demo services' progress batches.
    processed: broadcast::Sender<Frame>,
    /// Whether the consumer is assigned to the topic and reading.
    consuming: AtomicBool,
}

/// What one client reads from the hub.
pub(crate) struct Subscription {
    /// Recent records, oldest first, sent before the live ones.
    pub(crate) history: Vec<Frame>,
    pub(crate) records: broadcast::Receiver<Frame>,
    pub(crate) flow: watch::Receiver<Option<Frame>>,
    pub(crate) processed: broadcast::Receiver<Frame>,
}

/// Progress batches a client may fall behind by before it skips some (the
/// counters in the next flow snapshot stay right).
const PROCESSED_QUEUE: usize = 256;

struct History {
    /// Most recent frames per partition, each with its publish sequence
    /// number so histories of several partitions merge in consumed order.
    per_partition: HashMap<i32, VecDeque<(u64, Frame)>>,
    next_seq: u64,
    capacity: usize,
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
            consuming: AtomicBool::new(false),
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

    /// Sends a record's frame to every client and remembers it.
    pub(crate) fn publish(&self, partition: i32, frame: Frame) {
        let mut history = lock(&self.history);
        if history.capacity > 0 {
            let seq = history.next_seq;
            history.next_seq += 1;
            let capacity = history.capacity;
            let queue = history.per_partition.entry(partition).or_default();
            if queue.len() == capacity {
                queue.pop_front();
            }
            queue.push_back((seq, frame.clone()));
        }
        // An error only means no client is connected.
        let _ = self.sender.send(frame);
    }

    /// A new client's view: up to `last` recent frames per partition in the
    /// order they were consumed, then every frame published after them; and
    /// the flow and progress streams.
    pub(crate) fn subscribe(&self, last: usize) -> Subscription {
        let (history, records) = self.subscribe_records(last);
        Subscription {
            history,
            records,
            flow: self.flow.subscribe(),
            processed: self.processed.subscribe(),
        }
    }

    fn subscribe_records(&self, last: usize) -> (Vec<Frame>, broadcast::Receiver<Frame>) {
        let history = lock(&self.history);
        let receiver = self.sender.subscribe();
        let mut recent: Vec<&(u64, Frame)> = history
            .per_partition
            .values()
            .flat_map(|queue| queue.iter().skip(queue.len().saturating_sub(last)))
            .collect();
        recent.sort_unstable_by_key(|(seq, _)| *seq);
        let frames = recent.into_iter().map(|(_, f)| f.clone()).collect();
        (frames, receiver)
    }

    /// Clients connected right now.
    pub(crate) fn clients(&self) -> usize {
        self.sender.receiver_count()
    }

    pub(crate) fn consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
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
    let Some(mut assigned) = wait_for_topic(&topic, create, &shutdown).await else {
        return;
    };
    topic_ready.send_replace(true);
    let start = if history == 0 {
        Offset::End
    } else {
        Offset::OffsetTail(i64::try_from(history).unwrap_or(i64::MAX))
    };
    if let Err(err) = assign(&consumer, topic.name(), &assigned, start, false) {
        tracing::error!(%err, "could not assign the topic's partitions to the live consumer");
        return;
    }
    hub.consuming.store(true, Ordering::Relaxed);
    tracing::info!(topic = topic.name(), partitions = ?assigned, "live view consuming");

    let mut refresh = tokio::time::interval(Duration::from_secs(10));
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            received = consumer.recv() => match received {
                Ok(message) => {
                    let live = record::to_live(&message, now_ms());
                    hub.publish(live.partition, frame(&ServerMessage::Record(live)));
                }
                // Transport errors while the broker is away: librdkafka
                // reconnects by itself, and recv waits for the next event.
                Err(err) => tracing::debug!(%err, "live consumer"),
            },
            _ = refresh.tick() => {
                // New partitions are read from their beginning: every record
                // in them was written after the gateway started watching.
                if let Ok(Some(now)) = topic.partition_ids().await {
                    let added: Vec<i32> = now.iter().copied().filter(|p| !assigned.contains(p)).collect();
                    if !added.is_empty() {
                        match assign(&consumer, topic.name(), &added, Offset::Beginning, true) {
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
    hub.consuming.store(false, Ordering::Relaxed);
}

/// Retries `Topic::ensure` until it succeeds or shutdown; `None` on shutdown.
async fn wait_for_topic(
    topic: &Topic,
    (partitions, replication): (i32, i32),
    shutdown: &CancellationToken,
) -> Option<Vec<i32>> {
    let mut backoff = Duration::from_millis(200);
    loop {
        match topic.ensure(partitions, replication).await {
            Ok(ids) => return Some(ids),
            Err(err) => {
                tracing::warn!(%err, topic = topic.name(), retry_in = ?backoff, "topic not available yet")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn assign(
    consumer: &StreamConsumer,
    topic: &str,
    partitions: &[i32],
    start: Offset,
    incremental: bool,
) -> rdkafka::error::KafkaResult<()> {
    let mut list = TopicPartitionList::new();
    for &p in partitions {
        list.add_partition_offset(topic, p, start)?;
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

    fn text(f: &Frame) -> &str {
        f.as_str()
    }

    #[test]
    fn history_keeps_the_last_records_per_partition_in_consumed_order() {
        let hub = Hub::new(2, 16);
        for (p, name) in [(0, "a"), (1, "b"), (0, "c"), (0, "d"), (1, "e")] {
            hub.publish(p, Frame::from(name));
        }
        let (recent, _) = hub.subscribe_records(2);
        assert_eq!(
            recent.iter().map(text).collect::<Vec<_>>(),
            ["b", "c", "d", "e"]
        );
        let (recent, _) = hub.subscribe_records(1);
        assert_eq!(recent.iter().map(text).collect::<Vec<_>>(), ["d", "e"]);
        let (recent, _) = hub.subscribe_records(0);
        assert!(recent.is_empty());
    }

    #[test]
    fn a_subscriber_gets_everything_after_its_history_exactly_once() {
        let hub = Hub::new(10, 16);
        hub.publish(0, Frame::from("old"));
        let (recent, mut receiver) = hub.subscribe_records(10);
        hub.publish(0, Frame::from("new"));
        assert_eq!(recent.iter().map(text).collect::<Vec<_>>(), ["old"]);
        assert_eq!(receiver.try_recv().expect("new frame").as_str(), "new");
        assert!(receiver.try_recv().is_err());
    }

    #[test]
    fn a_client_that_falls_behind_learns_how_much_it_missed() {
        let hub = Hub::new(0, 4);
        let (_, mut receiver) = hub.subscribe_records(0);
        for i in 0..10 {
            hub.publish(0, Frame::from(i.to_string()));
        }
        assert!(matches!(
            receiver.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(6))
        ));
        assert_eq!(receiver.try_recv().expect("oldest kept").as_str(), "6");
    }

    #[test]
    fn clients_are_counted() {
        let hub = Hub::new(0, 4);
        let (_, a) = hub.subscribe_records(0);
        let (_, b) = hub.subscribe_records(0);
        assert_eq!(hub.clients(), 2);
        drop((a, b));
        assert_eq!(hub.clients(), 0);
    }
}
