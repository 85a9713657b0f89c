//! `GET /api/groups`: the groups reading the topic; `GET /api/quorum`: the
//! KRaft metadata quorum.

use axum::Json;
use axum::extract::State;
use wire::api::{GroupView, QuorumView};

use super::AppState;
use super::error::ApiError;

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
