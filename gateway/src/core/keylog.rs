//! Following the key log: every gateway of a topic reads the keys all of
//! them acknowledged into its own [`Idempotency`], and writes its own there
//! before answering, so that any of them can answer a retry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::idempotency::{Acked, Idempotency, KeyHash};
use crate::clock::now_ms;
use crate::kafka::ProduceError;
use crate::kafka::admin::TopicAdmin;
use crate::kafka::keys::{self, KeyLog, KeyRecord, Read};
use crate::kafka::producer::RecordProducer;

/// Longest a request waits for this gateway to read the key log to its end
/// before it is refused with 503 (nothing written).
pub(crate) const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a key could not be checked against the other gateways'.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not read the key log {topic:?} to learn whether another gateway acknowledged this \
     Idempotency-Key ({reason}); nothing was written: retry"
)]
pub(crate) struct KeyLogUnavailable {
    topic: String,
    reason: String,
}

/// The keys of one gateway, shared through the key log.
pub(crate) struct Keys {
    pub(crate) local: Arc<Idempotency>,
    log: Arc<KeyLog>,
    /// The offset after the last key read; `None` until the log is open.
    read_to: watch::Receiver<Option<i64>>,
}

impl Keys {
    /// Opens the key log `topic` (creating it if it is missing) and follows it
    /// until `shutdown`, from the first key within `window`.
    pub(crate) fn start(
        log: KeyLog,
        local: Idempotency,
        admin: TopicAdmin,
        replication_factor: i32,
        window: Duration,
        shutdown: &CancellationToken,
    ) -> Self {
        let (log, local) = (Arc::new(log), Arc::new(local));
        let (read_to, reader) = watch::channel(None);
        tokio::spawn(follow(
            log.clone(),
            local.clone(),
            Opening {
                admin,
                replication_factor,
                window,
            },
            read_to,
            shutdown.clone(),
        ));
        Self {
            local,
            log,
            read_to: reader,
        }
    }

    /// Returns once every key acknowledged before this call (by any gateway)
    /// is known here.
    pub(crate) async fn caught_up(&self) -> Result<(), KeyLogUnavailable> {
        let unavailable = |reason: String| KeyLogUnavailable {
            topic: self.log.topic().to_owned(),
            reason,
        };
        let mut read_to = self.read_to.clone();
        let caught_up = async {
            let end = self.log.end().await.map_err(|err| err.to_string())?;
            read_to
                .wait_for(|read| read.is_some_and(|at| at >= end))
                .await
                .map(|_| ())
                .map_err(|_| "its reader has stopped: the gateway is stopping".to_owned())
        };
        match tokio::time::timeout(CATCH_UP_TIMEOUT, caught_up).await {
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(unavailable(format!(
                "not read to its end within {CATCH_UP_TIMEOUT:?}"
            ))),
        }
    }

    /// Writes an acknowledged key to the log, for the other gateways.
    pub(crate) async fn share(
        &self,
        producer: &RecordProducer,
        key: KeyHash,
        acked: &Acked,
    ) -> Result<(), ProduceError> {
        let record = KeyRecord {
            key: key.0,
            order_id: acked.order_id,
            partition: acked.partition,
            offset: acked.offset,
            timestamp_ms: acked.timestamp_ms,
        };
        self.log.write(producer, &record).await
    }
}

struct Opening {
    admin: TopicAdmin,
    replication_factor: i32,
    window: Duration,
}

/// Opens the log (retrying while the broker is away) and learns every key
/// in it until `shutdown`.
async fn follow(
    log: Arc<KeyLog>,
    local: Arc<Idempotency>,
    opening: Opening,
    read_to: watch::Sender<Option<i64>>,
    shutdown: CancellationToken,
) {
    let mut complained = false;
    let start = loop {
        let opened = tokio::select! {
            _ = shutdown.cancelled() => return,
            opened = log.open(&opening.admin, opening.replication_factor, opening.window) => opened,
        };
        match opened {
            Ok(start) => break start,
            Err(err) => {
                if !complained {
                    complained = true;
                    if keys::refused(&err) {
                        tracing::error!(%err, topic = %log.topic(), "the key log cannot be created: \
                            orders with an Idempotency-Key are refused until it exists (create it \
                            by hand, or use --idempotency-topic)");
                    } else {
                        tracing::warn!(%err, topic = %log.topic(), "the key log is not open yet; retrying");
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    tracing::info!(topic = %log.topic(), start, "following the key log");
    read_to.send_replace(Some(start));
    loop {
        let read = tokio::select! {
            _ = shutdown.cancelled() => return,
            read = log.recv() => read,
        };
        let next = match read {
            Ok(Read::Key(record, next)) => {
                let acked = Acked {
                    order_id: record.order_id,
                    partition: record.partition,
                    offset: record.offset,
                    timestamp_ms: record.timestamp_ms,
                };
                local.learn(KeyHash(record.key), &acked, Instant::now(), now_ms());
                next
            }
            Ok(Read::Skipped(next) | Read::End(next)) => next,
            Err(err) => {
                tracing::debug!(%err, "key log");
                continue;
            }
        };
        read_to.send_if_modified(|at| {
            let later = at.is_none_or(|at| next > at);
            if later {
                *at = Some(next);
            }
            later
        });
    }
}
