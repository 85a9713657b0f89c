//! `GET`/`POST /api/topics` against the real broker.

use serde_json::json;
use wire::ErrorBody;
use wire::api::TopicSummary;

use crate::helpers::*;

async fn topics(app: &TestApp) -> Vec<TopicSummary> {
    let response = app.get("/api/topics").await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("topics")
}

#[tokio::test]
async fn a_topic_is_created_with_its_partition_count_once() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let name = unique("created");

    let response = app
        .post_json("/api/topics", &json!({"name": name, "partitions": 4}))
        .await;
    assert_eq!(response.status(), 201);
    assert!(topic_exists(&name));
    let listed = topics(&app).await;
    assert!(listed.contains(&TopicSummary {
        name: name.clone(),
        partitions: 4
    }));
    // The gateway's own topic is listed, Kafka's internal ones are not.
    assert!(
        listed
            .iter()
            .any(|t| t.name == app.topic && t.partitions == 3)
    );
    assert!(!listed.iter().any(|t| t.name.starts_with("__")));

    let again = app
        .post_json("/api/topics", &json!({"name": name, "partitions": 4}))
        .await;
    assert_eq!(again.status(), 409);
}

#[tokio::test]
async fn topic_requests_the_broker_or_the_rules_refuse_name_the_field() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let name = unique("refused");
    for (body, field) in [
        (json!({"name": "no spaces", "partitions": 1}), "name"),
        (json!({"name": name, "partitions": 0}), "partitions"),
        // One broker cannot hold three replicas.
        (
            json!({"name": name, "partitions": 1, "replication_factor": 3}),
            "replication_factor",
        ),
    ] {
        let response = app.post_json("/api/topics", &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let error: ErrorBody = response.json().await.expect("error body");
        assert_eq!(error.field.as_deref(), Some(field), "{body}");
    }
    assert!(!topic_exists(&name));
}

#[tokio::test]
async fn a_refused_topic_says_why_in_kafkas_own_words() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let base = unique("collide");
    let (first, second) = (format!("{base}.dot_mix"), format!("{base}_dot.mix"));
    let created = app
        .post_json("/api/topics", &json!({"name": first, "partitions": 1}))
        .await;
    assert_eq!(created.status(), 201);

    // Kafka's own tool is refused, and says why.
    let tool = kafka_tool(
        "org.apache.kafka.tools.TopicCommand",
        &["--create", "--topic", &second, "--partitions", "1"],
    )
    .await;
    assert!(!tool.status.success(), "kafka-topics created {second}");
    let kafkas_words = format!("Topic '{second}' collides with existing topic: {first}");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&tool.stdout),
        String::from_utf8_lossy(&tool.stderr)
    );
    assert!(said.contains(&kafkas_words), "kafka-topics said: {said}");

    // The gateway says the same, at the name.
    let response = app
        .post_json("/api/topics", &json!({"name": second, "partitions": 1}))
        .await;
    assert_eq!(response.status(), 422);
    let error: ErrorBody = response.json().await.expect("error body");
    assert_eq!(error.field.as_deref(), Some("name"));
    assert_eq!(error.message, kafkas_words);
    assert!(!topic_exists(&second));

    // Kafka's internal topics collide too (a commit makes sure the offsets
    // topic exists on a fresh broker).
    let group = group_consumer(&unique("collider"), "collider");
    let mut at = rdkafka::TopicPartitionList::new();
    at.add_partition_offset(&app.topic, 0, rdkafka::Offset::Offset(0))
        .expect("offset");
    rdkafka::consumer::Consumer::commit(&group, &at, rdkafka::consumer::CommitMode::Sync)
        .expect("commit");
    let response = app
        .post_json(
            "/api/topics",
            &json!({"name": "_.consumer_offsets", "partitions": 1}),
        )
        .await;
    assert_eq!(response.status(), 422);
    let error: ErrorBody = response.json().await.expect("error body");
    assert_eq!(
        error.message,
        "Topic '_.consumer_offsets' collides with existing topic: __consumer_offsets"
    );
}
