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
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
    use rdkafka::{Offset, TopicPartitionList};

    use crate::broker::PrivateBroker;

    let broker = PrivateBroker::new(|_, _| String::new());
    broker.start().await;
    let brokers = broker.brokers();
    let topic = unique("stop");
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--brokers",
            &brokers,
            "--topic",
            &topic,
        ])
        .args(["--static-dir", "/nonexistent", "--service", "stopper:0:0:2"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the gateway");
    // Its address, then everything it logs (to stdout), until it exits.
    let stdout = BufReader::new(gateway.stdout.take().expect("stdout"));
    let (found, address) = tokio::sync::oneshot::channel();
    let log = tokio::task::spawn_blocking(move || {
        let mut found = Some(found);
        let mut log = String::new();
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(address) = line.strip_prefix("gateway listening on ")
                && let Some(found) = found.take()
            {
                let _ = found.send(address.to_owned());
            }
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let address = address.await.expect("the gateway says where it listens");
    let http = reqwest::Client::new();
    until("the gateway to be healthy", || async {
        let response = http.get(format!("{address}/api/health")).send().await;
        response.is_ok_and(|r| r.status() == 200).then_some(())
    })
    .await;

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
    let placed = http
        .post(format!("{address}/api/orders"))
        .json(&order("stopping"))
        .send()
        .await
        .expect("order");
    assert_eq!(placed.status(), 202);
    until("the gateway to follow the groups", || async {
        let groups: Vec<wire::api::GroupView> = http
            .get(format!("{address}/api/groups"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
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
    let host = address.trim_start_matches("http://").to_owned();
    let mut half_open = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    tokio::io::AsyncWriteExt::write_all(
        &mut half_open,
        format!("GET /api/health HTTP/1.1\r\nHost: {host}\r\n").as_bytes(),
    )
    .await
    .expect("half a request head");

    let pid = gateway.id().to_string();
    let started = std::time::Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let exited = tokio::task::spawn_blocking(move || gateway.wait());
    let output = tokio::time::timeout(STOP_BOUND + std::time::Duration::from_secs(5), exited)
        .await
        .unwrap_or_else(|_| {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("the gateway was still running {STOP_BOUND:?} after SIGTERM");
        })
        .expect("task")
        .expect("wait for the gateway");
    let took = started.elapsed();
    drop(half_open);
    broker.resume();
    assert!(output.success(), "{output:?}");
    assert!(took <= STOP_BOUND, "stopping took {took:?}");
    let log = log.await.expect("the gateway's log");
    assert!(
        log.contains("demo member(s) could not commit before leaving"),
        "the gateway does not say what it could not do: {log}"
    );
}
