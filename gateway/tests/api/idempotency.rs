//! `Idempotency-Key` on `POST /api/orders`, against real brokers: a retry
//! of an acknowledged order writes nothing new, on any gateway of the topic;
//! a retry after an in-doubt timeout may write a second record, with the
//! same order id, and the demo services process the order once.

use gateway::config::ServiceSpec;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use serde_json::Value;
use wire::services::ServiceView;
use wire::{ErrorBody, ErrorCode, Order, OrderAccepted, headers};

use crate::broker::PrivateCluster;
use crate::helpers::*;

async fn post_with_key(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/orders"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("POST /api/orders")
}

/// The answer's `Idempotent-Replayed` header.
fn replayed(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_retry_with_the_same_key_gets_the_first_acknowledgement_and_writes_nothing() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let body = order("retrying-customer");

    let first = post_with_key(&app, "key-1", &body).await;
    assert_eq!(first.status(), 202);
    assert_eq!(replayed(&first), None);
    let first: OrderAccepted = first.json().await.expect("ack");

    let retry = post_with_key(&app, "key-1", &body).await;
    assert_eq!(retry.status(), 202);
    assert_eq!(replayed(&retry), Some("true"));
    let retry: OrderAccepted = retry.json().await.expect("ack");
    assert_eq!(retry, first);

    // The same key with another order is refused; another key is another order.
    let response = post_with_key(&app, "key-1", &order("someone-else")).await;
    assert_eq!(response.status(), 422);
    let error: ErrorBody = response.json().await.expect("error body");
    assert_eq!(error.field.as_deref(), Some("Idempotency-Key"));
    assert_eq!(post_with_key(&app, "key-2", &body).await.status(), 202);

    let records = read_topic(&app.topic).await;
    assert_eq!(records.len(), 2, "one record per key");
    let metrics = crate::metrics::scrape(&app).await;
    assert_eq!(
        crate::metrics::sample(&metrics, "kafka_flow_idempotent_replays_total"),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_key_place_one_order() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let body = order("double-clicker");
    let requests = (0..10).map(|_| post_with_key(&app, "one-key", &body));
    let responses = futures_util::future::join_all(requests).await;

    let mut acks = Vec::new();
    for response in responses {
        match response.status().as_u16() {
            202 => acks.push(response.json::<OrderAccepted>().await.expect("ack")),
            409 => {
                let error: ErrorBody = response.json().await.expect("error body");
                assert_eq!(error.code, ErrorCode::Conflict);
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(!acks.is_empty());
    assert!(acks.iter().all(|a| *a == acks[0]), "{acks:?}");
    // Every request has settled, and one order was written.
    assert_eq!(record_count(&app.topic), 1);
}

#[tokio::test]
async fn malformed_keys_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    for key in ["", "has space", &"k".repeat(129)] {
        let response = post_with_key(&app, key, &order("c")).await;
        assert_eq!(response.status(), 422, "{key:?}");
        let error: ErrorBody = response.json().await.expect("error body");
        assert_eq!(error.field.as_deref(), Some("Idempotency-Key"));
    }
    // Two keys: which one would the order be placed under?
    let response = app
        .http
        .post(app.url("/api/orders"))
        .header("idempotency-key", "one")
        .header("idempotency-key", "two")
        .json(&order("c"))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 422);
    let error: ErrorBody = response.json().await.expect("error body");
    assert_eq!(error.field.as_deref(), Some("Idempotency-Key"));
    // A batch would ignore a key, so it is refused rather than dropped.
    let response = app
        .http
        .post(app.url("/api/orders/batch"))
        .header("idempotency-key", "batch-key")
        .json(&serde_json::json!({ "orders": [order("c")] }))
        .send()
        .await
        .expect("POST batch");
    assert_eq!(response.status(), 422);
    let error: ErrorBody = response.json().await.expect("error body");
    assert_eq!(error.field.as_deref(), Some("Idempotency-Key"));
    assert_eq!(record_count(&app.topic), 0);
}

/// One demo service, `billing`: no processing time, no failures, one member.
fn billing() -> Vec<ServiceSpec> {
    vec![ServiceSpec {
        name: "billing".into(),
        processing_ms: 0,
        failure_rate: 0.0,
        members: 1,
        protocol: None,
    }]
}

/// Waits until the service has handled `records` records, processed or
/// dropped as duplicates.
async fn handled(app: &TestApp, records: u64) -> ServiceView {
    until("the service to handle every record", || async {
        let s = app.service("billing").await;
        (s.processed + s.duplicates_dropped >= records).then_some(s)
    })
    .await
}

/// Creates `topic` with one partition on the nodes `replicas`, the first
/// its leader.
async fn create_led_by(brokers: &str, topic: &str, replicas: &[i32], configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> =
        client_config_at(brokers).create().expect("admin");
    let assignment: &[&[i32]] = &[replicas];
    let topic_spec = configs.iter().fold(
        NewTopic::new(topic, 1, TopicReplication::Variable(assignment)),
        |spec, (key, value)| spec.set(key, value),
    );
    let options = AdminOptions::new().operation_timeout(Some(PATIENCE));
    for result in admin
        .create_topics([&topic_spec], &options)
        .await
        .expect("create topics")
    {
        result.expect("topic created");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_an_in_doubt_timeout_has_the_same_order_id_and_is_processed_once() {
    let cluster = PrivateCluster::new();
    cluster.start().await;
    let brokers = cluster.brokers();
    let topic = unique("in-doubt");
    // The order's partition is led by node 2 and the key log by node 1:
    // pausing node 2 stalls the order's write, not the check of its key.
    create_led_by(&brokers, &topic, &[2, 1, 3], &[]).await;
    create_led_by(
        &brokers,
        &format!("{topic}-idempotency-keys"),
        &[1, 2, 3],
        &[("cleanup.policy", "compact,delete")],
    )
    .await;
    let app = spawn_with(|c| {
        c.brokers = brokers.clone();
        c.topic = topic.clone();
        c.replication_factor = 3;
        // Under the brokers' 9 s session timeout: node 2 stays the leader.
        c.delivery_timeout_ms = 2_500;
        c.no_services = false;
        c.services = billing();
    })
    .await;
    app.wait_healthy().await;
    assert_eq!(
        post_with_key(&app, "warm-up", &order("w")).await.status(),
        202
    );

    // SIGSTOP: the broker takes the request and says nothing.
    let body = order("in-doubt-customer");
    cluster.nodes[1].pause();
    let first = post_with_key(&app, "retry-me", &body).await;
    let status = first.status();
    let error: ErrorBody = first.json().await.expect("error body");
    cluster.nodes[1].resume();
    assert_eq!(status, 503, "{error:?}");
    assert_eq!(error.code, ErrorCode::BrokerUnavailable);

    let retry = post_with_key(&app, "retry-me", &body).await;
    assert_eq!(retry.status(), 202);
    assert_eq!(replayed(&retry), None);
    let ack: OrderAccepted = retry.json().await.expect("ack");

    // The first attempt's record may have landed when the broker woke up
    // (before the retry's: one connection, in order); every record of the
    // key carries the same id, in its header and in its value.
    let records: Vec<_> = read_topic_at(&brokers, &topic)
        .await
        .into_iter()
        .filter(|m| header(m, headers::IDEMPOTENCY_KEY).as_deref() == Some("retry-me"))
        .collect();
    assert!(
        (1..=2).contains(&records.len()),
        "{} records",
        records.len()
    );
    for record in &records {
        assert_eq!(
            header(record, headers::ORDER_ID),
            Some(ack.order_id.clone())
        );
        let order: Order = serde_json::from_slice(record.payload().expect("value")).expect("order");
        assert_eq!(order.order_id, ack.order_id);
    }
    let duplicates = records.len() as u64 - 1;
    let service = handled(&app, 2 + duplicates).await;
    assert_eq!(service.processed, 2, "the warm-up and the order, once each");
    assert_eq!(service.duplicates_dropped, duplicates);
    eprintln!("records written for the key: {}", records.len());
    // Stopped while the cluster is up: a member leaving a cluster that is
    // gone waits for its coordinator on a blocking thread, which the test's
    // runtime would wait for in turn.
    app.shutdown().await.expect("a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_sent_to_another_gateway_gets_the_first_acknowledgement_and_writes_nothing() {
    let first = spawn_app().await;
    first.wait_healthy().await;
    let topic = first.topic.clone();
    let body = order("two-gateways");
    let placed = post_with_key(&first, "shared-key", &body).await;
    assert_eq!(placed.status(), 202);
    let placed: OrderAccepted = placed.json().await.expect("ack");

    // A gateway started since, asked at once: it has not read the key log
    // yet, and must before it decides.
    let second = spawn_with(|c| c.topic = topic.clone()).await;
    let retried = post_with_key(&second, "shared-key", &body).await;
    assert_eq!(retried.status(), 202);
    assert_eq!(replayed(&retried), Some("true"));
    let retried: OrderAccepted = retried.json().await.expect("ack");
    assert_eq!(retried, placed);
    // Another order under that key is refused there too.
    let reused = post_with_key(&second, "shared-key", &order("someone-else")).await;
    assert_eq!(reused.status(), 422);
    assert_eq!(record_count(&topic), 1);

    // The key log holds the key's hash and the acknowledgement, not the key.
    let keys = read_topic(&format!("{topic}-idempotency-keys")).await;
    assert_eq!(keys.len(), 1);
    let hash = keys[0].key().expect("record key");
    assert_eq!(hash.len(), 32);
    assert!(hash.iter().all(u8::is_ascii_hexdigit));
    let value: Value = serde_json::from_slice(keys[0].payload().expect("value")).expect("json");
    assert_eq!(value["order_id"], placed.order_id.as_str());
    assert_eq!(value["offset"], placed.offset);
    assert!(!String::from_utf8_lossy(keys[0].payload().expect("value")).contains("shared-key"));

    // Compacted, and deleted after the window: a segment rolls every window,
    // since Kafka deletes only closed segments.
    let admin: AdminClient<DefaultClientContext> = client_config().create().expect("admin");
    let key_log = format!("{topic}-idempotency-keys");
    let described = admin
        .describe_configs(
            [&rdkafka::admin::ResourceSpecifier::Topic(&key_log)],
            &AdminOptions::new().request_timeout(Some(PATIENCE)),
        )
        .await
        .expect("describe configs");
    let config = described[0].as_ref().expect("the key log's config");
    let value = |name: &str| config.get(name).and_then(|e| e.value.clone());
    assert_eq!(value("cleanup.policy").as_deref(), Some("compact,delete"));
    assert_eq!(value("retention.ms").as_deref(), Some("600000"));
    assert_eq!(value("segment.ms").as_deref(), Some("600000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_record_of_an_order_from_another_producer_is_dropped_and_counted() {
    let app = spawn_with(|c| {
        c.no_services = false;
        c.services = billing();
    })
    .await;
    app.wait_healthy().await;
    let response = app.post_order(&order("copied")).await;
    assert_eq!(response.status(), 202);
    let ack: OrderAccepted = response.json().await.expect("ack");
    assert_eq!(handled(&app, 1).await.processed, 1);

    // The same record again, as another program's retry would write it.
    let original = read_topic(&app.topic).await.remove(0);
    let copied_headers = original.headers().map_or_else(OwnedHeaders::new, |h| {
        rdkafka::message::Headers::iter(h).fold(OwnedHeaders::new(), |all, header| {
            all.insert(Header {
                key: header.key,
                value: header.value,
            })
        })
    });
    producer()
        .send(
            FutureRecord::to(&app.topic)
                .partition(ack.partition)
                .key(original.key().expect("key"))
                .payload(original.payload().expect("value"))
                .headers(copied_headers),
            Timeout::After(PATIENCE),
        )
        .await
        .expect("produce the copy");

    let service = handled(&app, 2).await;
    assert_eq!(
        (
            service.processed,
            service.duplicates_dropped,
            service.redelivered
        ),
        (1, 1, 0)
    );

    // Ids are compared whole, as bytes: ones that would read alike once
    // shortened for the page, or once made text, are other orders; an empty
    // id names none.
    let long = "q".repeat(300);
    let ids: [&[u8]; 6] = [
        format!("{long}1").leak().as_bytes(),
        format!("{long}2").leak().as_bytes(),
        &[0xff, 0x01],
        &[0xfe, 0x01],
        b"",
        b"",
    ];
    for id in ids {
        producer()
            .send(
                FutureRecord::to(&app.topic)
                    .partition(0)
                    .key("odd")
                    .payload("{}")
                    .headers(OwnedHeaders::new().insert(Header {
                        key: headers::ORDER_ID,
                        value: Some(id),
                    })),
                Timeout::After(PATIENCE),
            )
            .await
            .expect("produce");
    }
    let service = handled(&app, 8).await;
    assert_eq!((service.processed, service.duplicates_dropped), (7, 1));
    // The same counters, for a scraper.
    let metrics = crate::metrics::scrape(&app).await;
    let series = |outcome: &str| {
        crate::metrics::sample(
            &metrics,
            &format!(
                "kafka_flow_service_records_total{{service=\"billing\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(
        (series("processed"), series("duplicates_dropped")),
        (Some(7.0), Some(1.0)),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_orders_and_replays_log_no_error() {
    // The key log's reader hears of the log's end at every key, and a
    // replay's reader at the end of each partition: that is no error, and an
    // operator's log must not fill with ERROR lines for it.
    let gateway = GatewayProcess::start(&brokers(), &["--no-services"]).await;
    gateway.wait_healthy().await;
    let client = reqwest::Client::new();
    for i in 0..3 {
        let response = client
            .post(gateway.url("/api/orders"))
            .header("idempotency-key", format!("quiet-{i}"))
            .json(&order("quiet"))
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 202);
    }
    let replay = client
        .get(gateway.url("/api/replay?limit=10"))
        .send()
        .await
        .expect("GET /api/replay");
    assert_eq!(replay.status(), 200);
    let (_, clean, log) = gateway.terminate(std::time::Duration::from_secs(25)).await;
    assert!(clean, "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_left_open_on_the_key_log_hides_no_key() {
    use rdkafka::producer::{FutureProducer, Producer};
    let first = spawn_app().await;
    first.wait_healthy().await;
    let topic = first.topic.clone();
    let second = spawn_with(|c| c.topic = topic.clone()).await;
    second.wait_healthy().await;

    // Some other program opens a transaction on the key log and never ends
    // it: a read_committed reader sees nothing past its first record.
    let hung: FutureProducer = client_config()
        .set("transactional.id", unique("hung"))
        .create()
        .expect("transactional producer");
    hung.init_transactions(PATIENCE).expect("init transactions");
    hung.begin_transaction().expect("begin");
    let key_log = format!("{topic}-idempotency-keys");
    hung.send(
        FutureRecord::to(&key_log).key("not-a-key").payload("open"),
        PATIENCE,
    )
    .await
    .expect("written in the open transaction");

    let body = order("behind-a-transaction");
    let placed = post_with_key(&first, "after-the-open-one", &body).await;
    assert_eq!(placed.status(), 202);
    let placed: OrderAccepted = placed.json().await.expect("ack");
    let retried = post_with_key(&second, "after-the-open-one", &body).await;
    assert_eq!(retried.status(), 202);
    assert_eq!(replayed(&retried), Some("true"));
    assert_eq!(retried.json::<OrderAccepted>().await.expect("ack"), placed);
    assert_eq!(record_count(&topic), 1);
    hung.abort_transaction(PATIENCE).expect("abort");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_does_not_wait_for_the_key_logs_fetch() {
    // Asked on the key log reader's own connection, where the log ends
    // waited behind its fetch, which an idle broker holds 500 ms: every
    // new key took half a second. Five in a row take well under that each.
    let app = spawn_app().await;
    app.wait_healthy().await;
    assert_eq!(post_with_key(&app, "warm", &order("w")).await.status(), 202);
    let started = std::time::Instant::now();
    for i in 0..5 {
        let response = post_with_key(&app, &format!("fresh-{i}"), &order("w")).await;
        assert_eq!(response.status(), 202);
    }
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_millis(1_500),
        "5 new keys took {took:?}"
    );
}
