//! Placing orders: one order becomes one record, keyed by customer, with
//! headers saying what it is; an order is acknowledged to its client only
//! after the broker acknowledged it to us. With an `Idempotency-Key`, the
//! order's id is derived from the key, and a retry of an acknowledged order,
//! to any gateway of the topic, gets the first acknowledgement back.

use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;
use wire::{NewOrder, Order, OrderAccepted, headers};

use super::idempotency::{Acked, Begin, KeyHash};
use super::keylog::{KeyLogUnavailable, Keys};
use crate::clock::now_ms;
use crate::kafka::ProduceError;
use crate::kafka::producer::{Outgoing, RecordProducer};
use crate::metrics::Metrics;

/// Why an order was not placed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PlaceError {
    #[error(transparent)]
    Produce(#[from] ProduceError),
    #[error("a request with this Idempotency-Key is still being placed")]
    KeyInProgress,
    #[error("this key was already used for a different order")]
    KeyReused,
    #[error(transparent)]
    KeyLog(#[from] KeyLogUnavailable),
    /// The task placing the order ended without an answer.
    #[error("placing the order failed: {0}")]
    Interrupted(String),
}

/// A keyed order's answer.
pub(crate) enum Placed {
    /// Placed now.
    New(OrderAccepted),
    /// Placed by an earlier request with the same key: its acknowledgement.
    Replayed(OrderAccepted),
}

/// Writes orders to the topic.
pub(crate) struct Orders {
    producer: Arc<RecordProducer>,
    metrics: Arc<Metrics>,
    /// The Idempotency-Keys of acknowledged orders, every gateway's.
    keys: Arc<Keys>,
}

impl Orders {
    pub(crate) fn new(producer: Arc<RecordProducer>, keys: Keys, metrics: Arc<Metrics>) -> Self {
        Self {
            producer,
            metrics,
            keys: Arc::new(keys),
        }
    }

    /// Writes `order` and waits for the broker's acknowledgement.
    pub(crate) async fn place(&self, order: NewOrder) -> Result<OrderAccepted, PlaceError> {
        let order_id = Uuid::now_v7();
        let acked = measured(&self.producer, &self.metrics, order, order_id, None).await?;
        Ok(self.accepted(&acked))
    }

    fn accepted(&self, acked: &Acked) -> OrderAccepted {
        OrderAccepted {
            order_id: acked.order_id.to_string(),
            topic: self.producer.topic().to_owned(),
            partition: acked.partition,
            offset: acked.offset,
            timestamp_ms: acked.timestamp_ms,
        }
    }

    /// Places `order` once under `key`: a retry of an acknowledged order,
    /// here or on another gateway of the topic, gets the first
    /// acknowledgement and writes nothing.
    pub(crate) async fn place_once(
        &self,
        key: &str,
        order: NewOrder,
    ) -> Result<Placed, PlaceError> {
        let hash = KeyHash::of(key);
        // Serializing plain strings and integers cannot fail; the canonical
        // bytes make `2.0` and `2` one order.
        let order_id = hash.order_id(&serde_json::to_vec(&order).unwrap_or_default());
        let claim = match self.keys.local.begin(hash, order_id, Instant::now()) {
            Begin::Replay(acked) => {
                self.metrics.idempotent_replays.inc();
                return Ok(Placed::Replayed(self.accepted(&acked)));
            }
            Begin::InProgress => return Err(PlaceError::KeyInProgress),
            Begin::Mismatch => return Err(PlaceError::KeyReused),
            Begin::New(claim) => claim,
        };
        // Placed in a task of its own: should the client go away mid-request,
        // the order is still either acknowledged (and the key remembers it)
        // or not (and the key is given back).
        let (producer, metrics, keys) = (
            self.producer.clone(),
            self.metrics.clone(),
            self.keys.clone(),
        );
        let key = key.to_owned();
        let placed = tokio::spawn(async move {
            // Another gateway may have acknowledged this key: learn every
            // key written so far before deciding.
            keys.caught_up().await?;
            match claim.settled() {
                None => {}
                Some(Begin::Replay(acked)) => return Ok((acked, true)),
                Some(Begin::Mismatch) => return Err(PlaceError::KeyReused),
                Some(_) => return Err(PlaceError::KeyInProgress),
            }
            let acked = measured(&producer, &metrics, order, order_id, Some(&key)).await?;
            claim.finish(&acked);
            // The other gateways hear of it before the client does; should
            // that fail, the order is in Kafka all the same, and a retry to
            // another gateway writes a second record with the same id.
            if let Err(err) = keys.share(&producer, hash, &acked).await {
                metrics.key_log_failures.inc();
                tracing::warn!(%err, "an acknowledged Idempotency-Key could not be written to the key log");
            }
            Ok((acked, false))
        })
        .await
        .map_err(|e| PlaceError::Interrupted(e.to_string()))??;
        Ok(match placed {
            (acked, false) => Placed::New(self.accepted(&acked)),
            (acked, true) => {
                self.metrics.idempotent_replays.inc();
                Placed::Replayed(self.accepted(&acked))
            }
        })
    }

    /// Places every order at once (librdkafka batches them) and waits for
    /// every acknowledgement; one result per order, in the order given.
    /// Orders of one customer keep their order.
    pub(crate) async fn place_all(
        &self,
        orders: Vec<NewOrder>,
    ) -> Vec<Result<OrderAccepted, PlaceError>> {
        #[allow(clippy::cast_precision_loss)]
        self.metrics.batch_orders.observe(orders.len() as f64);
        // Sends are enqueued in the order they are first polled: join_all
        // polls them in order, so each customer's orders keep theirs.
        futures_util::future::join_all(orders.into_iter().map(|order| self.place(order))).await
    }
}

/// [`place`], counted: how long the broker took to answer, and whether it
/// acknowledged.
async fn measured(
    producer: &RecordProducer,
    metrics: &Metrics,
    order: NewOrder,
    order_id: Uuid,
    key: Option<&str>,
) -> Result<Acked, ProduceError> {
    let started = Instant::now();
    let placed = place(producer, order, order_id, key).await;
    metrics
        .produce_seconds
        .observe(started.elapsed().as_secs_f64());
    if placed.is_ok() {
        metrics.orders_accepted.inc();
    }
    placed
}

/// Writes `order` as a record: the order with its id, total and time as
/// JSON, keyed by customer, with headers saying what it is (and the
/// `Idempotency-Key` it was placed with, if any).
async fn place(
    producer: &RecordProducer,
    order: NewOrder,
    order_id: Uuid,
    key: Option<&str>,
) -> Result<Acked, ProduceError> {
    let placed_at_ms = now_ms();
    let total_cents = order.total_cents();
    let record = Order {
        order_id: order_id.to_string(),
        customer_id: order.customer_id,
        items: order.items,
        total_cents,
        placed_at_ms,
    };
    // Serializing plain strings and integers cannot fail.
    let payload = serde_json::to_vec(&record).unwrap_or_default();
    let produced_at = placed_at_ms.to_string();
    let all = [
        (headers::CONTENT_TYPE, headers::JSON),
        (headers::ORDER_ID, record.order_id.as_str()),
        (headers::PRODUCED_AT_MS, produced_at.as_str()),
        (headers::IDEMPOTENCY_KEY, key.unwrap_or_default()),
    ];
    let with = if key.is_some() { &all[..] } else { &all[..3] };
    let delivered = producer
        .send(Outgoing {
            topic: None,
            key: &record.customer_id,
            payload: &payload,
            headers: with,
            timestamp_ms: placed_at_ms,
        })
        .await?;
    Ok(Acked {
        order_id,
        partition: delivered.partition,
        offset: delivered.offset,
        timestamp_ms: placed_at_ms,
    })
}
