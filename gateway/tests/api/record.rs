//! `GET /api/record`: a record the stream shows cut, loaded whole; one too
//! large to serve refused with its size; precise errors for every other
//! miss.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde_json::json;
use wire::api::FullRecord;
use wire::{ErrorBody, ErrorCode, Payload};

use crate::helpers::*;

/// A fresh topic taking records up to `max_bytes`, with a gateway on it.
async fn app_on_topic_of(max_bytes: usize) -> TestApp {
    let topic = unique("large");
    let admin: AdminClient<DefaultClientContext> = client_config().create().expect("admin");
    let size = max_bytes.to_string();
    let created =
        admin
            .create_topics(
                [&NewTopic::new(&topic, 1, TopicReplication::Fixed(1))
                    .set("max.message.bytes", &size)],
                &AdminOptions::new(),
            )
            .await
            .expect("create");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let app = spawn_with(|c| c.topic = topic).await;
    app.wait_healthy().await;
    app
}

fn large_producer(max_bytes: usize) -> FutureProducer {
    client_config()
        .set("enable.idempotence", "true")
        .set("message.max.bytes", (max_bytes + 1024).to_string())
        .create()
        .expect("producer")
}

async fn error_of(app: &TestApp, query: &str) -> (u16, ErrorBody) {
    let response = app.get(&format!("/api/record?{query}")).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("the error shape"))
}

#[tokio::test]
async fn a_record_the_stream_cuts_loads_whole() {
    let app = app_on_topic_of(4 << 20).await;
    // 2.3 MB of JSON, a key and a binary header.
    let value = json!({"blob": "x".repeat(2_300_000), "n": 7}).to_string();
    large_producer(4 << 20)
        .send(
            FutureRecord::to(&app.topic)
                .key("big-1")
                .payload(&value)
                .headers(OwnedHeaders::new().insert(Header {
                    key: "bin",
                    value: Some(&[0xff_u8, 0x00][..]),
                })),
            Timeout::After(PATIENCE),
        )
        .await
        .expect("produce");
    // The stream shows it cut, with its size.
    let mut live = app.live(1).await;
    let shown = live.next_record().await;
    assert_eq!(shown.size, value.len());
    assert!(
        matches!(
            shown.payload,
            Payload::Text {
                truncated: true,
                ..
            }
        ),
        "{:?}",
        shown.offset
    );
    // The record endpoint gives it whole.
    let response = app
        .get(&format!(
            "/api/record?topic={}&partition=0&offset=0",
            app.topic
        ))
        .await;
    assert_eq!(response.status(), 200);
    let full: FullRecord = response.json().await.expect("a FullRecord");
    assert_eq!(
        full.value,
        serde_json::from_str::<serde_json::Value>(&value).expect("JSON")
    );
    assert_eq!(
        (full.value_format.as_str(), full.truncated, full.size),
        ("json", false, value.len())
    );
    assert_eq!((full.partition, full.offset), (0, 0));
    assert_eq!(full.key, json!("big-1"));
    assert_eq!(full.headers.len(), 1);
    assert_eq!(
        (full.headers[0].value.as_deref(), full.headers[0].base64),
        (Some("/wA="), true)
    );
    // Without a topic: the gateway's own (this one).
    let own = app.get("/api/record?partition=0&offset=0").await;
    assert_eq!(own.status(), 200);
}

#[tokio::test]
async fn a_record_over_the_cap_is_refused_with_its_size() {
    let max = 24 << 20;
    let app = app_on_topic_of(max).await;
    let value = vec![b'y'; (16 << 20) + 1];
    large_producer(max)
        .send(
            FutureRecord::<(), _>::to(&app.topic).payload(&value),
            Timeout::After(PATIENCE),
        )
        .await
        .expect("produce");
    let (status, error) = error_of(&app, "partition=0&offset=0").await;
    assert_eq!((status, error.code), (413, ErrorCode::PayloadTooLarge));
    assert!(
        error.message.contains(&value.len().to_string()),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn misses_and_bad_queries_are_precise() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    produce_raw(&app.topic, Some(1), None, b"only").await;
    let (status, error) = error_of(&app, "partition=1&offset=1").await;
    assert_eq!(
        (status, error.code),
        (404, ErrorCode::NotFound),
        "past the end"
    );
    assert!(
        error.message.contains("offset 1 of partition 1"),
        "{}",
        error.message
    );
    let (status, error) = error_of(&app, "partition=0&offset=0").await;
    assert_eq!(
        (status, error.code),
        (404, ErrorCode::NotFound),
        "an empty partition"
    );
    let (status, error) = error_of(&app, "partition=9&offset=0").await;
    assert_eq!((status, error.field.as_deref()), (422, Some("partition")));
    for (query, field) in [
        ("partition=0&offset=-1", "offset"),
        ("partition=-1&offset=0", "partition"),
        ("partition=0", "offset"),
        ("partition=0&offset=0&colour=red", "colour"),
        ("topic=a%2Fb&partition=0&offset=0", "topic"),
    ] {
        let (status, error) = error_of(&app, query).await;
        assert_eq!(
            (status, error.code),
            (422, ErrorCode::InvalidField),
            "{query}"
        );
        assert_eq!(
            error.field.as_deref(),
            Some(field),
            "{query}: {}",
            error.message
        );
    }
    let (status, error) = error_of(
        &app,
        &format!("topic={}&partition=0&offset=0", unique("none")),
    )
    .await;
    assert_eq!(
        (status, error.code),
        (404, ErrorCode::NotFound),
        "{}",
        error.message
    );
    // The record that is there.
    let full: FullRecord = app
        .get("/api/record?partition=1&offset=0")
        .await
        .json()
        .await
        .expect("a FullRecord");
    assert_eq!(
        (full.value, full.value_format.as_str()),
        (json!("only"), "text")
    );
}
