//! Resuming a live client from the offsets it had seen (`/ws?resume=...`).
//!
//! The hub holds only the last records of each partition. What a resuming
//! client needs from before that is read from Kafka by a short-lived
//! manual-assignment reader (as a replay is, committing nothing), before the
//! hub's history and the live records are sent. Bounded: at most
//! [`MAX_RECORDS`] records per resume, split evenly across partitions, the
//! newest of each gap; what is beyond them is reported as missed.

use std::time::Duration;

use wire::ServerMessage;
use wire::api::ReplayRange;

use crate::live::{Frame, frame};
use crate::{AppState, kafka, replay};

/// Most records one resume reads from Kafka.
pub(crate) const MAX_RECORDS: usize = 5_000;
/// Resumes reading from Kafka at once; after a gateway restart every
/// browser resumes at the same moment, and the others wait their turn.
pub(crate) const MAX_CONCURRENT: usize = 4;
/// How long a resume waits for its turn before it gives up and reports
/// the gap as missed.
const WAIT_FOR_TURN: Duration = Duration::from_secs(10);

/// The newest part of each gap that fits in `max` records in all, split
/// evenly; and how many offsets are left out.
pub(crate) fn trim(gaps: &[ReplayRange], max: usize) -> (Vec<ReplayRange>, u64) {
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

/// Reads `gaps` (already trimmed) from Kafka as frames; on failure, no
/// frames and the number of offsets that could not be read.
pub(crate) async fn fill(state: &AppState, gaps: Vec<ReplayRange>) -> Result<Vec<Frame>, u64> {
    let size: u64 = gaps
        .iter()
        .map(|g| u64::try_from(g.to - g.from).unwrap_or(0))
        .sum();
    if size == 0 {
        return Ok(Vec::new());
    }
    let Ok(Ok(permit)) =
        tokio::time::timeout(WAIT_FOR_TURN, state.resume_slots.clone().acquire_owned()).await
    else {
        tracing::warn!(
            records = size,
            "no turn to resume a client; its gap is reported as missed"
        );
        return Err(size);
    };
    let (config, topic) = (state.config.clone(), state.topic.name().to_owned());
    let read = tokio::task::spawn_blocking(move || {
        let consumer = kafka::replay_consumer(&config).map_err(|e| e.to_string())?;
        let read = replay::read_ranges(&consumer, &topic, &gaps, MAX_RECORDS);
        drop(permit);
        read.map(|(records, _)| records).map_err(|e| e.to_string())
    })
    .await;
    match read {
        Ok(Ok(records)) => Ok(records
            .into_iter()
            .map(|r| frame(&ServerMessage::Record(r)))
            .collect()),
        Ok(Err(err)) => {
            tracing::warn!(%err, records = size, "could not read a resuming client's gap");
            Err(size)
        }
        Err(err) => {
            tracing::warn!(%err, "resume read panicked");
            Err(size)
        }
    }
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
