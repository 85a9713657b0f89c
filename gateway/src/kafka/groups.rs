//! The consumer groups reading the topic, as the broker sees them: state,
//! members and the partitions each owns, committed offsets and lag.
//!
//! These are groups the dashboard did not create (the tutorial's
//! `order-group`, your services), read through the admin protocol only:
//! describing a group and fetching its committed offsets never joins it, so
//! looking never triggers a rebalance or moves an offset.
//!
//! Kafka 4 runs three kinds of group, and each is described the way Kafka's
//! own tools describe it: classic groups through librdkafka's group list
//! (DescribeGroups), consumer-protocol groups (KIP-848) through
//! ConsumerGroupDescribe and share groups (KIP-932) through
//! ShareGroupDescribe and DescribeShareGroupOffsets, both over the
//! gateway's own protocol client (`super::protocol`). Which kind a group is
//! comes from ListGroups; the classic API alone shows a consumer-protocol
//! group as `Dead` with no members.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::groups::{GroupInfo, GroupList};
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::Handle;
use wire::api::{GroupMember, GroupPartition, GroupType, GroupView, TopicHealth};

use super::assignment;
use super::protocol::{Cluster, DescribedGroup, ListedGroup, ProtocolError, ShareOffsets};
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
/// How long the protocol client's part of one read may take in all (the
/// group types, consumer-protocol and share groups): a slow coordinator
/// must not hold the once-a-second snapshot for many request timeouts.
const PROTOCOL_BUDGET: Duration = Duration::from_secs(3);
/// How long the last typed group list stands in when reading it fails
/// (a broker restarting): groups keep their kind rather than flicker.
const TYPES_KEPT: Duration = Duration::from_secs(60);

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
    /// The protocol client for what librdkafka cannot describe, driven
    /// from the blocking pool through `runtime`.
    cluster: Cluster,
    runtime: Handle,
    /// Share groups followed: seen assigned to the topic or with start
    /// offsets on it (at most [`MAX_FOLLOWED`]).
    followed_share: HashSet<String>,
    /// Why the last read could not describe consumer-protocol and share
    /// groups, if it could not.
    types_error: Option<String>,
    /// The cluster's typed group list as last read (at discoveries), and when.
    typed: Option<(Instant, Vec<ListedGroup>)>,
    /// Each followed share group's offsets as last read, shown again when
    /// one read fails.
    last_share: HashMap<String, HashMap<i32, ShareOffsets>>,
    /// What the protocol client's calls took so far in the current read
    /// (librdkafka's calls in between do not count).
    spent: Duration,
}

impl GroupReader {
    /// Call from within the runtime: the protocol client runs on it.
    pub(crate) fn new(config: Arc<Config>, pinned: Vec<String>) -> Self {
        Self {
            cluster: Cluster::new(&config.brokers, &config.kafka_properties),
            runtime: Handle::current(),
            followed_share: HashSet::new(),
            types_error: None,
            typed: None,
            last_share: HashMap::new(),
            spent: Duration::ZERO,
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
        self.spent = Duration::ZERO;
        let discovering = self
            .last_discovery
            .is_none_or(|at| now.duration_since(at) >= DISCOVER_EVERY);
        let typed = self.typed(now, discovering);
        let (lists, discover) = self.list(now, typed.as_deref())?;
        let kinds: HashMap<&str, &str> = typed
            .iter()
            .flatten()
            .map(|g| (g.id.as_str(), g.kind.as_str()))
            .collect();
        // Classic groups from librdkafka's list; the others it cannot
        // describe (it reports a consumer-protocol group `Dead`).
        let classic: Vec<Found> = lists
            .iter()
            .flat_map(|l| l.groups())
            .filter(|g| kinds.get(g.name()).is_none_or(|k| *k == "classic"))
            // Connect workers and other non-consumer protocols have no offsets here.
            .filter(|g| g.protocol_type() == "consumer" || g.protocol_type().is_empty())
            .map(|g| Found::classic(g, &topic.name))
            .collect();
        let consumer = self.described(typed.as_deref(), "consumer", discover, topic);
        self.ignored
            .retain(|_, since| now.duration_since(*since) < RECHECK_AFTER);
        if discover {
            let listed: HashSet<&str> = lists
                .iter()
                .flat_map(|l| l.groups())
                .map(GroupInfo::name)
                .chain(kinds.keys().copied())
                .collect();
            self.followed
                .retain(|group, _| listed.contains(group.as_str()));
            self.followed_share
                .retain(|group| kinds.get(group.as_str()) == Some(&"share"));
        }

        // Which idle groups hold offsets on the topic: asked of their
        // coordinators all at once (OffsetFetch v8), so a group appears at
        // the next discovery whatever the number of groups; without that
        // answer, a few are probed one by one per discovery.
        let with_offsets = if discover {
            self.with_offsets(classic.iter().chain(&consumer), topic)
        } else {
            None
        };
        let mut probes = 0;
        let mut views = Vec::new();
        // The first offset read that failed with nothing to fall back on.
        let mut failure = None;
        for group in classic.into_iter().chain(consumer) {
            match self.view(group, topic, now, &mut probes, with_offsets.as_ref())? {
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
        views.extend(self.share_views(typed.as_deref(), discover, topic, now, &mut probes));
        // A pinned group the broker does not know (yet, or any more): it has
        // no members and has committed nothing.
        for group_id in &self.pinned {
            if !views.iter().any(|v| v.group_id == *group_id) {
                views.push(GroupView {
                    group_id: group_id.clone(),
                    group_type: GroupType::Classic,
                    state: "Empty".to_owned(),
                    assignor: None,
                    group_epoch: None,
                    assignment_epoch: None,
                    members: Vec::new(),
                    partitions: rows(topic, &HashMap::new(), &HashMap::new()),
                    ..GroupView::default()
                });
            }
        }
        views.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(views)
    }

    /// The group lists to look through: the cluster's whole list every
    /// [`DISCOVER_EVERY`], else one per group already known; and whether
    /// this was a discovery.
    ///
    /// `typed` is the cluster's typed list, when it could be read: groups
    /// it says are not classic are not asked of librdkafka.
    fn list(
        &mut self,
        now: Instant,
        typed: Option<&[ListedGroup]>,
    ) -> Result<(Vec<GroupList>, bool), KafkaError> {
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
        let not_classic = |group: &str| {
            typed
                .into_iter()
                .flatten()
                .any(|g| g.id == group && g.kind != "classic")
        };
        let mut known: Vec<&String> = self
            .followed
            .keys()
            .chain(&self.pinned)
            .filter(|g| !not_classic(g))
            .collect();
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
        group: Found,
        topic: &TopicHealth,
        now: Instant,
        probes: &mut usize,
        with_offsets: Option<&HashSet<String>>,
    ) -> Result<Seen, KafkaError> {
        let name = group.view.group_id.as_str();
        let owners = &group.owners;
        let pinned = self.pinned.iter().any(|p| p == name);
        if owners.is_empty() && !pinned && !self.followed.contains_key(name) {
            if self.ignored.contains_key(name) {
                return Ok(Seen::Skipped);
            }
            match with_offsets {
                Some(holding) if !holding.contains(name) => {
                    self.ignored.insert(name.to_owned(), now);
                    return Ok(Seen::Skipped);
                }
                Some(_) => {}
                None if *probes == PROBES_PER_DISCOVERY => return Ok(Seen::Skipped),
                None => *probes += 1,
            }
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
        let partitions = rows(topic, &committed, owners);
        Ok(Seen::Group(GroupView {
            partitions,
            ..group.view
        }))
    }

    /// Of the idle groups among `found` (no member on the topic, not
    /// followed, pinned or left alone), those with an offset committed on
    /// `topic`; None when that cannot be asked (then they are probed).
    fn with_offsets<'a>(
        &mut self,
        found: impl Iterator<Item = &'a Found>,
        topic: &TopicHealth,
    ) -> Option<HashSet<String>> {
        let idle: Vec<String> = found
            .filter(|f| f.owners.is_empty())
            .map(|f| f.view.group_id.clone())
            .filter(|g| {
                !self.followed.contains_key(g)
                    && !self.pinned.contains(g)
                    && !self.ignored.contains_key(g)
            })
            .collect();
        if idle.is_empty() {
            return Some(HashSet::new());
        }
        let partitions: Vec<i32> = topic.partitions.iter().map(|p| p.id).collect();
        match within(
            &self.runtime,
            &mut self.spent,
            self.cluster
                .groups_with_offsets(&idle, &topic.name, &partitions),
        ) {
            Ok(holding) => Some(holding),
            Err(err) => {
                tracing::debug!(%err, "idle groups probed one by one");
                None
            }
        }
    }

    /// The cluster's groups with their types: read at each discovery (a
    /// group's kind does not change while it lives), else as last read;
    /// when a read fails, the last list for up to [`TYPES_KEPT`]. Why a read
    /// failed is kept for the snapshot.
    fn typed(&mut self, now: Instant, discovering: bool) -> Option<Vec<ListedGroup>> {
        self.types_error = None;
        if discovering || self.typed.is_none() {
            match within(&self.runtime, &mut self.spent, self.cluster.list_groups()) {
                Ok(listed) => {
                    let ids: HashSet<&str> = listed.iter().map(|g| g.id.as_str()).collect();
                    self.cluster.forget_coordinators_but(&ids);
                    self.typed = Some((now, listed));
                }
                Err(err) => {
                    tracing::debug!(%err, "consumer-protocol and share groups not read");
                    self.types_error = Some(err.to_string());
                    self.typed = self
                        .typed
                        .take()
                        .filter(|(at, _)| now.duration_since(*at) < TYPES_KEPT);
                }
            }
        }
        self.typed.as_ref().map(|(_, listed)| listed.clone())
    }

    /// Why consumer-protocol and share groups were not described by the
    /// last [`describe`](Self::describe), if they were not.
    pub(crate) fn types_error(&self) -> Option<&str> {
        self.types_error.as_deref()
    }

    /// The groups of type `kind` to describe this time: every one at a
    /// discovery, else those followed or pinned.
    fn of_kind<'a>(
        &self,
        typed: Option<&'a [ListedGroup]>,
        kind: &str,
        discover: bool,
    ) -> Vec<&'a ListedGroup> {
        typed
            .into_iter()
            .flatten()
            .filter(|g| g.kind == kind)
            .filter(|g| {
                discover
                    || self.followed.contains_key(&g.id)
                    || self.followed_share.contains(&g.id)
                    || self.pinned.contains(&g.id)
            })
            .collect()
    }

    /// Consumer-protocol groups described by their coordinators.
    fn described(
        &mut self,
        typed: Option<&[ListedGroup]>,
        kind: &str,
        discover: bool,
        topic: &TopicHealth,
    ) -> Vec<Found> {
        let ids: Vec<String> = self
            .of_kind(typed, kind, discover)
            .iter()
            .map(|g| g.id.clone())
            .collect();
        if ids.is_empty() {
            return Vec::new();
        }
        match within(
            &self.runtime,
            &mut self.spent,
            self.cluster.describe_consumer_groups(&ids),
        ) {
            Ok(groups) => groups
                .into_iter()
                .map(|g| Found::described(g, GroupType::Consumer, &topic.name))
                .collect(),
            Err(err) => {
                self.types_error = Some(err.to_string());
                Vec::new()
            }
        }
    }

    /// Share groups on the topic: assigned to it, or holding start offsets
    /// on it (a share group keeps them while no member runs).
    fn share_views(
        &mut self,
        typed: Option<&[ListedGroup]>,
        discover: bool,
        topic: &TopicHealth,
        now: Instant,
        probes: &mut usize,
    ) -> Vec<GroupView> {
        let ids: Vec<String> = self
            .of_kind(typed, "share", discover)
            .iter()
            .map(|g| g.id.clone())
            .collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let described = match within(
            &self.runtime,
            &mut self.spent,
            self.cluster.describe_share_groups(&ids),
        ) {
            Ok(groups) => groups,
            Err(err) => {
                self.types_error = Some(err.to_string());
                return Vec::new();
            }
        };
        let partitions: Vec<i32> = topic.partitions.iter().map(|p| p.id).collect();
        // Which described groups to read offsets of: those taking from the
        // topic or followed, and a few others per discovery.
        let mut wanted = Vec::new();
        for group in described {
            let found = Found::described(group, GroupType::Share, &topic.name);
            let name = found.view.group_id.clone();
            let assigned = found.view.members.iter().any(|m| !m.partitions.is_empty());
            let followed = self.followed_share.contains(&name);
            // A share group not taking from the topic may still hold start
            // offsets on it: checked as classic groups are, a few per
            // discovery, and left alone for a while when it holds none.
            if !assigned && !followed {
                if self.followed_share.len() >= MAX_FOLLOWED
                    || self.ignored.contains_key(&name)
                    || *probes == PROBES_PER_DISCOVERY
                {
                    continue;
                }
                *probes += 1;
            }
            wanted.push((found, assigned));
            if wanted.len() == MAX_FOLLOWED {
                break;
            }
        }
        let names: Vec<String> = wanted
            .iter()
            .map(|(f, _)| f.view.group_id.clone())
            .collect();
        // One request per coordinator for all of them.
        let mut read = match within(
            &self.runtime,
            &mut self.spent,
            self.cluster
                .share_group_offsets(&names, &topic.name, &partitions),
        ) {
            Ok(read) => read,
            Err(err) => {
                tracing::debug!(%err, "share group offsets not read");
                self.types_error = Some(err.to_string());
                HashMap::new()
            }
        };
        let mut views = Vec::new();
        for (found, assigned) in wanted {
            let name = found.view.group_id.clone();
            let starts = match read.remove(&name) {
                Some(starts) => {
                    self.last_share.insert(name.clone(), starts.clone());
                    starts
                }
                // Not read this time: the last offsets read, if any.
                None => match self.last_share.get(&name) {
                    Some(last) => last.clone(),
                    None => continue,
                },
            };
            if !assigned && starts.values().all(|s| s.start_offset.is_none()) {
                self.followed_share.remove(&name);
                self.ignored.insert(name, now);
                continue;
            }
            if self.followed_share.len() < MAX_FOLLOWED {
                self.followed_share.insert(name);
            }
            views.push(GroupView {
                partitions: share_rows(topic, &starts),
                ..found.view
            });
        }
        self.last_share
            .retain(|group, _| self.followed_share.contains(group));
        views
    }
}

/// Runs a protocol call on `runtime` (from the blocking pool) within what
/// is left of [`PROTOCOL_BUDGET`] after `spent`, and adds its time to it.
fn within<T>(
    runtime: &Handle,
    spent: &mut Duration,
    call: impl Future<Output = Result<T, ProtocolError>>,
) -> Result<T, ProtocolError> {
    let started = Instant::now();
    let left = PROTOCOL_BUDGET.saturating_sub(*spent);
    let answer = runtime.block_on(async {
        tokio::time::timeout(left, call).await.unwrap_or_else(|_| {
            Err(ProtocolError::Timeout(format!(
                "describing consumer-protocol and share groups took over {} s",
                PROTOCOL_BUDGET.as_secs()
            )))
        })
    });
    *spent += started.elapsed();
    answer
}

/// A group as described, before its offsets are read.
struct Found {
    /// Everything but the partition rows.
    view: GroupView,
    /// Each partition of the topic's owner (by client id).
    owners: HashMap<i32, String>,
}

impl Found {
    fn classic(group: &GroupInfo, topic: &str) -> Self {
        let (members, owners) = members(group, topic);
        Self {
            view: GroupView {
                group_id: group.name().to_owned(),
                group_type: GroupType::Classic,
                state: group.state().to_owned(),
                // The classic protocol's name is its assignor (`range`, …).
                assignor: Some(group.protocol().to_owned()).filter(|p| !p.is_empty()),
                group_epoch: None,
                assignment_epoch: None,
                members,
                partitions: Vec::new(),
                ..GroupView::default()
            },
            owners,
        }
    }

    fn described(group: DescribedGroup, kind: GroupType, topic: &str) -> Self {
        let on_topic = |assignment: &[(String, Vec<i32>)]| -> Vec<i32> {
            let mut partitions: Vec<i32> = assignment
                .iter()
                .filter(|(t, _)| t == topic)
                .flat_map(|(_, ps)| ps.iter().copied())
                .collect();
            partitions.sort_unstable();
            partitions
        };
        let mut owners = HashMap::new();
        let members = group
            .members
            .into_iter()
            .map(|m| {
                let partitions = on_topic(&m.assignment);
                // A share group's partitions are shared: nobody owns one.
                if kind != GroupType::Share {
                    for &p in &partitions {
                        owners.insert(p, m.client_id.clone());
                    }
                }
                GroupMember {
                    member_id: m.member_id,
                    client_id: m.client_id,
                    host: m.host,
                    partitions,
                    member_epoch: Some(m.member_epoch),
                    target_partitions: m.target.as_deref().map(on_topic),
                }
            })
            .collect();
        Self {
            view: GroupView {
                group_id: group.id,
                group_type: kind,
                state: group.state,
                assignor: Some(group.assignor).filter(|a| !a.is_empty()),
                group_epoch: Some(group.group_epoch),
                assignment_epoch: Some(group.assignment_epoch),
                members,
                partitions: Vec::new(),
                ..GroupView::default()
            },
            owners,
        }
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
                member_epoch: None,
                target_partitions: None,
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
                start_offset: None,
                log_end: p.high_watermark,
                lag: committed.map(|c| (p.high_watermark - c).max(0)),
                owner: owners.get(&p.id).cloned(),
                ..GroupPartition::default()
            }
        })
        .collect()
}

/// One row per partition of `topic` for a share group: its start offset
/// and lag, as its share coordinator counts them.
fn share_rows(topic: &TopicHealth, starts: &HashMap<i32, ShareOffsets>) -> Vec<GroupPartition> {
    topic
        .partitions
        .iter()
        .map(|p| {
            let state = starts.get(&p.id).copied().unwrap_or_default();
            GroupPartition {
                partition: p.id,
                committed: None,
                start_offset: state.start_offset,
                log_end: p.high_watermark,
                lag: state.lag,
                owner: None,
                ..GroupPartition::default()
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
