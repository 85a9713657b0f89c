//! The `GET /ws` stream: every record consumed from the topic, as JSON text
//! frames, one [`ServerMessage`] per frame.
//!
//! A client may add `?last=N` to the URL to first receive up to the last `N`
//! records of each partition that the gateway still holds, then the live
//! records, with no gap and no duplicate between the two.

use serde::{Deserialize, Serialize};

use crate::api::{GroupView, TopicHealth};
use crate::services::ServiceView;

/// One WebSocket text frame from the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame of every connection.
    Hello {
        /// The topic being streamed.
        topic: String,
        /// How many history records follow before the live ones.
        history: usize,
    },
    /// A record consumed from the topic.
    Record(LiveRecord),
    /// This client fell behind and `missed` records were dropped for it
    /// (the gateway keeps a bounded queue per client).
    Lagged { missed: u64 },
    /// The state of the whole flow, about once a second: the topic's
    /// partitions, every consumer group reading it, the demo services. A
    /// client that falls behind skips to the latest.
    Flow(FlowSnapshot),
    /// Orders a demo service finished since its last such message (batched,
    /// a few per second).
    Processed {
        service: String,
        orders: Vec<ProcessedOrder>,
    },
}

/// See [`ServerMessage::Flow`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub services: Vec<ServiceView>,
    /// The last load run, while it runs and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<crate::load::LoadStatus>,
}

/// One order a demo service is done with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// A Kafka record header; `value` is text with invalid UTF-8 replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordHeader {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The record value, decoded as far as it can be. Any program may write to
/// the topic, so every shape is expected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// Valid JSON (e.g. an order from the gateway).
    Json { value: serde_json::Value },
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
    }
}
