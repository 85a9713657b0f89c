//! The benchmark suite: the gateway side by side with Kafka's own tools on
//! the same broker, each measurement on a fresh topic and a fresh gateway,
//! written into `BENCHMARKS.md`. `scripts/bench.sh` builds everything,
//! starts Kafka and runs this.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use bench::browser::Page;
use bench::gateway::Gateway;
use bench::kafka_tools;
use bench::live::Client;
use bench::load::{self, LoadResult, Schedule};
use bench::process::Meter;
use bench::report::{
    self, BrowserRun, EndToEndRun, Environment, FanOutRun, Results, Run, SearchBench,
};
use bench::search;
use clap::Parser;
use futures_util::StreamExt;

#[derive(Debug, Parser)]
#[command(about = "Benchmark the gateway against Kafka's own tools and write BENCHMARKS.md")]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// The release gateway binary.
    #[arg(long, default_value = "target/release/gateway")]
    gateway_bin: PathBuf,
    /// The built dashboard (for the browser measurement and the WASM size).
    #[arg(long, default_value = "dist")]
    static_dir: PathBuf,
    /// The broker's process id, to show its CPU next to the gateway's
    /// (scripts/bench.sh passes the local broker's).
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Seconds each load measurement runs.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Records ProducerPerformance sends unthrottled.
    #[arg(long, default_value_t = 2_000_000)]
    perf_records: u64,
    /// Records EndToEndLatency sends, one at a time.
    #[arg(long, default_value_t = 10_000)]
    e2e_records: u64,
    /// Keep-alive connections of the closed-loop single-order run.
    #[arg(long, default_value_t = 64)]
    single_workers: usize,
    /// Keep-alive connections (requests in flight at most) of the open-loop
    /// single-order runs: a due order waits for a free one, and that wait
    /// counts in its latency.
    #[arg(long, default_value_t = 128)]
    connections: usize,
    /// Batch requests in flight in the closed-loop batch run.
    #[arg(long, default_value_t = 4)]
    batch_workers: usize,
    /// Orders per batch request.
    #[arg(long, default_value_t = 1_000)]
    batch_size: u64,
    /// Rates (orders/s) of the end-to-end runs.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000")]
    e2e_rates: Vec<u64>,
    /// Client counts of the fan-out runs (each at every --fan-out-rates).
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    fan_out_clients: Vec<u64>,
    /// Orders per second in the fan-out runs.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    fan_out_rates: Vec<u64>,
    /// Rates (events/s) the browser is measured at; none to skip it.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    browser_rates: Vec<u64>,
    /// Live clients of the live-filter runs.
    #[arg(long, default_value_t = 1_000)]
    filter_clients: u64,
    /// Distinct live filters the filtered run's clients hold.
    #[arg(long, default_value_t = 10)]
    filters: u64,
    /// Orders per second in the live-filter runs.
    #[arg(long, default_value_t = 1_000)]
    filter_rate: u64,
    /// Orders on the topic the search is measured on.
    #[arg(long, default_value_t = 1_000_000)]
    search_records: u64,
    /// Run only these parts (and print, not write, the results).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
    /// The Markdown file whose generated part is replaced.
    #[arg(long, default_value = "BENCHMARKS.md")]
    write: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    Tools,
    Produce,
    EndToEnd,
    FanOut,
    Browser,
    Search,
    Filters,
}

/// Requests in flight at most in an open-loop run: past this, due orders
/// wait for a slot, and that wait counts in their latency.
const MAX_IN_FLIGHT: usize = 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let suite = Suite {
        repo: std::env::current_dir()?,
        run_id: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .build()?,
        args,
    };
    let mut r = Results {
        seconds: suite.args.seconds,
        single_workers: suite.args.single_workers,
        batch_workers: suite.args.batch_workers,
        batch_size: suite.args.batch_size,
        ..Default::default()
    };
    let measured = suite.run(&mut r).await;
    let _ = kafka_tools::delete_topics(
        &suite.repo,
        &suite.args.brokers,
        &format!("{}-.*", suite.topic_prefix()),
    )
    .await;
    measured?;

    let (raw, gzip) = wasm_size(&suite.args.static_dir)?;
    (r.wasm_bytes, r.wasm_gzip_bytes) = (raw, gzip);
    if !suite.args.only.is_empty() {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let env = environment(&suite.repo, &suite.args).await;
    let path = &suite.args.write;
    let doc = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let generated = report::render(&r, &env);
    std::fs::write(path, report::splice(&doc, &generated))
        .with_context(|| format!("writing {}", path.display()))?;
    println!("{generated}");
    for v in report::verdicts(&r) {
        let met = if v.met { "met" } else { "NOT met" };
        eprintln!("bench: {} — {} — {met}", v.target, v.measured);
    }
    Ok(())
}

/// Flags for gateways that only serve the measurement: no demo services.
const QUIET: &[&str] = &["--no-services"];

/// One run of the suite: its flags, and what every part shares.
struct Suite {
    args: Args,
    repo: PathBuf,
    http: reqwest::Client,
    /// Names this run's topics (deleted at the end).
    run_id: u64,
}

impl Suite {
    fn wants(&self, part: Part) -> bool {
        self.args.only.is_empty() || self.args.only.contains(&part)
    }

    fn topic_prefix(&self) -> String {
        format!("bench-{}", self.run_id)
    }

    fn topic(&self, what: &str) -> String {
        format!("{}-{what}", self.topic_prefix())
    }

    fn duration(&self) -> Duration {
        Duration::from_secs(self.args.seconds)
    }

    /// A fresh gateway on a fresh topic, warmed up.
    async fn gateway(&self, name: &str, extra: &[&str]) -> anyhow::Result<Gateway> {
        let a = &self.args;
        let gw = Gateway::start(
            &a.gateway_bin,
            &a.brokers,
            &a.static_dir,
            &self.topic(name),
            extra,
        )
        .await?;
        warm_up(&self.http, &gw.addr).await?;
        Ok(gw)
    }

    async fn run(&self, r: &mut Results) -> anyhow::Result<()> {
        // The size of an order record, so Kafka's tools write the same.
        let gw = self.gateway("probe", QUIET).await?;
        r.record_size = record_size(&self.http, &gw.addr).await?;
        gw.stop().await?;
        eprintln!("bench: an order record is {} bytes", r.record_size);
        if self.wants(Part::Tools) {
            self.kafka_tools(r).await?;
        }
        if self.wants(Part::Produce) {
            self.produce(r).await?;
        }
        if self.wants(Part::EndToEnd) {
            for &rate in &self.args.e2e_rates {
                eprintln!("bench: end to end at {rate}/s");
                let gw = self.gateway(&format!("e2e-{rate}"), QUIET).await?;
                let run = fan_out(&gw, &self.http, 1, rate, self.duration()).await?;
                gw.stop().await?;
                eprintln!("bench: {run:?}");
                r.end_to_end.push(EndToEndRun {
                    rate,
                    latency: run.latency,
                    kafka_leg: run.kafka_leg,
                    missing: run.missing,
                    gateway: run.gateway,
                });
            }
        }
        if self.wants(Part::FanOut) {
            for &rate in &self.args.fan_out_rates {
                for &clients in &self.args.fan_out_clients {
                    eprintln!("bench: fan-out to {clients} clients at {rate}/s");
                    let gw = self
                        .gateway(&format!("fan-out-{clients}-{rate}"), QUIET)
                        .await?;
                    let run = fan_out(&gw, &self.http, clients, rate, self.duration()).await?;
                    gw.stop().await?;
                    eprintln!("bench: {run:?}");
                    r.fan_out.push(run);
                }
            }
        }
        if self.wants(Part::Browser) {
            for &rate in &self.args.browser_rates {
                r.browser.push(self.browser(rate).await?);
            }
        }
        if self.wants(Part::Search) {
            r.search = Some(self.search().await?);
        }
        if self.wants(Part::Filters) {
            r.filters = Some(self.filters().await?);
        }
        Ok(())
    }

    /// The same live clients at the same rate, unfiltered and then with
    /// `--filters` distinct live filters every order passes: what testing
    /// each record once per filter costs beside the fan-out.
    async fn filters(&self) -> anyhow::Result<report::FiltersBench> {
        let a = &self.args;
        let (clients, rate, n) = (a.filter_clients, a.filter_rate, a.filters);
        let flags = ["--no-services", "--max-live-filters-per-address", "1024"];
        let mut runs = Vec::new();
        for filtered in [false, true] {
            eprintln!("bench: {clients} live clients at {rate}/s, filtered: {filtered}");
            let gw = self.gateway(&format!("filters-{filtered}"), &flags).await?;
            let query = move |i: u64| {
                if !filtered {
                    return String::new();
                }
                let filter = format!("select(.value.total_cents > -{})", i % n + 1);
                format!(
                    "filter={}",
                    form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
                )
            };
            let run = fan_out_to(&gw, &self.http, clients, rate, self.duration(), &query).await?;
            gw.stop().await?;
            eprintln!("bench: {run:?}");
            runs.push(run);
        }
        Ok(report::FiltersBench {
            filters: n,
            unfiltered: runs[0],
            filtered: runs[1],
        })
    }

    /// A search of a topic of orders for the 0.1% over 100.00, by the
    /// gateway and by the console consumer piped into `jq`.
    async fn search(&self) -> anyhow::Result<SearchBench> {
        let records = self.args.search_records;
        eprintln!("bench: search over {records} orders");
        let topic = self.topic("search");
        let gw = self.gateway("search", QUIET).await?;
        search::fill(&self.http, &gw.addr, records).await?;
        let console_jq =
            search::console_jq(&self.repo, &self.args.brokers, &topic, records).await?;
        eprintln!("bench: console consumer | jq {console_jq:?}");
        let gateway = search::gateway_search(&self.http, &gw.addr, &topic).await?;
        eprintln!("bench: gateway search {gateway:?}");
        gw.stop().await?;
        Ok(SearchBench {
            records,
            gateway,
            console_jq,
        })
    }

    /// Kafka's own numbers on the same broker.
    async fn kafka_tools(&self, r: &mut Results) -> anyhow::Result<()> {
        let (repo, brokers) = (&self.repo, &self.args.brokers);
        eprintln!("bench: ProducerPerformance");
        let pp = self.topic("producer-perf");
        kafka_tools::create_topic(repo, brokers, &pp, 3).await?;
        let size = r.record_size;
        r.producer_perf_max = kafka_tools::producer_performance(
            repo,
            brokers,
            &pp,
            self.args.perf_records,
            size,
            -1,
            0,
        )
        .await?;
        let rate = report::TOOL_THROTTLED_RATE;
        let records = rate * self.args.seconds;
        r.producer_perf_at_rate =
            kafka_tools::producer_performance(repo, brokers, &pp, records, size, rate as i64, 0)
                .await?;
        // The broker's own tail at the end-to-end target's rate, which
        // EndToEndLatency (one record at a time) does not load it to. Its
        // first second is left out, as the gateway's warm-up is (its first
        // records wait for the tool's start-up, not for the broker).
        let rate = report::E2E_TARGET_RATE;
        r.producer_perf_at_e2e_rate = kafka_tools::producer_performance(
            repo,
            brokers,
            &pp,
            rate * self.args.seconds,
            size,
            rate as i64,
            rate,
        )
        .await?;
        eprintln!("bench: EndToEndLatency");
        let e2e = self.topic("end-to-end");
        kafka_tools::create_topic(repo, brokers, &e2e, 1).await?;
        r.end_to_end_tool =
            kafka_tools::end_to_end_latency(repo, brokers, &e2e, self.args.e2e_records, size)
                .await?;
        Ok(())
    }

    /// Orders through the gateway: batches and single orders, closed loop
    /// for the most it takes, open loop for latency at a rate.
    async fn produce(&self, r: &mut Results) -> anyhow::Result<()> {
        eprintln!("bench: gateway produce");
        let a = &self.args;
        let gw = self.gateway("produce", QUIET).await?;
        let (pid, secs) = (gw.pid()?, self.duration());
        let orders = format!("http://{}/api/orders", gw.addr);
        let batches = format!("http://{}/api/orders/batch", gw.addr);
        let single = |tag: &'static str| {
            let (http, url) = (self.http.clone(), orders.clone());
            move |seq: u64| {
                let (http, url) = (http.clone(), url.clone());
                async move { load::post(&http, &url, load::order_body(tag, seq)).await }
            }
        };
        let batch = |tag: &'static str, size: u64| {
            let (http, url) = (self.http.clone(), batches.clone());
            move |first: u64| {
                let (http, url) = (http.clone(), url.clone());
                async move { load::post(&http, &url, load::batch_body(tag, first, size)).await }
            }
        };
        let open_loop = |rate: f64, tag| {
            let schedule = Schedule {
                start: Instant::now(),
                rate,
            };
            load::open_loop(schedule, secs, 1, a.connections, single(tag))
        };
        let broker = a.broker_pid;
        let all = batch("b", a.batch_size);
        r.batch_max = measure(
            pid,
            broker,
            load::closed_loop(a.batch_workers, secs, a.batch_size, all),
        )
        .await?;
        r.single_max = measure(
            pid,
            broker,
            load::closed_loop(a.single_workers, secs, 1, single("s")),
        )
        .await?;
        // Latency at half the closed-loop most, in hundreds, several runs
        // in a row: one run's p99 on a shared machine says little.
        let half = ((r.single_max.load.orders_per_second / 2.0 / 100.0).floor() * 100.0).max(100.0);
        r.single_half_rate = half as u64;
        r.single_half.clear();
        for (i, tag) in ["h0", "h1", "h2", "h3", "h4"]
            .into_iter()
            .take(report::SINGLE_OPEN_RUNS)
            .enumerate()
        {
            eprintln!("bench: single orders open loop at {half}/s, run {}", i + 1);
            r.single_half
                .push(measure(pid, broker, open_loop(half, tag)).await?);
        }
        gw.stop().await?;
        for run in [&r.batch_max, &r.single_max]
            .into_iter()
            .chain(&r.single_half)
        {
            eprintln!("bench: {run:?}");
        }
        Ok(())
    }

    /// The dashboard in headless Chromium while `rate` orders a second flow.
    async fn browser(&self, rate: u64) -> anyhow::Result<BrowserRun> {
        eprintln!("bench: browser at {rate}/s");
        let gw = self.gateway(&format!("browser-{rate}"), &[]).await?;
        let page = Page::open(&self.repo, &format!("http://{}/", gw.addr)).await?;
        // Batches every 10 ms: the rate without 10,000 requests a second.
        let per_batch = (rate / 100).max(1);
        let url = format!("http://{}/api/orders/batch", gw.addr);
        let schedule = Schedule {
            start: Instant::now(),
            rate: rate as f64,
        };
        let http = self.http.clone();
        let sent = load::open_loop(schedule, self.duration(), per_batch, MAX_IN_FLIGHT, move |first| {
            let (http, url) = (http.clone(), url.clone());
            async move { load::post(&http, &url, load::batch_body("w", first, per_batch)).await }
        })
        .await;
        // A second for the last records to reach the page.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let page = page.finish().await?;
        gw.stop().await?;
        Ok(BrowserRun {
            rate,
            sent: sent.acked,
            page,
        })
    }
}

/// Runs `load` while metering the gateway's and this process's CPU.
async fn measure(
    pid: u32,
    broker: Option<u32>,
    load: impl Future<Output = LoadResult>,
) -> anyhow::Result<Run> {
    let gateway = Meter::start(pid)?;
    let generator = Meter::start(std::process::id())?;
    let broker = broker.map(Meter::start).transpose()?;
    let load = load.await;
    Ok(Run {
        load,
        gateway: gateway.stop()?,
        generator_cpu_percent: generator.stop()?.cpu_percent,
        broker_cpu_percent: broker.map(|b| b.stop()).transpose()?.map(|u| u.cpu_percent),
    })
}

/// `clients` live clients, single orders open-loop at `rate` for
/// `duration`: each order timed from its intended send time to its arrival
/// at each client.
async fn fan_out(
    gw: &Gateway,
    http: &reqwest::Client,
    clients: u64,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<FanOutRun> {
    fan_out_to(gw, http, clients, rate, duration, &|_| String::new()).await
}

/// [`fan_out`] with client `i` on `/ws?{query(i)}`.
async fn fan_out_to(
    gw: &Gateway,
    http: &reqwest::Client,
    clients: u64,
    rate: u64,
    duration: Duration,
    query: &dyn Fn(u64) -> String,
) -> anyhow::Result<FanOutRun> {
    let tag: Arc<str> = Arc::from("f");
    let schedule = Arc::new(OnceLock::new());
    let expected = rate * duration.as_secs();
    let mut connected = Vec::new();
    for i in 0..clients {
        connected.push(
            Client::connect_to(
                &gw.addr,
                &query(i),
                tag.clone(),
                schedule.clone(),
                expected,
                Duration::from_secs(5),
            )
            .await?,
        );
    }
    // Both meters over the same window: the run and its clients' last reads.
    let meter = Meter::start(gw.pid()?)?;
    let generator = Meter::start(std::process::id())?;
    let start = Schedule {
        start: Instant::now(),
        rate: rate as f64,
    };
    let _ = schedule.set(start);
    let url = format!("http://{}/api/orders", gw.addr);
    let sent = load::open_loop(start, duration, 1, MAX_IN_FLIGHT, {
        let http = http.clone();
        move |seq| {
            let (http, url) = (http.clone(), url.clone());
            async move { load::post(&http, &url, load::order_body("f", seq)).await }
        }
    })
    .await;
    let mut run = FanOutRun {
        clients,
        rate,
        ..Default::default()
    };
    let mut latencies = bench::stats::Latencies::new();
    let mut kafka_leg = bench::stats::Latencies::new();
    let mut received = 0;
    for client in connected {
        let got = client.finish().await;
        latencies.merge(&got.latencies);
        kafka_leg.merge(&got.kafka_leg);
        received += got.orders;
        run.lagged += got.missed;
    }
    run.gateway = meter.stop()?;
    run.generator_cpu_percent = generator.stop()?.cpu_percent;
    run.deliveries_per_second = received as f64 / start.start.elapsed().as_secs_f64();
    run.latency = latencies.percentiles();
    run.kafka_leg = kafka_leg.percentiles();
    run.missing = (sent.acked * clients).saturating_sub(received);
    Ok(run)
}

/// A new gateway's first orders wait for the topic's metadata, the broker
/// connections and the live consumer's first fetches. A hundred orders, one
/// at a time, seen by a live client, get that done before anything is
/// measured.
async fn warm_up(http: &reqwest::Client, gateway: &str) -> anyhow::Result<()> {
    const ORDERS: u64 = 100;
    let schedule = Arc::new(OnceLock::from(Schedule {
        start: Instant::now(),
        rate: 1.0,
    }));
    let client = Client::connect(
        gateway,
        "warm".into(),
        schedule,
        ORDERS,
        Duration::from_secs(10),
    )
    .await?;
    let url = format!("http://{gateway}/api/orders");
    for seq in 0..ORDERS {
        anyhow::ensure!(
            load::post(http, &url, load::order_body("warm", seq)).await,
            "a warm-up order was refused"
        );
    }
    let seen = client.finish().await.orders;
    anyhow::ensure!(
        seen == ORDERS,
        "a live client saw {seen} of {ORDERS} warm-up orders"
    );
    Ok(())
}

/// Places one order and reads its record back: the size of its value.
async fn record_size(http: &reqwest::Client, gateway: &str) -> anyhow::Result<usize> {
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{gateway}/ws")).await?;
    let (_sink, mut stream) = socket.split();
    stream.next().await.context("no hello")??;
    let url = format!("http://{gateway}/api/orders");
    anyhow::ensure!(
        load::post(http, &url, load::order_body("probe", 0)).await,
        "the probe order was refused"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, stream.next()).await {
        if let Ok(text) = frame?.into_text()
            && let Ok(wire::ServerMessage::Record(record)) = serde_json::from_str(&text)
        {
            return Ok(record.size);
        }
    }
    anyhow::bail!("the probe order's record did not arrive")
}

/// The dashboard's `.wasm`: raw and gzipped (level 9) size in bytes.
fn wasm_size(dist: &Path) -> anyhow::Result<(u64, u64)> {
    use std::io::Write;
    let wasm = std::fs::read_dir(dist)
        .with_context(|| format!("reading {}", dist.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"))
        .context("no .wasm in the dist folder: build it with scripts/build.sh")?;
    let bytes = std::fs::read(&wasm)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bytes)?;
    Ok((bytes.len() as u64, gz.finish()?.len() as u64))
}

/// The machine and versions the report states.
async fn environment(repo: &Path, args: &Args) -> Environment {
    let output = |cmd: &str, arg: &str| {
        std::process::Command::new(cmd)
            .arg(arg)
            .output()
            .ok()
            .map(|o| {
                // Some print their version to stderr (java).
                let text = [o.stdout, o.stderr].concat();
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            })
            .unwrap_or_else(|| "unknown".into())
    };
    let file = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = file("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = file("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or("unknown".into(), |kib| {
            format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0)
        });
    let os = file("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .unwrap_or("unknown")
        .trim_matches('"')
        .to_owned();
    let kafka = file(&repo.join("kafka/pom.xml").to_string_lossy())
        .split("<kafka.version>")
        .nth(1)
        .and_then(|v| v.split('<').next())
        .unwrap_or("unknown")
        .to_owned();
    let librdkafka = file(&repo.join("Cargo.lock").to_string_lossy())
        .split("name = \"rdkafka-sys\"\nversion = \"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .and_then(|v| v.split('+').nth(1))
        .unwrap_or("unknown")
        .to_owned();
    let gateway = output(&args.gateway_bin.to_string_lossy(), "--version");
    let lines = [
        ("CPU", format!("{cpu}, {cores} cores")),
        ("memory", memory),
        (
            "OS",
            format!("{os}, Linux {}", file("/proc/sys/kernel/osrelease").trim()),
        ),
        (
            "Kafka",
            format!(
                "Apache Kafka {kafka}, one KRaft node on this machine, {}",
                output("java", "-version")
            ),
        ),
        (
            "gateway",
            format!(
                "{gateway}, librdkafka {librdkafka}, {}",
                output("rustc", "--version")
            ),
        ),
        ("browser", output("/usr/lib/chromium/chromium", "--version")),
    ];
    Environment {
        date: output("date", "-u"),
        command: "scripts/bench.sh".into(),
        lines: lines.into_iter().map(|(k, v)| (k.into(), v)).collect(),
    }
}
