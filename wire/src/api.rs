//! REST bodies other than the order itself.

use serde::{Deserialize, Serialize};

/// The `202 Accepted` body of `POST /api/orders`: the broker has the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OrderAccepted {
    pub order_id: String,
    pub topic: String,
    /// The partition the broker wrote the order to.
    pub partition: i32,
    /// Its offset within that partition.
    pub offset: i64,
    /// When the gateway produced it, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// Most orders in one `POST /api/orders/batch`.
pub const MAX_BATCH_ORDERS: usize = 1_000;

/// The body of `POST /api/orders/batch`: many orders, each placed as if
/// posted alone, in one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewOrderBatch {
    /// 1 to [`MAX_BATCH_ORDERS`] orders. All are checked before any is
    /// written: one invalid order refuses the whole batch.
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = MAX_BATCH_ORDERS)))]
    pub orders: Vec<crate::NewOrder>,
}

/// The answer to `POST /api/orders/batch`: one result per order, in the
/// order sent. `202` when every order is in Kafka; `503` when the broker
/// did not acknowledge some (each result says which).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BatchResults {
    pub results: Vec<BatchResult>,
}

/// One order's outcome in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BatchResult {
    /// In Kafka, where the acknowledgement says.
    Accepted(OrderAccepted),
    /// Not acknowledged, and why.
    Failed(ErrorBody),
}

/// The one shape of every error the gateway answers with, whatever the status.
///
/// `{"code": "invalid_field", "message": "must be between 1 and 1000, got 0", "field": "items[0].quantity"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// Stable, machine-readable; match on this, not on `message`.
    pub code: ErrorCode,
    /// For people; wording may change.
    pub message: String,
    /// The request field at fault (`items[0].quantity`), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// What went wrong, one per kind of failure. Each has one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not JSON.
    MalformedJson,
    /// 400: the body could not be read as sent: its HTTP framing is broken
    /// (a bad chunk size, say) or the client stopped sending mid-body.
    UnreadableBody,
    /// 415: the request did not say `Content-Type: application/json`.
    UnsupportedMediaType,
    /// 413: the body is larger than the gateway accepts; or the record
    /// `GET /api/record` names is larger than the gateway serves whole.
    PayloadTooLarge,
    /// 422: the JSON is well formed but a field is missing, of the wrong type,
    /// unknown or out of range; `field` names it.
    InvalidField,
    /// 503: the broker did not answer: an order was not acknowledged within
    /// the delivery timeout (it may still have been written), the key log
    /// could not be read to its end for a keyed order (nothing written), or
    /// a read of the topic or its groups failed.
    BrokerUnavailable,
    /// 503: the gateway, or this client address, has as many connections or
    /// live clients as it is configured to serve.
    TooManyClients,
    /// 503: the gateway, or this client address, is already doing as many
    /// of these (replays, request bodies being read) as it does at once;
    /// try again shortly.
    Busy,
    /// 405: the route exists but not for this method.
    MethodNotAllowed,
    /// 408: the request took longer than the gateway allows.
    Timeout,
    /// 429: this client sent more writes than the gateway allows per second;
    /// `Retry-After` says when to try again.
    RateLimited,
    /// 401: the gateway requires an API token for writes (or, with
    /// `--protect-reads`, for reads), and the request had none or another
    /// (`Authorization: Bearer <token>`).
    Unauthorized,
    /// 403: a WebSocket or a write from a web page whose origin is not
    /// allowed, or a request naming a host that is not the gateway's.
    Forbidden,
    /// 409: what the request would create exists or is busy (a topic of that
    /// name; a load run already running; an order with this Idempotency-Key
    /// still being placed; a crash with no member running).
    Conflict,
    /// 404: no such route, demo service, load run, or (`GET /api/record`)
    /// record at that offset.
    NotFound,
    /// 500: a bug in the gateway; the message says what failed.
    Internal,
    /// 426: `GET /ws` without a WebSocket upgrade. Everything else about
    /// the request was fine: a page learns this way why its WebSocket was
    /// refused, which browsers do not tell it.
    UpgradeRequired,
    /// A code this build does not know (a newer gateway).
    #[serde(other)]
    Unknown,
}

/// `GET /api/health`. Answered with 200 when `status` is ok, 503 when degraded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Health {
    pub status: HealthStatus,
    pub broker: BrokerHealth,
    /// The topic's partitions, when the broker answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicHealth>,
    /// Browsers connected to `/ws` right now.
    pub live_clients: usize,
    /// What needs the API token on this gateway.
    #[serde(default)]
    pub access: Access,
}

/// What needs the API token (`Authorization: Bearer <token>`, or for reads
/// the cookie `POST /api/session` sets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Access {
    /// Writes (orders, topics, load runs, service commands) need the token;
    /// when false, anyone who can reach the gateway may write.
    pub writes_need_token: bool,
    /// Every `/api` read but this one, and `/ws`, need the token too.
    pub reads_need_token: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Degraded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BrokerHealth {
    /// The bootstrap servers the gateway was configured with.
    pub bootstrap_servers: String,
    pub reachable: bool,
    /// Why the broker is not reachable, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TopicHealth {
    pub name: String,
    pub partitions: Vec<PartitionHealth>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PartitionHealth {
    pub id: i32,
    /// Broker id of the partition's leader; -1 when it has none.
    pub leader: i32,
    /// Earliest offset still in the log.
    pub low_watermark: i64,
    /// Offset the next record will get (log-end offset).
    pub high_watermark: i64,
}

/// `GET /api/groups`: a group reading the topic: a consumer group of
/// either protocol, or a share group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GroupView {
    pub group_id: String,
    /// Which kind of group, as `ListGroups` reports it.
    #[serde(default)]
    pub group_type: GroupType,
    /// As the broker reports it: `Stable`, `Empty`, `PreparingRebalance`
    /// (classic), `Assigning`, `Reconciling` (consumer protocol), …
    pub state: String,
    /// The assignor that placed the partitions (`uniform`, `range`, …);
    /// consumer-protocol and share groups only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignor: Option<String>,
    /// The group's epoch, raised by every change of members or
    /// subscriptions; consumer-protocol and share groups only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_epoch: Option<i32>,
    /// The epoch of the target assignment; the group has caught up with
    /// its last change when this equals `group_epoch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_epoch: Option<i32>,
    pub members: Vec<GroupMember>,
    /// One entry per partition of the topic.
    pub partitions: Vec<GroupPartition>,
    /// Records the group has still to process on the topic: the sum of each
    /// partition's `lag`, or `uncommitted_lag` where it has committed
    /// nothing; absent while a partition's is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_lag: Option<i64>,
    /// How long the oldest record the group has still to process has been
    /// waiting: the most of its partitions' `time_lag_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_lag_ms: Option<i64>,
    /// Where its lag is going, from the last [`CATCH_UP_WINDOW_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<CatchUp>,
}

/// How far back the catch-up estimate looks.
pub const CATCH_UP_WINDOW_MS: i64 = 5_000;

/// Where a group's lag is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CatchUp {
    /// Nothing to process.
    CaughtUp,
    /// More records were processed than written over the window: at that
    /// pace (records processed per second minus records written), the lag
    /// is gone in `in_ms`.
    CatchingUp { in_ms: i64 },
    /// Over the window the group processed no more records than were
    /// written (or it is stopped).
    NotCatchingUp,
}

/// `GET /api/groups/history`: one group's lag over the window asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GroupHistory {
    pub group_id: String,
    /// Oldest first: one a second for the last two minutes, and before
    /// that one per 30 seconds (each the most of its 30 seconds).
    pub points: Vec<LagPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LagPoint {
    pub at_ms: i64,
    /// The group's `total_lag` then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
    /// The group's `time_lag_ms` then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_lag_ms: Option<i64>,
}

/// `GET /api/quorum`: the KRaft metadata quorum, as `kafka-metadata-quorum
/// describe --status` and `--replication` show it (the DescribeQuorum API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QuorumView {
    /// When the gateway read it, in ms since the epoch: the replicas' times
    /// are as old as this minus them.
    pub read_at_ms: i64,
    /// The active controller: the node that writes the metadata log.
    pub leader_id: i32,
    /// Raised by every election.
    pub leader_epoch: i32,
    /// The metadata log's committed end.
    pub high_watermark: i64,
    /// The leader's log end minus the furthest-behind voter's.
    pub max_follower_lag: i64,
    /// How long ago, by the leader's clock, that voter last caught up
    /// (0 when it is the leader; -1 when unknown).
    pub max_follower_lag_time_ms: i64,
    /// The controllers that vote, leader first.
    pub voters: Vec<QuorumReplica>,
    /// Nodes that replicate the log without voting (brokers).
    pub observers: Vec<QuorumReplica>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QuorumReplica {
    pub node_id: i32,
    /// `Leader`, `Follower` or `Observer`, as the tool prints it.
    pub status: String,
    pub log_end_offset: i64,
    /// The leader's log end minus this replica's.
    pub lag: i64,
    /// When it last fetched from the leader, in ms since the epoch; absent
    /// when the leader does not know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fetch_ms: Option<i64>,
    /// When it last had all the leader had, in ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_caught_up_ms: Option<i64>,
}

/// The kinds of group a Kafka 4 broker runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupType {
    /// The classic rebalance protocol (JoinGroup/SyncGroup).
    #[default]
    Classic,
    /// The consumer group protocol of KIP-848 (`group.protocol=consumer`):
    /// the broker assigns, members reconcile one epoch at a time.
    Consumer,
    /// A share group of KIP-932: a queue whose members take records from
    /// any partition they are given, several members to a partition.
    Share,
}

impl GroupType {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Classic => "classic",
            GroupType::Consumer => "consumer",
            GroupType::Share => "share",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GroupMember {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    /// Partitions of the topic assigned to this member (owned now, in a
    /// consumer-protocol group).
    pub partitions: Vec<i32>,
    /// The member's epoch; consumer-protocol and share groups only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_epoch: Option<i32>,
    /// Partitions of the topic the coordinator wants this member to own
    /// (consumer-protocol groups only): they differ from `partitions`
    /// while a rebalance moves ownership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_partitions: Option<Vec<i32>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GroupPartition {
    pub partition: i32,
    /// The group's committed offset: the next record it will process.
    /// Absent when the group has committed nothing on this partition (and
    /// always for a share group, which commits no offsets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<i64>,
    /// A share group's share-partition start offset: every record before
    /// it is done with (acknowledged or archived). Absent when the group
    /// has not read this partition yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_offset: Option<i64>,
    /// The partition's log-end offset (high watermark).
    pub log_end: i64,
    /// `log_end - committed`: records written but not yet processed by the
    /// group. Absent when nothing is committed, as in `kafka-consumer-groups`.
    /// A share group's lag is its share coordinator's count of the records
    /// from `start_offset` on not yet delivered to completion, as in
    /// `kafka-share-groups` (KIP-1226); absent where it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
    /// Where the group has committed nothing and is known to start from
    /// the earliest offset (the demo services): the records it will read,
    /// `log_end` minus the partition's log start. Kafka's tools show `-`
    /// here, as `lag` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncommitted_lag: Option<i64>,
    /// How long the next record the group will process here has waited:
    /// now minus its timestamp (from an index of offsets and timestamps
    /// the live view samples), 0 when nothing is left; absent when that
    /// record is older than what the gateway has seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_lag_ms: Option<i64>,
    /// Client id of the member that owns the partition, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// `GET /api/replay`: the topic read again, by a reader that joins no group
/// and commits nothing.
///
/// Query: `from` is `beginning` (the default), `offset` (with `partition`
/// and `offset`) or `timestamp` (with `timestamp_ms`: the first record at or
/// after it in each partition); `partition` limits the read to one
/// partition; `limit` (1 to [`MAX_REPLAY_RECORDS`], default 100) caps the
/// records returned. The range ends at each partition's log end when the
/// request arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReplayPage {
    /// Per partition read: where the read started and where it would end.
    pub ranges: Vec<ReplayRange>,
    /// Merged across partitions, oldest first: by record timestamp, then
    /// partition, then offset.
    pub records: Vec<crate::LiveRecord>,
    /// True when `limit` stopped the read before every range's end.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReplayRange {
    pub partition: i32,
    /// The first offset asked for.
    pub from: i64,
    /// The log-end offset when the request arrived: the read stops before it.
    pub to: i64,
}

/// Most records one replay returns.
pub const MAX_REPLAY_RECORDS: usize = 1_000;

/// `GET /api/topics`: a topic on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TopicSummary {
    pub name: String,
    pub partitions: usize,
}

/// `POST /api/topics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTopic {
    #[cfg_attr(
        feature = "schema",
        schemars(regex(pattern = r"^(?!\.\.?$)[a-zA-Z0-9._-]{1,249}$"))
    )]
    pub name: String,
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = MAX_NEW_TOPIC_PARTITIONS)))]
    #[serde(deserialize_with = "crate::integral::integer")]
    pub partitions: i32,
    /// Defaults to the gateway's `--replication-factor`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integral::optional_integer"
    )]
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 100)))]
    pub replication_factor: Option<i32>,
}

/// Kafka's rule for topic names, as an error message says it.
pub const TOPIC_NAME_RULE: &str =
    "use 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-' (not '.' or '..')";

/// Whether `name` is a legal Kafka topic name: 1 to 249 of
/// `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn is_topic_name(name: &str) -> bool {
    let legal = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    !name.is_empty() && name.len() <= 249 && legal && name != "." && name != ".."
}

/// Most partitions a topic created from the dashboard may have.
pub const MAX_NEW_TOPIC_PARTITIONS: i32 = 1_000;

impl NewTopic {
    /// Kafka's own rules for topic names (1 to 249 of `[a-zA-Z0-9._-]`, not
    /// `.` or `..`), and a partition count from 1 to
    /// [`MAX_NEW_TOPIC_PARTITIONS`].
    pub fn validate(&self) -> Result<(), crate::FieldError> {
        if !is_topic_name(&self.name) {
            return Err(crate::FieldError::new("name", TOPIC_NAME_RULE));
        }
        if !(1..=MAX_NEW_TOPIC_PARTITIONS).contains(&self.partitions) {
            return Err(crate::FieldError::new(
                "partitions",
                format!(
                    "must be between 1 and {MAX_NEW_TOPIC_PARTITIONS}, got {}",
                    self.partitions
                ),
            ));
        }
        if let Some(rf) = self.replication_factor
            && !(1..=100).contains(&rf)
        {
            return Err(crate::FieldError::new(
                "replication_factor",
                format!("must be between 1 and 100, got {rf}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, partitions: i32) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor: None,
        }
    }

    #[test]
    fn topic_names_follow_kafkas_rules() {
        assert!(topic("orders.v2_eu-1", 3).validate().is_ok());
        for bad in ["", ".", "..", "has space", "ünïcode", &"x".repeat(250)] {
            let err = topic(bad, 1).validate().expect_err(bad);
            assert_eq!(err.field, "name");
        }
        assert_eq!(
            topic("t", 0)
                .validate()
                .map_err(|e| e.field)
                .err()
                .as_deref(),
            Some("partitions")
        );
        assert!(topic("t", MAX_NEW_TOPIC_PARTITIONS).validate().is_ok());
    }
}

/// `GET /api/record`: one record, whole, in the shape live filters and
/// searches test records as (see the README's "The record a filter sees").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FullRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch, when the record has a timestamp.
    pub timestamp: Option<i64>,
    /// The key as text (invalid UTF-8 replaced), or its decoded JSON when
    /// `key_schema` names a schema; `null` for keyless records.
    pub key: serde_json::Value,
    pub headers: Vec<FullHeader>,
    /// The value: its JSON when it is JSON or a schema decoded it, else its
    /// text, else its bytes in base64; `value_format` says which.
    pub value: serde_json::Value,
    /// `json`, `text`, `base64`, `null`, or the schema's type: `avro`,
    /// `protobuf` (JSON Schema values are `json`).
    pub value_format: String,
    /// Whether the value's text was cut (only where escapes made its JSON
    /// text over six times its bytes).
    pub truncated: bool,
    /// The value's size in bytes.
    pub size: usize,
    pub key_schema: Option<crate::SchemaRef>,
    pub value_schema: Option<crate::SchemaRef>,
}

/// A header of a [`FullRecord`]: text, or base64 when it is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FullHeader {
    pub key: String,
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub base64: bool,
}
