//! The Kafka flow dashboard, a Leptos app rendered in the browser.
//!
//! State logic lives in plain Rust modules tested natively:
//! - `feed`: the live feed as a reducer over the gateway's WebSocket messages.
//! - `form`: the order form's draft, parsed into an order.
//! - `backoff`: reconnect delays.
//!
//! The browser side is thin:
//! - `live`: the WebSocket client (reconnects with backoff, renders at most once per frame).
//! - `api`: REST calls to the gateway.
//! - `app`: the components.

pub mod backoff;
pub mod feed;
pub mod form;

mod api;
pub mod app;
mod live;

pub use app::App;
