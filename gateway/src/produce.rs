//! Writing orders to Kafka. An order is acknowledged to its client only
//! after the broker acknowledged it to us.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use wire::{NewOrder, Order, OrderAccepted, headers};

/// Why an order was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("the broker did not acknowledge the order: {0}")]
    NotAcknowledged(#[source] KafkaError),
    /// Kafka's own caveat: a write that timed out may have reached the log
    /// before the broker went quiet, and the client cannot know.
    #[error(
        "the broker did not acknowledge the order within {0:?}; it may still have been \
         written (a broker that goes away mid-write can keep it): look for it before placing it again"
    )]
    TimedOut(Duration),
}

pub(crate) struct OrderProducer {
    producer: FutureProducer,
    topic: String,
    /// librdkafka's own message.timeout.ms; a request never waits longer than
    /// this (plus a small grace, see `send`).
    delivery_timeout: Duration,
}

impl OrderProducer {
    pub(crate) fn new(producer: FutureProducer, topic: String, delivery_timeout: Duration) -> Self {
        Self {
            producer,
            topic,
            delivery_timeout,
        }
    }

    /// Writes `order` to the topic, keyed by customer, and waits for the
    /// broker's acknowledgement.
    pub(crate) async fn send(&self, order: NewOrder) -> Result<OrderAccepted, ProduceError> {
        let placed_at_ms = now_ms();
        let total_cents = order.total_cents();
        let record = Order {
            order_id: uuid::Uuid::now_v7().to_string(),
            customer_id: order.customer_id,
            items: order.items,
            total_cents,
            placed_at_ms,
        };
        // Serializing plain strings and integers cannot fail.
        let payload = serde_json::to_vec(&record).unwrap_or_default();
        let produced_at = placed_at_ms.to_string();
        let headers = OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: headers::CONTENT_TYPE,
                value: Some(headers::JSON),
            })
            .insert(Header {
                key: headers::ORDER_ID,
                value: Some(&record.order_id),
            })
            .insert(Header {
                key: headers::PRODUCED_AT_MS,
                value: Some(&produced_at),
            });
        let future_record = FutureRecord::to(&self.topic)
            .key(&record.customer_id)
            .payload(&payload)
            .timestamp(placed_at_ms)
            .headers(headers);

        // librdkafka fails the delivery after message.timeout.ms on its own;
        // the outer timeout is a guard in case that report never comes, and
        // an order given up on here was never acknowledged to anyone.
        let guard = self.delivery_timeout + Duration::from_secs(1);
        let delivery = self
            .producer
            .send(future_record, Timeout::After(self.delivery_timeout));
        match tokio::time::timeout(guard, delivery).await {
            Ok(Ok(delivered)) => Ok(OrderAccepted {
                order_id: record.order_id,
                topic: self.topic.clone(),
                partition: delivered.partition,
                offset: delivered.offset,
                timestamp_ms: placed_at_ms,
            }),
            Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut), _))) => {
                Err(ProduceError::TimedOut(self.delivery_timeout))
            }
            Ok(Err((err, _message))) => Err(ProduceError::NotAcknowledged(err)),
            Err(_) => Err(ProduceError::TimedOut(guard)),
        }
    }

    /// Waits until every queued order is delivered or failed. Dropping a
    /// producer purges what is still queued, so shutdown calls this first.
    pub(crate) async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .unwrap_or(Err(KafkaError::Canceled))
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
