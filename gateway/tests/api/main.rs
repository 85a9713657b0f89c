//! Black-box tests of the gateway over HTTP and WebSocket, against a real
//! Apache Kafka broker (`scripts/kafka.sh start`, or `KAFKA_BROKERS`).
//! One binary, so it compiles once.

// A test binary: nothing here is a public API.
#![allow(unreachable_pub)]

mod broker;
mod dashboard;
mod faults;
mod filters;
mod formats;
mod groups;
mod helpers;
mod idempotency;
mod kafka4;
mod live;
mod load;
mod metrics;
mod network;
mod orders;
mod record;
mod replay;
mod resume;
mod sasl;
mod search;
mod security;
mod services;
mod shutdown;
mod tls;
mod topics;
mod watching;
