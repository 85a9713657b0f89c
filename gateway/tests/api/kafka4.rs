//! Kafka 4's group types in `GET /api/groups`, each checked against Kafka's
//! own tools on the same broker: a consumer-protocol group (KIP-848) of
//! Kafka's Java console consumers against `kafka-consumer-groups
//! --describe --state/--members --verbose`, and a share group (KIP-932) of
//! Kafka's console share consumer against `kafka-share-groups`.

use std::process::Stdio;

use wire::api::{GroupType, GroupView};

use crate::groups::kafka_consumer_groups_describe;
use crate::helpers::*;

/// One of Kafka's Java tools running in the background (a consumer), stopped
/// when dropped.
pub(crate) struct BackgroundTool {
    _child: tokio::process::Child,
}

impl BackgroundTool {
    pub(crate) fn spawn(class: &str, args: &[&str]) -> Self {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
        let child = tokio::process::Command::new(script)
            .arg("tool")
            .arg(class)
            .args(["--bootstrap-server", &brokers()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {class}: {e}"));
        Self { _child: child }
    }
}

/// The lines of a tool's table whose first column is `group`, split on
/// whitespace.
async fn tool_rows(class: &str, args: &[&str], group: &str) -> Vec<Vec<String>> {
    let output = kafka_tool(class, args).await;
    assert!(
        output.status.success(),
        "{class} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|cols| cols.first().is_some_and(|c| c == group))
        .collect()
}

/// The partitions of a topic the gateway creates (`--partitions`' default).
const DEFAULT_PARTITIONS: i32 = 3;

const CONSUMER_GROUPS: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
const SHARE_GROUPS: &str = "org.apache.kafka.tools.consumer.group.ShareGroupCommand";

/// `topic:0,1,2` (or `-`) as the tools print an assignment, for `topic`.
fn assignment(text: &str, topic: &str) -> Vec<i32> {
    let mut partitions: Vec<i32> = text
        .split(';')
        .filter_map(|t| t.strip_prefix(&format!("{topic}:")))
        .flat_map(|ps| ps.split(','))
        .filter_map(|p| p.parse().ok())
        .collect();
    partitions.sort_unstable();
    partitions
}

/// A group as both sides show it: state, assignor or group epochs, and
/// per member (id, client id, host, epoch, partitions, target).
type GroupShape = (String, String, Vec<ToolMember>);

/// Member id, client id, host, epoch, partitions, target partitions.
type ToolMember = (String, String, String, i32, Vec<i32>, Option<Vec<i32>>);

/// The members of a tool's `--members --verbose` table, sorted: both tools
/// print id, host, client id, partition count, epoch and assignment first;
/// `target` is the column of a target assignment, where there is one.
fn tool_members(rows: &[Vec<String>], topic: &str, target: Option<usize>) -> Vec<ToolMember> {
    let width = target.map_or(7, |t| t + 1);
    let mut members: Vec<ToolMember> = rows
        .iter()
        .filter(|m| m.len() >= width)
        .map(|m| {
            (
                m[1].clone(),
                m[3].clone(),
                m[2].trim_start_matches('/').to_owned(),
                m[5].parse().expect("epoch"),
                assignment(&m[6], topic),
                target.map(|t| assignment(&m[t], topic)),
            )
        })
        .collect();
    members.sort();
    members
}

/// `kafka-consumer-groups --describe --state` and `--members --verbose`.
async fn consumer_group_tool(group: &str, topic: &str) -> GroupShape {
    let state = tool_rows(
        CONSUMER_GROUPS,
        &["--describe", "--group", group, "--state"],
        group,
    )
    .await;
    // GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS
    let state = &state[0];
    let members = tool_rows(
        CONSUMER_GROUPS,
        &["--describe", "--group", group, "--members", "--verbose"],
        group,
    )
    .await;
    // GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS CURRENT-EPOCH
    // CURRENT-ASSIGNMENT TARGET-EPOCH TARGET-ASSIGNMENT
    let members = tool_members(&members, topic, Some(8));
    (state[4].clone(), state[3].clone(), members)
}

fn gateway_shape(view: &GroupView) -> GroupShape {
    let mut members: Vec<_> = view
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.clone(),
                m.client_id.clone(),
                m.host.trim_start_matches('/').to_owned(),
                m.member_epoch.expect("a member epoch"),
                m.partitions.clone(),
                m.target_partitions.clone(),
            )
        })
        .collect();
    members.sort();
    let second = match view.group_type {
        GroupType::Share => format!(
            "{} {}",
            view.group_epoch.expect("group epoch"),
            view.assignment_epoch.expect("assignment epoch")
        ),
        _ => view.assignor.clone().unwrap_or_default(),
    };
    (view.state.clone(), second, members)
}

async fn group(app: &TestApp, id: &str) -> Option<GroupView> {
    app.groups_now()
        .await?
        .into_iter()
        .find(|g| g.group_id == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_protocol_group_is_shown_as_kafka_consumer_groups_shows_it() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    for i in 0..9 {
        assert_eq!(
            app.post_order(&order(&format!("c848-{i}"))).await.status(),
            202
        );
    }
    let group_id = unique("kip848");
    let consumer = |client: &str| {
        BackgroundTool::spawn(
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            &[
                "--topic",
                &app.topic,
                "--group",
                &group_id,
                "--from-beginning",
                "--consumer-property",
                "group.protocol=consumer",
                "--consumer-property",
                &format!("client.id={client}"),
                "--consumer-property",
                "auto.commit.interval.ms=200",
            ],
        )
    };
    let _first = consumer("first-console");

    // One member owning every partition, shown as the tool shows it: the
    // classic API alone would say `Dead` with no members.
    let partitions: Vec<i32> = (0..DEFAULT_PARTITIONS).collect();
    let (one, _) = until("the group as the tool shows it, one member", || async {
        let view = group(&app, &group_id).await?;
        let stable = view.group_type == GroupType::Consumer
            && view.state == "Stable"
            && view.members.len() == 1
            && view.members[0].partitions == partitions;
        if !stable {
            return None;
        }
        let tool = consumer_group_tool(&group_id, &app.topic).await;
        (gateway_shape(&view) == tool).then_some((view, tool))
    })
    .await;
    assert_eq!(one.assignor.as_deref(), Some("uniform"));
    assert_eq!(one.group_epoch, one.assignment_epoch);
    let first_epoch = one.members[0].member_epoch.expect("epoch");

    // Its offsets and lag as `--describe` has them, once it has read all.
    until("offsets and lag as the tool has them", || async {
        let view = group(&app, &group_id).await?;
        let tool = kafka_consumer_groups_describe(&group_id, &app.topic).await;
        let ours: std::collections::HashMap<i32, _> = view
            .partitions
            .iter()
            .map(|p| (p.partition, (p.committed, p.log_end, p.lag)))
            .collect();
        let caught_up = view.partitions.iter().all(|p| p.lag == Some(0));
        (caught_up && ours == tool).then_some(())
    })
    .await;

    // A second member: ownership moves to it, epochs grow, and both sides
    // agree on who owns what.
    let _second = consumer("second-console");
    let (two, _) = until("the rebalanced group as the tool shows it", || async {
        let view = group(&app, &group_id).await?;
        let mut owned: Vec<i32> = view
            .members
            .iter()
            .flat_map(|m| m.partitions.clone())
            .collect();
        owned.sort_unstable();
        let settled = view.state == "Stable"
            && view.members.len() == 2
            && view.members.iter().all(|m| !m.partitions.is_empty())
            && owned == partitions;
        if !settled {
            return None;
        }
        let tool = consumer_group_tool(&group_id, &app.topic).await;
        (gateway_shape(&view) == tool).then_some((view, tool))
    })
    .await;
    let first = two
        .members
        .iter()
        .find(|m| m.client_id == "first-console")
        .expect("the first member stays");
    assert!(first.member_epoch.expect("epoch") > first_epoch, "{two:?}");
    assert!(first.partitions.len() < partitions.len(), "{two:?}");
    assert!(two.group_epoch > one.group_epoch, "{two:?}");
}

/// `kafka-share-groups --describe --state --verbose` and `--members --verbose`.
async fn share_group_tool(group: &str, topic: &str) -> GroupShape {
    let state = tool_rows(
        SHARE_GROUPS,
        &["--describe", "--group", group, "--state", "--verbose"],
        group,
    )
    .await;
    // GROUP COORDINATOR (ID) STATE GROUP-EPOCH ASSIGNMENT-EPOCH #MEMBERS
    let state = &state[0];
    let members = tool_rows(
        SHARE_GROUPS,
        &["--describe", "--group", group, "--members", "--verbose"],
        group,
    )
    .await;
    // GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS MEMBER-EPOCH ASSIGNMENT
    let members = tool_members(&members, topic, None);
    (
        state[3].clone(),
        format!("{} {}", state[4], state[5]),
        members,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_group_is_shown_as_kafka_share_groups_shows_it() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let group_id = unique("queue");
    // A new share group starts at the latest offset unless told otherwise.
    let configured = kafka_tool(
        "kafka.admin.ConfigCommand",
        &[
            "--alter",
            "--entity-type",
            "groups",
            "--entity-name",
            &group_id,
            "--add-config",
            "share.auto.offset.reset=earliest",
        ],
    )
    .await;
    assert!(
        configured.status.success(),
        "{}",
        String::from_utf8_lossy(&configured.stderr)
    );
    for i in 0..9 {
        assert_eq!(
            app.post_order(&order(&format!("share-{i}"))).await.status(),
            202
        );
    }
    let _worker = BackgroundTool::spawn(
        "org.apache.kafka.tools.consumer.ConsoleShareConsumer",
        &[
            "--topic",
            &app.topic,
            "--group",
            &group_id,
            "--consumer-property",
            "client.id=share-console",
        ],
    );

    let partitions: Vec<i32> = (0..DEFAULT_PARTITIONS).collect();
    let (view, _) = until("the share group as the tool shows it", || async {
        let view = group(&app, &group_id).await?;
        let ready = view.group_type == GroupType::Share
            && view.state == "Stable"
            && view.members.len() == 1
            && view.members[0].partitions == partitions;
        if !ready {
            return None;
        }
        let tool = share_group_tool(&group_id, &app.topic).await;
        (gateway_shape(&view) == tool).then_some((view, tool))
    })
    .await;
    assert!(
        view.partitions
            .iter()
            .all(|p| p.owner.is_none() && p.committed.is_none()),
        "a share group owns no partition and commits nothing: {view:?}"
    );

    // Start offsets and lag as `--describe` has them, once every order is
    // acknowledged (the console share consumer acknowledges what it printed).
    until("start offsets and lag as the tool has them", || async {
        let view = group(&app, &group_id).await?;
        // GROUP TOPIC PARTITION START-OFFSET LAG
        let tool: Vec<(i32, Option<i64>, Option<i64>)> = tool_rows(
            SHARE_GROUPS,
            &["--describe", "--group", &group_id],
            &group_id,
        )
        .await
        .iter()
        .filter(|r| r.len() >= 5 && r[1] == app.topic)
        .map(|r| {
            (
                r[2].parse().expect("partition"),
                r[3].parse().ok(),
                r[4].parse().ok(),
            )
        })
        .collect();
        let mut ours: Vec<_> = view
            .partitions
            .iter()
            .map(|p| (p.partition, p.start_offset, p.lag))
            .collect();
        ours.sort_unstable();
        let mut tool = tool;
        tool.sort_unstable();
        let done = view.partitions.iter().all(|p| p.lag == Some(0));
        (done && ours == tool).then_some(())
    })
    .await;
}

/// `kafka-metadata-quorum describe --status` and `--replication`: leader,
/// epoch, high watermark, and per replica (id, status, log end, lag, last
/// fetch, last caught up).
struct QuorumTool {
    leader_id: i32,
    leader_epoch: i32,
    high_watermark: i64,
    replicas: Vec<ToolReplica>,
}

/// NodeId, Status, LogEndOffset, Lag, LastFetchTimestamp, LastCaughtUpTimestamp.
type ToolReplica = (i32, String, i64, i64, Option<i64>, Option<i64>);

async fn quorum_tool(bootstrap: &str) -> QuorumTool {
    let run = |command: &'static str| async move {
        let output = kafka_tool_at(
            bootstrap,
            "org.apache.kafka.tools.MetadataQuorumCommand",
            &["describe", command],
        )
        .await;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let status = run("--status").await;
    let field = |name: &str| -> i64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim_start_matches(':').trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {status}"))
    };
    let (leader_id, leader_epoch, high_watermark) = (
        i32::try_from(field("LeaderId")).expect("id"),
        i32::try_from(field("LeaderEpoch")).expect("epoch"),
        field("HighWatermark"),
    );
    let replication = run("--replication").await;
    let time = |v: &str| v.parse::<i64>().ok().filter(|t| *t >= 0);
    let mut replicas: Vec<_> = replication
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|c| c.len() == 7)
        .map(|c| {
            (
                c[0].parse().expect("node id"),
                c[6].to_owned(),
                c[2].parse().expect("log end"),
                c[3].parse().expect("lag"),
                time(c[4]),
                time(c[5]),
            )
        })
        .collect();
    replicas.sort();
    QuorumTool {
        leader_id,
        leader_epoch,
        high_watermark,
        replicas,
    }
}

/// The quorum of the next flow snapshot that has one.
async fn next_quorum(live: &mut LiveClient) -> (i64, wire::api::QuorumView) {
    loop {
        let snapshot = live.next_flow_with_topic().await;
        if let Some(quorum) = snapshot.quorum {
            return (snapshot.at_ms, quorum);
        }
    }
}

/// Checks the gateway's quorum against the tool's, read between two of the
/// gateway's snapshots: what does not change in between is equal; offsets
/// and times that only grow lie between the two snapshots' values; a lag is
/// within what the log grew in between.
async fn assert_quorum_as_the_tool_says(live: &mut LiveClient, bootstrap: &str) -> i32 {
    loop {
        let (_, before) = next_quorum(live).await;
        let tool = quorum_tool(bootstrap).await;
        let tool_done = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64;
        let after = loop {
            let (at, quorum) = next_quorum(live).await;
            if at > tool_done {
                break quorum;
            }
        };
        // An election in between: read again.
        if (before.leader_id, before.leader_epoch) != (after.leader_id, after.leader_epoch)
            || (tool.leader_id, tool.leader_epoch) != (after.leader_id, after.leader_epoch)
        {
            continue;
        }
        assert!(
            (before.high_watermark..=after.high_watermark).contains(&tool.high_watermark),
            "high watermark {} not within {}..={}",
            tool.high_watermark,
            before.high_watermark,
            after.high_watermark
        );
        let grew = after.high_watermark - before.high_watermark;
        let replicas = |q: &wire::api::QuorumView| {
            let mut all: Vec<wire::api::QuorumReplica> =
                q.voters.iter().chain(&q.observers).cloned().collect();
            all.sort_by_key(|r| r.node_id);
            all
        };
        let (before, after) = (replicas(&before), replicas(&after));
        let ids = |rs: &[wire::api::QuorumReplica]| {
            rs.iter()
                .map(|r| (r.node_id, r.status.clone()))
                .collect::<Vec<_>>()
        };
        let tool_ids: Vec<(i32, String)> =
            tool.replicas.iter().map(|r| (r.0, r.1.clone())).collect();
        assert_eq!(ids(&before), tool_ids);
        assert_eq!(ids(&after), tool_ids);
        for ((b, a), t) in before.iter().zip(&after).zip(&tool.replicas) {
            let within = |what: &str, low: Option<i64>, value: Option<i64>, high: Option<i64>| {
                assert!(
                    low <= value && value <= high,
                    "node {}: {what} {value:?} not within {low:?}..={high:?}",
                    t.0
                );
            };
            within(
                "log end",
                Some(b.log_end_offset),
                Some(t.2),
                Some(a.log_end_offset),
            );
            within("last fetch", b.last_fetch_ms, t.4, a.last_fetch_ms);
            within(
                "last caught up",
                b.last_caught_up_ms,
                t.5,
                a.last_caught_up_ms,
            );
            assert!(
                (t.3 - a.lag).abs() <= grew && (t.3 - b.lag).abs() <= grew,
                "node {}: lag {} against {} and {} (the log grew {grew})",
                t.0,
                t.3,
                b.lag,
                a.lag
            );
        }
        return tool.leader_id;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kraft_quorum_is_shown_as_kafka_metadata_quorum_shows_it_before_and_after_its_leader_dies()
 {
    let cluster = crate::broker::PrivateCluster::new();
    cluster.start().await;
    let app = spawn_with(|c| {
        c.brokers = cluster.brokers();
        c.replication_factor = 3;
    })
    .await;
    app.wait_healthy().await;
    let mut live = app.live(0).await;
    let leader = assert_quorum_as_the_tool_says(&mut live, &cluster.brokers()).await;
    let (_, quorum) = next_quorum(&mut live).await;
    assert_eq!(quorum.voters.len(), 3);
    assert_eq!(quorum.voters[0].status, "Leader");
    let epoch = quorum.leader_epoch;

    let node = usize::try_from(leader - 1).expect("node ids are 1 to 3");
    cluster.nodes[node].kill();
    let survivors = cluster.brokers_but(node);
    loop {
        let (_, quorum) = next_quorum(&mut live).await;
        if quorum.leader_id != leader && quorum.leader_epoch > epoch {
            break;
        }
    }
    let new_leader = assert_quorum_as_the_tool_says(&mut live, &survivors).await;
    assert_ne!(new_leader, leader);
    let quorum: wire::api::QuorumView = app.get("/api/quorum").await.json().await.expect("quorum");
    assert_eq!(quorum.voters.len(), 3, "a dead voter is still a voter");
}
