//! The consumer groups reading the topic, as the broker sees them: state,
//! members and the partitions each owns, committed offsets and lag.
//!
//! These are groups the dashboard did not create (the tutorial's
//! `order-group`, your services), read through the admin protocol only:
//! describing a group and fetching its committed offsets never joins it, so
//! looking never triggers a rebalance or moves an offset.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use wire::api::{GroupMember, GroupPartition, GroupView, TopicHealth};

use crate::config::Config;
use crate::error::ApiError;
use crate::{AppState, assignment, kafka};

/// `GET /api/groups`.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Vec<GroupView>>, ApiError> {
    let (topic, config) = (state.topic.clone(), state.config.clone());
    state
        .groups
        .get(|| async move {
            let Some(topic) = topic.describe().await.map_err(|e| e.to_string())? else {
                return Ok(Vec::new());
            };
            tokio::task::spawn_blocking(move || describe(&config, &topic))
                .await
                .unwrap_or(Err(KafkaError::Canceled))
                .map_err(|e| e.to_string())
        })
        .await
        .map(Json)
        .map_err(ApiError::BrokerUnavailable)
}

/// Groups without a member on the topic whose offsets are fetched per
/// request, at most: each costs a round trip. Groups with a member on the
/// topic are always described.
pub(crate) const MAX_IDLE_GROUPS: usize = 50;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Every consumer group with a member assigned to `topic` or an offset
/// committed on it. Blocking: call from the blocking pool.
pub(crate) fn describe(config: &Config, topic: &TopicHealth) -> Result<Vec<GroupView>, KafkaError> {
    let lister: BaseConsumer = kafka::admin_consumer(config, None)?;
    let list = lister.fetch_group_list(None, TIMEOUT)?;
    let mut idle_checked = 0;
    let mut views = Vec::new();
    // Connect workers and other non-consumer protocols have no offsets here.
    let consumer_groups = list
        .groups()
        .iter()
        .filter(|g| g.protocol_type() == "consumer" || g.protocol_type().is_empty());
    for group in consumer_groups {
        let mut owners: HashMap<i32, String> = HashMap::new();
        let members: Vec<GroupMember> = group
            .members()
            .iter()
            .map(|m| {
                let partitions: Vec<i32> = m
                    .assignment()
                    .and_then(assignment::decode)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(t, _)| *t == topic.name)
                    .flat_map(|(_, ps)| ps)
                    .collect();
                for &p in &partitions {
                    owners.insert(p, m.client_id().to_owned());
                }
                GroupMember {
                    member_id: m.id().to_owned(),
                    client_id: m.client_id().to_owned(),
                    host: m.client_host().to_owned(),
                    partitions,
                }
            })
            .collect();
        if owners.is_empty() {
            if idle_checked == MAX_IDLE_GROUPS {
                continue;
            }
            idle_checked += 1;
        }

        let committed = committed_offsets(config, group.name(), topic)?;
        if owners.is_empty() && committed.values().all(Option::is_none) {
            continue;
        }
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                let committed = committed.get(&p.id).copied().flatten();
                GroupPartition {
                    partition: p.id,
                    committed,
                    log_end: p.high_watermark,
                    lag: committed.map(|c| (p.high_watermark - c).max(0)),
                    owner: owners.get(&p.id).cloned(),
                }
            })
            .collect();
        views.push(GroupView {
            group_id: group.name().to_owned(),
            state: group.state().to_owned(),
            members,
            partitions,
        });
    }
    views.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    Ok(views)
}

/// The group's committed offset per partition of the topic (None: nothing
/// committed). An offset fetch with the group's id: it does not join.
fn committed_offsets(
    config: &Config,
    group: &str,
    topic: &TopicHealth,
) -> Result<HashMap<i32, Option<i64>>, KafkaError> {
    let consumer: BaseConsumer = kafka::admin_consumer(config, Some(group))?;
    let mut list = TopicPartitionList::new();
    for p in &topic.partitions {
        list.add_partition(&topic.name, p.id);
    }
    let committed = consumer.committed_offsets(list, TIMEOUT)?;
    Ok(committed
        .elements_for_topic(&topic.name)
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            };
            (e.partition(), offset)
        })
        .collect())
}
