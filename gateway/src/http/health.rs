//! `GET /api/health`: is the broker reachable, what does the topic look like.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use wire::Health;
use wire::api::HealthStatus;

use super::AppState;

/// 200 when the broker answers, the topic exists and is read; else 503.
pub(crate) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let mut health = state.core.health().await;
    health.access = wire::api::Access {
        writes_need_token: !state.config.writes_open(),
        reads_need_token: state.config.protect_reads,
    };
    let status = if health.status == HealthStatus::Ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}
