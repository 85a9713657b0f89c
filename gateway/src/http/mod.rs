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
//! - `security` (the WebSocket's `Origin` check, CORS, the API token for
//!   writes) and `ratelimit` (writes per client address): middleware.
//!
//! [`serve`] runs the router on a listener until shutdown.

pub(crate) mod error;
pub mod extract;
mod groups;
mod health;
mod load;
pub mod openapi;
pub mod orders;
mod ratelimit;
mod replay;
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
use axum::extract::{DefaultBodyLimit, OriginalUri, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

pub use self::error::ApiError;
use self::extract::MAX_BODY_BYTES;
use self::orders::MAX_BATCH_BODY_BYTES;
use self::ratelimit::RateLimiter;
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
    /// One permit per stream client: the bound on WebSocket connections.
    client_slots: Arc<Semaphore>,
    /// Writes per client address; None when unlimited.
    rate_limiter: Option<RateLimiter>,
    config: Arc<Config>,
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
        client_slots: Arc::new(Semaphore::new(
            usize::try_from(config.max_clients).unwrap_or(usize::MAX),
        )),
        rate_limiter: (config.write_rate > 0).then(|| RateLimiter::new(config.write_rate)),
        core,
        config: config.clone(),
    }));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, brokers = %config.brokers, topic = %config.topic, "gateway listening");
    }
    // The peer's address is what write rate limits are kept per.
    let app = router(state, &config).into_make_service_with_connect_info::<SocketAddr>();
    // No Nagle delay: live records go out as many small frames, and with
    // Nagle's algorithm each waited for the client's (delayed) ACK of the
    // last: at 1,000 records/s that added ~17 ms to the median end-to-end
    // latency in the benchmark.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    // Requests in flight may finish, up to the time any request may take;
    // a client that holds a connection longer (a request head never
    // finished) is not waited for.
    let drain = config.request_timeout();
    let (signalled, mut draining) = tokio::sync::watch::channel(false);
    let served = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: draining requests and closing live clients");
        token.cancel();
        signalled.send_replace(true);
    });
    let deadline = async move {
        let _ = draining.wait_for(|signalled| *signalled).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        served = served => served,
        () = deadline => {
            tracing::warn!("shutdown: stopped waiting, after {drain:?}, for connections still open");
            Ok(())
        }
    }
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
        .route("/replay", get(replay::replay))
        .route("/topics", get(topics::list).post(topics::create))
        .route(
            "/load",
            post(load::start).get(load::status).delete(load::cancel),
        )
        .route("/openapi.json", get(openapi::document))
        .route("/services", get(services::list))
        .route("/services/{name}", patch(services::update))
        .route("/services/{name}/crash", post(services::crash))
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
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
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
