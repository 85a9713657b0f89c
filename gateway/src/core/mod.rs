//! The core: what the gateway does, between the HTTP edge above and the
//! Kafka adapters below. It names neither axum nor rdkafka; each fallible
//! operation has an error type of its own, which the edge maps to HTTP.
//!
//! - `watch`: one watched topic, its live consumer feeding its `hub`, which
//!   fans records, flow snapshots and progress out to stream clients and
//!   keeps the recent history per partition.
//! - `resume`: what a reconnecting client missed and the hub no longer
//!   holds, planned and read back from Kafka; `replay`, the topic read again.
//! - `orders`: an order becomes a record; `idempotency` remembers the
//!   `Idempotency-Key`s of acknowledged orders, and `keylog` shares them
//!   with the topic's other gateways through the key log.
//! - `services`: the demo services, consumer groups the gateway runs.
//! - `flow`: the snapshots of partitions, groups and services, once a second;
//!   `lag`: time lags (from an index of offsets and timestamps the live
//!   view samples), catch-up estimates and lag history.
//! - `load`: the load generator.
//! - `health`: the broker probe behind `/api/health`, via `cache`.
//!
//! - `stream`: one client's stream of the watched topic, as the stream
//!   protocol has it; `topics`: the cluster's topics.
//! - `filters`: live filters, one feed per topic and filter shared by its
//!   clients; `filter` runs a filter in a worker process that can be
//!   stopped, and `jq` (inside that process) compiles and tests it.
//!
//! [`Core`] holds them all for one gateway: [`Core::start`] builds and starts
//! them; [`Core::stop`] cancels the shutdown token and stops them in order.

mod bounded;
mod cache;
pub mod filter;
pub(crate) mod filters;
pub(crate) mod flow;
pub(crate) mod health;
pub(crate) mod hub;
mod idempotency;
mod jq;
mod keylog;
mod lag;
pub(crate) mod load;
pub(crate) mod orders;
pub(crate) mod replay;
pub(crate) mod resume;
pub(crate) mod search;
pub(crate) mod services;
pub(crate) mod stream;
pub(crate) mod topics;
pub(crate) mod watch;
pub(crate) mod watches;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wire::Health;
use wire::load::{LoadRequest, LoadStatus};

pub(crate) use idempotency::{MAX_KEY_BYTES, valid_key};

use self::filters::Filters;
use self::flow::Flow;
use self::health::HealthCheck;
use self::hub::{Frame, Hub};
use self::idempotency::Idempotency;
use self::keylog::Keys;
use self::load::{Load, LoadError};
use self::orders::Orders;
use self::replay::Replays;
use self::resume::Resumes;
use self::search::Searches;
use self::services::Services;
use self::watch::{TopicWatch, WatchSettings};
use self::watches::Watches;
use crate::config::Config;
use crate::kafka;
use crate::kafka::admin::TopicAdmin;
use crate::kafka::groups::GroupReader;
use crate::kafka::keys::KeyLog;
use crate::kafka::live::LiveConsumer;
use crate::kafka::producer::RecordProducer;
use crate::kafka::protocol::Cluster;
use crate::kafka::record::Schemas;
use crate::metrics::Metrics;
use crate::sync::lock;

/// Everything one gateway runs, for the edge to call.
pub(crate) struct Core<F> {
    pub(crate) orders: Arc<Orders>,
    /// The configured topic, watched from start to shutdown.
    pub(crate) watch: TopicWatch<F>,
    /// Other topics, watched while browsers watch them.
    pub(crate) watches: Arc<Watches<F>>,
    /// The live filters of every watched topic.
    pub(crate) filters: Filters<F>,
    /// Searches of the history of any topic.
    pub(crate) searches: Searches,
    /// The configured topic's admin client; it also lists and creates others.
    admin: TopicAdmin,
    /// The latest flow snapshot, behind `/api/groups`.
    pub(crate) flow: Flow,
    pub(crate) services: Arc<Services>,
    pub(crate) load: Arc<Load>,
    pub(crate) replays: Replays,
    resumes: Resumes,
    health: HealthCheck,
    /// Cancelled when the gateway shuts down: every task and stream ends.
    pub(crate) shutdown: CancellationToken,
    /// What this gateway counts, behind `/metrics`.
    pub(crate) metrics: Arc<Metrics>,
    producer: Arc<RecordProducer>,
    /// Starts the demo services once the topic exists; taken by [`Core::stop`].
    starting: Mutex<Option<JoinHandle<()>>>,
    config: Arc<Config>,
}

impl<F: Frame> Core<F> {
    /// Creates the Kafka clients and starts watching the topic, polling the
    /// flow and, once the topic exists, the demo services. Fails only on
    /// client settings librdkafka refuses: the broker need not be up.
    pub(crate) fn start(
        config: Arc<Config>,
        schemas: Schemas,
        shutdown: CancellationToken,
    ) -> Result<Self, kafka::Error> {
        let metrics = Arc::new(Metrics::new());
        let admin = TopicAdmin::new(&config, &config.topic)?;
        let producer = Arc::new(RecordProducer::new(&config)?);
        let watch = TopicWatch::start(
            LiveConsumer::new(&config, &config.topic, schemas.clone())?,
            admin.clone(),
            WatchSettings {
                create: Some((config.partitions, config.replication_factor)),
                history: config.history,
                client_queue: usize::try_from(config.client_queue).unwrap_or(usize::MAX),
            },
            metrics.clone(),
            shutdown.clone(),
        );
        let window = Duration::from_secs(config.idempotency_window_s);
        let keys = Keys::start(
            KeyLog::new(&config, &config.key_log_topic())?,
            Idempotency::new(
                window,
                usize::try_from(config.idempotency_keys).unwrap_or(usize::MAX),
            ),
            admin.clone(),
            config.replication_factor,
            window,
            &shutdown,
        );
        let services = Arc::new(Services::new(&config, &metrics));
        let load = Arc::new(Load::default());
        let flow = flow::spawn(
            flow::Sources {
                topic: admin.clone(),
                groups: GroupReader::new(config.clone(), services.group_ids()),
                quorum: Some(Cluster::new(&config.brokers, &config.kafka_properties)),
                index: watch.index().clone(),
                demo: Some(flow::Demo {
                    services: services.clone(),
                    load: load.clone(),
                }),
                hub: watch.hub().clone(),
            },
            &shutdown,
        );
        let starting = tokio::spawn({
            let (services, token, exists) = (services.clone(), shutdown.clone(), watch.exists());
            async move {
                tokio::select! {
                    _ = token.cancelled() => {}
                    true = exists => services.start().await,
                }
            }
        });
        Ok(Self {
            orders: Arc::new(Orders::new(producer.clone(), keys, metrics.clone())),
            watch,
            flow,
            services,
            load,
            replays: Replays::new(
                config.clone(),
                &config.topic,
                metrics.clone(),
                schemas.clone(),
            ),
            resumes: Resumes::new(config.clone(), metrics.clone(), schemas.clone()),
            watches: Watches::new(
                config.clone(),
                admin.clone(),
                metrics.clone(),
                schemas.clone(),
                shutdown.clone(),
            ),
            filters: Filters::new(
                config.filter_worker(),
                usize::try_from(config.max_live_filters).unwrap_or(usize::MAX),
                usize::try_from(config.max_live_filters_per_address).unwrap_or(usize::MAX),
                metrics.clone(),
                shutdown.clone(),
            ),
            searches: Searches::new(
                config.clone(),
                metrics.clone(),
                schemas.clone(),
                shutdown.clone(),
            ),
            health: HealthCheck::new(&config.brokers),
            admin,
            shutdown,
            metrics,
            producer,
            starting: Mutex::new(Some(starting)),
            config,
        })
    }

    /// The configured topic's hub.
    pub(crate) fn hub(&self) -> &Arc<Hub<F>> {
        self.watch.hub()
    }

    /// Stream clients connected, to any topic.
    pub(crate) fn live_clients(&self) -> usize {
        self.hub().clients() + self.watches.clients()
    }

    /// Whether the broker answers, the topic exists and is read.
    pub(crate) async fn health(&self) -> Health {
        self.health.check(&self.admin, self.hub()).await
    }

    /// Starts a load run through the same path as single orders; it stops at
    /// shutdown too.
    pub(crate) fn start_load(&self, request: LoadRequest) -> Result<LoadStatus, LoadError> {
        self.load
            .start(request, self.orders.clone(), &self.shutdown)
    }

    /// Cancels the shutdown token and stops everything, within about
    /// [`services::STOP_TIMEOUT`] whatever the broker does: the watch; then,
    /// at the same time, the demo services (each member commits and leaves
    /// its group) and the producer's flush, so that no acknowledged order is
    /// lost. Says what it could not do.
    pub(crate) async fn stop(&self) {
        self.shutdown.cancel();
        tokio::join!(self.watch.stopped(), self.watches.stop());
        let starting = lock(&self.starting).take();
        if let Some(starting) = starting {
            let _ = starting.await;
        }
        let flush_timeout = self.config.delivery_timeout() + Duration::from_secs(1);
        let (uncommitted, flushed) =
            tokio::join!(self.services.stop(), self.producer.flush(flush_timeout));
        if uncommitted > 0 {
            tracing::warn!(
                "shutdown: {uncommitted} demo member(s) could not commit before leaving: the \
                 orders they processed since their last commit will be processed again"
            );
        }
        if let Err(err) = flushed {
            tracing::error!(
                %err,
                unsent = self.producer.unsent(),
                "shutdown: the producer did not flush within {flush_timeout:?}; orders not yet \
                 acknowledged to anyone may be lost"
            );
        }
    }
}
