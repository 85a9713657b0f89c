//! `GET /api/replay` against the real broker: exactly the asked range, and
//! no group disturbed.

use rdkafka::consumer::{CommitMode, Consumer};
use std::collections::BTreeSet;

use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use wire::api::{ReplayPage, ReplayRange};
use wire::{ErrorBody, Payload};

use crate::helpers::*;

const PER_PARTITION: i64 = 10;

/// Writes PER_PARTITION records to partitions 0 and 1, record `i` with
/// value `p{partition}-{i}` and timestamp `base + i` seconds.
async fn fill(topic: &str, base_ms: i64) {
    let producer = producer();
    for partition in [0, 1] {
        for i in 0..PER_PARTITION {
            let value = format!("p{partition}-{i}");
            producer
                .send(
                    FutureRecord::<str, str>::to(topic)
                        .partition(partition)
                        .payload(&value)
                        .timestamp(base_ms + i * 1_000),
                    PATIENCE,
                )
                .await
                .expect("produce");
        }
    }
}

async fn replay(app: &TestApp, query: &str) -> ReplayPage {
    let response = app.get(&format!("/api/replay?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    response.json().await.expect("replay page")
}

/// (partition, offset, value) of every record of a page.
fn contents(page: &ReplayPage) -> Vec<(i32, i64, String)> {
    page.records
        .iter()
        .map(|r| {
            let Payload::Text { text, .. } = &r.payload else {
                panic!("expected text, got {:?}", r.payload);
            };
            (r.partition, r.offset, text.clone())
        })
        .collect()
}

fn expected(partition: i32, offsets: std::ops::Range<i64>) -> Vec<(i32, i64, String)> {
    offsets
        .map(|i| (partition, i, format!("p{partition}-{i}")))
        .collect()
}

/// The records of these partitions' offset ranges, merged as a replay
/// merges them: by timestamp (record `i` of each partition has the same
/// one), then partition.
fn merged(ranges: &[(i32, std::ops::Range<i64>)]) -> Vec<(i32, i64, String)> {
    let mut all: Vec<_> = ranges
        .iter()
        .flat_map(|(p, offsets)| expected(*p, offsets.clone()))
        .collect();
    all.sort_by_key(|&(partition, offset, _)| (offset, partition));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_returns_exactly_the_asked_range_and_disturbs_no_group() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        - 60_000;
    fill(&app.topic, base).await;

    // Someone else's group has processed four records of partition 0.
    let group = unique("order-group");
    let service = group_consumer(&group, "order-service");
    let mut position = TopicPartitionList::new();
    position
        .add_partition_offset(&app.topic, 0, Offset::Offset(4))
        .expect("offset");
    service.commit(&position, CommitMode::Sync).expect("commit");

    // From an offset: that partition, from there to its end.
    let page = replay(&app, "from=offset&partition=0&offset=3").await;
    assert_eq!(contents(&page), expected(0, 3..PER_PARTITION));
    assert_eq!(
        page.ranges,
        [ReplayRange {
            partition: 0,
            from: 3,
            to: PER_PARTITION
        }]
    );
    assert!(!page.truncated);

    // From the beginning, capped: the oldest records of all partitions,
    // merged by timestamp (a tie goes to the lower partition).
    let page = replay(&app, "limit=12").await;
    assert_eq!(contents(&page), merged(&[(0, 0..6), (1, 0..6)]));
    assert!(page.truncated);

    // From a timestamp: in every partition, the first record at or after it,
    // merged by timestamp.
    let page = replay(
        &app,
        &format!("from=timestamp&timestamp_ms={}", base + 5_500),
    )
    .await;
    assert_eq!(
        contents(&page),
        merged(&[(0, 6..PER_PARTITION), (1, 6..PER_PARTITION)])
    );
    assert_eq!(
        page.ranges
            .iter()
            .map(|r| (r.partition, r.from, r.to))
            .collect::<Vec<_>>(),
        [(0, 6, 10), (1, 6, 10), (2, 0, 0)]
    );
    assert!(!page.truncated);

    // The group's offsets did not move, and no replay left a group behind.
    let mut asked = TopicPartitionList::new();
    asked.add_partition(&app.topic, 0);
    let committed = service
        .committed_offsets(asked, PATIENCE)
        .expect("committed offsets");
    assert_eq!(
        committed.find_partition(&app.topic, 0).map(|e| e.offset()),
        Some(Offset::Offset(4))
    );
    let groups = service
        .fetch_group_list(None, PATIENCE)
        .expect("group list");
    assert!(
        !groups
            .groups()
            .iter()
            .any(|g| g.name().starts_with("kafka-flow-replay")),
        "a replay joined or committed as a group"
    );
}

#[tokio::test]
async fn replay_mistakes_are_422_naming_the_parameter() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    for (query, field) in [
        ("from=offset&partition=7&offset=0", "partition"),
        ("from=offset&offset=0", "partition"),
        ("from=timestamp", "timestamp_ms"),
        ("limit=0", "limit"),
        ("colour=blue", "colour"),
    ] {
        let response = app.get(&format!("/api/replay?{query}")).await;
        assert_eq!(response.status(), 422, "{query}");
        let body: ErrorBody = response.json().await.expect("error body");
        assert_eq!(body.field.as_deref(), Some(field), "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_of_a_topic_with_many_partitions_reads_them_together() {
    let app = spawn_with(|c| c.partitions = 60).await;
    app.wait_healthy().await;
    let producer = producer();
    for partition in 0..60 {
        for i in 0..2 {
            producer
                .send(
                    FutureRecord::<str, str>::to(&app.topic)
                        .partition(partition)
                        .payload(&format!("p{partition}-{i}")),
                    PATIENCE,
                )
                .await
                .expect("produce");
        }
    }
    // One partition read after another took a fetch each: 60 of them did
    // not fit in the request's time.
    let page = replay(&app, "limit=100").await;
    assert_eq!(page.records.len(), 100);
    assert!(page.truncated);
    let partitions: BTreeSet<i32> = page.records.iter().map(|r| r.partition).collect();
    assert!(partitions.len() > 1, "{partitions:?}");
    let times: Vec<i64> = page
        .records
        .iter()
        .map(|r| r.timestamp_ms.unwrap_or_default())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not oldest first");
}
