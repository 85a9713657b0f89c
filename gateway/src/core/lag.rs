//! Lag in time, where it is going, and its history.
//!
//! - [`TimeIndex`]: offsets and timestamps sampled from the live view's
//!   records, per partition, so a group's time lag (how long the next
//!   record it will process has waited) is looked up, not fetched from
//!   Kafka per group and partition every second.
//! - [`LagTracker`]: fills each group's lag fields in a flow snapshot
//!   (lag from the log start where a demo service has committed nothing,
//!   time lag, the catch-up estimate) and keeps each group's lag history
//!   in bounded rings.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use wire::api::{
    CATCH_UP_WINDOW_MS, CatchUp, GroupHistory, GroupType, GroupView, LagPoint, TopicHealth,
};

use crate::sync::lock;

/// Least record time between two samples of one partition.
const SAMPLE_EVERY_MS: i64 = 100;
/// Samples kept per partition at most. When full, every other one is
/// dropped and the spacing doubles: older offsets stay covered, more
/// coarsely.
const SAMPLES_PER_PARTITION: usize = 512;
/// Samples kept per topic (16 bytes each: 4 MiB), shared by its partitions,
/// at least [`MIN_SAMPLES`] each.
const SAMPLES_PER_TOPIC: usize = 262_144;
const MIN_SAMPLES: usize = 16;
/// Partitions indexed per topic.
const MAX_PARTITIONS: usize = 10_000;

/// Per partition: sampled (offset, timestamp) pairs, and the newest record.
#[derive(Default)]
pub(crate) struct TimeIndex {
    partitions: Mutex<HashMap<i32, Samples>>,
}

#[derive(Default)]
struct Samples {
    /// Ascending offsets.
    kept: VecDeque<(i64, i64)>,
    spacing_ms: i64,
    newest: Option<(i64, i64)>,
}

impl TimeIndex {
    /// The live view read the record at `offset` of `partition`, stamped
    /// `timestamp_ms`.
    pub(crate) fn record(&self, partition: i32, offset: i64, timestamp_ms: Option<i64>) {
        // A producer may stamp any time (CreateTime): one before the epoch
        // says nothing of when the record was written.
        let Some(ts) = timestamp_ms.filter(|t| *t >= 0) else {
            return;
        };
        let mut partitions = lock(&self.partitions);
        if partitions.len() >= MAX_PARTITIONS && !partitions.contains_key(&partition) {
            return;
        }
        let capacity =
            (SAMPLES_PER_TOPIC / partitions.len().max(1)).clamp(MIN_SAMPLES, SAMPLES_PER_PARTITION);
        let samples = partitions.entry(partition).or_insert_with(|| Samples {
            spacing_ms: SAMPLE_EVERY_MS,
            ..Samples::default()
        });
        // Offsets going back: the topic was deleted and made again, or
        // truncated; what was sampled is another log's.
        if samples.newest.is_some_and(|(o, _)| offset <= o) {
            samples.kept.clear();
            samples.spacing_ms = SAMPLE_EVERY_MS;
        }
        // A gap in offsets (a compacted topic, a restart) or enough record
        // time since the last sample: keep this one.
        let after_gap = samples
            .newest
            .is_none_or(|(o, _)| o.checked_add(1) != Some(offset));
        let due = samples
            .kept
            .back()
            .is_none_or(|&(_, t)| ts.saturating_sub(t) >= samples.spacing_ms);
        samples.newest = Some((offset, ts));
        if !(after_gap || due) {
            return;
        }
        while samples.kept.len() >= capacity {
            let thinned: VecDeque<_> = samples.kept.iter().copied().step_by(2).collect();
            samples.kept = thinned;
            samples.spacing_ms = samples.spacing_ms.saturating_mul(2);
        }
        samples.kept.push_back((offset, ts));
    }

    /// The timestamp of the record at `offset` of `partition`: exact where
    /// sampled, else the next sample's (never older than the record, so a
    /// time lag is never overstated); None where the index does not reach
    /// back that far, or has not seen it.
    pub(crate) fn timestamp_at(&self, partition: i32, offset: i64) -> Option<i64> {
        let partitions = lock(&self.partitions);
        let samples = partitions.get(&partition)?;
        let &(first, _) = samples.kept.front()?;
        if offset < first {
            return None;
        }
        let at = samples.kept.partition_point(|&(o, _)| o < offset);
        match samples.kept.get(at) {
            Some(&(_, ts)) => Some(ts),
            None => samples
                .newest
                .filter(|&(o, _)| o >= offset)
                .map(|(_, ts)| ts),
        }
    }
}

/// Groups whose history is kept, at most; others get no history.
const MAX_GROUPS: usize = 128;
/// One point a second for this many seconds...
const FINE_POINTS: usize = 120;
/// ...and before that one per this many milliseconds...
const COARSE_EVERY_MS: i64 = 30_000;
/// ...for an hour.
const COARSE_POINTS: usize = 120;

/// The lag fields of a flow snapshot's groups, and their history.
#[derive(Default)]
pub(crate) struct LagTracker {
    groups: HashMap<String, Track>,
}

#[derive(Default)]
struct Track {
    fine: VecDeque<LagPoint>,
    coarse: VecDeque<LagPoint>,
    /// The coarse point being gathered: which 30 seconds (their start), and
    /// the most of them, stamped with the time of the last point folded in
    /// (never before the points it stands for).
    bucket: Option<(i64, LagPoint)>,
    /// (at_ms, total lag, summed log ends) over the catch-up window.
    recent: VecDeque<(i64, i64, i64)>,
    seen_at: i64,
}

impl LagTracker {
    /// Fills in `groups`' lag fields as of `now_ms` from `topic` (read
    /// after their offsets) and `index`, and records a point of history for
    /// each. `earliest` are the groups known to start from the log start.
    pub(crate) fn annotate(
        &mut self,
        groups: &mut [GroupView],
        topic: &TopicHealth,
        index: &TimeIndex,
        earliest: &[String],
        now_ms: i64,
    ) {
        for group in groups.iter_mut() {
            fill(group, topic, index, earliest, now_ms);
            if self.groups.len() >= MAX_GROUPS && !self.groups.contains_key(&group.group_id) {
                // The group seen longest ago makes room.
                if let Some(oldest) = self
                    .groups
                    .iter()
                    .min_by_key(|(_, t)| t.seen_at)
                    .map(|(id, _)| id.clone())
                {
                    self.groups.remove(&oldest);
                }
            }
            let track = self.groups.entry(group.group_id.clone()).or_default();
            group.catch_up = track.add(group, now_ms);
        }
        // Groups not seen for the hour are forgotten.
        self.groups.retain(|_, t| {
            now_ms.saturating_sub(t.seen_at) < COARSE_EVERY_MS * COARSE_POINTS as i64
        });
    }

    /// Each group's points within `window_ms` of `now_ms`.
    pub(crate) fn history(&self, window_ms: i64, now_ms: i64) -> Vec<GroupHistory> {
        let mut all: Vec<GroupHistory> = self
            .groups
            .iter()
            .map(|(id, t)| {
                let since = now_ms.saturating_sub(window_ms);
                let fine_from = t.fine.front().map_or(i64::MAX, |p| p.at_ms);
                let mut points: Vec<LagPoint> = t
                    .coarse
                    .iter()
                    .chain(t.bucket.as_ref().map(|(_, p)| p))
                    .filter(|p| p.at_ms >= since && p.at_ms < fine_from)
                    .copied()
                    .collect();
                points.extend(t.fine.iter().filter(|p| p.at_ms >= since));
                GroupHistory {
                    group_id: id.clone(),
                    points,
                }
            })
            .collect();
        all.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        all
    }
}

/// The group's uncommitted lags, time lags and totals.
fn fill(
    group: &mut GroupView,
    topic: &TopicHealth,
    index: &TimeIndex,
    earliest: &[String],
    now_ms: i64,
) {
    let from_start = group.group_type != GroupType::Share && earliest.contains(&group.group_id);
    for p in &mut group.partitions {
        let log_start = topic
            .partitions
            .iter()
            .find(|t| t.id == p.partition)
            .map(|t| t.low_watermark);
        if p.committed.is_none() && from_start {
            p.uncommitted_lag = log_start.map(|s| p.log_end.saturating_sub(s).max(0));
        }
        // The next record the group will process here. A share group's
        // start offset stays on records long done with (its coordinator
        // moves it lazily), and its lag counts the records not yet
        // delivered to completion, mostly the newest: the first of those is
        // taken to be `lag` records before the log end.
        let next = match group.group_type {
            GroupType::Share => p.lag.map(|lag| p.log_end.saturating_sub(lag)),
            _ => p.committed.or(if from_start { log_start } else { None }),
        };
        p.time_lag_ms = next.and_then(|next| {
            if next >= p.log_end {
                return Some(0);
            }
            index
                .timestamp_at(p.partition, next)
                .map(|ts| now_ms.saturating_sub(ts).max(0))
        });
    }
    group.total_lag = group
        .partitions
        .iter()
        .map(|p| p.lag.or(p.uncommitted_lag))
        .try_fold(0i64, |sum, lag| Some(sum.saturating_add(lag?)));
    group.time_lag_ms = group
        .partitions
        .iter()
        .map(|p| p.time_lag_ms)
        .collect::<Option<Vec<i64>>>()
        .and_then(|all| all.into_iter().max());
}

impl Track {
    /// Records the group's point at `now_ms`; the catch-up estimate.
    fn add(&mut self, group: &GroupView, now_ms: i64) -> Option<CatchUp> {
        self.seen_at = now_ms;
        let point = LagPoint {
            at_ms: now_ms,
            lag: group.total_lag,
            time_lag_ms: group.time_lag_ms,
        };
        if self.fine.len() == FINE_POINTS {
            self.fine.pop_front();
        }
        self.fine.push_back(point);
        self.gather(point);

        let lag = group.total_lag?;
        let end = group
            .partitions
            .iter()
            .fold(0i64, |sum, p| sum.saturating_add(p.log_end));
        self.recent.push_back((now_ms, lag, end));
        while self
            .recent
            .front()
            .is_some_and(|&(at, _, _)| now_ms.saturating_sub(at) > CATCH_UP_WINDOW_MS)
        {
            self.recent.pop_front();
        }
        estimate(&self.recent)
    }

    /// Folds `point` into the coarse ring: one point per 30 seconds, the
    /// most of each.
    fn gather(&mut self, point: LagPoint) {
        let start = point
            .at_ms
            .saturating_sub(point.at_ms.rem_euclid(COARSE_EVERY_MS));
        match &mut self.bucket {
            Some((s, b)) if *s == start => {
                b.at_ms = point.at_ms;
                b.lag = b.lag.max(point.lag);
                b.time_lag_ms = b.time_lag_ms.max(point.time_lag_ms);
            }
            bucket => {
                if let Some((_, done)) = bucket.take() {
                    if self.coarse.len() == COARSE_POINTS {
                        self.coarse.pop_front();
                    }
                    self.coarse.push_back(done);
                }
                *bucket = Some((start, point));
            }
        }
    }
}

/// Where the lag is going, from its points over the window, each (at_ms,
/// lag, log end summed over partitions): caught up at 0; unknown from one
/// point; else records processed and written over the window: catching
/// up when more were processed than written, in lag ÷ (processed −
/// written per second); else not catching up.
fn estimate(recent: &VecDeque<(i64, i64, i64)>) -> Option<CatchUp> {
    let &(now, lag, end) = recent.back()?;
    if lag == 0 {
        return Some(CatchUp::CaughtUp);
    }
    let &(then, lag_then, end_then) = recent.front()?;
    if now <= then {
        return None;
    }
    // Wide enough for any offsets a broker may report.
    let (lag, lag_then) = (i128::from(lag), i128::from(lag_then));
    let written = i128::from(end) - i128::from(end_then);
    let processed = written - (lag - lag_then);
    let gain = processed - written;
    if gain <= 0 {
        return Some(CatchUp::NotCatchingUp);
    }
    // lag / (gain / elapsed), in ms, rounded up.
    let in_ms = (lag * (i128::from(now) - i128::from(then)) + gain - 1) / gain;
    Some(CatchUp::CatchingUp {
        in_ms: i64::try_from(in_ms).unwrap_or(i64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use wire::api::{GroupPartition, PartitionHealth};

    use super::*;

    #[test]
    fn the_index_finds_a_records_time_and_never_overstates_a_lag() {
        let index = TimeIndex::default();
        for offset in 0..100 {
            // A record every 10 ms: one sample per 100 ms is kept.
            index.record(0, offset, Some(1_000 + offset * 10));
        }
        assert_eq!(index.timestamp_at(0, 0), Some(1_000));
        assert_eq!(index.timestamp_at(0, 10), Some(1_100));
        // Between samples: the next sample's time (later than the record's).
        assert_eq!(index.timestamp_at(0, 5), Some(1_100));
        // After the last sample: the newest record, if it reaches that far.
        assert_eq!(index.timestamp_at(0, 99), Some(1_990));
        assert_eq!(index.timestamp_at(0, 100), None);
        assert_eq!(index.timestamp_at(0, -1), None);
        assert_eq!(index.timestamp_at(1, 0), None);
    }

    #[test]
    fn offsets_going_back_start_the_index_afresh_and_wild_timestamps_do_not_overflow() {
        let index = TimeIndex::default();
        index.record(0, 100, Some(50_000));
        index.record(0, 101, Some(60_000));
        // The topic made again: offsets from 0, other times.
        index.record(0, 0, Some(1_000));
        assert_eq!(index.timestamp_at(0, 100), None);
        assert_eq!(index.timestamp_at(0, 0), Some(1_000));
        // Times at the ends of i64 (a producer's CreateTime can be anything).
        index.record(0, 1, Some(i64::MAX));
        index.record(0, 2, Some(0));
        index.record(0, 3, Some(i64::MIN));
        index.record(0, i64::MAX, Some(5));
        let mut groups = vec![group("g", &[Some(1)], 5)];
        LagTracker::default().annotate(&mut groups, &topic(1, 0, 5), &index, &[], i64::MIN);
        assert_eq!(groups[0].partitions[0].time_lag_ms, Some(0));
        let mut groups = vec![group("g", &[None, Some(0)], i64::MAX)];
        groups[0].partitions[1].lag = Some(i64::MAX);
        let wide = topic(2, i64::MIN, i64::MAX);
        let mut tracker = LagTracker::default();
        for now in [i64::MIN, 0, i64::MAX] {
            tracker.annotate(&mut groups, &wide, &index, &["g".into()], now);
        }
    }

    #[test]
    fn the_oldest_group_makes_room_for_a_new_one() {
        let index = TimeIndex::default();
        let mut tracker = LagTracker::default();
        for i in 0..=MAX_GROUPS {
            let mut groups = vec![group(&format!("g{i}"), &[Some(0)], 0)];
            tracker.annotate(&mut groups, &topic(1, 0, 0), &index, &[], i as i64);
        }
        let kept: Vec<String> = tracker
            .history(3_600_000, 1_000)
            .into_iter()
            .map(|h| h.group_id)
            .collect();
        assert_eq!(kept.len(), MAX_GROUPS);
        assert!(!kept.contains(&"g0".to_owned()) && kept.contains(&format!("g{MAX_GROUPS}")));
    }

    #[test]
    fn a_full_index_thins_out_and_still_covers_its_oldest_offsets() {
        let index = TimeIndex::default();
        for offset in 0..20_000 {
            index.record(0, offset, Some(offset * 100));
        }
        let partitions = lock(&index.partitions);
        let samples = &partitions[&0];
        assert!(samples.kept.len() <= SAMPLES_PER_PARTITION);
        assert_eq!(samples.kept.front(), Some(&(0, 0)));
        drop(partitions);
        assert_eq!(index.timestamp_at(0, 0), Some(0));
        let at = index.timestamp_at(0, 12_345).expect("covered");
        assert!(at >= 1_234_500, "never older than the record");
    }

    fn group(id: &str, committed: &[Option<i64>], log_end: i64) -> GroupView {
        GroupView {
            group_id: id.into(),
            partitions: committed
                .iter()
                .enumerate()
                .map(|(i, &c)| GroupPartition {
                    partition: i as i32,
                    committed: c,
                    log_end,
                    lag: c.map(|c| log_end - c),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn topic(partitions: usize, log_start: i64, log_end: i64) -> TopicHealth {
        TopicHealth {
            name: "t".into(),
            partitions: (0..partitions)
                .map(|i| PartitionHealth {
                    id: i as i32,
                    leader: 1,
                    low_watermark: log_start,
                    high_watermark: log_end,
                })
                .collect(),
        }
    }

    #[test]
    fn a_demo_service_that_never_committed_counts_from_the_log_start_others_stay_unknown() {
        let index = TimeIndex::default();
        let mut tracker = LagTracker::default();
        let mut groups = vec![
            group("demo", &[Some(3), None], 5),
            group("foreign", &[Some(3), None], 5),
        ];
        tracker.annotate(&mut groups, &topic(2, 1, 5), &index, &["demo".into()], 0);
        assert_eq!(groups[0].partitions[1].uncommitted_lag, Some(4));
        assert_eq!(groups[0].partitions[1].lag, None, "Kafka's own '-' stays");
        assert_eq!(groups[0].total_lag, Some(6));
        assert_eq!(groups[1].partitions[1].uncommitted_lag, None);
        assert_eq!(groups[1].total_lag, None);
    }

    #[test]
    fn time_lag_is_now_minus_the_next_records_time_and_zero_when_caught_up() {
        let index = TimeIndex::default();
        index.record(0, 3, Some(10_000));
        index.record(0, 4, Some(10_500));
        let mut tracker = LagTracker::default();
        let mut groups = vec![group("g", &[Some(3), Some(5)], 5)];
        tracker.annotate(&mut groups, &topic(2, 0, 5), &index, &[], 12_000);
        assert_eq!(groups[0].partitions[0].time_lag_ms, Some(2_000));
        assert_eq!(groups[0].partitions[1].time_lag_ms, Some(0));
        assert_eq!(groups[0].time_lag_ms, Some(2_000));
    }

    #[test]
    fn a_share_groups_time_lag_is_its_oldest_undelivered_records_not_its_start_offsets() {
        let index = TimeIndex::default();
        for (offset, ts) in [(0, 1_000), (1, 7_000), (2, 8_000)] {
            index.record(0, offset, Some(ts));
        }
        let mut groups = vec![GroupView {
            group_id: "queue".into(),
            group_type: GroupType::Share,
            partitions: vec![GroupPartition {
                partition: 0,
                start_offset: Some(0),
                log_end: 3,
                lag: Some(0),
                ..Default::default()
            }],
            ..Default::default()
        }];
        LagTracker::default().annotate(&mut groups, &topic(1, 0, 3), &index, &[], 9_000);
        assert_eq!(groups[0].partitions[0].time_lag_ms, Some(0));
        // Two records not yet done with: the last two, from offset 1 (the
        // start offset stays at 0, on a record long acknowledged).
        groups[0].partitions[0].lag = Some(2);
        LagTracker::default().annotate(&mut groups, &topic(1, 0, 3), &index, &[], 9_000);
        assert_eq!(groups[0].partitions[0].time_lag_ms, Some(2_000));
    }

    #[test]
    fn the_estimate_weighs_records_processed_against_records_written() {
        let points = |p: &[(i64, i64, i64)]| p.iter().copied().collect::<VecDeque<_>>();
        assert_eq!(
            estimate(&points(&[(0, 10, 100)])),
            None,
            "one point says nothing"
        );
        assert_eq!(estimate(&points(&[(0, 0, 100)])), Some(CatchUp::CaughtUp));
        // Stopped: nothing processed.
        assert_eq!(
            estimate(&points(&[(0, 10, 100), (1_000, 14, 104)])),
            Some(CatchUp::NotCatchingUp)
        );
        // Processing exactly what is written.
        assert_eq!(
            estimate(&points(&[(0, 10, 100), (1_000, 10, 110)])),
            Some(CatchUp::NotCatchingUp)
        );
        // 10 processed and nothing written in 2 s; 20 left: 4 s.
        assert_eq!(
            estimate(&points(&[(0, 30, 100), (2_000, 20, 100)])),
            Some(CatchUp::CatchingUp { in_ms: 4_000 })
        );
        // A burst written during the window, and the lag still grew: 6
        // processed, 8 written in 2 s: not catching up.
        assert_eq!(
            estimate(&points(&[(0, 10, 100), (2_000, 12, 108)])),
            Some(CatchUp::NotCatchingUp)
        );
        // 12 processed, 8 written in 2 s (2 a second gained), 6 left: 3 s.
        assert_eq!(
            estimate(&points(&[(0, 10, 100), (2_000, 6, 108)])),
            Some(CatchUp::CatchingUp { in_ms: 3_000 })
        );
    }

    #[test]
    fn history_is_one_point_a_second_then_the_most_of_each_half_minute() {
        let index = TimeIndex::default();
        let mut tracker = LagTracker::default();
        let topic = topic(1, 0, 1_000_000);
        // An hour and a half of points, the lag rising by one a second.
        for second in 0..5_400 {
            let mut groups = vec![group("g", &[Some(1_000_000 - second)], 1_000_000)];
            tracker.annotate(&mut groups, &topic, &index, &[], second * 1_000);
        }
        let now = 5_399_000;
        let two_minutes = &tracker.history(120_000, now)[0].points;
        // The fine points, and the half minute ending where they begin.
        assert_eq!(two_minutes.len(), FINE_POINTS + 1);
        assert!(two_minutes.iter().all(|p| p.at_ms >= now - 120_000));
        assert_eq!(two_minutes.last().and_then(|p| p.lag), Some(5_399));
        let hour = &tracker.history(3_600_000, now)[0].points;
        assert!(
            hour.len() <= FINE_POINTS + COARSE_POINTS + 1,
            "{}",
            hour.len()
        );
        assert!(hour.first().expect("points").at_ms >= now - 3_600_000);
        assert!(
            hour.windows(2).all(|w| w[0].at_ms < w[1].at_ms),
            "oldest first"
        );
        // A coarse point is the most of its half minute, stamped with its
        // last second (never before what it stands for).
        let coarse = hour
            .iter()
            .find(|p| p.at_ms == 3_029_000)
            .expect("a coarse point");
        assert_eq!(coarse.lag, Some(3_029));
        // Right after start, the 2-minute window holds only what happened.
        let mut fresh = LagTracker::default();
        let mut groups = vec![group("g", &[Some(0)], 0)];
        fresh.annotate(&mut groups, &topic, &index, &[], 45_000);
        let points = &fresh.history(120_000, 45_000)[0].points;
        let times: Vec<i64> = points.iter().map(|p| p.at_ms).collect();
        assert_eq!(times, [45_000]);
    }
}
