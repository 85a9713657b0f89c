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
use bench::report::{self, BrowserRun, EndToEndRun, Environment, FanOutRun, Results, Run};
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
    /// Client counts of the fan-out runs.
    #[arg(long, value_delimiter = ',', default_value = "100,500,1000")]
    fan_out_clients: Vec<u64>,
    /// Orders per second in the fan-out runs.
    #[arg(long, default_value_t = 100)]
    fan_out_rate: u64,
    /// Rates (events/s) the browser is measured at; none to skip it.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    browser_rates: Vec<u64>,
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
}

/// Requests in flight at most in an open-loop run: past this, due orders
/// wait for a slot, and that wait counts in their latency.
const MAX_IN_FLIGHT: usize = 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let wants = |part| args.only.is_empty() || args.only.contains(&part);
    let repo = std::env::current_dir()?;
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut r = Results {
        seconds: args.seconds,
        single_workers: args.single_workers,
        batch_workers: args.batch_workers,
        batch_size: args.batch_size,
        ..Default::default()
    };
    let rate = report::SINGLE_TARGET_RATE;
    let topic = |what: &str| format!("bench-{run_id}-{what}");
    let secs = Duration::from_secs(args.seconds);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .build()?;
    let start = |name: &str, extra: &'static [&'static str]| {
        let name = topic(name);
        let (bin, brokers, dir) = (&args.gateway_bin, &args.brokers, &args.static_dir);
        let http = http.clone();
        async move {
            let gw = Gateway::start(bin, brokers, dir, &name, extra).await?;
            warm_up(&http, &gw.addr).await?;
            anyhow::Ok(gw)
        }
    };
    const QUIET: &[&str] = &["--no-services"];

    // The size of an order record, so Kafka's tools write the same.
    let gw = start("probe", QUIET).await?;
    r.record_size = record_size(&http, &gw.addr).await?;
    gw.stop().await?;
    eprintln!("bench: an order record is {} bytes", r.record_size);

    if wants(Part::Tools) {
        eprintln!("bench: ProducerPerformance");
        let pp = topic("producer-perf");
        kafka_tools::create_topic(&repo, &args.brokers, &pp, 3).await?;
        r.producer_perf_max = kafka_tools::producer_performance(
            &repo,
            &args.brokers,
            &pp,
            args.perf_records,
            r.record_size,
            -1,
        )
        .await?;

        r.producer_perf_at_rate = kafka_tools::producer_performance(
            &repo,
            &args.brokers,
            &pp,
            rate * args.seconds,
            r.record_size,
            rate as i64,
        )
        .await?;
        eprintln!("bench: EndToEndLatency");
        let e2e = topic("end-to-end");
        kafka_tools::create_topic(&repo, &args.brokers, &e2e, 1).await?;
        r.end_to_end_tool = kafka_tools::end_to_end_latency(
            &repo,
            &args.brokers,
            &e2e,
            args.e2e_records,
            r.record_size,
        )
        .await?;
    }

    if wants(Part::Produce) {
        eprintln!("bench: gateway produce");
        let gw = start("produce", QUIET).await?;
        let orders = format!("http://{}/api/orders", gw.addr);
        let batches = format!("http://{}/api/orders/batch", gw.addr);
        let single = {
            let (http, url) = (http.clone(), orders.clone());
            move |tag: &'static str| {
                let (http, url) = (http.clone(), url.clone());
                move |seq: u64| {
                    let (http, url) = (http.clone(), url.clone());
                    async move { load::post(&http, &url, load::order_body(tag, seq)).await }
                }
            }
        };
        let batch = |tag: &'static str, size: u64| {
            let (http, url) = (http.clone(), batches.clone());
            move |first: u64| {
                let (http, url) = (http.clone(), url.clone());
                async move { load::post(&http, &url, load::batch_body(tag, first, size)).await }
            }
        };
        let pid = gw.pid()?;
        r.batch_max = measure(pid, args.broker_pid, async {
            load::closed_loop(
                args.batch_workers,
                secs,
                args.batch_size,
                batch("b", args.batch_size),
            )
            .await
        })
        .await?;
        r.single_max = measure(pid, args.broker_pid, async {
            load::closed_loop(args.single_workers, secs, 1, single("s")).await
        })
        .await?;
        r.single_at_target = measure(pid, args.broker_pid, async {
            let schedule = Schedule {
                start: Instant::now(),
                rate: rate as f64,
            };
            load::open_loop(schedule, secs, 1, args.connections, single("t")).await
        })
        .await?;
        // Latency at a rate it sustains: 70% of the closed-loop most, in thousands.
        let sustained =
            ((r.single_max.load.orders_per_second * 0.7 / 1000.0).floor() * 1000.0).max(1000.0);
        r.single_sustained = measure(pid, args.broker_pid, async {
            let schedule = Schedule {
                start: Instant::now(),
                rate: sustained,
            };
            load::open_loop(schedule, secs, 1, args.connections, single("u")).await
        })
        .await?;
        gw.stop().await?;
        for run in [
            &r.batch_max,
            &r.single_max,
            &r.single_at_target,
            &r.single_sustained,
        ] {
            eprintln!("bench: {run:?}");
        }
    }

    for &rate in args.e2e_rates.iter().filter(|_| wants(Part::EndToEnd)) {
        eprintln!("bench: end to end at {rate}/s");
        let gw = start(&format!("e2e-{rate}"), QUIET).await?;
        let (run, _) = fan_out(&gw, &http, 1, rate, secs).await?;
        eprintln!("bench: {run:?}");
        r.end_to_end.push(EndToEndRun {
            rate,
            latency: run.latency,
            kafka_leg: run.kafka_leg,
            missing: run.missing,
            gateway: run.gateway,
        });
        gw.stop().await?;
    }

    for &clients in args.fan_out_clients.iter().filter(|_| wants(Part::FanOut)) {
        eprintln!("bench: fan-out to {clients} clients");
        let gw = start(&format!("fan-out-{clients}"), QUIET).await?;
        let (run, _) = fan_out(&gw, &http, clients, args.fan_out_rate, secs).await?;
        eprintln!("bench: {run:?}");
        r.fan_out.push(run);
        gw.stop().await?;
    }

    for &rate in args.browser_rates.iter().filter(|_| wants(Part::Browser)) {
        eprintln!("bench: browser at {rate}/s");
        let gw = start(&format!("browser-{rate}"), &[]).await?;
        let page = Page::open(&repo, &format!("http://{}/", gw.addr)).await?;
        // Batches every 10 ms: the rate without 10,000 requests a second.
        let per_batch = (rate / 100).max(1);
        let url = format!("http://{}/api/orders/batch", gw.addr);
        let schedule = Schedule {
            start: Instant::now(),
            rate: rate as f64,
        };
        let sent = load::open_loop(schedule, secs, per_batch, MAX_IN_FLIGHT, {
            let http = http.clone();
            move |first| {
                let (http, url) = (http.clone(), url.clone());
                async move { load::post(&http, &url, load::batch_body("w", first, per_batch)).await }
            }
        })
        .await;
        // A second for the last records to reach the page.
        tokio::time::sleep(Duration::from_secs(1)).await;
        r.browser.push(BrowserRun {
            rate,
            sent: sent.acked,
            page: page.finish().await?,
        });
        gw.stop().await?;
    }

    let (raw, gzip) = wasm_size(&args.static_dir)?;
    (r.wasm_bytes, r.wasm_gzip_bytes) = (raw, gzip);

    let _ = kafka_tools::delete_topics(&repo, &args.brokers, &format!("bench-{run_id}-.*")).await;

    if !args.only.is_empty() {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let env = environment(&repo, &args).await;
    let doc = std::fs::read_to_string(&args.write).unwrap_or_else(|_| "# Benchmarks\n".into());
    let generated = report::render(&r, &env);
    std::fs::write(&args.write, report::splice(&doc, &generated))
        .with_context(|| format!("writing {}", args.write.display()))?;
    println!("{generated}");
    for v in report::verdicts(&r) {
        eprintln!(
            "bench: {} — {} — {}",
            v.target,
            v.measured,
            if v.met { "met" } else { "NOT met" }
        );
    }
    Ok(())
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
) -> anyhow::Result<(FanOutRun, LoadResult)> {
    let tag: Arc<str> = Arc::from("f");
    let schedule = Arc::new(OnceLock::new());
    let expected = rate * duration.as_secs();
    let mut connected = Vec::new();
    for _ in 0..clients {
        connected.push(
            Client::connect(
                &gw.addr,
                tag.clone(),
                schedule.clone(),
                expected,
                Duration::from_secs(5),
            )
            .await?,
        );
    }
    let meter = Meter::start(gw.pid()?)?;
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
    run.latency = latencies.percentiles();
    run.kafka_leg = kafka_leg.percentiles();
    run.missing = (sent.acked * clients).saturating_sub(received);
    Ok((run, sent))
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
