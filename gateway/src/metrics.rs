//! What the gateway counts, for `GET /metrics` (Prometheus' text format, as
//! OpenMetrics). One registry per gateway, not a process-wide recorder: the
//! tests run several gateways in one process, and each must count only its
//! own.
//!
//! Counters move as things happen (the core and the edge hold the metrics
//! and record into them); gauges that describe a state (live clients, each
//! group's lag) are set when the endpoint is read, from the same snapshot
//! the dashboard shows.

use prometheus_client::encoding::text::encode;
pub(crate) use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
pub(crate) use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A metric's labels: name and value pairs.
pub(crate) type Labels = Vec<(&'static str, String)>;

/// Every metric of one gateway.
pub(crate) struct Metrics {
    registry: Registry,
    /// Orders the broker acknowledged (single, batch, load run).
    pub(crate) orders_accepted: Counter,
    /// Requests to the order routes answered with an error, by error code.
    pub(crate) orders_refused: Family<Labels, Counter>,
    /// From handing an order to the producer to its acknowledgement (or
    /// failure), in seconds.
    pub(crate) produce_seconds: Histogram,
    /// Orders per accepted batch request.
    pub(crate) batch_orders: Histogram,
    /// Stream clients connected (set when read).
    pub(crate) live_clients: Gauge,
    /// Topics watched besides the gateway's own (set when read).
    pub(crate) live_topics: Gauge,
    /// Live filters running (set when read).
    pub(crate) live_filters: Gauge,
    /// Records tested by live filters, each once per filter.
    pub(crate) filter_tested: Counter,
    /// Records delivered to stream clients: each record once per client.
    pub(crate) records_fanned_out: Counter,
    /// Records a stream client missed because it fell behind its queue, or
    /// because a resume was over its bound (the client is told: `lagged`).
    pub(crate) records_lagged: Counter,
    /// Stream clients that resumed from positions.
    pub(crate) resumes: Counter,
    /// Replays started.
    pub(crate) replays: Counter,
    /// Searches started.
    pub(crate) searches: Counter,
    /// Searches running now.
    pub(crate) searches_running: Gauge,
    /// Reads of the topic's history from Kafka running now (replays and
    /// resumes), each on a thread of the blocking pool.
    pub(crate) history_reads: Gauge,
    /// Reads of history stopped because whoever asked went away.
    pub(crate) history_reads_cancelled: Counter,
    /// Errors the live consumer reported (the broker away, mostly).
    pub(crate) consumer_errors: Counter,
    /// Acknowledged Idempotency-Keys that could not be written to the key
    /// log (a retry to another gateway then writes a second record).
    pub(crate) key_log_failures: Counter,
    /// Keyed orders answered with the first acknowledgement of their key,
    /// writing nothing.
    pub(crate) idempotent_replays: Counter,
    /// Records each demo service handled, by service and outcome
    /// (`processed`, `failed_attempts`, `gave_up`, `redelivered`,
    /// `duplicates_dropped`): the counters `/api/services` shows.
    pub(crate) service_records: Family<Labels, Counter>,
    /// Each followed group's lag per partition (set when read).
    pub(crate) group_lag: Family<Labels, Gauge>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("kafka_flow");
        let orders_accepted = Counter::default();
        registry.register(
            "orders_accepted",
            "Orders the broker acknowledged",
            orders_accepted.clone(),
        );
        let orders_refused = Family::<Labels, Counter>::default();
        registry.register(
            "orders_refused",
            "Requests to the order routes answered with an error, by code",
            orders_refused.clone(),
        );
        // 0.5 ms to about 16 s.
        let produce_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "produce_seconds",
            "From handing an order to the producer to the broker's answer",
            produce_seconds.clone(),
        );
        let batch_orders = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        registry.register(
            "batch_orders",
            "Orders per batch request",
            batch_orders.clone(),
        );
        let key_log_failures = Counter::default();
        registry.register(
            "key_log_failures",
            "Acknowledged Idempotency-Keys that could not be written to the key log",
            key_log_failures.clone(),
        );
        let idempotent_replays = Counter::default();
        registry.register(
            "idempotent_replays",
            "Keyed orders answered with their key's first acknowledgement, writing nothing",
            idempotent_replays.clone(),
        );
        let live_clients = Gauge::default();
        registry.register(
            "live_clients",
            "Stream clients connected to /ws",
            live_clients.clone(),
        );
        let live_topics = Gauge::default();
        registry.register(
            "live_topics",
            "Topics watched on browsers' demand besides the gateway's own (at most --max-live-topics)",
            live_topics.clone(),
        );
        let live_filters = Gauge::default();
        registry.register(
            "live_filters",
            "Live filters running, each shared by the clients with the same filter and topic (at most --max-live-filters)",
            live_filters.clone(),
        );
        let filter_tested = Counter::default();
        registry.register(
            "filter_tested",
            "Records tested by live filters, each once per filter",
            filter_tested.clone(),
        );
        let records_fanned_out = Counter::default();
        registry.register(
            "records_fanned_out",
            "Records queued to stream clients, each record once per client",
            records_fanned_out.clone(),
        );
        let records_lagged = Counter::default();
        registry.register(
            "records_lagged",
            "Records stream clients missed because they fell behind (reported to them as lagged)",
            records_lagged.clone(),
        );
        let resumes = Counter::default();
        registry.register(
            "resumes",
            "Stream clients that resumed from positions",
            resumes.clone(),
        );
        let replays = Counter::default();
        registry.register("replays", "Replays started", replays.clone());
        let searches = Counter::default();
        registry.register(
            "searches",
            "Searches of a topic's history started",
            searches.clone(),
        );
        let searches_running = Gauge::default();
        registry.register(
            "searches_running",
            "Searches running now (at most 2)",
            searches_running.clone(),
        );
        let history_reads = Gauge::default();
        registry.register(
            "history_reads",
            "Reads of the topic's history from Kafka running now (replays and resumes)",
            history_reads.clone(),
        );
        let history_reads_cancelled = Counter::default();
        registry.register(
            "history_reads_cancelled",
            "Reads of history stopped because whoever asked went away",
            history_reads_cancelled.clone(),
        );
        let consumer_errors = Counter::default();
        registry.register(
            "consumer_errors",
            "Errors the live consumer reported",
            consumer_errors.clone(),
        );
        let service_records = Family::<Labels, Counter>::default();
        registry.register(
            "service_records",
            "Records each demo service handled, by outcome (processed, failed_attempts, gave_up, redelivered, duplicates_dropped)",
            service_records.clone(),
        );
        let group_lag = Family::<Labels, Gauge>::default();
        registry.register(
            "group_lag",
            "Each followed consumer group's lag per partition of the topic, in records",
            group_lag.clone(),
        );
        Self {
            registry,
            orders_accepted,
            orders_refused,
            produce_seconds,
            batch_orders,
            live_clients,
            live_topics,
            live_filters,
            filter_tested,
            records_fanned_out,
            records_lagged,
            resumes,
            replays,
            searches,
            searches_running,
            history_reads,
            history_reads_cancelled,
            consumer_errors,
            key_log_failures,
            idempotent_replays,
            service_records,
            group_lag,
        }
    }

    /// Everything, in the text format.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Converts a count to a gauge's value.
pub(crate) fn gauge_value(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_metric_with_its_prefix() {
        let metrics = Metrics::new();
        metrics.orders_accepted.inc_by(3);
        metrics
            .orders_refused
            .get_or_create(&vec![("code", "invalid_field".to_owned())])
            .inc();
        metrics.produce_seconds.observe(0.002);
        let text = metrics.encode();
        assert!(
            text.contains("kafka_flow_orders_accepted_total 3"),
            "{text}"
        );
        assert!(
            text.contains(r#"kafka_flow_orders_refused_total{code="invalid_field"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("kafka_flow_produce_seconds_count 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
