//! The cluster's topics: listed for the Topics card, and created with a
//! chosen partition count.

use wire::api::{NewTopic, TopicSummary};

use super::Core;
use crate::kafka::admin::{CreateError, Setting};

/// Why a topic was not listed or created.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TopicError {
    #[error("topic {0:?} exists already")]
    Exists(String),
    /// The broker refused one of the new topic's settings.
    #[error("{message}")]
    Refused {
        setting: TopicSetting,
        message: String,
    },
    #[error("{0}")]
    Unavailable(String),
}

/// A setting of a new topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopicSetting {
    Name,
    Partitions,
    ReplicationFactor,
}

impl<F> Core<F> {
    /// Every topic on the cluster browsers may watch (`--topics`,
    /// `--show-internal`), by name.
    pub(crate) async fn topics(&self) -> Result<Vec<TopicSummary>, TopicError> {
        let mut topics = self
            .admin
            .list_all()
            .await
            .map_err(|e| TopicError::Unavailable(e.to_string()))?;
        topics.retain(|t| self.config.may_watch(&t.name));
        Ok(topics)
    }

    /// Creates `topic`, with the gateway's replication factor unless it
    /// names one.
    pub(crate) async fn create_topic(&self, topic: NewTopic) -> Result<TopicSummary, TopicError> {
        let replication = topic
            .replication_factor
            .unwrap_or(self.config.replication_factor);
        match self
            .admin
            .create(&topic.name, topic.partitions, replication)
            .await
        {
            Ok(()) => Ok(TopicSummary {
                partitions: usize::try_from(topic.partitions).unwrap_or(0),
                name: topic.name,
            }),
            Err(CreateError::Exists) => Err(TopicError::Exists(topic.name)),
            Err(
                err @ CreateError::Rejected {
                    setting: Some(setting),
                    ..
                },
            ) => Err(TopicError::Refused {
                setting: match setting {
                    Setting::Name => TopicSetting::Name,
                    Setting::Partitions => TopicSetting::Partitions,
                    Setting::ReplicationFactor => TopicSetting::ReplicationFactor,
                },
                message: err.to_string(),
            }),
            Err(err) => Err(TopicError::Unavailable(err.to_string())),
        }
    }
}
