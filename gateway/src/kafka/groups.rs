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

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::groups::{GroupInfo, GroupList};
use rdkafka::{Offset, TopicPartitionList};
use wire::api::{GroupMember, GroupPartition, GroupView, TopicHealth};

use super::assignment;
use crate::config::Config;

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
    /// a `topic` read after this call (see `core::flow`) so lag is never
    /// computed against a log end older than the commit. Blocking: call from
    /// the blocking pool.
    pub(crate) fn describe(&mut self, topic: &TopicHealth) -> Result<Vec<GroupView>, KafkaError> {
        let now = Instant::now();
        let (lists, discover) = self.list(now)?;
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
            match self.view(group, topic, now, &mut probes)? {
                Seen::Group(view) => views.push(view),
                Seen::Skipped => {}
                Seen::Unread(err) => {
                    if views.is_empty() && failure.is_none() {
                        failure = Some(err);
                    }
                }
            }
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
                    partitions: rows(topic, &HashMap::new(), &HashMap::new()),
                });
            }
        }
        views.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(views)
    }

    /// The group lists to look through: the cluster's whole list every
    /// [`DISCOVER_EVERY`], else one per group already known; and whether
    /// this was a discovery.
    fn list(&mut self, now: Instant) -> Result<(Vec<GroupList>, bool), KafkaError> {
        let lister = match &mut self.lister {
            Some(lister) => lister,
            empty => empty.insert(super::client::admin_consumer(&self.config, None)?),
        };
        let discover = self
            .last_discovery
            .is_none_or(|at| now.duration_since(at) >= DISCOVER_EVERY);
        if discover {
            self.last_discovery = Some(now);
            return Ok((vec![lister.fetch_group_list(None, TIMEOUT)?], true));
        }
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
        Ok((lists, false))
    }

    /// One listed group as seen on `topic`, reading its committed offsets
    /// (or, should that fail, the last ones read). A group neither active on
    /// the topic nor committed to it is left alone for [`RECHECK_AFTER`];
    /// at most [`PROBES_PER_DISCOVERY`] such groups are checked per call.
    fn view(
        &mut self,
        group: &GroupInfo,
        topic: &TopicHealth,
        now: Instant,
        probes: &mut usize,
    ) -> Result<Seen, KafkaError> {
        let name = group.name();
        let (members, owners) = members(group, &topic.name);
        let pinned = self.pinned.iter().any(|p| p == name);
        if owners.is_empty() && !pinned && !self.followed.contains_key(name) {
            if self.ignored.contains_key(name) || *probes == PROBES_PER_DISCOVERY {
                return Ok(Seen::Skipped);
            }
            *probes += 1;
        }
        let full = self.followed.len() >= MAX_FOLLOWED;
        let reader = match self.followed.entry(name.to_owned()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(_) if full => {
                tracing::debug!(group = name, "following too many groups; skipping one");
                return Ok(Seen::Skipped);
            }
            Entry::Vacant(entry) => {
                entry.insert(super::client::admin_consumer(&self.config, Some(name))?)
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
                None => return Ok(Seen::Unread(err)),
            },
        };
        if owners.is_empty() && !pinned && committed.values().all(Option::is_none) {
            self.followed.remove(name);
            self.ignored.insert(name.to_owned(), now);
            return Ok(Seen::Skipped);
        }
        Ok(Seen::Group(GroupView {
            group_id: name.to_owned(),
            state: group.state().to_owned(),
            members,
            partitions: rows(topic, &committed, &owners),
        }))
    }
}

/// What looking at one listed group found.
enum Seen {
    Group(GroupView),
    /// Not reading the topic, or not looked at this time (not probed yet,
    /// or too many groups followed).
    Skipped,
    /// Its committed offsets could not be read, and none were read before.
    Unread(KafkaError),
}

/// The group's members with their partitions of `topic`, and each of those
/// partitions' owner (by client id).
fn members(group: &GroupInfo, topic: &str) -> (Vec<GroupMember>, HashMap<i32, String>) {
    let mut owners = HashMap::new();
    let members = group
        .members()
        .iter()
        .map(|m| {
            let partitions: Vec<i32> = m
                .assignment()
                .and_then(assignment::decode)
                .unwrap_or_default()
                .into_iter()
                .filter(|(t, _)| t == topic)
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
    (members, owners)
}

/// One row per partition of `topic`: committed offset, log end, lag, owner.
fn rows(
    topic: &TopicHealth,
    committed: &HashMap<i32, Option<i64>>,
    owners: &HashMap<i32, String>,
) -> Vec<GroupPartition> {
    topic
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
        .collect()
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
