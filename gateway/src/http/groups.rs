//! `GET /api/groups`: the groups reading the topic; `GET
//! /api/groups/history`: their lag over a window; `GET /api/quorum`: the
//! KRaft metadata quorum.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Deserialize;
use wire::api::{GroupHistory, GroupView, QuorumView};

use super::error::ApiError;
use super::{AppState, extract};

/// The groups of the latest flow snapshot (at most about a second old).
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Vec<GroupView>>, ApiError> {
    let snapshot = state.core.flow.latest().await?;
    match &snapshot.error {
        Some(error) => Err(ApiError::BrokerUnavailable(error.clone())),
        None => Ok(Json(snapshot.groups.clone())),
    }
}

/// The quorum of the latest flow snapshot (at most about a second old).
pub(crate) async fn quorum(State(state): State<AppState>) -> Result<Json<QuorumView>, ApiError> {
    let snapshot = state.core.flow.latest().await?;
    match (&snapshot.quorum, &snapshot.quorum_error) {
        (Some(quorum), _) => Ok(Json(quorum.clone())),
        (None, error) => {
            Err(ApiError::BrokerUnavailable(error.clone().unwrap_or_else(
                || "the quorum has not been read yet".into(),
            )))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    window: Option<String>,
}

/// The windows the page offers, and what they are in milliseconds.
pub(crate) const WINDOWS: [(&str, i64); 3] = [("2m", 120_000), ("15m", 900_000), ("1h", 3_600_000)];

/// `GET /api/groups/history?window=2m|15m|1h` (default 15m).
pub(crate) async fn history(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<GroupHistory>>, ApiError> {
    let q: HistoryQuery = extract::query(query.as_deref().unwrap_or(""))?;
    let window = q.window.as_deref().unwrap_or("15m");
    let Some(&(_, window_ms)) = WINDOWS.iter().find(|(name, _)| *name == window) else {
        return Err(ApiError::InvalidField {
            field: "window".into(),
            message: "must be 2m, 15m or 1h".into(),
        });
    };
    Ok(Json(state.core.flow.history(window_ms)))
}
