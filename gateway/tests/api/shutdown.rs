//! Graceful shutdown: no acknowledged order is lost, clients are told.

use rdkafka::Message;
use tokio_tungstenite::tungstenite;
use wire::{OrderAccepted, headers};

use crate::helpers::*;

#[tokio::test]
async fn graceful_shutdown_loses_no_acknowledged_order() {
    let mut app = spawn_app().await;
    app.wait_healthy().await;

    // Many orders in flight, and the shutdown signal in the middle of them.
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..200 {
        let http = app.http.clone();
        let url = app.url("/api/orders");
        requests.spawn(async move {
            let response = http.post(url).json(&order(&format!("c-{i}"))).send().await;
            match response {
                Ok(r) if r.status() == 202 => Some(r.json::<OrderAccepted>().await.expect("ack")),
                _ => None,
            }
        });
    }
    let mut acked = Vec::new();
    // Wait for the first acknowledgement so the signal lands mid-load.
    while acked.is_empty() {
        if let Some(ack) = requests
            .join_next()
            .await
            .expect("a request")
            .expect("task")
        {
            acked.push(ack);
        }
    }
    app.trigger_shutdown();
    while let Some(result) = requests.join_next().await {
        if let Some(ack) = result.expect("task") {
            acked.push(ack);
        }
    }
    let topic = app.topic.clone();
    app.shutdown().await.expect("clean stop");

    let stored = read_topic(&topic).await;
    for ack in &acked {
        let found = stored
            .iter()
            .find(|m| m.partition() == ack.partition && m.offset() == ack.offset)
            .unwrap_or_else(|| panic!("acknowledged order {ack:?} is not in Kafka"));
        assert_eq!(
            header(found, headers::ORDER_ID).as_deref(),
            Some(ack.order_id.as_str())
        );
    }
    assert!(!acked.is_empty());
}

#[tokio::test]
async fn shutdown_closes_live_clients_with_a_close_frame() {
    let mut app = spawn_app().await;
    let mut live = app.live(0).await;
    app.trigger_shutdown();
    let frame = loop {
        match live.next_frame().await {
            tungstenite::Message::Close(frame) => break frame.expect("a close frame with a code"),
            _ => continue,
        }
    };
    assert_eq!(u16::from(frame.code), 1001);
    app.shutdown().await.expect("clean stop");
}

/// The longest a gateway takes to stop whatever its broker and its clients
/// do: the README says about 21 s (10 s for requests in flight, 10 s for
/// the demo members to commit and leave, 1 s for the rest); a few seconds
/// more here for a busy machine.
const STOP_BOUND: std::time::Duration = std::time::Duration::from_secs(25);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_whose_broker_hangs_stops_within_its_bound_and_says_what_it_could_not_do() {
    use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
    use rdkafka::{Offset, TopicPartitionList};

    use crate::broker::PrivateBroker;

    let broker = PrivateBroker::new(|_, _| String::new());
    broker.start().await;
    let brokers = broker.brokers();
    // The members commit only when they leave, so they have something to
    // commit when the broker hangs.
    let gateway = GatewayProcess::start(
        &brokers,
        &[
            "--service",
            "stopper:0:0:2",
            "--service-commit-interval-ms",
            "3600000",
        ],
    )
    .await;
    let (address, topic) = (gateway.address.clone(), gateway.topic.clone());
    let http = reqwest::Client::new();
    gateway.wait_healthy().await;

    // Groups the dashboard follows, each read with an offset fetch of its
    // own, and an order the demo members process.
    for i in 0..8 {
        let consumer: StreamConsumer = client_config_at(&brokers)
            .set("group.id", format!("{topic}-reader-{i}"))
            .create()
            .expect("consumer");
        let mut at = TopicPartitionList::new();
        at.add_partition_offset(&topic, 0, Offset::Offset(0))
            .expect("offset");
        consumer.commit(&at, CommitMode::Sync).expect("commit");
    }
    // Both members in, before the order: a member that joins later takes
    // partitions from the first, whose revoke commits what it processed,
    // and then nothing is left to fail at shutdown.
    until("both members to hold partitions", || async {
        let services: Vec<wire::services::ServiceView> = gateway.get_json("/api/services").await?;
        let service = services.first()?;
        (!service.changing
            && service.assignments.len() == 2
            && service.assignments.iter().all(|a| !a.partitions.is_empty()))
        .then_some(())
    })
    .await;
    let placed = http
        .post(format!("{address}/api/orders"))
        .json(&order("stopping"))
        .send()
        .await
        .expect("order");
    assert_eq!(placed.status(), 202);
    until("a member to process the order", || async {
        let services: Vec<wire::services::ServiceView> = gateway.get_json("/api/services").await?;
        (services.first()?.processed == 1).then_some(())
    })
    .await;
    until("the gateway to follow the groups", || async {
        let groups: Vec<wire::api::GroupView> = gateway.get_json("/api/groups").await?;
        (groups.len() >= 9).then_some(())
    })
    .await;

    // The broker hangs: every request to it waits for its timeout.
    broker.pause();
    until("the gateway to notice", || async {
        let response = http.get(format!("{address}/api/health")).send().await;
        response.is_ok_and(|r| r.status() == 503).then_some(())
    })
    .await;

    // And a client that never finishes its request head.
    let host = gateway.host();
    let mut half_open = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    tokio::io::AsyncWriteExt::write_all(
        &mut half_open,
        format!("GET /api/health HTTP/1.1\r\nHost: {host}\r\n").as_bytes(),
    )
    .await
    .expect("half a request head");

    let (took, clean, log) = gateway.terminate(STOP_BOUND).await;
    drop(half_open);
    broker.resume();
    assert!(clean, "{log}");
    eprintln!("stopped {took:?} after SIGTERM, with the broker paused");
    assert!(took <= STOP_BOUND, "stopping took {took:?}");
    assert!(
        log.contains("demo member(s) could not commit before leaving"),
        "the gateway does not say what it could not do: {log}"
    );
}

/// SIGTERM with clients holding half-sent request heads, orders still in
/// the producer's queue (a load run's, with a linger far longer than the
/// exit grace) and a demo member that has not committed yet: the gateway
/// stops within its bound, the member commits what it processed, and the
/// producer's flush writes every queued order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_half_open_heads_still_stops_commits_and_flushes() {
    use rdkafka::TopicPartitionList;
    use rdkafka::consumer::{Consumer, StreamConsumer};

    let prefix = format!("{}-", unique("stop"));
    let gateway = GatewayProcess::start(
        &brokers(),
        &[
            "--service",
            "stopper:0:0:1",
            "--service-group-prefix",
            &prefix,
            // The only commit is the one made on leaving.
            "--service-commit-interval-ms",
            "3600000",
            // Queued orders wait 3 s for company: longer than the process
            // gives to anything after the gateway stopped.
            "-X",
            "linger.ms=3000",
            // Heads stay half-sent through the shutdown.
            "--header-timeout-ms",
            "600000",
            "--partitions",
            "1",
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let url = |path: &str| gateway.url(path);
    gateway.wait_healthy().await;
    let placed = http
        .post(url("/api/orders"))
        .json(&order("first"))
        .send()
        .await
        .expect("order");
    assert_eq!(placed.status(), 202);
    until("the member to process the order", || async {
        let services: Vec<wire::services::ServiceView> = gateway.get_json("/api/services").await?;
        (services.first()?.processed == 1).then_some(())
    })
    .await;

    let host = gateway.host();
    let mut heads = Vec::new();
    for _ in 0..20 {
        let mut tcp = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connect");
        tokio::io::AsyncWriteExt::write_all(
            &mut tcp,
            format!("GET /api/health HTTP/1.1\r\nHost: {host}\r\n").as_bytes(),
        )
        .await
        .expect("half a request head");
        heads.push(tcp);
    }
    let load = http
        .post(url("/api/load"))
        .json(&serde_json::json!({"orders": 50, "rate": 1000, "customers": 5}))
        .send()
        .await
        .expect("load");
    assert_eq!(load.status(), 202);
    until(
        "the load run to hand every order to the producer",
        || async {
            let status: wire::load::LoadStatus = gateway.get_json("/api/load").await?;
            (status.sent == 50).then_some(())
        },
    )
    .await;

    let topic = gateway.topic.clone();
    let (took, clean, log) = gateway.terminate(STOP_BOUND).await;
    drop(heads);
    assert!(clean, "{log}");
    eprintln!("stopped {took:?} after SIGTERM, with 20 half-sent heads open");
    assert!(took <= STOP_BOUND, "stopping took {took:?}");
    assert_eq!(
        record_count(&topic),
        51,
        "the queued orders were flushed before the exit: {log}"
    );
    let group: StreamConsumer = client_config()
        .set("group.id", format!("{prefix}stopper"))
        .create()
        .expect("consumer");
    let mut partition = TopicPartitionList::new();
    partition.add_partition(&topic, 0);
    let committed = group
        .committed_offsets(partition, PATIENCE)
        .expect("committed offsets");
    assert!(
        matches!(
            committed.find_partition(&topic, 0).map(|p| p.offset()),
            Some(rdkafka::Offset::Offset(n)) if n >= 1
        ),
        "the member committed the order it processed: {committed:?}"
    );
}
