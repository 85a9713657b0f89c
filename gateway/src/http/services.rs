//! `GET /api/services`, `PATCH /api/services/{name}` and
//! `POST /api/services/{name}/crash`: the demo services.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use wire::services::{ServiceUpdate, ServiceView};

use super::AppState;
use super::error::ApiError;
use super::extract::StrictJson;
use crate::core::services::Changed;

/// `GET /api/services`.
pub(crate) async fn list(State(state): State<AppState>) -> Json<Vec<ServiceView>> {
    Json(state.core.services.views())
}

/// `PATCH /api/services/{name}`: stop, start, scale or retune one service.
/// 200 once the change is made (stopped members have committed and left
/// the group, new members are joining it); 202 with `changing: true` when
/// members are still stopping a second before the request's time limit:
/// the change goes on, and `GET /api/services` shows when it is done.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    StrictJson(update): StrictJson<ServiceUpdate>,
) -> Result<(StatusCode, Json<ServiceView>), ApiError> {
    update.validate()?;
    let within = state
        .config
        .request_timeout()
        .saturating_sub(Duration::from_secs(1));
    match state.core.services.update(&name, update, within).await {
        Some(Changed::Done(view)) => Ok((StatusCode::OK, Json(view))),
        Some(Changed::Going(view)) => Ok((StatusCode::ACCEPTED, Json(view))),
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
