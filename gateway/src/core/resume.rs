//! Resuming a live client from the offsets it had seen (`/ws?resume=...`).
//!
//! The hub holds only the last records of each partition. What a resuming
//! client needs from before that is read from Kafka by a short-lived
//! manual-assignment reader (as a replay is, committing nothing), before the
//! hub's history and the live records are sent. Bounded: at most
//! [`MAX_RECORDS`] records per resume, split evenly across partitions, the
//! newest of each gap; what is beyond them is reported as missed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use wire::ServerMessage;
use wire::api::ReplayRange;
use wire::stream::PartitionOffset;

use super::hub::{Frame, encode};
use super::replay::{per_client_reads, run_reader};
use crate::admission::{Admission, Client};
use crate::config::Config;
use crate::kafka::reader::{READ_TIMEOUT, RangeReader};
use crate::kafka::record::Schemas;
use crate::metrics::Metrics;

/// Most records one resume reads from Kafka.
pub(crate) const MAX_RECORDS: usize = 5_000;
/// Resumes reading from Kafka at once; after a gateway restart every
/// browser resumes at the same moment, and the others wait their turn.
pub(crate) const MAX_CONCURRENT: usize = 4;
/// How long a resume waits for its turn before it gives up and reports
/// the gap as missed.
const WAIT_FOR_TURN: Duration = Duration::from_secs(10);

/// What a resuming client is sent before the hub's history.
pub(crate) struct CatchUp<F> {
    /// What it missed that the hub no longer holds, read from Kafka.
    pub(crate) frames: Vec<F>,
    /// Offsets it missed that were not read (beyond the bound, or unreadable).
    pub(crate) missed: u64,
}

/// The resumes of every watched topic: one bound for them all.
pub(crate) struct Resumes {
    config: Arc<Config>,
    /// Turns to read, [`MAX_CONCURRENT`] in all; resumes wait for one.
    slots: Arc<Semaphore>,
    /// Resumes per client, reading or waiting to: one address's many
    /// resumes must not queue ahead of everyone else's.
    per_client: Arc<Admission>,
    metrics: Arc<Metrics>,
    schemas: Schemas,
}

impl Resumes {
    pub(crate) fn new(config: Arc<Config>, metrics: Arc<Metrics>, schemas: Schemas) -> Self {
        Self {
            metrics,
            schemas,
            slots: Arc::new(Semaphore::new(MAX_CONCURRENT)),
            per_client: Admission::new(usize::MAX, per_client_reads(&config)),
            config,
        }
    }

    /// Reads the newest part of `gaps` that fits the bound, and moves each
    /// of the client's `positions` to where its records are now complete
    /// from: where the read started, or, if it failed, where the hub's own
    /// records start. Stops reading when `cancel` is cancelled. A client
    /// that already runs as many resumes as one address may gets its gap
    /// reported as missed at once.
    pub(crate) async fn catch_up<F: Frame>(
        &self,
        topic: &str,
        gaps: &[ReplayRange],
        positions: &mut [PartitionOffset],
        client: Client,
        cancel: CancellationToken,
    ) -> CatchUp<F> {
        let (gaps, mut missed) = trim(gaps, MAX_RECORDS);
        let filled = match self.per_client.admit(client) {
            Ok(mine) => {
                let filled = self.fill(topic, gaps.clone(), cancel).await;
                drop(mine);
                filled
            }
            Err(refused) => {
                tracing::info!(%refused, "a resume over its client's bound; its gap is reported as missed");
                Err(gaps
                    .iter()
                    .map(|g| u64::try_from(g.to - g.from).unwrap_or(0))
                    .sum())
            }
        };
        let (frames, read) = match filled {
            Ok(frames) => (frames, true),
            Err(unread) => {
                missed += unread;
                (Vec::new(), false)
            }
        };
        for gap in &gaps {
            if let Some(p) = positions.iter_mut().find(|p| p.partition == gap.partition) {
                p.offset = if read { gap.from } else { gap.to };
            }
        }
        CatchUp { frames, missed }
    }

    /// Reads `gaps` (already trimmed) from Kafka as frames; on failure, no
    /// frames and the number of offsets that could not be read.
    async fn fill<F: Frame>(
        &self,
        topic: &str,
        gaps: Vec<ReplayRange>,
        cancel: CancellationToken,
    ) -> Result<Vec<F>, u64> {
        let size: u64 = gaps
            .iter()
            .map(|g| u64::try_from(g.to - g.from).unwrap_or(0))
            .sum();
        if size == 0 {
            return Ok(Vec::new());
        }
        let Ok(Ok(permit)) =
            tokio::time::timeout(WAIT_FOR_TURN, self.slots.clone().acquire_owned()).await
        else {
            tracing::warn!(
                records = size,
                "no turn to resume a client; its gap is reported as missed"
            );
            return Err(size);
        };
        let read = run_reader(
            &self.config,
            topic,
            &self.metrics,
            &self.schemas,
            RangeReader::new,
            permit,
            move |reader| reader.read(&gaps, MAX_RECORDS, READ_TIMEOUT, &cancel),
        )
        .await;
        match read {
            Ok(read) => Ok(read
                .records
                .into_iter()
                .map(|r| encode(&ServerMessage::Record(r)))
                .collect()),
            Err(err) => {
                tracing::warn!(%err, records = size, "could not read a resuming client's gap");
                Err(size)
            }
        }
    }
}

/// The newest part of each gap that fits in `max` records in all, split
/// evenly; and how many offsets are left out.
fn trim(gaps: &[ReplayRange], max: usize) -> (Vec<ReplayRange>, u64) {
    let per_gap = i64::try_from(max / gaps.len().max(1)).unwrap_or(i64::MAX);
    let mut left_out = 0;
    let trimmed = gaps
        .iter()
        .map(|gap| {
            let from = gap.from.max(gap.to.saturating_sub(per_gap));
            left_out += u64::try_from(from - gap.from).unwrap_or(0);
            ReplayRange {
                partition: gap.partition,
                from,
                to: gap.to,
            }
        })
        .collect();
    (trimmed, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(partition: i32, from: i64, to: i64) -> ReplayRange {
        ReplayRange {
            partition,
            from,
            to,
        }
    }

    #[test]
    fn small_gaps_are_read_whole() {
        let gaps = [gap(0, 10, 20), gap(1, 0, 5)];
        assert_eq!(trim(&gaps, 100), (gaps.to_vec(), 0));
    }

    #[test]
    fn large_gaps_keep_their_newest_records_within_the_bound() {
        let (trimmed, left_out) = trim(&[gap(0, 0, 1_000), gap(1, 990, 1_000)], 100);
        assert_eq!(trimmed, [gap(0, 950, 1_000), gap(1, 990, 1_000)]);
        assert_eq!(left_out, 950);
    }
}
