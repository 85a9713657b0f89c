//! `GET /metrics`: the gateway's metrics in Prometheus' text format
//! (OpenMetrics), for a scraper. Open unless `--protect-metrics` (or
//! `--protect-reads`: group names and lags are reads), which put it behind
//! the API token (as a bearer, which scrapers send).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use wire::ErrorCode;

use super::AppState;
use super::error::ApiError;
use super::security;
use crate::metrics::gauge_value;

/// The content type of OpenMetrics' text format, which Prometheus reads.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`: the counters as they are, and the gauges set from the
/// hub and the latest flow snapshot (the one the dashboard shows).
pub(crate) async fn scrape(State(state): State<AppState>, request: Request) -> Response {
    let protected = state.config.protect_metrics || state.config.protect_reads;
    if protected && !security::carries_token(&state, request.headers()) {
        return ApiError::Unauthorized.into_response();
    }
    let core = &state.core;
    let metrics = &core.metrics;
    metrics.live_clients.set(gauge_value(core.live_clients()));
    metrics.live_topics.set(gauge_value(core.watches.count()));
    metrics.live_filters.set(gauge_value(core.filters.count()));
    if let Ok(snapshot) = core.flow.latest().await
        && snapshot.error.is_none()
    {
        // Groups no longer followed drop out rather than keep their last lag.
        metrics.group_lag.clear();
        for group in &snapshot.groups {
            for partition in &group.partitions {
                if let Some(lag) = partition.lag {
                    metrics
                        .group_lag
                        .get_or_create(&vec![
                            ("group", group.group_id.clone()),
                            ("partition", partition.partition.to_string()),
                        ])
                        .set(lag);
                }
            }
        }
    }
    let mut response = metrics.encode().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// Whether a request (its path within the API) is one whose refusals
/// [`count_refusal`] counts: the order routes'.
pub(crate) fn places_orders(path: &str) -> bool {
    matches!(path, "/orders" | "/orders/batch")
}

/// Of the API guard (`super::guard`): an order route's answer that is an
/// error counts as refused, under its error code.
pub(crate) fn count_refusal(state: &AppState, response: &Response) {
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        let code = serde_json::to_value(code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        state
            .core
            .metrics
            .orders_refused
            .get_or_create(&vec![("code", code)])
            .inc();
    }
}
