//! `GET /api/groups`: the consumer groups reading the topic.

use axum::Json;
use axum::extract::State;
use wire::api::GroupView;

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
