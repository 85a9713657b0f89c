//! Faults against a real broker of the test's own: killed with SIGKILL in
//! the middle of a steady order load, and started again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wire::{ErrorBody, ErrorCode, OrderAccepted, headers};

use crate::broker::PrivateBroker;
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_under_load_loses_no_acknowledged_order() {
    let broker = PrivateBroker::new(|_, _| String::new());
    broker.start().await;
    let app = Arc::new(spawn_with(|c| c.brokers = broker.brokers()).await);
    app.wait_healthy().await;

    // A steady load from four clients until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for client in 0..4 {
        let (app, stop) = (app.clone(), stop.clone());
        load.spawn(async move {
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
    let before = written(&app).await;
    until("orders to flow after the broker is back", || async {
        (written(&app).await >= before + 50).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);

    let mut acks = Vec::new();
    let mut refused = 0;
    while let Some(answers) = load.join_next().await {
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

    // Every acknowledged order is in the topic exactly once, where the
    // acknowledgement said; no order is in it twice.
    let records = read_topic_at(&broker.brokers(), &app.topic).await;
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
    for ack in &acks {
        assert_eq!(
            by_id.get(&ack.order_id).map(Vec::as_slice),
            Some(&[(ack.partition, ack.offset)][..]),
            "acknowledged order {} missing or elsewhere",
            ack.order_id
        );
    }
    eprintln!(
        "{} acknowledged, {refused} refused with 503, {} records",
        acks.len(),
        records.len()
    );
}

/// Records in the test's topic, as the gateway's health reports them.
async fn written(app: &TestApp) -> i64 {
    let (_, health) = app.health().await;
    health
        .topic
        .map_or(0, |t| t.partitions.iter().map(|p| p.high_watermark).sum())
}
