//! `GET /api/topics` and `POST /api/topics`: the cluster's topics, and a
//! new one with a chosen partition count.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rdkafka::error::RDKafkaErrorCode;
use wire::api::{NewTopic, TopicSummary};

use crate::AppState;
use crate::error::ApiError;
use crate::orders::StrictJson;
use crate::topic::CreateError;

/// `GET /api/topics`.
pub(crate) async fn list(
    State(state): State<AppState>,
) -> Result<Json<Vec<TopicSummary>>, ApiError> {
    state
        .topic
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
        .topic
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
        Err(CreateError::Exists) => Err(ApiError::TopicExists(topic.name)),
        Err(CreateError::Rejected(code)) => Err(refused(code)),
        Err(CreateError::Kafka(err)) => Err(ApiError::BrokerUnavailable(err.to_string())),
    }
}

/// The broker's refusal, named after the field it is about when it is.
fn refused(code: RDKafkaErrorCode) -> ApiError {
    let field = match code {
        RDKafkaErrorCode::InvalidReplicationFactor => "replication_factor",
        RDKafkaErrorCode::InvalidPartitions => "partitions",
        RDKafkaErrorCode::InvalidTopic => "name",
        _ => return ApiError::BrokerUnavailable(format!("the broker refused: {code}")),
    };
    ApiError::InvalidField {
        field: field.into(),
        message: format!("the broker refused: {code}"),
    }
}
