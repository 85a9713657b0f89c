//! `GET /api/services` and `PATCH /api/services/{name}`: the demo services.

use axum::Json;
use axum::extract::{Path, State};
use wire::services::{ServiceUpdate, ServiceView};

use super::AppState;
use super::error::ApiError;
use super::extract::StrictJson;

/// `GET /api/services`.
pub(crate) async fn list(State(state): State<AppState>) -> Json<Vec<ServiceView>> {
    Json(state.core.services.views())
}

/// `PATCH /api/services/{name}`: stop, start, scale or retune one service.
/// Answers once the change is made: stopped members have committed and left
/// the group, new members are joining it.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    StrictJson(update): StrictJson<ServiceUpdate>,
) -> Result<Json<ServiceView>, ApiError> {
    update.validate()?;
    match state.core.services.update(&name, &update).await {
        Some(view) => Ok(Json(view)),
        None => Err(ApiError::NoSuchService(name)),
    }
}
