//! Live clients that reconnect, to the same gateway restarted or to another
//! one, resume from the offsets they had seen: no gap, no duplicate.

use std::collections::{BTreeMap, BTreeSet};

use wire::stream::{PartitionOffset, resume_param};
use wire::{LiveRecord, Payload};

use crate::broker::PrivateBroker;
use crate::helpers::*;
use crate::metrics::{sample, scrape};

/// What a client tracks: per partition, the next offset it needs.
#[derive(Default)]
struct Positions(BTreeMap<i32, i64>);

impl Positions {
    fn from_hello(positions: &[PartitionOffset]) -> Self {
        Self(positions.iter().map(|p| (p.partition, p.offset)).collect())
    }

    fn saw(&mut self, record: &LiveRecord) {
        self.0.insert(record.partition, record.offset + 1);
    }

    fn query(&self, topic: &str) -> String {
        let positions = self
            .0
            .iter()
            .map(|(&partition, &offset)| PartitionOffset { partition, offset });
        format!("last=0&topic={topic}&resume={}", resume_param(positions))
    }
}

fn text(record: &LiveRecord) -> &str {
    match &record.payload {
        Payload::Text { text, .. } => text,
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_resumes_across_a_gateway_restart_without_gap_or_duplicate() {
    // The restarted gateway keeps 5 records per partition in memory; the
    // client missed 10 per partition, so most come from Kafka.
    let first = spawn_with(|c| c.history = 5).await;
    first.wait_healthy().await;
    let topic = first.topic.clone();
    let (mut live, _, hello) = first.live_with("last=0").await;
    let mut positions = Positions::from_hello(&hello);
    for i in 0..9 {
        produce_raw(&topic, Some(i % 3), None, format!("before {i}").as_bytes()).await;
    }
    for _ in 0..9 {
        positions.saw(&live.next_record().await);
    }
    assert_eq!(positions.0, BTreeMap::from([(0, 3), (1, 3), (2, 3)]));
    drop(live);
    first.shutdown().await.expect("clean stop");

    const WHILE_DOWN: i32 = 30;
    for i in 0..WHILE_DOWN {
        produce_raw(
            &topic,
            Some(i % 3),
            None,
            format!("while down {i}").as_bytes(),
        )
        .await;
    }
    let second = spawn_with(|c| {
        c.history = 5;
        c.topic = topic.clone();
    })
    .await;
    second.wait_healthy().await;
    let (mut live, history, _) = second.live_with(&positions.query(&topic)).await;
    // Some of the 30 may come live rather than as history, if the new
    // gateway had not read them yet: either way each comes once.
    assert!(history <= 30, "history {history}");
    let mut seen: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for _ in 0..WHILE_DOWN {
        // next_record fails the test on anything else, a `lagged` included.
        let record = live.next_record().await;
        assert!(text(&record).starts_with("while down"), "{record:?}");
        seen.entry(record.partition)
            .or_default()
            .push(record.offset);
    }
    let expected: Vec<i64> = (3..13).collect();
    assert_eq!(
        seen,
        BTreeMap::from([(0, expected.clone()), (1, expected.clone()), (2, expected)])
    );

    produce_raw(&topic, Some(1), None, b"after").await;
    let next = live.next_record().await;
    assert_eq!((next.partition, next.offset, text(&next)), (1, 13, "after"));
}

#[tokio::test]
async fn a_client_moves_to_another_gateway_and_both_gateways_stream_every_order() {
    let one = spawn_app().await;
    let two = spawn_with(|c| c.topic = one.topic.clone()).await;
    one.wait_healthy().await;
    two.wait_healthy().await;
    let (mut on_one, _, hello) = one.live_with("last=0").await;
    let (mut on_two, _, _) = two.live_with("last=0").await;

    // Orders placed through either gateway reach the clients of both.
    let mut placed = BTreeSet::new();
    for i in 0..10 {
        let gateway = if i % 2 == 0 { &one } else { &two };
        let response = gateway.post_order(&order(&format!("c{i}"))).await;
        assert_eq!(response.status(), 202);
        let ack: wire::OrderAccepted = response.json().await.expect("ack");
        placed.insert(ack.order_id);
    }
    let mut positions = Positions::from_hello(&hello);
    let mut seen_on_one = BTreeSet::new();
    let mut seen_on_two = BTreeSet::new();
    for _ in 0..10 {
        let record = on_one.next_record().await;
        positions.saw(&record);
        seen_on_one.insert(record.header("order-id").expect("order id").to_owned());
        let record = on_two.next_record().await;
        seen_on_two.insert(record.header("order-id").expect("order id").to_owned());
    }
    assert_eq!(seen_on_one, placed);
    assert_eq!(seen_on_two, placed);

    // The first gateway goes away; its client moves to the second one and
    // gets exactly the orders placed in between.
    drop(on_one);
    one.shutdown().await.expect("clean stop");
    let mut between = BTreeSet::new();
    for i in 0..6 {
        let response = two.post_order(&order(&format!("d{i}"))).await;
        let ack: wire::OrderAccepted = response.json().await.expect("ack");
        between.insert(ack.order_id);
    }
    let (mut moved, _, _) = two.live_with(&positions.query(&two.topic)).await;
    let mut resumed = BTreeSet::new();
    for _ in 0..6 {
        let record = moved.next_record().await;
        assert!(resumed.insert(record.header("order-id").expect("order id").to_owned()));
    }
    assert_eq!(resumed, between);
}

#[tokio::test]
async fn a_bad_resume_is_refused_and_another_topics_positions_never_apply() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let url = format!("ws://{}/ws?resume=0:x", app.addr);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 422);
            let body: wire::ErrorBody =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("error body");
            assert_eq!(body.field.as_deref(), Some("resume"));
            assert!(
                body.message.contains("`x` is not an offset"),
                "{}",
                body.message
            );
        }
        other => panic!("expected a 422, got {other:?}"),
    }

    let mut first = app.live(0).await;
    produce_raw(&app.topic, Some(0), None, b"one").await;
    produce_raw(&app.topic, Some(0), None, b"two").await;
    // Once a client saw them, the gateway holds them.
    assert_eq!(text(&first.next_record().await), "one");
    assert_eq!(text(&first.next_record().await), "two");
    // A client following the gateway's topic says which topic its
    // positions are of: another topic's (a gateway restarted on a new one)
    // do not apply here, and no history is sent.
    let (_, history, _) = app
        .live_with("last=0&resume_topic=elsewhere&resume=0:0")
        .await;
    assert_eq!(history, 0);
    let (_, history, _) = app
        .live_with(&format!("last=0&resume_topic={}&resume=0:0", app.topic))
        .await;
    assert_eq!(history, 2);
    // Positions with `topic` are that topic's: one that does not exist is
    // refused, never applied to this one.
    match tokio_tungstenite::connect_async(format!(
        "ws://{}/ws?last=0&topic=elsewhere-{}&resume=0:0",
        app.addr, app.topic
    ))
    .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 404);
        }
        other => panic!("expected a 404, got {other:?}"),
    }
    let (_, history, _) = app
        .live_with(&format!("last=0&topic={}&resume=0:0", app.topic))
        .await;
    assert_eq!(history, 2);
}

#[tokio::test]
async fn a_resume_stops_reading_from_kafka_when_its_client_goes() {
    // A broker of the test's own, to pause: the resume's read then waits
    // on it, as a read of a large gap on a slow broker does.
    let broker = PrivateBroker::new(|_, _| String::new());
    broker.start().await;
    let app = spawn_with(|c| {
        c.brokers = broker.brokers();
        c.history = 5;
    })
    .await;
    app.wait_healthy().await;
    let (mut live, _, hello) = app.live_with("last=0").await;
    // One customer, one partition: 20 records, of which the gateway holds
    // the last 5, so a resume from the start reads 15 from Kafka.
    for _ in 0..20 {
        assert_eq!(app.post_order(&order("one-customer")).await.status(), 202);
    }
    for _ in 0..20 {
        live.next_record().await;
    }
    let resume = Positions::from_hello(&hello).query(&app.topic);

    broker.pause();
    let url = format!("ws://{}/ws?{resume}", app.addr);
    let (client, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect");
    let reads = |text: &str| sample(text, "kafka_flow_history_reads").unwrap_or(-1.0);
    until("the resume to read from Kafka", || async {
        (reads(&scrape(&app).await) == 1.0).then_some(())
    })
    .await;
    drop(client);
    // Without its cancellation the read would go on to its own time limit
    // and end timed out, not cancelled.
    let text = until("the read to stop", || async {
        let text = scrape(&app).await;
        (reads(&text) == 0.0).then_some(text)
    })
    .await;
    assert_eq!(
        sample(&text, "kafka_flow_history_reads_cancelled_total"),
        Some(1.0),
        "{text}"
    );
    broker.resume();
}
