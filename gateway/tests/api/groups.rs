//! `GET /api/groups` against the real broker, checked against Kafka's own
//! `kafka-consumer-groups --describe` (ConsumerGroupCommand).

use std::collections::HashMap;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::helpers::*;

/// One row of `kafka-consumer-groups --describe`: current offset, log-end
/// offset, lag (None where the tool prints "-").
pub(crate) type ToolRow = (Option<i64>, i64, Option<i64>);

/// Runs Kafka's ConsumerGroupCommand through scripts/kafka.sh and parses
/// its table, keyed by partition.
pub(crate) async fn kafka_consumer_groups_describe(
    group: &str,
    topic: &str,
) -> HashMap<i32, ToolRow> {
    let output = kafka_tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        &["--describe", "--group", group],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let number = |s: &str| (s != "-").then(|| s.parse::<i64>().expect("a number"));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|cols| cols.len() >= 6 && cols[0] == group && cols[1] == topic)
        .map(|cols| {
            let partition = cols[2].parse().expect("partition");
            let log_end = number(cols[4]).expect("log-end offset");
            (partition, (number(cols[3]), log_end, number(cols[5])))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_of_a_foreign_group_equals_what_kafka_consumer_groups_reports() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    for i in 0..12 {
        assert_eq!(
            app.post_order(&order(&format!("customer-{i}")))
                .await
                .status(),
            202
        );
    }

    // A service of someone else's: processes five orders, commits, stays a member.
    let group = unique("order-group");
    let consumer = group_consumer(&group, "order-service");
    consumer.subscribe(&[&app.topic]).expect("subscribe");
    let mut next: HashMap<i32, i64> = HashMap::new();
    for _ in 0..5 {
        let message = tokio::time::timeout(PATIENCE, consumer.recv())
            .await
            .expect("a record in time")
            .expect("record");
        next.insert(message.partition(), message.offset() + 1);
    }
    let mut commit = TopicPartitionList::new();
    for (&partition, &offset) in &next {
        commit
            .add_partition_offset(&app.topic, partition, Offset::Offset(offset))
            .expect("offset");
    }
    consumer.commit(&commit, CommitMode::Sync).expect("commit");

    // The dashboard reads groups once a second: wait for a read after the
    // commit, then compare with the tool.
    let tool = kafka_consumer_groups_describe(&group, &app.topic).await;
    let committed: i64 = next.values().sum();
    let view = until("the dashboard to see the commit", || async {
        let view = app
            .groups_now()
            .await?
            .into_iter()
            .find(|g| g.group_id == group)?;
        let seen: i64 = view.partitions.iter().filter_map(|p| p.committed).sum();
        (seen == committed).then_some(view)
    })
    .await;

    assert_eq!(view.partitions.len(), 3);
    for p in &view.partitions {
        match tool.get(&p.partition) {
            Some(&(current, log_end, lag)) => {
                assert_eq!(
                    (p.committed, p.log_end, p.lag),
                    (current, log_end, lag),
                    "partition {}",
                    p.partition
                )
            }
            None => assert_eq!(
                p.committed, None,
                "partition {} missing from the tool",
                p.partition
            ),
        }
    }

    // One member, owning every partition of the topic.
    assert_eq!(view.members.len(), 1);
    let mut owned = view.members[0].partitions.clone();
    owned.sort_unstable();
    assert_eq!(owned, [0, 1, 2]);
    assert_eq!(view.members[0].client_id, "order-service");
    assert!(
        view.partitions
            .iter()
            .all(|p| p.owner.as_deref() == Some("order-service"))
    );
}

#[tokio::test]
async fn groups_that_never_read_the_topic_are_not_listed() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let groups = until("a read of the groups", || app.groups_now()).await;
    assert!(groups.is_empty(), "{groups:?}");
}
