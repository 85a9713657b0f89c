//! `GET /api/services`, `PATCH /api/services/{name}` and
//! `POST /api/services/{name}/crash`: the demo services.

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

/// `POST /api/services/{name}/crash`: crash the service's newest member. It
/// leaves without committing; the partitions' next owner processes again
/// what it had processed since its last commit.
pub(crate) async fn crash(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServiceView>, ApiError> {
    Ok(Json(state.core.services.crash(&name).await?))
}
