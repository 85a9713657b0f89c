//! `POST /api/orders` and `POST /api/orders/batch`: parse, validate, place,
//! acknowledge.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use wire::NewOrder;
use wire::api::{BatchResult, BatchResults, MAX_BATCH_ORDERS, NewOrderBatch};

use super::AppState;
use super::error::ApiError;
use super::extract::StrictJson;
use super::ratelimit;
use crate::core::orders::Placed;
use crate::core::{MAX_KEY_BYTES, valid_key};

/// Largest body of `POST /api/orders/batch`: room for its
/// [`MAX_BATCH_ORDERS`] orders.
pub const MAX_BATCH_BODY_BYTES: usize = 1024 * 1024;

/// The request header naming a retry-safe request.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The response header saying the answer is the first acknowledgement of
/// an earlier request with the same key.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// Places an order: 202 with the broker's acknowledgement, or an [`ApiError`]
/// and nothing written. With an `Idempotency-Key`, a retry of an
/// acknowledged order gets the first acknowledgement and writes nothing.
pub(crate) async fn place(
    State(state): State<AppState>,
    headers: HeaderMap,
    StrictJson(order): StrictJson<NewOrder>,
) -> Result<Response, ApiError> {
    order.validate()?;
    let Some(key) = idempotency_key(&headers)? else {
        let accepted = state.core.orders.place(order).await?;
        return Ok((StatusCode::ACCEPTED, Json(accepted)).into_response());
    };
    Ok(match state.core.orders.place_once(&key, order).await? {
        Placed::New(accepted) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Placed::Replayed(accepted) => (
            StatusCode::ACCEPTED,
            [(IDEMPOTENT_REPLAYED, "true")],
            Json(accepted),
        )
            .into_response(),
    })
}

/// Places many orders at once: all are checked first, and one invalid
/// order refuses the batch with a 422 naming it (`orders[3].customer_id`)
/// and nothing written. Then every order is produced at once and the answer
/// waits for every acknowledgement: `202` if all are in Kafka, else `503`;
/// either way one result per order, in the order sent.
pub(crate) async fn place_batch(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    StrictJson(batch): StrictJson<NewOrderBatch, MAX_BATCH_BODY_BYTES>,
) -> Result<Response, ApiError> {
    // A key the batch would ignore is refused, not dropped: a client that
    // relies on it would place the batch twice on a retry.
    if headers.contains_key(IDEMPOTENCY_KEY) {
        return Err(ApiError::InvalidField {
            field: "Idempotency-Key".into(),
            message: "a batch takes no Idempotency-Key: a retried batch is placed again; \
                      send orders one by one (POST /api/orders) to retry them safely"
                .into(),
        });
    }
    if !(1..=MAX_BATCH_ORDERS).contains(&batch.orders.len()) {
        return Err(ApiError::InvalidField {
            field: "orders".into(),
            message: format!(
                "a batch has 1 to {MAX_BATCH_ORDERS} orders, got {}",
                batch.orders.len()
            ),
        });
    }
    for (i, order) in batch.orders.iter().enumerate() {
        order.validate().map_err(|err| ApiError::InvalidField {
            field: format!("orders[{i}].{}", err.field),
            message: err.message,
        })?;
    }
    // Every order counts against the client's write rate, before any is written.
    ratelimit::take_orders(&state, peer, batch.orders.len(), "orders")?;
    let placed = state.core.orders.place_all(batch.orders).await;
    let all_accepted = placed.iter().all(Result::is_ok);
    let results = placed
        .into_iter()
        .map(|placed| match placed {
            Ok(accepted) => BatchResult::Accepted(accepted),
            Err(err) => BatchResult::Failed(ApiError::from(err).body()),
        })
        .collect();
    let status = if all_accepted {
        StatusCode::ACCEPTED
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(BatchResults { results })).into_response())
}

/// The request's `Idempotency-Key`, if it has one; 422 if it is not 1 to
/// 128 visible ASCII characters, or if there are several.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidField {
            field: "Idempotency-Key".into(),
            message: "sent more than once: send one key".into(),
        });
    }
    match value.to_str() {
        Ok(key) if valid_key(key) => Ok(Some(key.to_owned())),
        _ => Err(ApiError::InvalidField {
            field: "Idempotency-Key".into(),
            message: format!("must be 1 to {} visible ASCII characters", MAX_KEY_BYTES),
        }),
    }
}
