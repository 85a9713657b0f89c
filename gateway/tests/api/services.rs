//! The demo services against the real broker: an outage drained with exact
//! counts, scaling that moves partition ownership, and the commands' errors.

use std::collections::{BTreeMap, BTreeSet};

use gateway::config::ServiceSpec;
use serde_json::json;
use wire::ServerMessage;
use wire::api::{CatchUp, GroupView};
use wire::services::ServiceView;
use wire::stream::FlowSnapshot;

use crate::helpers::*;

/// A gateway running one demo service, `name`, with no processing time, no
/// failures and `members` members.
async fn app_with_service(name: &str, members: u32) -> TestApp {
    app_with_service_in(name, members, |_| {}).await
}

/// The same, with further settings.
async fn app_with_service_in(
    name: &str,
    members: u32,
    configure: impl FnOnce(&mut gateway::Config),
) -> TestApp {
    let spec = ServiceSpec {
        name: name.into(),
        processing_ms: 0,
        failure_rate: 0.0,
        members,
        protocol: None,
    };
    let app = spawn_with(|c| {
        c.no_services = false;
        c.services = vec![spec];
        configure(c);
    })
    .await;
    app.wait_healthy().await;
    app
}

/// The service's members and their partitions, as each member was told.
fn own_view(service: &ServiceView) -> BTreeMap<String, Vec<i32>> {
    service
        .assignments
        .iter()
        .map(|a| (a.client_id.clone(), a.partitions.clone()))
        .collect()
}

/// The group's members and their partitions, as the broker describes them.
fn broker_view(group: &GroupView) -> BTreeMap<String, Vec<i32>> {
    group
        .members
        .iter()
        .map(|m| {
            let mut partitions = m.partitions.clone();
            partitions.sort_unstable();
            (m.client_id.clone(), partitions)
        })
        .collect()
}

async fn group(app: &TestApp, group_id: &str) -> Option<GroupView> {
    app.groups_now()
        .await?
        .into_iter()
        .find(|g| g.group_id == group_id)
}

/// Total lag of the group on the topic, once every partition has a
/// committed offset.
async fn total_lag(app: &TestApp, group_id: &str) -> Option<i64> {
    let group = group(app, group_id).await?;
    group.partitions.iter().map(|p| p.lag).sum()
}

/// Waits until the service's members and the broker agree on who owns what,
/// and that is `expected` (member count → partitions per member).
async fn wait_for_ownership(
    app: &TestApp,
    name: &str,
    shape: &[usize],
) -> BTreeMap<String, Vec<i32>> {
    until(&format!("{name} to settle as {shape:?}"), || async {
        let service = app.service(name).await;
        let own = own_view(&service);
        let mut sizes: Vec<usize> = own.values().map(Vec::len).collect();
        sizes.sort_unstable();
        let all: BTreeSet<i32> = own.values().flatten().copied().collect();
        let broker = broker_view(&group(app, &service.group_id).await?);
        (sizes == shape && all == BTreeSet::from([0, 1, 2]) && broker == own).then_some(own)
    })
    .await
}

/// Places orders until every partition has one, so every partition gets a
/// committed offset and the group's lag is defined everywhere; waits until
/// the group has processed and committed them all. How many it placed.
async fn warm_up(app: &TestApp, group_id: &str) -> u64 {
    let mut seen = BTreeSet::new();
    let mut placed = 0;
    while seen.len() < 3 {
        assert!(placed < 100, "orders never reached all partitions");
        let response = app.post_order(&order(&format!("warm-{placed}"))).await;
        assert_eq!(response.status(), 202);
        let ack: wire::OrderAccepted = response.json().await.expect("ack");
        seen.insert(ack.partition);
        placed += 1;
    }
    until(
        "the warm-up orders to be processed and committed",
        || async { (total_lag(app, group_id).await? == 0).then_some(()) },
    )
    .await;
    placed
}

/// The group's total lag in a flow snapshot, once every partition has a
/// committed offset, and whether it has members.
fn lag_in(snapshot: &FlowSnapshot, group_id: &str) -> Option<(i64, bool)> {
    let group = snapshot.groups.iter().find(|g| g.group_id == group_id)?;
    let lag = group
        .partitions
        .iter()
        .map(|p| p.lag)
        .sum::<Option<i64>>()?;
    Some((lag, !group.members.is_empty()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_service_finds_its_orders_waiting_and_processes_each_once() {
    let app = app_with_service("billing", 1).await;
    let group_id = app.service("billing").await.group_id;

    let warm_up = warm_up(&app, &group_id).await;
    // What a browser sees from here on.
    let mut live = app.live(0).await;

    // The outage: the service commits, leaves its group, and stops.
    let response = app
        .patch_service("billing", &json!({"running": false}))
        .await;
    assert_eq!(response.status(), 200);
    let stopped: ServiceView = response.json().await.expect("view");
    assert!(!stopped.running);
    assert!(stopped.assignments.is_empty());

    // Orders are still accepted, and wait in Kafka: the lag grows by each.
    const ORDERS: i64 = 30;
    let mut placed = BTreeSet::new();
    for i in 0..ORDERS {
        let response = app.post_order(&order(&format!("during-outage-{i}"))).await;
        assert_eq!(response.status(), 202);
        let ack: wire::OrderAccepted = response.json().await.expect("ack");
        placed.insert(ack.order_id);
    }
    // (A snapshot takes a moment to read, so one may still show the member
    // that just left: wait for a snapshot with the lag and no member.)
    let lag_grew = async {
        loop {
            if let ServerMessage::Flow(snapshot) = live.next_any().await
                && lag_in(&snapshot, &group_id) == Some((ORDERS, false))
            {
                break;
            }
        }
    };
    tokio::time::timeout(PATIENCE, lag_grew)
        .await
        .expect("the lag to show every order placed during the outage");
    assert_eq!(app.service("billing").await.processed, warm_up);

    // Back: it resumes from its committed offsets and drains the backlog,
    // each order once, as the browser is told.
    let response = app
        .patch_service("billing", &json!({"running": true}))
        .await;
    assert_eq!(response.status(), 200);
    let mut processed: Vec<String> = Vec::new();
    let mut drained = false;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !drained || processed.len() < placed.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backlog did not drain"
        );
        match live.next_any().await {
            ServerMessage::Processed { service, orders } => {
                assert_eq!(service, "billing");
                processed.extend(
                    orders
                        .into_iter()
                        .filter_map(|o| o.order_id)
                        .filter(|id| placed.contains(id)),
                );
            }
            ServerMessage::Flow(snapshot) => {
                drained = lag_in(&snapshot, &group_id) == Some((0, true));
            }
            _ => {}
        }
    }
    let distinct: BTreeSet<String> = processed.iter().cloned().collect();
    assert_eq!(
        processed.len(),
        distinct.len(),
        "an order was processed twice"
    );
    assert_eq!(distinct, placed);
    let after = app.service("billing").await;
    assert_eq!(
        after.processed,
        warm_up + ORDERS as u64,
        "each order processed once"
    );
    assert_eq!(after.redelivered, 0);
    assert_eq!((after.failed_attempts, after.gave_up), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_resumes_its_services_from_their_committed_offsets() {
    let prefix = format!("{}-", unique("restart"));
    let first = app_with_service_in("billing", 1, |c| {
        c.service_group_prefix = Some(prefix.clone())
    })
    .await;
    let group_id = first.service("billing").await.group_id;
    warm_up(&first, &group_id).await;
    let topic = first.topic.clone();
    first.shutdown().await.expect("clean stop");

    // While no gateway runs, another producer keeps writing.
    const WHILE_DOWN: u64 = 20;
    for i in 0..WHILE_DOWN {
        produce_raw(&topic, None, Some(&format!("k{i}")), b"written while down").await;
    }

    let second = app_with_service_in("billing", 1, |c| {
        c.service_group_prefix = Some(prefix.clone());
        c.topic = topic.clone();
    })
    .await;
    until("the service to catch up", || async {
        (total_lag(&second, &group_id).await? == 0).then_some(())
    })
    .await;
    // The new process counts from zero: it processed exactly what was
    // written while it was down, nothing before.
    let resumed = second.service("billing").await;
    assert_eq!(resumed.processed, WHILE_DOWN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_a_service_moves_partition_ownership_as_shown() {
    let app = app_with_service("scaled", 1).await;

    let one = wait_for_ownership(&app, "scaled", &[3]).await;
    let group_id = app.service("scaled").await.group_id;
    assert_eq!(one.keys().collect::<Vec<_>>(), [&format!("{group_id}-1")]);

    let response = app.patch_service("scaled", &json!({"members": 3})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<ServiceView>().await.expect("view").members,
        3
    );
    let three = wait_for_ownership(&app, "scaled", &[1, 1, 1]).await;
    let expected_ids: Vec<String> = (1..=3).map(|i| format!("{group_id}-{i}")).collect();
    assert_eq!(three.keys().cloned().collect::<Vec<_>>(), expected_ids);

    // Each partition's owner, as /api/groups shows it, is the member that
    // says it owns it.
    let view = group(&app, &group_id).await.expect("group listed");
    for p in &view.partitions {
        let owner = p.owner.as_deref().expect("every partition owned");
        assert!(
            three[owner].contains(&p.partition),
            "partition {}",
            p.partition
        );
    }

    let response = app.patch_service("scaled", &json!({"members": 1})).await;
    assert_eq!(response.status(), 200);
    let back = wait_for_ownership(&app, "scaled", &[3]).await;
    assert_eq!(back, one);
}

/// A service of KIP-848's consumer protocol: the broker shows it as a
/// consumer-protocol group, scaling it moves ownership as both the members
/// and the broker say, and the members' epochs grow with each move.
#[tokio::test]
async fn a_consumer_protocol_service_moves_ownership_one_epoch_at_a_time() {
    let app = app_with_service_in("kip848", 1, |c| {
        c.service_protocol = wire::services::GroupProtocol::Consumer;
    })
    .await;
    let service = app.service("kip848").await;
    assert_eq!(service.protocol, wire::services::GroupProtocol::Consumer);
    wait_for_ownership(&app, "kip848", &[3]).await;
    let one = group(&app, &service.group_id).await.expect("listed");
    assert_eq!(one.group_type, wire::api::GroupType::Consumer);
    let epoch = |view: &GroupView, client: &str| {
        view.members
            .iter()
            .find(|m| m.client_id == client)
            .and_then(|m| m.member_epoch)
            .expect("a member epoch")
    };
    let first = format!("{}-1", service.group_id);
    let first_epoch = epoch(&one, &first);

    let response = app.patch_service("kip848", &json!({"members": 3})).await;
    assert_eq!(response.status(), 200);
    let three = wait_for_ownership(&app, "kip848", &[1, 1, 1]).await;
    assert_eq!(three.len(), 3);
    let after = group(&app, &service.group_id).await.expect("listed");
    assert!(epoch(&after, &first) > first_epoch, "{after:?}");
    assert!(after.group_epoch > one.group_epoch, "{after:?}");
}

#[tokio::test]
async fn service_commands_are_checked() {
    let app = app_with_service("checked", 2).await;

    let services = app.services().await;
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].name, "checked");
    assert!(services[0].group_id.ends_with("-checked"));
    assert_eq!((services[0].running, services[0].members), (true, 2));

    let response = app.patch_service("nope", &json!({"running": false})).await;
    assert_eq!(response.status(), 404);
    let body: wire::ErrorBody = response.json().await.expect("error body");
    assert_eq!(body.code, wire::ErrorCode::NotFound);

    for (body, field) in [
        (json!({"members": 0}), "members"),
        (json!({"failure_rate": 1.5}), "failure_rate"),
        (json!({"processing_ms": -1}), "processing_ms"),
        (json!({"runing": false}), "runing"),
    ] {
        let response = app.patch_service("checked", &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let error: wire::ErrorBody = response.json().await.expect("error body");
        assert_eq!(error.field.as_deref(), Some(field), "{body}");
    }
    // Nothing was changed by the refused commands.
    let after = app.service("checked").await;
    assert_eq!(
        (after.running, after.members, after.failure_rate),
        (true, 2, 0.0)
    );
}

#[tokio::test]
async fn switched_off_services_are_not_run() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    assert!(app.services().await.is_empty());
}

/// `POST /api/services/{name}/crash`.
async fn crash(app: &TestApp, name: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/api/services/{name}/crash")))
        .send()
        .await
        .expect("crash")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_member_leaves_its_uncommitted_orders_to_be_delivered_again_and_none_is_processed_twice()
 {
    // Members commit only on a rebalance or a stop here (the timer is ten
    // minutes), so what the crashed member processed is all uncommitted.
    let app = app_with_service_in("crashy", 2, |c| {
        c.service_commit_interval_ms = 600_000;
    })
    .await;
    let owners = wait_for_ownership(&app, "crashy", &[1, 2]).await;
    let group_id = app.service("crashy").await.group_id;
    let crashed = format!("{group_id}-2");
    let its_partitions: BTreeSet<i32> = owners[&crashed].iter().copied().collect();

    // Orders on every partition; count those the crashing member owns.
    let mut placed = 0_u64;
    let mut on_crashed = 0_u64;
    let mut seen = BTreeSet::new();
    while placed < 30 || seen.len() < 3 {
        assert!(placed < 300, "orders never reached all partitions");
        let response = app.post_order(&order(&format!("crash-{placed}"))).await;
        assert_eq!(response.status(), 202);
        let ack: wire::OrderAccepted = response.json().await.expect("ack");
        seen.insert(ack.partition);
        on_crashed += u64::from(its_partitions.contains(&ack.partition));
        placed += 1;
    }
    // Records of another producer, without an order id, on every partition:
    // known again by their offsets.
    for partition in 0..3 {
        for _ in 0..2 {
            produce_raw(&app.topic, Some(partition), None, b"no order id").await;
            placed += 1;
            on_crashed += u64::from(its_partitions.contains(&partition));
        }
    }
    until("every order to be processed once", || async {
        (app.service("crashy").await.processed == placed).then_some(())
    })
    .await;
    assert_eq!(app.service("crashy").await.redelivered, 0);

    let response = crash(&app, "crashy").await;
    assert_eq!(response.status(), 200);
    let view: ServiceView = response.json().await.expect("view");
    assert_eq!((view.running, view.members), (true, 1));

    // The survivor takes every partition and is delivered again exactly what
    // the crashed member had processed (nothing of it was committed); it
    // knows their order ids and processes none of them twice.
    wait_for_ownership(&app, "crashy", &[3]).await;
    let after = until("the crashed member's orders to be redelivered", || async {
        let s = app.service("crashy").await;
        (s.redelivered == on_crashed).then_some(s)
    })
    .await;
    assert_eq!(after.processed, placed);
    assert_eq!(after.duplicates_dropped, 0);
    assert!(on_crashed > 0, "the crashed member owned no order");

    // The last member crashes too: the service is down, and says so.
    let response = crash(&app, "crashy").await;
    assert_eq!(response.status(), 200);
    let view: ServiceView = response.json().await.expect("view");
    assert!(!view.running);
    let again = crash(&app, "crashy").await;
    assert_eq!(again.status(), 409);
    let missing = crash(&app, "nope").await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_that_cannot_finish_in_time_answers_that_the_service_is_still_stopping() {
    use crate::broker::PrivateBroker;

    let broker = PrivateBroker::new(|_, _| String::new());
    broker.start().await;
    let app = spawn_with(|c| {
        c.brokers = broker.brokers();
        c.no_services = false;
        c.services = vec![ServiceSpec {
            name: "slow".into(),
            processing_ms: 0,
            failure_rate: 0.0,
            members: 1,
            protocol: None,
        }];
        // A request may take 7 s; leaving a group may take 10 s.
        c.delivery_timeout_ms = 2_000;
        // The member commits only when it leaves: with the broker hung,
        // leaving takes as long as it may.
        c.service_commit_interval_ms = 3_600_000;
    })
    .await;
    app.wait_healthy().await;
    assert_eq!(app.post_order(&order("c")).await.status(), 202);
    until("the member to process the order", || async {
        (app.service("slow").await.processed == 1).then_some(())
    })
    .await;

    broker.pause();
    let response = app.patch_service("slow", &json!({"running": false})).await;
    assert_eq!(
        response.status(),
        202,
        "not cut off by the request's time limit"
    );
    let view: ServiceView = response.json().await.expect("the service");
    assert!(!view.running);
    assert!(view.changing, "it says the stop goes on");
    broker.resume();
    until("the stop to finish", || async {
        let view = app.service("slow").await;
        (!view.changing && view.assignments.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_groups_are_named_for_their_topic_by_default() {
    // Two dashboards on two topics of one cluster: no group in common.
    let one = GatewayProcess::start(&brokers(), &["--service", "billing:0:0:1"]).await;
    let two = GatewayProcess::start(&brokers(), &["--service", "billing:0:0:1"]).await;
    let mut ids = Vec::new();
    for gateway in [&one, &two] {
        let group_id = until("the service to report its group", || async {
            let services: Vec<ServiceView> = gateway.get_json("/api/services").await?;
            Some(services.first()?.group_id.clone())
        })
        .await;
        assert_eq!(group_id, format!("demo-{}-billing", gateway.topic));
        ids.push(group_id);
    }
    // As the broker has them, by Kafka's own tool.
    until("both groups on the broker", || async {
        let output = kafka_tool(
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            &["--list"],
        )
        .await;
        let listed = String::from_utf8_lossy(&output.stdout).into_owned();
        ids.iter()
            .all(|id| listed.lines().any(|l| l.trim() == id))
            .then_some(())
    })
    .await;
    one.terminate(std::time::Duration::from_secs(25)).await;
    two.terminate(std::time::Duration::from_secs(25)).await;
}

/// The group of `group_id` in a flow snapshot.
fn group_in<'a>(snapshot: &'a FlowSnapshot, group_id: &str) -> Option<&'a GroupView> {
    snapshot.groups.iter().find(|g| g.group_id == group_id)
}

/// The next flow snapshot `check` accepts.
async fn next_snapshot_where(
    live: &mut LiveClient,
    what: &str,
    mut check: impl FnMut(&FlowSnapshot) -> bool,
) -> FlowSnapshot {
    let found = async {
        loop {
            if let ServerMessage::Flow(snapshot) = live.next_any().await
                && check(&snapshot)
            {
                return snapshot;
            }
        }
    };
    tokio::time::timeout(PATIENCE, found)
        .await
        .unwrap_or_else(|_| panic!("waited {PATIENCE:?} for {what}"))
}

/// Whether the group has `lag` left, no member, and a time lag.
fn lagging(snapshot: &FlowSnapshot, group_id: &str, lag: i64) -> bool {
    group_in(snapshot, group_id).is_some_and(|g| {
        g.total_lag == Some(lag) && g.members.is_empty() && g.time_lag_ms.is_some()
    })
}

/// A service stopped before it ever committed: every order placed since
/// counts (from the log start, as the service will read), where Kafka's
/// tool has no lag to show for a partition without a commit.
#[tokio::test]
async fn a_service_that_never_committed_shows_every_order_it_will_read() {
    let app = app_with_service("fresh", 1).await;
    let group_id = app.service("fresh").await.group_id;
    let response = app.patch_service("fresh", &json!({"running": false})).await;
    assert_eq!(response.status(), 200);
    let mut live = app.live(0).await;
    for i in 0..7 {
        assert_eq!(
            app.post_order(&order(&format!("never-{i}"))).await.status(),
            202
        );
    }
    let snapshot = next_snapshot_where(&mut live, "the seven orders counted", |s| {
        group_in(s, &group_id).is_some_and(|g| g.total_lag == Some(7))
    })
    .await;
    let group = group_in(&snapshot, &group_id).expect("listed");
    for p in &group.partitions {
        assert_eq!((p.committed, p.lag), (None, None), "Kafka's '-': {p:?}");
        assert_eq!(p.uncommitted_lag, Some(p.log_end), "{p:?}");
    }
}

/// Lag in time: a stopped service's time lag grows with the clock while its
/// count grows with orders; it is not catching up; started again, it
/// catches up (the estimate says so) and both lags reach 0.
#[tokio::test]
async fn a_stopped_services_time_lag_grows_with_the_clock_and_it_catches_up_when_started() {
    let app = app_with_service_in("timed", 1, |c| c.service_commit_interval_ms = 200).await;
    let group_id = app.service("timed").await.group_id;
    warm_up(&app, &group_id).await;
    let response = app
        .patch_service("timed", &json!({"running": false, "processing_ms": 600}))
        .await;
    assert_eq!(response.status(), 200);
    let mut live = app.live(0).await;
    for i in 0..10 {
        assert_eq!(
            app.post_order(&order(&format!("late-{i}"))).await.status(),
            202
        );
    }
    let first = next_snapshot_where(&mut live, "a lag of 10", |s| lagging(s, &group_id, 10)).await;
    let later = next_snapshot_where(&mut live, "a lag of 10, two seconds on", |s| {
        lagging(s, &group_id, 10) && s.at_ms >= first.at_ms + 2_000
    })
    .await;
    let time_lag = |s: &FlowSnapshot| {
        group_in(s, &group_id)
            .and_then(|g| g.time_lag_ms)
            .expect("time lag")
    };
    // The same oldest record waits: its wait grows exactly with the clock.
    assert_eq!(
        time_lag(&later) - time_lag(&first),
        later.at_ms - first.at_ms
    );
    assert_eq!(
        group_in(&later, &group_id).and_then(|g| g.catch_up),
        Some(CatchUp::NotCatchingUp)
    );
    for i in 0..5 {
        assert_eq!(
            app.post_order(&order(&format!("later-{i}"))).await.status(),
            202
        );
    }
    let more = next_snapshot_where(&mut live, "a lag of 15", |s| lagging(s, &group_id, 15)).await;
    assert!(time_lag(&more) >= time_lag(&later) + (more.at_ms - later.at_ms));

    // Started again: 15 orders at 600 ms each.
    let response = app.patch_service("timed", &json!({"running": true})).await;
    assert_eq!(response.status(), 200);
    let mut estimates = Vec::new();
    let done = next_snapshot_where(&mut live, "the lag to reach 0", |s| {
        let Some(g) = group_in(s, &group_id) else {
            return false;
        };
        if let Some(CatchUp::CatchingUp { in_ms }) = g.catch_up {
            estimates.push(in_ms);
        }
        g.total_lag == Some(0)
    })
    .await;
    let group = group_in(&done, &group_id).expect("listed");
    assert_eq!(group.catch_up, Some(CatchUp::CaughtUp));
    assert_eq!(group.time_lag_ms, Some(0));
    assert!(!estimates.is_empty(), "an estimate while it caught up");

    // The history holds the climb and the drain.
    let history: Vec<wire::api::GroupHistory> = app
        .get("/api/groups/history?window=2m")
        .await
        .json()
        .await
        .expect("history");
    let points = &history
        .iter()
        .find(|h| h.group_id == group_id)
        .expect("the group's history")
        .points;
    assert!(points.iter().any(|p| p.lag == Some(15)), "{points:?}");
    assert!(points.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
    let refused = app.get("/api/groups/history?window=3d").await;
    assert_eq!(refused.status(), 422);
    let body: wire::ErrorBody = refused.json().await.expect("error body");
    assert_eq!(body.field.as_deref(), Some("window"));
}
