//! `GET /api/topics` and `POST /api/topics`: the cluster's topics, and a
//! new one with a chosen partition count.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use wire::api::{NewTopic, TopicSummary};

use super::AppState;
use super::error::ApiError;
use super::extract::StrictJson;

/// `GET /api/topics`.
pub(crate) async fn list(
    State(state): State<AppState>,
) -> Result<Json<Vec<TopicSummary>>, ApiError> {
    Ok(Json(state.core.topics().await?))
}

/// `POST /api/topics`: 201 once the broker created it, 409 when it exists.
pub(crate) async fn create(
    State(state): State<AppState>,
    StrictJson(topic): StrictJson<NewTopic>,
) -> Result<(StatusCode, Json<TopicSummary>), ApiError> {
    topic.validate()?;
    let created = state.core.create_topic(topic).await?;
    Ok((StatusCode::CREATED, Json(created)))
}
