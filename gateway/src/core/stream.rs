//! One client's stream of a watched topic, as the stream protocol
//! (`wire::stream`) has it: the opening frames (`Hello`, any `Lagged`, the
//! latest flow snapshot, what a resuming client missed, the hub's history),
//! then live records, snapshots and progress. The edge only carries the
//! frames over its WebSocket.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use wire::ServerMessage;
use wire::stream::PartitionOffset;

use super::Core;
use super::filters::{FilterLease, OpenFilterError};
use super::hub::{Frame, JOINED_OVERHEAD, Published, Subscription, encode, join_records};
use super::resume::CatchUp;
use super::watches::{Lease, WatchError};
use crate::admission::Client;
use crate::metrics::Counter;

/// How long a resuming client waits for a (re)starting gateway to read the
/// topic before it is served without its resume.
const WAIT_FOR_CONSUMER: Duration = Duration::from_secs(5);
/// Most text one `records` message joins, whatever its `batch`: a browser
/// parses a message at once, so a message stays a short task.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// What a client asked for when it connected.
pub(crate) struct Request<F> {
    /// Recent records per partition to send before the live ones.
    pub(crate) last: usize,
    /// Another topic than the gateway's, opened with [`Core::watch_topic`].
    pub(crate) watching: Option<Lease<F>>,
    /// Per partition of the streamed topic, the next offset the client needs.
    pub(crate) resume: Vec<PartitionOffset>,
    /// Who asked, for the per-client bound on resumes.
    pub(crate) client: Client,
    /// Only the records this live filter selects (opened with
    /// [`Core::open_filter`]); never with `resume`.
    pub(crate) filter: Option<FilterLease<F>>,
    /// Most records the client takes in one message (1: one each); see
    /// `wire::stream`.
    pub(crate) batch: usize,
}

/// A client's stream once its opening frames are taken.
pub(crate) struct Stream<F> {
    records: broadcast::Receiver<Published<F>>,
    flow: watch::Receiver<Option<F>>,
    processed: broadcast::Receiver<F>,
    /// The filter's status, for a filtered stream.
    status: Option<watch::Receiver<Option<F>>>,
    /// Live records of a partition below this offset, the client already has
    /// (it had read further than this gateway has, so far).
    skip_below: HashMap<i32, i64>,
    /// Counts what the client missed by falling behind.
    lagged: Counter,
    /// Most records joined in one message.
    batch: usize,
    /// What was read while joining records and did not fit: sent next, or,
    /// a record, the first of the next message.
    pending: Option<Next<F>>,
    /// Keeps another topic watched while this client streams it.
    _watching: Option<Lease<F>>,
    /// Keeps the filter running while this client streams it.
    _filter: Option<FilterLease<F>>,
}

impl<F: Frame> Core<F> {
    /// The watch of `topic` for a client to stream, or `None` for the
    /// gateway's own topic; see [`super::watches`].
    pub(crate) async fn watch_topic(
        &self,
        topic: &str,
        client: Client,
    ) -> Result<Option<Lease<F>>, WatchError> {
        if topic == self.config.topic {
            return Ok(None);
        }
        self.watches.open(topic, client).await.map(Some)
    }

    /// The live filter `filter` of the topic `watching` watches (the
    /// gateway's own without it), for `client`.
    pub(crate) async fn open_filter(
        &self,
        watching: Option<&Lease<F>>,
        filter: &str,
        client: Client,
    ) -> Result<FilterLease<F>, OpenFilterError> {
        let watch = watching.map_or(&self.watch, |w| &w.watch);
        self.filters.open(watch, filter, client).await
    }

    /// Opens a client's stream: the frames to send first, and the stream of
    /// the rest. What the client missed is read from Kafka meanwhile, until
    /// `cancel` (the client went away). `last` is held to the history the
    /// hub keeps.
    pub(crate) async fn open_stream(
        &self,
        request: Request<F>,
        cancel: CancellationToken,
    ) -> (Vec<F>, Stream<F>) {
        let (hub, topic) = match &request.watching {
            Some(watched) => (watched.hub(), watched.watch.topic()),
            None => (self.hub(), self.config.topic.as_str()),
        };
        let last = request
            .last
            .min(usize::try_from(self.config.history).unwrap_or(usize::MAX));
        let resume = request.resume;
        if !resume.is_empty() {
            self.metrics.resumes.inc();
        }
        // A topic watched a moment ago is not assigned yet: its clients
        // wait too, so that their hello says where the stream starts.
        let wait = !resume.is_empty() || request.watching.is_some();
        if wait && !hub.wait_consuming(WAIT_FOR_CONSUMER).await {
            tracing::info!(
                topic,
                "serving a client without its resume or positions: the topic is not read yet"
            );
        }
        let Subscription {
            history,
            records,
            mut flow,
            processed,
            mut positions,
            gaps,
            skip_below,
        } = match &request.filter {
            // The filter's matches, beside the topic's flow and progress.
            Some(filter) => {
                let matches = filter.hub().subscribe(last, &[]);
                let (flow, processed) = hub.side_streams();
                Subscription {
                    flow,
                    processed,
                    ..matches
                }
            }
            None => hub.subscribe(last, &resume),
        };
        let mut status = request.filter.as_ref().map(|f| f.status());
        let status_now = status.as_mut().and_then(|s| s.borrow_and_update().clone());
        // Live records queue up for the client meanwhile (bounded, as always).
        let CatchUp { frames, missed } = self
            .resumes
            .catch_up(topic, &gaps, &mut positions, request.client, cancel)
            .await;
        let hello = encode(&ServerMessage::Hello {
            topic: topic.to_owned(),
            history: frames.len() + history.len(),
            positions,
        });
        self.metrics.records_lagged.inc_by(missed);
        let lagged = (missed > 0).then(|| encode(&ServerMessage::Lagged { missed }));
        let snapshot = flow.borrow_and_update().clone();
        let batch = request.batch.max(1);
        let first = std::iter::once(hello)
            .chain(lagged)
            .chain(status_now)
            .chain(snapshot)
            .chain(batches(frames.into_iter().chain(history), batch))
            .collect();
        let stream = Stream {
            records,
            flow,
            processed,
            status,
            skip_below,
            lagged: self.metrics.records_lagged.clone(),
            batch,
            pending: None,
            _watching: request.watching,
            _filter: request.filter,
        };
        (first, stream)
    }
}

/// Record frames joined `batch` (and [`MAX_BATCH_BYTES`]) at a time.
fn batches<F: Frame>(records: impl Iterator<Item = F>, batch: usize) -> Vec<F> {
    let mut out = Vec::new();
    let mut joining = Joining::default();
    for record in records {
        if !joining.fits(&record, batch) {
            out.push(join_records(joining.take()));
        }
        joining.push(record);
    }
    if !joining.records.is_empty() {
        out.push(join_records(joining.take()));
    }
    out
}

/// Records being joined into one message.
struct Joining<F> {
    records: Vec<F>,
    /// The joined message's length so far, with a comma per record.
    bytes: usize,
}

impl<F> Default for Joining<F> {
    fn default() -> Self {
        Self {
            records: Vec::new(),
            bytes: JOINED_OVERHEAD,
        }
    }
}

impl<F: Frame> Joining<F> {
    /// Whether `record` may join what is here (the first one always may:
    /// a record over the bound goes out alone).
    fn fits(&self, record: &F, batch: usize) -> bool {
        self.records.is_empty()
            || (self.records.len() < batch && self.bytes + record.len() < MAX_BATCH_BYTES)
    }

    fn push(&mut self, record: F) {
        self.bytes += record.len() + 1;
        self.records.push(record);
    }

    fn take(&mut self) -> Vec<F> {
        self.bytes = JOINED_OVERHEAD;
        std::mem::take(&mut self.records)
    }
}

/// What the stream has next: a record's frame, or any other.
enum Next<F> {
    Record(F),
    Other(F),
}

impl<F: Frame> Stream<F> {
    /// The next frame for the client: a record (or how many it missed, when
    /// it fell behind), a newer flow snapshot, or a progress batch. Records
    /// already waiting after the first are joined into one message, up to
    /// the client's `batch`; nothing is waited for to make a batch. `None`
    /// when the hub is gone (the gateway is shutting down).
    pub(crate) async fn next(&mut self) -> Option<F> {
        // (Cancel-safe: the only await is `next_one`'s, whose branches can
        // all be dropped unfinished without losing anything.)
        let first = match self.pending.take() {
            Some(next) => next,
            None => self.next_one().await?,
        };
        let first = match first {
            Next::Record(frame) => frame,
            Next::Other(frame) => return Some(frame),
        };
        if self.batch == 1 {
            return Some(first);
        }
        let mut joining = Joining::default();
        joining.push(first);
        while let Some(next) = self.ready() {
            match next {
                Next::Record(frame) if joining.fits(&frame, self.batch) => joining.push(frame),
                next => {
                    self.pending = Some(next);
                    break;
                }
            }
        }
        Some(join_records(joining.take()))
    }

    /// A record (or how many were missed) already waiting, without waiting
    /// for one. Read with `try_recv`, which spends none of the task's
    /// cooperative budget: through `recv`, a batch ended at about 128
    /// records whatever the client asked for.
    fn ready(&mut self) -> Option<Next<F>> {
        loop {
            match self.records.try_recv() {
                Ok(p) => {
                    if let Some(next) = self.received(p) {
                        return Some(next);
                    }
                }
                Err(TryRecvError::Lagged(missed)) => return Some(self.missed(missed)),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            }
        }
    }

    /// A record for the client, or `None` for one it already has.
    fn received(&self, p: Published<F>) -> Option<Next<F>> {
        let has_it = self
            .skip_below
            .get(&p.partition)
            .is_some_and(|&below| p.offset < below);
        (!has_it).then_some(Next::Record(p.frame))
    }

    /// The client fell behind by `missed` records: it is told so.
    fn missed(&self, missed: u64) -> Next<F> {
        self.lagged.inc_by(missed);
        Next::Other(encode(&ServerMessage::Lagged { missed }))
    }

    async fn next_one(&mut self) -> Option<Next<F>> {
        loop {
            tokio::select! {
                Ok(()) = self.flow.changed() => {
                    if let Some(frame) = self.flow.borrow_and_update().clone() {
                        return Some(Next::Other(frame));
                    }
                }
                Some(frame) = status_changed(self.status.as_mut()) => return Some(Next::Other(frame)),
                next = self.processed.recv() => match next {
                    Ok(frame) => return Some(Next::Other(frame)),
                    // Skipped batches show in the next snapshot's counters.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
                next = self.records.recv() => match next {
                    Ok(p) => {
                        if let Some(next) = self.received(p) {
                            return Some(next);
                        }
                    }
                    Err(RecvError::Lagged(missed)) => return Some(self.missed(missed)),
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}

/// The next status of a filtered stream; never, for another, or once the
/// filter is gone.
async fn status_changed<F: Frame>(status: Option<&mut watch::Receiver<Option<F>>>) -> Option<F> {
    let status = status?;
    loop {
        if status.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        if let Some(frame) = status.borrow_and_update().clone() {
            return Some(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::hub::Hub;
    use crate::kafka::record::record_message;

    /// A stream of `hub`'s live records taking `batch` in a message.
    fn stream_of(hub: &Hub<String>, batch: usize) -> Stream<String> {
        let s = hub.subscribe(0, &[]);
        Stream {
            records: s.records,
            flow: s.flow,
            processed: s.processed,
            status: None,
            skip_below: HashMap::new(),
            lagged: Counter::default(),
            batch,
            pending: None,
            _watching: None,
            _filter: None,
        }
    }

    /// How many records each of the next messages holds, until `total`.
    async fn message_sizes(stream: &mut Stream<String>, total: usize) -> Vec<usize> {
        let mut sizes = Vec::new();
        while sizes.iter().sum::<usize>() < total {
            let frame = stream.next().await.expect("a frame");
            match serde_json::from_str(&frame).expect("a message") {
                ServerMessage::Records { records } => sizes.push(records.len()),
                ServerMessage::Record(_) => sizes.push(1),
                other => panic!("not a record: {other:?}"),
            }
        }
        sizes
    }

    fn publish(hub: &Hub<String>, records: i64, value_bytes: usize) {
        for offset in 0..records {
            hub.publish(
                0,
                offset,
                encode(&record_message(
                    offset,
                    wire::Payload::Text {
                        text: "x".repeat(value_bytes),
                        truncated: false,
                    },
                )),
            );
        }
    }

    #[tokio::test]
    async fn waiting_records_are_joined_up_to_the_batch_the_client_asked_for() {
        let hub = Hub::new(0, 4096);
        let mut stream = stream_of(&hub, 512);
        publish(&hub, 1200, 10);
        // Not about 128 (the task's cooperative budget), and the record
        // that ends a full message starts the next one.
        assert_eq!(message_sizes(&mut stream, 1200).await, [512, 512, 176]);

        let mut small = stream_of(&hub, 50);
        publish(&hub, 150, 10);
        assert_eq!(message_sizes(&mut small, 150).await, [50, 50, 50]);
    }

    #[tokio::test]
    async fn a_joined_message_stays_within_its_byte_bound() {
        let hub = Hub::new(0, 4096);
        let mut stream = stream_of(&hub, 1024);
        // Records of about 4 KiB: 64 of them are just over 256 KiB once
        // joined with their commas and the message's own text.
        publish(&hub, 200, 4_000);
        let mut left = 200;
        while left > 0 {
            let frame = stream.next().await.expect("a frame");
            assert!(
                frame.len() <= MAX_BATCH_BYTES,
                "a message of {} bytes",
                frame.len()
            );
            let ServerMessage::Records { records } =
                serde_json::from_str(&frame).expect("a message")
            else {
                panic!("a lone record")
            };
            left -= records.len();
        }
    }
}
