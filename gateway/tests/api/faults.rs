//! Faults against a real broker of the test's own: killed with SIGKILL in
//! the middle of a steady order load, and started again.

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wire::{ErrorBody, ErrorCode, OrderAccepted, headers};

use crate::helpers::*;

/// A single-node Kafka of this test alone, run by scripts/kafka.sh on free
/// ports with its own data, so killing it disturbs no other test.
struct PrivateBroker {
    dir: PathBuf,
    port: u16,
    controller_port: u16,
}

fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

impl PrivateBroker {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("kafka-flow-broker"));
        std::fs::create_dir_all(&dir).expect("state dir");
        // The jars of the shared broker, when it was installed here: no
        // second download.
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.kafka/lib");
        if shared.is_dir() {
            let _ = std::os::unix::fs::symlink(&shared, dir.join("lib"));
        }
        Self {
            dir,
            port: free_port(),
            controller_port: free_port(),
        }
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn script(&self, command: &str) -> Command {
        let mut script =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh"));
        script
            .arg(command)
            .env_remove("KAFKA_BROKERS")
            .env("KAFKA_PORT", self.port.to_string())
            .env("KAFKA_CONTROLLER_PORT", self.controller_port.to_string())
            .env("KAFKA_STATE_DIR", &self.dir);
        script
    }

    /// Starts it (again) and returns once it answers.
    async fn start(&self) {
        let mut script = self.script("start");
        let status = tokio::task::spawn_blocking(move || script.status())
            .await
            .expect("task")
            .expect("run kafka.sh start");
        assert!(status.success(), "the private broker did not start");
    }

    /// SIGKILL: no shutdown, no flush; what the broker had acknowledged
    /// must survive in its log.
    fn kill(&self) {
        let pid = std::fs::read_to_string(self.dir.join("broker.pid")).expect("pid file");
        let status = Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.script("stop").status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_under_load_loses_no_acknowledged_order() {
    let broker = PrivateBroker::new();
    broker.start().await;
    let app = Arc::new(spawn_with(|c| c.brokers = broker.brokers()).await);
    app.wait_healthy().await;

    // A steady load from four clients until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for client in 0..4 {
        let (app, stop) = (app.clone(), stop.clone());
        load.spawn(async move {
            let mut answers = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let response = app.post_order(&order(&format!("client{client}-{i}"))).await;
                let answer = match response.status().as_u16() {
                    202 => Ok(response.json::<OrderAccepted>().await.expect("ack")),
                    _ => Err(response.json::<ErrorBody>().await.expect("error body")),
                };
                answers.push(answer);
                i += 1;
            }
            answers
        });
    }

    until("orders to flow before the fault", || async {
        (written(&app).await >= 50).then_some(())
    })
    .await;

    broker.kill();
    until("health to report the broker gone", || async {
        let (status, health) = app.health().await;
        (status == 503 && !health.broker.reachable).then_some(())
    })
    .await;

    broker.start().await;
    // The gateway recovers by itself: no restart.
    app.wait_healthy().await;
    let before = written(&app).await;
    until("orders to flow after the broker is back", || async {
        (written(&app).await >= before + 50).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);

    let mut acks = Vec::new();
    let mut refused = 0;
    while let Some(answers) = load.join_next().await {
        for answer in answers.expect("load task") {
            match answer {
                Ok(ack) => acks.push(ack),
                Err(error) => {
                    assert_eq!(error.code, ErrorCode::BrokerUnavailable, "{error:?}");
                    refused += 1;
                }
            }
        }
    }

    // Every acknowledged order is in the topic exactly once, where the
    // acknowledgement said; no order is in it twice.
    let records = read_topic_at(&broker.brokers(), &app.topic).await;
    let mut by_id: HashMap<String, Vec<(i32, i64)>> = HashMap::new();
    for record in &records {
        use rdkafka::Message;
        let id = header(record, headers::ORDER_ID).expect("order id");
        by_id
            .entry(id)
            .or_default()
            .push((record.partition(), record.offset()));
    }
    assert!(
        by_id.values().all(|places| places.len() == 1),
        "an order was written twice"
    );
    for ack in &acks {
        assert_eq!(
            by_id.get(&ack.order_id).map(Vec::as_slice),
            Some(&[(ack.partition, ack.offset)][..]),
            "acknowledged order {} missing or elsewhere",
            ack.order_id
        );
    }
    eprintln!(
        "{} acknowledged, {refused} refused with 503, {} records",
        acks.len(),
        records.len()
    );
}

/// Records in the test's topic, as the gateway's health reports them.
async fn written(app: &TestApp) -> i64 {
    let (_, health) = app.health().await;
    health
        .topic
        .map_or(0, |t| t.partitions.iter().map(|p| p.high_watermark).sum())
}
