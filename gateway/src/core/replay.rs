//! Reading the topic again: a replay (`GET /api/replay`) and, through the
//! same reader, what a resuming client missed (`resume`).
//!
//! Every read is a short-lived range reader of its own (manual assignment,
//! no commits), run on the blocking pool while it holds one of a bounded
//! number of turns, and stopped when whoever asked goes away.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wire::api::ReplayPage;

use crate::admission::{Admission, Client, Refused};
use crate::config::Config;
pub(crate) use crate::kafka::reader::Start;
use crate::kafka::reader::{READ_TIMEOUT, RangeReader, ReadError};
use crate::kafka::record::{MAX_RECORD_BYTES, Schemas, TooLarge};
use crate::metrics::{Gauge, Metrics};

/// Replays running at once, at most: each is a Kafka client of its own and
/// may hold up to a page of records.
pub(crate) const MAX_CONCURRENT: usize = 4;

/// A checked replay request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) start: Start,
    /// One partition, or all of them.
    pub(crate) partition: Option<i32>,
    pub(crate) limit: usize,
}

/// Why a replay gave no page.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplayError {
    /// As many replays are running as the gateway, or this client, may run.
    #[error("replays: {0}")]
    Busy(Refused),
    /// The plan named a partition the topic does not have.
    #[error("the topic has partitions 0 to {last}, not {asked}")]
    NoPartition { asked: i32, last: usize },
    /// The broker could not be read, or not in time.
    #[error("{0}")]
    Unavailable(String),
    /// No record at that offset (past the end, before the log start, or
    /// compacted away).
    #[error(
        "no record at offset {offset} of partition {partition} (past the end, before the \
         log start, or compacted away)"
    )]
    NoRecord { partition: i32, offset: i64 },
    /// The record's value is larger than the gateway serves whole.
    #[error(
        "the record's value is {size} bytes, over the {limit} bytes the gateway serves \
         whole; read it with a Kafka client"
    )]
    TooLarge { size: usize, limit: usize },
}

impl ReplayError {
    /// A read's failure, for a read (`what`) that had `within` to read.
    fn of(err: ReadError, what: &str, within: Duration) -> Self {
        match err {
            ReadError::NoPartition { asked, last } => Self::NoPartition { asked, last },
            ReadError::NoTopic(_) => Self::Unavailable(err.to_string()),
            ReadError::TimedOut => Self::Unavailable(format!(
                "{what} did not finish within {} s",
                within.as_secs_f64()
            )),
            _ => Self::Unavailable(format!("{what} failed: {err}")),
        }
    }
}

/// The replays of one topic.
pub(crate) struct Replays {
    config: Arc<Config>,
    schemas: Schemas,
    topic: String,
    /// [`MAX_CONCURRENT`] in all, `--max-reads-per-address` per client.
    slots: Arc<Admission>,
    metrics: Arc<Metrics>,
}

impl Replays {
    pub(crate) fn new(
        config: Arc<Config>,
        topic: &str,
        metrics: Arc<Metrics>,
        schemas: Schemas,
    ) -> Self {
        Self {
            metrics,
            schemas,
            topic: topic.to_owned(),
            slots: Admission::new(MAX_CONCURRENT, per_client_reads(&config)),
            config,
        }
    }

    /// Reads the planned range for `client`; stops reading if the returned
    /// future is dropped (the client went away).
    pub(crate) async fn replay(
        &self,
        plan: Plan,
        client: Client,
    ) -> Result<ReplayPage, ReplayError> {
        let permit = self.slots.admit(client).map_err(ReplayError::Busy)?;
        self.metrics.replays.inc();
        let cancel = CancellationToken::new();
        let _stop_when_dropped = cancel.clone().drop_guard();
        let within = self.within();
        run_reader(
            &self.config,
            &self.topic,
            &self.metrics,
            &self.schemas,
            RangeReader::new,
            permit,
            move |reader| {
                let ranges = reader.ranges(plan.start, plan.partition)?;
                let read = reader.read(&ranges, plan.limit, within, &cancel)?;
                Ok(ReplayPage {
                    ranges,
                    records: read.records,
                    truncated: read.truncated,
                })
            },
        )
        .await
        .map_err(|err| ReplayError::of(err, "replay", within))
    }
}

impl Replays {
    /// The record at `offset` of `partition` of `topic`, whole (as
    /// `kafka::record::full` shapes it), read under the same turns as
    /// replays; stops reading if the returned future is dropped.
    pub(crate) async fn record(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        client: Client,
    ) -> Result<Vec<u8>, ReplayError> {
        let permit = self.slots.admit(client).map_err(ReplayError::Busy)?;
        let cancel = CancellationToken::new();
        let _stop_when_dropped = cancel.clone().drop_guard();
        let within = self.within();
        let read = run_reader(
            &self.config,
            topic,
            &self.metrics,
            &self.schemas,
            RangeReader::new,
            permit,
            move |reader| reader.one(partition, offset, within, &cancel),
        )
        .await
        .map_err(|err| ReplayError::of(err, "reading the record", within))?;
        match read {
            None => Err(ReplayError::NoRecord { partition, offset }),
            Some(Err(TooLarge(size))) => Err(ReplayError::TooLarge {
                size,
                limit: MAX_RECORD_BYTES,
            }),
            Some(Ok(document)) => Ok(document),
        }
    }
}

impl Replays {
    /// How long a read may take: a second less than the request's own
    /// time limit, so that a slow read answers 503 saying so rather than
    /// the request timing out.
    fn within(&self) -> Duration {
        self.config
            .request_timeout()
            .saturating_sub(Duration::from_secs(1))
            .min(READ_TIMEOUT)
    }
}

/// Reads from Kafka one client may run at once, of each kind.
pub(super) fn per_client_reads(config: &Config) -> usize {
    usize::try_from(config.max_reads_per_address).unwrap_or(1)
}

/// Runs `f` with a new reader of `topic` (made by `make`) on the blocking
/// pool, holding `permit` (a turn) until it is done, and counted in
/// `metrics` meanwhile (and, if it was cancelled, as such).
pub(super) async fn run_reader<T: Send + 'static>(
    config: &Arc<Config>,
    topic: &str,
    metrics: &Arc<Metrics>,
    schemas: &Schemas,
    make: fn(&Config, &str, Schemas) -> Result<RangeReader, ReadError>,
    permit: impl Send + 'static,
    f: impl FnOnce(&RangeReader) -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    let (config, topic, metrics, schemas) = (
        config.clone(),
        topic.to_owned(),
        metrics.clone(),
        schemas.clone(),
    );
    tokio::task::spawn_blocking(move || {
        // Whoever asked may be gone by now: the read runs to its end (or
        // its cancellation) all the same, and is counted until then.
        let _running = Running::new(&metrics.history_reads);
        let read = make(&config, &topic, schemas).and_then(|reader| f(&reader));
        if matches!(read, Err(ReadError::Cancelled)) {
            metrics.history_reads_cancelled.inc();
        }
        drop(permit);
        read
    })
    .await
    .unwrap_or_else(|e| Err(ReadError::Interrupted(e.to_string())))
}

/// One running read, counted in a gauge until dropped (a panicking read
/// too).
struct Running<'a>(&'a Gauge);

impl<'a> Running<'a> {
    fn new(gauge: &'a Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
