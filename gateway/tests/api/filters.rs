//! Live filters (`/ws?filter=…`): the records jq would select, errors that
//! say where, filters that cannot hang or crash the gateway, one feed per
//! filter shared by its clients, and bounds.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::{Value, json};
use wire::stream::FilterStatus;
use wire::{ErrorCode, LiveRecord, Payload, ServerMessage};

use crate::helpers::*;
use crate::metrics::{sample, scrape};
use crate::watching::{probe, refused};

/// `filter=F`, encoded for a query string.
fn filter_param(filter: &str) -> String {
    format!(
        "filter={}",
        form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
    )
}

/// Produces `values` to partition 0 of `topic` in order, through one
/// producer.
async fn produce_values(topic: &str, values: impl IntoIterator<Item = Value>) {
    use rdkafka::producer::FutureRecord;
    let producer = producer();
    let texts: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
    let sends: Vec<_> = texts
        .iter()
        .map(|text| {
            producer
                .send_result(
                    FutureRecord::<str, str>::to(topic)
                        .partition(0)
                        .payload(text),
                )
                .map_err(|(err, _)| err)
                .expect("queued")
        })
        .collect();
    for sent in sends {
        sent.await.expect("delivered").expect("acknowledged");
    }
}

/// A client of the gateway's topic with `filter`, past its hello.
async fn filtered(app: &TestApp, filter: &str) -> LiveClient {
    app.live_with(&filter_param(filter)).await.0
}

/// Reads `client` until its filter's status satisfies `done`; the records
/// it sent meanwhile, and that status.
async fn until_status(
    client: &mut LiveClient,
    done: impl Fn(&FilterStatus) -> bool,
) -> (Vec<LiveRecord>, FilterStatus) {
    let mut records = Vec::new();
    loop {
        match client.next_message().await {
            ServerMessage::Record(record) => records.push(record),
            ServerMessage::Filter(status) if done(&status) => return (records, status),
            ServerMessage::Filter(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// What Debian's `jq -c FILTER` prints for these inputs, one a line (an
/// input it fails on is skipped, as jq goes on with the next).
fn jq(filter: &str, inputs: &[Value]) -> Vec<Value> {
    let mut child = std::process::Command::new("jq")
        .args(["-c", filter])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("jq (apt-get install jq)");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for input in inputs {
            writeln!(stdin, "{input}").expect("write to jq");
        }
    }
    let output = child.wait_with_output().expect("jq ran");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("jq prints JSON"))
        .collect()
}

fn value(record: &LiveRecord) -> Value {
    match &record.payload {
        Payload::Json { value } => value.tree().into_owned(),
        other => panic!("expected JSON, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_filter_streams_exactly_the_records_jq_selects() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut client = filtered(&app, "select(.value.total_cents > 10000)").await;
    let (_, started) = until_status(&mut client, |_| true).await;
    assert_eq!(started.tested, 0);

    // Values of every shape a producer may write: jq's own comparison
    // rules decide (a string is greater than any number, null less).
    let values = [
        json!({"total_cents": 5000}),
        json!({"total_cents": 15000}),
        json!({"total_cents": 10000}),
        json!({"total_cents": 10000.5}),
        json!({"total_cents": null}),
        json!({"total_cents": "20000"}),
        json!({"other": 1}),
        json!({"total_cents": [1]}),
        json!({"total_cents": {"a": 1}}),
        json!([1, 2]),
        json!(12),
        json!({"total_cents": 99999, "nested": {"deep": [1, {"x": true}]}}),
    ];
    for (i, v) in values.iter().enumerate() {
        let partition = i32::try_from(i % 3).expect("small");
        produce_raw(&app.topic, Some(partition), None, v.to_string().as_bytes()).await;
    }
    // Text a JSON filter cannot index: skipped and counted, as jq skips it.
    produce_raw(&app.topic, Some(0), None, b"new order created!").await;
    let all = values.len() as u64 + 1;

    let (records, status) = until_status(&mut client, |s| s.tested == all).await;
    let expected = jq("select(.total_cents > 10000)", &values);
    let got: Vec<Value> = records.iter().map(value).collect();
    let (got_set, expected_set): (BTreeSet<String>, BTreeSet<String>) = (
        got.iter().map(Value::to_string).collect(),
        expected.iter().map(Value::to_string).collect(),
    );
    assert_eq!(got_set, expected_set, "matched vs jq");
    assert_eq!(got.len(), expected.len());
    assert_eq!(status.matched, expected.len() as u64);
    // Skipped: the array, the number and the text (jq fails on each).
    assert_eq!(status.skipped, 3, "{status:?}");
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("index")),
        "{status:?}"
    );
    assert_eq!(status.not_tested, 0);
}

#[tokio::test]
async fn a_filter_that_does_not_compile_is_422_naming_where_and_why() {
    let app = spawn_app().await;
    for (filter, at) in [
        ("select(.value.total_cents >)", "at character 28"),
        ("nosuchfilter(1)", "at character 1"),
    ] {
        let query = filter_param(filter);
        for (status, body) in [refused(&app, &query).await, probe(&app, &query).await] {
            assert_eq!(status, 422, "{filter}: {body:?}");
            assert_eq!(body.code, ErrorCode::InvalidField);
            assert_eq!(body.field.as_deref(), Some("filter"));
            assert!(body.message.starts_with(at), "{filter}: {}", body.message);
        }
    }
    let (status, body) = refused(&app, &format!("{}&resume=0:0", filter_param("."))).await;
    assert_eq!((status, body.field.as_deref()), (422, Some("filter")));
    assert!(body.message.contains("resume"), "{}", body.message);
    let long = format!(". {}", "| . ".repeat(1000));
    let (status, body) = refused(&app, &filter_param(&long)).await;
    assert_eq!((status, body.field.as_deref()), (422, Some("filter")));
    // A filter that compiles: the probe says the stream would be served.
    assert_eq!(probe(&app, &filter_param(".key == \"a\"")).await.0, 426);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_filter_can_hang_or_crash_the_gateway() {
    let app = spawn_with(|c| c.max_live_filters_per_address = 8).await;
    app.wait_healthy().await;
    let hostile = [
        "def f: f; f",
        "last(range(1e12))",
        "[limit(1e9; repeat(1))] | length > 0",
        "def f: [f]; f",
        // Parsing a deeply nested value (given to filters as text).
        "(.value | fromjson) != null",
    ];
    let mut clients = Vec::new();
    for filter in hostile {
        clients.push((filter, filtered(&app, filter).await));
    }
    let mut everything = app.live(0).await;
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    // Three records in a row that each filter fails on stop it for good.
    for _ in 0..3 {
        produce_raw(&app.topic, Some(0), None, deep.as_bytes()).await;
    }
    for (filter, client) in &mut clients {
        let (records, status) = until_status(client, |s| s.stopped.is_some()).await;
        assert!(records.is_empty(), "{filter} matched {records:?}");
        assert_eq!(status.skipped, 3, "{filter}: {status:?}");
        assert!(
            status.last_error.is_some() && status.stopped.is_some(),
            "{filter}: {status:?}"
        );
    }
    // The gateway never stopped serving: every record reached the
    // unfiltered client, and orders are taken.
    for _ in 0..3 {
        everything.next_record().await;
    }
    assert_eq!(app.post_order(&order("after")).await.status(), 202);
    let record = everything.next_record().await;
    assert_eq!(record.key.as_deref(), Some("after"));
    assert_eq!(app.health().await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_with_one_filter_share_it_and_filters_are_bounded() {
    let app = spawn_with(|c| {
        c.max_live_filters_per_address = 2;
    })
    .await;
    app.wait_healthy().await;
    let live_filters = || async { sample(&scrape(&app).await, "kafka_flow_live_filters") };
    let mut a = filtered(&app, r#"select(.key == "customer-42")"#).await;
    let mut b = filtered(&app, r#"select(.key == "customer-42")"#).await;
    assert_eq!(live_filters().await, Some(1.0), "one feed for both");
    let c = filtered(&app, ".partition == 0").await;
    assert_eq!(live_filters().await, Some(2.0));
    // A third distinct filter from this address is over its bound.
    let query = filter_param(".offset > 1");
    for (status, body) in [refused(&app, &query).await, probe(&app, &query).await] {
        assert_eq!((status, body.code), (503, ErrorCode::Busy), "{body:?}");
    }

    for customer in ["customer-1", "customer-42", "customer-7"] {
        assert_eq!(app.post_order(&order(customer)).await.status(), 202);
    }
    for client in [&mut a, &mut b] {
        let (records, status) = until_status(client, |s| s.tested == 3).await;
        let keys: Vec<_> = records.iter().map(|r| r.key.as_deref()).collect();
        assert_eq!(keys, [Some("customer-42")]);
        assert_eq!(status.matched, 1);
    }
    let tested = sample(&scrape(&app).await, "kafka_flow_filter_tested_total");
    assert!(
        tested.is_some_and(|t| (3.0..=6.0).contains(&t)),
        "each record tested once per filter, not per client: {tested:?}"
    );
    // A filter stops with its last client.
    drop((a, b, c));
    until("the filters to stop", || async {
        (live_filters().await == Some(0.0)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_filter_is_timed_per_record_not_per_burst() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    // Some milliseconds a record: a burst of 100 takes over a second in
    // all, each record well under its second.
    let mut client = filtered(&app, "([range(200000)] | length) > 0").await;
    until_status(&mut client, |_| true).await;
    produce_values(&app.topic, (0..100).map(|n| json!({"n": n}))).await;
    let (mut records, status) =
        until_status(&mut client, |s| s.tested == 100 || s.stopped.is_some()).await;
    assert_eq!(status.stopped, None, "{status:?}");
    assert_eq!((status.matched, status.skipped), (100, 0), "{status:?}");
    // (A status may overtake the last records.)
    while records.len() < 100 {
        records.push(client.next_record().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_ends_the_worker_is_the_one_skipped() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let mut client = filtered(&app, "if .value.n == 5 then halt else true end").await;
    until_status(&mut client, |_| true).await;
    produce_values(&app.topic, (0..20).map(|n| json!({"n": n}))).await;
    let (mut records, status) = until_status(&mut client, |s| s.tested == 20).await;
    while records.len() < 19 {
        records.push(client.next_record().await);
    }
    let ns: Vec<i64> = records
        .iter()
        .filter_map(|r| value(r)["n"].as_i64())
        .collect();
    assert_eq!(ns, (0..20).filter(|&n| n != 5).collect::<Vec<_>>());
    assert_eq!(
        (status.matched, status.skipped, status.stopped.clone()),
        (19, 1, None),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_filter_starts_anew_for_a_new_client() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let filter = "if .value.bad then halt else true end";
    let mut first = filtered(&app, filter).await;
    until_status(&mut first, |_| true).await;
    for _ in 0..3 {
        produce_raw(&app.topic, Some(0), None, br#"{"bad": true}"#).await;
    }
    until_status(&mut first, |s| s.stopped.is_some()).await;
    // The first client keeps its stopped filter; a new one gets it running.
    let mut second = filtered(&app, filter).await;
    let (_, status) = until_status(&mut second, |_| true).await;
    assert_eq!(
        (status.stopped.clone(), status.tested),
        (None, 0),
        "{status:?}"
    );
    produce_raw(&app.topic, Some(0), None, br#"{"bad": false}"#).await;
    let (records, _) = until_status(&mut second, |s| s.matched == 1).await;
    if records.is_empty() {
        second.next_record().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_opened_at_once_from_one_address_are_counted_at_once() {
    let app = spawn_with(|c| c.max_live_filters_per_address = 2).await;
    app.wait_healthy().await;
    let opens = (0..8).map(|i| {
        let url = format!(
            "ws://{}/ws?{}",
            app.addr,
            filter_param(&format!(".offset != {i}"))
        );
        async move {
            tokio_tungstenite::connect_async(url)
                .await
                .ok()
                .map(|(socket, _)| socket)
        }
    });
    let opened: Vec<_> = futures_util::future::join_all(opens)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(
        opened.len(),
        2,
        "two filters for this address, however fast it asks"
    );
    assert_eq!(
        sample(&scrape(&app).await, "kafka_flow_live_filters"),
        Some(2.0)
    );
}
