//! `GET /api/replay`: read the topic again from the beginning, an offset or
//! a timestamp, into the dashboard's replay view.
//!
//! Each replay is its own consumer that takes partitions by manual
//! assignment and never commits: replaying moves no group's offsets and
//! triggers no rebalance, so every service goes on as if nothing happened.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{RawQuery, State};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Deserialize;
use wire::LiveRecord;
use wire::api::{MAX_REPLAY_RECORDS, ReplayPage, ReplayRange};

use crate::config::Config;
use crate::error::ApiError;
use crate::produce::now_ms;
use crate::{AppState, kafka, record};

const DEFAULT_LIMIT: usize = 100;
/// Replays running at once, at most: each is a Kafka client of its own and
/// may hold up to a page of records.
pub(crate) const MAX_CONCURRENT: usize = 4;
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one replay may read before it answers 503.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum From {
    #[default]
    Beginning,
    Offset,
    Timestamp,
}

/// The query string, as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayQuery {
    #[serde(default)]
    from: From,
    partition: Option<i32>,
    offset: Option<i64>,
    timestamp_ms: Option<i64>,
    limit: Option<usize>,
}

/// Where each partition's read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Beginning,
    Offset(i64),
    Timestamp(i64),
}

/// A checked replay request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    start: Start,
    partition: Option<i32>,
    limit: usize,
}

/// `GET /api/replay`.
pub(crate) async fn replay(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<ReplayPage>, ApiError> {
    let plan = plan(query.as_deref().unwrap_or(""))?;
    let Ok(permit) = state.replay_slots.clone().try_acquire_owned() else {
        return Err(ApiError::ReplaysBusy(MAX_CONCURRENT));
    };
    let (config, topic) = (state.config.clone(), state.topic.name().to_owned());
    tokio::task::spawn_blocking(move || {
        let page = read(&config, &topic, &plan);
        drop(permit);
        page
    })
    .await
    .map_err(|e| ApiError::BrokerUnavailable(format!("replay failed: {e}")))?
    .map(Json)
}

/// Parses and checks the query string; every mistake is a 422 naming the
/// parameter.
fn plan(query: &str) -> Result<Plan, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    let q: ReplayQuery = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        // A missing or unknown parameter is named by serde's message.
        let field = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|p| message.strip_prefix(p)?.split('`').next())
            .map_or(path, str::to_owned);
        let field = if field == "." { "query".into() } else { field };
        ApiError::InvalidField { field, message }
    })?;
    let invalid = |field: &str, message: &str| ApiError::InvalidField {
        field: field.into(),
        message: message.into(),
    };
    // Checked whenever given, even where `from` does not use them: a
    // parameter that is wrong is never silently ignored.
    if q.partition.is_some_and(|p| p < 0) {
        return Err(invalid("partition", "must be 0 or more"));
    }
    if q.offset.is_some_and(|o| o < 0) {
        return Err(invalid("offset", "must be 0 or more"));
    }
    if q.timestamp_ms.is_some_and(|t| t < 0) {
        return Err(invalid("timestamp_ms", "must be 0 or more"));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_REPLAY_RECORDS).contains(&limit) {
        return Err(invalid(
            "limit",
            &format!("must be between 1 and {MAX_REPLAY_RECORDS}, got {limit}"),
        ));
    }
    let start = match q.from {
        From::Beginning => Start::Beginning,
        From::Offset => {
            if q.partition.is_none() {
                return Err(invalid("partition", "from=offset needs a partition"));
            }
            match q.offset {
                Some(o) if o >= 0 => Start::Offset(o),
                Some(_) => return Err(invalid("offset", "must be 0 or more")),
                None => return Err(invalid("offset", "from=offset needs an offset")),
            }
        }
        From::Timestamp => match q.timestamp_ms {
            Some(t) if t >= 0 => Start::Timestamp(t),
            Some(_) => return Err(invalid("timestamp_ms", "must be 0 or more")),
            None => {
                return Err(invalid(
                    "timestamp_ms",
                    "from=timestamp needs timestamp_ms (milliseconds since the Unix epoch)",
                ));
            }
        },
    };
    Ok(Plan {
        start,
        partition: q.partition,
        limit,
    })
}

fn unavailable(err: KafkaError) -> ApiError {
    ApiError::BrokerUnavailable(format!("replay failed: {err}"))
}

/// Reads the planned range. Blocking: call from the blocking pool.
fn read(config: &Config, topic: &str, plan: &Plan) -> Result<ReplayPage, ApiError> {
    let consumer = kafka::replay_consumer(config).map_err(unavailable)?;
    let ranges = ranges(&consumer, topic, plan)?;
    let (records, truncated) = read_ranges(&consumer, topic, &ranges, plan.limit)?;
    Ok(ReplayPage {
        ranges,
        records,
        truncated,
    })
}

/// Reads every record of each range in turn, at most `limit` in all, within
/// [`READ_TIMEOUT`]; whether the limit stopped it. Blocking.
pub(crate) fn read_ranges(
    consumer: &BaseConsumer,
    topic: &str,
    ranges: &[ReplayRange],
    limit: usize,
) -> Result<(Vec<LiveRecord>, bool), ApiError> {
    let mut records = Vec::new();
    let deadline = Instant::now() + READ_TIMEOUT;
    for range in ranges {
        if range.from >= range.to {
            continue;
        }
        if records.len() == limit {
            return Ok((records, true));
        }
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, range.partition, Offset::Offset(range.from))
            .map_err(unavailable)?;
        consumer.assign(&list).map_err(unavailable)?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ApiError::BrokerUnavailable(format!(
                    "replay did not finish within {} s",
                    READ_TIMEOUT.as_secs()
                )));
            }
            match consumer.poll(left.min(Duration::from_millis(500))) {
                None => continue,
                Some(Err(KafkaError::PartitionEOF(_))) => break,
                Some(Err(err)) => return Err(unavailable(err)),
                Some(Ok(message)) => {
                    // Stop at the range's end: records written since the
                    // request came are not in the asked range.
                    if message.offset() >= range.to {
                        break;
                    }
                    records.push(record::to_live(&message, now_ms()));
                    if message.offset() + 1 >= range.to {
                        break;
                    }
                    if records.len() == limit {
                        return Ok((records, true));
                    }
                }
            }
        }
    }
    Ok((records, false))
}

/// Each selected partition's range: its start per the plan, its end the
/// log end now.
fn ranges(consumer: &BaseConsumer, topic: &str, plan: &Plan) -> Result<Vec<ReplayRange>, ApiError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(unavailable)?;
    let mut ids: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::BrokerUnavailable(format!(
            "topic {topic} does not exist yet"
        )));
    }
    ids.sort_unstable();
    if let Some(p) = plan.partition {
        if !ids.contains(&p) {
            return Err(ApiError::InvalidField {
                field: "partition".into(),
                message: format!("the topic has partitions 0 to {}, not {p}", ids.len() - 1),
            });
        }
        ids = vec![p];
    }
    let by_time = match plan.start {
        Start::Timestamp(t) => {
            let mut list = TopicPartitionList::new();
            for &p in &ids {
                list.add_partition_offset(topic, p, Offset::Offset(t))
                    .map_err(unavailable)?;
            }
            Some(
                consumer
                    .offsets_for_times(list, METADATA_TIMEOUT)
                    .map_err(unavailable)?,
            )
        }
        _ => None,
    };
    let mut ranges = Vec::with_capacity(ids.len());
    for p in ids {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, METADATA_TIMEOUT)
            .map_err(unavailable)?;
        let from = match plan.start {
            Start::Beginning => low,
            // Records before the log start are gone (retention); past the
            // end there is nothing yet.
            Start::Offset(o) => o.clamp(low, high),
            Start::Timestamp(_) => match by_time
                .as_ref()
                .and_then(|l| l.find_partition(topic, p))
                .map(|e| (e.offset(), e.error()))
            {
                Some((Offset::Offset(o), Ok(()))) => o.clamp(low, high),
                // No record at or after the time.
                Some((_, Ok(()))) => high,
                Some((_, Err(err))) => return Err(unavailable(err)),
                None => {
                    return Err(unavailable(KafkaError::OffsetFetch(
                        RDKafkaErrorCode::UnknownPartition,
                    )));
                }
            },
        };
        ranges.push(ReplayRange {
            partition: p,
            from,
            to: high,
        });
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(query: &str) -> String {
        match plan(query) {
            Err(ApiError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error for {query:?}, got {other:?}"),
        }
    }

    #[test]
    fn plans_from_the_beginning_by_default() {
        assert_eq!(
            plan("").expect("plan"),
            Plan {
                start: Start::Beginning,
                partition: None,
                limit: DEFAULT_LIMIT
            }
        );
        assert_eq!(
            plan("from=offset&partition=2&offset=40&limit=5").expect("plan"),
            Plan {
                start: Start::Offset(40),
                partition: Some(2),
                limit: 5
            }
        );
        assert_eq!(
            plan("from=timestamp&timestamp_ms=1795857549813")
                .expect("plan")
                .start,
            Start::Timestamp(1_795_857_549_813)
        );
    }

    #[test]
    fn mistakes_name_their_parameter() {
        assert_eq!(field("from=offset&offset=3"), "partition");
        assert_eq!(field("from=offset&partition=0"), "offset");
        assert_eq!(field("from=offset&partition=0&offset=-1"), "offset");
        assert_eq!(field("from=timestamp"), "timestamp_ms");
        assert_eq!(field("limit=0"), "limit");
        assert_eq!(field(&format!("limit={}", MAX_REPLAY_RECORDS + 1)), "limit");
        assert_eq!(field("limit=many"), "limit");
        assert_eq!(field("from=yesterday"), "from");
        assert_eq!(field("form=offset"), "form");
        // Wrong even where `from` does not use it.
        assert_eq!(field("timestamp_ms=-1"), "timestamp_ms");
        assert_eq!(field("from=timestamp&timestamp_ms=5&offset=-2"), "offset");
        assert_eq!(field("partition=-1"), "partition");
    }
}
