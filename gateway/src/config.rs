//! The gateway's settings, from command-line flags and environment variables.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use wire::services::GroupProtocol;

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
    /// (e.g. -X security.protocol=SASL_SSL -X sasl.mechanism=PLAIN). Repeatable.
    /// A value is taken whole (a ';' in a password is kept). In the
    /// environment (KAFKA_PROPERTIES) pairs are separated by ';'; secrets
    /// belong there or in --kafka-properties-file, since the command line is
    /// shown to every user of the machine by `ps`. Secrets (passwords, keys,
    /// passphrases, tokens, JAAS and OAuth settings) are never logged. Alias
    /// names are taken as the property they name (`request.required.acks` is
    /// `acks`); what the gateway sets itself (brokers, delivery timeout, acks,
    /// idempotence, group ids, commits) is refused with the flag to use.
    #[arg(short = 'X', long = "kafka-property", value_name = "KEY=VALUE",
          value_parser = parse_property)]
    pub kafka_properties: Vec<(String, String)>,

    /// A file of librdkafka properties, one key=value a line ('#' starts a
    /// comment): the place for SASL passwords and TLS key passphrases.
    /// Applied before -X and KAFKA_PROPERTIES.
    #[arg(long, env = "KAFKA_PROPERTIES_FILE", value_name = "FILE")]
    pub kafka_properties_file: Option<PathBuf>,

    /// Address the HTTP server listens on. On any address but loopback the
    /// gateway refuses to start without an API token, unless
    /// --allow-open-writes says writes are meant to be open.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Start on a non-loopback address without an API token: anyone who
    /// can reach the gateway may then place orders, create topics, start
    /// load runs and stop services. The page says so.
    #[arg(long, env = "GATEWAY_ALLOW_OPEN_WRITES")]
    pub allow_open_writes: bool,

    /// A name this gateway is reached by (as in the browser's address bar),
    /// besides IP addresses, `localhost` and the allowed origins' hosts.
    /// Requests naming another host are refused (403), so that a page on a
    /// domain that resolves to this gateway (DNS rebinding) cannot use it.
    /// Repeatable; in the environment, separate names with ','.
    #[arg(
        long = "public-host",
        env = "GATEWAY_PUBLIC_HOSTS",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub public_hosts: Vec<String>,

    /// How long a connection has to send each request head, counted from
    /// when it connects or its last response went out (so it is also the
    /// idle keep-alive timeout), in milliseconds.
    #[arg(long, env = "GATEWAY_HEADER_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub header_timeout_ms: u64,

    /// How long a write to a client may wait for it to take any bytes, in
    /// milliseconds; past it the connection (a WebSocket too) is closed. A
    /// client that sends requests and never reads the answers, or a
    /// WebSocket client that stopped reading, holds its connection no longer.
    #[arg(long, env = "GATEWAY_WRITE_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub write_timeout_ms: u64,

    /// Most TCP connections at once, WebSockets included; more are answered
    /// 503 and closed. The open-file limit is raised to this plus 512 as far
    /// as the hard limit allows; with fewer files, fewer connections are
    /// served (and a warning says how many).
    #[arg(long, env = "GATEWAY_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// Most TCP connections from one client address (an IPv6 /64) at once.
    #[arg(long, env = "GATEWAY_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections_per_address: u64,

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

    /// Records a WebSocket client may fall behind before it is told it missed
    /// some: one ring of shared frames per topic (and per live filter), each
    /// client reading at its own place; rounded up to a power of two.
    #[arg(long, env = "LIVE_CLIENT_QUEUE", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub client_queue: u64,

    /// Most WebSocket clients at once; more get 503.
    #[arg(long, env = "LIVE_MAX_CLIENTS", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_clients: u64,

    /// Most WebSocket clients from one client address (an IPv6 /64) at once.
    #[arg(long, env = "LIVE_MAX_CLIENTS_PER_ADDRESS", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_clients_per_address: u64,

    /// Most batch bodies (up to 1 MiB each) one client address may send at
    /// once; the gateway reads 8 at once in all. More get 503 `busy`.
    #[arg(long, env = "MAX_BATCHES_PER_ADDRESS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=8))]
    pub max_batches_per_address: u64,

    /// Most reads of the topic from Kafka one client address may run at
    /// once: replays, and resumes reading back what a client missed (each
    /// has its own count; the gateway runs 4 of each in all).
    #[arg(long, env = "MAX_READS_PER_ADDRESS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=4))]
    pub max_reads_per_address: u64,

    /// Which topics besides this one browsers may watch (`/ws?topic=T`)
    /// and the topic list shows: a regular expression the whole name must
    /// match (`orders|payments-.*`). Without it, every topic but Kafka's
    /// internal ones.
    #[arg(long = "topics", env = "WATCH_TOPICS", value_name = "REGEX",
          value_parser = parse_topic_pattern)]
    pub topics: Option<TopicPattern>,

    /// Also list and watch Kafka's internal topics (names starting `__`,
    /// such as `__consumer_offsets`), if `--topics` allows them.
    #[arg(long, env = "SHOW_INTERNAL_TOPICS")]
    pub show_internal: bool,

    /// Most topics besides this one watched at once (each has a live
    /// consumer, a history and a poller of its groups); a browser asking
    /// for one more gets 503 `busy`.
    #[arg(long, env = "MAX_LIVE_TOPICS", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(0..=256))]
    pub max_live_topics: u64,

    /// Most topics besides this one that browsers at one client address
    /// (an IPv6 /64) watch at once, so that one address cannot take every
    /// watch; more get 503 `busy`.
    #[arg(long, env = "MAX_LIVE_TOPICS_PER_ADDRESS", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=256))]
    pub max_live_topics_per_address: u64,

    /// Most live filters (`/ws?filter=…`) running at once, over all topics.
    /// Clients with the same filter on the same topic share one, which runs
    /// in a worker process of its own; a client asking for one more gets
    /// 503 `busy`.
    #[arg(long, env = "MAX_LIVE_FILTERS", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(0..=1_024))]
    pub max_live_filters: u64,

    /// Most live filters that clients at one client address (an IPv6 /64)
    /// hold at once; more get 503 `busy`.
    #[arg(long, env = "MAX_LIVE_FILTERS_PER_ADDRESS", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=1_024))]
    pub max_live_filters_per_address: u64,

    /// The executable that runs filters in worker processes: this one
    /// unless set (tests, whose executable is not the gateway's, set it).
    #[arg(skip)]
    pub filter_worker: Option<PathBuf>,

    /// A Schema Registry (Confluent's API; Apicurio serves it under
    /// `/apis/ccompat/v7`): records in its wire format (a zero byte, then a
    /// schema id) are decoded from Avro, Protobuf or JSON Schema into JSON
    /// for the feed, filters, search and `/api/record`.
    /// `https://user:password@host` for basic auth (`ps` shows a flag's
    /// value: prefer the environment). Without it, such records are shown
    /// as bytes.
    #[arg(long, env = "SCHEMA_REGISTRY_URL", value_name = "URL",
          value_parser = parse_registry_url)]
    pub schema_registry: Option<reqwest::Url>,

    /// Seconds a watched topic (other than this one) stays read with no
    /// browser watching it, before its consumer is closed.
    #[arg(long, env = "LIVE_TOPIC_IDLE_S", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub live_topic_idle_s: u64,

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
    /// On the command line it is shown to every user of the machine by
    /// `ps`: prefer GATEWAY_API_TOKEN or --api-token-file.
    #[arg(
        long,
        env = "GATEWAY_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: Option<String>,

    /// A file holding the API token (surrounding whitespace is ignored).
    #[arg(
        long,
        env = "GATEWAY_API_TOKEN_FILE",
        value_name = "FILE",
        conflicts_with = "api_token"
    )]
    pub api_token_file: Option<PathBuf>,

    /// Reads need the API token too: every `/api` read and `/ws`. A browser
    /// cannot send `Authorization` on a WebSocket, so the page trades the
    /// token for an HttpOnly, SameSite=Strict cookie (`POST /api/session`)
    /// that reads and `/ws` accept. The dashboard's files and `/api/health`
    /// stay open. Needs an API token.
    #[arg(long, env = "GATEWAY_PROTECT_READS")]
    pub protect_reads: bool,

    /// `/metrics` needs the API token too (as a bearer, which Prometheus
    /// sends with `authorization` in its scrape config). Needs an API token.
    #[arg(long, env = "GATEWAY_PROTECT_METRICS")]
    pub protect_metrics: bool,

    /// How the gateway logs: `text` for people, `json` (one object a line)
    /// for log collectors. Levels follow RUST_LOG.
    #[arg(long, env = "GATEWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Orders allowed per second per client address (a batch of 1,000
    /// counts 1,000, a load run its orders; any other write, such as a
    /// service command or a topic creation, counts one), with a burst of one
    /// second's worth; more get 429 with Retry-After, and a batch or load run
    /// larger than one second's worth 422. 0: no limit.
    #[arg(long, env = "WRITE_RATE_LIMIT", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub write_rate: u32,

    /// How long the gateways of a topic remember an order's Idempotency-Key,
    /// so that a retry with the same key, to any of them, returns the first
    /// acknowledgement, in seconds. Also the key log's retention.
    #[arg(long, env = "IDEMPOTENCY_WINDOW_S", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idempotency_window_s: u64,

    /// Most Idempotency-Keys remembered at once, each as a 16-byte hash and
    /// its acknowledgement (92 bytes with its place in the queue, up to about
    /// 100 MB at the default counting the hash table's slack); the oldest are
    /// forgotten first. The default holds the whole window at 1,000 keyed
    /// orders a second.
    #[arg(long, env = "IDEMPOTENCY_KEYS", default_value_t = 600_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub idempotency_keys: u64,

    /// The key log: the compacted topic where the gateways of the topic share
    /// the keys they acknowledged (created when missing). Default:
    /// TOPIC-idempotency-keys. It may not be the orders topic.
    #[arg(long, env = "IDEMPOTENCY_TOPIC", value_name = "TOPIC")]
    pub idempotency_topic: Option<String>,

    /// Order ids each demo service remembers, to drop a second record of an
    /// order it processed (17 bytes each, about 2.5 MB per service at the
    /// default); the oldest are forgotten first, and a second record more
    /// than this many processed orders after its first is processed again.
    #[arg(long, env = "DEMO_REMEMBERED_ORDERS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub service_remembered_orders: u64,

    /// A demo service to run as a consumer group on the topic, as
    /// NAME:PROCESSING_MS:FAILURE_RATE:MEMBERS[:PROTOCOL] (e.g.
    /// payments:40:0.05:2, or payments:40:0.05:2:consumer for KIP-848's
    /// protocol; without one, --service-protocol's).
    /// Repeatable; in the environment, separate services with ','.
    #[arg(long = "service", env = "DEMO_SERVICES", value_name = "SPEC",
          value_delimiter = ',', value_parser = ServiceSpec::parse,
          default_value = "payments:40:0.05:2,notifications:15:0:1,analytics:5:0:1")]
    pub services: Vec<ServiceSpec>,

    /// The rebalance protocol of the demo services whose spec names none:
    /// `classic`, or `consumer` (KIP-848: the broker assigns partitions and
    /// members take and give up a few at a time while the others keep
    /// reading).
    #[arg(long, env = "DEMO_GROUP_PROTOCOL", value_name = "PROTOCOL",
          default_value = "classic", value_parser = parse_protocol)]
    pub service_protocol: GroupProtocol,

    /// Run no demo services: for a dashboard attached to a real system, whose
    /// own consumer groups are shown instead.
    #[arg(long, env = "NO_DEMO_SERVICES")]
    pub no_services: bool,

    /// Prefix of the demo services' consumer group ids. Default:
    /// `demo-TOPIC-` (`demo-orders-payments`), so that dashboards on two
    /// topics of one cluster never share a group. `demo-` gives the names
    /// of earlier versions (`demo-payments`), and their committed offsets.
    #[arg(long, env = "DEMO_GROUP_PREFIX")]
    pub service_group_prefix: Option<String>,

    /// How often a demo service member commits the orders it processed, in
    /// milliseconds (it also commits when it stops and before a rebalance
    /// takes its partitions). A member that crashes leaves what it processed
    /// since its last commit to be delivered again (and skipped, known by
    /// its order id or offset).
    #[arg(long, env = "DEMO_COMMIT_INTERVAL_MS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub service_commit_interval_ms: u64,
}

fn parse_protocol(text: &str) -> Result<GroupProtocol, String> {
    GroupProtocol::parse(text).ok_or_else(|| format!("{text:?}: classic or consumer"))
}

/// A registry's URL: http or https, with a host.
fn parse_registry_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("an http:// or https:// URL with a host".into());
    }
    Ok(url)
}

/// How the gateway logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{what} {}: {err}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("--api-token-file {}: the file is empty", .0.display())]
    EmptyToken(PathBuf),
    #[error("the API token (--api-token, GATEWAY_API_TOKEN) is blank: no request could match it")]
    BlankToken,
    #[error(
        "--idempotency-topic names the orders topic {0:?}: the key log is compacted and \
         deleted after the window, which would lose orders; name another topic"
    )]
    KeyLogIsTheTopic(String),
    #[error("a Kafka property in {place}: {message}")]
    Property { place: String, message: String },
    #[error(
        "--protect-reads and --protect-metrics need an API token (--api-token-file or \
         GATEWAY_API_TOKEN)"
    )]
    ProtectReadsWithoutToken,
    #[error(
        "refusing to listen on {0} without an API token: anyone who can reach it could place \
         orders, create topics and stop services. Set one (--api-token-file, GATEWAY_API_TOKEN), \
         listen on 127.0.0.1, or pass --allow-open-writes to say writes are meant to be open"
    )]
    OpenWrites(SocketAddr),
    #[error("{0}")]
    Flags(#[from] clap::Error),
}

/// One demo service's settings at start; see `--service`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub processing_ms: u32,
    pub failure_rate: f64,
    pub members: u32,
    /// None: `--service-protocol`'s.
    pub protocol: Option<GroupProtocol>,
}

impl ServiceSpec {
    /// Parses NAME:PROCESSING_MS:FAILURE_RATE:MEMBERS[:PROTOCOL], checking
    /// each against the limits a `PATCH /api/services/{name}` is held to.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let (name, processing_ms, failure_rate, members, protocol) = match parts[..] {
            [name, ms, rate, members] => (name, ms, rate, members, None),
            [name, ms, rate, members, protocol] => {
                (name, ms, rate, members, Some(parse_protocol(protocol)?))
            }
            _ => {
                return Err(format!(
                    "expected NAME:PROCESSING_MS:FAILURE_RATE:MEMBERS[:PROTOCOL], got {s:?}"
                ));
            }
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
            protocol,
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
    /// The executable filters run in: `filter_worker`, or this process's.
    pub fn filter_worker(&self) -> Result<PathBuf, String> {
        match &self.filter_worker {
            Some(exe) => Ok(exe.clone()),
            None => std::env::current_exe()
                .map_err(|err| format!("cannot find the gateway's executable: {err}")),
        }
    }

    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        let mut config = Config::parse_from(["gateway"]);
        config.brokers = brokers.into();
        config.topic = topic.into();
        config
    }

    /// The configuration of this process: its flags and environment, then
    /// the secrets and properties they point to (the token file, the
    /// properties file, `KAFKA_PROPERTIES`); and warnings to log (secrets
    /// given on the command line, where `ps` shows them), for the caller to
    /// log once logging is set up as the configuration says.
    pub fn load() -> Result<(Self, Vec<String>), ConfigError> {
        let matches = Self::command().get_matches();
        let on_command_line =
            |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        let token_on_command_line = on_command_line("api_token");
        let mut config = Self::from_arg_matches(&matches)?;
        let mut warnings = Vec::new();
        if token_on_command_line {
            warnings.push(
                "--api-token is on the command line, where `ps` shows it to every user of this \
                 machine: prefer GATEWAY_API_TOKEN or --api-token-file"
                    .to_owned(),
            );
        }
        if let Some((key, _)) = config.kafka_properties.iter().find(|(k, _)| is_secret(k)) {
            warnings.push(format!(
                "-X {key} is on the command line, where `ps` shows it to every user of this \
                 machine: prefer --kafka-properties-file or KAFKA_PROPERTIES"
            ));
        }
        let from_env = std::env::var("KAFKA_PROPERTIES").unwrap_or_default();
        config.resolve(&from_env)?;
        Ok((config, warnings))
    }

    /// Reads what the settings point to: the token file, the properties
    /// file, then `from_env` (KAFKA_PROPERTIES' pairs, ';'-separated), so that
    /// the properties apply in that order and -X comes last.
    pub fn resolve(&mut self, from_env: &str) -> Result<(), ConfigError> {
        if self.key_log_topic() == self.topic {
            return Err(ConfigError::KeyLogIsTheTopic(self.topic.clone()));
        }
        if let Some(path) = &self.api_token_file {
            let token = std::fs::read_to_string(path).map_err(|err| ConfigError::File {
                what: "--api-token-file",
                path: path.clone(),
                err,
            })?;
            let token = token.trim();
            if token.is_empty() {
                return Err(ConfigError::EmptyToken(path.clone()));
            }
            self.api_token = Some(token.to_owned());
        }
        if let Some(token) = self.api_token.take() {
            let token = token.trim();
            if token.is_empty() {
                return Err(ConfigError::BlankToken);
            }
            self.api_token = Some(token.to_owned());
        }
        let mut properties = Vec::new();
        if let Some(path) = &self.kafka_properties_file {
            let text = std::fs::read_to_string(path).map_err(|err| ConfigError::File {
                what: "--kafka-properties-file",
                path: path.clone(),
                err,
            })?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let property = parse_property(line).map_err(|message| ConfigError::Property {
                    place: format!("{}, line {}", path.display(), i + 1),
                    message,
                })?;
                properties.push(property);
            }
        }
        for pair in from_env.split(';').filter(|p| !p.trim().is_empty()) {
            let property =
                parse_property(pair.trim()).map_err(|message| ConfigError::Property {
                    place: "KAFKA_PROPERTIES".into(),
                    message,
                })?;
            properties.push(property);
        }
        properties.append(&mut self.kafka_properties);
        self.kafka_properties = properties;
        if (self.protect_reads || self.protect_metrics) && self.api_token.is_none() {
            return Err(ConfigError::ProtectReadsWithoutToken);
        }
        Ok(())
    }

    /// Why the gateway must not serve on `addr` with these settings: writes
    /// would be open beyond this machine without the operator saying so.
    pub fn open_writes_refused(&self, addr: SocketAddr) -> Option<ConfigError> {
        (!addr.ip().is_loopback() && self.api_token.is_none() && !self.allow_open_writes)
            .then_some(ConfigError::OpenWrites(addr))
    }

    /// Whether writes need no token.
    pub fn writes_open(&self) -> bool {
        self.api_token.is_none()
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

    /// Whether browsers may watch `topic` and see it listed: this gateway's
    /// topic always; another if `--topics` allows it (every topic without
    /// it), and an internal one (`__…`) only with `--show-internal`.
    pub fn may_watch(&self, topic: &str) -> bool {
        if topic == self.topic {
            return true;
        }
        if topic.starts_with("__") && !self.show_internal {
            return false;
        }
        self.topics.as_ref().is_none_or(|p| p.matches(topic))
    }

    /// How long a watched topic stays read with no browser watching it.
    pub fn live_topic_idle(&self) -> Duration {
        Duration::from_secs(self.live_topic_idle_s)
    }

    /// The demo services' group id prefix: `--service-group-prefix`, or
    /// `demo-TOPIC-`.
    pub fn group_prefix(&self) -> String {
        self.service_group_prefix
            .clone()
            .unwrap_or_else(|| format!("demo-{}-", self.topic))
    }

    /// The key log's topic: `--idempotency-topic`, or TOPIC-idempotency-keys.
    pub fn key_log_topic(&self) -> String {
        self.idempotency_topic
            .clone()
            .unwrap_or_else(|| format!("{}-idempotency-keys", self.topic))
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

/// Parses one `key=value` librdkafka property: an alias is taken as the
/// property it names, and what the gateway sets itself is refused with the
/// setting to use instead.
fn parse_property(s: &str) -> Result<(String, String), String> {
    let (key, value) = s.split_once('=').ok_or_else(|| {
        // The text is not echoed: it may be a secret missing its '='.
        "expected KEY=VALUE, with no '=' found".to_owned()
    })?;
    let key = key.trim().to_ascii_lowercase();
    if key.is_empty() {
        return Err("empty property name before '='".into());
    }
    let key = ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key.as_str(), |(_, canonical)| canonical)
        .to_owned();
    if let Some((_, instead)) = OWNED.iter().find(|(owned, _)| *owned == key) {
        return Err(format!("{key} is set by the gateway: {instead}"));
    }
    Ok((key, value.to_owned()))
}

/// librdkafka's alias names and the property each names (its
/// CONFIGURATION.md): set both and librdkafka keeps whichever it applies
/// last, which is hash order here.
const ALIASES: &[(&str, &str)] = &[
    ("metadata.broker.list", "bootstrap.servers"),
    ("max.in.flight.requests.per.connection", "max.in.flight"),
    ("sasl.mechanisms", "sasl.mechanism"),
    (
        "sasl.oauthbearer.client.credentials.client.id",
        "sasl.oauthbearer.client.id",
    ),
    (
        "sasl.oauthbearer.client.credentials.client.secret",
        "sasl.oauthbearer.client.secret",
    ),
    ("fetch.message.max.bytes", "max.partition.fetch.bytes"),
    ("queue.buffering.max.ms", "linger.ms"),
    ("message.send.max.retries", "retries"),
    ("compression.codec", "compression.type"),
    ("request.required.acks", "acks"),
    ("delivery.timeout.ms", "message.timeout.ms"),
    ("auto.commit.enable", "enable.auto.commit"),
];

/// Properties the gateway's guarantees rest on, and what to use instead.
const OWNED: &[(&str, &str)] = &[
    ("bootstrap.servers", "use --brokers"),
    ("message.timeout.ms", "use --delivery-timeout-ms"),
    (
        "acks",
        "the producer always waits for every in-sync replica (acks=all)",
    ),
    ("enable.idempotence", "the producer is always idempotent"),
    ("group.id", "each client's group is chosen by the gateway"),
    (
        "enable.auto.commit",
        "the gateway decides what is committed",
    ),
    (
        "enable.auto.offset.store",
        "the gateway decides what is committed",
    ),
];

/// Whether a librdkafka property holds a secret that must never be logged.
pub(crate) fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "passphrase",
        "secret",
        "token",
        "credential",
        "jaas",
        "sasl.oauthbearer.config",
        "ssl.key",
        "key.pem",
        "keystore",
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
            .field("api_token_file", &self.api_token_file)
            .field("kafka_properties_file", &self.kafka_properties_file)
            .field("allow_open_writes", &self.allow_open_writes)
            .field("protect_reads", &self.protect_reads)
            .field("protect_metrics", &self.protect_metrics)
            .field("log_format", &self.log_format)
            .field("public_hosts", &self.public_hosts)
            .field("header_timeout_ms", &self.header_timeout_ms)
            .field("write_timeout_ms", &self.write_timeout_ms)
            .field("max_connections", &self.max_connections)
            .field(
                "max_connections_per_address",
                &self.max_connections_per_address,
            )
            .field("max_clients_per_address", &self.max_clients_per_address)
            .field("max_reads_per_address", &self.max_reads_per_address)
            .field("max_batches_per_address", &self.max_batches_per_address)
            .field("topics", &self.topics)
            .field("show_internal", &self.show_internal)
            .field("max_live_topics", &self.max_live_topics)
            .field(
                "max_live_topics_per_address",
                &self.max_live_topics_per_address,
            )
            .field("max_live_filters", &self.max_live_filters)
            .field(
                "max_live_filters_per_address",
                &self.max_live_filters_per_address,
            )
            .field("live_topic_idle_s", &self.live_topic_idle_s)
            .field("write_rate", &self.write_rate)
            .field("idempotency_window_s", &self.idempotency_window_s)
            .field("idempotency_keys", &self.idempotency_keys)
            .field("idempotency_topic", &self.key_log_topic())
            .field("service_remembered_orders", &self.service_remembered_orders)
            .field("services", &self.demo_services())
            .field("service_group_prefix", &self.group_prefix())
            .field(
                "service_commit_interval_ms",
                &self.service_commit_interval_ms,
            )
            .finish()
    }
}

/// `--topics`: a regular expression a whole topic name must match.
#[derive(Clone)]
pub struct TopicPattern {
    /// As the operator wrote it, for `Debug` and messages.
    source: String,
    /// Anchored at both ends.
    regex: regex::Regex,
}

impl TopicPattern {
    /// The pattern `source`, as `--topics` takes it.
    pub fn new(source: &str) -> Result<Self, String> {
        parse_topic_pattern(source)
    }

    pub fn matches(&self, topic: &str) -> bool {
        self.regex.is_match(topic)
    }
}

impl fmt::Debug for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

/// Compiles `--topics`, anchored so that `orders` does not allow
/// `orders-old`; the size limit keeps a pathological pattern from taking
/// the gateway's memory.
fn parse_topic_pattern(source: &str) -> Result<TopicPattern, String> {
    // Alone first: `a)|(b` would compile once wrapped, and not be anchored.
    regex::RegexBuilder::new(source)
        .size_limit(1 << 20)
        .build()
        .map_err(|err| format!("not a regular expression: {err}"))?;
    let regex = regex::RegexBuilder::new(&format!("^(?:{source})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|err| format!("not a regular expression: {err}"))?;
    Ok(TopicPattern {
        source: source.to_owned(),
        regex,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_watched_as_the_allow_list_and_the_internal_switch_say() {
        let mut config = Config::new("b:9092", "orders");
        assert!(config.may_watch("orders") && config.may_watch("payments"));
        assert!(!config.may_watch("__consumer_offsets"));
        config.show_internal = true;
        assert!(config.may_watch("__consumer_offsets"));
        let config =
            Config::parse_from(["gateway", "--topics", "pay.*|orders-old", "--topic", "o"]);
        // Anchored: the whole name must match; the gateway's own topic always may.
        assert!(config.may_watch("payments") && config.may_watch("orders-old"));
        assert!(!config.may_watch("orders-older") && !config.may_watch("xpayments"));
        assert!(config.may_watch("o"));
        assert!(!config.may_watch("__consumer_offsets"));
        for bad in ["(unclosed", "a)|(b"] {
            assert!(
                Config::try_parse_from(["gateway", "--topics", bad]).is_err(),
                "{bad}"
            );
        }
    }

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
            "linger.ms=5",
            "--api-token",
            "t0ps3cret",
        ]);
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("sasl.password=<redacted>"), "{shown}");
        assert!(shown.contains("linger.ms=5"), "{shown}");
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
                members: 3,
                protocol: None,
            }]
        );
        let config = Config::parse_from([
            "gateway",
            "--service",
            "billing:0:0:1:consumer",
            "--service-protocol",
            "consumer",
        ]);
        assert_eq!(
            config.demo_services()[0].protocol,
            Some(GroupProtocol::Consumer)
        );
        assert_eq!(config.service_protocol, GroupProtocol::Consumer);
        let config = Config::parse_from(["gateway", "--no-services"]);
        assert!(config.demo_services().is_empty());

        // Groups per topic by default, so two dashboards of one cluster
        // share none; the earlier names on request.
        let on = |topic: &str, extra: &[&str]| {
            let mut args = vec!["gateway", "--topic", topic];
            args.extend(extra);
            Config::parse_from(args).group_prefix()
        };
        assert_eq!(on("orders", &[]), "demo-orders-");
        assert_ne!(on("orders", &[]), on("refunds", &[]));
        assert_eq!(on("orders", &["--service-group-prefix", "demo-"]), "demo-");

        for bad in [
            "billing",
            "Bill:1:0:1",
            "b:x:0:1",
            "b:1:1.5:1",
            "b:1:0:0",
            "b:1:0:9",
            "b:1:0:1:share",
            "b:1:0:1:consumer:x",
        ] {
            assert!(
                Config::try_parse_from(["gateway", "--service", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_command_line_value_is_taken_whole_and_the_environment_splits_on_semicolons() {
        let mut config = Config::parse_from(["gateway", "-X", "sasl.password=a;b=c"]);
        config
            .resolve("security.protocol=SASL_SSL; sasl.username=u ;")
            .expect("resolved");
        assert_eq!(
            config.kafka_properties,
            vec![
                ("security.protocol".into(), "SASL_SSL".into()),
                ("sasl.username".into(), "u".into()),
                ("sasl.password".into(), "a;b=c".into()),
            ]
        );
    }

    #[test]
    fn aliases_are_the_property_they_name_and_the_gateways_own_are_refused() {
        let config = Config::parse_from(["gateway", "-X", "Queue.Buffering.Max.Ms=7"]);
        assert_eq!(
            config.kafka_properties,
            vec![("linger.ms".into(), "7".into())]
        );
        for (property, names) in [
            ("request.required.acks=1", "acks"),
            ("delivery.timeout.ms=600000", "--delivery-timeout-ms"),
            ("message.timeout.ms=600000", "--delivery-timeout-ms"),
            ("metadata.broker.list=x:9092", "--brokers"),
            ("enable.idempotence=false", "idempotent"),
            ("group.id=g", "group"),
        ] {
            let err = Config::try_parse_from(["gateway", "-X", property])
                .expect_err(property)
                .to_string();
            assert!(err.contains(names), "{property}: {err}");
        }
        let mut config = Config::parse_from(["gateway"]);
        let err = config.resolve("acks=0").expect_err("refused").to_string();
        assert!(err.contains("KAFKA_PROPERTIES"), "{err}");
    }

    #[test]
    fn a_malformed_property_from_the_environment_does_not_echo_its_text() {
        // (On the command line clap shows the value, which `ps` shows anyway.)
        let mut config = Config::parse_from(["gateway"]);
        let err = config
            .resolve("sasl.username=u;hunter2")
            .expect_err("no =")
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("KAFKA_PROPERTIES"), "{err}");
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = std::env::temp_dir().join(format!("kf-config-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("dir");
        let token = dir.join("token");
        std::fs::write(&token, "  t0ken\n").expect("write");
        let properties = dir.join("kafka.properties");
        std::fs::write(
            &properties,
            "# SASL\nsasl.username=u\n\nsasl.password=p;w=d\n",
        )
        .expect("write");
        let mut config = Config::parse_from([
            "gateway",
            "--api-token-file",
            token.to_str().expect("path"),
            "--kafka-properties-file",
            properties.to_str().expect("path"),
            "-X",
            "sasl.username=v",
        ]);
        config.resolve("").expect("resolved");
        assert_eq!(config.api_token.as_deref(), Some("t0ken"));
        assert_eq!(
            config.kafka_properties,
            vec![
                ("sasl.username".into(), "u".into()),
                ("sasl.password".into(), "p;w=d".into()),
                ("sasl.username".into(), "v".into()),
            ],
            "the file first, -X last"
        );
        std::fs::write(&properties, "sasl.password\n").expect("write");
        let err = config.resolve("").expect_err("no =").to_string();
        assert!(err.contains("line 1"), "{err}");
        std::fs::write(&token, "\n").expect("write");
        assert!(matches!(
            config.resolve(""),
            Err(ConfigError::EmptyToken(_))
        ));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn every_secret_looking_property_is_secret() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.key.pem",
            "ssl_key.passphrase",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "sasl.jaas.config",
            "sasl.oauthbearer.token.endpoint.url.token",
        ] {
            assert!(is_secret(key), "{key}");
        }
        assert!(!is_secret("security.protocol"));
        assert!(!is_secret("sasl.username"));
    }

    #[test]
    fn beyond_loopback_writes_need_a_token_or_an_explicit_flag() {
        let any: SocketAddr = "0.0.0.0:8080".parse().expect("addr");
        let any6: SocketAddr = "[::]:8080".parse().expect("addr");
        let local: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let config = Config::parse_from(["gateway"]);
        assert!(config.open_writes_refused(local).is_none());
        assert!(config.open_writes_refused(any).is_some());
        assert!(config.open_writes_refused(any6).is_some());
        let open = Config::parse_from(["gateway", "--allow-open-writes"]);
        assert!(open.open_writes_refused(any).is_none());
        let mut token = Config::parse_from(["gateway"]);
        token.api_token = Some("t".into());
        assert!(token.open_writes_refused(any).is_none());
        let mut blank = Config::parse_from(["gateway", "--api-token", " "]);
        assert!(matches!(blank.resolve(""), Err(ConfigError::BlankToken)));
        let mut key_log = Config::parse_from(["gateway", "--idempotency-topic", "orders"]);
        assert!(matches!(
            key_log.resolve(""),
            Err(ConfigError::KeyLogIsTheTopic(_))
        ));
        let mut reads = Config::parse_from(["gateway", "--protect-reads"]);
        assert!(matches!(
            reads.resolve(""),
            Err(ConfigError::ProtectReadsWithoutToken)
        ));
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        assert!(Config::try_parse_from(["gateway", "--partitions", "0"]).is_err());
        assert!(Config::try_parse_from(["gateway", "--delivery-timeout-ms", "5"]).is_err());
    }
}
