//! The flow's state in the browser: the latest snapshot from the gateway, a
//! short history of snapshots for the charts, and which demo service has
//! processed which order (the fan-out).
//!
//! Plain Rust, no Leptos, tested natively like `feed`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use wire::stream::{FlowSnapshot, ProcessedOrder};

use crate::stats::{LatencyWindow, Percentiles};

/// Snapshots kept for the charts: about two minutes at one a second.
pub const MAX_SAMPLES: usize = 120;
/// Orders whose fan-out is remembered; older ones are forgotten.
pub const MAX_TRACKED_ORDERS: usize = 2_000;

/// One demo service done with one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub service: String,
    pub processed_at_ms: i64,
    pub produced_at_ms: Option<i64>,
    pub member: u32,
    pub attempts: u32,
    pub gave_up: bool,
}

impl Done {
    /// Milliseconds from production to the end of processing.
    pub fn after_ms(&self) -> Option<i64> {
        self.produced_at_ms.map(|p| self.processed_at_ms - p)
    }
}

/// What the charts plot, from one snapshot.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    at_ms: i64,
    /// Sum of the partitions' log-end offsets.
    produced: i64,
    /// Per group: sum of committed offsets and total lag, where every
    /// partition has a committed offset.
    groups: BTreeMap<String, (i64, i64)>,
}

/// A group's position on the topic: the sum of its committed offsets and its
/// total lag. A demo service starts from the earliest record, so where it
/// has committed nothing its position is the log start; any other group's
/// position is then unknown (as Kafka's own tools say).
pub fn position(snapshot: &FlowSnapshot, group_id: &str) -> Option<(i64, i64)> {
    let topic = snapshot.topic.as_ref()?;
    let group = snapshot.groups.iter().find(|g| g.group_id == group_id)?;
    let demo = snapshot.services.iter().any(|s| s.group_id == group_id);
    let (mut committed, mut lag) = (0, 0);
    for p in &group.partitions {
        let start = topic
            .partitions
            .iter()
            .find(|t| t.id == p.partition)?
            .low_watermark;
        let c = match p.committed {
            Some(c) => c,
            None if demo => start,
            None => return None,
        };
        committed += c;
        lag += (p.log_end - c).max(0);
    }
    Some((committed, lag))
}

/// How a group is labelled: a demo service's group by the service's name,
/// any other by its group id.
pub fn group_label(snapshot: &FlowSnapshot, group_id: &str) -> String {
    snapshot
        .services
        .iter()
        .find(|s| s.group_id == group_id)
        .map_or_else(|| group_id.to_owned(), |s| s.name.clone())
}

/// The demo service's group's total lag (see [`position`]).
pub fn service_lag(snapshot: &FlowSnapshot, service: &str) -> Option<i64> {
    let service = snapshot.services.iter().find(|s| s.name == service)?;
    position(snapshot, &service.group_id).map(|(_, lag)| lag)
}

/// Whether `group` has committed past `offset` of `partition`: it is done
/// with that record.
pub fn committed_past(
    snapshot: &FlowSnapshot,
    group_id: &str,
    partition: i32,
    offset: i64,
) -> bool {
    snapshot
        .groups
        .iter()
        .find(|g| g.group_id == group_id)
        .and_then(|g| g.partitions.iter().find(|p| p.partition == partition))
        .and_then(|p| p.committed)
        .is_some_and(|c| c > offset)
}

#[derive(Debug, Clone, Default)]
pub struct FlowState {
    snapshot: Option<FlowSnapshot>,
    /// The snapshot before it, for the picture's rates.
    previous: Option<FlowSnapshot>,
    samples: VecDeque<Sample>,
    fanout: HashMap<(i32, i64), Vec<Done>>,
    /// Keys of `fanout`, oldest first, to forget the oldest.
    tracked: VecDeque<(i32, i64)>,
    /// Per service: production to end of processing.
    processing: BTreeMap<String, LatencyWindow>,
    /// Per (service, partition): the last offset processed, for the flow
    /// view's activity marks.
    last_processed: HashMap<(String, i32), i64>,
}

impl FlowState {
    pub fn apply_snapshot(&mut self, snapshot: FlowSnapshot) {
        let topic = |s: &FlowSnapshot| s.topic.as_ref().map(|t| t.name.clone());
        if let Some(old) = &self.snapshot
            && topic(old).is_some()
            && topic(&snapshot).is_some()
            && topic(old) != topic(&snapshot)
        {
            // Another topic: its offsets have nothing to do with these.
            *self = Self::default();
        }
        if let Some(topic) = &snapshot.topic {
            let groups = snapshot
                .groups
                .iter()
                .filter_map(|g| Some((g.group_id.clone(), position(&snapshot, &g.group_id)?)))
                .collect();
            if self.samples.len() == MAX_SAMPLES {
                self.samples.pop_front();
            }
            self.samples.push_back(Sample {
                at_ms: snapshot.at_ms,
                produced: topic.partitions.iter().map(|p| p.high_watermark).sum(),
                groups,
            });
        }
        self.previous = self.snapshot.replace(snapshot);
    }

    /// The flow as a picture, rates from the last two snapshots.
    pub fn diagram(&self) -> Option<crate::diagram::Diagram> {
        let now = self.snapshot.as_ref()?;
        crate::diagram::layout(self.previous.as_ref(), now, |g| group_label(now, g))
    }

    pub fn apply_processed(&mut self, service: &str, orders: Vec<ProcessedOrder>) {
        for order in orders {
            let key = (order.partition, order.offset);
            let done = Done {
                service: service.to_owned(),
                processed_at_ms: order.processed_at_ms,
                produced_at_ms: order.produced_at_ms,
                member: order.member,
                attempts: order.attempts,
                gave_up: order.gave_up,
            };
            if let Some(after) = done.after_ms() {
                self.processing
                    .entry(service.to_owned())
                    .or_default()
                    .record(done.processed_at_ms, after);
            }
            let last = self
                .last_processed
                .entry((service.to_owned(), order.partition))
                .or_insert(order.offset);
            *last = (*last).max(order.offset);
            let entry = self.fanout.entry(key).or_default();
            if entry.is_empty() {
                self.tracked.push_back(key);
            }
            entry.push(done);
            while self.tracked.len() > MAX_TRACKED_ORDERS {
                if let Some(old) = self.tracked.pop_front() {
                    self.fanout.remove(&old);
                }
            }
        }
    }

    /// Replaces one service in the latest snapshot (after a command, before
    /// the next snapshot arrives).
    pub fn replace_service(&mut self, service: wire::services::ServiceView) {
        if let Some(s) = self
            .snapshot
            .as_mut()
            .and_then(|s| s.services.iter_mut().find(|s| s.name == service.name))
        {
            *s = service;
        }
    }

    pub fn snapshot(&self) -> Option<&FlowSnapshot> {
        self.snapshot.as_ref()
    }

    /// Which services have processed the record at `partition`/`offset`.
    pub fn fanout(&self, partition: i32, offset: i64) -> &[Done] {
        self.fanout
            .get(&(partition, offset))
            .map_or(&[], Vec::as_slice)
    }

    pub fn last_processed(&self, service: &str, partition: i32) -> Option<i64> {
        self.last_processed
            .get(&(service.to_owned(), partition))
            .copied()
    }

    pub fn processing_latency(&self, service: &str, now_ms: i64) -> Option<Percentiles> {
        self.processing.get(service)?.percentiles(now_ms)
    }

    /// Records written per second, between consecutive snapshots.
    pub fn produce_rate(&self) -> Vec<f64> {
        self.rates(|s| Some(s.produced))
    }

    /// Records a group committed per second, between consecutive snapshots.
    pub fn consume_rate(&self, group: &str) -> Vec<f64> {
        self.rates(|s| s.groups.get(group).map(|(committed, _)| *committed))
    }

    /// A group's total lag at each snapshot (0 where it had none defined).
    pub fn lag(&self, group: &str) -> Vec<f64> {
        self.samples
            .iter()
            .map(|s| s.groups.get(group).map_or(0.0, |(_, lag)| *lag as f64))
            .collect()
    }

    fn rates(&self, value: impl Fn(&Sample) -> Option<i64>) -> Vec<f64> {
        self.samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|(a, b)| {
                let seconds = (b.at_ms - a.at_ms) as f64 / 1000.0;
                match (value(a), value(b)) {
                    (Some(x), Some(y)) if seconds > 0.0 && y >= x => (y - x) as f64 / seconds,
                    _ => 0.0,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::api::{GroupPartition, GroupView, PartitionHealth, TopicHealth};

    fn snapshot(at_ms: i64, log_ends: &[i64], committed: &[Option<i64>]) -> FlowSnapshot {
        let partitions = log_ends
            .iter()
            .enumerate()
            .map(|(id, &high)| PartitionHealth {
                id: id as i32,
                leader: 1,
                low_watermark: 0,
                high_watermark: high,
            })
            .collect();
        let group = GroupView {
            group_id: "payments".into(),
            state: "Stable".into(),
            members: vec![],
            partitions: committed
                .iter()
                .zip(log_ends)
                .enumerate()
                .map(|(id, (&c, &log_end))| GroupPartition {
                    partition: id as i32,
                    committed: c,
                    log_end,
                    lag: c.map(|c| log_end - c),
                    owner: None,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        FlowSnapshot {
            at_ms,
            topic: Some(TopicHealth {
                name: "orders".into(),
                partitions,
            }),
            error: None,
            groups: vec![group],
            services: vec![],
            load: None,
            ..Default::default()
        }
    }

    fn processed(partition: i32, offset: i64, at: i64) -> ProcessedOrder {
        ProcessedOrder {
            partition,
            offset,
            order_id: None,
            produced_at_ms: Some(at - 30),
            processed_at_ms: at,
            member: 1,
            attempts: 1,
            gave_up: false,
        }
    }

    #[test]
    fn rates_and_lag_come_from_consecutive_snapshots() {
        let mut flow = FlowState::default();
        flow.apply_snapshot(snapshot(0, &[10, 10], &[Some(10), Some(10)]));
        flow.apply_snapshot(snapshot(1_000, &[30, 20], &[Some(15), Some(10)]));
        flow.apply_snapshot(snapshot(3_000, &[30, 20], &[Some(30), Some(20)]));
        assert_eq!(flow.produce_rate(), [30.0, 0.0]);
        assert_eq!(flow.consume_rate("payments"), [5.0, 12.5]);
        assert_eq!(flow.lag("payments"), [0.0, 25.0, 0.0]);
        assert!(flow.consume_rate("nobody").iter().all(|r| *r == 0.0));
    }

    #[test]
    fn a_demo_service_without_commits_counts_from_the_log_start() {
        let mut s = snapshot(0, &[5, 3], &[Some(4), None]);
        assert_eq!(position(&s, "payments"), None, "a foreign group: unknown");
        s.services.push(wire::services::ServiceView {
            name: "pay".into(),
            group_id: "payments".into(),
            protocol: Default::default(),
            running: false,
            members: 1,
            processing_ms: 0,
            failure_rate: 0.0,
            processed: 0,
            failed_attempts: 0,
            gave_up: 0,
            redelivered: 0,
            duplicates_dropped: 0,
            assignments: vec![],
            changing: false,
        });
        assert_eq!(position(&s, "payments"), Some((4, 1 + 3)));
        assert_eq!(service_lag(&s, "pay"), Some(4));
        assert!(committed_past(&s, "payments", 0, 3));
        assert!(!committed_past(&s, "payments", 0, 4));
        assert!(!committed_past(&s, "payments", 1, 0));
    }

    #[test]
    fn a_group_without_commits_everywhere_has_no_rate_yet() {
        let mut flow = FlowState::default();
        flow.apply_snapshot(snapshot(0, &[5, 5], &[Some(5), None]));
        flow.apply_snapshot(snapshot(1_000, &[9, 5], &[Some(9), None]));
        assert_eq!(flow.consume_rate("payments"), [0.0]);
    }

    #[test]
    fn samples_are_bounded() {
        let mut flow = FlowState::default();
        for i in 0..(MAX_SAMPLES as i64 + 5) {
            flow.apply_snapshot(snapshot(i * 1_000, &[i], &[Some(i)]));
        }
        assert_eq!(flow.lag("payments").len(), MAX_SAMPLES);
        assert_eq!(flow.produce_rate().len(), MAX_SAMPLES - 1);
    }

    #[test]
    fn fanout_lists_each_service_that_processed_an_order() {
        let mut flow = FlowState::default();
        flow.apply_processed("payments", vec![processed(0, 7, 100)]);
        flow.apply_processed(
            "analytics",
            vec![processed(0, 7, 120), processed(1, 2, 130)],
        );
        let services: Vec<&str> = flow
            .fanout(0, 7)
            .iter()
            .map(|d| d.service.as_str())
            .collect();
        assert_eq!(services, ["payments", "analytics"]);
        assert_eq!(flow.fanout(0, 7)[0].after_ms(), Some(30));
        assert!(flow.fanout(2, 0).is_empty());
        assert_eq!(flow.last_processed("analytics", 1), Some(2));
        let p = flow.processing_latency("payments", 100).expect("a sample");
        assert_eq!((p.p50, p.count), (30, 1));
    }

    #[test]
    fn fanout_forgets_the_oldest_orders() {
        let mut flow = FlowState::default();
        let orders = (0..(MAX_TRACKED_ORDERS as i64 + 1))
            .map(|o| processed(0, o, 1))
            .collect();
        flow.apply_processed("payments", orders);
        assert!(flow.fanout(0, 0).is_empty());
        assert_eq!(flow.fanout(0, 1).len(), 1);
    }

    #[test]
    fn another_topic_starts_over() {
        let mut flow = FlowState::default();
        flow.apply_snapshot(snapshot(0, &[5], &[Some(5)]));
        flow.apply_processed("payments", vec![processed(0, 1, 1)]);
        let mut other = snapshot(1_000, &[1], &[Some(1)]);
        if let Some(topic) = other.topic.as_mut() {
            topic.name = "other".into();
        }
        flow.apply_snapshot(other);
        assert!(flow.fanout(0, 1).is_empty());
        assert_eq!(flow.lag("payments").len(), 1);
    }
}
