//! Searching a topic's history (`GET /api/search`): exactly the records the
//! filter selects, in both directions and from each starting point, with
//! progress to the end; a search that is left stops reading; no group is
//! left on the broker; refusals before the first line.

use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use serde_json::json;
use wire::search::{SearchEnd, SearchEvent};
use wire::{ErrorBody, ErrorCode, Payload};

use crate::helpers::*;
use crate::metrics::{sample, scrape};

/// How many records the tests' topic holds, over 3 partitions.
const RECORDS: i64 = 300;
/// The first record's timestamp; record `n` is `base() + n` ms. An hour
/// ago, not a fixed date: the broker's retention (7 days) deletes a segment
/// whose newest timestamp is older than that, even mid-test, the active one
/// too, and the topic would lose its first records under the search.
fn base() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970");
        i64::try_from(now.as_millis()).expect("ms fit i64") - 3_600_000
    })
}

/// `select(.value.n % 7 == 0)` over records `n = 0..RECORDS`, record `n`
/// on partition `n % 3` at timestamp `base() + n`: the gateway's topic, made.
async fn topic_of_numbered_records(app: &TestApp) {
    app.wait_healthy().await;
    let producer = producer();
    for n in 0..RECORDS {
        let value = json!({"n": n, "total_cents": n * 100}).to_string();
        let key = format!("customer-{}", n % 10);
        let partition = i32::try_from(n % 3).expect("small");
        producer
            .send(
                FutureRecord::to(&app.topic)
                    .partition(partition)
                    .key(&key)
                    .payload(&value)
                    .timestamp(base() + n),
                Timeout::After(PATIENCE),
            )
            .await
            .expect("produce");
    }
}

/// The lines of `GET /api/search?{query}`, read to the end.
async fn search(app: &TestApp, query: &str) -> Vec<SearchEvent> {
    let response = app.get(&format!("/api/search?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-ndjson")
    );
    let text = response.text().await.expect("body");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a SearchEvent"))
        .collect()
}

/// The `n` of each match, in the order they came, and the last event.
fn matches(events: &[SearchEvent]) -> (Vec<i64>, &SearchEvent) {
    let ns = events
        .iter()
        .filter_map(|e| match e {
            SearchEvent::Match(record) => match &record.payload {
                Payload::Json { value } => value.tree()["n"].as_i64(),
                other => panic!("expected JSON, got {other:?}"),
            },
            _ => None,
        })
        .collect();
    (ns, events.last().expect("a last event"))
}

fn done(last: &SearchEvent) -> (SearchEnd, u64) {
    match last {
        SearchEvent::Done(done) => (done.reason, done.progress.scanned),
        other => panic!("expected done, got {other:?}"),
    }
}

fn filter(f: &str) -> String {
    format!(
        "filter={}",
        form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_finds_exactly_the_matches_in_both_directions_from_each_start() {
    let app = spawn_app().await;
    topic_of_numbered_records(&app).await;
    let sevens = filter("select(.value.n % 7 == 0)");
    let expected: Vec<i64> = (0..RECORDS).filter(|n| n % 7 == 0).collect();

    // The whole topic, oldest first: merged across partitions by time.
    let events = search(&app, &format!("{sevens}&limit=1000")).await;
    let SearchEvent::Started { total, ranges, .. } = &events[0] else {
        panic!("expected started, got {:?}", events[0]);
    };
    assert_eq!(*total, RECORDS as u64);
    assert_eq!(ranges.len(), 3);
    let (found, last) = matches(&events);
    assert_eq!(found, expected);
    assert_eq!(
        done(last),
        (SearchEnd::End, RECORDS as u64),
        "progress to 100%"
    );
    let SearchEvent::Done(end) = last else {
        unreachable!()
    };
    for range in ranges {
        let at = end
            .progress
            .positions
            .iter()
            .find(|p| p.partition == range.partition);
        assert_eq!(at.map(|p| p.offset), Some(range.to), "{range:?}");
    }

    // Newest first: the same records, the other way.
    let events = search(&app, &format!("{sevens}&limit=1000&direction=newest")).await;
    let (found, last) = matches(&events);
    assert_eq!(found, expected.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(done(last), (SearchEnd::End, RECORDS as u64));

    // From a time, until another: records n in [100, 200).
    let events = search(
        &app,
        &format!(
            "{sevens}&from=timestamp&timestamp_ms={}&until_ms={}",
            base() + 100,
            base() + 200
        ),
    )
    .await;
    let (found, _) = matches(&events);
    let window: Vec<i64> = expected
        .iter()
        .copied()
        .filter(|n| (100..200).contains(n))
        .collect();
    assert_eq!(found, window);

    // From an offset of one partition: partition 1 holds n = 1, 4, 7, ...
    // at offsets 0, 1, 2, ...; from offset 10, n >= 31.
    let events = search(&app, &format!("{sevens}&from=offset&partition=1&offset=10")).await;
    let (found, _) = matches(&events);
    let from_offset: Vec<i64> = expected
        .iter()
        .copied()
        .filter(|n| n % 3 == 1 && *n >= 31)
        .collect();
    assert_eq!(found, from_offset);

    // A limit stops the scan at that many matches, newest first too.
    let events = search(&app, &format!("{sevens}&limit=5&direction=newest")).await;
    let (found, last) = matches(&events);
    assert_eq!(
        found,
        expected.iter().rev().take(5).copied().collect::<Vec<_>>()
    );
    assert_eq!(done(last).0, SearchEnd::Limit);

    // Without a filter every record matches; a key test too.
    let events = search(&app, "limit=1000").await;
    assert_eq!(matches(&events).0.len(), RECORDS as usize);
    let events = search(&app, &filter(r#"select(.key == "customer-3")"#)).await;
    let (found, _) = matches(&events);
    assert_eq!(
        found,
        (0..RECORDS).filter(|n| n % 10 == 3).collect::<Vec<_>>()
    );

    // A value written over several lines is one line of the answer.
    producer()
        .send(
            FutureRecord::<str, str>::to(&app.topic).payload("{\n  \"n\": 7000\r\n}\n"),
            Timeout::After(PATIENCE),
        )
        .await
        .expect("produce");
    let events = search(&app, &filter("select(.value.n == 7000)")).await;
    assert_eq!(matches(&events).0, vec![7000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_the_scan_tests_itself_finds_what_a_worker_finds() {
    let app = spawn_app().await;
    topic_of_numbered_records(&app).await;
    // `.value.n` of a text value is jq's error: skipped, and counted.
    produce_raw(&app.topic, Some(0), Some("customer-3"), b"plain text").await;
    let test = r#".value.n > 150 and .key == "customer-3" or .value.n == 7"#;
    // Lookups and comparisons: tested by the scan in the gateway.
    let in_scan = format!("select({test})");
    // The same test through `not | not`, which only a worker runs.
    let in_worker = format!("select(({test}) | not | not)");
    let expected: Vec<i64> = (0..RECORDS)
        .filter(|n| (*n > 150 && n % 10 == 3) || *n == 7)
        .collect();
    for direction in ["oldest", "newest"] {
        let [a, b] = [&in_scan, &in_worker]
            .map(|f| format!("{}&limit=1000&direction={direction}", filter(f)));
        let (scan_events, worker_events) = (search(&app, &a).await, search(&app, &b).await);
        let (found, last) = matches(&scan_events);
        let (by_worker, worker_last) = matches(&worker_events);
        let mut sorted = found.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected, "{direction}");
        assert_eq!(
            found, by_worker,
            "{direction}: the same records in the same order"
        );
        let [SearchEvent::Done(scan_done), SearchEvent::Done(worker_done)] = [last, worker_last]
        else {
            panic!("expected done: {last:?} {worker_last:?}");
        };
        assert_eq!(scan_done.progress.scanned, RECORDS as u64 + 1);
        assert_eq!(
            (scan_done.progress.matched, scan_done.progress.skipped),
            (worker_done.progress.matched, worker_done.progress.skipped)
        );
        assert_eq!(scan_done.progress.skipped, 1, "{direction}");
        assert_eq!(
            scan_done.progress.last_error,
            worker_done.progress.last_error
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_merges_partitions_far_apart_in_time_in_order() {
    // 7,500 records a partition, each partition's all older than the
    // next's: oldest first reads partition 0 to its end while the others
    // hold what they read ahead (and wait), newest first the other way.
    const PER_PARTITION: i64 = 7_500;
    let app = spawn_app().await;
    app.wait_healthy().await;
    let producer = producer();
    let mut sends = Vec::new();
    for p in 0..3_i64 {
        for n in 0..PER_PARTITION {
            let value = json!({"p": p, "n": n}).to_string();
            let record = FutureRecord::<str, str>::to(&app.topic)
                .partition(i32::try_from(p).expect("small"))
                .payload(&value)
                .timestamp(base() + p * 1_000_000 + n);
            sends.push(
                producer
                    .send_result(record)
                    .map_err(|(e, _)| e)
                    .expect("queued"),
            );
        }
    }
    for sent in sends {
        sent.await.expect("delivered").expect("acknowledged");
    }
    let every_50th = filter("select(.value.n % 50 == 0) | .value");
    let order = |events: &[SearchEvent]| -> Vec<(i64, i64)> {
        events
            .iter()
            .filter_map(|e| match e {
                SearchEvent::Match(r) => match &r.payload {
                    Payload::Json { value } => {
                        let value = value.tree();
                        Some((value["p"].as_i64()?, value["n"].as_i64()?))
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect()
    };
    let expected: Vec<(i64, i64)> = (0..3)
        .flat_map(|p| {
            (0..PER_PARTITION)
                .filter(|n| n % 50 == 0)
                .map(move |n| (p, n))
        })
        .collect();
    let events = search(&app, &format!("{every_50th}&limit=10000")).await;
    assert_eq!(order(&events), expected);
    assert_eq!(
        done(events.last().expect("done")),
        (SearchEnd::End, 3 * PER_PARTITION as u64)
    );
    let events = search(&app, &format!("{every_50th}&limit=10000&direction=newest")).await;
    assert_eq!(
        order(&events),
        expected.iter().rev().copied().collect::<Vec<_>>()
    );
    assert_eq!(
        done(events.last().expect("done")),
        (SearchEnd::End, 3 * PER_PARTITION as u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_that_is_left_stops_reading_and_leaves_no_group() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    // More records than the search's queues hold, so that the scan is
    // still reading when the client leaves.
    let producer = producer();
    let sends: Vec<_> = (0..20_000)
        .map(|n| {
            let value = json!({"n": n}).to_string();
            producer
                .send_result(FutureRecord::<str, str>::to(&app.topic).payload(&value))
                .map_err(|(err, _)| err)
                .expect("queued")
        })
        .collect();
    for sent in sends {
        sent.await.expect("delivered").expect("acknowledged");
    }
    let slow = filter("([range(2000)] | length) < 0");
    let response = app.get(&format!("/api/search?{slow}")).await;
    assert_eq!(response.status(), 200);
    let mut body = response;
    let first = body.chunk().await.expect("read").expect("a first line");
    assert!(String::from_utf8_lossy(&first).contains("\"started\""));
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "kafka_flow_searches_running"), Some(1.0));
    assert_eq!(
        sample(&text, "kafka_flow_history_reads"),
        Some(1.0),
        "the search reads"
    );
    drop(body);
    until("the search to stop, and its read", || async {
        let text = scrape(&app).await;
        (sample(&text, "kafka_flow_searches_running") == Some(0.0)
            && sample(&text, "kafka_flow_history_reads") == Some(0.0))
        .then_some(())
    })
    .await;

    // Searching joined no group and committed nothing.
    let groups = kafka_tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        &["--list"],
    )
    .await;
    let listed = String::from_utf8_lossy(&groups.stdout);
    assert!(!listed.contains("kafka-flow-search"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_is_refused_before_its_first_line_saying_why() {
    let app = spawn_app().await;
    topic_of_numbered_records(&app).await;
    let refused = |query: String| {
        let app = &app;
        async move {
            let response = app.get(&format!("/api/search?{query}")).await;
            let status = response.status().as_u16();
            let body: ErrorBody = response.json().await.expect("the error shape");
            (status, body)
        }
    };
    let (status, body) = refused(filter("select(.value.n >)")).await;
    assert_eq!((status, body.field.as_deref()), (422, Some("filter")));
    assert!(
        body.message.starts_with("at character 18"),
        "{}",
        body.message
    );
    let (status, body) = refused(format!("{}&from=offset&partition=9&offset=0", filter("."))).await;
    assert_eq!((status, body.field.as_deref()), (422, Some("partition")));
    let (status, body) = refused("topic=no-such-topic-here".into()).await;
    assert_eq!((status, body.code), (404, ErrorCode::NotFound));
    let (status, body) = refused("limit=0".into()).await;
    assert_eq!((status, body.field.as_deref()), (422, Some("limit")));

    // One search per client address at a time, for all of its time: also
    // once Kafka is read to the end and the filter still tests (about
    // 10 ms a record, 3 s for the 300).
    let slow = filter("([range(100000)] | length) < 0");
    let running = app.get(&format!("/api/search?{slow}")).await;
    assert_eq!(running.status(), 200);
    until("the search's read to end while it still tests", || async {
        let text = scrape(&app).await;
        (sample(&text, "kafka_flow_history_reads") == Some(0.0)
            && sample(&text, "kafka_flow_searches_running") == Some(1.0))
        .then_some(())
    })
    .await;
    let (status, body) = refused(filter(".")).await;
    assert_eq!((status, body.code), (503, ErrorCode::Busy), "{body:?}");
    drop(running);
    until("the search to end with its client", || async {
        (sample(&scrape(&app).await, "kafka_flow_searches_running") == Some(0.0)).then_some(())
    })
    .await;
    let events = search(&app, &filter(".value.n == 7")).await;
    assert_eq!(matches(&events).0, [7]);
}
