//! The HTTP edge: the only code that names axum. Handlers parse a request,
//! call the core, and map its typed errors to [`ApiError`], the one error
//! shape of the API.
//!
//! - `extract`: `StrictJson` and query strings, and the one mapping of a
//!   serde error to the field it is about.
//! - `error`: [`ApiError`], its statuses and codes, and the mapping of the
//!   core's errors.
//! - One thin handler file per resource: `orders`, `services`, `groups`,
//!   `load`, `replay`, `topics`, `health`, `ws` (the stream), `openapi`.
//! - `security` (the `Host` check, the WebSocket's `Origin` check, CORS, the
//!   API token and the read key) and `ratelimit` (orders per client
//!   address): middleware.
//! - `conn`: connections, accepted within bounds and served by hyper with a
//!   header timeout, closed within a stated time at shutdown.
//!
//! [`serve`] runs the router on a listener until shutdown.

mod conn;
pub(crate) mod error;
pub mod extract;
mod groups;
mod health;
mod load;
mod metrics;
pub mod openapi;
pub mod orders;
mod ratelimit;
mod record;
mod replay;
mod search;
mod security;
mod services;
mod topics;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::Utf8Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, OriginalUri, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, patch, post};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

pub use self::error::ApiError;
use self::extract::MAX_BODY_BYTES;
use self::orders::MAX_BATCH_BODY_BYTES;
use self::ratelimit::RateLimiter;
use crate::admission::Admission;
use crate::config::Config;
use crate::core::Core;

/// What the hub shares among stream clients: axum's text frame, which a
/// `String` becomes without a copy and which goes out to every client as
/// it is, without a UTF-8 check per send.
pub(crate) type Frame = Utf8Bytes;

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
    core: Arc<Core<Frame>>,
    /// One per stream client: the bound on WebSocket clients, in all and
    /// per client address.
    live_clients: Arc<Admission>,
    /// Writes per client address; None when unlimited.
    rate_limiter: Option<RateLimiter>,
    /// The names requests may give in `Host`.
    hosts: security::Hosts,
    /// Turns to read and parse a request body (see `extract::StrictJson`).
    small_bodies: Semaphore,
    large_bodies: Semaphore,
    small_bodies_by_client: Arc<Admission>,
    large_bodies_by_client: Arc<Admission>,
    /// What the read-key cookie holds (see `security`): random, made at start.
    read_key: String,
    config: Arc<Config>,
}

impl Shared {
    /// Whether the request carries this gateway's read key.
    fn read_key_matches(&self, headers: &axum::http::HeaderMap) -> bool {
        security::read_keys_of(headers)
            .any(|key| security::constant_time_eq(key.as_bytes(), self.read_key.as_bytes()))
    }
}

/// Serves the gateway on `listener` until `shutdown` completes. Then it
/// cancels the core's shutdown token (stream clients close with 1001), stops
/// accepting, and lets in-flight requests finish.
pub(crate) async fn serve(
    listener: TcpListener,
    core: Arc<Core<Frame>>,
    config: Arc<Config>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = core.shutdown.clone();
    let state = AppState(Arc::new(Shared {
        live_clients: Admission::new(
            usize::try_from(config.max_clients).unwrap_or(usize::MAX),
            usize::try_from(config.max_clients_per_address).unwrap_or(usize::MAX),
        ),
        rate_limiter: (config.write_rate > 0).then(|| RateLimiter::new(config.write_rate)),
        hosts: security::Hosts::new(&config.public_hosts, &config.allowed_origins),
        small_bodies: Semaphore::new(extract::SMALL_BODY_TURNS),
        large_bodies: Semaphore::new(extract::LARGE_BODY_TURNS),
        small_bodies_by_client: Admission::new(usize::MAX, extract::SMALL_BODIES_PER_CLIENT),
        large_bodies_by_client: Admission::new(
            usize::MAX,
            usize::try_from(config.max_batches_per_address).unwrap_or(1),
        ),
        read_key: uuid::Uuid::new_v4().simple().to_string(),
        core,
        config: config.clone(),
    }));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, brokers = %config.brokers, topic = %config.topic, "gateway listening");
    }
    if config.writes_open() {
        let beyond_loopback = listener.local_addr().is_ok_and(|a| !a.ip().is_loopback());
        let says = "writes are open: no API token is set, so anyone who can reach this \
                    gateway may place orders, create topics, start load runs and stop services";
        if beyond_loopback {
            tracing::warn!("{says}");
        } else {
            tracing::info!("{says} (from this machine only: it listens on loopback)");
        }
    }
    let limits = conn::Limits {
        header_timeout: Duration::from_millis(config.header_timeout_ms),
        write_timeout: Duration::from_millis(config.write_timeout_ms),
        max_connections: usize::try_from(config.max_connections).unwrap_or(usize::MAX),
        max_per_address: usize::try_from(config.max_connections_per_address).unwrap_or(usize::MAX),
        // Requests in flight may finish, up to the time any request may take.
        drain: config.request_timeout(),
    }
    .fit_to_open_files();
    conn::serve(
        listener,
        router(state, &config),
        limits,
        shutdown,
        move || {
            tracing::info!("shutting down: draining requests and closing live clients");
            token.cancel();
        },
    )
    .await;
    Ok(())
}

fn router(state: AppState, config: &Config) -> Router {
    let request_timeout = config.request_timeout();
    let api = Router::new()
        .route("/orders", post(orders::place))
        .route(
            "/orders/batch",
            post(orders::place_batch).layer(DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES)),
        )
        .route("/health", get(health::health))
        .route("/groups", get(groups::list))
        .route("/groups/history", get(groups::history))
        .route("/quorum", get(groups::quorum))
        .route("/record", get(record::record))
        .route("/replay", get(replay::replay))
        .route("/search", get(search::search))
        .route("/topics", get(topics::list).post(topics::create))
        .route(
            "/load",
            post(load::start).get(load::status).delete(load::cancel),
        )
        .route("/openapi.json", get(openapi::document))
        .route("/services", get(services::list))
        .route("/services/{name}", patch(services::update))
        .route("/services/{name}/crash", post(services::crash))
        .route(
            "/session",
            post(security::open_session).delete(security::close_session),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            (state.clone(), request_timeout),
            guard,
        ));
    let app = Router::new()
        .nest("/api", api)
        .route("/ws", get(ws::upgrade))
        .route("/metrics", get(metrics::scrape))
        .fallback_service(dashboard(config))
        // A 5xx is logged as a warning: most are the broker being away
        // (503), which the health endpoint and the metrics already say; the
        // gateway's own failures (500) log their cause as an error where
        // they happen.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN)),
        );
    // Preflight requests are answered before anything else, but for the
    // host check, which comes first of all.
    let app = match security::cors(&config.allowed_origins) {
        Some(cors) => app.layer(cors),
        None => app,
    };
    app.layer(middleware::from_fn_with_state(
        state.clone(),
        security::check_host,
    ))
    .with_state(state)
}

/// The built frontend, or a page saying how to build it. A build made by
/// Trunk's dev server (`trunk serve`, which injects a live-reload script
/// that dials back to a dev server this gateway is not) is refused too: it
/// would keep failing to connect in every visitor's console.
fn dashboard(config: &Config) -> axum::routing::MethodRouter {
    let dir = config.static_dir.display().to_string();
    let index = config.static_dir.join("index.html");
    let problem = match std::fs::read_to_string(&index) {
        Ok(html) if !is_dev_build(&html) => {
            let files = ServeDir::new(&config.static_dir).fallback(ServeFile::new(index));
            return axum::routing::get_service(files);
        }
        Ok(_) => format!(
            "<h1>This dashboard is a development build</h1><p><code>{dir}</code> holds what \
             <code>trunk serve</code> built: its page would keep dialling Trunk's dev server. \
             Run <code>scripts/build.sh</code> to build the release dashboard there, or use the \
             dev server's own address. The API is at <code>/api</code>.</p>"
        ),
        Err(_) => format!(
            "<h1>The dashboard is not built</h1><p>No <code>index.html</code> in <code>{dir}</code>. \
             Run <code>scripts/build.sh</code> at the repository root, or pass \
             <code>--static-dir</code>. The API is at <code>/api</code>.</p>"
        ),
    };
    tracing::warn!(%dir, "no release build of the dashboard found; serving the API only");
    axum::routing::get(move || async move { (StatusCode::SERVICE_UNAVAILABLE, Html(problem)) })
}

/// Whether `index.html` came from Trunk's dev server: it then carries
/// Trunk's live-reload script, which connects to `/.well-known/trunk/ws`.
fn is_dev_build(index_html: &str) -> bool {
    index_html.contains(".well-known/trunk/ws")
}

/// Every API request's checks, in one layer: refusals of the order routes
/// counted (the token's, the rate's and the time limit's too), the time
/// limit, the token, then the write rate (a request the token refuses takes
/// nothing from any client's bucket). One layer rather than four: each
/// layer costs every request a boxed future and a clone of the service
/// behind it, a sixth of a single order's CPU in the benchmark's profile.
async fn guard(
    State((state, limit)): State<(AppState, Duration)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let counted = metrics::places_orders(request.uri().path());
    let checked = async {
        if let Some(refused) = security::token_refusal(&state, &request) {
            return refused;
        }
        if let Some(refused) = ratelimit::write_refusal(&state, peer, &request) {
            return refused;
        }
        next.run(request).await
    };
    let response = match tokio::time::timeout(limit, checked).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit.as_millis()).into_response(),
    };
    if counted {
        metrics::count_refusal(&state, &response);
    }
    response
}

async fn not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NotFound(uri.path().to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
