//! The live view's consumer: manually assigned to a topic's partitions at
//! explicit offsets, never subscribed, never committing, so no consumer
//! group on the broker changes because a dashboard is open.

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use wire::LiveRecord;

use super::Error;
use super::record::{self, Schemas};
use crate::clock::now_ms;
use crate::config::Config;

/// One topic's live consumer.
pub(crate) struct LiveConsumer {
    consumer: StreamConsumer,
    topic: String,
    schemas: Schemas,
}

impl LiveConsumer {
    pub(crate) fn new(config: &Config, topic: &str, schemas: Schemas) -> Result<Self, Error> {
        Ok(Self {
            consumer: super::client::live_consumer(config)?,
            topic: topic.to_owned(),
            schemas,
        })
    }

    /// Reads these (partition, start offset) pairs, and only these.
    pub(crate) fn assign(&self, starts: &[(i32, i64)]) -> Result<(), Error> {
        self.consumer.assign(&self.list(starts)?)
    }

    /// Also reads these (partition, start offset) pairs.
    pub(crate) fn add(&self, starts: &[(i32, i64)]) -> Result<(), Error> {
        self.consumer.incremental_assign(&self.list(starts)?)
    }

    /// The next record, decoded, and when `document()` says so once it
    /// arrived, the document filters test it as (`record::document`).
    /// Errors are transport errors while the broker is away: librdkafka
    /// reconnects by itself, and the next call waits for the next record.
    pub(crate) async fn recv(
        &self,
        document: impl Fn() -> bool,
    ) -> Result<(LiveRecord, Option<Vec<u8>>), Error> {
        let message = self.consumer.recv().await?;
        let decoded = self.schemas.decode(&message).await;
        let live = record::to_live(&message, now_ms(), &decoded);
        Ok((
            live,
            document().then(|| record::document(&message, &decoded)),
        ))
    }

    fn list(&self, starts: &[(i32, i64)]) -> Result<TopicPartitionList, Error> {
        let mut list = TopicPartitionList::new();
        for &(partition, offset) in starts {
            list.add_partition_offset(&self.topic, partition, Offset::Offset(offset))?;
        }
        Ok(list)
    }
}
