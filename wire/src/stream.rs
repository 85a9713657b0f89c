//! The `GET /ws` stream: every record consumed from the topic, as JSON text
//! frames, one [`ServerMessage`] per frame.
//!
//! A client may add `?last=N` to the URL to first receive up to the last `N`
//! records of each partition that the gateway still holds, then the live
//! records, with no gap and no duplicate between the two.
//!
//! A client that reconnects adds `topic=T&resume=P:O,P:O,...`: for each
//! partition, the next offset it needs (see [`resume_param`]). The gateway
//! then sends every record from there on, exactly once, reading from Kafka
//! what it no longer holds in memory (up to a bound; what is beyond it is
//! reported as [`ServerMessage::Lagged`]). This is what lets a browser ride
//! out a gateway restart, or move to another gateway, without a gap.
//!
//! `topic=T` selects the topic streamed (the gateway's own without it), and
//! `resume` positions are always that topic's. `filter=F` (jq's language,
//! at most [`MAX_FILTER_BYTES`]) streams only the records F selects, from
//! when the filter started in the gateway, with [`ServerMessage::Filter`]
//! saying how it does; it cannot be combined with `resume`.
//!
//! `batch=N` (at most [`MAX_BATCH`]) lets the gateway put up to `N`
//! consecutive records in one [`ServerMessage::Records`] when more than one
//! is ready for the client (its history, or live records arriving faster
//! than it reads): fewer, larger messages under load, one message per
//! record otherwise. Without it every record is its own `record` message,
//! as clients that do not know `records` need.
//!
//! Framing: every message is one JSON object tagged `type`; clients skip
//! types and fields they do not know. One connection is one stream (a topic,
//! later a filter) chosen in its URL. Messages for anything more on one
//! connection (searches, subscriptions a client opens by message) will carry
//! a `sub` naming it, the URL's stream none.

use serde::{Deserialize, Serialize};

use crate::api::{GroupView, QuorumView, TopicHealth};
use crate::services::ServiceView;

/// One WebSocket text frame from the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame of every connection.
    Hello {
        /// The topic being streamed.
        topic: String,
        /// How many history records follow before the live ones.
        history: usize,
        /// For each partition, the offset from which this connection's
        /// records are complete: a client that has seen nothing of a
        /// partition yet resumes from here.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        positions: Vec<PartitionOffset>,
    },
    /// A record consumed from the topic.
    Record(LiveRecord),
    /// Several records in a row, in order, read as that many `record`
    /// messages; only to a client that asked for `batch`. (The gateway's
    /// elements carry the `record` message's `"type": "record"` too.)
    Records { records: Vec<LiveRecord> },
    /// This client fell behind and `missed` records were dropped for it
    /// (each client may fall a bounded number of records behind).
    Lagged { missed: u64 },
    /// The state of the whole flow, about once a second: the topic's
    /// partitions, every consumer group reading it, the demo services. A
    /// client that falls behind skips to the latest.
    Flow(FlowSnapshot),
    /// Orders a demo service finished since its last such message (four a
    /// second per service; at most the newest 1,024 of them: the service's
    /// counters in [`ServerMessage::Flow`] count them all).
    Processed {
        service: String,
        orders: Vec<ProcessedOrder>,
    },
    /// Of a stream with a `filter`: how the filter is doing, when it
    /// starts and about twice a second while its counts change.
    Filter(FilterStatus),
}

/// How the gateway begins every `records` message (it joins its records'
/// texts after this), and every `record` one.
pub const RECORDS_HEAD: &str = r#"{"type":"records","records":["#;
const RECORD_HEAD: &str = r#"{"type":"record","#;

/// The records of a `record` or `records` message, each as its text (a
/// `record` message, tag and all), without reading them: a client that
/// counts thousands of records a second and shows a few reads only those
/// whole. The records are found by the message's structure alone
/// ([`crate::scan`]), as the gateway writes it: [`RECORDS_HEAD`], the
/// records, `]}`. `None` for any other message, and for a `records`
/// message not so made.
pub fn record_texts(message: &str) -> Option<Vec<&str>> {
    if message.starts_with(RECORD_HEAD) {
        return Some(vec![message]);
    }
    // From the array's `[`, the last byte of the head.
    let array = message
        .strip_prefix(RECORDS_HEAD)
        .map(|_| &message[RECORDS_HEAD.len() - 1..])?
        .trim_end()
        .strip_suffix('}')?;
    crate::scan::array_elements(array)
}

/// Most records a client may ask to get in one message (`batch`).
pub const MAX_BATCH: usize = 1_024;

/// Longest `filter` a stream takes, in bytes.
pub const MAX_FILTER_BYTES: usize = 2_048;

/// See [`ServerMessage::Filter`]. Counts are the filter's since it started
/// running in the gateway (it runs once for every client with the same
/// filter on the same topic).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FilterStatus {
    /// The filter, as the client sent it.
    pub filter: String,
    /// Records tested.
    pub tested: u64,
    /// Records that matched, and were sent.
    pub matched: u64,
    /// Records the filter failed on (an error, or a worker stopped for
    /// taking too long or too much), and so skipped.
    pub skipped: u64,
    /// Records not tested because the filter fell behind the topic, or
    /// was stopped.
    pub not_tested: u64,
    /// Why the last skipped record was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Set when the filter was stopped for good (its worker failed record
    /// after record): why. No record matches after that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// A position in one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PartitionOffset {
    pub partition: i32,
    pub offset: i64,
}

/// Most partitions a `resume` parameter may name.
pub const MAX_RESUME_PARTITIONS: usize = 1_024;

/// The `resume` query parameter: `P:O` pairs, comma-separated, where `O` is
/// the next offset the client needs from partition `P`.
pub fn resume_param(positions: impl IntoIterator<Item = PartitionOffset>) -> String {
    let pairs: Vec<String> = positions
        .into_iter()
        .map(|p| format!("{}:{}", p.partition, p.offset))
        .collect();
    pairs.join(",")
}

/// Parses a `resume` parameter; the error says what is wrong with it.
pub fn parse_resume(param: &str) -> Result<Vec<PartitionOffset>, String> {
    if param.is_empty() {
        return Ok(Vec::new());
    }
    let mut positions = Vec::new();
    for pair in param.split(',') {
        if positions.len() == MAX_RESUME_PARTITIONS {
            return Err(format!(
                "names more than {MAX_RESUME_PARTITIONS} partitions"
            ));
        }
        let (partition, offset) = pair
            .split_once(':')
            .ok_or_else(|| format!("`{}` is not PARTITION:OFFSET", truncate(pair)))?;
        let partition: i32 = partition
            .parse()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| format!("`{}` is not a partition number", truncate(partition)))?;
        let offset: i64 = offset
            .parse()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(|| format!("`{}` is not an offset", truncate(offset)))?;
        if positions
            .iter()
            .any(|p: &PartitionOffset| p.partition == partition)
        {
            return Err(format!("partition {partition} is named twice"));
        }
        positions.push(PartitionOffset { partition, offset });
    }
    Ok(positions)
}

/// Echoes at most 32 characters of bad input back in an error.
fn truncate(text: &str) -> &str {
    text.char_indices()
        .nth(32)
        .map_or(text, |(i, _)| &text[..i])
}

/// See [`ServerMessage::Flow`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FlowSnapshot {
    /// When the gateway took it, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The topic, when the broker answered and it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicHealth>,
    /// Why the broker could not be read, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub groups: Vec<GroupView>,
    /// Why consumer-protocol (KIP-848) and share (KIP-932) groups could not
    /// be described this time, when they could not (a broker not answering
    /// the gateway's protocol client, or a security setting it does not
    /// speak): classic groups are still shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_types_error: Option<String>,
    /// The KRaft metadata quorum (the gateway's own topic's snapshots only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<QuorumView>,
    /// Why the quorum could not be read, when it could not (a broker
    /// older than 3.3, or not allowed to describe the cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_error: Option<String>,
    pub services: Vec<ServiceView>,
    /// The last load run, while it runs and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<crate::load::LoadStatus>,
}

/// One order a demo service is done with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProcessedOrder {
    pub partition: i32,
    pub offset: i64,
    /// The `order-id` header, when the record has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The `produced-at-ms` header, when the record has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_at_ms: Option<i64>,
    pub processed_at_ms: i64,
    /// Which member (1-based) processed it.
    pub member: u32,
    /// Attempts it took; more than one when attempts failed.
    pub attempts: u32,
    /// True when every attempt failed and the service gave up on it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gave_up: bool,
}

/// A record as the gateway consumed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LiveRecord {
    pub partition: i32,
    pub offset: i64,
    /// The record key as text (invalid UTF-8 replaced), absent for keyless records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<RecordHeader>,
    /// The record's Kafka timestamp, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    /// From the `produced-at-ms` header, when the producer wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_at_ms: Option<i64>,
    /// When the gateway consumed the record.
    pub consumed_at_ms: i64,
    /// Size of the value in bytes, before any truncation.
    pub size: usize,
    pub payload: Payload,
    /// The Schema Registry schema the key names (Confluent's wire format),
    /// when a registry is configured; `key` is then its decoded JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_schema: Option<SchemaRef>,
    /// The Schema Registry schema the value names; `payload` is then the
    /// decoded JSON, or the bytes when `error` says why it could not be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_schema: Option<SchemaRef>,
}

/// A schema a record names by id, as the registry describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaRef {
    pub id: u32,
    /// The first subject the registry lists for the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `avro`, `protobuf` or `json` (JSON Schema); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Why the schema could not be had or did not decode the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A Kafka record header; `value` is text with invalid UTF-8 replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RecordHeader {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The record value, decoded as far as it can be. Any program may write to
/// the topic, so every shape is expected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// Valid JSON (e.g. an order from the gateway), as the producer wrote it.
    Json {
        #[cfg_attr(feature = "schema", schemars(with = "serde_json::Value"))]
        value: crate::JsonValue,
    },
    /// UTF-8 text that is not JSON (e.g. the tutorial's `new order created!`),
    /// or JSON too large to show whole.
    Text { text: String, truncated: bool },
    /// Not UTF-8: the first bytes in hex.
    Binary { hex: String, truncated: bool },
    /// No value at all (a tombstone).
    Null,
}

impl LiveRecord {
    /// The value of the first header named `key`, if any.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_positions_round_trip() {
        let positions = vec![
            PartitionOffset {
                partition: 0,
                offset: 12,
            },
            PartitionOffset {
                partition: 3,
                offset: 0,
            },
        ];
        let param = resume_param(positions.clone());
        assert_eq!(param, "0:12,3:0");
        assert_eq!(parse_resume(&param), Ok(positions));
        assert_eq!(parse_resume(""), Ok(vec![]));
    }

    #[test]
    fn bad_resume_parameters_say_what_is_wrong() {
        for (param, wanted) in [
            ("0", "`0` is not PARTITION:OFFSET"),
            ("x:1", "`x` is not a partition number"),
            ("-1:1", "`-1` is not a partition number"),
            ("1:-5", "`-5` is not an offset"),
            ("1:2,1:3", "partition 1 is named twice"),
            ("0:1,", "`` is not PARTITION:OFFSET"),
        ] {
            assert_eq!(parse_resume(param), Err(wanted.to_owned()), "{param}");
        }
        let many = (0..=MAX_RESUME_PARTITIONS)
            .map(|p| format!("{p}:0"))
            .collect::<Vec<_>>();
        assert!(parse_resume(&many.join(",")).is_err_and(|e| e.contains("more than")));
        let long = format!("{}:1", "9".repeat(100));
        assert_eq!(
            parse_resume(&long),
            Err(format!("`{}` is not a partition number", "9".repeat(32)))
        );
    }

    #[test]
    fn messages_are_tagged_by_type() {
        let json = serde_json::to_value(ServerMessage::Lagged { missed: 3 }).expect("serialize");
        assert_eq!(json, serde_json::json!({"type": "lagged", "missed": 3}));

        let record = ServerMessage::Record(LiveRecord {
            partition: 1,
            offset: 7,
            key: None,
            headers: vec![],
            timestamp_ms: None,
            produced_at_ms: None,
            consumed_at_ms: 5,
            size: 0,
            payload: Payload::Null,
            key_schema: None,
            value_schema: None,
        });
        let text = serde_json::to_string(&record).expect("serialize");
        assert_eq!(
            text,
            r#"{"type":"record","partition":1,"offset":7,"consumed_at_ms":5,"size":0,"payload":{"kind":"null"}}"#
        );
        assert_eq!(
            serde_json::from_str::<ServerMessage>(&text).expect("parse"),
            record
        );

        // A batch as the gateway writes it: its elements are `record`
        // messages, tag and all.
        let ServerMessage::Record(one) = record else {
            unreachable!()
        };
        let batch = format!(r#"{{"type":"records","records":[{text},{text}]}}"#);
        let both = ServerMessage::Records {
            records: vec![one.clone(), one.clone()],
        };
        assert_eq!(
            serde_json::from_str::<ServerMessage>(&batch).expect("parse"),
            both
        );
        // Their texts, unread: each reads as the record it is.
        let texts = record_texts(&batch).expect("records");
        assert_eq!(texts, [text.as_str(), text.as_str()]);
        assert_eq!(record_texts(&text).expect("record"), [text.as_str()]);
        for text in texts {
            assert_eq!(
                serde_json::from_str::<ServerMessage>(text).expect("parse"),
                ServerMessage::Record(one.clone())
            );
        }
        for other in [
            r#"{"type":"lagged","missed":3}"#,
            r#"{"type":"records","records":"#,
            r#"{"type":"records","records":[{]}"#,
            "",
        ] {
            assert_eq!(record_texts(other), None, "{other}");
        }
    }
}
