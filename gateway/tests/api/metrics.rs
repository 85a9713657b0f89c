//! `GET /metrics`: the numbers move with the traffic, each gateway counts
//! only its own, and a group's lag is the lag `/api/groups` (and so Kafka's
//! own tool) shows.

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

use crate::helpers::*;

/// The value of the sample `series` (`name` or `name{labels}`), if any.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

pub(crate) async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.expect("metrics text")
}

#[tokio::test]
async fn the_metrics_move_with_the_traffic() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let other = spawn_app().await;
    let before = scrape(&app).await;
    assert_eq!(
        sample(&before, "kafka_flow_orders_accepted_total"),
        Some(0.0)
    );

    let mut live = app.live(0).await;
    for i in 0..3 {
        assert_eq!(app.post_order(&order(&format!("m{i}"))).await.status(), 202);
    }
    let batch = json!({"orders": [order("b1"), order("b2")]});
    assert_eq!(
        app.post_json("/api/orders/batch", &batch).await.status(),
        202
    );
    assert_eq!(
        app.post_order(&json!({"customer_id": "x"})).await.status(),
        422
    );
    for _ in 0..5 {
        live.next_record().await;
    }
    assert_eq!(app.get("/api/replay?limit=10").await.status(), 200);

    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, "kafka_flow_orders_accepted_total"),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"kafka_flow_orders_refused_total{code="invalid_field"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kafka_flow_produce_seconds_count"),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kafka_flow_batch_orders_count"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kafka_flow_batch_orders_sum"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kafka_flow_live_clients"),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "kafka_flow_records_fanned_out_total").is_some_and(|n| n >= 5.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kafka_flow_replays_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kafka_flow_records_lagged_total"),
        Some(0.0),
        "{text}"
    );

    // Another gateway in the same process counts only its own.
    let theirs = scrape(&other).await;
    assert_eq!(
        sample(&theirs, "kafka_flow_orders_accepted_total"),
        Some(0.0)
    );

    // A resume is counted, and a client that falls behind its queue is
    // counted as lagged.
    let _resumed = app
        .live_with(&format!("topic={}&resume=0:0", app.topic))
        .await;
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, "kafka_flow_resumes_total"),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn a_lagging_client_is_counted() {
    let app = spawn_with(|c| c.client_queue = 2).await;
    app.wait_healthy().await;
    // A client that reads nothing while ten records arrive.
    let mut slow = app.live(0).await;
    let orders: Vec<_> = (0..10).map(|i| order(&format!("l{i}"))).collect();
    let placed = app
        .post_json("/api/orders/batch", &json!({ "orders": orders }))
        .await;
    assert_eq!(placed.status(), 202);
    // Every one of the ten is either received or counted as missed.
    let (mut received, mut missed) = (0, 0);
    while received + missed < 10 {
        match slow.next_message().await {
            wire::ServerMessage::Record(_) => received += 1,
            wire::ServerMessage::Lagged { missed: n } => missed += n,
            _ => {}
        }
    }
    assert!(missed > 0, "a queue of 2 cannot hold 10 records");
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, "kafka_flow_records_lagged_total"),
        Some(f64::from(u32::try_from(missed).expect("small"))),
        "{text}"
    );
}

#[tokio::test]
async fn a_groups_lag_is_the_lag_the_dashboard_shows() {
    let app = spawn_with(|c| c.partitions = 1).await;
    app.wait_healthy().await;
    for i in 0..4 {
        assert_eq!(app.post_order(&order(&format!("g{i}"))).await.status(), 202);
    }
    // A group that read one record of the four.
    let group = unique("lagging");
    let consumer = group_consumer(&group, "lagging-1");
    let mut at = TopicPartitionList::new();
    at.add_partition_offset(&app.topic, 0, Offset::Offset(1))
        .expect("offset");
    consumer.commit(&at, CommitMode::Sync).expect("commit");

    let series = format!(r#"kafka_flow_group_lag{{group="{group}",partition="0"}}"#);
    let lag = until("the group's lag in the metrics", || async {
        let text = scrape(&app).await;
        sample(&text, &series).filter(|&lag| lag == 3.0)
    })
    .await;
    let shown = app
        .groups_now()
        .await
        .and_then(|groups| groups.into_iter().find(|g| g.group_id == group))
        .and_then(|g| g.partitions.first().and_then(|p| p.lag))
        .expect("the group on /api/groups");
    assert_eq!(lag, shown as f64);
}

#[tokio::test]
async fn protected_metrics_need_the_token() {
    let app = spawn_with(|c| {
        c.api_token = Some("s3cret".into());
        c.protect_metrics = true;
    })
    .await;
    assert_eq!(app.get("/metrics").await.status(), 401);
    let response = app
        .http
        .get(app.url("/metrics"))
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    // An order refused for its token is counted as refused.
    assert_eq!(app.post_order(&order("no-token")).await.status(), 401);
    let text = app
        .http
        .get(app.url("/metrics"))
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("text");
    assert_eq!(
        sample(
            &text,
            r#"kafka_flow_orders_refused_total{code="unauthorized"}"#
        ),
        Some(1.0),
        "{text}"
    );
    // Without the switch they are open, even with a token for writes.
    let open = spawn_with(|c| c.api_token = Some("s3cret".into())).await;
    assert_eq!(open.get("/metrics").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line() {
    let gateway =
        GatewayProcess::start(&brokers(), &["--no-services", "--log-format", "json"]).await;
    gateway.wait_healthy().await;
    let (_, clean, log) = gateway.terminate(std::time::Duration::from_secs(25)).await;
    assert!(clean, "{log}");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !l.starts_with("gateway listening on "))
        .collect();
    assert!(!lines.is_empty(), "it logged: {log}");
    for line in lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(entry["level"].is_string(), "{line}");
        assert!(entry["fields"]["message"].is_string(), "{line}");
    }
}
