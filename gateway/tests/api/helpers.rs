//! Starting a real gateway against the real broker, and talking to both.
//!
//! Every test gets a fresh random topic (and, where it needs one, a fresh
//! consumer group), so tests run in parallel on one broker without seeing
//! each other's records. The broker is `KAFKA_BROKERS`, else 127.0.0.1:9092.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use futures_util::StreamExt;
use gateway::Config;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite;
use wire::stream::PartitionOffset;
use wire::{LiveRecord, ServerMessage};

/// The longest any single awaited event may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Logs are silent unless TEST_LOG is set (e.g. TEST_LOG=debug).
fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .init();
        }
    });
}

/// A gateway running in this process on a random port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub topic: String,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), gateway::Error>>,
}

/// A gateway on a fresh topic with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// A gateway on a fresh topic, with settings adjusted by `configure`.
pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    init_logs();
    let topic = unique("test");
    let mut config = Config::new(brokers(), &topic);
    config.static_dir = "/nonexistent".into();
    // Demo services only where a test asks for them, in groups of its own.
    config.no_services = true;
    config.service_group_prefix = Some(format!("{}-", unique("demo")));
    // Live filters run in the gateway's executable (this one is the tests').
    config.filter_worker = Some(env!("CARGO_BIN_EXE_gateway").into());
    configure(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (shutdown, signal) = oneshot::channel::<()>();
    let handle = tokio::spawn(gateway::run(listener, config.clone(), async {
        let _ = signal.await;
    }));
    TestApp {
        addr,
        topic: config.topic,
        http: reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .expect("http client"),
        shutdown: Some(shutdown),
        handle,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until `/api/health` says ok: the broker answers, the topic
    /// exists and the live view is consuming it.
    pub async fn wait_healthy(&self) {
        until("the gateway to be healthy", || async {
            let response = self.http.get(self.url("/api/health")).send().await;
            response.is_ok_and(|r| r.status() == 200).then_some(())
        })
        .await
    }

    /// `GET /api/groups`, as a state to wait for: None when the gateway's
    /// last read of the broker failed (a request that timed out on a busy
    /// machine), so the caller asks again.
    pub async fn groups_now(&self) -> Option<Vec<wire::api::GroupView>> {
        let response = self.get("/api/groups").await;
        if response.status() != 200 {
            return None;
        }
        response.json().await.ok()
    }

    /// `GET /api/services`.
    pub async fn services(&self) -> Vec<wire::services::ServiceView> {
        let response = self.get("/api/services").await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("services")
    }

    /// One service from `GET /api/services`.
    pub async fn service(&self, name: &str) -> wire::services::ServiceView {
        self.services()
            .await
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no service {name}"))
    }

    /// POSTs a JSON value to `path`.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `PATCH /api/services/{name}` with a JSON body.
    pub async fn patch_service(&self, name: &str, body: &Value) -> reqwest::Response {
        self.http
            .patch(self.url(&format!("/api/services/{name}")))
            .json(body)
            .send()
            .await
            .expect("PATCH /api/services")
    }

    /// GETs `path` from the gateway.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn health(&self) -> (u16, wire::Health) {
        let response = self.get("/api/health").await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("health body"))
    }

    /// POSTs a JSON value to /api/orders.
    pub async fn post_order(&self, body: &Value) -> reqwest::Response {
        self.post_raw(body.to_string(), "application/json").await
    }

    pub async fn post_raw(
        &self,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.url("/api/orders"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST /api/orders")
    }

    /// Connects to `/ws?last=N` and waits for the Hello.
    pub async fn live(&self, last: usize) -> LiveClient {
        self.live_with(&format!("last={last}")).await.0
    }

    /// Connects to `/ws?{query}` and waits for the Hello: its history count
    /// and positions.
    pub async fn live_with(&self, query: &str) -> (LiveClient, usize, Vec<PartitionOffset>) {
        self.watch(&self.topic, query).await
    }

    /// A client of `/ws?{query}`, whose hello must name `topic`: the
    /// client, its history count and positions.
    pub async fn watch(
        &self,
        topic: &str,
        query: &str,
    ) -> (LiveClient, usize, Vec<PartitionOffset>) {
        let url = format!("ws://{}/ws?{query}", self.addr);
        let socket = match tokio_tungstenite::connect_async(url).await {
            Ok((socket, _)) => socket,
            Err(tungstenite::Error::Http(response)) => panic!(
                "/ws?{query}: {} {}",
                response.status(),
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
            ),
            Err(err) => panic!("/ws?{query}: {err}"),
        };
        let mut client = LiveClient { socket };
        match client.next_message().await {
            ServerMessage::Hello {
                topic: hello,
                history,
                positions,
            } => {
                assert_eq!(hello, topic);
                (client, history, positions)
            }
            other => panic!("expected hello, got {other:?}"),
        }
    }

    /// Triggers a graceful shutdown and waits for `run` to return.
    pub async fn shutdown(mut self) -> Result<(), gateway::Error> {
        self.trigger_shutdown();
        tokio::time::timeout(PATIENCE, &mut self.handle)
            .await
            .expect("gateway did not stop")
            .expect("gateway task panicked")
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Waits until `check` returns Some, polling: for states behind an HTTP
/// endpoint or the broker, which have no event to subscribe to. Fails the
/// test, naming `what`, after PATIENCE.
pub async fn until<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {PATIENCE:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn order(customer: &str) -> Value {
    serde_json::json!({
        "customer_id": customer,
        "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price_cents": 1299}]
    })
}

pub struct LiveClient {
    pub socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl LiveClient {
    /// The next record-stream message (hello, record, lagged), skipping the
    /// flow snapshots and progress batches in between. Fails the test after
    /// PATIENCE.
    pub async fn next_message(&mut self) -> ServerMessage {
        // Within PATIENCE in all: flow snapshots come every second, and a
        // wait reset by each would never end.
        let skipping = async {
            loop {
                match self.next_any().await {
                    ServerMessage::Flow(_) | ServerMessage::Processed { .. } => {}
                    other => return other,
                }
            }
        };
        tokio::time::timeout(PATIENCE, skipping)
            .await
            .expect("no record-stream message in time (only flow snapshots)")
    }

    /// The next flow snapshot that read the topic (the broker answered).
    pub async fn next_flow_with_topic(&mut self) -> wire::stream::FlowSnapshot {
        loop {
            if let ServerMessage::Flow(snapshot) = self.next_any().await
                && snapshot.topic.is_some()
            {
                return snapshot;
            }
        }
    }

    /// The next message of any kind.
    pub async fn next_any(&mut self) -> ServerMessage {
        loop {
            match self.next_frame().await {
                tungstenite::Message::Text(text) => {
                    return serde_json::from_str(&text).expect("a ServerMessage");
                }
                tungstenite::Message::Close(frame) => panic!("closed by the gateway: {frame:?}"),
                _ => {}
            }
        }
    }

    pub async fn next_frame(&mut self) -> tungstenite::Message {
        tokio::time::timeout(PATIENCE, self.socket.next())
            .await
            .expect("no frame in time")
            .expect("stream ended")
            .expect("websocket error")
    }

    /// The next record, failing on anything else.
    pub async fn next_record(&mut self) -> LiveRecord {
        match self.next_message().await {
            ServerMessage::Record(record) => record,
            other => panic!("expected a record, got {other:?}"),
        }
    }
}

pub fn client_config() -> ClientConfig {
    client_config_at(&brokers())
}

pub fn client_config_at(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    config
}

/// An application consumer in `group`, as a service would run it: it
/// subscribes, starts from the earliest record, and commits only when told.
pub fn group_consumer(group: &str, client_id: &str) -> StreamConsumer {
    client_config()
        .set("group.id", group)
        .set("client.id", client_id)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer")
}

pub fn producer() -> FutureProducer {
    client_config()
        .set("enable.idempotence", "true")
        .create()
        .expect("producer")
}

/// Produces one record straight to the topic, bypassing the gateway.
pub async fn produce_raw(topic: &str, partition: Option<i32>, key: Option<&str>, value: &[u8]) {
    let producer = producer();
    let mut record = FutureRecord::<str, [u8]>::to(topic).payload(value);
    if let Some(p) = partition {
        record = record.partition(p);
    }
    if let Some(k) = key {
        record = record.key(k);
    }
    producer
        .send(record, Timeout::After(PATIENCE))
        .await
        .expect("produce");
}

/// Every record currently in the topic, read by a fresh consumer that
/// assigns partitions manually and commits nothing.
pub async fn read_topic(topic: &str) -> Vec<OwnedMessage> {
    read_topic_at(&brokers(), topic).await
}

/// The same, from the broker at `brokers`.
pub async fn read_topic_at(brokers: &str, topic: &str) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = client_config_at(brokers)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), PATIENCE)
        .expect("metadata");
    let mut list = TopicPartitionList::new();
    let mut expected = 0;
    for p in metadata.topics()[0].partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), PATIENCE)
            .expect("watermarks");
        expected += high - low;
        list.add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&list).expect("assign");
    let mut records = Vec::new();
    while records.len() < usize::try_from(expected).expect("count") {
        match tokio::time::timeout(PATIENCE, consumer.recv())
            .await
            .expect("record in time")
        {
            Ok(message) => records.push(message.detach()),
            // A broker of a cluster that is down reports transport errors;
            // the records come from the replicas that lead now.
            Err(err) => eprintln!("reading {topic}: {err}"),
        }
    }
    records
}

/// Records in the topic: the sum over partitions of high − low watermark.
pub fn record_count(topic: &str) -> i64 {
    let consumer: StreamConsumer = client_config()
        .set("group.id", unique("counter"))
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), PATIENCE)
        .expect("metadata");
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), PATIENCE)
                .expect("watermarks");
            high - low
        })
        .sum()
}

/// Whether the broker knows `topic`.
/// Runs one of Kafka's own command-line tools (by class name) through
/// scripts/kafka.sh against the test broker, off the async threads.
pub async fn kafka_tool(class: &str, args: &[&str]) -> std::process::Output {
    kafka_tool_at(&brokers(), class, args).await
}

/// [`kafka_tool`] against the broker at `bootstrap`.
pub async fn kafka_tool_at(bootstrap: &str, class: &str, args: &[&str]) -> std::process::Output {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
    let mut all = vec!["tool".to_owned(), class.to_owned()];
    all.extend(["--bootstrap-server".to_owned(), bootstrap.to_owned()]);
    all.extend(args.iter().map(|a| (*a).to_owned()));
    // A JVM start: off the async threads.
    tokio::task::spawn_blocking(move || std::process::Command::new(script).args(all).output())
        .await
        .expect("task")
        .unwrap_or_else(|e| panic!("run {class}: {e}"))
}

pub fn topic_exists(topic: &str) -> bool {
    let consumer: StreamConsumer = client_config()
        .set("group.id", unique("probe"))
        .create()
        .expect("consumer");
    let metadata = consumer.fetch_metadata(None, PATIENCE).expect("metadata");
    metadata.topics().iter().any(|t| t.name() == topic)
}

/// The value of header `key` of a consumed record, as text.
pub fn header(message: &OwnedMessage, key: &str) -> Option<String> {
    message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    })
}

/// A gateway running as a process of its own (the release or debug binary
/// cargo built), for what only a process shows: its memory, its exit on a
/// signal, its log.
pub struct GatewayProcess {
    /// Taken by [`GatewayProcess::terminate`]; killed on drop otherwise (a
    /// failed test must not leave it running).
    child: Option<std::process::Child>,
    /// `http://host:port`, as the gateway printed it.
    pub address: String,
    pub topic: String,
    log: Option<tokio::task::JoinHandle<String>>,
}

impl GatewayProcess {
    /// Starts the gateway on a fresh topic of `brokers` with `args`, and
    /// waits until it says where it listens.
    pub async fn start(brokers: &str, args: &[&str]) -> Self {
        Self::start_under(&[], brokers, args).await
    }

    /// [`Self::start`], run by `wrapper` (a command and its arguments that
    /// runs the rest, such as `prlimit --nofile=600 --`), if not empty.
    pub async fn start_under(wrapper: &[&str], brokers: &str, args: &[&str]) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};

        let topic = unique("process");
        let gateway = env!("CARGO_BIN_EXE_gateway");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(gateway);
                command
            }
            None => Command::new(gateway),
        };
        let mut child = command
            .args([
                "--listen",
                "127.0.0.1:0",
                "--brokers",
                brokers,
                "--topic",
                &topic,
            ])
            .args(["--static-dir", "/nonexistent"])
            .args(args)
            // GATEWAY_TEST_LOG=info shows more of what it did.
            .env(
                "RUST_LOG",
                std::env::var("GATEWAY_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the gateway");
        // Its address, then everything it logs (to stdout), until it exits.
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (found, address) = oneshot::channel();
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
        let address = tokio::time::timeout(PATIENCE, address)
            .await
            .expect("the gateway starts in time")
            .expect("the gateway says where it listens");
        Self {
            child: Some(child),
            address,
            topic,
            log: Some(log),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Waits until `/api/health` says ok.
    pub async fn wait_healthy(&self) {
        let http = reqwest::Client::new();
        until("the gateway to be healthy", || async {
            let response = http.get(self.url("/api/health")).send().await;
            response.is_ok_and(|r| r.status() == 200).then_some(())
        })
        .await;
    }

    /// `GET path` as `T`, as a state to wait for: None on any failure.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Option<T> {
        reqwest::get(self.url(path)).await.ok()?.json().await.ok()
    }

    /// `host:port`.
    pub fn host(&self) -> String {
        self.address.trim_start_matches("http://").to_owned()
    }

    /// Its open-file limits, soft and hard, from `/proc/PID/limits`.
    pub fn open_file_limits(&self) -> (u64, u64) {
        let pid = self.child.as_ref().map_or(0, std::process::Child::id);
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc limits");
        let line = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .unwrap_or_else(|| panic!("no open-file limit in {limits}"));
        let mut values = line
            .split_whitespace()
            .map(|v| v.parse().expect("a number"));
        (values.next().expect("soft"), values.next().expect("hard"))
    }

    /// A line of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let pid = self.child.as_ref().map_or(0, std::process::Child::id);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    }

    /// Sends SIGTERM and waits up to `bound` for the process to exit: how
    /// long it took, whether it exited cleanly, and its log. Kills it and
    /// fails the test past the bound.
    pub async fn terminate(mut self, bound: Duration) -> (Duration, bool, String) {
        use std::process::Command;

        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let started = std::time::Instant::now();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill")
                .success()
        );
        let exited = tokio::task::spawn_blocking(move || child.wait());
        let status = tokio::time::timeout(bound + Duration::from_secs(5), exited)
            .await
            .unwrap_or_else(|_| {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!("the gateway was still running {bound:?} after SIGTERM");
            })
            .expect("task")
            .expect("wait for the gateway");
        let took = started.elapsed();
        let log = self
            .log
            .take()
            .expect("the log")
            .await
            .expect("the gateway's log");
        (took, status.success(), log)
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
