//! The soak: a steady order rate through a running gateway for a fixed time,
//! with several live clients connected, while the gateway's resident memory
//! is sampled. It passes when every client received every acknowledged
//! order and the memory stayed flat (see `--max-growth-percent`).
//!
//! `scripts/soak.sh` starts Kafka and a release gateway and runs this
//! against it; the README has the command and the last result.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bench::process::rss_kib;
use clap::Parser;
use futures_util::StreamExt;
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use wire::ServerMessage;

#[derive(Debug, Parser)]
#[command(about = "Soak a running gateway: steady orders, live clients, memory sampled")]
struct Args {
    /// The gateway's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    gateway: String,
    /// The gateway's process id, whose memory is sampled (from /proc).
    #[arg(long)]
    pid: u32,
    /// Orders per second, sent open-loop.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Live (WebSocket) clients connected throughout.
    #[arg(long, default_value_t = 5)]
    clients: usize,
    /// Seconds between memory samples.
    #[arg(long, default_value_t = 30)]
    sample_every: u64,
    /// Fails when resident memory at the end exceeds the highest sample of
    /// the run's first half (after its first minute, the warm-up: buffers
    /// and allocator pools filling) by more than this. A leak grows the
    /// second half past the first; flat memory does not.
    #[arg(long, default_value_t = 20.0)]
    max_growth_percent: f64,
}

/// Requests in flight at most: past this the sender waits (and the rate
/// falls short, which the report shows) rather than piling up.
const MAX_IN_FLIGHT: usize = 512;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;

    let mut clients = Vec::new();
    for _ in 0..args.clients {
        clients.push(LiveClient::connect(&args.gateway).await?);
    }
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));

    let started = Instant::now();
    let end = started + Duration::from_secs(args.seconds);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sample = tokio::time::interval(Duration::from_secs(args.sample_every));
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let mut sent = 0u64;
    println!(
        "{:>6} {:>10} {:>10} {:>8} {:>10}",
        "t (s)", "sent", "acked", "refused", "RSS (MiB)"
    );
    while Instant::now() < end {
        tokio::select! {
            _ = tick.tick() => {
                let permit = slots.clone().acquire_owned().await?;
                let (http, acked, refused) = (http.clone(), acked.clone(), refused.clone());
                let url = format!("http://{}/api/orders", args.gateway);
                let body = serde_json::json!({
                    "customer_id": format!("soak-{}", sent % 1000),
                    "items": [{"sku": "SOAK-1", "quantity": 1, "unit_price_cents": 100}]
                });
                sent += 1;
                tokio::spawn(async move {
                    match place(&http, &url, &body).await {
                        Some(id) => {
                            acked.lock().await.insert(id);
                        }
                        None => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    drop(permit);
                });
            }
            _ = sample.tick() => {
                let rss = rss_kib(args.pid)?;
                let t = started.elapsed().as_secs();
                samples.push((t, rss));
                println!(
                    "{t:>6} {sent:>10} {:>10} {:>8} {:>10.1}",
                    acked.lock().await.len(),
                    refused.load(Ordering::Relaxed),
                    rss as f64 / 1024.0
                );
            }
        }
    }
    // Every request answered.
    let _all = slots.acquire_many(MAX_IN_FLIGHT as u32).await?;
    let acked = acked.lock().await.clone();
    let final_rss = rss_kib(args.pid)?;
    samples.push((started.elapsed().as_secs(), final_rss));

    // Each client must have received every acknowledged order.
    let mut complete = true;
    for (i, client) in clients.into_iter().enumerate() {
        let report = client.finish(&acked).await;
        println!(
            "client {i}: {} of {} acknowledged orders received, {} lagged",
            report.received,
            acked.len(),
            report.missed
        );
        complete &= report.received == acked.len() as u64 && report.missed == 0;
    }
    let refused = refused.load(Ordering::Relaxed);
    let warm_up = 60.min(args.seconds / 4);
    let half = args.seconds / 2;
    let first_half = samples
        .iter()
        .filter(|(t, _)| (warm_up..=half).contains(t))
        .map(|s| s.1)
        .max()
        .unwrap_or(final_rss);
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(final_rss);
    let growth = (final_rss as f64 - first_half as f64) * 100.0 / first_half as f64;
    println!(
        "sent {sent}, acknowledged {}, refused {refused} in {} s ({:.0}/s); RSS highest in the first half {:.1} MiB, peak {:.1} MiB, at the end {:.1} MiB ({growth:+.1}%)",
        acked.len(),
        args.seconds,
        acked.len() as f64 / args.seconds as f64,
        first_half as f64 / 1024.0,
        peak as f64 / 1024.0,
        final_rss as f64 / 1024.0,
    );
    if !complete {
        bail!("a live client did not receive every acknowledged order");
    }
    if growth > args.max_growth_percent {
        bail!(
            "resident memory grew by {growth:.1}% (more than {}%)",
            args.max_growth_percent
        );
    }
    Ok(())
}

/// Places one order; its id once acknowledged.
async fn place(http: &reqwest::Client, url: &str, body: &serde_json::Value) -> Option<String> {
    let response = http.post(url).json(body).send().await.ok()?;
    if response.status() != 202 {
        return None;
    }
    let ack: wire::OrderAccepted = response.json().await.ok()?;
    Some(ack.order_id)
}

/// A WebSocket client reading the live stream in its own task.
struct LiveClient {
    task: tokio::task::JoinHandle<Report>,
    done: tokio::sync::watch::Sender<Option<HashSet<String>>>,
}

#[derive(Default)]
struct Report {
    received: u64,
    missed: u64,
}

impl LiveClient {
    async fn connect(gateway: &str) -> anyhow::Result<Self> {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{gateway}/ws"))
            .await
            .context("connecting a live client")?;
        let (done, mut wanted) = tokio::sync::watch::channel(None::<HashSet<String>>);
        let task = tokio::spawn(async move {
            let (_sink, mut stream) = socket.split();
            let mut seen = HashSet::new();
            let mut report = Report::default();
            loop {
                // Once told which orders to expect, stop when all are in
                // (or nothing more comes for 10 s).
                let complete = wanted
                    .borrow()
                    .as_ref()
                    .is_some_and(|w| w.iter().all(|id| seen.contains(id)));
                if complete {
                    break;
                }
                let next = tokio::time::timeout(Duration::from_secs(10), stream.next());
                let frame = tokio::select! {
                    frame = next => frame,
                    _ = wanted.changed() => continue,
                };
                let text = match frame {
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(_))) => continue,
                    // Quiet for 10 s: fine while the soak runs, the end after it.
                    Err(_) if wanted.borrow().is_none() => continue,
                    Err(_) | Ok(None) | Ok(Some(Err(_))) => break,
                };
                match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(ServerMessage::Record(record)) => {
                        if let Some(id) = record.header(wire::headers::ORDER_ID)
                            && seen.insert(id.to_owned())
                        {
                            report.received += 1;
                        }
                    }
                    Ok(ServerMessage::Lagged { missed }) => report.missed += missed,
                    _ => {}
                }
            }
            report
        });
        Ok(Self { task, done })
    }

    /// Tells the client which orders it should have and waits for its report.
    async fn finish(self, acked: &HashSet<String>) -> Report {
        self.done.send_replace(Some(acked.clone()));
        self.task.await.unwrap_or_default()
    }
}
