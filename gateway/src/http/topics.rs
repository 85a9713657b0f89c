//! `GET /api/topics` and `POST /api/topics`: the cluster's topics, and a
//! new one with a chosen partition count.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use wire::api::{NewTopic, TopicSummary};

use super::AppState;
use super::error::{ApiError, topic_not_created};
use super::extract::StrictJson;

/// `GET /api/topics`.
pub(crate) async fn list(
    State(state): State<AppState>,
) -> Result<Json<Vec<TopicSummary>>, ApiError> {
    state
        .core
        .admin
        .list_all()
        .await
        .map(Json)
        .map_err(|e| ApiError::BrokerUnavailable(e.to_string()))
}

/// `POST /api/topics`: 201 once the broker created it, 409 when it exists.
pub(crate) async fn create(
    State(state): State<AppState>,
    StrictJson(topic): StrictJson<NewTopic>,
) -> Result<(StatusCode, Json<TopicSummary>), ApiError> {
    topic.validate()?;
    let replication = topic
        .replication_factor
        .unwrap_or(state.config.replication_factor);
    match state
        .core
        .admin
        .create(&topic.name, topic.partitions, replication)
        .await
    {
        Ok(()) => Ok((
            StatusCode::CREATED,
            Json(TopicSummary {
                name: topic.name,
                partitions: usize::try_from(topic.partitions).unwrap_or(0),
            }),
        )),
        Err(err) => Err(topic_not_created(topic.name, err)),
    }
}
