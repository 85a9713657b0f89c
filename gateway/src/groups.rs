//! The consumer groups reading the topic, as the broker sees them: state,
//! members and the partitions each owns, committed offsets and lag.
//!
//! These are groups the dashboard did not create (the tutorial's
//! `order-group`, your services), read through the admin protocol only:
//! describing a group and fetching its committed offsets never joins it, so
//! looking never triggers a rebalance or moves an offset.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::groups::GroupInfo;
use rdkafka::{Offset, TopicPartitionList};
use wire::api::{GroupMember, GroupPartition, GroupView, TopicHealth};

use crate::config::Config;
use crate::error::ApiError;
use crate::{AppState, assignment, kafka};

/// `GET /api/groups`: the groups of the latest flow snapshot (at most about
/// a second old).
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Vec<GroupView>>, ApiError> {
    let snapshot = state.flow.latest().await?;
    match &snapshot.error {
        Some(error) => Err(ApiError::BrokerUnavailable(error.clone())),
        None => Ok(Json(snapshot.groups.clone())),
    }
}

/// How often the cluster's whole group list is read (and every group
/// described) to find groups that started reading the topic. In between,
/// only the groups already followed are described: a cluster may hold
/// thousands of groups, and describing them all every second would load
/// its coordinators for nothing.
const DISCOVER_EVERY: Duration = Duration::from_secs(10);
/// Groups without a member on the topic and not yet followed whose offsets
/// are checked per discovery, at most: each check costs a client and a round
/// trip. A group once seen with a member on the topic stays followed while
/// it is empty (a service that is down), so only groups never seen active
/// wait for a check.
const PROBES_PER_DISCOVERY: usize = 20;
/// Groups followed at once (each has an offset-fetching client).
const MAX_FOLLOWED: usize = 64;
/// How long a group found not to read the topic is left alone.
const RECHECK_AFTER: Duration = Duration::from_secs(300);
const TIMEOUT: Duration = Duration::from_secs(5);

/// Reads the consumer groups of the topic, refresh after refresh, keeping
/// its clients: one to list groups, and one per group that reads the topic
/// to fetch that group's committed offsets.
pub(crate) struct GroupReader {
    config: Arc<Config>,
    lister: Option<BaseConsumer>,
    /// Offset readers of the groups that read the topic, by group id.
    followed: HashMap<String, BaseConsumer>,
    /// Each followed group's committed offsets as last read: shown again
    /// when one read fails (a timeout on a busy broker), so one group's
    /// hiccup does not blank the whole view.
    last_committed: HashMap<String, HashMap<i32, Option<i64>>>,
    /// Groups found not to read the topic, and when.
    ignored: HashMap<String, Instant>,
    /// Groups always shown, committed offsets or not: the demo services'.
    pinned: Vec<String>,
    last_discovery: Option<Instant>,
}

impl GroupReader {
    pub(crate) fn new(config: Arc<Config>, pinned: Vec<String>) -> Self {
        Self {
            config,
            lister: None,
            followed: HashMap::new(),
            last_committed: HashMap::new(),
            ignored: HashMap::new(),
            pinned,
            last_discovery: None,
        }
    }

    /// Every consumer group with a member assigned to `topic` or an offset
    /// committed on it, with the log-end offsets and lag as of `topic`: pass
    /// a `topic` read after this call (see [`with_log_end`]) so lag is never
    /// computed against a log end older than the commit. Blocking: call from
    /// the blocking pool.
    pub(crate) fn describe(&mut self, topic: &TopicHealth) -> Result<Vec<GroupView>, KafkaError> {
        let lister = match &mut self.lister {
            Some(lister) => lister,
            empty => empty.insert(kafka::admin_consumer(&self.config, None)?),
        };
        let now = Instant::now();
        let discover = self
            .last_discovery
            .is_none_or(|at| now.duration_since(at) >= DISCOVER_EVERY);
        let lists = if discover {
            self.last_discovery = Some(now);
            vec![lister.fetch_group_list(None, TIMEOUT)?]
        } else {
            let mut known: Vec<&String> = self.followed.keys().chain(&self.pinned).collect();
            known.sort_unstable();
            known.dedup();
            let mut lists = Vec::with_capacity(known.len());
            let mut failure = None;
            for group in known {
                match lister.fetch_group_list(Some(group), TIMEOUT) {
                    Ok(list) => lists.push(list),
                    Err(err) => failure = Some(err),
                }
            }
            // One group failing to be described is not the broker failing.
            if let Some(err) = failure
                && lists.is_empty()
            {
                return Err(err);
            }
            lists
        };
        let listed: Vec<&GroupInfo> = lists.iter().flat_map(|l| l.groups()).collect();
        self.ignored
            .retain(|_, since| now.duration_since(*since) < RECHECK_AFTER);
        if discover {
            self.followed
                .retain(|group, _| listed.iter().any(|g| g.name() == group));
        }

        let mut probes = 0;
        let mut views = Vec::new();
        // The first offset read that failed with nothing to fall back on.
        let mut failure = None;
        // Connect workers and other non-consumer protocols have no offsets here.
        let consumer_groups = listed
            .into_iter()
            .filter(|g| g.protocol_type() == "consumer" || g.protocol_type().is_empty());
        for group in consumer_groups {
            let name = group.name();
            let mut owners: HashMap<i32, String> = HashMap::new();
            let members: Vec<GroupMember> = group
                .members()
                .iter()
                .map(|m| {
                    let partitions: Vec<i32> = m
                        .assignment()
                        .and_then(assignment::decode)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|(t, _)| *t == topic.name)
                        .flat_map(|(_, ps)| ps)
                        .collect();
                    for &p in &partitions {
                        owners.insert(p, m.client_id().to_owned());
                    }
                    GroupMember {
                        member_id: m.id().to_owned(),
                        client_id: m.client_id().to_owned(),
                        host: m.client_host().to_owned(),
                        partitions,
                    }
                })
                .collect();
            let pinned = self.pinned.iter().any(|p| p == name);
            if owners.is_empty() && !pinned && !self.followed.contains_key(name) {
                if self.ignored.contains_key(name) || probes == PROBES_PER_DISCOVERY {
                    continue;
                }
                probes += 1;
            }
            let full = self.followed.len() >= MAX_FOLLOWED;
            let reader = match self.followed.entry(name.to_owned()) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(_) if full => {
                    tracing::debug!(group = name, "following too many groups; skipping one");
                    continue;
                }
                Entry::Vacant(entry) => {
                    entry.insert(kafka::admin_consumer(&self.config, Some(name))?)
                }
            };
            let committed = match committed_offsets(reader, topic) {
                Ok(committed) => {
                    self.last_committed
                        .insert(name.to_owned(), committed.clone());
                    committed
                }
                Err(err) => match self.last_committed.get(name) {
                    Some(last) => {
                        tracing::debug!(%err, group = name, "showing the group's last committed offsets");
                        last.clone()
                    }
                    None if views.is_empty() && failure.is_none() => {
                        failure = Some(err);
                        continue;
                    }
                    None => continue,
                },
            };
            if owners.is_empty() && !pinned && committed.values().all(Option::is_none) {
                self.followed.remove(name);
                self.ignored.insert(name.to_owned(), now);
                continue;
            }
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let committed = committed.get(&p.id).copied().flatten();
                    GroupPartition {
                        partition: p.id,
                        committed,
                        log_end: p.high_watermark,
                        lag: committed.map(|c| (p.high_watermark - c).max(0)),
                        owner: owners.get(&p.id).cloned(),
                    }
                })
                .collect();
            views.push(GroupView {
                group_id: name.to_owned(),
                state: group.state().to_owned(),
                members,
                partitions,
            });
        }
        self.last_committed
            .retain(|group, _| self.followed.contains_key(group));
        // Every group failed to be read: that is the broker failing.
        if let Some(err) = failure
            && views.is_empty()
        {
            return Err(err);
        }
        // A pinned group the broker does not know (yet, or any more): it has
        // no members and has committed nothing.
        for group_id in &self.pinned {
            if !views.iter().any(|v| v.group_id == *group_id) {
                views.push(GroupView {
                    group_id: group_id.clone(),
                    state: "Empty".to_owned(),
                    members: Vec::new(),
                    partitions: topic
                        .partitions
                        .iter()
                        .map(|p| GroupPartition {
                            partition: p.id,
                            committed: None,
                            log_end: p.high_watermark,
                            lag: None,
                            owner: None,
                        })
                        .collect(),
                });
            }
        }
        views.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(views)
    }
}

/// Sets each group's log-end offsets and lag from `topic`: read the
/// watermarks after the committed offsets, as `kafka-consumer-groups` does.
pub(crate) fn with_log_end(groups: &mut [GroupView], topic: &TopicHealth) {
    for p in groups.iter_mut().flat_map(|g| g.partitions.iter_mut()) {
        if let Some(now) = topic.partitions.iter().find(|t| t.id == p.partition) {
            p.log_end = now.high_watermark.max(p.log_end);
            p.lag = p.committed.map(|c| (p.log_end - c).max(0));
        }
    }
}

/// The group's committed offset per partition of the topic (None: nothing
/// committed), fetched by a client that carries the group's id but never
/// subscribes: an offset fetch does not join the group.
fn committed_offsets(
    consumer: &BaseConsumer,
    topic: &TopicHealth,
) -> Result<HashMap<i32, Option<i64>>, KafkaError> {
    let mut list = TopicPartitionList::new();
    for p in &topic.partitions {
        list.add_partition(&topic.name, p.id);
    }
    let committed = consumer.committed_offsets(list, TIMEOUT)?;
    Ok(committed
        .elements_for_topic(&topic.name)
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            };
            (e.partition(), offset)
        })
        .collect())
}
