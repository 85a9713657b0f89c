//! One client's stream of a watched topic, as the stream protocol
//! (`wire::stream`) has it: the opening frames (`Hello`, any `Lagged`, the
//! latest flow snapshot, what a resuming client missed, the hub's history),
//! then live records, snapshots and progress. The edge only carries the
//! frames over its WebSocket.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use wire::ServerMessage;
use wire::stream::PartitionOffset;

use super::Core;
use super::hub::{Frame, Published, Subscription, encode};
use super::resume::CatchUp;
use crate::admission::Client;
use crate::metrics::Counter;

/// How long a resuming client waits for a (re)starting gateway to read the
/// topic before it is served without its resume.
const WAIT_FOR_CONSUMER: Duration = Duration::from_secs(5);

/// What a client asked for when it connected.
pub(crate) struct Request {
    /// Recent records per partition to send before the live ones.
    pub(crate) last: usize,
    /// The topic the `resume` offsets are of.
    pub(crate) topic: Option<String>,
    /// Per partition, the next offset the client needs.
    pub(crate) resume: Vec<PartitionOffset>,
    /// Who asked, for the per-client bound on resumes.
    pub(crate) client: Client,
}

/// A client's stream once its opening frames are taken.
pub(crate) struct Stream<F> {
    records: broadcast::Receiver<Published<F>>,
    flow: watch::Receiver<Option<F>>,
    processed: broadcast::Receiver<F>,
    /// Live records of a partition below this offset, the client already has
    /// (it had read further than this gateway has, so far).
    skip_below: HashMap<i32, i64>,
    /// Counts what the client missed by falling behind.
    lagged: Counter,
}

impl<F: Frame> Core<F> {
    /// Opens a client's stream: the frames to send first, and the stream of
    /// the rest. What the client missed is read from Kafka meanwhile, until
    /// `cancel` (the client went away). A resume for another topic (the
    /// gateway was restarted on a new one) is ignored, and `last` is held to
    /// the history the hub keeps.
    pub(crate) async fn open_stream(
        &self,
        request: Request,
        cancel: CancellationToken,
    ) -> (Vec<F>, Stream<F>) {
        let hub = self.hub();
        let last = request
            .last
            .min(usize::try_from(self.config.history).unwrap_or(usize::MAX));
        let resume = match request.topic {
            Some(topic) if topic != self.config.topic => Vec::new(),
            _ => request.resume,
        };
        if !resume.is_empty() {
            self.metrics.resumes.inc();
        }
        if !resume.is_empty() && !hub.wait_consuming(WAIT_FOR_CONSUMER).await {
            tracing::info!(
                "serving a resuming client without its resume: the topic is not read yet"
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
        } = hub.subscribe(last, &resume);
        // Live records queue up for the client meanwhile (bounded, as always).
        let CatchUp { frames, missed } = self
            .resumes
            .catch_up(&gaps, &mut positions, request.client, cancel)
            .await;
        let hello = encode(&ServerMessage::Hello {
            topic: self.config.topic.clone(),
            history: frames.len() + history.len(),
            positions,
        });
        self.metrics.records_lagged.inc_by(missed);
        let lagged = (missed > 0).then(|| encode(&ServerMessage::Lagged { missed }));
        let snapshot = flow.borrow_and_update().clone();
        let first = std::iter::once(hello)
            .chain(lagged)
            .chain(snapshot)
            .chain(frames)
            .chain(history)
            .collect();
        let stream = Stream {
            records,
            flow,
            processed,
            skip_below,
            lagged: self.metrics.records_lagged.clone(),
        };
        (first, stream)
    }
}

impl<F: Frame> Stream<F> {
    /// The next frame for the client: a record (or how many it missed, when
    /// it fell behind), a newer flow snapshot, or a progress batch. `None`
    /// when the hub is gone (the gateway is shutting down).
    pub(crate) async fn next(&mut self) -> Option<F> {
        loop {
            tokio::select! {
                Ok(()) = self.flow.changed() => {
                    if let Some(frame) = self.flow.borrow_and_update().clone() {
                        return Some(frame);
                    }
                }
                next = self.processed.recv() => match next {
                    Ok(frame) => return Some(frame),
                    // Skipped batches show in the next snapshot's counters.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
                next = self.records.recv() => match next {
                    Ok(p) if self.skip_below.get(&p.partition).is_some_and(|&below| p.offset < below) => {}
                    Ok(p) => return Some(p.frame),
                    Err(RecvError::Lagged(missed)) => {
                        self.lagged.inc_by(missed);
                        return Some(encode(&ServerMessage::Lagged { missed }));
                    }
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}
