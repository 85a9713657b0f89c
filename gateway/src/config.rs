//! The gateway's settings, from command-line flags and environment variables.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Every setting of the gateway. `gateway --help` lists them with their
/// environment variables and defaults; the defaults run against a local broker.
#[derive(Clone, Parser)]
#[command(
    name = "gateway",
    version,
    about = "Kafka flow dashboard gateway: accepts orders over REST, writes them to Kafka, \
             streams every record of the topic to browsers over WebSocket, and runs demo \
             consumer groups to stop, start, scale and watch."
)]
pub struct Config {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,

    /// The topic orders are written to and streamed from.
    #[arg(long, env = "KAFKA_TOPIC", default_value = "orders")]
    pub topic: String,

    /// Partition count used when the gateway creates the topic. An existing
    /// topic is used as it is, whatever its partition count.
    #[arg(long, env = "KAFKA_TOPIC_PARTITIONS", default_value_t = 3,
          value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub partitions: i32,

    /// Replication factor used when the gateway creates the topic.
    #[arg(long, env = "KAFKA_TOPIC_REPLICATION", default_value_t = 1,
          value_parser = clap::value_parser!(i32).range(1..=100))]
    pub replication_factor: i32,

    /// Any librdkafka property, as key=value, for both producer and consumer
    /// (e.g. -X security.protocol=SASL_SSL -X sasl.mechanism=PLAIN). Repeatable;
    /// in the environment, separate pairs with ';'. Secrets (passwords, keys,
    /// JAAS and OAuth settings) are never logged.
    #[arg(short = 'X', long = "kafka-property", env = "KAFKA_PROPERTIES",
          hide_env_values = true, value_name = "KEY=VALUE", value_delimiter = ';',
          value_parser = parse_property)]
    pub kafka_properties: Vec<(String, String)>,

    /// Address the HTTP server listens on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Folder with the built dashboard (Trunk's output), served at `/`.
    #[arg(long, env = "GATEWAY_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// How long an order may wait for the broker's acknowledgement before the
    /// client gets 503 (librdkafka's message.timeout.ms), in milliseconds.
    #[arg(long, env = "DELIVERY_TIMEOUT_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub delivery_timeout_ms: u64,

    /// Records per partition the gateway keeps in memory for browsers that
    /// ask for recent history (`/ws?last=N`) or resume (what a resuming
    /// browser missed before these is read back from Kafka).
    #[arg(long, env = "LIVE_HISTORY", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub history: u64,

    /// Records a WebSocket client may fall behind before it is told it missed some.
    #[arg(long, env = "LIVE_CLIENT_QUEUE", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub client_queue: u64,

    /// Most WebSocket clients at once; more get 503.
    #[arg(long, env = "LIVE_MAX_CLIENTS", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_clients: u64,

    /// An origin (scheme://host:port) whose web pages may open the live
    /// stream and call the API from the browser, besides the gateway's own.
    /// Repeatable; in the environment, separate origins with ','. Without
    /// any, CORS is off.
    #[arg(
        long = "allowed-origin",
        env = "ALLOWED_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// When set, every write (orders, service commands, load runs, topic
    /// creation) must carry `Authorization: Bearer <token>`. Never logged.
    #[arg(
        long,
        env = "GATEWAY_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: Option<String>,

    /// Writes (orders, service commands, load runs, topic creation) allowed
    /// per second per client address, with a burst of one second's worth;
    /// more get 429 with Retry-After. 0: no limit.
    #[arg(long, env = "WRITE_RATE_LIMIT", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub write_rate: u32,

    /// How long the gateway remembers an order's Idempotency-Key, so that a
    /// retry with the same key returns the first acknowledgement, in seconds.
    #[arg(long, env = "IDEMPOTENCY_WINDOW_S", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idempotency_window_s: u64,

    /// Most Idempotency-Keys remembered at once; the oldest are forgotten first.
    #[arg(long, env = "IDEMPOTENCY_KEYS", default_value_t = 50_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub idempotency_keys: u64,

    /// A demo service to run as a consumer group on the topic, as
    /// NAME:PROCESSING_MS:FAILURE_RATE:MEMBERS (e.g. payments:40:0.05:2).
    /// Repeatable; in the environment, separate services with ','.
    #[arg(long = "service", env = "DEMO_SERVICES", value_name = "SPEC",
          value_delimiter = ',', value_parser = ServiceSpec::parse,
          default_value = "payments:40:0.05:2,notifications:15:0:1,analytics:5:0:1")]
    pub services: Vec<ServiceSpec>,

    /// Run no demo services: for a dashboard attached to a real system, whose
    /// own consumer groups are shown instead.
    #[arg(long, env = "NO_DEMO_SERVICES")]
    pub no_services: bool,

    /// Prefix of the demo services' consumer group ids (`demo-payments`).
    #[arg(long, env = "DEMO_GROUP_PREFIX", default_value = "demo-")]
    pub service_group_prefix: String,

    /// How often a demo service member commits the orders it processed, in
    /// milliseconds (it also commits when it stops and before a rebalance
    /// takes its partitions). A member that crashes leaves what it processed
    /// since its last commit to be processed again.
    #[arg(long, env = "DEMO_COMMIT_INTERVAL_MS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub service_commit_interval_ms: u64,
}

/// One demo service's settings at start; see `--service`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub processing_ms: u32,
    pub failure_rate: f64,
    pub members: u32,
}

impl ServiceSpec {
    /// Parses NAME:PROCESSING_MS:FAILURE_RATE:MEMBERS, checking each against
    /// the limits a `PATCH /api/services/{name}` is held to.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [name, processing_ms, failure_rate, members] = parts[..] else {
            return Err(format!(
                "expected NAME:PROCESSING_MS:FAILURE_RATE:MEMBERS, got {s:?}"
            ));
        };
        let valid_name = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_name {
            return Err(format!(
                "service name {name:?}: use 1 to 32 of a-z, 0-9 and '-'"
            ));
        }
        let number = |what: &str, value: &str| format!("{what} {value:?} is not a number");
        let spec = Self {
            name: name.to_owned(),
            processing_ms: processing_ms
                .parse()
                .map_err(|_| number("processing time", processing_ms))?,
            failure_rate: failure_rate
                .parse()
                .map_err(|_| number("failure rate", failure_rate))?,
            members: members.parse().map_err(|_| number("members", members))?,
        };
        let update = wire::services::ServiceUpdate {
            running: None,
            members: Some(spec.members),
            processing_ms: Some(spec.processing_ms),
            failure_rate: Some(spec.failure_rate),
        };
        update
            .validate()
            .map_err(|e| format!("{name}: {} {}", e.field, e.message))?;
        Ok(spec)
    }
}

impl Config {
    /// A configuration with every default, for `brokers` and `topic`;
    /// what tests start from.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        let mut config = Config::parse_from(["gateway"]);
        config.brokers = brokers.into();
        config.topic = topic.into();
        config
    }

    /// The demo services to run: none when switched off, and each name once.
    pub fn demo_services(&self) -> Vec<ServiceSpec> {
        if self.no_services {
            return Vec::new();
        }
        let mut seen = std::collections::HashSet::new();
        self.services
            .iter()
            .filter(|s| seen.insert(s.name.clone()))
            .cloned()
            .collect()
    }

    pub fn delivery_timeout(&self) -> Duration {
        Duration::from_millis(self.delivery_timeout_ms)
    }

    /// The longest one request may take: the produce step is bounded by the
    /// delivery timeout, the whole request (a slow body upload too) by this.
    pub fn request_timeout(&self) -> Duration {
        self.delivery_timeout() + Duration::from_secs(5)
    }
}

/// Parses one `key=value` librdkafka property.
fn parse_property(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("empty property name in {s:?}"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// Whether a librdkafka property holds a secret that must never be logged.
pub(crate) fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "sasl.jaas",
        "sasl.oauthbearer.config",
        "key.pem",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// Written by hand so that secrets in `kafka_properties` never reach a log.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: Vec<String> = self
            .kafka_properties
            .iter()
            .map(|(k, v)| {
                if is_secret(k) {
                    format!("{k}=<redacted>")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        f.debug_struct("Config")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("kafka_properties", &properties)
            .field("listen", &self.listen)
            .field("static_dir", &self.static_dir)
            .field("delivery_timeout_ms", &self.delivery_timeout_ms)
            .field("history", &self.history)
            .field("client_queue", &self.client_queue)
            .field("max_clients", &self.max_clients)
            .field("allowed_origins", &self.allowed_origins)
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .field("write_rate", &self.write_rate)
            .field("idempotency_window_s", &self.idempotency_window_s)
            .field("idempotency_keys", &self.idempotency_keys)
            .field("services", &self.demo_services())
            .field("service_group_prefix", &self.service_group_prefix)
            .field(
                "service_commit_interval_ms",
                &self.service_commit_interval_ms,
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_against_a_local_broker() {
        // (brokers and topic are left out: the test environment may set them.)
        let config = Config::parse_from(["gateway"]);
        assert_eq!(config.partitions, 3);
        assert_eq!(config.listen, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(config.delivery_timeout(), Duration::from_secs(5));
    }

    #[test]
    fn kafka_properties_are_key_value_pairs() {
        let config = Config::parse_from([
            "gateway",
            "-X",
            "security.protocol=SASL_PLAINTEXT",
            "--kafka-property",
            "sasl.password=a=b",
        ]);
        assert_eq!(
            config.kafka_properties,
            vec![
                ("security.protocol".into(), "SASL_PLAINTEXT".into()),
                ("sasl.password".into(), "a=b".into())
            ]
        );
        assert!(Config::try_parse_from(["gateway", "-X", "novalue"]).is_err());
        assert!(Config::try_parse_from(["gateway", "-X", "=v"]).is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = Config::parse_from([
            "gateway",
            "-X",
            "sasl.password=hunter2",
            "-X",
            "acks=all",
            "--api-token",
            "t0ps3cret",
        ]);
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("sasl.password=<redacted>"), "{shown}");
        assert!(shown.contains("acks=all"), "{shown}");
        assert!(!shown.contains("t0ps3cret"), "{shown}");
    }

    #[test]
    fn demo_services_are_parsed_checked_and_can_be_switched_off() {
        let config = Config::parse_from(["gateway"]);
        let names: Vec<String> = config.demo_services().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["payments", "notifications", "analytics"]);

        let config = Config::parse_from(["gateway", "--service", "billing:0:0.5:3"]);
        assert_eq!(
            config.demo_services(),
            vec![ServiceSpec {
                name: "billing".into(),
                processing_ms: 0,
                failure_rate: 0.5,
                members: 3
            }]
        );
        let config = Config::parse_from(["gateway", "--no-services"]);
        assert!(config.demo_services().is_empty());

        for bad in [
            "billing",
            "Bill:1:0:1",
            "b:x:0:1",
            "b:1:1.5:1",
            "b:1:0:0",
            "b:1:0:9",
        ] {
            assert!(
                Config::try_parse_from(["gateway", "--service", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        assert!(Config::try_parse_from(["gateway", "--partitions", "0"]).is_err());
        assert!(Config::try_parse_from(["gateway", "--delivery-timeout-ms", "5"]).is_err());
    }
}
