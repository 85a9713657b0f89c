//! `POST`, `GET` and `DELETE /api/load`: the load generator.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use wire::load::{LoadRequest, LoadStatus};

use super::AppState;
use super::error::ApiError;
use super::extract::StrictJson;
use super::ratelimit;

/// `POST /api/load`: 202 with the run's status; 409 while one runs. Its
/// orders count against the client's write rate.
pub(crate) async fn start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    StrictJson(request): StrictJson<LoadRequest>,
) -> Result<(StatusCode, Json<LoadStatus>), ApiError> {
    request.validate()?;
    let orders = usize::try_from(request.orders).unwrap_or(usize::MAX);
    ratelimit::take_orders(&state, peer, orders, "orders")?;
    let status = state.core.start_load(request)?;
    Ok((StatusCode::ACCEPTED, Json(status)))
}

/// `GET /api/load`: the last run.
pub(crate) async fn status(State(state): State<AppState>) -> Result<Json<LoadStatus>, ApiError> {
    state.core.load.status().map(Json).ok_or(ApiError::NoLoad)
}

/// `DELETE /api/load`: stops sending; orders already sent are acknowledged
/// or failed as usual.
pub(crate) async fn cancel(State(state): State<AppState>) -> Result<Json<LoadStatus>, ApiError> {
    state.core.load.cancel().map(Json).ok_or(ApiError::NoLoad)
}
