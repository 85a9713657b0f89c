//! The gateway of the Kafka flow dashboard.
//!
//! A browser posts orders over REST; the gateway writes each to a Kafka topic
//! and answers once the broker acknowledged it. Independently, one consumer
//! reads the same topic and the gateway streams every record, from any
//! producer, to every connected browser over a WebSocket.
//!
//! Layout, one concern per module:
//! - `config`: flags and environment.
//! - `kafka`: librdkafka client settings, passthrough properties applied safely.
//! - `topic`: create the topic when missing; describe it for health.
//! - `topics`: `GET`/`POST /api/topics`, the cluster's topics.
//! - `produce`: write an order and wait for the broker's acknowledgement.
//! - `orders`: `POST /api/orders` and its strict JSON extractor;
//!   `idempotency` remembers the `Idempotency-Key`s of acknowledged orders.
//! - `record`: a consumed record as the dashboard shows it.
//! - `live`: the live consumer and the hub fanning records out to clients.
//! - `ws`: `GET /ws`, one browser's stream; `resume` reads from Kafka what a
//!   reconnecting browser missed and the hub no longer holds.
//! - `health`: `GET /api/health`.
//! - `services`: the demo services, consumer groups the gateway runs on the
//!   topic; `GET /api/services`, `PATCH /api/services/{name}`.
//! - `groups`, `assignment`: `GET /api/groups`, the consumer groups reading
//!   the topic, read through the admin protocol without joining them.
//! - `load`: `POST /api/load`, the load generator (a spike of orders
//!   through the same producer as the form).
//! - `replay`: `GET /api/replay`, the topic read again without committing.
//! - `flow`: the pollers that push the flow's state (partitions, groups,
//!   services) and the services' progress to every browser.
//! - `ratelimit`: writes per second per client address (429).
//! - `security`: the WebSocket's `Origin` check, CORS, and the API token
//!   required for writes when one is configured.
//! - `openapi`: `GET /api/openapi.json`, the REST API as OpenAPI 3.1, its
//!   schemas generated from the `wire` types.
//! - `error`: the one error shape of the HTTP API.
//! - `shutdown`: SIGINT/SIGTERM.
//!
//! [`run`] is what `main` and the tests call: it serves on a listener the
//! caller bound until a shutdown future completes, then drains and flushes.

pub mod assignment;
mod cache;
pub mod config;
pub mod error;
mod flow;
mod groups;
mod health;
mod idempotency;
mod kafka;
mod live;
mod load;
pub mod openapi;
pub mod orders;
mod produce;
mod ratelimit;
pub mod record;
mod replay;
mod resume;
mod security;
mod services;
pub mod shutdown;
mod sync;
mod topic;
mod topics;
mod ws;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, OriginalUri, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::serve::ListenerExt;
use rdkafka::error::KafkaError;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use error::ApiError;
pub use produce::ProduceError;

use crate::cache::Cached;
use crate::flow::Flow;
use crate::groups::GroupReader;
use crate::idempotency::Idempotency;
use crate::live::Hub;
use crate::load::Load;
use crate::produce::OrderProducer;
use crate::ratelimit::RateLimiter;
use crate::services::Services;
use crate::topic::Topic;

/// Why the gateway could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kafka client configuration rejected: {0}")]
    Kafka(#[from] KafkaError),
    #[error("HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What every handler shares. axum clones it for every request (and again
/// for each middleware that takes `State`), so it is one `Arc`: cloning a
/// dozen fields one by one, a cancellation token's lock among them, was 9%
/// of the gateway's CPU when the benchmark posted single orders.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub(crate) struct Shared {
    producer: Arc<OrderProducer>,
    hub: Arc<Hub>,
    topic: Topic,
    /// One permit per live client: the bound on WebSocket connections.
    client_slots: Arc<Semaphore>,
    /// One permit per running replay.
    replay_slots: Arc<Semaphore>,
    /// One permit per resuming live client reading what it missed from Kafka.
    resume_slots: Arc<Semaphore>,
    /// Cancelled when the gateway shuts down; live clients then close.
    shutdown: CancellationToken,
    /// The broker probe behind `/api/health`, shared by all requests for a second.
    health: Arc<Cached<health::Probe>>,
    /// The latest flow snapshot, behind `/api/groups`.
    flow: Flow,
    services: Arc<Services>,
    load: Arc<Load>,
    /// The Idempotency-Keys of acknowledged orders.
    idempotency: Arc<Idempotency>,
    /// Writes per client address; None when unlimited.
    rate_limiter: Option<Arc<RateLimiter>>,
    config: Arc<Config>,
}

/// Serves the gateway on `listener` until `shutdown` completes. Then it stops
/// accepting, lets in-flight requests finish, closes WebSockets with a close
/// frame, and flushes the producer so no acknowledged order is lost.
///
/// It starts whether or not the broker is reachable: the topic is created and
/// the live view starts as soon as the broker answers.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    tracing::debug!(?config, "starting");
    let token = CancellationToken::new();
    let topic = Topic::new(kafka::admin(&config)?, &config.topic);
    let producer = Arc::new(OrderProducer::new(
        kafka::producer(&config)?,
        config.topic.clone(),
        config.delivery_timeout(),
    ));
    let consumer = kafka::live_consumer(&config)?;
    let hub = Arc::new(Hub::new(
        usize::try_from(config.history).unwrap_or(usize::MAX),
        usize::try_from(config.client_queue).unwrap_or(usize::MAX),
    ));
    let max_clients = usize::try_from(config.max_clients).unwrap_or(usize::MAX);
    let shared_config = Arc::new(config.clone());
    let services = Arc::new(Services::new(&shared_config));
    let load = Arc::new(Load::default());
    let flow = flow::spawn(
        flow::Sources {
            topic: topic.clone(),
            groups: GroupReader::new(shared_config.clone(), services.group_ids()),
            services: services.clone(),
            load: load.clone(),
            hub: hub.clone(),
        },
        &token,
    );
    let state = AppState(Arc::new(Shared {
        producer: producer.clone(),
        hub: hub.clone(),
        topic: topic.clone(),
        client_slots: Arc::new(Semaphore::new(max_clients)),
        replay_slots: Arc::new(Semaphore::new(replay::MAX_CONCURRENT)),
        resume_slots: Arc::new(Semaphore::new(resume::MAX_CONCURRENT)),
        shutdown: token.clone(),
        health: Arc::new(Cached::new(Duration::from_secs(1))),
        flow,
        services: services.clone(),
        load,
        rate_limiter: (config.write_rate > 0)
            .then(|| Arc::new(RateLimiter::new(config.write_rate))),
        idempotency: Arc::new(Idempotency::new(
            Duration::from_secs(config.idempotency_window_s),
            usize::try_from(config.idempotency_keys).unwrap_or(usize::MAX),
        )),
        config: shared_config,
    }));

    // The demo services start once the live view has made sure the topic exists.
    let (topic_ready, mut ready) = tokio::sync::watch::channel(false);
    let live = tokio::spawn({
        let token = token.clone();
        let create = (config.partitions, config.replication_factor);
        let history = config.history;
        async move { live::consume(consumer, topic, create, history, &hub, topic_ready, token).await }
    });
    let starting = tokio::spawn({
        let (services, token) = (services.clone(), token.clone());
        async move {
            // (The guard wait_for returns is not Send: drop it at once.)
            let topic_exists = async { ready.wait_for(|ready| *ready).await.is_ok() };
            tokio::select! {
                _ = token.cancelled() => {}
                true = topic_exists => services.start().await,
            }
        }
    });

    let app = router(state, &config);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, brokers = %config.brokers, topic = %config.topic, "gateway listening");
    }
    // The peer's address is what write rate limits are kept per.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    // No Nagle delay: live records go out as many small frames, and with
    // Nagle's algorithm each waited for the client's (delayed) ACK of the
    // last: at 1,000 records/s that added ~17 ms to the median end-to-end
    // latency in the benchmark.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown({
            let token = token.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: draining requests and closing live clients");
                token.cancel();
            }
        })
        .await;
    // Whatever ended the server, stop the live view and flush what was produced.
    token.cancel();
    let _ = live.await;
    let _ = starting.await;
    services.stop().await;
    let flush_timeout = config.delivery_timeout() + Duration::from_secs(1);
    if let Err(err) = producer.flush(flush_timeout).await {
        tracing::error!(%err, "producer flush failed; queued orders may be lost");
    }
    tracing::info!("gateway stopped");
    served.map_err(Error::from)
}

fn router(state: AppState, config: &Config) -> Router {
    // Requests are bounded: the produce step by the delivery timeout, the
    // whole request (including a slow body upload) by this.
    let request_timeout = config.delivery_timeout() + Duration::from_secs(5);
    let api = Router::new()
        .route("/orders", post(orders::place))
        .route(
            "/orders/batch",
            post(orders::place_batch).layer(DefaultBodyLimit::max(orders::MAX_BATCH_BODY_BYTES)),
        )
        .route("/health", get(health::health))
        .route("/groups", get(groups::list))
        .route("/replay", get(replay::replay))
        .route("/topics", get(topics::list).post(topics::create))
        .route(
            "/load",
            post(load::start).get(load::status).delete(load::cancel),
        )
        .route("/openapi.json", get(openapi::document))
        .route("/services", get(services::list))
        .route("/services/{name}", patch(services::update))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::require_token,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit_writes,
        ))
        .layer(DefaultBodyLimit::max(orders::MAX_BODY_BYTES))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            time_limit(req, next, request_timeout)
        }));
    let app = Router::new()
        .nest("/api", api)
        .route("/ws", get(ws::upgrade))
        .fallback_service(dashboard(config))
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    // Outermost: preflight requests are answered before anything else.
    match security::cors(&config.allowed_origins) {
        Some(cors) => app.layer(cors),
        None => app,
    }
}

/// The built frontend, or a page saying how to build it.
fn dashboard(config: &Config) -> axum::routing::MethodRouter {
    let index = config.static_dir.join("index.html");
    if index.is_file() {
        let files = ServeDir::new(&config.static_dir).fallback(ServeFile::new(index));
        axum::routing::get_service(files)
    } else {
        tracing::warn!(dir = %config.static_dir.display(), "no built dashboard found; serving the API only");
        let dir = config.static_dir.display().to_string();
        axum::routing::get(move || async move {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(format!(
                    "<h1>The dashboard is not built</h1><p>No <code>index.html</code> in <code>{dir}</code>. \
                     Run <code>trunk build --release</code> at the repository root, or pass \
                     <code>--static-dir</code>. The API is at <code>/api</code>.</p>"
                )),
            )
        })
    }
}

async fn time_limit(req: Request, next: Next, limit: Duration) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit.as_millis()).into_response(),
    }
}

async fn not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NotFound(uri.path().to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
