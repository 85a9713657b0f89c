//! `GET /api/health`: is the broker reachable, what does the topic look like.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use wire::Health;
use wire::api::{BrokerHealth, HealthStatus};

use crate::AppState;

pub(crate) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let (reachable, error, topic) = match state.topic.describe().await {
        Ok(topic) => (true, None, topic),
        Err(err) => (false, Some(err.to_string()), None),
    };
    let ok = reachable && topic.is_some() && state.hub.consuming();
    let health = Health {
        status: if ok {
            HealthStatus::Ok
        } else {
            HealthStatus::Degraded
        },
        broker: BrokerHealth {
            bootstrap_servers: state.brokers.to_string(),
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
