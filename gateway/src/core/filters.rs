//! Live filters (`/ws?filter=…`): each distinct filter of a topic is one
//! feed, shared by every client that streams the topic with that filter.
//! A feed tests each record once, in its worker process
//! (`core::filter`), and publishes the records that match into a hub of
//! its own, so its clients get what every stream has (history since the
//! feed started, bounded queues, `lagged`) with the topic's flow and
//! progress beside. A feed runs while a client holds it, and at most
//! `--max-live-filters` run at once (`--max-live-filters-per-address` for
//! one client address).
//!
//! A feed reads the topic's records as documents (`kafka::record::document`)
//! from the topic watch's bounded queue; documents are made only while some
//! feed reads them. A feed that falls more than that queue behind counts
//! what it could not test, and says so in its status.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio_util::sync::{CancellationToken, DropGuard};
use wire::ServerMessage;
use wire::stream::FilterStatus;

use super::bounded;
use super::filter::{FilterError, FilterProcess, MAX_BATCH};
use super::hub::{Frame, Hub, encode};
use super::jq::Verdict;
use super::watch::{Document, TopicWatch};
use crate::admission::{Client, Hold, Holdings};
use crate::metrics::Metrics;
use crate::sync::lock;

/// Filters compiled at once, at most (each starts a worker process); more
/// wait for a turn.
const COMPILES_AT_ONCE: usize = 4;
/// Bytes of documents one batch sends a worker at most.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// How often a feed's status is sent to its clients while it changes.
const STATUS_EVERY: Duration = Duration::from_millis(500);

/// Why a filter cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenFilterError {
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error(
        "the gateway runs {0} live filters already (--max-live-filters); one stops when its \
         last client leaves: try again then, or use a filter that runs already"
    )]
    TooMany(usize),
    #[error(
        "this client address runs {0} live filters already, as many as one address may \
         (--max-live-filters-per-address): close one first"
    )]
    TooManyForClient(usize),
    #[error("filters are not available: {0}")]
    Unavailable(String),
}

/// A topic and a filter: what a feed is shared by.
type Key = (String, String);

/// The live filters of every watched topic.
pub(crate) struct Filters<F> {
    /// The executable that runs filters (the gateway's own).
    worker: Result<PathBuf, String>,
    max: usize,
    max_per_client: usize,
    feeds: Mutex<HashMap<Key, Weak<Feed<F>>>>,
    /// The feeds each client address holds.
    held: Holdings<Key>,
    compiles: Semaphore,
    metrics: Arc<Metrics>,
    /// Every feed stops at shutdown.
    shutdown: CancellationToken,
}

/// One running filter of one topic.
pub(crate) struct Feed<F> {
    /// The records that match.
    hub: Arc<Hub<F>>,
    /// The latest status frame.
    status: watch::Receiver<Option<F>>,
    /// Set when the filter was stopped for good.
    stopped: Arc<std::sync::atomic::AtomicBool>,
    /// Stops the feed's task, and so its worker, with the last client.
    _stop: DropGuard,
}

impl<F> Feed<F> {
    pub(crate) fn hub(&self) -> &Arc<Hub<F>> {
        &self.hub
    }

    pub(crate) fn status(&self) -> watch::Receiver<Option<F>> {
        self.status.clone()
    }

    fn stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A client's hold on a feed; released when dropped.
pub(crate) struct FilterLease<F> {
    feed: Arc<Feed<F>>,
    /// Counts the filter among its client address's, taken before the
    /// filter is compiled (so that clients of one address opening filters
    /// at once are counted at once).
    _hold: Hold<Key>,
}

impl<F> std::ops::Deref for FilterLease<F> {
    type Target = Feed<F>;

    fn deref(&self) -> &Feed<F> {
        &self.feed
    }
}

impl<F: Frame> Filters<F> {
    pub(crate) fn new(
        worker: Result<PathBuf, String>,
        max: usize,
        max_per_client: usize,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            worker,
            max,
            max_per_client,
            feeds: Mutex::new(HashMap::new()),
            held: Holdings::new(),
            compiles: Semaphore::new(COMPILES_AT_ONCE),
            metrics,
            shutdown,
        }
    }

    /// The feed of `filter` on `watch`'s topic for `client`, started if it
    /// does not run yet (which is when the filter is compiled, and refused
    /// if it does not compile).
    pub(crate) async fn open(
        &self,
        watch: &TopicWatch<F>,
        filter: &str,
        client: Client,
    ) -> Result<FilterLease<F>, OpenFilterError> {
        let key: Key = (watch.topic().to_owned(), filter.to_owned());
        let hold = self.hold(&key, client)?;
        if let Some(feed) = self.running(&key) {
            return Ok(FilterLease { feed, _hold: hold });
        }
        let process = self.compile(filter).await?;
        let mut feeds = lock(&self.feeds);
        // Started by another client meanwhile: share it.
        if let Some(feed) = feeds
            .get(&key)
            .and_then(Weak::upgrade)
            .filter(|f| !f.stopped())
        {
            drop(feeds);
            return Ok(FilterLease { feed, _hold: hold });
        }
        feeds.retain(|_, feed| feed.upgrade().is_some_and(|f| !f.stopped()));
        if feeds.len() >= self.max {
            return Err(OpenFilterError::TooMany(feeds.len()));
        }
        let feed = Arc::new(self.start(watch, process, filter));
        feeds.insert(key, Arc::downgrade(&feed));
        drop(feeds);
        tracing::info!(topic = watch.topic(), filter, "started a live filter");
        Ok(FilterLease { feed, _hold: hold })
    }

    /// Whether `filter` compiles, and `client` could open it: what
    /// [`Filters::open`] would say, without starting a feed.
    pub(crate) async fn check(
        &self,
        topic: &str,
        filter: &str,
        client: Client,
    ) -> Result<(), OpenFilterError> {
        let key: Key = (topic.to_owned(), filter.to_owned());
        drop(self.hold(&key, client)?);
        if self.running(&key).is_none() {
            self.compile(filter).await?;
            let running = self.count();
            if running >= self.max {
                return Err(OpenFilterError::TooMany(running));
            }
        }
        Ok(())
    }

    /// Live filters running now.
    pub(crate) fn count(&self) -> usize {
        lock(&self.feeds)
            .values()
            .filter(|f| f.upgrade().is_some_and(|f| !f.stopped()))
            .count()
    }

    /// The feed of `key` if it runs; a stopped one is not shared with new
    /// clients (they start it anew).
    fn running(&self, key: &Key) -> Option<Arc<Feed<F>>> {
        lock(&self.feeds)
            .get(key)
            .and_then(Weak::upgrade)
            .filter(|f| !f.stopped())
    }

    /// Counts `key` among `client`'s, if it may hold one more feed than it
    /// does (or holds this one already).
    fn hold(&self, key: &Key, client: Client) -> Result<Hold<Key>, OpenFilterError> {
        self.held
            .take(client, key, self.max_per_client)
            .ok_or(OpenFilterError::TooManyForClient(self.max_per_client))
    }

    async fn compile(&self, filter: &str) -> Result<FilterProcess, OpenFilterError> {
        let exe = self
            .worker
            .as_ref()
            .map_err(|e| OpenFilterError::Unavailable(e.clone()))?;
        let _turn = self
            .compiles
            .acquire()
            .await
            .map_err(|_| OpenFilterError::Unavailable("shutting down".into()))?;
        Ok(FilterProcess::start(exe, filter).await?)
    }

    /// Starts testing `watch`'s records with `process`, from the next one.
    fn start(&self, watch: &TopicWatch<F>, process: FilterProcess, filter: &str) -> Feed<F> {
        let topic_hub = watch.hub();
        let hub = Arc::new(Hub::new(topic_hub.history(), topic_hub.client_queue()));
        // Subscribed before the positions are read: nothing falls between.
        let documents = watch.documents();
        for (partition, next) in topic_hub.ends() {
            hub.start(partition, next);
        }
        let (status_tx, status) = watch::channel(None);
        let stop = self.shutdown.child_token();
        let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let feeding = Feeding {
            hub: hub.clone(),
            status: status_tx,
            stopped: stopped.clone(),
            counts: FilterStatus {
                filter: filter.to_owned(),
                ..FilterStatus::default()
            },
            metrics: self.metrics.clone(),
        };
        let native = bounded::Filter::parse(filter);
        tokio::spawn(feed(process, native, documents, feeding, stop.clone()));
        Feed {
            hub,
            status,
            stopped,
            _stop: stop.drop_guard(),
        }
    }
}

/// What a feed's task publishes to, and counts.
struct Feeding<F> {
    hub: Arc<Hub<F>>,
    status: watch::Sender<Option<F>>,
    /// The feed's flag, set when the filter stops for good.
    stopped: Arc<std::sync::atomic::AtomicBool>,
    counts: FilterStatus,
    metrics: Arc<Metrics>,
}

impl<F: Frame> Feeding<F> {
    fn publish_status(&self) {
        self.status
            .send_replace(Some(encode(&ServerMessage::Filter(self.counts.clone()))));
    }
}

/// The largest document a feed tests itself (a bounded filter's lookups
/// scan it a few times); larger ones go to the worker.
const MAX_NATIVE_DOCUMENT: usize = 64 * 1024;

/// Tests every document as it comes, in batches of what has queued up,
/// until `stop` or the topic's watch ends. A filter of lookups and
/// comparisons (`native`) answers here what it surely answers as jq
/// (`core::bounded`); the worker gets the rest.
async fn feed<F: Frame>(
    mut process: FilterProcess,
    native: Option<bounded::Filter>,
    mut documents: broadcast::Receiver<Arc<Document<F>>>,
    mut to: Feeding<F>,
    stop: CancellationToken,
) {
    to.publish_status();
    let mut tick = tokio::time::interval(STATUS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut changed = false;
    loop {
        let first = tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if std::mem::take(&mut changed) {
                    to.publish_status();
                }
                continue;
            }
            next = documents.recv() => next,
        };
        let mut batch = Vec::new();
        let mut bytes = 0;
        match first {
            Ok(document) => {
                bytes += document.document.len();
                batch.push(document);
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                to.counts.not_tested += missed;
                changed = true;
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match documents.try_recv() {
                Ok(document) => {
                    bytes += document.document.len();
                    batch.push(document);
                }
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    to.counts.not_tested += missed;
                }
                Err(_) => break,
            }
        }
        let here: Vec<Option<Verdict>> = batch
            .iter()
            .map(|d| {
                // A large document goes to the worker: this task shares the
                // runtime's threads.
                if d.document.len() > MAX_NATIVE_DOCUMENT {
                    return None;
                }
                let matched = native.as_ref()?.test_document(&d.document)?;
                Some(if matched {
                    Verdict::Match
                } else {
                    Verdict::NoMatch
                })
            })
            .collect();
        let texts: Vec<Bytes> = batch
            .iter()
            .zip(&here)
            .filter(|(_, v)| v.is_none())
            .map(|(d, _)| d.document.clone())
            .collect();
        let (by_worker, stopped) = if texts.is_empty() {
            (Vec::new(), None)
        } else {
            let tested = tokio::select! {
                _ = stop.cancelled() => return,
                tested = process.test(&texts) => tested,
            };
            match tested {
                Ok(verdicts) => (verdicts, None),
                Err((verdicts, stopped)) => (verdicts, Some(stopped)),
            }
        };
        // In the batch's order, up to the first the worker did not test.
        let mut by_worker = by_worker.into_iter();
        let verdicts: Vec<Verdict> = here
            .into_iter()
            .map_while(|v| v.or_else(|| by_worker.next()))
            .collect();
        for (document, verdict) in batch.iter().zip(&verdicts) {
            to.counts.tested += 1;
            match verdict {
                Verdict::Match => {
                    to.counts.matched += 1;
                    to.hub
                        .publish(document.partition, document.offset, document.frame.clone());
                }
                Verdict::NoMatch => {}
                Verdict::Skipped(why) => {
                    to.counts.skipped += 1;
                    to.counts.last_error = Some(why.clone());
                }
            }
        }
        to.metrics.filter_tested.inc_by(verdicts.len() as u64);
        changed = true;
        if let Some(stopped) = stopped {
            to.counts.not_tested += (batch.len() - verdicts.len()) as u64;
            to.counts.stopped = Some(stopped.0.clone());
            tracing::info!(
                filter = to.counts.filter,
                reason = stopped.0,
                "stopped a live filter"
            );
            to.stopped.store(true, std::sync::atomic::Ordering::Relaxed);
            to.publish_status();
            // Clients keep their stream (flow, progress) and see why no
            // record matches any more; the worker is gone, and so is the
            // need for documents (none is made for this feed any more). A
            // new client of the filter starts it anew.
            drop(documents);
            stop.cancelled().await;
            return;
        }
    }
}
