//! `GET /api/search`: a topic's history scanned for what a filter selects,
//! answered as NDJSON while it runs (`core::search`; the lines are
//! `wire::search::SearchEvent`s). Refusals come before the first line, in
//! the error shape; a client that goes away stops the search.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use wire::search::{DEFAULT_SEARCH_MATCHES, MAX_SEARCH_MATCHES};

use super::error::ApiError;
use super::replay::{From, start};
use super::{AppState, extract};
use crate::admission::Client;
use crate::core::search::{Direction, SearchPlan};

/// `direction=oldest|newest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Order {
    #[default]
    Oldest,
    Newest,
}

/// The query string, as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    topic: Option<String>,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    from: From,
    partition: Option<i32>,
    offset: Option<i64>,
    timestamp_ms: Option<i64>,
    until_ms: Option<i64>,
    limit: Option<usize>,
    #[serde(default)]
    direction: Order,
}

/// `GET /api/search`.
pub(crate) async fn search(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let plan = plan(query.as_deref().unwrap_or(""), &state.config.topic)?;
    if plan.topic != state.config.topic {
        state
            .core
            .watches
            .allowed_and_existing(&plan.topic)
            .await
            .map_err(ApiError::Watch)?;
    }
    let client = Client::of(peer.ip());
    let events = state.core.searches.start(plan, client).await?;
    let lines = futures_util::stream::unfold(events, |mut events| async move {
        let event = events.recv().await?;
        // Search events are plain data; serializing one cannot fail.
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        Some((Ok::<_, Infallible>(line), events))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}

/// Parses and checks the query string; every mistake is a 422 naming the
/// parameter.
fn plan(query: &str, own_topic: &str) -> Result<SearchPlan, ApiError> {
    let q: SearchQuery = extract::query(query)?;
    let invalid = |field: &str, message: String| ApiError::InvalidField {
        field: field.into(),
        message,
    };
    let topic = q.topic.unwrap_or_else(|| own_topic.to_owned());
    if !wire::api::is_topic_name(&topic) {
        return Err(invalid("topic", wire::api::TOPIC_NAME_RULE.into()));
    }
    let filter = q.filter.trim();
    if filter.len() > wire::stream::MAX_FILTER_BYTES {
        return Err(invalid(
            "filter",
            format!("is longer than {} bytes", wire::stream::MAX_FILTER_BYTES),
        ));
    }
    let limit = q.limit.unwrap_or(DEFAULT_SEARCH_MATCHES);
    if !(1..=MAX_SEARCH_MATCHES).contains(&limit) {
        return Err(invalid(
            "limit",
            format!("must be between 1 and {MAX_SEARCH_MATCHES}, got {limit}"),
        ));
    }
    if q.until_ms.is_some_and(|t| t < 0) {
        return Err(invalid("until_ms", "must be 0 or more".into()));
    }
    Ok(SearchPlan {
        topic,
        start: start(q.from, q.partition, q.offset, q.timestamp_ms)?,
        until_ms: q.until_ms,
        partition: q.partition,
        limit,
        direction: match q.direction {
            Order::Oldest => Direction::OldestFirst,
            Order::Newest => Direction::NewestFirst,
        },
        filter: (!filter.is_empty()).then(|| filter.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::replay::Start;

    fn field(query: &str) -> String {
        match plan(query, "orders") {
            Err(ApiError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error for {query:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_search_plans_the_gateways_topic_oldest_first_by_default() {
        let plan = plan("", "orders").expect("plan");
        assert_eq!(
            plan,
            SearchPlan {
                topic: "orders".into(),
                start: Start::Beginning,
                until_ms: None,
                partition: None,
                limit: DEFAULT_SEARCH_MATCHES,
                direction: Direction::OldestFirst,
                filter: None,
            }
        );
        let plan = self::plan(
            "topic=payments&filter=%20.key%20&from=timestamp&timestamp_ms=5&until_ms=9&direction=newest&limit=3",
            "orders",
        )
        .expect("plan");
        assert_eq!(plan.topic, "payments");
        assert_eq!(plan.filter.as_deref(), Some(".key"));
        assert_eq!(plan.start, Start::Timestamp(5));
        assert_eq!(plan.until_ms, Some(9));
        assert_eq!(plan.direction, Direction::NewestFirst);
        assert_eq!(plan.limit, 3);
    }

    #[test]
    fn mistakes_name_their_parameter() {
        assert_eq!(field("topic=a%20b"), "topic");
        assert_eq!(field("limit=0"), "limit");
        assert_eq!(field(&format!("limit={}", MAX_SEARCH_MATCHES + 1)), "limit");
        assert_eq!(field("until_ms=-1"), "until_ms");
        assert_eq!(field("direction=sideways"), "direction");
        assert_eq!(field("from=offset&offset=1"), "partition");
        assert_eq!(field(&format!("filter={}", "x".repeat(3000))), "filter");
        assert_eq!(field("query=1"), "query");
    }
}
