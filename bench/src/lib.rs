//! Load tools for the gateway, driven by the `soak` and `bench` binaries.
//!
//! Everything here measures a *running* gateway from outside, the way a
//! client sees it: HTTP requests, WebSocket frames, and the process's CPU
//! and memory from `/proc`. Load that measures latency is open-loop: each
//! order has an intended send time fixed by the rate, and its latency is
//! counted from that time, so a slow answer cannot hold back the next
//! request and hide its own delay (coordinated omission).

pub mod browser;
pub mod gateway;
pub mod kafka_tools;
pub mod live;
pub mod load;
pub mod process;
pub mod report;
pub mod search;
pub mod stats;
