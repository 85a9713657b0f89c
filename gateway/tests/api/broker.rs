//! A Kafka broker of one test's own, for tests that kill it or configure it
//! unlike the shared one.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, LazyLock, Mutex};

use wire::OrderAccepted;

use crate::helpers::{TestApp, order, read_topic_at, unique, until};

/// A single-node Kafka of this test alone, run by scripts/kafka.sh on free
/// ports with its own data, so killing it disturbs no other test.
pub struct PrivateBroker {
    dir: PathBuf,
    pub port: u16,
    controller_port: u16,
    /// Set for the nodes of a cluster, which must share it.
    cluster_id: Option<String>,
}

/// A cluster of three nodes, each broker and controller (three JVMs), on
/// free ports: the quorum and every replica survive losing one node.
pub struct PrivateCluster {
    pub nodes: Vec<PrivateBroker>,
    /// This cluster's turn, held from its start until it is dropped.
    turn: Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>,
}

/// One three-node cluster at a time: two at once are six JVMs on a
/// two-core machine, and starve each other's requests into timeouts.
static CLUSTER_TURN: LazyLock<Arc<tokio::sync::Mutex<()>>> = LazyLock::new(Arc::default);

impl PrivateCluster {
    pub fn new() -> Self {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let voters: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, controller))| format!("{}@127.0.0.1:{controller}", i + 1))
            .collect();
        let voters = voters.join(",");
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, &(port, controller_port))| {
                let extra = format!(
                    "node.id={}\n\
                     controller.quorum.voters={voters}\n\
                     offsets.topic.replication.factor=3\n\
                     transaction.state.log.replication.factor=3\n\
                     transaction.state.log.min.isr=2\n\
                     min.insync.replicas=2\n",
                    i + 1
                );
                let mut node = PrivateBroker::on_ports(port, controller_port, &extra);
                // Any valid id will do; this one is the Kafka docs' example.
                node.cluster_id = Some("MkU3OEVBNTcwNTJENDM2Qk".into());
                node
            })
            .collect();
        Self {
            nodes,
            turn: Mutex::new(None),
        }
    }

    pub fn brokers(&self) -> String {
        let all: Vec<String> = self.nodes.iter().map(PrivateBroker::brokers).collect();
        all.join(",")
    }

    /// The bootstrap list without node index `dead` (one that was killed).
    pub fn brokers_but(&self, dead: usize) -> String {
        let all: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != dead)
            .map(|(_, n)| n.brokers())
            .collect();
        all.join(",")
    }

    /// Starts every node at once (one alone never answers: it waits for a
    /// quorum) and returns once each answers.
    pub async fn start(&self) {
        let turn = CLUSTER_TURN.clone().lock_owned().await;
        *self.turn.lock().expect("turn") = Some(turn);
        futures_util::future::join_all(self.nodes.iter().map(PrivateBroker::start)).await;
    }
}

pub fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

impl PrivateBroker {
    /// A broker whose configuration gets, besides the defaults, what
    /// `extra` returns for its client and controller ports (e.g. a SASL
    /// listener).
    pub fn new(extra: impl FnOnce(u16, u16) -> String) -> Self {
        let (port, controller_port) = (free_port(), free_port());
        Self::on_ports(port, controller_port, &extra(port, controller_port))
    }

    fn on_ports(port: u16, controller_port: u16, extra: &str) -> Self {
        let dir = std::env::temp_dir().join(unique("kafka-flow-broker"));
        std::fs::create_dir_all(&dir).expect("state dir");
        // The jars of the shared broker, when it was installed here: no
        // second download.
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.kafka/lib");
        if shared.is_dir() {
            let _ = std::os::unix::fs::symlink(&shared, dir.join("lib"));
        }
        std::fs::write(dir.join("extra.properties"), extra).expect("extra properties");
        Self {
            dir,
            port,
            controller_port,
            cluster_id: None,
        }
    }

    pub fn brokers(&self) -> String {
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
            .env("KAFKA_STATE_DIR", &self.dir)
            .env("KAFKA_EXTRA_PROPERTIES", self.dir.join("extra.properties"))
            // Test brokers hold little; three of them beside the shared one
            // fit in a small machine.
            .env("KAFKA_HEAP_OPTS", "-Xms256M -Xmx512M");
        if let Some(id) = &self.cluster_id {
            script.env("KAFKA_CLUSTER_ID", id);
        }
        script
    }

    /// Starts it (again) and returns once it answers.
    pub async fn start(&self) {
        let mut script = self.script("start");
        let status = tokio::task::spawn_blocking(move || script.status())
            .await
            .expect("task")
            .expect("run kafka.sh start");
        assert!(status.success(), "the private broker did not start");
    }

    /// SIGKILL: no shutdown, no flush; what the broker had acknowledged
    /// must survive in its log.
    pub fn kill(&self) {
        assert!(self.signal("-KILL"), "could not kill the broker");
    }

    /// SIGSTOP: the broker keeps its connections but answers nothing, as a
    /// hung or partitioned broker does. [`Self::resume`] undoes it (and
    /// dropping the broker does too, so that it can stop).
    pub fn pause(&self) {
        assert!(self.signal("-STOP"), "could not pause the broker");
    }

    pub fn resume(&self) {
        assert!(self.signal("-CONT"), "could not resume the broker");
    }

    fn send_kill(&self) -> bool {
        self.signal("-KILL")
    }

    fn signal(&self, signal: &str) -> bool {
        std::fs::read_to_string(self.dir.join("broker.pid")).is_ok_and(|pid| {
            Command::new("kill")
                .args([signal, pid.trim()])
                .status()
                .is_ok_and(|s| s.success())
        })
    }
}

impl Drop for PrivateCluster {
    /// A node that lost its quorum cannot shut down cleanly; the test is
    /// over and its data goes, so every node is killed at once.
    fn drop(&mut self) {
        for node in &self.nodes {
            node.send_kill();
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        // A paused broker cannot stop.
        let _ = self.signal("-CONT");
        let _ = self.script("stop").status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Places one order through `app` and checks it is the only record in its
/// topic on `brokers`, at the acknowledged position.
/// The gateway's own protocol client (consumer-protocol and share groups)
/// reaches the broker with the same security settings: a flow snapshot
/// that read the topic has no error describing group types.
pub async fn assert_group_types_read(app: &TestApp) {
    let mut live = app.live(0).await;
    let snapshot = live.next_flow_with_topic().await;
    assert_eq!(snapshot.group_types_error, None);
}

pub async fn assert_one_order_goes_through(app: &TestApp, brokers: &str, customer: &str) {
    let ack: OrderAccepted = app
        .post_order(&order(customer))
        .await
        .json()
        .await
        .expect("ack");
    let records = read_topic_at(brokers, &app.topic).await;
    assert_eq!(records.len(), 1);
    use rdkafka::Message;
    assert_eq!(
        (records[0].partition(), records[0].offset()),
        (ack.partition, ack.offset)
    );
}

/// Waits until `app`'s health says 503, broker unreachable; the body.
pub async fn wait_broker_unreachable(app: &TestApp) -> String {
    until("health to report the broker unreachable", || async {
        let response = app.get("/api/health").await;
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        (status == 503 && body.contains("\"reachable\":false")).then_some(body)
    })
    .await
}
