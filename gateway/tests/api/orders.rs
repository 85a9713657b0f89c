//! `POST /api/orders` and `/api/orders/batch` against the real broker: what is acknowledged is in
//! Kafka; what is refused gets a precise error and writes nothing.

use rdkafka::Message;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use wire::api::{BatchResult, BatchResults};
use wire::{ErrorBody, ErrorCode, Order, OrderAccepted, Payload, headers};

use crate::helpers::*;

#[tokio::test]
async fn accepted_order_arrives_on_the_live_stream_at_its_acknowledged_position() {
    let app = spawn_app().await;
    let mut live = app.live(0).await;

    let response = app.post_order(&order("customer-7")).await;
    assert_eq!(response.status(), 202);
    let ack: OrderAccepted = response.json().await.expect("ack body");
    assert_eq!(ack.topic, app.topic);

    let record = live.next_record().await;
    assert_eq!(
        (record.partition, record.offset),
        (ack.partition, ack.offset)
    );
    assert_eq!(record.key.as_deref(), Some("customer-7"));
    assert_eq!(
        record.header(headers::ORDER_ID),
        Some(ack.order_id.as_str())
    );
    assert_eq!(record.produced_at_ms, Some(ack.timestamp_ms));
    let Payload::Json { value } = record.payload else {
        panic!("an order is JSON, got {:?}", record.payload);
    };
    let value = value.tree();
    assert_eq!(value["order_id"], json!(ack.order_id));
    assert_eq!(value["total_cents"], json!(2 * 1299));
}

#[tokio::test]
async fn accepted_order_is_in_kafka_keyed_by_customer_with_headers() {
    let app = spawn_app().await;
    let ack: OrderAccepted = app
        .post_order(&order("customer-9"))
        .await
        .json()
        .await
        .expect("ack");

    let records = read_topic(&app.topic).await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        (record.partition(), record.offset()),
        (ack.partition, ack.offset)
    );
    assert_eq!(record.key(), Some(&b"customer-9"[..]));
    assert_eq!(
        header(record, headers::CONTENT_TYPE).as_deref(),
        Some(headers::JSON)
    );
    assert_eq!(
        header(record, headers::ORDER_ID),
        Some(ack.order_id.clone())
    );
    assert_eq!(
        header(record, headers::PRODUCED_AT_MS),
        Some(ack.timestamp_ms.to_string())
    );
    let stored: Order = serde_json::from_slice(record.payload().expect("value")).expect("an Order");
    assert_eq!(stored.order_id, ack.order_id);
    assert_eq!(stored.customer_id, "customer-9");
    assert_eq!(stored.total_cents, 2 * 1299);
    assert_eq!(stored.placed_at_ms, ack.timestamp_ms);
}

#[tokio::test]
async fn orders_of_one_customer_share_a_partition_in_order() {
    let app = spawn_app().await;
    let mut acks = Vec::new();
    for _ in 0..5 {
        let ack: OrderAccepted = app
            .post_order(&order("loyal-customer"))
            .await
            .json()
            .await
            .expect("ack");
        acks.push(ack);
    }
    assert!(acks.windows(2).all(|w| w[0].partition == w[1].partition));
    assert!(acks.windows(2).all(|w| w[0].offset < w[1].offset));
}

/// Sends a bad request, checks status and error body, then proves nothing
/// was written: a good order sent afterwards is the topic's only record.
async fn assert_refused(
    app: &TestApp,
    response: reqwest::Response,
    status: u16,
    code: ErrorCode,
    field: Option<&str>,
) {
    assert_eq!(response.status(), status);
    let body: ErrorBody = response
        .json()
        .await
        .expect("error body in the documented shape");
    assert_eq!(body.code, code, "{body:?}");
    assert_eq!(body.field.as_deref(), field, "{body:?}");
    assert!(!body.message.is_empty());

    let ack: OrderAccepted = app
        .post_order(&order("after"))
        .await
        .json()
        .await
        .expect("ack");
    let records = read_topic(&app.topic).await;
    assert_eq!(records.len(), 1, "the refused request wrote a record");
    assert_eq!(header(&records[0], headers::ORDER_ID), Some(ack.order_id));
}

#[tokio::test]
async fn malformed_json_is_400_and_writes_nothing() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let response = app
        .post_raw(r#"{"customer_id": "c", "items": ["#, "application/json")
        .await;
    assert_refused(&app, response, 400, ErrorCode::MalformedJson, None).await;
}

#[tokio::test]
async fn a_body_with_broken_chunked_framing_is_400_unreadable_and_writes_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut tcp = TcpStream::connect(app.addr).await.expect("connect");
    // One good chunk, then a chunk size that is not hexadecimal.
    let request = format!(
        "POST /api/orders HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\n{{\"cus\r\nZZ\r\n",
        app.addr
    );
    tcp.write_all(request.as_bytes()).await.expect("send");
    // The framing is lost, so the gateway answers and closes.
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).expect("a body");
    let body: ErrorBody = serde_json::from_str(body).expect("error body in the documented shape");
    assert_eq!(body.code, ErrorCode::UnreadableBody, "{body:?}");
    assert_eq!(record_count(&app.topic), 0);
}

#[tokio::test]
async fn out_of_range_field_is_422_naming_it_and_writes_nothing() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut bad = order("c");
    bad["items"][0]["quantity"] = json!(0);
    let response = app.post_order(&bad).await;
    assert_refused(
        &app,
        response,
        422,
        ErrorCode::InvalidField,
        Some("items[0].quantity"),
    )
    .await;
}

#[tokio::test]
async fn wrongly_typed_field_is_422_naming_it() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut bad = order("c");
    bad["items"][0]["unit_price_cents"] = json!("12.99");
    let response = app.post_order(&bad).await;
    assert_refused(
        &app,
        response,
        422,
        ErrorCode::InvalidField,
        Some("items[0].unit_price_cents"),
    )
    .await;
}

#[tokio::test]
async fn oversized_body_is_413_and_writes_nothing() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut big = order("c");
    big["customer_id"] = json!("x".repeat(gateway::http::extract::MAX_BODY_BYTES));
    let response = app.post_order(&big).await;
    assert_refused(&app, response, 413, ErrorCode::PayloadTooLarge, None).await;
}

#[tokio::test]
async fn a_body_announced_too_large_is_413_before_the_client_sends_it() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut tcp = TcpStream::connect(app.addr).await.expect("connect");
    let request = format!(
        "POST /api/orders HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 1048576\r\nExpect: 100-continue\r\n\r\n",
        app.addr
    );
    tcp.write_all(request.as_bytes()).await.expect("send");
    // The first answer is the refusal, not `100 Continue`.
    let mut status = String::new();
    BufReader::new(tcp)
        .read_line(&mut status)
        .await
        .expect("read");
    assert!(status.starts_with("HTTP/1.1 413 "), "{status}");
}

#[tokio::test]
async fn non_json_content_type_is_415_and_writes_nothing() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let response = app.post_raw(order("c").to_string(), "text/plain").await;
    assert_refused(&app, response, 415, ErrorCode::UnsupportedMediaType, None).await;
}

#[tokio::test]
async fn unreachable_broker_gives_503_and_nothing_reaches_any_topic() {
    // A port nobody listens on: bind, note it, close.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let app = spawn_with(|config| {
        config.brokers = format!("127.0.0.1:{port}");
        config.delivery_timeout_ms = 1_000;
    })
    .await;

    let response = app.post_order(&order("c")).await;
    assert_eq!(response.status(), 503);
    let body: ErrorBody = response.json().await.expect("error body");
    assert_eq!(body.code, ErrorCode::BrokerUnavailable);

    let (status, health) = app.health().await;
    assert_eq!(status, 503);
    assert!(!health.broker.reachable);
    assert!(
        !topic_exists(&app.topic),
        "the order reached the real broker"
    );
}

#[tokio::test]
async fn gateway_started_before_the_broker_connects_when_it_appears() {
    // The gateway is pointed at a port where the broker "appears" later: a
    // TCP relay to the real broker, started once the gateway is running.
    let relay = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let relay_addr = relay.local_addr().expect("addr");
    drop(relay);
    let app = spawn_with(|config| {
        config.brokers = relay_addr.to_string();
        config.delivery_timeout_ms = 1_000;
    })
    .await;

    let (status, health) = app.health().await;
    assert_eq!(status, 503);
    assert!(!health.broker.reachable);
    assert_eq!(app.post_order(&order("early")).await.status(), 503);

    let relay = TcpListener::bind(relay_addr)
        .await
        .expect("rebind relay port");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = relay.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(brokers()).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });

    app.wait_healthy().await;
    let response = app.post_order(&order("late")).await;
    assert_eq!(response.status(), 202);
    assert!(topic_exists(&app.topic));
    assert_eq!(
        record_count(&app.topic),
        1,
        "only the order placed after the broker appeared"
    );
}

#[tokio::test]
async fn existing_topic_with_one_partition_is_used_as_it_is() {
    // The tutorial creates `orders` with one partition before anything runs.
    let first = spawn_with(|config| config.partitions = 1).await;
    first.wait_healthy().await;
    let topic = first.topic.clone();
    first.shutdown().await.expect("clean stop");

    let app = spawn_with(|config| {
        config.topic = topic.clone();
        config.partitions = 6;
    })
    .await;
    app.wait_healthy().await;
    let (_, health) = app.health().await;
    assert_eq!(health.topic.expect("topic").partitions.len(), 1);
    let ack: OrderAccepted = app.post_order(&order("c")).await.json().await.expect("ack");
    assert_eq!(ack.partition, 0);
}

#[tokio::test]
async fn unknown_api_routes_answer_in_the_error_shape() {
    let app = spawn_app().await;
    let response = app.get("/api/nope").await;
    assert_eq!(response.status(), 404);
    let body: ErrorBody = response.json().await.expect("error body");
    assert_eq!(body.code, ErrorCode::NotFound);

    let response = app.get("/api/orders").await;
    assert_eq!(response.status(), 405);
    let body: ErrorBody = response.json().await.expect("error body");
    assert_eq!(body.code, ErrorCode::MethodNotAllowed);
}

fn accepted(results: BatchResults) -> Vec<OrderAccepted> {
    results
        .results
        .into_iter()
        .map(|r| match r {
            BatchResult::Accepted(ack) => ack,
            BatchResult::Failed(error) => panic!("an order of the batch failed: {error:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_batch_is_placed_whole_each_order_at_its_acknowledged_position() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let customers = |i: usize| format!("batch-{}", i % 4);
    let orders: Vec<Value> = (0..20).map(|i| order(&customers(i))).collect();
    let response = app
        .post_json("/api/orders/batch", &json!({ "orders": orders }))
        .await;
    assert_eq!(response.status(), 202);
    let acks = accepted(response.json().await.expect("results"));
    assert_eq!(acks.len(), 20);

    // Each result is its order, in Kafka where it says, keyed by its customer.
    let records = read_topic(&app.topic).await;
    assert_eq!(records.len(), 20);
    for (i, ack) in acks.iter().enumerate() {
        let record = records
            .iter()
            .find(|r| header(r, headers::ORDER_ID).as_deref() == Some(ack.order_id.as_str()))
            .unwrap_or_else(|| panic!("order {i} is not in the topic"));
        assert_eq!(
            (record.partition(), record.offset()),
            (ack.partition, ack.offset)
        );
        assert_eq!(record.key(), Some(customers(i).as_bytes()));
    }
    // One customer's orders keep the order they had in the batch.
    for c in 0..4 {
        let mine: Vec<&OrderAccepted> = acks.iter().skip(c).step_by(4).collect();
        assert!(
            mine.windows(2)
                .all(|w| w[0].partition == w[1].partition && w[0].offset < w[1].offset)
        );
    }
}

#[tokio::test]
async fn one_invalid_order_refuses_the_whole_batch_and_writes_nothing() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut orders = vec![order("a"), order("b"), order("c")];
    orders[2]["items"][0]["quantity"] = json!(0);
    let response = app
        .post_json("/api/orders/batch", &json!({ "orders": orders }))
        .await;
    assert_refused(
        &app,
        response,
        422,
        ErrorCode::InvalidField,
        Some("orders[2].items[0].quantity"),
    )
    .await;
}

#[tokio::test]
async fn a_batch_has_one_to_a_thousand_orders() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let too_many: Vec<Value> = (0..=wire::api::MAX_BATCH_ORDERS)
        .map(|_| order("c"))
        .collect();
    let response = app
        .post_json("/api/orders/batch", &json!({ "orders": too_many }))
        .await;
    assert_eq!(response.status(), 422);
    let body: ErrorBody = response.json().await.expect("error body");
    assert_eq!(body.field.as_deref(), Some("orders"), "{body:?}");

    let response = app
        .post_json("/api/orders/batch", &json!({ "orders": [] }))
        .await;
    assert_refused(&app, response, 422, ErrorCode::InvalidField, Some("orders")).await;
}
