//! Writing records to the topic. A write is reported done only once the
//! broker acknowledged it (`acks=all`, idempotent producer).

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;

use crate::config::Config;

/// Why a record was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("the broker did not acknowledge the order: {0}")]
    NotAcknowledged(#[source] KafkaError),
    /// Kafka's own caveat: a write that timed out may have reached the log
    /// before the broker went quiet, and the client cannot know.
    #[error(
        "the broker did not acknowledge the order within {0:?}; it may still have been \
         written (a broker that goes away mid-write can keep it): retry with the same \
         Idempotency-Key (a second record has the same order_id), or look for it before \
         placing it again"
    )]
    TimedOut(Duration),
}

/// One record to write, borrowed from whoever built it.
pub(crate) struct Outgoing<'a> {
    /// Another topic than the producer's own, and the partition there
    /// (the key log); `None`: the producer's topic, partitioned by key.
    pub(crate) topic: Option<(&'a str, i32)>,
    pub(crate) key: &'a str,
    pub(crate) payload: &'a [u8],
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) timestamp_ms: i64,
}

/// Where the broker put an acknowledged record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivered {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

/// The producer of one topic.
pub(crate) struct RecordProducer {
    producer: FutureProducer,
    topic: String,
    /// librdkafka's own message.timeout.ms; a write never waits longer than
    /// this (plus a small grace, see `send`).
    delivery_timeout: Duration,
}

impl RecordProducer {
    pub(crate) fn new(config: &Config) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: super::client::producer(config)?,
            topic: config.topic.clone(),
            delivery_timeout: config.delivery_timeout(),
        })
    }

    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// Writes `record` to the topic and waits for the broker's acknowledgement.
    pub(crate) async fn send(&self, record: Outgoing<'_>) -> Result<Delivered, ProduceError> {
        let headers = record.headers.iter().fold(
            OwnedHeaders::new_with_capacity(record.headers.len()),
            |headers, &(key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value),
                })
            },
        );
        let mut future_record = FutureRecord::to(record.topic.map_or(&*self.topic, |(t, _)| t))
            .key(record.key)
            .payload(record.payload)
            .timestamp(record.timestamp_ms)
            .headers(headers);
        if let Some((_, partition)) = record.topic {
            future_record = future_record.partition(partition);
        }

        // librdkafka fails the delivery after message.timeout.ms on its own;
        // the outer timeout is a guard in case that report never comes, and
        // a record given up on here was never acknowledged to anyone.
        let guard = self.delivery_timeout + Duration::from_secs(1);
        let delivery = self
            .producer
            .send(future_record, Timeout::After(self.delivery_timeout));
        match tokio::time::timeout(guard, delivery).await {
            Ok(Ok(delivered)) => Ok(Delivered {
                partition: delivered.partition,
                offset: delivered.offset,
            }),
            Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut), _))) => {
                Err(ProduceError::TimedOut(self.delivery_timeout))
            }
            Ok(Err((err, _message))) => Err(ProduceError::NotAcknowledged(err)),
            Err(_) => Err(ProduceError::TimedOut(guard)),
        }
    }

    /// Records queued or in flight, not yet acknowledged or failed.
    pub(crate) fn unsent(&self) -> i32 {
        self.producer.in_flight_count()
    }

    /// Waits until every queued record is delivered or failed. Dropping a
    /// producer purges what is still queued, so shutdown calls this first.
    pub(crate) async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let producer = self.producer.clone();
        super::blocking(move || producer.flush(timeout)).await
    }
}
