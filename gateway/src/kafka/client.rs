//! librdkafka client settings shared by every client the gateway creates.
//!
//! The user's passthrough properties (`-X key=value`) are applied first and
//! the settings the gateway's guarantees rest on are applied last, so no
//! passthrough can weaken them: an acknowledged order is on every in-sync
//! replica, and the live view never commits an offset.

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext};

use wire::services::GroupProtocol;

use crate::config::Config;

/// Bootstrap servers, quick reconnects, `defaults` (which the user's
/// properties may override), then the user's properties.
fn base(config: &Config, defaults: &[(&str, &str)]) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "kafka-flow-gateway")
        // librdkafka backs off up to 10 s between reconnects by default; a
        // dashboard should notice a returning broker within a second.
        .set("reconnect.backoff.max.ms", "1000");
    for (key, value) in defaults {
        client.set(*key, *value);
    }
    for (key, value) in &config.kafka_properties {
        client.set(key, value);
    }
    client
}

/// The order producer: idempotent, `acks=all`, and a delivery timeout after
/// which a waiting request gets 503 instead of hanging.
pub(super) fn producer(config: &Config) -> KafkaResult<FutureProducer> {
    // Small batches: orders are answered when the broker acknowledges them,
    // so lingering long would add straight to every request's latency.
    base(config, &[("linger.ms", "2")])
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", config.delivery_timeout_ms.to_string())
        .create()
}

/// A consumer that only reads by manual assignment and never commits, so
/// its group id, unique to it, never appears on the broker and no
/// application group loses a record to it. `purpose` names it (`live`,
/// `replay`) in the broker's client logs.
fn reader(config: &Config, purpose: &str) -> ClientConfig {
    let mut client = base(config, &[]);
    client
        .set(
            "group.id",
            format!("kafka-flow-{purpose}-{}", uuid::Uuid::now_v7()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Prefetch bounded (librdkafka's default is 64 MiB per consumer):
        // enough to keep reading at full speed, not a second copy of the topic.
        .set("queued.max.messages.kbytes", "16384");
    client
}

/// The live view's consumer (see [`reader`]).
pub(super) fn live_consumer(config: &Config) -> KafkaResult<StreamConsumer> {
    reader(config, "live")
        .set("enable.partition.eof", "false")
        .create()
}

/// A range reader's consumer (see [`reader`]); it reports reaching a
/// partition's end, where a read stops.
pub(super) fn range_consumer(
    config: &Config,
    purpose: &str,
) -> KafkaResult<BaseConsumer<EndIsNoError>> {
    reader(config, purpose)
        .set("enable.partition.eof", "true")
        // A range read takes records as fast as they come, so its prefetch
        // queue is often full; librdkafka then waits `fetch.queue.backoff.ms`
        // (1 s by default) before fetching again, and a search over a big
        // topic spent most of its time waiting: 5 ms makes it 3 to 4 times
        // faster (BENCHMARKS.md). The queue's bound is unchanged.
        .set("fetch.queue.backoff.ms", "5")
        .set("queued.min.messages", "1000000")
        .create_with_context(EndIsNoError)
}

/// The key log's reader (see [`reader`]); it reports reaching the log's
/// end, which is how a gateway knows it has read every key written so far.
/// It reads uncommitted records: gateways write keys without transactions,
/// and a transaction someone else left open on the log must not hide the
/// keys after it (the end a `read_committed` reader sees stops before it).
pub(super) fn key_log_consumer(config: &Config) -> KafkaResult<StreamConsumer<EndIsNoError>> {
    reader(config, "keys")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_uncommitted")
        .create_with_context(EndIsNoError)
}

/// The client that asks where the key log ends. Not the reader: a broker
/// answers a connection's requests in order, so on the reader's connection
/// the question waited behind its fetch, held up to `fetch.wait.max.ms`
/// (500 ms) on an idle log, before every new key.
pub(super) fn key_log_ends(config: &Config) -> KafkaResult<BaseConsumer> {
    reader(config, "key-ends")
        .set("isolation.level", "read_uncommitted")
        .create()
}

/// A consumer context for a reader that asks to hear of a partition's end.
/// librdkafka reports the end as an error event too, besides the message
/// the reader waits for, which the default context logs at ERROR: for the
/// key log, at every key written.
pub(super) struct EndIsNoError;

impl ClientContext for EndIsNoError {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
            tracing::trace!("librdkafka: {error}: {reason}");
        } else {
            tracing::error!("librdkafka: {error}: {reason}");
        }
    }
}

impl ConsumerContext for EndIsNoError {}

/// A member of a demo service's consumer group: at-least-once. Offsets are
/// stored only after an order is processed and committed from the store by
/// the member (see `member`), never by librdkafka on its own.
///
/// Under the classic protocol the member sets its own session timeout and
/// heartbeat; under the consumer protocol (KIP-848) the broker sets them
/// (`group.consumer.*`) and librdkafka refuses both.
pub(super) fn member_consumer<C: ConsumerContext + 'static>(
    config: &Config,
    group: &str,
    protocol: GroupProtocol,
    client_id: &str,
    context: C,
) -> KafkaResult<StreamConsumer<C>> {
    let timing: &[(&str, &str)] = match protocol {
        GroupProtocol::Classic => &[
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
        ],
        GroupProtocol::Consumer => &[],
    };
    base(config, timing)
        .set("group.protocol", protocol.as_str())
        .set("group.id", group)
        .set("client.id", client_id)
        // The member commits by itself (every so often, on leaving, before a
        // revoke): librdkafka's auto-commit would also commit on close, and a
        // crashing member must leave what it processed uncommitted.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A new service starts from the beginning of the topic: the orders
        // written before it existed are its backlog.
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // librdkafka prefetches up to 64 MiB per consumer by default: a slow
        // service's whole backlog would move into this process. A member works
        // through at most a few hundred orders a second; 1,000 records or
        // 1 MiB queued ahead is plenty, and the rest waits in Kafka, where a
        // backlog belongs.
        .set("queued.min.messages", "1000")
        .set("queued.max.messages.kbytes", "1024")
        .create_with_context(context)
}

/// For creating the topic and reading its metadata. Never lets a metadata
/// request create a topic: an admin client is a producer to librdkafka,
/// whose producers ask brokers that create topics on first use
/// (`auto.create.topics.enable`) to create any topic they name, and a
/// watched topic someone deleted must stay deleted.
pub(super) fn admin(config: &Config) -> KafkaResult<AdminClient<DefaultClientContext>> {
    base(config, &[])
        .set("allow.auto.create.topics", "false")
        .create()
}

/// A consumer that is only ever used for metadata requests: listing groups,
/// fetching a group's committed offsets. It never subscribes, is never
/// assigned and never commits, so using `group`'s id does not join that group.
pub(super) fn admin_consumer(config: &Config, group: Option<&str>) -> KafkaResult<BaseConsumer> {
    let group = group.map_or_else(
        || format!("kafka-flow-admin-{}", uuid::Uuid::now_v7()),
        str::to_owned,
    );
    base(config, &[])
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()
}
