//! Graceful shutdown: no acknowledged order is lost, clients are told.

use rdkafka::Message;
use tokio_tungstenite::tungstenite;
use wire::{OrderAccepted, headers};

use crate::helpers::*;

#[tokio::test]
async fn graceful_shutdown_loses_no_acknowledged_order() {
    let mut app = spawn_app().await;
    app.wait_healthy().await;

    // Many orders in flight, and the shutdown signal in the middle of them.
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..200 {
        let http = app.http.clone();
        let url = app.url("/api/orders");
        requests.spawn(async move {
            let response = http.post(url).json(&order(&format!("c-{i}"))).send().await;
            match response {
                Ok(r) if r.status() == 202 => Some(r.json::<OrderAccepted>().await.expect("ack")),
                _ => None,
            }
        });
    }
    let mut acked = Vec::new();
    // Wait for the first acknowledgement so the signal lands mid-load.
    while acked.is_empty() {
        if let Some(ack) = requests
            .join_next()
            .await
            .expect("a request")
            .expect("task")
        {
            acked.push(ack);
        }
    }
    app.trigger_shutdown();
    while let Some(result) = requests.join_next().await {
        if let Some(ack) = result.expect("task") {
            acked.push(ack);
        }
    }
    let topic = app.topic.clone();
    app.shutdown().await.expect("clean stop");

    let stored = read_topic(&topic).await;
    for ack in &acked {
        let found = stored
            .iter()
            .find(|m| m.partition() == ack.partition && m.offset() == ack.offset)
            .unwrap_or_else(|| panic!("acknowledged order {ack:?} is not in Kafka"));
        assert_eq!(
            header(found, headers::ORDER_ID).as_deref(),
            Some(ack.order_id.as_str())
        );
    }
    assert!(!acked.is_empty());
}

#[tokio::test]
async fn shutdown_closes_live_clients_with_a_close_frame() {
    let mut app = spawn_app().await;
    let mut live = app.live(0).await;
    app.trigger_shutdown();
    let frame = loop {
        match live.next_frame().await {
            tungstenite::Message::Close(frame) => break frame.expect("a close frame with a code"),
            _ => continue,
        }
    };
    assert_eq!(u16::from(frame.code), 1001);
    app.shutdown().await.expect("clean stop");
}
