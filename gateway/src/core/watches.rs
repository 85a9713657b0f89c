//! The topics browsers watch besides the gateway's own (`/ws?topic=T`):
//! each read by a [`TopicWatch`] of its own, started when a client first
//! asks for the topic and closed once no client has watched it for
//! `--live-topic-idle-s`. Bounded: at most `--max-live-topics` at once; a
//! client asking for one more is refused, never queued.
//!
//! A watched topic has what the gateway's topic has for its clients
//! (manual assignment, no group, no commits, a history, resumes without gap
//! or duplicate, bounded queues) and a flow of its own: its partitions and
//! the consumer groups that read it, with their lag. It has no demo
//! services and takes no orders: those are the gateway's topic's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::flow;
use super::hub::{Frame, Hub};
use super::watch::{TopicWatch, WatchSettings};
use crate::config::Config;
use crate::kafka::admin::TopicAdmin;
use crate::kafka::groups::GroupReader;
use crate::kafka::live::LiveConsumer;
use crate::metrics::Metrics;
use crate::sync::lock;

/// How often watched topics are checked for having no client.
const REAP_EVERY: Duration = Duration::from_secs(1);

/// Why a topic cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// `--topics` does not allow it, or it is internal without `--show-internal`.
    #[error("topic {0:?} is not one this gateway shows (see --topics and --show-internal)")]
    NotAllowed(String),
    #[error("topic {0:?} does not exist")]
    NoSuchTopic(String),
    #[error(
        "the gateway watches {0} topics besides its own already (--max-live-topics); one is \
         closed when no browser has watched it for a while: try again then"
    )]
    TooMany(usize),
    /// The broker did not say whether the topic exists.
    #[error("could not look the topic up: {0}")]
    Unavailable(String),
}

/// One topic watched on demand: its watch, and its flow poller feeding the
/// same hub, stopped together.
pub(crate) struct Watched<F> {
    pub(crate) watch: TopicWatch<F>,
    stop: CancellationToken,
}

impl<F: Frame> Watched<F> {
    pub(crate) fn hub(&self) -> &Arc<Hub<F>> {
        self.watch.hub()
    }
}

/// An entry of the map: the watch, and since when nobody holds it.
struct Entry<F> {
    watched: Arc<Watched<F>>,
    unused_since: Option<Instant>,
}

/// The topics watched on demand.
pub(crate) struct Watches<F> {
    config: Arc<Config>,
    /// Asks the cluster which topics exist.
    admin: TopicAdmin,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    /// By topic. A client holds its topic's `Arc` for as long as it
    /// watches; an entry only the map holds is unused.
    watched: Mutex<HashMap<String, Entry<F>>>,
}

impl<F: Frame> Watches<F> {
    /// No topic watched yet; a task closes unused ones until `shutdown`.
    pub(crate) fn new(
        config: Arc<Config>,
        admin: TopicAdmin,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let watches = Arc::new(Self {
            config,
            admin,
            metrics,
            shutdown,
            watched: Mutex::new(HashMap::new()),
        });
        tokio::spawn(reap(Arc::downgrade(&watches)));
        watches
    }

    /// Whether `topic` may be watched, exists, and is watched already or
    /// would fit: what [`Watches::open`] would say, without starting a
    /// watch.
    pub(crate) async fn check(&self, topic: &str) -> Result<(), WatchError> {
        self.allowed_and_existing(topic).await?;
        let watched = lock(&self.watched);
        if watched.contains_key(topic) || watched.len() < self.max() {
            Ok(())
        } else {
            Err(WatchError::TooMany(watched.len()))
        }
    }

    /// The watch of `topic`, started if it is not watched yet. The caller
    /// keeps the topic watched for as long as it holds the `Arc`.
    pub(crate) async fn open(&self, topic: &str) -> Result<Arc<Watched<F>>, WatchError> {
        if let Some(entry) = lock(&self.watched).get_mut(topic) {
            entry.unused_since = None;
            return Ok(entry.watched.clone());
        }
        self.allowed_and_existing(topic).await?;
        let mut watched = lock(&self.watched);
        // Another client may have started it while the cluster was asked.
        if let Some(entry) = watched.get_mut(topic) {
            entry.unused_since = None;
            return Ok(entry.watched.clone());
        }
        if watched.len() >= self.max() {
            return Err(WatchError::TooMany(watched.len()));
        }
        let started = Arc::new(self.start(topic)?);
        watched.insert(
            topic.to_owned(),
            Entry {
                watched: started.clone(),
                unused_since: None,
            },
        );
        tracing::info!(topic, live_topics = watched.len(), "watching a topic");
        Ok(started)
    }

    /// Topics watched now, besides the gateway's own.
    pub(crate) fn count(&self) -> usize {
        lock(&self.watched).len()
    }

    /// Stream clients of these topics.
    pub(crate) fn clients(&self) -> usize {
        lock(&self.watched)
            .values()
            .map(|e| e.watched.hub().clients())
            .sum()
    }

    /// Stops every watch and waits for their consumers to close.
    pub(crate) async fn stop(&self) {
        let all: Vec<Arc<Watched<F>>> = lock(&self.watched)
            .drain()
            .map(|(_, e)| e.watched)
            .collect();
        for watched in &all {
            watched.stop.cancel();
        }
        for watched in &all {
            watched.watch.stopped().await;
        }
    }

    fn max(&self) -> usize {
        usize::try_from(self.config.max_live_topics).unwrap_or(usize::MAX)
    }

    async fn allowed_and_existing(&self, topic: &str) -> Result<(), WatchError> {
        if !self.config.may_watch(topic) {
            return Err(WatchError::NotAllowed(topic.to_owned()));
        }
        // The whole list, not a lookup of the one name: a metadata request
        // naming a missing topic may create it on a broker that creates
        // topics on first use.
        match self.admin.exists(topic).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(WatchError::NoSuchTopic(topic.to_owned())),
            Err(err) => Err(WatchError::Unavailable(err.to_string())),
        }
    }

    fn start(&self, topic: &str) -> Result<Watched<F>, WatchError> {
        let failed = |err: &dyn std::fmt::Display| {
            WatchError::Unavailable(format!("could not create the topic's clients: {err}"))
        };
        let config = &self.config;
        let admin = TopicAdmin::new(config, topic).map_err(|e| failed(&e))?;
        let consumer = LiveConsumer::new(config, topic).map_err(|e| failed(&e))?;
        let stop = self.shutdown.child_token();
        let watch = TopicWatch::start(
            consumer,
            admin.clone(),
            WatchSettings {
                create: None,
                history: config.history,
                client_queue: usize::try_from(config.client_queue).unwrap_or(usize::MAX),
            },
            self.metrics.clone(),
            stop.clone(),
        );
        // Its snapshots reach its clients through the hub; REST asks only
        // about the gateway's own topic.
        let _latest = flow::spawn(
            flow::Sources {
                topic: admin,
                groups: GroupReader::new(config.clone(), Vec::new()),
                demo: None,
                hub: watch.hub().clone(),
            },
            &stop,
        );
        Ok(Watched { watch, stop })
    }

    /// Closes the watches nobody has held for the idle time.
    fn reap_idle(&self, now: Instant) {
        let idle = self.config.live_topic_idle();
        let mut closed = Vec::new();
        lock(&self.watched).retain(|topic, entry| {
            // Only the map holds it: no client watches the topic.
            if Arc::strong_count(&entry.watched) > 1 {
                entry.unused_since = None;
                return true;
            }
            let since = *entry.unused_since.get_or_insert(now);
            if now.duration_since(since) < idle {
                return true;
            }
            entry.watched.stop.cancel();
            closed.push(topic.clone());
            false
        });
        for topic in closed {
            tracing::info!(topic, "closed a watched topic no browser watched");
        }
    }
}

/// Closes idle watches every [`REAP_EVERY`], while the watches exist.
async fn reap<F: Frame>(watches: std::sync::Weak<Watches<F>>) {
    let mut tick = tokio::time::interval(REAP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(watches) = watches.upgrade() else {
            return;
        };
        if watches.shutdown.is_cancelled() {
            return;
        }
        watches.reap_idle(Instant::now());
    }
}
