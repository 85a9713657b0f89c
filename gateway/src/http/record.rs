//! `GET /api/record?topic&partition&offset`: one record, whole, for the
//! page's "load all" on a record the feed shows cut. The shape is the one
//! filters test (`kafka::record::document`), uncut up to
//! `kafka::record::MAX_RECORD_BYTES`; larger records are a 413.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::ApiError;
use super::{AppState, extract};
use crate::admission::Client;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordQuery {
    topic: Option<String>,
    partition: i32,
    offset: i64,
}

/// `GET /api/record`.
pub(crate) async fn record(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let q: RecordQuery = extract::query(query.as_deref().unwrap_or(""))?;
    let invalid = |field: &str, message: &str| ApiError::InvalidField {
        field: field.into(),
        message: message.into(),
    };
    let topic = q.topic.unwrap_or_else(|| state.config.topic.clone());
    if !wire::api::is_topic_name(&topic) {
        return Err(invalid("topic", wire::api::TOPIC_NAME_RULE));
    }
    if q.partition < 0 {
        return Err(invalid("partition", "must be 0 or more"));
    }
    if q.offset < 0 {
        return Err(invalid("offset", "must be 0 or more"));
    }
    if topic != state.config.topic {
        state
            .core
            .watches
            .allowed_and_existing(&topic)
            .await
            .map_err(ApiError::Watch)?;
    }
    let document = state
        .core
        .replays
        .record(&topic, q.partition, q.offset, Client::of(peer.ip()))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        document,
    )
        .into_response())
}
