//! A topic on the broker: create it when missing, describe it (partitions,
//! leaders, watermarks); and the cluster's other topics: list them, create one.
//!
//! librdkafka's metadata calls block the calling thread, so each runs on
//! tokio's blocking pool with a timeout.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;
use wire::api::{PartitionHealth, TopicHealth, TopicSummary};

use super::blocking;
use crate::config::Config;

/// How long one metadata request may take before the broker counts as unreachable.
pub(crate) const METADATA_TIMEOUT: Duration = Duration::from_secs(3);

/// One topic's admin client. Cheap to clone: the client is shared.
#[derive(Clone)]
pub(crate) struct TopicAdmin {
    admin: Arc<AdminClient<DefaultClientContext>>,
    name: Arc<str>,
}

impl TopicAdmin {
    pub(crate) fn new(config: &Config, name: &str) -> Result<Self, KafkaError> {
        Ok(Self {
            admin: Arc::new(super::client::admin(config)?),
            name: name.into(),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The topic's partition ids, creating the topic with `partitions` ×
    /// `replication_factor` if it does not exist. An existing topic is used as
    /// it is.
    pub(crate) async fn ensure(
        &self,
        partitions: i32,
        replication_factor: i32,
    ) -> Result<Vec<i32>, KafkaError> {
        if let Some(ids) = self.partition_ids().await? {
            return Ok(ids);
        }
        match self
            .create(&self.name, partitions, replication_factor)
            .await
        {
            // Another gateway (or a person) created it first: fine.
            Ok(()) | Err(CreateError::Exists) => {}
            Err(CreateError::Rejected { code, .. }) => return Err(KafkaError::AdminOp(code)),
            Err(CreateError::Kafka(err)) => return Err(err),
        }
        // Metadata may lag creation by a moment; the caller retries on this error.
        self.partition_ids().await?.ok_or(KafkaError::MetadataFetch(
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ))
    }

    /// Creates topic `name` (any topic, not only this one).
    pub(crate) async fn create(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
    ) -> Result<(), CreateError> {
        self.create_with(name, partitions, replication_factor, &[])
            .await
    }

    /// Creates topic `name` with these topic configs (`cleanup.policy`, …).
    pub(crate) async fn create_with(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
        configs: &[(&str, &str)],
    ) -> Result<(), CreateError> {
        let new_topic = configs.iter().fold(
            NewTopic::new(
                name,
                partitions,
                TopicReplication::Fixed(replication_factor),
            ),
            |topic, &(key, value)| topic.set(key, value),
        );
        let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
        let results = self
            .admin
            .create_topics([&new_topic], &options)
            .await
            .map_err(CreateError::Kafka)?;
        for result in results {
            match result {
                Ok(name) => tracing::info!(topic = %name, partitions, "created topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => return Err(CreateError::Exists),
                Err((name, code)) => {
                    tracing::warn!(topic = %name, %code, "could not create topic");
                    let reason = self.reason(&name, code).await;
                    return Err(CreateError::Rejected {
                        setting: Setting::of(code),
                        code,
                        reason,
                    });
                }
            }
        }
        Ok(())
    }

    /// Why the broker refused to create `name`, in Kafka's own words where
    /// librdkafka passes on only the code: the broker's message for a name
    /// that collides with another (`.` and `_` count as the same in topic
    /// names), else the code's description.
    async fn reason(&self, name: &str, code: RDKafkaErrorCode) -> String {
        // Kafka's internal topics count too (`_.consumer_offsets`).
        if code == RDKafkaErrorCode::InvalidTopic
            && let Ok(names) = self.names().await
            && let Some(other) = names.iter().find(|other| collide(other, name))
        {
            // The broker's words (ReplicationControlManager).
            return format!("Topic '{name}' collides with existing topic: {other}");
        }
        format!("the broker refused: {code}")
    }

    /// The name of every topic on the cluster, Kafka's internal ones too:
    /// the way to ask whether one exists, since a metadata request naming a
    /// missing topic may create it on a broker that creates topics on first
    /// use (`auto.create.topics.enable`).
    pub(crate) async fn names(&self) -> Result<Vec<String>, KafkaError> {
        let admin = self.admin.clone();
        blocking(move || {
            let metadata = admin.inner().fetch_metadata(None, METADATA_TIMEOUT)?;
            Ok(metadata
                .topics()
                .iter()
                .map(|t| t.name().to_owned())
                .collect())
        })
        .await
    }

    /// Every topic on the cluster, Kafka's internal ones too, by name.
    pub(crate) async fn list_all(&self) -> Result<Vec<TopicSummary>, KafkaError> {
        let admin = self.admin.clone();
        blocking(move || {
            let metadata = admin.inner().fetch_metadata(None, METADATA_TIMEOUT)?;
            let mut topics: Vec<TopicSummary> = metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| TopicSummary {
                    name: t.name().to_owned(),
                    partitions: t.partitions().len(),
                })
                .collect();
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(topics)
        })
        .await
    }

    /// The topic's partition ids, or `None` when the broker says it does not exist.
    pub(crate) async fn partition_ids(&self) -> Result<Option<Vec<i32>>, KafkaError> {
        let admin = self.admin.clone();
        let name = self.name.clone();
        blocking(move || {
            let metadata = admin
                .inner()
                .fetch_metadata(Some(&name), METADATA_TIMEOUT)?;
            let Some(topic) = metadata.topics().iter().find(|t| t.name() == &*name) else {
                return Ok(None);
            };
            match topic.error() {
                None => {}
                Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => return Ok(None),
                Some(err) => return Err(KafkaError::MetadataFetch(err.into())),
            }
            let mut ids: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
            ids.sort_unstable();
            Ok((!ids.is_empty()).then_some(ids))
        })
        .await
    }

    /// Partitions with their leaders and watermarks, for `/api/health`.
    pub(crate) async fn describe(&self) -> Result<Option<TopicHealth>, KafkaError> {
        let admin = self.admin.clone();
        let name = self.name.clone();
        blocking(move || {
            let client = admin.inner();
            let metadata = client.fetch_metadata(Some(&name), METADATA_TIMEOUT)?;
            let Some(topic) = metadata.topics().iter().find(|t| t.name() == &*name) else {
                return Ok(None);
            };
            if topic.error().is_some() || topic.partitions().is_empty() {
                return Ok(None);
            }
            let mut partitions = Vec::with_capacity(topic.partitions().len());
            for p in topic.partitions() {
                let (low, high) = client.fetch_watermarks(&name, p.id(), METADATA_TIMEOUT)?;
                partitions.push(PartitionHealth {
                    id: p.id(),
                    leader: p.leader(),
                    low_watermark: low,
                    high_watermark: high,
                });
            }
            partitions.sort_unstable_by_key(|p| p.id);
            Ok(Some(TopicHealth {
                name: name.to_string(),
                partitions,
            }))
        })
        .await
    }
}

/// Why a topic was not created.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateError {
    #[error("the topic exists")]
    Exists,
    #[error("{reason}")]
    Rejected {
        /// The setting the refusal is about, when it is about one.
        setting: Option<Setting>,
        code: RDKafkaErrorCode,
        /// Why, in Kafka's words where they are known.
        reason: String,
    },
    #[error(transparent)]
    Kafka(KafkaError),
}

/// Whether two different topic names collide: Kafka uses `.` and `_` in
/// metric names interchangeably, so it refuses a name that differs from an
/// existing one only there.
fn collide(existing: &str, new: &str) -> bool {
    let normal = |name: &str| name.replace('.', "_");
    existing != new && normal(existing) == normal(new)
}

/// A setting of a new topic the broker can refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    Name,
    Partitions,
    ReplicationFactor,
}

impl Setting {
    fn of(code: RDKafkaErrorCode) -> Option<Self> {
        match code {
            RDKafkaErrorCode::InvalidReplicationFactor => Some(Self::ReplicationFactor),
            RDKafkaErrorCode::InvalidPartitions => Some(Self::Partitions),
            RDKafkaErrorCode::InvalidTopic => Some(Self::Name),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differing_only_in_dots_and_underscores_collide() {
        assert!(collide("ux.dot_mix", "ux_dot.mix"));
        assert!(collide("a.b", "a_b"));
        assert!(!collide("a.b", "a.b"));
        assert!(!collide("a.b", "a-b"));
    }
}
