//! The flow's state: the topic's partitions, every consumer group reading it
//! and the demo services, read once a second and pushed to every browser;
//! and the demo services' progress, pushed a few times a second.
//!
//! One poller for all browsers: how many dashboards are open does not change
//! how often the broker is asked.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use wire::ServerMessage;
use wire::live::FlowSnapshot;

use crate::error::ApiError;
use crate::groups::{self, GroupReader};
use crate::live::{Hub, frame};
use crate::load::Load;
use crate::produce::now_ms;
use crate::services::Services;
use crate::sync::lock;
use crate::topic::Topic;

const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How long a request waits for the first snapshot after start-up.
const FIRST_SNAPSHOT_WAIT: Duration = Duration::from_secs(10);

/// The latest snapshot, for REST requests.
#[derive(Clone)]
pub(crate) struct Flow {
    latest: watch::Receiver<Option<Arc<FlowSnapshot>>>,
}

impl Flow {
    /// The latest snapshot; right after start-up, waits briefly for the first.
    pub(crate) async fn latest(&self) -> Result<Arc<FlowSnapshot>, ApiError> {
        let mut latest = self.latest.clone();
        let first = async {
            latest
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|s| s.clone())
        };
        tokio::time::timeout(FIRST_SNAPSHOT_WAIT, first)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| ApiError::BrokerUnavailable("the broker has not been read yet".into()))
    }
}

/// Everything the poller reads from.
pub(crate) struct Sources {
    pub(crate) topic: Topic,
    pub(crate) groups: GroupReader,
    pub(crate) services: Arc<Services>,
    pub(crate) load: Arc<Load>,
    pub(crate) hub: Arc<Hub>,
}

/// Starts the pollers; they stop at `shutdown`.
pub(crate) fn spawn(sources: Sources, shutdown: &CancellationToken) -> Flow {
    let (sender, latest) = watch::channel(None);
    let Sources {
        topic,
        groups,
        services,
        load,
        hub,
    } = sources;
    tokio::spawn(snapshots(
        Readers {
            topic,
            groups: Arc::new(Mutex::new(groups)),
            services: services.clone(),
            load,
        },
        hub.clone(),
        sender,
        shutdown.clone(),
    ));
    tokio::spawn(progress(services, hub, shutdown.clone()));
    Flow { latest }
}

/// What a snapshot is read from.
struct Readers {
    topic: Topic,
    /// Only the snapshot task uses it; the mutex lets the blocking pool borrow it.
    groups: Arc<Mutex<GroupReader>>,
    services: Arc<Services>,
    load: Arc<Load>,
}

async fn snapshots(
    readers: Readers,
    hub: Arc<Hub>,
    latest: watch::Sender<Option<Arc<FlowSnapshot>>>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(SNAPSHOT_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let snapshot = take(&readers).await;
        hub.set_flow(frame(&ServerMessage::Flow(snapshot.clone())));
        latest.send_replace(Some(Arc::new(snapshot)));
    }
}

async fn take(readers: &Readers) -> FlowSnapshot {
    let Readers {
        topic,
        groups,
        services,
        load,
    } = readers;
    let mut snapshot = FlowSnapshot {
        at_ms: now_ms(),
        topic: None,
        error: None,
        groups: Vec::new(),
        services: Vec::new(),
        load: load.status(),
    };
    match topic.describe().await {
        Err(err) => snapshot.error = Some(err.to_string()),
        Ok(None) => {}
        Ok(Some(described)) => {
            let (reader, partitions) = (groups.clone(), described.clone());
            let read = tokio::task::spawn_blocking(move || {
                let mut reader = lock(&reader);
                reader.describe(&partitions)
            })
            .await;
            match read {
                Ok(Ok(groups)) => snapshot.groups = groups,
                Ok(Err(err)) => snapshot.error = Some(err.to_string()),
                Err(err) => snapshot.error = Some(format!("reading groups failed: {err}")),
            }
            // Log ends read after the commits: lag is never understated.
            let latest = match topic.describe().await {
                Ok(Some(latest)) => latest,
                _ => described,
            };
            groups::with_log_end(&mut snapshot.groups, &latest);
            snapshot.topic = Some(latest);
        }
    }
    // After the groups: counters are then at least as new as the offsets.
    snapshot.services = services.views();
    snapshot
}

async fn progress(services: Arc<Services>, hub: Arc<Hub>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for (service, orders) in services.take_processed() {
            hub.publish_processed(frame(&ServerMessage::Processed { service, orders }));
        }
    }
}
