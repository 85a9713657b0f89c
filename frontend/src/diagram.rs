//! The flow as a picture: producers → the topic's partitions → each group
//! (a consumer group's members with the partitions each owns, a share
//! group's members with every partition they take from), laid out from two
//! consecutive flow snapshots. Pure: the view only draws what this returns.
//!
//! Bounded whatever the cluster: at most [`MAX_PARTITIONS`] partitions are
//! drawn (the rest as one aggregate node), at most [`MAX_MEMBERS`] member
//! rows per group (the last standing for the rest), and at most [`MAX_DOTS`] moving records in all.

use wire::api::{GroupType, GroupView};
use wire::stream::FlowSnapshot;

/// Partitions drawn one by one; the others are one node.
pub const MAX_PARTITIONS: usize = 64;
/// Members drawn per group; the others are one row.
pub const MAX_MEMBERS: usize = 8;
/// Groups drawn; the others are counted in [`Diagram::groups_not_drawn`].
pub const MAX_GROUPS: usize = 16;
/// Records drawn moving at once, over every edge. Each moving dot is a layer
/// of its own that every frame's layering (Chromium's `Layerize`) walks:
/// at 10,000 records a second the page had 20-22 long tasks with 96 of them
/// at most, 24-31 with 240 (and 18-21 with none), in paired runs.
pub const MAX_DOTS: usize = 96;
/// Records drawn per second on one edge at most: beyond this, the rate is
/// in the label, not the dots.
const MAX_DOTS_PER_SECOND: f64 = 3.0;
/// How long a drawn record takes along an edge, in seconds.
pub const TRAVEL_S: f64 = 1.2;

pub const WIDTH: f64 = 600.0;
const ROW: f64 = 22.0;
const TOP: f64 = 24.0;
const PRODUCER_X: f64 = 80.0;
const PARTITION_X: f64 = 230.0;
const PARTITION_W: f64 = 70.0;
const GROUP_X: f64 = 420.0;
const MEMBER_ROW: f64 = 16.0;
const GROUP_HEAD: f64 = 20.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Diagram {
    pub height: f64,
    pub producer_y: f64,
    /// Records written per second into the topic.
    pub produce_rate: f64,
    pub partitions: Vec<PartitionNode>,
    pub groups: Vec<GroupNode>,
    /// Groups past [`MAX_GROUPS`].
    pub groups_not_drawn: usize,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionNode {
    /// `P3`, or `P64–P199` for the aggregate.
    pub label: String,
    pub key: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub log_end: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupNode {
    pub id: String,
    pub label: String,
    pub kind: GroupType,
    pub state: String,
    pub x: f64,
    pub y: f64,
    pub height: f64,
    pub lag: Option<i64>,
    pub members: Vec<MemberNode>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberNode {
    pub label: String,
    pub y: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Unique in a diagram, and stable across snapshots (producer and
    /// partition; group and partition, and the member row where several
    /// take from one node): when ownership moves, the same edge moves to
    /// its new member.
    pub key: String,
    /// The group it goes to, if any.
    pub group: Option<String>,
    /// The partition node it comes from (`p3`, or `rest`).
    pub node: String,
    /// SVG path data.
    pub path: String,
    /// The same curve as CSS keyframe stops moving a record along it at an
    /// even speed (see [`motion`]).
    pub motion: String,
    /// Records per second along it.
    pub rate: f64,
    /// Records drawn moving along it.
    pub dots: usize,
    /// Records waiting at its start (a group's lag on the partition).
    pub lag: Option<i64>,
    pub kind: EdgeKind,
    /// Where a lag label goes.
    pub label_at: (f64, f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    Produce,
    Consume,
    /// To a group with no member to take the partition: nothing moves.
    Idle,
}

impl EdgeKind {
    pub fn class(self) -> &'static str {
        match self {
            EdgeKind::Produce => "edge produce",
            EdgeKind::Consume => "edge consume",
            EdgeKind::Idle => "edge idle",
        }
    }
}

/// Characters of a label drawn, at most; the full text is in the cards.
const LABEL_CHARS: usize = 26;

/// `text` cut to [`LABEL_CHARS`], with an ellipsis where it was cut.
fn short(text: &str) -> String {
    short_to(text, LABEL_CHARS)
}

/// A group's line in the picture: label, state and lag, cut to fit.
pub fn title(group: &GroupNode) -> String {
    let lag = group
        .lag
        .map_or_else(String::new, |l| format!(" · lag {l}"));
    short_to(
        &format!("{} · {}{lag}", group.label, group.state),
        TITLE_CHARS,
    )
}

/// Characters of a group's line, at most.
const TITLE_CHARS: usize = 34;

fn short_to(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars - 1) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// A member's label: its client id, without its group's id when it starts
/// with it (the demo services' members are `GROUP-1`, `GROUP-2`, …).
fn member_label(group_id: &str, client_id: &str) -> String {
    match client_id.strip_prefix(group_id) {
        Some(rest) if !rest.is_empty() => {
            short(&format!("member {}", rest.trim_start_matches(['-', '.'])))
        }
        _ => short(client_id),
    }
}

/// An edge's curve from `a` to `b`, leaving and arriving level: its SVG
/// path, and the same curve as [`motion`] keyframes.
fn curve(a: (f64, f64), b: (f64, f64)) -> (String, String) {
    let control = [
        a,
        (f64::midpoint(a.0, b.0), a.1),
        (f64::midpoint(a.0, b.0), b.1),
        b,
    ];
    let [(x1, y1), (cx1, cy1), (cx2, cy2), (x2, y2)] = control;
    (
        format!("M{x1:.1} {y1:.1} C{cx1:.1} {cy1:.1} {cx2:.1} {cy2:.1} {x2:.1} {y2:.1}"),
        motion(control),
    )
}

/// Stops along a [`curve`] the moving records are drawn at.
const MOTION_STOPS: usize = 16;

/// A cubic Bézier curve (its four control points) as the stops of a CSS
/// `@keyframes` rule that moves an element along it at an even speed (each
/// stop at its share of the length), by `transform` alone: a browser runs
/// such an animation off the page's main thread, while SMIL's
/// `animateMotion` made the main thread repaint the picture every frame, a
/// third of its time at 10,000 records/s (BENCHMARKS.md). Only numbers:
/// safe to put in a stylesheet whatever the names in the snapshot.
fn motion(control: [(f64, f64); 4]) -> String {
    let at = |t: f64| {
        let u = 1.0 - t;
        let w = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
        control
            .iter()
            .zip(w)
            .fold((0.0, 0.0), |(x, y), (p, w)| (x + w * p.0, y + w * p.1))
    };
    let points: Vec<(f64, f64)> = (0..=MOTION_STOPS)
        .map(|i| at(i as f64 / MOTION_STOPS as f64))
        .collect();
    let mut run = vec![0.0];
    for pair in points.windows(2) {
        let step = (pair[1].0 - pair[0].0).hypot(pair[1].1 - pair[0].1);
        run.push(run.last().copied().unwrap_or(0.0) + step);
    }
    let length = run.last().copied().unwrap_or(0.0);
    points
        .iter()
        .zip(&run)
        .enumerate()
        .map(|(i, (&(x, y), &d))| {
            let share = if length > 0.0 {
                d / length * 100.0
            } else {
                i as f64 / MOTION_STOPS as f64 * 100.0
            };
            format!("{share:.2}%{{transform:translate({x:.1}px,{y:.1}px)}}")
        })
        .collect()
}

/// Per second, from `before` to `now` over `seconds`; 0 without a before.
fn rate(before: Option<i64>, now: i64, seconds: f64) -> f64 {
    match before {
        Some(b) if seconds > 0.0 && now > b => (now - b) as f64 / seconds,
        _ => 0.0,
    }
}

/// A group's position on a partition: where it has processed to.
fn position(group: &GroupView, partition: i32) -> Option<i64> {
    let p = group.partitions.iter().find(|p| p.partition == partition)?;
    match group.group_type {
        GroupType::Share => p.lag.map(|lag| p.log_end - lag),
        _ => p.committed,
    }
}

/// Which partitions (by index into the topic's list) a node stands for.
struct Shown {
    /// (partition ids, node index)
    nodes: Vec<(Vec<i32>, usize)>,
}

/// The picture of `now`, with rates since `before` (the snapshot before it,
/// if any); `label` names a group (a demo service by its name).
pub fn layout(
    before: Option<&FlowSnapshot>,
    now: &FlowSnapshot,
    label: impl Fn(&str) -> String,
) -> Option<Diagram> {
    let topic = now.topic.as_ref()?;
    let seconds = before.map_or(0.0, |b| (now.at_ms - b.at_ms) as f64 / 1000.0);
    let before_topic = before.and_then(|b| b.topic.as_ref());
    let log_end_before = |id: i32| {
        before_topic
            .and_then(|t| t.partitions.iter().find(|p| p.id == id))
            .map(|p| p.high_watermark)
    };

    // Partitions: one node each up to the bound, then one for the rest.
    let mut partitions = Vec::new();
    let mut shown = Shown { nodes: Vec::new() };
    let mut produce = Vec::new();
    for (i, p) in topic.partitions.iter().take(MAX_PARTITIONS).enumerate() {
        partitions.push(PartitionNode {
            label: format!("P{}", p.id),
            key: format!("p{}", p.id),
            x: PARTITION_X,
            y: TOP + ROW * i as f64,
            width: PARTITION_W,
            log_end: p.high_watermark,
        });
        shown.nodes.push((vec![p.id], i));
        produce.push(rate(log_end_before(p.id), p.high_watermark, seconds));
    }
    let rest = &topic.partitions[topic.partitions.len().min(MAX_PARTITIONS)..];
    if let (Some(first), Some(last)) = (rest.first(), rest.last()) {
        let i = partitions.len();
        partitions.push(PartitionNode {
            label: format!("P{}–P{} ({} more)", first.id, last.id, rest.len()),
            key: "rest".into(),
            x: PARTITION_X,
            y: TOP + ROW * i as f64,
            width: PARTITION_W,
            log_end: rest.iter().map(|p| p.high_watermark).sum(),
        });
        shown.nodes.push((rest.iter().map(|p| p.id).collect(), i));
        produce.push(
            rest.iter()
                .map(|p| rate(log_end_before(p.id), p.high_watermark, seconds))
                .sum(),
        );
    }
    let partitions_bottom = TOP + ROW * partitions.len() as f64;
    let producer_y = f64::midpoint(TOP, partitions_bottom - ROW);

    let mut edges: Vec<Edge> = partitions
        .iter()
        .zip(&produce)
        .map(|(node, &rate)| {
            let (path, motion) = curve(
                (PRODUCER_X, producer_y),
                (node.x - node.width / 2.0, node.y),
            );
            Edge {
                key: format!("produce:{}", node.key),
                group: None,
                node: node.key.clone(),
                path,
                motion,
                rate,
                dots: 0,
                lag: None,
                kind: EdgeKind::Produce,
                label_at: (0.0, 0.0),
            }
        })
        .collect();

    // Groups, stacked on the right; each member a row.
    let mut groups = Vec::new();
    let mut y = TOP - ROW / 2.0;
    for (g, group) in now.groups.iter().take(MAX_GROUPS).enumerate() {
        // Each member a row; past the bound, the last row stands for the rest.
        let mut rows: Vec<(String, Vec<i32>)> = group
            .members
            .iter()
            .map(|m| {
                (
                    member_label(&group.group_id, &m.client_id),
                    m.partitions.clone(),
                )
            })
            .collect();
        if rows.len() > MAX_MEMBERS {
            let rest = rows.split_off(MAX_MEMBERS - 1);
            rows.push((
                format!("+{} more", rest.len()),
                rest.into_iter().flat_map(|(_, ps)| ps).collect(),
            ));
        }
        let members: Vec<MemberNode> = rows
            .iter()
            .enumerate()
            .map(|(i, (label, _))| MemberNode {
                label: label.clone(),
                y: y + GROUP_HEAD + MEMBER_ROW * (i as f64 + 0.5),
            })
            .collect();
        let height = GROUP_HEAD + MEMBER_ROW * members.len().max(1) as f64 + 4.0;
        let before_group =
            before.and_then(|b| b.groups.iter().find(|g| g.group_id == group.group_id));
        // Per partition node: the members it flows to, its rate and lag.
        for (ids, node) in &shown.nodes {
            let from = &partitions[*node];
            let start = (from.x + from.width / 2.0, from.y);
            let consumed: f64 = ids
                .iter()
                .map(|&id| {
                    let now_at = position(group, id);
                    let before_at = before_group.and_then(|g| position(g, id));
                    now_at.map_or(0.0, |n| rate(before_at, n, seconds))
                })
                .sum();
            let lag = ids
                .iter()
                .map(|&id| {
                    let p = group.partitions.iter().find(|p| p.partition == id)?;
                    p.lag.or(p.uncommitted_lag)
                })
                .sum::<Option<i64>>();
            let takers: Vec<usize> = rows
                .iter()
                .enumerate()
                .filter(|(_, (_, ps))| ps.iter().any(|p| ids.contains(p)))
                .map(|(i, _)| i)
                .collect();
            let label_at = (start.0 + 6.0, start.1 - 3.0);
            if takers.is_empty() {
                let (path, motion) = curve(start, (GROUP_X, y + GROUP_HEAD / 2.0));
                edges.push(Edge {
                    key: format!("g{g}:{}", from.key),
                    group: Some(group.group_id.clone()),
                    node: from.key.clone(),
                    path,
                    motion,
                    rate: 0.0,
                    dots: 0,
                    lag,
                    kind: EdgeKind::Idle,
                    label_at,
                });
                continue;
            }
            // A share group's partition is shared by its takers; a
            // consumer group's has one owner.
            let each = consumed / takers.len() as f64;
            for (n, i) in takers.iter().enumerate() {
                // One owner: the edge is the partition's and moves with it.
                // Several takers (a share group, or a node standing for many
                // partitions): one edge per member row.
                let key = if takers.len() == 1 && group.group_type != GroupType::Share {
                    format!("g{g}:{}", from.key)
                } else {
                    format!("g{g}:{}:m{i}", from.key)
                };
                let (path, motion) = curve(start, (GROUP_X, members[*i].y));
                edges.push(Edge {
                    key,
                    group: Some(group.group_id.clone()),
                    node: from.key.clone(),
                    path,
                    motion,
                    rate: each,
                    dots: 0,
                    // The lag is the partition's, drawn once.
                    lag: if n == 0 { lag } else { None },
                    kind: EdgeKind::Consume,
                    label_at,
                });
            }
        }
        groups.push(GroupNode {
            id: group.group_id.clone(),
            label: label(&group.group_id),
            kind: group.group_type,
            state: group.state.clone(),
            x: GROUP_X,
            y,
            height,
            lag: group.total_lag,
            members,
        });
        y += height + 8.0;
    }
    share_out_dots(&mut edges);
    Some(Diagram {
        height: partitions_bottom.max(y) + 8.0,
        producer_y,
        produce_rate: produce.iter().sum(),
        partitions,
        groups,
        groups_not_drawn: now.groups.len().saturating_sub(MAX_GROUPS),
        edges,
    })
}

/// Gives each moving edge dots in proportion to its rate (at most
/// [`MAX_DOTS_PER_SECOND`] of travel each), within [`MAX_DOTS`] in all.
fn share_out_dots(edges: &mut [Edge]) {
    let wanted = |e: &Edge| (e.rate.min(MAX_DOTS_PER_SECOND) * TRAVEL_S).ceil() as usize;
    let total: usize = edges.iter().map(wanted).sum();
    let scale = if total > MAX_DOTS {
        MAX_DOTS as f64 / total as f64
    } else {
        1.0
    };
    for e in edges.iter_mut() {
        let w = wanted(e);
        e.dots = if w == 0 {
            0
        } else {
            ((w as f64 * scale).floor() as usize).max(usize::from(scale >= 1.0))
        };
    }
}

#[cfg(test)]
mod tests {
    use wire::api::{GroupMember, GroupPartition, PartitionHealth, TopicHealth};

    use super::*;

    fn snapshot(at_ms: i64, log_ends: &[i64], groups: Vec<GroupView>) -> FlowSnapshot {
        FlowSnapshot {
            at_ms,
            topic: Some(TopicHealth {
                name: "orders".into(),
                partitions: log_ends
                    .iter()
                    .enumerate()
                    .map(|(i, &e)| PartitionHealth {
                        id: i as i32,
                        leader: 1,
                        low_watermark: 0,
                        high_watermark: e,
                    })
                    .collect(),
            }),
            groups,
            ..Default::default()
        }
    }

    fn group(
        id: &str,
        kind: GroupType,
        members: &[(&str, &[i32])],
        committed: &[i64],
        log_end: i64,
    ) -> GroupView {
        GroupView {
            group_id: id.into(),
            group_type: kind,
            members: members
                .iter()
                .map(|(c, ps)| GroupMember {
                    client_id: (*c).into(),
                    partitions: ps.to_vec(),
                    ..Default::default()
                })
                .collect(),
            partitions: committed
                .iter()
                .enumerate()
                .map(|(i, &c)| GroupPartition {
                    partition: i as i32,
                    committed: (kind != GroupType::Share).then_some(c),
                    log_end,
                    lag: Some(log_end - c),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn edge<'a>(d: &'a Diagram, key: &str) -> &'a Edge {
        d.edges
            .iter()
            .find(|e| e.key == key)
            .unwrap_or_else(|| panic!("{key} in {:?}", d.edges))
    }

    #[test]
    fn records_move_at_their_rates_to_the_member_that_owns_the_partition() {
        let g = |c: &[i64]| {
            group(
                "pay",
                GroupType::Consumer,
                &[("a", &[0]), ("b", &[1])],
                c,
                10,
            )
        };
        let before = snapshot(0, &[0, 0], vec![g(&[0, 0])]);
        let now = snapshot(2_000, &[10, 10], vec![g(&[4, 10])]);
        let d = layout(Some(&before), &now, str::to_owned).expect("a diagram");
        assert_eq!(d.produce_rate, 10.0);
        assert_eq!(edge(&d, "produce:p0").rate, 5.0);
        let p0 = edge(&d, "g0:p0");
        assert_eq!(
            (p0.rate, p0.lag, p0.kind),
            (2.0, Some(6), EdgeKind::Consume)
        );
        assert!(
            p0.path
                .ends_with(&format!("{:.1} {:.1}", GROUP_X, d.groups[0].members[0].y))
        );
        let p1 = edge(&d, "g0:p1");
        assert!(
            p1.path
                .ends_with(&format!("{:.1} {:.1}", GROUP_X, d.groups[0].members[1].y))
        );
        assert!(p1.dots > 0 && p0.dots > 0);
    }

    #[test]
    fn a_record_moves_along_its_edge_from_end_to_end_at_an_even_speed() {
        let (path, motion) = curve((80.0, 50.0), (195.0, 24.0));
        assert_eq!(path, "M80.0 50.0 C137.5 50.0 137.5 24.0 195.0 24.0");
        let stops: Vec<(f64, f64, f64)> = motion
            .split_terminator('}')
            .filter(|s| !s.is_empty())
            .map(|stop| {
                let (share, rest) = stop.split_once("%{transform:translate(").expect(stop);
                let (x, y) = rest.trim_end_matches(")").split_once("px,").expect(stop);
                (
                    share.parse().expect(share),
                    x.parse().expect(x),
                    y.trim_end_matches("px").parse().expect(y),
                )
            })
            .collect();
        assert_eq!(stops.len(), MOTION_STOPS + 1);
        assert_eq!(stops[0], (0.0, 80.0, 50.0));
        assert_eq!(stops[MOTION_STOPS], (100.0, 195.0, 24.0));
        // Each stop's share of the time is its share of the way.
        let total: f64 = stops
            .windows(2)
            .map(|w| (w[1].1 - w[0].1).hypot(w[1].2 - w[0].2))
            .sum();
        let mut run = 0.0;
        for w in stops.windows(2) {
            run += (w[1].1 - w[0].1).hypot(w[1].2 - w[0].2);
            assert!((w[1].0 - run / total * 100.0).abs() < 0.2, "{stops:?}");
        }
        // On the curve the edge draws: it leaves and arrives level.
        assert!((stops[1].2 - 50.0).abs() < 1.0 && (stops[MOTION_STOPS - 1].2 - 24.0).abs() < 1.0);
    }

    #[test]
    fn a_zero_length_edge_has_stops_not_a_division_by_zero() {
        let (_, m) = curve((10.0, 10.0), (10.0, 10.0));
        assert!(
            m.starts_with("0.00%{transform:translate(10.0px,10.0px)}"),
            "{m}"
        );
        assert!(
            m.ends_with("100.00%{transform:translate(10.0px,10.0px)}"),
            "{m}"
        );
        assert!(!m.contains("NaN"), "{m}");
    }

    #[test]
    fn a_rebalance_moves_the_same_edge_to_the_new_owner() {
        let before = snapshot(
            0,
            &[1],
            vec![group(
                "pay",
                GroupType::Consumer,
                &[("a", &[0]), ("b", &[])],
                &[0],
                1,
            )],
        );
        let now = snapshot(
            1_000,
            &[1],
            vec![group(
                "pay",
                GroupType::Consumer,
                &[("a", &[]), ("b", &[0])],
                &[0],
                1,
            )],
        );
        let one = layout(None, &before, str::to_owned).expect("diagram");
        let two = layout(Some(&before), &now, str::to_owned).expect("diagram");
        assert_ne!(edge(&one, "g0:p0").path, edge(&two, "g0:p0").path);
        assert!(
            edge(&two, "g0:p0")
                .path
                .ends_with(&format!("{:.1}", two.groups[0].members[1].y))
        );
    }

    #[test]
    fn a_share_groups_members_all_take_from_a_shared_partition() {
        let q = |c: &[i64]| {
            group(
                "queue",
                GroupType::Share,
                &[("w1", &[0]), ("w2", &[0])],
                c,
                10,
            )
        };
        let before = snapshot(0, &[10], vec![q(&[0])]);
        let now = snapshot(1_000, &[10], vec![q(&[8])]);
        let d = layout(Some(&before), &now, str::to_owned).expect("diagram");
        let to = |m: &str| edge(&d, &format!("g0:p0:{m}")).rate;
        assert_eq!((to("m0"), to("m1")), (4.0, 4.0));
        assert_eq!(edge(&d, "g0:p0:m0").lag, Some(2));
        assert_eq!(
            edge(&d, "g0:p0:m1").lag,
            None,
            "a partition's lag is drawn once"
        );
    }

    #[test]
    fn a_group_without_members_waits_and_nothing_moves() {
        let d = layout(
            None,
            &snapshot(
                0,
                &[5],
                vec![group("stopped", GroupType::Classic, &[], &[2], 5)],
            ),
            str::to_owned,
        )
        .expect("diagram");
        let e = edge(&d, "g0:p0");
        assert_eq!((e.kind, e.dots, e.lag), (EdgeKind::Idle, 0, Some(3)));
    }

    #[test]
    fn groups_past_the_bound_are_counted_not_drawn_and_a_group_named_produce_is_its_own() {
        let mut groups: Vec<GroupView> = (0..20)
            .map(|i| group(&format!("g{i}"), GroupType::Classic, &[], &[0], 1))
            .collect();
        groups[0].group_id = "produce".into();
        let d = layout(None, &snapshot(0, &[1], groups), str::to_owned).expect("diagram");
        assert_eq!((d.groups.len(), d.groups_not_drawn), (MAX_GROUPS, 4));
        assert_eq!(edge(&d, "g0:p0").group.as_deref(), Some("produce"));
        assert_eq!(edge(&d, "produce:p0").group, None);
    }

    #[test]
    fn labels_fit_the_picture() {
        assert_eq!(short("orders"), "orders");
        assert_eq!(short(&"é".repeat(40)).chars().count(), LABEL_CHARS);
        assert_eq!(
            member_label("demo-orders-payments", "demo-orders-payments-2"),
            "member 2"
        );
        assert_eq!(member_label("g", "console-consumer"), "console-consumer");
    }

    #[test]
    fn a_thousand_partitions_and_fast_rates_stay_within_the_bounds() {
        let ends: Vec<i64> = vec![1_000_000; 1_000];
        let members: Vec<(String, Vec<i32>)> = (0..20)
            .map(|m| (format!("m{m}"), (m * 50..m * 50 + 50).collect()))
            .collect();
        let members: Vec<(&str, &[i32])> = members
            .iter()
            .map(|(c, p)| (c.as_str(), p.as_slice()))
            .collect();
        let g = |c: i64| {
            group(
                "big",
                GroupType::Consumer,
                &members,
                &vec![c; 1_000],
                1_000_000,
            )
        };
        let before = snapshot(0, &vec![0; 1_000], vec![g(0)]);
        let now = snapshot(1_000, &ends, vec![g(500_000)]);
        let d = layout(Some(&before), &now, str::to_owned).expect("diagram");
        assert_eq!(d.partitions.len(), MAX_PARTITIONS + 1);
        assert_eq!(
            d.partitions.last().map(|p| p.label.as_str()),
            Some("P64–P999 (936 more)")
        );
        assert_eq!(d.groups[0].members.len(), MAX_MEMBERS);
        assert_eq!(d.groups[0].members[MAX_MEMBERS - 1].label, "+13 more");
        assert!(
            d.edges.iter().all(|e| e.kind != EdgeKind::Idle),
            "every partition has a taker"
        );
        assert!(d.edges.iter().map(|e| e.dots).sum::<usize>() <= MAX_DOTS);
        let mut keys: Vec<&str> = d.edges.iter().map(|e| e.key.as_str()).collect();
        keys.sort_unstable();
        let all = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), all, "every edge's key is its own");
        // Every record is counted, drawn or not.
        assert_eq!(d.produce_rate, 1_000_000_000.0);
    }
}
