//! Names of the Kafka record headers the gateway writes on every order.
//!
//! Other producers on the same topic may write none of them; readers treat
//! every header as optional.

/// The media type of the record value: always [`JSON`] for orders.
pub const CONTENT_TYPE: &str = "content-type";
/// The order id, so a consumer can route or deduplicate without parsing the
/// value. An order placed with an `Idempotency-Key` has an id derived from the
/// key and the order: every record a retry of it writes has the same one.
pub const ORDER_ID: &str = "order-id";
/// The `Idempotency-Key` the order was placed with, if any.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// When the gateway handed the record to its producer, in milliseconds since
/// the Unix epoch (decimal text). The dashboard measures end-to-end latency from it.
pub const PRODUCED_AT_MS: &str = "produced-at-ms";

/// The value of [`CONTENT_TYPE`] for orders.
pub const JSON: &str = "application/json";
