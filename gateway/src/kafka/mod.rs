//! The Kafka adapters: the only code that names rdkafka or the Kafka
//! protocol. Each turns librdkafka's calls into what the core asks for, in
//! the core's own words (records as [`wire::LiveRecord`], topics as
//! [`wire::api::TopicHealth`]), so nothing above this folder knows which
//! Kafka client the gateway uses.
//!
//! - `client`: the settings of every client, the guarantees applied last.
//! - `admin`: the topic's metadata, creating topics, listing the cluster's.
//! - `producer`: writes a record and waits for the broker's acknowledgement.
//! - `keys`: the key log, where gateways share acknowledged Idempotency-Keys.
//! - `live`: the live view's consumer, manually assigned, never committing.
//! - `reader`: reads offset ranges of a topic again (replays, resumes).
//! - `member`: a member of a demo service's consumer group.
//! - `groups`, `assignment`: other programs' groups (classic,
//!   consumer-protocol and share groups), described without joining them.
//! - `protocol`: the gateway's own Kafka protocol client, for the Kafka 4
//!   admin APIs librdkafka has no binding for (KIP-848 and KIP-932 group
//!   descriptions, the KRaft quorum).
//! - `record`: a consumed record as the dashboard shows it, whatever its bytes.
//!
//! librdkafka's blocking calls run on tokio's blocking pool, never on the
//! async threads; the protocol client is async.

pub(crate) mod admin;
mod assignment;
mod client;
pub(crate) mod groups;
pub(crate) mod keys;
pub(crate) mod live;
pub(crate) mod member;
pub(crate) mod producer;
pub(crate) mod protocol;
pub(crate) mod reader;
pub mod record;
pub(crate) mod scan;

pub use producer::ProduceError;

/// What a Kafka call can fail with; the core shows it, never inspects it.
pub(crate) type Error = rdkafka::error::KafkaError;

/// Runs a blocking librdkafka call on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(Error::Canceled))
}
