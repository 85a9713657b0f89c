//! Searching a topic's history (`GET /api/search`): a range of each
//! partition scanned (`kafka::scan`, manual assignment, no commits),
//! merged across partitions by timestamp, oldest or newest first; each
//! record tested by the search's filter: by the scan itself when the
//! filter is one `core::bounded` accepts (it cannot loop), else in a
//! worker process of its own (`core::filter`); matches and progress
//! handed to the client as they come, as [`SearchEvent`]s.
//!
//! Bounded: [`MAX_CONCURRENT`] searches at once, one per client address;
//! at most `limit` matches (`wire::search::MAX_SEARCH_MATCHES`) and [`SEARCH_TIME`];
//! the scan waits for the filter and the filter for the client (bounded
//! queues between them), and everything stops when the client goes away.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use wire::search::{SearchDone, SearchEnd, SearchEvent, SearchProgress};
use wire::stream::PartitionOffset;

use super::bounded;
use super::filter::{FilterError, FilterProcess, MAX_BATCH};
use super::jq::{self, Program, Verdict};
use super::replay::{Start, run_reader};
use crate::admission::{Admission, Client, Refused};
use crate::config::Config;
use crate::kafka::reader::{RangeReader, ReadError};
use crate::kafka::record::Schemas;
pub(crate) use crate::kafka::scan::Direction;
use crate::kafka::scan::{Candidate, Scanned, Test, Tested};
use crate::metrics::{Gauge, Metrics};

/// Searches running at once, at most: each is a Kafka client of its own, a
/// worker process and up to 32 MiB read ahead.
pub(crate) const MAX_CONCURRENT: usize = 2;
/// The longest a search scans.
pub(crate) const SEARCH_TIME: Duration = Duration::from_secs(300);
/// How often progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Batches of scanned records waiting for the filter, at most.
const SCANNED_QUEUE: usize = 4;
/// Events waiting for the client, at most.
const EVENT_QUEUE: usize = 256;

/// A checked search request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SearchPlan {
    pub(crate) topic: String,
    pub(crate) start: Start,
    /// Records from this time on are not scanned.
    pub(crate) until_ms: Option<i64>,
    pub(crate) partition: Option<i32>,
    pub(crate) limit: usize,
    pub(crate) direction: Direction,
    /// The filter (jq's language); every record matches without one.
    pub(crate) filter: Option<String>,
}

/// Why a search did not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SearchError {
    #[error("searches: {0}")]
    Busy(Refused),
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("the topic has partitions 0 to {last}, not {asked}")]
    NoPartition { asked: i32, last: usize },
    #[error("{0}")]
    Unavailable(String),
}

/// The longest number a filter tested in the gateway reads (jaq parses
/// one of 10,000 digits in about a millisecond, one of a million in over a
/// second); a record with a longer one is skipped, as a worker's time limit
/// would skip it.
const MAX_DIGITS: usize = 10_000;

/// The searches of one gateway.
pub(crate) struct Searches {
    config: Arc<Config>,
    worker: Result<PathBuf, String>,
    slots: Arc<Admission>,
    metrics: Arc<Metrics>,
    schemas: Schemas,
    shutdown: CancellationToken,
}

impl Searches {
    pub(crate) fn new(
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        schemas: Schemas,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            schemas,
            worker: config.filter_worker(),
            // One per client address: a search is the heaviest read there is.
            slots: Admission::new(MAX_CONCURRENT, 1),
            config,
            metrics,
            shutdown,
        }
    }

    /// Starts `plan` for `client`: its events, the first `Started`. The
    /// search stops when the receiver is dropped.
    pub(crate) async fn start(
        &self,
        plan: SearchPlan,
        client: Client,
    ) -> Result<mpsc::Receiver<SearchEvent>, SearchError> {
        let permit = self.slots.admit(client).map_err(SearchError::Busy)?;
        // A filter that ends quickly whatever the record is tested by the
        // scan itself, in this process: no worker, no pipe, no second parse
        // (see `core::bounded`); the rest run in a worker.
        let in_scan = plan.filter.clone().filter(|f| bounded::is_bounded(f));
        if let Some(code) = &in_scan {
            Program::compile(code)
                .map_err(|invalid| SearchError::Filter(FilterError::Invalid(invalid)))?;
        }
        let filter = match &plan.filter {
            Some(_) if in_scan.is_some() => None,
            Some(filter) => {
                let exe = self
                    .worker
                    .as_ref()
                    .map_err(|e| FilterError::Worker(e.clone()))?;
                Some(FilterProcess::start(exe, filter).await?)
            }
            None => None,
        };
        let (start, until, partition) = (plan.start, plan.until_ms, plan.partition);
        let cancel = self.shutdown.child_token();
        let (scanned_tx, scanned) = mpsc::channel(SCANNED_QUEUE);
        // One reader finds the ranges and scans them: a second client
        // would connect and ask for metadata again (about 50 ms) before
        // the first record. The ranges come back first, so that a search
        // that cannot start is refused before its first line.
        let (ranges_tx, ranges_rx) = oneshot::channel();
        let scan = {
            let (config, metrics, topic, schemas) = (
                self.config.clone(),
                self.metrics.clone(),
                plan.topic.clone(),
                self.schemas.clone(),
            );
            let cancel = cancel.clone();
            let direction = plan.direction;
            async move {
                run_reader(
                    &config,
                    &topic,
                    &metrics,
                    &schemas,
                    RangeReader::for_search,
                    (),
                    move |reader| {
                        let ranges = match reader.ranges_until(start, until, partition) {
                            Ok(ranges) => ranges,
                            Err(err) => {
                                let _ = ranges_tx.send(Err(err));
                                return Ok(());
                            }
                        };
                        if ranges_tx.send(Ok(ranges.clone())).is_err() {
                            // Asked for, then left before the first line.
                            return Ok(());
                        }
                        // Compiled again here: a program stays on its thread.
                        let program = in_scan.as_deref().map(Program::compile).transpose();
                        let native = in_scan.as_deref().and_then(bounded::Filter::parse);
                        let mut test = program.ok().flatten().map(|program| {
                            move |record: &Candidate<'_>| {
                                // Evaluated on the record's fields where
                                // that is sure to be jq's answer; else jaq,
                                // on the document.
                                let here = native
                                    .as_ref()
                                    .zip(record.fields())
                                    .and_then(|(native, fields)| native.test(&fields));
                                match here {
                                    Some(true) => return Tested::Match,
                                    Some(false) => return Tested::NoMatch,
                                    None => {}
                                }
                                let document = record.document();
                                // jaq reads a number's digits in quadratic
                                // time, and here no worker's clock stops it.
                                if jq::has_number_longer_than(&document, MAX_DIGITS) {
                                    return Tested::Skipped(format!(
                                        "a number of over {MAX_DIGITS} digits: not tested"
                                    ));
                                }
                                match program.test(&document) {
                                    Verdict::Match => Tested::Match,
                                    Verdict::NoMatch => Tested::NoMatch,
                                    Verdict::Skipped(why) => Tested::Skipped(why),
                                }
                            }
                        });
                        let test = test.as_mut().map(|t| t as Test<'_>);
                        reader.scan(
                            &ranges,
                            direction,
                            SEARCH_TIME,
                            &cancel,
                            test,
                            |batch, at| scanned_tx.blocking_send((batch, at)).is_ok(),
                        )
                    },
                )
                .await
            }
        };
        let mut scan = tokio::spawn(scan);
        // From here the scan stops with this search, should the client
        // leave even before the first line.
        let stop_scan = cancel.clone().drop_guard();
        let ranges = match ranges_rx.await {
            Ok(ranges) => ranges,
            // The reader could not be made: its error is the scan's.
            Err(_) => match (&mut scan).await {
                Ok(Err(err)) => Err(err),
                Ok(Ok(())) => Err(ReadError::Interrupted("the search's reader ended".into())),
                Err(err) => Err(ReadError::Interrupted(err.to_string())),
            },
        }
        .map_err(|err| match err {
            ReadError::NoPartition { asked, last } => SearchError::NoPartition { asked, last },
            err => SearchError::Unavailable(format!("could not read the topic: {err}")),
        })?;
        self.metrics.searches.inc();
        let total = ranges.iter().map(|r| (r.to - r.from).max(0) as u64).sum();
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        let _ = events.try_send(SearchEvent::Started {
            topic: plan.topic.clone(),
            ranges,
            total,
            newest_first: plan.direction == Direction::NewestFirst,
        });
        let running = self.metrics.searches_running.clone();
        running.inc();
        let schemas = self.schemas.clone();
        tokio::spawn(async move {
            // The search's turn is held until it is over, the filter's
            // testing included, not only while Kafka is read.
            let _turn = permit;
            let _stop_scan = stop_scan;
            let _counted = Decrement(running);
            let end = test_and_send(scanned, filter, plan.limit, &schemas, &events).await;
            // Over: the scan stops (if it has not ended), and says how.
            cancel.cancel();
            let scanned = scan.await;
            let last = match end {
                Ended::Gone => return,
                Ended::Done(reason, progress) => match (reason, scanned) {
                    (SearchEnd::End, Ok(Err(ReadError::TimedOut))) => {
                        SearchEvent::Done(SearchDone {
                            reason: SearchEnd::TimedOut,
                            progress,
                        })
                    }
                    (SearchEnd::End, Ok(Err(err))) => SearchEvent::Error {
                        message: format!("the search failed: {err}"),
                    },
                    (SearchEnd::End, Err(err)) => SearchEvent::Error {
                        message: format!("the search failed: {err}"),
                    },
                    (reason, _) => SearchEvent::Done(SearchDone { reason, progress }),
                },
            };
            let _ = events.send(last).await;
        });
        Ok(receiver)
    }
}

/// Decrements a gauge when dropped (a task that panics too).
struct Decrement(Gauge);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// How the testing ended.
enum Ended {
    /// The client went away.
    Gone,
    /// The scan ended (`End`, whether or not it failed), the limit was
    /// reached, or the filter was stopped.
    Done(SearchEnd, SearchProgress),
}

/// Tests every batch the scan hands on and sends the matches, with
/// progress every [`PROGRESS_EVERY`], until the scan ends, `limit` matches
/// were sent, or the client goes away.
async fn test_and_send(
    mut scanned: mpsc::Receiver<(Vec<Scanned>, Vec<PartitionOffset>)>,
    mut filter: Option<FilterProcess>,
    limit: usize,
    schemas: &Schemas,
    events: &mpsc::Sender<SearchEvent>,
) -> Ended {
    let began = Instant::now();
    let mut progress = SearchProgress::default();
    let mut reported = Instant::now();
    let stamp = |progress: &mut SearchProgress| {
        let elapsed = began.elapsed();
        progress.elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        progress.records_per_second = progress.scanned as f64 / elapsed.as_secs_f64().max(1e-3);
    };
    while let Some((batch, positions)) = scanned.recv().await {
        let (records, documents): (Vec<_>, Vec<Bytes>) = batch
            .into_iter()
            .map(|mut s| {
                let document = Bytes::from(std::mem::take(&mut s.document));
                (s, document)
            })
            .unzip();
        let (verdicts, stopped) = match filter.as_mut() {
            // Tested by the scan, or no filter: every record matches.
            None => (
                records
                    .iter()
                    .map(|r| match &r.tested {
                        None | Some(Tested::Match) => Verdict::Match,
                        Some(Tested::NoMatch) => Verdict::NoMatch,
                        Some(Tested::Skipped(why)) => Verdict::Skipped(why.clone()),
                    })
                    .collect(),
                false,
            ),
            Some(process) => {
                let mut verdicts = Vec::with_capacity(records.len());
                let mut stopped = false;
                for chunk in documents.chunks(MAX_BATCH) {
                    // A client that leaves stops the filter at once, not
                    // after the batch.
                    let tested = tokio::select! {
                        _ = events.closed() => return Ended::Gone,
                        tested = process.test(chunk) => tested,
                    };
                    match tested {
                        Ok(v) => verdicts.extend(v),
                        Err((v, why)) => {
                            verdicts.extend(v);
                            progress.last_error = Some(why.0);
                            stopped = true;
                            break;
                        }
                    }
                }
                (verdicts, stopped)
            }
        };
        for (record, verdict) in records.into_iter().zip(verdicts) {
            progress.scanned += 1;
            match verdict {
                Verdict::Match => {
                    progress.matched += 1;
                    let Some(live) = record.to_live(schemas).await else {
                        continue;
                    };
                    if events
                        .send(SearchEvent::Match(Box::new(live)))
                        .await
                        .is_err()
                    {
                        return Ended::Gone;
                    }
                    if progress.matched as usize >= limit {
                        progress.positions = positions;
                        stamp(&mut progress);
                        return Ended::Done(SearchEnd::Limit, progress);
                    }
                }
                Verdict::NoMatch => {}
                Verdict::Skipped(why) => {
                    progress.skipped += 1;
                    progress.last_error = Some(why);
                }
            }
        }
        progress.positions = positions;
        if stopped {
            stamp(&mut progress);
            return Ended::Done(SearchEnd::FilterStopped, progress);
        }
        if reported.elapsed() >= PROGRESS_EVERY {
            reported = Instant::now();
            stamp(&mut progress);
            if events
                .send(SearchEvent::Progress(progress.clone()))
                .await
                .is_err()
            {
                return Ended::Gone;
            }
        }
    }
    stamp(&mut progress);
    Ended::Done(SearchEnd::End, progress)
}
