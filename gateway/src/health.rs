//! `GET /api/health`: is the broker reachable, what does the topic look like.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use wire::Health;
use wire::api::{BrokerHealth, HealthStatus, TopicHealth};

use crate::AppState;

/// The last look at the broker: `Ok(topic)` (None when the topic does not
/// exist yet) or why the broker could not be reached.
pub(crate) type Probe = Result<Option<TopicHealth>, String>;

pub(crate) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let topic = state.topic.clone();
    let probe = state
        .health
        .get(|| async move { topic.describe().await.map_err(|e| e.to_string()) })
        .await;
    let (reachable, error, topic) = match probe {
        Ok(topic) => (true, None, topic),
        Err(error) => (false, Some(error), None),
    };
    let ok = reachable && topic.is_some() && state.hub.consuming();
    let health = Health {
        status: if ok {
            HealthStatus::Ok
        } else {
            HealthStatus::Degraded
        },
        broker: BrokerHealth {
            bootstrap_servers: state.config.brokers.clone(),
            reachable,
            error,
        },
        topic,
        live_clients: state.hub.clients(),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}
