//! `POST /api/orders` and `POST /api/orders/batch`: parse, validate,
//! produce, acknowledge.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Instant;
use wire::NewOrder;
use wire::api::{BatchResult, BatchResults, MAX_BATCH_ORDERS, NewOrderBatch};

use crate::AppState;
use crate::error::ApiError;
use crate::idempotency::{self, Begin};

/// Largest request body the gateway reads; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
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
        let accepted = state.producer.send(order).await?;
        return Ok((StatusCode::ACCEPTED, Json(accepted)).into_response());
    };
    let fingerprint = state.idempotency.fingerprint(&order);
    match state.idempotency.begin(&key, fingerprint, Instant::now()) {
        Begin::Replay(accepted) => Ok((
            StatusCode::ACCEPTED,
            [(IDEMPOTENT_REPLAYED, "true")],
            Json(accepted),
        )
            .into_response()),
        Begin::InProgress => Err(ApiError::IdempotencyInProgress),
        Begin::Mismatch => Err(ApiError::InvalidField {
            field: "Idempotency-Key".into(),
            message: "this key was already used for a different order".into(),
        }),
        Begin::New(claim) => {
            // Placed in a task of its own: should the client go away
            // mid-request, the order is still either acknowledged (and the
            // key remembers it) or not (and the key is given back).
            let producer = state.producer.clone();
            let placed = tokio::spawn(async move {
                let placed = producer.send(order).await;
                if let Ok(accepted) = &placed {
                    claim.finish(accepted);
                }
                placed
            })
            .await
            .map_err(|e| ApiError::BrokerUnavailable(format!("placing the order failed: {e}")))??;
            Ok((StatusCode::ACCEPTED, Json(placed)).into_response())
        }
    }
}

/// Places many orders at once: all are checked first, and one invalid
/// order refuses the batch with a 422 naming it (`orders[3].customer_id`)
/// and nothing written. Then every order is produced at once (librdkafka
/// batches them) and the answer waits for every acknowledgement: `202` if
/// all are in Kafka, else `503`; either way one result per order, in the
/// order sent. Orders of one customer keep their order in the batch.
pub(crate) async fn place_batch(
    State(state): State<AppState>,
    StrictJson(batch): StrictJson<NewOrderBatch, MAX_BATCH_BODY_BYTES>,
) -> Result<Response, ApiError> {
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
    // Sends are enqueued in the order they are first polled: join_all
    // polls them in order, so each customer's orders keep theirs.
    let sent = futures_util::future::join_all(
        batch
            .orders
            .into_iter()
            .map(|order| state.producer.send(order)),
    )
    .await;
    let mut all_accepted = true;
    let results = sent
        .into_iter()
        .map(|placed| match placed {
            Ok(accepted) => BatchResult::Accepted(accepted),
            Err(err) => {
                all_accepted = false;
                BatchResult::Failed(ApiError::from(err).body())
            }
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
/// 128 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if idempotency::valid_key(key) => Ok(Some(key.to_owned())),
        _ => Err(ApiError::InvalidField {
            field: "Idempotency-Key".into(),
            message: format!(
                "must be 1 to {} visible ASCII characters",
                idempotency::MAX_KEY_BYTES
            ),
        }),
    }
}

/// A JSON body extractor whose every rejection is an [`ApiError`]: 415
/// without a JSON content type, 413 over `LIMIT` bytes, 400 when the body
/// is not JSON, 422 naming the field when it is JSON of the wrong shape.
/// (A route with a `LIMIT` other than [`MAX_BODY_BYTES`] sets the same
/// limit with `DefaultBodyLimit`, which is what the body read obeys.)
pub(crate) struct StrictJson<T, const LIMIT: usize = MAX_BODY_BYTES>(pub T);

impl<T: DeserializeOwned, S: Send + Sync, const LIMIT: usize> FromRequest<S>
    for StrictJson<T, LIMIT>
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: LIMIT }
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        parse(&bytes).map(StrictJson)
    }
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Parses a JSON body, telling syntax errors (400) from shape errors (422,
/// with the path of the offending field).
///
/// A number with no fraction counts as an integer, as JSON Schema (and so
/// the OpenAPI document) has it: `2.0` is a fine quantity.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: Value =
        serde_json::from_slice(bytes).map_err(|err| ApiError::MalformedJson(err.to_string()))?;
    // serde also accepts a struct written as an array of its fields; a
    // request body is only ever an object.
    if !value.is_object() {
        return Err(ApiError::InvalidField {
            field: "body".into(),
            message: "expected a JSON object".into(),
        });
    }
    integral_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        data_error(&path, err.inner())
    })
}

/// Turns every float with no fraction (in range) into an integer.
fn integral_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) else {
                return;
            };
            // Within ±2^53 every integer is exact in an f64.
            const EXACT: f64 = 9_007_199_254_740_992.0;
            if f.abs() <= EXACT {
                #[allow(clippy::cast_possible_truncation)]
                let integer = f as i64;
                *value = Value::from(integer);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

/// A 422 naming the field. serde reports a missing field at the path of the
/// object that lacks it, so its name is appended from the message.
fn data_error(path: &str, err: &serde_json::Error) -> ApiError {
    let full = err.to_string();
    // serde_json appends " at line L column C"; the field name says more.
    let message = full
        .rfind(" at line ")
        .map_or(full.as_str(), |i| &full[..i])
        .to_owned();
    let parent = if path == "." { "" } else { path };
    let field = match backticked(&message, "missing field `") {
        Some(name) if parent.is_empty() => name.to_owned(),
        Some(name) => format!("{parent}.{name}"),
        None if parent.is_empty() => "body".to_owned(),
        None => parent.to_owned(),
    };
    ApiError::InvalidField { field, message }
}

/// The text between `prefix` and the next backtick.
fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: &str) -> String {
        match parse::<NewOrder>(body.as_bytes()) {
            Err(ApiError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error for {body}, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        for body in [
            "{",
            "not json",
            r#"{"customer_id":"c","items":[]} trailing"#,
            "",
        ] {
            assert!(
                matches!(
                    parse::<NewOrder>(body.as_bytes()),
                    Err(ApiError::MalformedJson(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn shape_errors_name_the_field() {
        assert_eq!(field(r#"{"items":[]}"#), "customer_id");
        assert_eq!(field(r#"{"customer_id":"c"}"#), "items");
        assert_eq!(
            field(
                r#"{"customer_id":"c","items":[{"sku":"a","quantity":-1,"unit_price_cents":1}]}"#
            ),
            "items[0].quantity"
        );
        assert_eq!(
            field(r#"{"customer_id":"c","items":[{"sku":"a","unit_price_cents":1}]}"#),
            "items[0].quantity"
        );
        assert_eq!(field(r#"{"customer_id":7,"items":[]}"#), "customer_id");
        assert_eq!(field(r#"[1,2]"#), "body");
        assert_eq!(
            field(
                r#"{"customer_id":"c","items":[{"sku":"a","quantity":1.5,"unit_price_cents":1}]}"#
            ),
            "items[0].quantity"
        );
    }

    #[test]
    fn whole_numbers_written_as_floats_are_integers() {
        let order: NewOrder = parse(
            br#"{"customer_id":"c","items":[{"sku":"a","quantity":2.0,"unit_price_cents":1e3}]}"#,
        )
        .expect("parsed");
        assert_eq!(
            (order.items[0].quantity, order.items[0].unit_price_cents),
            (2, 1_000)
        );
    }

    #[test]
    fn unknown_fields_are_named() {
        assert_eq!(
            field(r#"{"customer_id":"c","items":[],"coupon":"x"}"#),
            "coupon"
        );
    }

    #[test]
    fn messages_leave_out_positions() {
        let Err(ApiError::InvalidField { message, .. }) = parse::<NewOrder>(br#"{"items":[]}"#)
        else {
            panic!("expected a field error");
        };
        assert_eq!(message, "missing field `customer_id`");
    }

    #[test]
    fn json_content_types_are_recognised() {
        let ok = |v: &str| is_json(Some(&header::HeaderValue::from_str(v).expect("header")));
        assert!(ok("application/json"));
        assert!(ok("Application/JSON; charset=utf-8"));
        assert!(!ok("text/plain"));
        assert!(!is_json(None));
    }
}
