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

use super::cache::Cached;
use super::flow;
use super::hub::{Frame, Hub};
use super::watch::{TopicWatch, WatchSettings};
use crate::admission::{Client, Hold, Holdings};
use crate::config::Config;
use crate::kafka::admin::TopicAdmin;
use crate::kafka::groups::GroupReader;
use crate::kafka::live::LiveConsumer;
use crate::kafka::record::Schemas;
use crate::metrics::Metrics;
use crate::sync::lock;

/// Most records a watched topic's hub holds, over all its partitions:
/// `--history` per partition, less on a topic of many partitions. (A
/// record shown is at most about 16 KiB.)
const WATCH_HISTORY: usize = 5_000;

/// A watch's Kafka clients, made before it starts.
struct Clients {
    admin: TopicAdmin,
    consumer: LiveConsumer,
}

/// Drops librdkafka clients on the blocking pool: closing one blocks.
fn drop_blocking<T: Send + 'static>(clients: Option<T>) {
    if let Some(clients) = clients {
        tokio::task::spawn_blocking(move || drop(clients));
    }
}

/// How often watched topics are checked for having no client.
const REAP_EVERY: Duration = Duration::from_secs(1);
/// How long the cluster's topic list is shared by every request that
/// checks a topic exists: opening streams, and asking why one would be
/// refused, costs the broker at most one topic list a second.
const TOPIC_LIST_FRESH_FOR: Duration = Duration::from_secs(1);

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
    #[error(
        "this client address watches {0} topics besides the gateway's own already, as many as \
         one address may (--max-live-topics-per-address): close one first"
    )]
    TooManyForClient(usize),
    /// The broker did not say whether the topic exists.
    #[error("could not look the topic up: {0}")]
    Unavailable(String),
    /// librdkafka refused the clients' settings: the gateway's fault.
    #[error("{0}")]
    Clients(String),
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
    /// What records are decoded with (`--schema-registry`).
    schemas: Schemas,
    /// Asks the cluster which topics exist.
    admin: TopicAdmin,
    /// Its last answer: each topic's partition count.
    names: Cached<Result<Arc<HashMap<String, usize>>, String>>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    /// By topic. A client holds its topic's `Arc` for as long as it
    /// watches; an entry only the map holds is unused. Locked before
    /// `held` where both are.
    watched: Mutex<HashMap<String, Entry<F>>>,
    /// The topics each client address watches, with how many of its
    /// clients watch each.
    held: Holdings<String>,
}

/// A client's hold on a watched topic; released when dropped.
pub(crate) struct Lease<F> {
    watched: Arc<Watched<F>>,
    /// Counts the topic among its client address's.
    _hold: Hold<String>,
}

impl<F> std::ops::Deref for Lease<F> {
    type Target = Watched<F>;

    fn deref(&self) -> &Watched<F> {
        &self.watched
    }
}

impl<F: Frame> Watches<F> {
    /// No topic watched yet; a task closes unused ones until `shutdown`.
    pub(crate) fn new(
        config: Arc<Config>,
        admin: TopicAdmin,
        metrics: Arc<Metrics>,
        schemas: Schemas,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let watches = Arc::new(Self {
            config,
            schemas,
            admin,
            names: Cached::new(TOPIC_LIST_FRESH_FOR),
            metrics,
            shutdown,
            watched: Mutex::new(HashMap::new()),
            held: Holdings::new(),
        });
        tokio::spawn(reap(Arc::downgrade(&watches)));
        watches
    }

    /// Whether `client` may watch `topic`: it may be watched, exists, and
    /// is watched already or would fit, in all and for the client. What
    /// [`Watches::open`] would say, without starting a watch.
    pub(crate) async fn check(&self, topic: &str, client: Client) -> Result<(), WatchError> {
        self.allowed_and_existing(topic).await?;
        let mut watched = lock(&self.watched);
        self.fits(&mut watched, topic, client, false)
    }

    /// The watch of `topic` for `client`, started if it is not watched yet.
    /// The topic stays watched, and counts among the client's, for as long
    /// as the lease is held.
    pub(crate) async fn open(&self, topic: &str, client: Client) -> Result<Lease<F>, WatchError> {
        // Checked even for a topic watched already: it may have been deleted.
        let partitions = self.allowed_and_existing(topic).await?;
        // librdkafka clients are made (and dropped) outside the lock: that
        // takes a while, and blocks.
        let clients = if lock(&self.watched).contains_key(topic) {
            None
        } else {
            Some(self.kafka_clients(topic)?)
        };
        let mut watched = lock(&self.watched);
        if self.shutdown.is_cancelled() {
            drop_blocking(clients);
            return Err(WatchError::Unavailable(
                "the gateway is shutting down".into(),
            ));
        }
        if let Err(err) = self.fits(&mut watched, topic, client, true) {
            drop_blocking(clients);
            return Err(err);
        }
        let watched_now = match (watched.get_mut(topic), clients) {
            // Started by another client meanwhile, or watched already.
            (Some(entry), clients) => {
                drop_blocking(clients);
                entry.unused_since = None;
                entry.watched.clone()
            }
            (None, clients) => {
                let clients = match clients {
                    Some(clients) => clients,
                    // Closed meanwhile: made under the lock this once.
                    None => self.kafka_clients(topic)?,
                };
                let started = Arc::new(self.start(clients, partitions));
                watched.insert(
                    topic.to_owned(),
                    Entry {
                        watched: started.clone(),
                        unused_since: None,
                    },
                );
                tracing::info!(topic, live_topics = watched.len(), "watching a topic");
                started
            }
        };
        let per_client =
            usize::try_from(self.config.max_live_topics_per_address).unwrap_or(usize::MAX);
        // Checked under the lock of `watched` with the rest, just now.
        let hold = self
            .held
            .take(client, &topic.to_owned(), per_client)
            .ok_or(WatchError::TooManyForClient(per_client))?;
        Ok(Lease {
            watched: watched_now,
            _hold: hold,
        })
    }

    /// Whether `client` may watch `topic` besides what is watched now. A
    /// topic no client watches gives its place to a new one (the longest
    /// unwatched first, when `evict`), so that topics idling out their
    /// `--live-topic-idle-s` never keep a client from another.
    fn fits(
        &self,
        watched: &mut HashMap<String, Entry<F>>,
        topic: &str,
        client: Client,
        evict: bool,
    ) -> Result<(), WatchError> {
        let per_client =
            usize::try_from(self.config.max_live_topics_per_address).unwrap_or(usize::MAX);
        if !self.held.fits(client, &topic.to_owned(), per_client) {
            return Err(WatchError::TooManyForClient(per_client));
        }
        if watched.contains_key(topic) || watched.len() < self.max() {
            return Ok(());
        }
        let now = Instant::now();
        let unwatched = watched
            .iter()
            .filter(|(_, e)| Arc::strong_count(&e.watched) == 1)
            .min_by_key(|(_, e)| e.unused_since.unwrap_or(now))
            .map(|(t, _)| t.clone());
        match unwatched {
            None => Err(WatchError::TooMany(watched.len())),
            Some(_) if !evict => Ok(()),
            Some(closing) => {
                if let Some(entry) = watched.remove(&closing) {
                    entry.watched.stop.cancel();
                }
                tracing::info!(
                    topic = closing,
                    "closed a watched topic no browser watched, for another"
                );
                Ok(())
            }
        }
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

    /// The topic's partition count, if it may be watched and exists.
    pub(crate) async fn allowed_and_existing(&self, topic: &str) -> Result<usize, WatchError> {
        if !self.config.may_watch(topic) {
            return Err(WatchError::NotAllowed(topic.to_owned()));
        }
        // The whole list, not a lookup of the one name: a metadata request
        // naming a missing topic may create it on a broker that creates
        // topics on first use.
        let topics = self
            .names
            .get(|| async {
                match self.admin.list_all().await {
                    Ok(all) => Ok(Arc::new(
                        all.into_iter().map(|t| (t.name, t.partitions)).collect(),
                    )),
                    Err(err) => Err(err.to_string()),
                }
            })
            .await;
        match topics {
            Ok(topics) => match topics.get(topic) {
                Some(&partitions) => Ok(partitions),
                None => Err(WatchError::NoSuchTopic(topic.to_owned())),
            },
            Err(err) => Err(WatchError::Unavailable(err)),
        }
    }

    /// The Kafka clients of a watch of `topic`.
    fn kafka_clients(&self, topic: &str) -> Result<Clients, WatchError> {
        let failed = |err: &dyn std::fmt::Display| {
            WatchError::Clients(format!("could not create the topic's clients: {err}"))
        };
        Ok(Clients {
            admin: TopicAdmin::new(&self.config, topic).map_err(|e| failed(&e))?,
            consumer: LiveConsumer::new(&self.config, topic, self.schemas.clone())
                .map_err(|e| failed(&e))?,
        })
    }

    /// Starts watching with `clients` a topic of `partitions`.
    fn start(&self, clients: Clients, partitions: usize) -> Watched<F> {
        let Clients { admin, consumer } = clients;
        let config = &self.config;
        let stop = self.shutdown.child_token();
        // At most WATCH_HISTORY records held for a topic of many partitions.
        let per_partition = (WATCH_HISTORY / partitions.max(1)) as u64;
        let watch = TopicWatch::start(
            consumer,
            admin.clone(),
            WatchSettings {
                create: None,
                history: config.history.min(per_partition),
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
                quorum: None,
                index: watch.index().clone(),
                demo: None,
                hub: watch.hub().clone(),
            },
            &stop,
        );
        Watched { watch, stop }
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
