//! Watching other topics than the gateway's own (`/ws?topic=T`): several
//! at once, each with history, resume and its groups; bounded, closed when
//! unwatched, and only the topics the operator allows.

use std::collections::HashMap;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use wire::stream::PartitionOffset;
use wire::{ErrorBody, ErrorCode, ServerMessage};

use crate::groups::kafka_consumer_groups_describe;
use crate::helpers::*;
use crate::metrics::{sample, scrape};
use crate::network::stream_of;

/// Creates `topic` with `partitions` through the gateway.
async fn create(app: &TestApp, topic: &str, partitions: i32) {
    let response = app
        .post_json(
            "/api/topics",
            &json!({"name": topic, "partitions": partitions}),
        )
        .await;
    assert_eq!(
        response.status(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

fn text(record: &wire::LiveRecord) -> String {
    match &record.payload {
        wire::Payload::Text { text, .. } => text.clone(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// The status and error body `/ws?{query}` is refused with, as a
/// WebSocket upgrade.
pub(crate) async fn refused(app: &TestApp, query: &str) -> (u16, ErrorBody) {
    let url = format!("ws://{}/ws?{query}", app.addr);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                .expect("the error shape");
            (response.status().as_u16(), body)
        }
        Ok(_) => panic!("/ws?{query} was served"),
        Err(other) => panic!("/ws?{query}: {other}"),
    }
}

/// What `GET /ws?{query}` without an upgrade answers: what the upgrade
/// would be refused with, or 426.
pub(crate) async fn probe(app: &TestApp, query: &str) -> (u16, ErrorBody) {
    let response = app.get(&format!("/ws?{query}")).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("the error shape"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_topics_are_watched_at_once_each_with_its_own_records() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let (a, b) = (unique("watched-a"), unique("watched-b"));
    create(&app, &a, 2).await;
    create(&app, &b, 1).await;
    // Written before anyone watched: the history of the topic.
    produce_raw(&a, Some(1), None, b"a-before").await;

    let mut home = app.live(0).await;
    let (mut on_a, history, positions) = app.watch(&a, &format!("topic={a}&last=10")).await;
    // As history if the new watch had read it yet, else live: once either way.
    assert!(history <= 1, "{history}");
    assert_eq!(text(&on_a.next_record().await), "a-before");
    assert_eq!(positions.len(), 2, "both partitions of {a}: {positions:?}");
    let (mut on_b, history, _) = app.watch(&b, &format!("topic={b}&last=10")).await;
    assert_eq!(history, 0);

    produce_raw(&b, Some(0), None, b"b-1").await;
    produce_raw(&a, Some(0), None, b"a-1").await;
    produce_raw(&app.topic, Some(0), None, b"home-1").await;
    // Each client gets its own topic's records, and only those.
    assert_eq!(text(&on_b.next_record().await), "b-1");
    let record = on_a.next_record().await;
    assert_eq!((text(&record), record.partition), ("a-1".to_owned(), 0));
    assert_eq!(text(&home.next_record().await), "home-1");

    // Two watched topics; looking joined no group and committed nothing.
    assert_eq!(
        sample(&scrape(&app).await, "kafka_flow_live_topics"),
        Some(2.0)
    );
    let groups = kafka_tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        &["--list"],
    )
    .await;
    let listed = String::from_utf8_lossy(&groups.stdout).to_string();
    for topic in [&a, &b] {
        let offsets = kafka_tool(
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            &["--describe", "--all-groups"],
        )
        .await;
        assert!(
            !String::from_utf8_lossy(&offsets.stdout).contains(topic.as_str()),
            "a group reads {topic}: {listed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_another_topic_without_gap_or_duplicate() {
    // A history of one record, so the resume must read the rest from Kafka.
    let app = spawn_with(|c| c.history = 1).await;
    app.wait_healthy().await;
    let topic = unique("watched");
    create(&app, &topic, 1).await;
    let (mut client, _, _) = app.watch(&topic, &format!("topic={topic}")).await;
    for i in 0..3 {
        produce_raw(&topic, Some(0), None, format!("r{i}").as_bytes()).await;
    }
    let mut next = 0;
    for i in 0..3 {
        let record = client.next_record().await;
        assert_eq!(text(&record), format!("r{i}"));
        next = record.offset + 1;
    }
    drop(client);
    for i in 3..6 {
        produce_raw(&topic, Some(0), None, format!("r{i}").as_bytes()).await;
    }
    let resume = wire::stream::resume_param([PartitionOffset {
        partition: 0,
        offset: next,
    }]);
    let (mut client, history, _) = app
        .watch(&topic, &format!("topic={topic}&resume={resume}"))
        .await;
    assert_eq!(history, 3, "what it missed, once");
    for i in 3..6 {
        assert_eq!(text(&client.next_record().await), format!("r{i}"));
    }
    produce_raw(&topic, Some(0), None, b"r6").await;
    assert_eq!(
        text(&client.next_record().await),
        "r6",
        "then live, nothing twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_topic_more_than_the_bound_is_refused_while_every_watched_one_is_watched() {
    let app = spawn_with(|c| c.max_live_topics = 1).await;
    app.wait_healthy().await;
    let (a, b) = (unique("watched-a"), unique("watched-b"));
    create(&app, &a, 1).await;
    create(&app, &b, 1).await;

    let (first, _, _) = app.watch(&a, &format!("topic={a}")).await;
    // A second client of the same topic shares its watch.
    let (second, _, _) = app.watch(&a, &format!("topic={a}")).await;
    let (status, body) = refused(&app, &format!("topic={b}")).await;
    assert_eq!(
        (status, body.code),
        (503, ErrorCode::Busy),
        "{}",
        body.message
    );
    assert!(
        body.message.contains("--max-live-topics"),
        "{}",
        body.message
    );
    assert_eq!(probe(&app, &format!("topic={b}")).await.0, 503);
    // The gateway's own topic does not count.
    app.live(0).await;

    // Once nobody watches the first, it gives its place to the other at
    // once, long before it would idle out (60 s).
    drop(first);
    drop(second);
    let mut on_b = until("the unwatched topic to give its place", || async {
        let (status, client) = stream_of(&app, "127.0.0.1", &format!("topic={b}")).await;
        (status == 101).then_some(client)
    })
    .await
    .expect("a client");
    let hello = on_b.next_message().await;
    assert!(
        matches!(&hello, ServerMessage::Hello { topic, .. } if *topic == b),
        "{hello:?}"
    );
    assert_eq!(
        sample(&scrape(&app).await, "kafka_flow_live_topics"),
        Some(1.0)
    );
    produce_raw(&b, Some(0), None, b"served").await;
    assert_eq!(text(&on_b.next_record().await), "served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_nobody_watches_is_closed_after_the_idle_time() {
    let app = spawn_with(|c| c.live_topic_idle_s = 1).await;
    app.wait_healthy().await;
    let topic = unique("watched");
    create(&app, &topic, 1).await;
    let (client, _, _) = app.watch(&topic, &format!("topic={topic}")).await;
    assert_eq!(
        sample(&scrape(&app).await, "kafka_flow_live_topics"),
        Some(1.0)
    );
    drop(client);
    until("the unwatched topic to close", || async {
        let live = sample(&scrape(&app).await, "kafka_flow_live_topics")?;
        (live == 0.0).then_some(())
    })
    .await;
    // Watched again on the next ask, from where its history starts.
    produce_raw(&topic, Some(0), None, b"again").await;
    let (mut client, _, _) = app.watch(&topic, &format!("topic={topic}&last=10")).await;
    let record = client.next_record().await;
    assert_eq!(text(&record), "again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_watched_topic() {
    let app = spawn_with(|c| {
        c.max_live_topics = 4;
        c.max_live_topics_per_address = 2;
    })
    .await;
    app.wait_healthy().await;
    let topics: Vec<String> = (0..3).map(|i| unique(&format!("watched-{i}"))).collect();
    for topic in &topics {
        create(&app, topic, 1).await;
    }
    let query = |topic: &str| format!("topic={topic}");
    let (status, first) = stream_of(&app, "127.0.0.1", &query(&topics[0])).await;
    assert_eq!(status, 101);
    let (status, _second) = stream_of(&app, "127.0.0.1", &query(&topics[1])).await;
    assert_eq!(status, 101);
    // Another client of a topic it watches already still may.
    assert_eq!(
        stream_of(&app, "127.0.0.1", &query(&topics[0])).await.0,
        101
    );
    let (status, body) = refused(&app, &query(&topics[2])).await;
    assert_eq!((status, body.code), (503, ErrorCode::Busy));
    assert!(
        body.message.contains("--max-live-topics-per-address"),
        "{}",
        body.message
    );
    // Another address is served the same topic.
    assert_eq!(
        stream_of(&app, "127.0.0.2", &query(&topics[2])).await.0,
        101
    );
    // A topic the address let go of no longer counts against it.
    drop(first);
    until("the address's first topic to be let go", || async {
        let (status, client) = stream_of(&app, "127.0.0.1", &query(&topics[2])).await;
        (status == 101).then_some(client)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_existing_allowed_topics_are_watched_and_listed() {
    let allowed = unique("allowed");
    let app = spawn_with(|c| {
        c.topics = Some(gateway::TopicPattern::new("allowed-.*").expect("a pattern"));
    })
    .await;
    app.wait_healthy().await;
    let other = unique("other");
    create(&app, &allowed, 1).await;
    create(&app, &other, 1).await;

    for (query, expected) in [
        (format!("topic={other}"), (403, ErrorCode::Forbidden)),
        (
            "topic=__consumer_offsets".to_owned(),
            (403, ErrorCode::Forbidden),
        ),
        (
            "topic=allowed-missing-topic".to_owned(),
            (404, ErrorCode::NotFound),
        ),
    ] {
        let (status, body) = refused(&app, &query).await;
        assert_eq!((status, body.code), expected, "{query}: {}", body.message);
    }
    let (status, body) = refused(&app, "topic=not%20a%20name").await;
    assert_eq!((status, body.field.as_deref()), (422, Some("topic")));
    // Refusing started nothing, and a missing topic was not created.
    assert!(!topic_exists("allowed-missing-topic"));
    assert_eq!(
        sample(&scrape(&app).await, "kafka_flow_live_topics"),
        Some(0.0)
    );

    // The probe answers as the upgrade would, without starting a watch.
    assert_eq!(probe(&app, &format!("topic={other}")).await.0, 403);
    let (status, body) = probe(&app, &format!("topic={allowed}")).await;
    assert_eq!((status, body.code), (426, ErrorCode::UpgradeRequired));
    assert_eq!(probe(&app, "").await.0, 426);
    assert_eq!(
        sample(&scrape(&app).await, "kafka_flow_live_topics"),
        Some(0.0)
    );
    app.watch(&allowed, &format!("topic={allowed}")).await;

    // The list holds what may be watched: the gateway's own and the allowed.
    let listed: Vec<wire::api::TopicSummary> =
        app.get("/api/topics").await.json().await.expect("topics");
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&allowed.as_str()) && names.contains(&app.topic.as_str()));
    assert!(!names.contains(&other.as_str()), "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with("__")), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_topics_are_watched_only_when_the_operator_says_so() {
    let app = spawn_with(|c| c.show_internal = true).await;
    app.wait_healthy().await;
    let (status, body) = probe(&app, "topic=__consumer_offsets").await;
    assert_eq!(
        (status, body.code),
        (426, ErrorCode::UpgradeRequired),
        "{}",
        body.message
    );
    let listed: Vec<wire::api::TopicSummary> =
        app.get("/api/topics").await.json().await.expect("topics");
    assert!(listed.iter().any(|t| t.name == "__consumer_offsets"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_topic_shows_the_groups_that_read_it_as_kafka_does() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let topic = unique("watched");
    create(&app, &topic, 2).await;
    for i in 0..5 {
        produce_raw(&topic, Some(i % 2), None, b"x").await;
    }
    // Someone else's group has processed two records of partition 0.
    let group = unique("their-group");
    let consumer: BaseConsumer = client_config()
        .set("group.id", &group)
        .create()
        .expect("consumer");
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset(&topic, 0, Offset::Offset(2))
        .expect("offset");
    consumer.commit(&commit, CommitMode::Sync).expect("commit");

    let (mut client, _, _) = app.watch(&topic, &format!("topic={topic}")).await;
    let seen = loop {
        let ServerMessage::Flow(snapshot) = client.next_any().await else {
            continue;
        };
        if let Some(view) = snapshot.groups.into_iter().find(|g| g.group_id == group) {
            break view;
        }
    };
    assert!(seen.members.is_empty());
    let tool = kafka_consumer_groups_describe(&group, &topic).await;
    let ours: HashMap<i32, (Option<i64>, i64, Option<i64>)> = seen
        .partitions
        .iter()
        .filter(|p| p.committed.is_some())
        .map(|p| (p.partition, (p.committed, p.log_end, p.lag)))
        .collect();
    assert_eq!(ours, tool);
    assert_eq!(ours.get(&0), Some(&(Some(2), 3, Some(1))));
}
