//! Watching one topic: its live consumer reads every record, from any
//! producer, into the topic's [`Hub`]. One object per topic owns both; the
//! gateway watches its configured topic with one, and watching more topics
//! means more of them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wire::ServerMessage;
use wire::api::TopicHealth;

use super::hub::{Frame, Hub, encode};
use super::lag::TimeIndex;
use crate::kafka::admin::TopicAdmin;
use crate::kafka::live::LiveConsumer;
use crate::metrics::Metrics;
use crate::sync::lock;

/// Records' documents queued for the topic's live filters, at most: a
/// filter that falls further behind counts what it could not test. (A
/// document is at most about 2.2 MiB, see `kafka::record::document`, and
/// most are far smaller: at worst about 280 MiB a topic.)
const DOCUMENT_QUEUE: usize = 128;

/// A record as the live filters see it: its position, the frame its
/// clients are sent when it matches, and the document a filter tests.
pub(crate) struct Document<F> {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) frame: F,
    pub(crate) document: bytes::Bytes,
}

/// How often the topic is checked for partitions added since.
const NEW_PARTITIONS_EVERY: Duration = Duration::from_secs(10);

/// How a watch treats its topic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WatchSettings {
    /// Partitions and replication factor to create the topic with when it
    /// is missing; `None` for a topic the gateway only looks at, which it
    /// waits for instead.
    pub(crate) create: Option<(i32, i32)>,
    /// Records per partition the hub keeps, and so where reading starts.
    pub(crate) history: u64,
    /// Records a client may fall behind before it misses some.
    pub(crate) client_queue: usize,
}

/// One watched topic: its hub and the task that feeds it.
pub(crate) struct TopicWatch<F> {
    topic: String,
    hub: Arc<Hub<F>>,
    /// Records' documents for the live filters; made only while a filter
    /// reads them.
    documents: broadcast::Sender<Arc<Document<F>>>,
    /// True once the topic exists (the watch creates it if it is missing).
    exists: watch::Receiver<bool>,
    /// Offsets and timestamps of the records read, sampled: for time lags.
    index: Arc<TimeIndex>,
    /// Taken by the first [`TopicWatch::stopped`].
    task: Mutex<Option<JoinHandle<()>>>,
}

impl<F: Frame> TopicWatch<F> {
    /// Starts reading `admin`'s topic into a new hub, until `shutdown`.
    pub(crate) fn start(
        consumer: LiveConsumer,
        admin: TopicAdmin,
        settings: WatchSettings,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Self {
        let history = usize::try_from(settings.history).unwrap_or(usize::MAX);
        let hub = Arc::new(Hub::new(history, settings.client_queue));
        let (exists_tx, exists) = watch::channel(false);
        let admin_name = admin.name().to_owned();
        let documents = broadcast::channel(DOCUMENT_QUEUE).0;
        let index = Arc::new(TimeIndex::default());
        let task = tokio::spawn({
            let hub = hub.clone();
            let documents = documents.clone();
            let index = index.clone();
            async move {
                let to = Feeding {
                    hub: &hub,
                    documents: &documents,
                    metrics: &metrics,
                    index: &index,
                };
                feed(&consumer, &admin, settings, to, exists_tx, &shutdown).await;
                // Closing librdkafka clients blocks: not on a runtime thread
                // (a watched topic closes while the gateway runs).
                tokio::task::spawn_blocking(move || drop((consumer, admin)));
            }
        });
        Self {
            topic: admin_name,
            hub,
            documents,
            exists,
            index,
            task: Mutex::new(Some(task)),
        }
    }

    pub(crate) fn hub(&self) -> &Arc<Hub<F>> {
        &self.hub
    }

    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// The sampled offsets and timestamps of the records read.
    pub(crate) fn index(&self) -> &Arc<TimeIndex> {
        &self.index
    }

    /// The documents of the records read from now on, for a live filter.
    pub(crate) fn documents(&self) -> broadcast::Receiver<Arc<Document<F>>> {
        self.documents.subscribe()
    }

    /// Waits until the topic exists; false if the watch stopped first.
    pub(crate) fn exists(&self) -> impl Future<Output = bool> + Send + 'static {
        let mut exists = self.exists.clone();
        // (The guard wait_for returns is not Send: drop it at once.)
        async move { exists.wait_for(|exists| *exists).await.is_ok() }
    }

    /// Waits for the watch to stop (after its shutdown token is cancelled).
    pub(crate) async fn stopped(&self) {
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Waits (with backoff) until the broker answers and the topic exists,
/// creating it if needed, and says so on `exists`; assigns every partition
/// starting `history` records from its end; then publishes every record,
/// picking up partitions added later, until `shutdown`.
async fn feed<F: Frame>(
    consumer: &LiveConsumer,
    admin: &TopicAdmin,
    settings: WatchSettings,
    to: Feeding<'_, F>,
    exists: watch::Sender<bool>,
    shutdown: &CancellationToken,
) {
    let hub = to.hub;
    if let Some((partitions, replication)) = settings.create {
        let ensured = retry("topic not available yet", shutdown, || async {
            admin
                .ensure(partitions, replication)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        if ensured.is_none() {
            return;
        }
    }
    exists.send_replace(true);
    // Explicit start offsets, not "the last N": the hub must know where each
    // partition's records start to resume a client exactly.
    let described = retry("could not read where the topic ends", shutdown, || async {
        match admin.describe().await {
            Ok(Some(health)) => Ok(health),
            Ok(None) => Err(format!("topic {} has no partitions (yet)", admin.name())),
            Err(err) => Err(err.to_string()),
        }
    })
    .await;
    let Some(described) = described else {
        return;
    };
    let starts = start_offsets(&described, settings.history);
    for &(partition, offset) in &starts {
        hub.start(partition, offset);
    }
    if let Err(err) = consumer.assign(&starts) {
        tracing::error!(%err, "could not assign the topic's partitions to the live consumer");
        return;
    }
    let assigned: Vec<i32> = starts.iter().map(|&(p, _)| p).collect();
    hub.set_consuming(true);
    tracing::info!(topic = admin.name(), partitions = ?assigned, "live view consuming");
    follow(consumer, admin, to, assigned, shutdown).await;
    hub.set_consuming(false);
}

/// Where a watch's records go: its hub, its filters' documents, and the
/// metrics that count them.
struct Feeding<'a, F> {
    hub: &'a Hub<F>,
    documents: &'a broadcast::Sender<Arc<Document<F>>>,
    metrics: &'a Metrics,
    index: &'a TimeIndex,
}

impl<F> Clone for Feeding<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for Feeding<'_, F> {}

/// Publishes every record the consumer reads, and every ten seconds looks
/// for new partitions, until `shutdown`.
async fn follow<F: Frame>(
    consumer: &LiveConsumer,
    admin: &TopicAdmin,
    to: Feeding<'_, F>,
    mut assigned: Vec<i32>,
    shutdown: &CancellationToken,
) {
    let Feeding {
        hub,
        documents,
        metrics,
        index,
    } = to;
    let mut refresh = tokio::time::interval(NEW_PARTITIONS_EVERY);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            // Whether a filter reads documents is asked once the record is
            // here: a filter that started while the consumer waited gets it.
            received = consumer.recv(|| documents.receiver_count() > 0) => match received {
                Ok((record, document)) => {
                    let (partition, offset) = (record.partition, record.offset);
                    index.record(partition, offset, record.timestamp_ms);
                    let frame: F = encode(&ServerMessage::Record(record));
                    let sent = hub.publish(partition, offset, frame.clone());
                    metrics.records_fanned_out.inc_by(u64::try_from(sent).unwrap_or(0));
                    if let Some(document) = document {
                        // An error only means the last filter just left.
                        let _ = documents.send(Arc::new(Document {
                            partition,
                            offset,
                            frame,
                            document: document.into(),
                        }));
                    }
                }
                // Transport errors while the broker is away: librdkafka
                // reconnects by itself, and recv waits for the next event.
                Err(err) => {
                    metrics.consumer_errors.inc();
                    tracing::debug!(%err, "live consumer");
                }
            },
            _ = refresh.tick() => add_new_partitions(consumer, admin, hub, &mut assigned).await,
        }
    }
}

/// Starts reading partitions added to the topic since `assigned`, from
/// their beginning: every record in them was written after the watch began.
async fn add_new_partitions<F: Frame>(
    consumer: &LiveConsumer,
    admin: &TopicAdmin,
    hub: &Hub<F>,
    assigned: &mut Vec<i32>,
) {
    let Ok(Some(now)) = admin.partition_ids().await else {
        return;
    };
    // (Offset 0 stands for the log start, wherever it is.)
    let added: Vec<(i32, i64)> = now
        .iter()
        .filter(|p| !assigned.contains(p))
        .map(|&p| (p, 0))
        .collect();
    if added.is_empty() {
        return;
    }
    for &(partition, offset) in &added {
        hub.start(partition, offset);
    }
    match consumer.add(&added) {
        Ok(()) => {
            tracing::info!(partitions = ?added, "live view picked up new partitions");
            *assigned = now;
        }
        Err(err) => tracing::warn!(%err, "could not assign new partitions"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
