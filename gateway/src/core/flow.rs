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
use wire::api::{GroupType, GroupView, TopicHealth};
use wire::stream::FlowSnapshot;

use super::hub::{Frame, Hub, encode};
use super::lag::{LagTracker, TimeIndex};
use super::load::Load;
use super::services::Services;
use crate::clock::now_ms;
use crate::kafka::admin::TopicAdmin;
use crate::kafka::groups::GroupReader;
use crate::kafka::protocol::Cluster;
use crate::sync::lock;

const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How long reading the KRaft quorum may hold a snapshot.
const QUORUM_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request waits for the first snapshot after start-up.
const FIRST_SNAPSHOT_WAIT: Duration = Duration::from_secs(10);

/// The latest snapshot, for REST requests.
#[derive(Clone)]
pub(crate) struct Flow {
    latest: watch::Receiver<Option<Arc<FlowSnapshot>>>,
    lag: Arc<Mutex<LagTracker>>,
}

/// Why there is no snapshot to show.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FlowError {
    #[error("the broker has not been read yet")]
    NotReadYet,
}

impl Flow {
    /// Each group's lag over the last `window_ms`.
    pub(crate) fn history(&self, window_ms: i64) -> Vec<wire::api::GroupHistory> {
        lock(&self.lag).history(window_ms, now_ms())
    }

    /// The latest snapshot; right after start-up, waits briefly for the first.
    pub(crate) async fn latest(&self) -> Result<Arc<FlowSnapshot>, FlowError> {
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
            .ok_or(FlowError::NotReadYet)
    }
}

/// Everything the poller reads from.
pub(crate) struct Sources<F> {
    pub(crate) topic: TopicAdmin,
    pub(crate) groups: GroupReader,
    /// Where the metadata quorum is read, for the gateway's own topic's
    /// snapshots; the cluster is the same for every topic.
    pub(crate) quorum: Option<Cluster>,
    /// The topic watch's sampled offsets and timestamps.
    pub(crate) index: Arc<TimeIndex>,
    /// The demo services and the load generator, on the gateway's own
    /// topic; another watched topic has neither.
    pub(crate) demo: Option<Demo>,
    pub(crate) hub: Arc<Hub<F>>,
}

/// What the gateway itself runs on its topic.
#[derive(Clone)]
pub(crate) struct Demo {
    pub(crate) services: Arc<Services>,
    pub(crate) load: Arc<Load>,
}

/// Starts the pollers; they stop at `shutdown`.
pub(crate) fn spawn<F: Frame>(sources: Sources<F>, shutdown: &CancellationToken) -> Flow {
    let (sender, latest) = watch::channel(None);
    let Sources {
        topic,
        groups,
        quorum,
        index,
        demo,
        hub,
    } = sources;
    let lag = Arc::new(Mutex::new(LagTracker::default()));
    if let Some(demo) = &demo {
        tokio::spawn(progress(
            demo.services.clone(),
            hub.clone(),
            shutdown.clone(),
        ));
    }
    tokio::spawn(snapshots(
        Readers {
            topic,
            groups: Arc::new(Mutex::new(groups)),
            quorum: quorum.map(tokio::sync::Mutex::new),
            index,
            lag: lag.clone(),
            demo,
        },
        hub,
        sender,
        shutdown.clone(),
    ));
    Flow { latest, lag }
}

/// What a snapshot is read from.
struct Readers {
    topic: TopicAdmin,
    /// Only the snapshot task uses it; the mutex lets the blocking pool borrow it.
    groups: Arc<Mutex<GroupReader>>,
    quorum: Option<tokio::sync::Mutex<Cluster>>,
    index: Arc<TimeIndex>,
    lag: Arc<Mutex<LagTracker>>,
    demo: Option<Demo>,
}

async fn snapshots<F: Frame>(
    readers: Readers,
    hub: Arc<Hub<F>>,
    latest: watch::Sender<Option<Arc<FlowSnapshot>>>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(SNAPSHOT_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let snapshot = take(&readers).await;
        hub.set_flow(encode(&ServerMessage::Flow(snapshot.clone())));
        latest.send_replace(Some(Arc::new(snapshot)));
    }
    // Closing librdkafka clients blocks: not on a runtime thread.
    tokio::task::spawn_blocking(move || drop(readers));
}

async fn take(readers: &Readers) -> FlowSnapshot {
    let Readers {
        topic,
        groups,
        quorum,
        index,
        lag,
        demo,
    } = readers;
    let mut snapshot = FlowSnapshot {
        at_ms: now_ms(),
        topic: None,
        error: None,
        groups: Vec::new(),
        group_types_error: None,
        quorum: None,
        quorum_error: None,
        services: Vec::new(),
        load: demo.as_ref().and_then(|d| d.load.status()),
    };
    match topic.describe().await {
        Err(err) => snapshot.error = Some(err.to_string()),
        Ok(None) => {}
        Ok(Some(described)) => {
            let (reader, partitions) = (groups.clone(), described.clone());
            let read = tokio::task::spawn_blocking(move || {
                let mut reader = lock(&reader);
                let groups = reader.describe(&partitions);
                (groups, reader.types_error().map(str::to_owned))
            })
            .await
            .map(|(groups, types_error)| {
                snapshot.group_types_error = types_error;
                groups
            });
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
            // Stamped when the log ends were read, not when the reads began:
            // rates are the log ends' change over the time between stamps,
            // and a slow read of the groups must not fold seconds of
            // records into one.
            snapshot.at_ms = now_ms();
            with_log_end(&mut snapshot.groups, &latest);
            let earliest = demo
                .as_ref()
                .map(|d| d.services.group_ids())
                .unwrap_or_default();
            lock(lag).annotate(
                &mut snapshot.groups,
                &latest,
                index,
                &earliest,
                snapshot.at_ms,
            );
            snapshot.topic = Some(latest);
        }
    }
    if let Some(cluster) = quorum {
        let read = tokio::time::timeout(QUORUM_TIMEOUT, async {
            cluster.lock().await.describe_quorum().await
        });
        match read.await {
            Ok(Ok(view)) => snapshot.quorum = Some(view),
            Ok(Err(err)) => snapshot.quorum_error = Some(err.to_string()),
            Err(_) => snapshot.quorum_error = Some("the quorum did not answer in 2 s".into()),
        }
    }
    // After the groups: counters are then at least as new as the offsets.
    if let Some(demo) = demo {
        snapshot.services = demo.services.views();
    }
    snapshot
}

async fn progress<F: Frame>(
    services: Arc<Services>,
    hub: Arc<Hub<F>>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for (service, orders) in services.take_processed() {
            hub.publish_processed(encode(&ServerMessage::Processed { service, orders }));
        }
    }
}

/// Sets each group's log-end offsets and lag from `topic`: read the
/// watermarks after the committed offsets, as `kafka-consumer-groups` does.
///
/// A share group's lag is its share coordinator's count (records not yet
/// delivered to completion), not a difference of offsets: only its log
/// end moves.
fn with_log_end(groups: &mut [GroupView], topic: &TopicHealth) {
    for group in groups {
        let share = group.group_type == GroupType::Share;
        for p in &mut group.partitions {
            if let Some(now) = topic.partitions.iter().find(|t| t.id == p.partition) {
                p.log_end = now.high_watermark.max(p.log_end);
                if !share {
                    p.lag = p.committed.map(|c| (p.log_end - c).max(0));
                }
            }
        }
    }
}
