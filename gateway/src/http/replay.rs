//! `GET /api/replay`: read the topic again from the beginning, an offset or
//! a timestamp, into the dashboard's replay view. Reading moves no group's
//! offsets (see `core::replay`).

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, State};
use serde::Deserialize;
use wire::api::{MAX_REPLAY_RECORDS, ReplayPage};

use super::error::ApiError;
use super::{AppState, extract};
use crate::admission::Client;
use crate::core::replay::{Plan, Start};

const DEFAULT_LIMIT: usize = 100;

/// Where a read starts: `from=beginning|offset|timestamp`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum From {
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

/// `GET /api/replay`.
pub(crate) async fn replay(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Result<Json<ReplayPage>, ApiError> {
    let plan = plan(query.as_deref().unwrap_or(""))?;
    let client = Client::of(peer.ip());
    Ok(Json(state.core.replays.replay(plan, client).await?))
}

/// Parses and checks the query string; every mistake is a 422 naming the
/// parameter.
fn plan(query: &str) -> Result<Plan, ApiError> {
    let q: ReplayQuery = extract::query(query)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_REPLAY_RECORDS).contains(&limit) {
        return Err(invalid(
            "limit",
            &format!("must be between 1 and {MAX_REPLAY_RECORDS}, got {limit}"),
        ));
    }
    Ok(Plan {
        start: start(q.from, q.partition, q.offset, q.timestamp_ms)?,
        partition: q.partition,
        limit,
    })
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::InvalidField {
        field: field.into(),
        message: message.into(),
    }
}

/// Where a read of the topic starts (`from`, with the partition, offset
/// and timestamp it needs), for replays and searches. Each parameter is
/// checked whenever given, even where `from` does not use it: a parameter
/// that is wrong is never silently ignored.
pub(super) fn start(
    from: From,
    partition: Option<i32>,
    offset: Option<i64>,
    timestamp_ms: Option<i64>,
) -> Result<Start, ApiError> {
    if partition.is_some_and(|p| p < 0) {
        return Err(invalid("partition", "must be 0 or more"));
    }
    if offset.is_some_and(|o| o < 0) {
        return Err(invalid("offset", "must be 0 or more"));
    }
    if timestamp_ms.is_some_and(|t| t < 0) {
        return Err(invalid("timestamp_ms", "must be 0 or more"));
    }
    Ok(match from {
        From::Beginning => Start::Beginning,
        From::Offset => {
            if partition.is_none() {
                return Err(invalid("partition", "from=offset needs a partition"));
            }
            match offset {
                Some(o) => Start::Offset(o),
                None => return Err(invalid("offset", "from=offset needs an offset")),
            }
        }
        From::Timestamp => match timestamp_ms {
            Some(t) => Start::Timestamp(t),
            None => {
                return Err(invalid(
                    "timestamp_ms",
                    "from=timestamp needs timestamp_ms (milliseconds since the Unix epoch)",
                ));
            }
        },
    })
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
