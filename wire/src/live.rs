//! The `GET /ws` stream: every record consumed from the topic, as JSON text
//! frames, one [`ServerMessage`] per frame.
//!
//! A client may add `?last=N` to the URL to first receive up to the last `N`
//! records of each partition that the gateway still holds, then the live
//! records, with no gap and no duplicate between the two.

use serde::{Deserialize, Serialize};

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
