//! `GET /api/health`: is the broker reachable, what does the topic look like.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tokio::sync::Mutex;
use tokio::time::Instant;
use wire::Health;
use wire::api::{BrokerHealth, HealthStatus, TopicHealth};

use crate::AppState;

/// How long one look at the broker answers every health request. Every open
/// dashboard polls health; without this, each poll would cost a metadata
/// request plus one watermark request per partition.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// The last look at the broker: `Ok(topic)` (None when the topic does not
/// exist yet) or why the broker could not be reached.
type Probe = Result<Option<TopicHealth>, String>;

/// Caches the broker probe. A tokio mutex, held across the probe on purpose:
/// concurrent health requests wait for one probe instead of each starting
/// their own blocking metadata calls.
#[derive(Default)]
pub(crate) struct HealthCache(Mutex<Option<(Instant, Probe)>>);

pub(crate) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let probe = {
        let mut cached = state.health.0.lock().await;
        match &*cached {
            Some((at, probe)) if at.elapsed() < FRESH_FOR => probe.clone(),
            _ => {
                let probe = state.topic.describe().await.map_err(|e| e.to_string());
                *cached = Some((Instant::now(), probe.clone()));
                probe
            }
        }
    };
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
