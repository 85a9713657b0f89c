//! The Kafka flow dashboard, a Leptos app rendered in the browser.
//!
//! State logic lives in plain Rust modules tested natively:
//! - `feed`: the live feed as a reducer over the gateway's WebSocket messages.
//! - `flow`: the flow's state (snapshots for the flow view and charts, the
//!   demo services' fan-out).
//! - `stats`: latency percentiles over a sliding window.
//! - `replay`: the replay form's draft, turned into a query.
//! - `form`: the order form's draft, parsed into an order.
//! - `backoff`: reconnect delays.
//!
//! The browser side is thin:
//! - `live`: the WebSocket client (reconnects with backoff, renders at most once per frame).
//! - `api`: REST calls to the gateway.
//! - `app`: the components; `services_view` and `flow_view` the services
//!   card, the flow view, the charts and the latency table; `replay_view`
//!   the replay card; `load_view` the spike card;
//!   `topics_view` the topics card.

pub mod backoff;
pub mod feed;
pub mod flow;
pub mod form;
pub mod replay;
pub mod stats;

mod api;
pub mod app;
pub mod flow_view;
mod live;
pub mod load_view;
pub mod replay_view;
pub mod services_view;
pub mod topics_view;

pub use app::App;
