//! The key log: a compacted topic where every gateway of a topic writes the
//! `Idempotency-Key`s it acknowledged and reads everyone's, so that a retry
//! sent to another gateway gets the first acknowledgement.
//!
//! One record per acknowledged key, on partition 0: its Kafka key is the
//! key's hash in hex (never the client's key itself), its value the
//! acknowledgement as JSON. The topic is created `cleanup.policy=compact,delete`
//! with `retention.ms` and `segment.ms` the idempotency window, so it holds
//! at most about two windows' keys whatever runs (Kafka deletes a segment
//! once it is closed and its newest record is older than the retention).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::admin::{CreateError, METADATA_TIMEOUT, TopicAdmin};
use super::client::EndIsNoError;
use super::producer::{Outgoing, ProduceError, RecordProducer};
use super::{Error, blocking};
use crate::clock::now_ms;
use crate::config::Config;

/// The only partition read and written (a key log made with more by hand
/// works too: the others are left alone).
const PARTITION: i32 = 0;

/// One acknowledged key, as the key log holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    /// The key's hash (never the key itself).
    #[serde(skip)]
    pub(crate) key: [u8; 16],
    pub(crate) order_id: uuid::Uuid,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp_ms: i64,
}

/// What one read of the key log gave.
pub(crate) enum Read {
    /// A key, and the offset after it.
    Key(KeyRecord, i64),
    /// A record that is not a key (written by something else): skipped.
    Skipped(i64),
    /// The end of the log, at this offset.
    End(i64),
}

/// The key log of one topic: its reader, and what writing to it needs.
pub(crate) struct KeyLog {
    topic: String,
    consumer: Arc<StreamConsumer<EndIsNoError>>,
    /// Asks where the log ends (see [`super::client::key_log_ends`]).
    ends: Arc<BaseConsumer>,
}

impl KeyLog {
    pub(crate) fn new(config: &Config, topic: &str) -> Result<Self, Error> {
        Ok(Self {
            topic: topic.to_owned(),
            consumer: Arc::new(super::client::key_log_consumer(config)?),
            ends: Arc::new(super::client::key_log_ends(config)?),
        })
    }

    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// Creates the key log if it is missing, and starts reading it at the
    /// first key written within `window`; the offset reading starts at.
    pub(crate) async fn open(
        &self,
        admin: &TopicAdmin,
        replication_factor: i32,
        window: Duration,
    ) -> Result<i64, Error> {
        let retention = window.as_millis().to_string();
        match admin
            .create_with(
                &self.topic,
                1,
                replication_factor,
                &[
                    ("cleanup.policy", "compact,delete"),
                    ("retention.ms", &retention),
                    // Only closed segments are deleted: one a window keeps
                    // what the log holds to about two windows' keys.
                    ("segment.ms", &retention),
                ],
            )
            .await
        {
            Ok(()) | Err(CreateError::Exists) => {}
            Err(CreateError::Rejected { code, .. }) => return Err(KafkaError::AdminOp(code)),
            Err(CreateError::Kafka(err)) => return Err(err),
        }
        let since = now_ms() - i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let (topic, consumer) = (self.topic.clone(), self.consumer.clone());
        blocking(move || {
            let mut wanted = TopicPartitionList::new();
            wanted.add_partition_offset(&topic, PARTITION, Offset::Offset(since))?;
            let found = consumer.offsets_for_times(wanted, METADATA_TIMEOUT)?;
            let start = match found.find_partition(&topic, PARTITION).map(|p| p.offset()) {
                Some(Offset::Offset(offset)) => offset,
                // No key that recent: start at the end.
                _ => {
                    consumer
                        .fetch_watermarks(&topic, PARTITION, METADATA_TIMEOUT)?
                        .1
                }
            };
            let mut at = TopicPartitionList::new();
            at.add_partition_offset(&topic, PARTITION, Offset::Offset(start))?;
            consumer.assign(&at)?;
            Ok(start)
        })
        .await
    }

    /// The next key. Errors are transport errors while the broker is away:
    /// librdkafka reconnects by itself, and the next call waits.
    pub(crate) async fn recv(&self) -> Result<Read, Error> {
        match self.consumer.recv().await {
            Ok(message) => {
                let next = message.offset() + 1;
                Ok(parse(message.key(), message.payload())
                    .map_or(Read::Skipped(next), |key| Read::Key(key, next)))
            }
            Err(KafkaError::PartitionEOF(_)) => {
                let position = self.consumer.position()?;
                let end = position
                    .find_partition(&self.topic, PARTITION)
                    .and_then(|p| p.offset().to_raw())
                    .unwrap_or(0);
                Ok(Read::End(end))
            }
            Err(err) => Err(err),
        }
    }

    /// The offset the next key will be written at: a reader that reached it
    /// has read every key acknowledged before this call.
    pub(crate) async fn end(&self) -> Result<i64, Error> {
        let (topic, ends) = (self.topic.clone(), self.ends.clone());
        blocking(move || {
            Ok(ends
                .fetch_watermarks(&topic, PARTITION, METADATA_TIMEOUT)?
                .1)
        })
        .await
    }

    /// Writes `key` to the log and waits for the broker's acknowledgement.
    pub(crate) async fn write(
        &self,
        producer: &RecordProducer,
        key: &KeyRecord,
    ) -> Result<(), ProduceError> {
        // Serializing a uuid and integers cannot fail.
        let value = serde_json::to_vec(key).unwrap_or_default();
        producer
            .send(Outgoing {
                topic: Some((&self.topic, PARTITION)),
                key: &hex(&key.key),
                payload: &value,
                headers: &[],
                timestamp_ms: key.timestamp_ms,
            })
            .await
            .map(|_| ())
    }
}

/// A key record from its Kafka key and value, as a gateway writes them;
/// `None` for anything else (a position no acknowledgement can have, a key
/// in another spelling, which compaction would keep beside the first).
fn parse(key: Option<&[u8]>, value: Option<&[u8]>) -> Option<KeyRecord> {
    let hash = unhex(key?)?;
    let mut record: KeyRecord = serde_json::from_slice(value?).ok()?;
    if record.partition < 0 || record.offset < 0 {
        return None;
    }
    record.key = hash;
    Some(record)
}

fn hex(bytes: &[u8; 16]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(32), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// 32 lowercase hex digits as [`hex`] writes them, and nothing else.
fn unhex(text: &[u8]) -> Option<[u8; 16]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != 32 {
        return None;
    }
    let mut out = [0_u8; 16];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Whether `err` says the key log cannot be created here (the cluster
/// refuses the name or the configs, or this client may not create topics).
pub(crate) fn refused(err: &Error) -> bool {
    matches!(
        err,
        KafkaError::AdminOp(
            RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::InvalidConfig
                | RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::PolicyViolation
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_record_reads_back_as_written_and_anything_else_is_skipped() {
        let record = KeyRecord {
            key: [
                0xab, 0xcd, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xff,
            ],
            order_id: uuid::Uuid::from_u128(7),
            partition: 2,
            offset: 41,
            timestamp_ms: 1_700_000_000_000,
        };
        let value = serde_json::to_vec(&record).expect("json");
        let key = hex(&record.key);
        assert_eq!(key.len(), 32);
        assert_eq!(parse(Some(key.as_bytes()), Some(&value)), Some(record));
        assert_eq!(parse(None, Some(&value)), None);
        assert_eq!(parse(Some(b"not hex"), Some(&value)), None);
        assert_eq!(parse(Some(&[b'z'; 32]), Some(&value)), None);
        assert_eq!(parse(Some(key.as_bytes()), Some(b"{}")), None);
        assert_eq!(parse(Some(key.as_bytes()), None), None);
        // Another spelling of the same hash, or a sign from_str_radix takes.
        let upper = key.to_uppercase();
        assert_eq!(parse(Some(upper.as_bytes()), Some(&value)), None);
        let signed = format!("+{}", &key[1..]);
        assert_eq!(parse(Some(signed.as_bytes()), Some(&value)), None);
        // A position no acknowledgement has.
        for (partition, offset) in [(-7, 41), (2, -1)] {
            let forged = serde_json::to_vec(&KeyRecord {
                partition,
                offset,
                ..record
            })
            .expect("json");
            assert_eq!(parse(Some(key.as_bytes()), Some(&forged)), None);
        }
    }
}
