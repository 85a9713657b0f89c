//! `GET /ws` against the real broker: every record of the topic, from any
//! producer, reaches every client, and the live view disturbs no one.

use futures_util::StreamExt;
use rdkafka::Message;
use rdkafka::consumer::Consumer;
use wire::{OrderAccepted, Payload, ServerMessage};

use crate::helpers::*;

#[tokio::test]
async fn plain_text_record_from_another_producer_arrives_as_raw_text() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut live = app.live(0).await;

    // What the tutorial's Go producer writes: no key, no headers, not JSON.
    produce_raw(&app.topic, None, None, b"new order created!").await;

    let record = live.next_record().await;
    assert_eq!(record.key, None);
    assert!(record.headers.is_empty());
    assert_eq!(record.produced_at_ms, None);
    assert_eq!(record.size, 18);
    assert_eq!(
        record.payload,
        Payload::Text {
            text: "new order created!".into(),
            truncated: false
        }
    );
}

#[tokio::test]
async fn binary_record_is_shown_as_hex_and_the_stream_goes_on() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut live = app.live(0).await;

    produce_raw(&app.topic, Some(0), None, &[0xff, 0xfe, 0x00]).await;
    produce_raw(&app.topic, Some(0), None, b"{\"after\":true}").await;

    assert_eq!(
        live.next_record().await.payload,
        Payload::Binary {
            hex: "fffe00".into(),
            truncated: false
        }
    );
    assert!(matches!(
        live.next_record().await.payload,
        Payload::Json { .. }
    ));
}

#[tokio::test]
async fn a_client_may_ask_for_recent_history_without_gap_or_duplicate() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut first = app.live(0).await;
    for i in 0..5 {
        produce_raw(&app.topic, Some(1), None, format!("r{i}").as_bytes()).await;
    }
    // Once the first client saw all five, the gateway holds them.
    for _ in 0..5 {
        first.next_record().await;
    }

    let url = format!("ws://{}/ws?last=3", app.addr);
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let mut late = LiveClient { socket };
    assert!(matches!(
        late.next_message().await,
        ServerMessage::Hello { history: 3, .. }
    ));
    let history: Vec<i64> = [
        late.next_record().await,
        late.next_record().await,
        late.next_record().await,
    ]
    .iter()
    .map(|r| r.offset)
    .collect();
    assert_eq!(history, [2, 3, 4]);

    produce_raw(&app.topic, Some(1), None, b"r5").await;
    assert_eq!(late.next_record().await.offset, 5);

    // A client that takes batches gets the same history in fewer messages:
    // `records` of at most `batch`, then the rest; live records that come
    // one at a time still come as `record`.
    let (mut batched, history, _) = app.live_with("last=3&batch=2").await;
    assert_eq!(history, 3);
    let offsets =
        |records: &[wire::LiveRecord]| records.iter().map(|r| r.offset).collect::<Vec<_>>();
    match batched.next_message().await {
        ServerMessage::Records { records } => assert_eq!(offsets(&records), [3, 4]),
        other => panic!("expected records 3 and 4 in one message, got {other:?}"),
    }
    assert_eq!(batched.next_record().await.offset, 5);
    produce_raw(&app.topic, Some(1), None, b"r6").await;
    assert_eq!(batched.next_record().await.offset, 6);
    assert_eq!(late.next_record().await.offset, 6);

    let refused = app.get("/ws?batch=0").await;
    assert_eq!(refused.status(), 422);
    let body: wire::ErrorBody = refused.json().await.expect("error body");
    assert_eq!(body.field.as_deref(), Some("batch"));
}

#[tokio::test]
async fn the_live_view_takes_nothing_from_application_consumer_groups() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut live = app.live(0).await;

    // An application consumer, like the tutorial's `order-group`.
    let group = unique("order-group");
    let consumer = group_consumer(&group, "order-service");
    consumer.subscribe(&[&app.topic]).expect("subscribe");

    let mut acked = Vec::new();
    for i in 0..10 {
        let ack: OrderAccepted = app
            .post_order(&order(&format!("customer-{i}")))
            .await
            .json()
            .await
            .expect("ack");
        acked.push((ack.partition, ack.offset));
    }

    let mut seen_by_group = Vec::new();
    while seen_by_group.len() < acked.len() {
        let message = tokio::time::timeout(PATIENCE, consumer.recv())
            .await
            .expect("group consumer got every order in time")
            .expect("record");
        seen_by_group.push((message.partition(), message.offset()));
    }
    let mut seen_live = Vec::new();
    while seen_live.len() < acked.len() {
        let record = live.next_record().await;
        seen_live.push((record.partition, record.offset));
    }
    acked.sort_unstable();
    seen_by_group.sort_unstable();
    seen_live.sort_unstable();
    assert_eq!(seen_by_group, acked);
    assert_eq!(seen_live, acked);

    // The live view never joined or committed as any group: the broker
    // knows the application's group and no group of the gateway's.
    let groups = consumer
        .fetch_group_list(None, PATIENCE)
        .expect("group list");
    let names: Vec<&str> = groups.groups().iter().map(|g| g.name()).collect();
    assert!(names.contains(&group.as_str()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("kafka-flow-live")),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_does_not_delay_a_fast_one_and_learns_what_it_missed() {
    const QUEUE: u64 = 16;
    const WAVE: usize = 8;
    const RECORDS: usize = 1_200;
    let app = spawn_with(|config| config.client_queue = QUEUE).await;
    app.wait_healthy().await;
    // The slow client connects and then reads nothing until the end.
    let mut slow = app.live(0).await;
    // Another, that takes records joined when they wait for it.
    let (mut slow_batched, _, _) = app.live_with("batch=64").await;
    let mut fast = app.live(0).await;

    // Records go out in waves smaller than the client queue, each sent once
    // the fast client has received the last, so the fast client can never
    // fall behind by a queue's length, while the slow one (16 KiB records,
    // ~19 MB in all, far more than socket buffers hold) must.
    let value = vec![b'x'; 16 * 1024];
    let producer = producer();
    let mut fast_offsets = Vec::with_capacity(RECORDS);
    while fast_offsets.len() < RECORDS {
        let sends = (0..WAVE).map(|_| {
            producer.send(
                rdkafka::producer::FutureRecord::<str, [u8]>::to(&app.topic)
                    .partition(0)
                    .payload(&value),
                PATIENCE,
            )
        });
        for delivery in futures_util::future::join_all(sends).await {
            delivery.expect("produced");
        }
        for _ in 0..WAVE {
            match fast.next_message().await {
                ServerMessage::Record(r) => fast_offsets.push(r.offset),
                other => panic!("the fast client should miss nothing, got {other:?}"),
            }
        }
    }
    assert_eq!(fast_offsets, (0..RECORDS as i64).collect::<Vec<_>>());

    // The slow client's view: records in order, and a count of the missed.
    let mut received = 0;
    let mut missed = 0;
    let mut last_offset = -1;
    while received + missed < RECORDS as u64 {
        match slow.next_message().await {
            ServerMessage::Record(r) => {
                assert!(r.offset > last_offset, "out of order");
                last_offset = r.offset;
                received += 1;
            }
            ServerMessage::Lagged { missed: n } => missed += n,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        missed > 0,
        "the slow client never fell behind: the test proves nothing"
    );
    assert_eq!(received + missed, RECORDS as u64);
    assert_eq!(last_offset, RECORDS as i64 - 1);

    // The batched one: the same, and what waited came joined (16 KiB
    // records: at most 16 in a message, by its 256 KiB bound).
    let (mut received, mut missed, mut last_offset, mut largest) = (0, 0, -1, 0);
    while received + missed < RECORDS as u64 {
        let records = match slow_batched.next_message().await {
            ServerMessage::Record(r) => vec![r],
            ServerMessage::Records { records } => records,
            ServerMessage::Lagged { missed: n } => {
                missed += n;
                continue;
            }
            other => panic!("unexpected {other:?}"),
        };
        largest = largest.max(records.len());
        for r in records {
            assert!(r.offset > last_offset, "out of order");
            last_offset = r.offset;
            received += 1;
        }
    }
    assert!(missed > 0, "the batched client never fell behind");
    assert_eq!(received + missed, RECORDS as u64);
    assert_eq!(last_offset, RECORDS as i64 - 1);
    assert!(
        (2..=16).contains(&largest),
        "records that waited were not joined, or over the byte bound: {largest} in one message"
    );
}

/// Sends `message` and returns the close code the gateway answers with.
async fn close_code_for(app: &TestApp, message: tokio_tungstenite::tungstenite::Message) -> u16 {
    use futures_util::SinkExt;
    let mut live = app.live(0).await;
    live.socket.send(message).await.expect("send");
    loop {
        let message = tokio::time::timeout(PATIENCE, live.socket.next())
            .await
            .expect("an answer in time")
            .expect("a frame before the end")
            .expect("no protocol error");
        if let tokio_tungstenite::tungstenite::Message::Close(frame) = message {
            return u16::from(frame.expect("a close frame with a code").code);
        }
    }
}

#[tokio::test]
async fn binary_oversized_and_huge_client_frames_are_answered_with_close_codes() {
    use tokio_tungstenite::tungstenite::Message;
    let app = spawn_app().await;
    app.wait_healthy().await;
    assert_eq!(
        close_code_for(&app, Message::Binary(vec![1, 2, 3].into())).await,
        1003
    );
    let big = "x".repeat(5 * 1024);
    assert_eq!(close_code_for(&app, Message::Text(big.into())).await, 1009);
    let huge = "x".repeat(1024 * 1024);
    assert_eq!(close_code_for(&app, Message::Text(huge.into())).await, 1002);

    // Small text frames are ignored, and the gateway goes on streaming.
    let mut live = app.live(0).await;
    {
        use futures_util::SinkExt;
        live.socket
            .send(Message::Text("{\"type\":\"hello\"}".into()))
            .await
            .expect("send");
    }
    let ack: OrderAccepted = app
        .post_order(&order("after"))
        .await
        .json()
        .await
        .expect("ack");
    let record = live.next_record().await;
    assert_eq!(
        (record.partition, record.offset),
        (ack.partition, ack.offset)
    );
}
