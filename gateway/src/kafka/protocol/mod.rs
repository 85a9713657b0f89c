//! A small Kafka protocol client of the gateway's own, for the admin APIs
//! Kafka 4 added and librdkafka 2.12 has no binding for:
//! ConsumerGroupDescribe (KIP-848 groups, with member epochs and target
//! assignments), ShareGroupDescribe and DescribeShareGroupOffsets (KIP-932
//! share groups), ListGroups with group types, and DescribeQuorum (the
//! KRaft metadata quorum).
//!
//! Why a client of its own rather than librdkafka's admin calls through
//! FFI: librdkafka's `DescribeConsumerGroups` speaks ConsumerGroupDescribe
//! but drops member epochs, and it has nothing at all for share groups or
//! the quorum; one client over the `kafka-protocol` crate's message types
//! covers all four and keeps the workspace free of `unsafe`.
//!
//! It reads the same security settings as every other client (see
//! `security`); a mechanism it does not speak is reported, not guessed at.
//! Every request has a deadline; connections are kept per broker and
//! dropped on any error, so the next call reconnects.

mod conn;
mod scram;
mod security;
mod share_offsets;

use std::collections::HashMap;
use std::fmt;

use kafka_protocol::error::ParseResponseErrorCode;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, DescribeQuorumRequest, DescribeShareGroupOffsetsRequest,
    FindCoordinatorRequest, GroupId, ListGroupsRequest, MetadataRequest, OffsetFetchRequest,
    ShareGroupDescribeRequest, TopicName, consumer_group_describe_response,
    describe_quorum_request, describe_quorum_response, describe_share_group_offsets_request,
    offset_fetch_request, share_group_describe_response,
};
use kafka_protocol::protocol::{Request, StrBytes};
use wire::api::{QuorumReplica, QuorumView};

use conn::Conn;
pub(crate) use security::{Security, Unsupported};

/// Group ids described per request.
const GROUPS_PER_REQUEST: usize = 100;

/// What a protocol call failed with; shown, never inspected.
#[derive(Debug, Clone)]
pub(crate) enum ProtocolError {
    Io(String),
    Timeout(String),
    Tls(String),
    Auth(String),
    Unsupported(String),
    Decode(String),
    Kafka { api: &'static str, error: String },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Io(e) => write!(f, "connection: {e}"),
            ProtocolError::Timeout(what) => write!(f, "timed out: {what}"),
            ProtocolError::Tls(e) => write!(f, "TLS: {e}"),
            ProtocolError::Auth(e) => write!(f, "SASL authentication: {e}"),
            ProtocolError::Unsupported(e) => write!(f, "not supported: {e}"),
            ProtocolError::Decode(e) => write!(f, "malformed response: {e}"),
            ProtocolError::Kafka { api, error } => write!(f, "{api}: {error}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedGroup {
    pub(crate) id: String,
    /// `classic`, `consumer`, `share` or `streams` (ListGroups v5; `classic`
    /// from older brokers).
    pub(crate) kind: String,
    pub(crate) state: String,
    /// `consumer` for consumer groups; Connect's workers say `connect`.
    pub(crate) protocol_type: String,
}

/// A KIP-848 consumer group or a KIP-932 share group as its coordinator
/// describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DescribedGroup {
    pub(crate) id: String,
    pub(crate) state: String,
    pub(crate) group_epoch: i32,
    pub(crate) assignment_epoch: i32,
    pub(crate) assignor: String,
    pub(crate) members: Vec<DescribedMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DescribedMember {
    pub(crate) member_id: String,
    pub(crate) client_id: String,
    pub(crate) host: String,
    pub(crate) member_epoch: i32,
    /// Partitions the member owns now, by topic name.
    pub(crate) assignment: Vec<(String, Vec<i32>)>,
    /// Partitions the coordinator wants it to own (consumer groups only):
    /// different from `assignment` while a rebalance moves partitions.
    pub(crate) target: Option<Vec<(String, Vec<i32>)>>,
}

/// A share-partition's state as its share coordinator reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShareOffsets {
    /// Every record before it is done with (acknowledged or archived).
    pub(crate) start_offset: Option<i64>,
    /// Records from the start offset to the log end not yet delivered to
    /// completion, as the coordinator counts them (KIP-1226).
    pub(crate) lag: Option<i64>,
}

/// The cluster, reached through its bootstrap servers, with a connection
/// kept to each broker it has asked.
pub(crate) struct Cluster {
    bootstrap: Vec<(String, u16)>,
    security: Result<Security, Unsupported>,
    brokers: HashMap<i32, (String, u16)>,
    conns: HashMap<i32, Conn>,
    /// A connection to a bootstrap server, before the brokers are known.
    any: Option<Conn>,
    coordinators: HashMap<String, i32>,
}

impl Cluster {
    /// `bootstrap` as librdkafka's `bootstrap.servers`; `properties` the
    /// librdkafka properties the security settings come from.
    pub(crate) fn new(bootstrap: &str, properties: &[(String, String)]) -> Self {
        Self {
            bootstrap: bootstrap.split(',').filter_map(host_port).collect(),
            security: Security::from_properties(properties),
            brokers: HashMap::new(),
            conns: HashMap::new(),
            any: None,
            coordinators: HashMap::new(),
        }
    }

    fn security(&self) -> Result<&Security, ProtocolError> {
        self.security
            .as_ref()
            .map_err(|u| ProtocolError::Unsupported(u.0.clone()))
    }

    /// A request to whichever broker answers: the last one used, else each
    /// known broker, else each bootstrap server.
    async fn send_any<R: Request>(&mut self, request: &R) -> Result<R::Response, ProtocolError> {
        let mut last = None;
        if self.any.as_ref().is_some_and(|c| !c.usable()) {
            self.any = None;
        }
        if self.any.is_none() {
            let security = self.security()?.clone();
            let mut addresses: Vec<(String, u16)> = self.brokers.values().cloned().collect();
            addresses.extend(self.bootstrap.iter().cloned());
            for (host, port) in addresses {
                match Conn::open(&host, port, &security).await {
                    Ok(conn) => {
                        self.any = Some(conn);
                        break;
                    }
                    Err(err) => last = Some(err),
                }
            }
        }
        let Some(conn) = &mut self.any else {
            return Err(last.unwrap_or(ProtocolError::Io("no bootstrap servers".into())));
        };
        let answer = conn.send(request).await;
        if answer.is_err() {
            self.any = None;
        }
        answer
    }

    /// A request to broker `node`.
    async fn send_to<R: Request>(
        &mut self,
        node: i32,
        request: &R,
    ) -> Result<R::Response, ProtocolError> {
        if self.conns.get(&node).is_some_and(|c| !c.usable()) {
            self.conns.remove(&node);
        }
        if !self.conns.contains_key(&node) {
            let security = self.security()?.clone();
            let (host, port) = match self.brokers.get(&node) {
                Some(address) => address.clone(),
                None => {
                    self.refresh_brokers().await?;
                    self.brokers.get(&node).cloned().ok_or_else(|| {
                        ProtocolError::Io(format!("broker {node} is not in the metadata"))
                    })?
                }
            };
            let conn = Conn::open(&host, port, &security).await?;
            self.conns.insert(node, conn);
        }
        let conn = self.conns.get_mut(&node).expect("inserted above");
        let answer = conn.send(request).await;
        if answer.is_err() {
            self.conns.remove(&node);
        }
        answer
    }

    /// The brokers' addresses, from a metadata request naming no topic.
    async fn refresh_brokers(&mut self) -> Result<(), ProtocolError> {
        let request = MetadataRequest::default().with_topics(Some(Vec::new()));
        let answer = self.send_any(&request).await?;
        self.brokers = answer
            .brokers
            .into_iter()
            .filter_map(|b| {
                Some((
                    b.node_id.0,
                    (b.host.to_string(), u16::try_from(b.port).ok()?),
                ))
            })
            .collect();
        self.conns.retain(|id, _| self.brokers.contains_key(id));
        Ok(())
    }

    /// Every group of the cluster: each broker lists the groups it
    /// coordinates. A broker that fails to answer fails the list, so a
    /// group is never shown gone because its coordinator was slow.
    pub(crate) async fn list_groups(&mut self) -> Result<Vec<ListedGroup>, ProtocolError> {
        self.refresh_brokers().await?;
        let mut nodes: Vec<i32> = self.brokers.keys().copied().collect();
        nodes.sort_unstable();
        let mut groups = Vec::new();
        for node in nodes {
            let answer = self.send_to(node, &ListGroupsRequest::default()).await?;
            kafka_error("ListGroups", answer.error_code, None)?;
            groups.extend(answer.groups.into_iter().map(|g| {
                ListedGroup {
                    id: g.group_id.0.to_string(),
                    // Before ListGroups v5 (Kafka 3.8) there are no types to
                    // report: every group there is classic.
                    kind: Some(g.group_type.to_string())
                        .filter(|k| !k.is_empty())
                        .unwrap_or_else(|| "classic".to_owned()),
                    state: g.group_state.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                }
            }));
        }
        Ok(groups)
    }

    /// Each group's coordinator, asked for those not known yet.
    async fn coordinators(&mut self, groups: &[String]) -> Result<(), ProtocolError> {
        let unknown: Vec<StrBytes> = groups
            .iter()
            .filter(|g| !self.coordinators.contains_key(*g))
            .map(|g| StrBytes::from_string(g.clone()))
            .collect();
        for chunk in unknown.chunks(GROUPS_PER_REQUEST) {
            let request = FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(chunk.to_vec());
            let answer = self.send_any(&request).await?;
            for c in answer.coordinators {
                if c.error_code == 0 {
                    self.coordinators.insert(c.key.to_string(), c.node_id.0);
                    if let Ok(port) = u16::try_from(c.port) {
                        self.brokers.insert(c.node_id.0, (c.host.to_string(), port));
                    }
                }
            }
        }
        Ok(())
    }

    /// `groups` by coordinator; groups whose coordinator is unknown are left out.
    async fn by_coordinator(
        &mut self,
        groups: &[String],
    ) -> Result<Vec<(i32, Vec<String>)>, ProtocolError> {
        self.coordinators(groups).await?;
        let mut by_node: HashMap<i32, Vec<String>> = HashMap::new();
        for group in groups {
            if let Some(node) = self.coordinators.get(group) {
                by_node.entry(*node).or_default().push(group.clone());
            }
        }
        let mut by_node: Vec<_> = by_node.into_iter().collect();
        by_node.sort_unstable_by_key(|(node, _)| *node);
        Ok(by_node)
    }

    /// One `request` per coordinator of `groups`, for up to 100 of its
    /// groups at a time; the answers, in no particular order.
    async fn ask_coordinators<R: Request>(
        &mut self,
        groups: &[String],
        request: impl Fn(&[String]) -> R,
    ) -> Result<Vec<R::Response>, ProtocolError> {
        let mut answers = Vec::new();
        for (node, ids) in self.by_coordinator(groups).await? {
            for chunk in ids.chunks(GROUPS_PER_REQUEST) {
                answers.push(self.send_to(node, &request(chunk)).await?);
            }
        }
        Ok(answers)
    }

    /// A group its coordinator answered with an error for (gone, or moved):
    /// its coordinator is asked again next time.
    fn refused(&mut self, group: &str) {
        self.coordinators.remove(group);
    }

    /// KIP-848 consumer groups as `kafka-consumer-groups --describe` sees
    /// them. A group that is gone or moved is left out (and its
    /// coordinator asked again next time).
    pub(crate) async fn describe_consumer_groups(
        &mut self,
        groups: &[String],
    ) -> Result<Vec<DescribedGroup>, ProtocolError> {
        let answers = self
            .ask_coordinators(groups, |chunk| {
                ConsumerGroupDescribeRequest::default().with_group_ids(group_ids(chunk))
            })
            .await?;
        let mut described = Vec::new();
        for g in answers.into_iter().flat_map(|a| a.groups) {
            if g.error_code != 0 {
                self.refused(g.group_id.0.as_str());
                continue;
            }
            described.push(DescribedGroup {
                id: g.group_id.0.to_string(),
                state: g.group_state.to_string(),
                group_epoch: g.group_epoch,
                assignment_epoch: g.assignment_epoch,
                assignor: g.assignor_name.to_string(),
                members: g.members.into_iter().map(consumer_member).collect(),
            });
        }
        Ok(described)
    }

    /// KIP-932 share groups as `kafka-share-groups --describe` sees them.
    pub(crate) async fn describe_share_groups(
        &mut self,
        groups: &[String],
    ) -> Result<Vec<DescribedGroup>, ProtocolError> {
        let answers = self
            .ask_coordinators(groups, |chunk| {
                ShareGroupDescribeRequest::default().with_group_ids(group_ids(chunk))
            })
            .await?;
        let mut described = Vec::new();
        for g in answers.into_iter().flat_map(|a| a.groups) {
            if g.error_code != 0 {
                self.refused(g.group_id.0.as_str());
                continue;
            }
            described.push(DescribedGroup {
                id: g.group_id.0.to_string(),
                state: g.group_state.to_string(),
                group_epoch: g.group_epoch,
                assignment_epoch: g.assignment_epoch,
                assignor: g.assignor_name.to_string(),
                members: g.members.into_iter().map(share_member).collect(),
            });
        }
        Ok(described)
    }

    /// Share groups' start offsets and lags per partition of `topic`, as
    /// `kafka-share-groups --describe` shows them (None where there are
    /// none yet: the group has read nothing there); one request per
    /// coordinator. A group whose coordinator did not answer for it is
    /// left out.
    pub(crate) async fn share_group_offsets(
        &mut self,
        groups: &[String],
        topic: &str,
        partitions: &[i32],
    ) -> Result<HashMap<String, HashMap<i32, ShareOffsets>>, ProtocolError> {
        let answers = self
            .ask_coordinators(groups, |chunk| {
                share_offsets::OffsetsRequest(DescribeShareGroupOffsetsRequest::default().with_groups(
                    chunk
                        .iter()
                        .map(|group| {
                            describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
                                .with_group_id(GroupId(StrBytes::from_string(group.clone())))
                                .with_topics(Some(vec![
                                    describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestTopic::default()
                                        .with_topic_name(TopicName(StrBytes::from_string(topic.to_owned())))
                                        .with_partitions(partitions.to_vec()),
                                ]))
                        })
                        .collect(),
                ))
            })
            .await?;
        let mut offsets = HashMap::new();
        for g in answers.into_iter().flat_map(|a| a.groups) {
            if g.error_code != 0 {
                self.refused(&g.group_id);
                continue;
            }
            let mut group = HashMap::new();
            for (_, ps) in g.topics.into_iter().filter(|(t, _)| t == topic) {
                for p in ps {
                    let known = |v: i64| (p.error_code == 0 && v >= 0).then_some(v);
                    group.insert(
                        p.partition,
                        ShareOffsets {
                            start_offset: known(p.start_offset),
                            lag: known(p.lag),
                        },
                    );
                }
            }
            offsets.insert(g.group_id, group);
        }
        Ok(offsets)
    }

    /// Which of `groups` have an offset committed on a partition of
    /// `topic`: OffsetFetch v8+, many groups per request, one request per
    /// coordinator per 100 groups. Fetching offsets never joins a group.
    pub(crate) async fn groups_with_offsets(
        &mut self,
        groups: &[String],
        topic: &str,
        partitions: &[i32],
    ) -> Result<std::collections::HashSet<String>, ProtocolError> {
        let answers = self
            .ask_coordinators(groups, |chunk| {
                OffsetFetchRequest::default().with_groups(
                    chunk
                        .iter()
                        .map(|group| {
                            offset_fetch_request::OffsetFetchRequestGroup::default()
                                .with_group_id(GroupId(StrBytes::from_string(group.clone())))
                                .with_member_epoch(-1)
                                .with_topics(Some(vec![
                                    offset_fetch_request::OffsetFetchRequestTopics::default()
                                        .with_name(TopicName(StrBytes::from_string(
                                            topic.to_owned(),
                                        )))
                                        .with_partition_indexes(partitions.to_vec()),
                                ]))
                        })
                        .collect(),
                )
            })
            .await?;
        let holding = answers
            .into_iter()
            .flat_map(|a| a.groups)
            .filter(|g| {
                g.error_code == 0
                    && g.topics
                        .iter()
                        .filter(|t| t.name.0.as_str() == topic)
                        .any(|t| {
                            t.partitions
                                .iter()
                                .any(|p| p.error_code == 0 && p.committed_offset >= 0)
                        })
            })
            .map(|g| g.group_id.0.to_string())
            .collect();
        Ok(holding)
    }

    /// Forgets the coordinators of groups no longer listed.
    pub(crate) fn forget_coordinators_but(&mut self, listed: &std::collections::HashSet<&str>) {
        self.coordinators.retain(|g, _| listed.contains(g.as_str()));
    }

    /// The metadata quorum, asked of any broker (which forwards it to the
    /// controllers), with the lags `kafka-metadata-quorum` derives.
    pub(crate) async fn describe_quorum(&mut self) -> Result<QuorumView, ProtocolError> {
        let request = DescribeQuorumRequest::default().with_topics(vec![
            describe_quorum_request::TopicData::default()
                .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
                .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
        ]);
        let answer = self.send_any(&request).await?;
        kafka_error("DescribeQuorum", answer.error_code, answer.error_message)?;
        let partition = answer
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .next()
            .ok_or_else(|| ProtocolError::Decode("DescribeQuorum: no partition".into()))?;
        kafka_error(
            "DescribeQuorum",
            partition.error_code,
            partition.error_message.clone(),
        )?;
        Ok(quorum_view(partition))
    }
}

/// The quorum as `kafka-metadata-quorum describe` derives it: lags from
/// the leader's log end, the leader listed first.
fn quorum_view(p: describe_quorum_response::PartitionData) -> QuorumView {
    let leader_id = p.leader_id.0;
    let leader = p
        .current_voters
        .iter()
        .find(|v| v.replica_id.0 == leader_id);
    let leader_end = leader.map_or(p.high_watermark, |l| l.log_end_offset);
    let leader_caught_up = leader.map(|l| l.last_caught_up_timestamp);
    let known = |ms: i64| (ms >= 0).then_some(ms);
    let replica = |r: &describe_quorum_response::ReplicaState, status: &str| QuorumReplica {
        node_id: r.replica_id.0,
        status: status.to_owned(),
        log_end_offset: r.log_end_offset,
        lag: leader_end.saturating_sub(r.log_end_offset),
        last_fetch_ms: known(r.last_fetch_timestamp),
        last_caught_up_ms: known(r.last_caught_up_timestamp),
    };
    let mut voters: Vec<QuorumReplica> = p
        .current_voters
        .iter()
        .filter(|v| v.replica_id.0 == leader_id)
        .map(|v| replica(v, "Leader"))
        .collect();
    voters.extend(
        p.current_voters
            .iter()
            .filter(|v| v.replica_id.0 != leader_id)
            .map(|v| replica(v, "Follower")),
    );
    let behind = p.current_voters.iter().min_by_key(|v| v.log_end_offset);
    let (max_follower_lag, max_follower_lag_time_ms) = match behind {
        Some(b) if b.replica_id.0 != leader_id => (
            leader_end.saturating_sub(b.log_end_offset),
            match (leader_caught_up, known(b.last_caught_up_timestamp)) {
                (Some(l), Some(f)) if l >= 0 => l.saturating_sub(f),
                _ => -1,
            },
        ),
        _ => (0, 0),
    };
    QuorumView {
        read_at_ms: crate::clock::now_ms(),
        leader_id,
        leader_epoch: p.leader_epoch,
        high_watermark: p.high_watermark,
        max_follower_lag,
        max_follower_lag_time_ms,
        voters,
        observers: p.observers.iter().map(|o| replica(o, "Observer")).collect(),
    }
}

fn group_ids(ids: &[String]) -> Vec<GroupId> {
    ids.iter()
        .map(|g| GroupId(StrBytes::from_string(g.clone())))
        .collect()
}

fn kafka_error(
    api: &'static str,
    code: i16,
    message: Option<StrBytes>,
) -> Result<(), ProtocolError> {
    match code.err() {
        None => Ok(()),
        Some(err) => Err(ProtocolError::Kafka {
            api,
            error: match message {
                Some(message) => format!("{err}: {message}"),
                None => err.to_string(),
            },
        }),
    }
}

fn consumer_member(m: consumer_group_describe_response::Member) -> DescribedMember {
    let topics = |a: consumer_group_describe_response::Assignment| {
        a.topic_partitions
            .into_iter()
            .map(|t| (t.topic_name.0.to_string(), t.partitions))
            .collect()
    };
    DescribedMember {
        member_id: m.member_id.to_string(),
        client_id: m.client_id.to_string(),
        host: m.client_host.to_string(),
        member_epoch: m.member_epoch,
        assignment: topics(m.assignment),
        target: Some(topics(m.target_assignment)),
    }
}

fn share_member(m: share_group_describe_response::Member) -> DescribedMember {
    DescribedMember {
        member_id: m.member_id.to_string(),
        client_id: m.client_id.to_string(),
        host: m.client_host.to_string(),
        member_epoch: m.member_epoch,
        assignment: m
            .assignment
            .topic_partitions
            .into_iter()
            .map(|t| (t.topic_name.0.to_string(), t.partitions))
            .collect(),
        target: None,
    }
}

/// `host:port` from one of `bootstrap.servers`' entries, which may carry a
/// `PROTOCOL://` prefix or be a bracketed IPv6 address.
fn host_port(entry: &str) -> Option<(String, u16)> {
    let entry = entry.trim();
    let entry = entry.split_once("://").map_or(entry, |(_, rest)| rest);
    let (host, port) = entry.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| Some((host.to_owned(), port.parse().ok()?)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_servers_are_read_as_librdkafka_reads_them() {
        assert_eq!(
            host_port(" PLAINTEXT://kafka-1:9092"),
            Some(("kafka-1".into(), 9092))
        );
        assert_eq!(host_port("[::1]:9093"), Some(("::1".into(), 9093)));
        assert_eq!(
            host_port("127.0.0.1:19092"),
            Some(("127.0.0.1".into(), 19092))
        );
        assert_eq!(host_port("no-port"), None);
        assert_eq!(host_port(":9092"), None);
        assert_eq!(host_port("h:99999"), None);
    }
}
