//! Placing orders: one order becomes one record, keyed by customer, with
//! headers saying what it is; an order is acknowledged to its client only
//! after the broker acknowledged it to us. With an `Idempotency-Key`, a
//! retry of an acknowledged order gets the first acknowledgement back.

use std::sync::Arc;
use std::time::Instant;

use wire::{NewOrder, Order, OrderAccepted, headers};

use super::idempotency::{Begin, Idempotency};
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
    /// The Idempotency-Keys of acknowledged orders.
    idempotency: Idempotency,
}

impl Orders {
    pub(crate) fn new(
        producer: Arc<RecordProducer>,
        idempotency: Idempotency,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            producer,
            metrics,
            idempotency,
        }
    }

    /// Writes `order` and waits for the broker's acknowledgement.
    pub(crate) async fn place(&self, order: NewOrder) -> Result<OrderAccepted, PlaceError> {
        Ok(measured(&self.producer, &self.metrics, order).await?)
    }

    /// Places `order` once under `key`: a retry of an acknowledged order
    /// gets the first acknowledgement and writes nothing.
    pub(crate) async fn place_once(
        &self,
        key: &str,
        order: NewOrder,
    ) -> Result<Placed, PlaceError> {
        let fingerprint = self.idempotency.fingerprint(&order);
        match self.idempotency.begin(key, fingerprint, Instant::now()) {
            Begin::Replay(accepted) => Ok(Placed::Replayed(accepted)),
            Begin::InProgress => Err(PlaceError::KeyInProgress),
            Begin::Mismatch => Err(PlaceError::KeyReused),
            Begin::New(claim) => {
                // Placed in a task of its own: should the client go away
                // mid-request, the order is still either acknowledged (and the
                // key remembers it) or not (and the key is given back).
                let (producer, metrics) = (self.producer.clone(), self.metrics.clone());
                let placed = tokio::spawn(async move {
                    let placed = measured(&producer, &metrics, order).await;
                    if let Ok(accepted) = &placed {
                        claim.finish(accepted);
                    }
                    placed
                })
                .await
                .map_err(|e| PlaceError::Interrupted(e.to_string()))??;
                Ok(Placed::New(placed))
            }
        }
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
) -> Result<OrderAccepted, ProduceError> {
    let started = Instant::now();
    let placed = place(producer, order).await;
    metrics
        .produce_seconds
        .observe(started.elapsed().as_secs_f64());
    if placed.is_ok() {
        metrics.orders_accepted.inc();
    }
    placed
}

/// Writes `order` as a record: the order with its id, total and time as
/// JSON, keyed by customer, with headers saying what it is.
async fn place(producer: &RecordProducer, order: NewOrder) -> Result<OrderAccepted, ProduceError> {
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
    let delivered = producer
        .send(Outgoing {
            key: &record.customer_id,
            payload: &payload,
            headers: &[
                (headers::CONTENT_TYPE, headers::JSON),
                (headers::ORDER_ID, &record.order_id),
                (headers::PRODUCED_AT_MS, &produced_at),
            ],
            timestamp_ms: placed_at_ms,
        })
        .await?;
    Ok(OrderAccepted {
        order_id: record.order_id,
        topic: producer.topic().to_owned(),
        partition: delivered.partition,
        offset: delivered.offset,
        timestamp_ms: placed_at_ms,
    })
}
