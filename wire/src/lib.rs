//! The contract between the gateway and the dashboard, defined once.
//!
//! - [`order`]: what a client sends to `POST /api/orders`, the rules it must
//!   satisfy, and the record the gateway writes to Kafka.
//! - [`api`]: the other REST bodies: the acknowledgement, the one error shape,
//!   health, groups, replay and topics.
//! - [`stream`]: the messages of the `GET /ws` stream, the stream protocol.
//! - [`json`]: a record's JSON value, sent as its producer's text.
//! - [`load`]: the load generator's request and progress.
//! - [`services`]: the demo services (consumer groups the gateway runs) and
//!   the commands that stop, start and scale them.
//! - [`headers`]: the Kafka record headers the gateway writes.
//! - [`scan`]: the parts of a JSON text found by its structure alone, for
//!   counting the stream's records without reading them.
//!
//! This crate is plain data and pure functions (serde only), so it compiles
//! both natively and to WebAssembly. No Kafka type appears here: the browser
//! never sees one.

pub mod api;
pub mod headers;
pub mod integral;
pub mod json;
pub mod load;
pub mod order;
pub mod scan;
pub mod search;
pub mod services;
pub mod stream;

pub use api::{ErrorBody, ErrorCode, Health, OrderAccepted};
pub use json::JsonValue;
pub use order::{FieldError, NewOrder, Order, OrderItem};
pub use stream::{LiveRecord, Payload, RecordHeader, SchemaRef, ServerMessage};
