//! A member of a demo service's consumer group: subscribed to the topic,
//! at least once. Offsets are stored only after an order is processed and
//! committed from the store when the member says so (every so often), when
//! it leaves, and before it gives partitions up in a rebalance; a member
//! that crashes commits nothing.

use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::message::Headers;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message, TopicPartitionList};
use wire::headers;
use wire::services::GroupProtocol;

use super::{Error, record};
use crate::config::Config;

/// What a member is told of its partitions as its group rebalances: the
/// classic protocol takes every partition away and then gives the new set;
/// the consumer protocol (KIP-848) gives and takes a few at a time.
pub(crate) trait Rebalances: Send + Sync + 'static {
    /// The member now also owns these partitions.
    fn assigned(&self, added: &[i32]);
    /// These partitions were taken away; what it processed of them is
    /// committed.
    fn revoked(&self, removed: &[i32]);
}

/// One member's consumer.
pub(crate) struct MemberConsumer<R: Rebalances> {
    consumer: StreamConsumer<MemberContext<R>>,
}

/// A record handed to a member, borrowed until it is processed.
pub(crate) struct Delivery<'a>(BorrowedMessage<'a>);

impl Delivery<'_> {
    pub(crate) fn partition(&self) -> i32 {
        self.0.partition()
    }

    pub(crate) fn offset(&self) -> i64 {
        self.0.offset()
    }

    /// The `order-id` header the gateway writes, if the record has one.
    pub(crate) fn order_id(&self) -> Option<String> {
        record::header_text(&self.0, headers::ORDER_ID)
    }

    /// The `order-id` header's bytes as written, whole (not shortened nor
    /// made text, so that two ids never read alike), if it has a non-empty
    /// one: what an idempotent consumer knows an order by.
    pub(crate) fn order_id_bytes(&self) -> Option<&[u8]> {
        self.0
            .headers()?
            .iter()
            .find(|h| h.key == headers::ORDER_ID)?
            .value
            .filter(|v| !v.is_empty())
    }

    /// The `produced-at-ms` header the gateway writes, if the record has one.
    pub(crate) fn produced_at_ms(&self) -> Option<i64> {
        record::header_text(&self.0, headers::PRODUCED_AT_MS).and_then(|t| t.parse().ok())
    }
}

impl<R: Rebalances> MemberConsumer<R> {
    /// A consumer in `group` named `client_id`, subscribed to the topic;
    /// `rebalances` hears of its partitions.
    pub(crate) fn join(
        config: &Config,
        group: &str,
        protocol: GroupProtocol,
        client_id: &str,
        rebalances: R,
    ) -> Result<Self, Error> {
        let context = MemberContext {
            rebalances,
            crashed: AtomicBool::new(false),
            lost_commit: AtomicBool::new(false),
        };
        let consumer = super::client::member_consumer(config, group, protocol, client_id, context)?;
        consumer.subscribe(&[&config.topic])?;
        Ok(Self { consumer })
    }

    /// The next record. Errors mean the broker is away or the group is
    /// rebalancing: librdkafka retries by itself, and the next call waits.
    pub(crate) async fn recv(&self) -> Result<Delivery<'_>, Error> {
        self.consumer.recv().await.map(Delivery)
    }

    /// `delivery` is processed: its offset is stored, to be committed.
    pub(crate) fn processed(&self, delivery: &Delivery<'_>) -> Result<(), Error> {
        self.consumer.store_offset_from_message(&delivery.0)
    }

    /// Commits what was processed so far, without waiting for the broker.
    pub(crate) fn commit(&self) {
        match self.consumer.commit_consumer_state(CommitMode::Async) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(err) => tracing::debug!(%err, "could not commit processed offsets"),
        }
    }

    /// Leaves the group as a crashed process would leave its work: nothing
    /// processed since the last commit is committed, so the partitions' next
    /// owner processes those orders again. (The group hears at once that the
    /// member is gone, rather than after its session times out.)
    pub(crate) async fn crash(self) {
        self.consumer
            .context()
            .crashed
            .store(true, Ordering::Release);
        let consumer = self.consumer;
        let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    }

    /// Commits what was processed and leaves the group; whether everything
    /// it processed was committed (this commit, and the ones before
    /// rebalances). Committing and closing block on the broker, so this
    /// runs on the blocking pool.
    pub(crate) async fn leave(self) -> bool {
        let consumer = self.consumer;
        let left = tokio::task::spawn_blocking(move || {
            let committed = commit_stored(&consumer);
            let lost = consumer.context().lost_commit.load(Ordering::Acquire);
            drop(consumer);
            committed && !lost
        });
        left.await.unwrap_or(false)
    }
}

/// Commits the offsets stored so far; whether that worked. Nothing stored
/// is not an error.
fn commit_stored<C: ConsumerContext, K: Consumer<C>>(consumer: &K) -> bool {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => true,
        Err(err) => {
            tracing::warn!(%err, "could not commit processed offsets");
            false
        }
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

/// Hooks into a member's rebalances: commit before partitions are taken
/// away, so the next owner starts exactly after the last processed order.
struct MemberContext<R> {
    rebalances: R,
    /// Set when the member crashes: its revoke then commits nothing.
    crashed: AtomicBool,
    /// Set when a commit before a revoke failed (the broker was away, the
    /// assignment was lost): orders it processed were never committed.
    lost_commit: AtomicBool,
}

impl<R: Rebalances> ClientContext for MemberContext<R> {}

impl<R: Rebalances> ConsumerContext for MemberContext<R> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            if !self.crashed.load(Ordering::Acquire) && !commit_stored(consumer) {
                self.lost_commit.store(true, Ordering::Release);
            }
            self.rebalances.revoked(&partitions(list));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            self.rebalances.assigned(&partitions(list));
        }
    }
}
