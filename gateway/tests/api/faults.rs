//! Faults against real brokers of the test's own: a single broker killed
//! with SIGKILL in the middle of a steady order load and started again; one
//! broker of a three-node cluster killed for good.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wire::{ErrorBody, ErrorCode, OrderAccepted, ServerMessage, headers};

use crate::broker::{PrivateBroker, PrivateCluster};
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_under_load_loses_no_acknowledged_order() {
    let broker = PrivateBroker::new(|_, _| String::new());
    broker.start().await;
    let app = Arc::new(spawn_with(|c| c.brokers = broker.brokers()).await);
    app.wait_healthy().await;
    let load = Load::start(&app);

    until("orders to flow before the fault", || async {
        (written(&app).await >= 50).then_some(())
    })
    .await;

    broker.kill();
    until("health to report the broker gone", || async {
        let (status, health) = app.health().await;
        (status == 503 && !health.broker.reachable).then_some(())
    })
    .await;

    broker.start().await;
    // The gateway recovers by itself: no restart.
    app.wait_healthy().await;
    orders_flow(&app, "orders to flow after the broker is back").await;

    let (acks, refused) = load.stop().await;
    let records = assert_written_exactly_once(&broker.brokers(), &app.topic, &acks).await;
    eprintln!(
        "{} acknowledged, {refused} refused with 503, {records} records",
        acks.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_broker_cluster_loses_nothing_and_keeps_streaming_when_a_broker_dies() {
    let cluster = PrivateCluster::new();
    cluster.start().await;
    let app = Arc::new(
        spawn_with(|c| {
            c.brokers = cluster.brokers();
            c.replication_factor = 3;
        })
        .await,
    );
    app.wait_healthy().await;
    let mut live = app.live(0).await;
    let load = Load::start(&app);
    until("orders to flow before the fault", || async {
        (written(&app).await >= 50).then_some(())
    })
    .await;

    // Kill the leader of partition 0, so that leadership has to move.
    let (_, health) = app.health().await;
    let leader = health.topic.expect("topic").partitions[0].leader;
    let node = usize::try_from(leader - 1).expect("node ids are 1 to 3");
    cluster.nodes[node].kill();
    orders_flow(&app, "orders to flow with one broker down").await;

    // The dashboard keeps streaming: an order placed now reaches the live client.
    let response = app.post_order(&order("after-the-fault")).await;
    assert_eq!(response.status(), 202);
    let ack: OrderAccepted = response.json().await.expect("ack");
    loop {
        match live.next_message().await {
            ServerMessage::Record(r) if r.header(headers::ORDER_ID) == Some(&ack.order_id) => break,
            ServerMessage::Record(_) | ServerMessage::Lagged { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    let (mut acks, refused) = load.stop().await;
    acks.push(ack);
    let survivors = cluster.brokers_but(node);
    let records = assert_written_exactly_once(&survivors, &app.topic, &acks).await;
    eprintln!(
        "{} acknowledged, {refused} refused with 503, {records} records, node {leader} killed",
        acks.len(),
    );
}

/// A steady load of orders from four clients, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: tokio::task::JoinSet<Vec<Result<OrderAccepted, ErrorBody>>>,
}

impl Load {
    fn start(app: &Arc<TestApp>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = tokio::task::JoinSet::new();
        for client in 0..4 {
            let (app, stop) = (app.clone(), stop.clone());
            tasks.spawn(async move {
                let mut answers = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let response = app.post_order(&order(&format!("client{client}-{i}"))).await;
                    let answer = match response.status().as_u16() {
                        202 => Ok(response.json::<OrderAccepted>().await.expect("ack")),
                        _ => Err(response.json::<ErrorBody>().await.expect("error body")),
                    };
                    answers.push(answer);
                    i += 1;
                }
                answers
            });
        }
        Self { stop, tasks }
    }

    /// Stops the load: the acknowledged orders, and how many were refused
    /// (each with a 503 saying the broker is unavailable).
    async fn stop(mut self) -> (Vec<OrderAccepted>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let mut acks = Vec::new();
        let mut refused = 0;
        while let Some(answers) = self.tasks.join_next().await {
            for answer in answers.expect("load task") {
                match answer {
                    Ok(ack) => acks.push(ack),
                    Err(error) => {
                        assert_eq!(error.code, ErrorCode::BrokerUnavailable, "{error:?}");
                        refused += 1;
                    }
                }
            }
        }
        (acks, refused)
    }
}

/// Waits for 50 more orders in the topic.
async fn orders_flow(app: &TestApp, what: &str) {
    let before = written(app).await;
    until(what, || async {
        (written(app).await >= before + 50).then_some(())
    })
    .await;
}

/// Every acknowledged order is in the topic exactly once, where the
/// acknowledgement said; no order is in it twice. Returns the records read.
async fn assert_written_exactly_once(brokers: &str, topic: &str, acks: &[OrderAccepted]) -> usize {
    let records = read_topic_at(brokers, topic).await;
    let mut by_id: HashMap<String, Vec<(i32, i64)>> = HashMap::new();
    for record in &records {
        use rdkafka::Message;
        let id = header(record, headers::ORDER_ID).expect("order id");
        by_id
            .entry(id)
            .or_default()
            .push((record.partition(), record.offset()));
    }
    assert!(
        by_id.values().all(|places| places.len() == 1),
        "an order was written twice"
    );
    for ack in acks {
        assert_eq!(
            by_id.get(&ack.order_id).map(Vec::as_slice),
            Some(&[(ack.partition, ack.offset)][..]),
            "acknowledged order {} missing or elsewhere",
            ack.order_id
        );
    }
    records.len()
}

/// Records in the test's topic, as the gateway's health reports them.
async fn written(app: &TestApp) -> i64 {
    let (_, health) = app.health().await;
    health
        .topic
        .map_or(0, |t| t.partitions.iter().map(|p| p.high_watermark).sum())
}
