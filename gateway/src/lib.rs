//! The gateway of the Kafka flow dashboard.
//!
//! A browser posts orders over REST; the gateway writes each to a Kafka topic
//! and answers once the broker acknowledged it. Independently, one consumer
//! reads the same topic and the gateway streams every record, from any
//! producer, to every connected browser over a WebSocket.
//!
//! Three rooms, and arrows that point down only (ARCHITECTURE.md says why):
//! - `http`: the edge, the only code that names axum: the router, the
//!   extractors, one thin handler per resource, the error boundary, the
//!   security and rate-limit middleware.
//! - `core`: what the gateway does, naming neither axum nor rdkafka: the
//!   watched topic and its hub, live filters (in worker processes),
//!   resumes and replays, orders and their
//!   idempotency, the demo services, the flow snapshots, the load generator.
//! - `kafka`: the adapters, the only code that names rdkafka or the Kafka
//!   protocol: client settings, the producer, the live consumer, the range
//!   reader, group members, the group reader, topic admin, record decoding,
//!   and a protocol client of its own for Kafka 4's admin APIs.
//!
//! Beside them: `config` (flags and environment), `admission` (bounds in
//! all and per client address), `clock`, `sync` (the one way to take a std
//! mutex) and `shutdown` (SIGINT/SIGTERM).
//!
//! [`run`] is what `main` and the tests call: it serves on a listener the
//! caller bound until a shutdown future completes, then drains and flushes.

// The unit tests run on the allocator the gateway runs on (main.rs): a
// capacity a broker's response claims is reserved lazily there, so a count
// its bytes cannot fill fails the decode instead of the allocation (see
// `kafka::protocol::conn`'s tests).
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod admission;
mod clock;
pub mod config;
pub mod core;
pub mod formats;
pub mod http;
pub mod kafka;
mod metrics;
pub mod registry;
pub mod shutdown;
mod sync;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, TopicPattern};
pub use http::ApiError;
pub use kafka::ProduceError;

/// Why the gateway could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kafka client configuration rejected: {0}")]
    Kafka(#[from] kafka::Error),
    #[error("HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("schema registry client: {0}")]
    Registry(#[from] registry::ClientError),
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
    if let Some(refused) = config.open_writes_refused(listener.local_addr()?) {
        return Err(refused.into());
    }
    let config = Arc::new(config);
    let schemas = match &config.schema_registry {
        Some(url) => Some(Arc::new(registry::Registry::new(url)?)),
        None => None,
    };
    let core = Arc::new(core::Core::start(
        config.clone(),
        kafka::record::Schemas::new(schemas),
        CancellationToken::new(),
    )?);
    let served = http::serve(listener, core.clone(), config, shutdown).await;
    // Whatever ended the server, stop the core and flush what was produced.
    core.stop().await;
    tracing::info!("gateway stopped");
    served.map_err(Error::from)
}
