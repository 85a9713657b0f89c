//! Is the broker reachable, does the topic exist, is it being read: the
//! gateway's health, as `/api/health` reports it.

use std::time::Duration;

use wire::Health;
use wire::api::{BrokerHealth, HealthStatus, TopicHealth};

use super::cache::Cached;
use super::hub::{Frame, Hub};
use crate::kafka::admin::TopicAdmin;

/// The last look at the broker: `Ok(topic)` (None when the topic does not
/// exist yet) or why the broker could not be reached.
type Probe = Result<Option<TopicHealth>, String>;

/// The broker probe, shared by every request for a second: every open
/// dashboard polls health, and each poll would otherwise cost its own
/// metadata requests.
pub(crate) struct HealthCheck {
    probe: Cached<Probe>,
    bootstrap_servers: String,
}

impl HealthCheck {
    pub(crate) fn new(bootstrap_servers: &str) -> Self {
        Self {
            probe: Cached::new(Duration::from_secs(1)),
            bootstrap_servers: bootstrap_servers.to_owned(),
        }
    }

    /// Ok when the broker answers, the topic exists and `hub`'s consumer reads it.
    pub(crate) async fn check<F: Frame>(&self, admin: &TopicAdmin, hub: &Hub<F>) -> Health {
        let probe = self
            .probe
            .get(|| async { admin.describe().await.map_err(|e| e.to_string()) })
            .await;
        let (reachable, error, topic) = match probe {
            Ok(topic) => (true, None, topic),
            Err(error) => (false, Some(error), None),
        };
        let ok = reachable && topic.is_some() && hub.consuming();
        Health {
            status: if ok {
                HealthStatus::Ok
            } else {
                HealthStatus::Degraded
            },
            broker: BrokerHealth {
                bootstrap_servers: self.bootstrap_servers.clone(),
                reachable,
                error,
            },
            topic,
            live_clients: hub.clients(),
            access: wire::api::Access::default(),
        }
    }
}
