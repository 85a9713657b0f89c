//! The Kafka flow dashboard, a Leptos app rendered in the browser.
//!
//! State logic lives in plain Rust modules tested natively:
//! - `feed`: the live feed as a reducer over the gateway's stream messages.
//! - `flow`: the flow's state (snapshots for the flow view and charts, the
//!   demo services' progress); `fanout`, each record's chips per service.
//! - `stats`: latency percentiles over a sliding window.
//! - `replay`: the replay form's draft, turned into a query.
//! - `form`: the order form's draft, parsed into an order.
//! - `backoff`: reconnect delays; `units`: durations in human units.
//! - `location`: the topic the page's URL names (`?topic=T`).
//!
//! The browser side is thin:
//! - `socket`: the client of the gateway's stream (reconnects with backoff,
//!   resumes, repaints at a pace fitted to the machine, see `pacing`) over
//!   `websocket` (the browser's WebSocket, its text read in bulk); `api`:
//!   REST calls; `clock`: the browser's time.
//! - `app`: the page's shell, laying out one panel per `*_view` module:
//!   `header_view` (topic and badges; `token_view` the API token),
//!   `order_view`, `load_view` (the spike), `services_view`,
//!   `partitions_view`, `groups_view`, `topics_view`, `replay_view`,
//!   `flow_view` (the flow, charts and latency) and `feed_view` (the live feed).

pub mod backoff;
pub mod diagram;
pub mod fanout;
pub mod feed;
pub mod flow;
pub mod form;
pub mod pacing;
pub mod replay;
pub mod search;
pub mod stats;
pub mod units;

mod api;
pub mod app;
mod clock;
pub mod feed_view;
pub mod filter_view;
pub mod flow_view;
pub mod groups_view;
pub mod header_view;
pub mod load_view;
pub mod location;
pub mod order_view;
pub mod partitions_view;
pub mod replay_view;
pub mod search_view;
pub mod services_view;
pub mod socket;
pub mod token_view;
pub mod topics_view;
mod websocket;

pub use app::App;
