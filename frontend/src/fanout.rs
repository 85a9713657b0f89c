//! The fan-out of one record: each demo service, side by side, done with it
//! (how long after production, after how many attempts, by which member) or
//! still to do. Plain Rust, tested natively; `feed_view` draws the chips.

use crate::flow::{FlowState, committed_past};

/// Where one service is with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChipState {
    Done,
    Pending,
    GaveUp,
}

impl ChipState {
    /// What the chip's state means, for its tooltip.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Done => {
                "processed by this service (#N: the member that did it; ×N: processed N times)"
            }
            Self::Pending => "not processed by this service yet: it is behind, or stopped",
            Self::GaveUp => "this service gave up on the order after its attempts failed",
        }
    }

    /// The name the page's styles and tests use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Pending => "pending",
            Self::GaveUp => "gave-up",
        }
    }
}

/// One service's chip on one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chip {
    pub service: String,
    pub state: ChipState,
    pub text: String,
}

/// A chip per demo service in the latest snapshot, for the record at
/// `partition` and `offset`; none before the first snapshot.
pub fn chips(flow: &FlowState, partition: i32, offset: i64) -> Vec<Chip> {
    let Some(snapshot) = flow.snapshot() else {
        return Vec::new();
    };
    let done = flow.fanout(partition, offset);
    snapshot
        .services
        .iter()
        .map(|s| {
            let mine: Vec<_> = done.iter().filter(|d| d.service == s.name).collect();
            let (state, text) = match mine.last() {
                // Done before this page was open: its commit says so.
                None if committed_past(snapshot, &s.group_id, partition, offset) => {
                    (ChipState::Done, format!("{} ✓", s.name))
                }
                None => (ChipState::Pending, format!("{} …", s.name)),
                Some(d) if d.gave_up => (ChipState::GaveUp, format!("{} gave up", s.name)),
                Some(d) => {
                    let after = d
                        .after_ms()
                        .map(|ms| format!(" +{ms} ms"))
                        .unwrap_or_default();
                    let retries = if d.attempts > 1 {
                        format!(" ({} attempts)", d.attempts)
                    } else {
                        String::new()
                    };
                    let twice = if mine.len() > 1 {
                        format!(" ×{}", mine.len())
                    } else {
                        String::new()
                    };
                    (
                        ChipState::Done,
                        format!("{} ✓{after}{retries}{twice} #{}", s.name, d.member),
                    )
                }
            };
            Chip {
                service: s.name.clone(),
                state,
                text,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use wire::api::{GroupPartition, GroupView};
    use wire::services::ServiceView;
    use wire::stream::{FlowSnapshot, ProcessedOrder};

    use super::*;

    fn service(name: &str) -> ServiceView {
        ServiceView {
            name: name.into(),
            group_id: format!("demo-{name}"),
            protocol: Default::default(),
            running: true,
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
        }
    }

    /// A snapshot with three services; payments has committed offset 5 of partition 0.
    fn flow() -> FlowState {
        let mut flow = FlowState::default();
        flow.apply_snapshot(FlowSnapshot {
            at_ms: 0,
            topic: None,
            error: None,
            groups: vec![GroupView {
                group_id: "demo-payments".into(),
                state: "Stable".into(),
                members: vec![],
                partitions: vec![GroupPartition {
                    partition: 0,
                    committed: Some(5),
                    log_end: 9,
                    lag: Some(4),
                    owner: None,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            services: ["payments", "notifications", "analytics"]
                .map(service)
                .to_vec(),
            load: None,
            ..Default::default()
        });
        flow
    }

    fn processed(offset: i64, member: u32, attempts: u32, gave_up: bool) -> ProcessedOrder {
        ProcessedOrder {
            partition: 0,
            offset,
            order_id: None,
            produced_at_ms: Some(1_000),
            processed_at_ms: 1_042,
            member,
            attempts,
            gave_up,
        }
    }

    fn shown(chips: &[Chip]) -> Vec<(&str, &str)> {
        chips
            .iter()
            .map(|c| (c.state.as_str(), c.text.as_str()))
            .collect()
    }

    #[test]
    fn no_snapshot_no_chips() {
        assert!(chips(&FlowState::default(), 0, 0).is_empty());
    }

    #[test]
    fn each_service_is_done_pending_or_gave_up() {
        let mut flow = flow();
        flow.apply_processed("notifications", vec![processed(7, 1, 3, false)]);
        flow.apply_processed("analytics", vec![processed(7, 2, 5, true)]);
        assert_eq!(
            shown(&chips(&flow, 0, 7)),
            [
                ("pending", "payments …"),
                ("done", "notifications ✓ +42 ms (3 attempts) #1"),
                ("gave-up", "analytics gave up"),
            ]
        );
    }

    #[test]
    fn a_record_below_the_commit_was_done_before_the_page_opened() {
        let chips = chips(&flow(), 0, 4);
        assert_eq!(chips[0].state, ChipState::Done);
        assert_eq!(chips[0].text, "payments ✓");
        assert_eq!(chips[1].state, ChipState::Pending);
    }

    #[test]
    fn a_record_processed_twice_says_so() {
        let mut flow = flow();
        flow.apply_processed(
            "payments",
            vec![processed(7, 1, 1, false), processed(7, 2, 1, false)],
        );
        assert_eq!(chips(&flow, 0, 7)[0].text, "payments ✓ +42 ms ×2 #2");
    }
}
