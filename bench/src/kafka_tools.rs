//! Kafka's own measuring tools (from the `kafka-tools` jar), run through
//! `scripts/kafka.sh tool` against the same broker, and their output read.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::process::Command;

/// `ProducerPerformance`'s summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProducerPerf {
    pub records: u64,
    pub records_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// `EndToEndLatency`'s percentiles (it prints whole milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct EndToEnd {
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

/// Runs one tool class with `args`; its standard output.
async fn run(repo: &Path, class: &str, args: &[String]) -> anyhow::Result<String> {
    let out = Command::new(repo.join("scripts/kafka.sh"))
        .arg("tool")
        .arg(class)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running {class}"))?;
    if !out.status.success() {
        bail!(
            "{class} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Creates a topic with `partitions` partitions.
pub async fn create_topic(
    repo: &Path,
    brokers: &str,
    topic: &str,
    partitions: u32,
) -> anyhow::Result<()> {
    let args = [
        "--bootstrap-server",
        brokers,
        "--create",
        "--topic",
        topic,
        "--partitions",
        &partitions.to_string(),
    ]
    .map(String::from);
    run(repo, "org.apache.kafka.tools.TopicCommand", &args).await?;
    Ok(())
}

/// Deletes the topics matching `regex`.
pub async fn delete_topics(repo: &Path, brokers: &str, regex: &str) -> anyhow::Result<()> {
    let args = ["--bootstrap-server", brokers, "--delete", "--topic", regex].map(String::from);
    run(repo, "org.apache.kafka.tools.TopicCommand", &args).await?;
    Ok(())
}

/// The arguments both measuring tools take: where, how many, how large.
fn workload(brokers: &str, topic: &str, records: u64, record_size: usize) -> Vec<String> {
    [
        "--bootstrap-server",
        brokers,
        "--topic",
        topic,
        "--num-records",
        &records.to_string(),
        "--record-size",
        &record_size.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// `kafka-producer-perf-test`: `records` of `record_size` bytes with
/// `acks=all`, at `throughput` records/s (-1: as fast as it can). With
/// `warmup_records`, that many more are sent first and left out of the
/// figures (the tool's steady-state summary): its first records wait for
/// the JVM, the metadata and the connections, hundreds of milliseconds.
pub async fn producer_performance(
    repo: &Path,
    brokers: &str,
    topic: &str,
    records: u64,
    record_size: usize,
    throughput: i64,
    warmup_records: u64,
) -> anyhow::Result<ProducerPerf> {
    let mut args = workload(brokers, topic, records + warmup_records, record_size);
    args.extend(
        [
            "--throughput",
            &throughput.to_string(),
            "--command-property",
            "acks=all",
        ]
        .map(String::from),
    );
    if warmup_records > 0 {
        args.extend(["--warmup-records".to_owned(), warmup_records.to_string()]);
    }
    let out = run(repo, "org.apache.kafka.tools.ProducerPerformance", &args).await?;
    parse_producer_performance(&out, warmup_records > 0).with_context(|| {
        format!(
            "no {}summary line from ProducerPerformance",
            if warmup_records > 0 {
                "steady-state "
            } else {
                ""
            }
        )
    })
}

/// `EndToEndLatency`: `records` sent one at a time with `acks=all`, each
/// timed until its own consumer receives it.
pub async fn end_to_end_latency(
    repo: &Path,
    brokers: &str,
    topic: &str,
    records: u64,
    record_size: usize,
) -> anyhow::Result<EndToEnd> {
    let mut args = workload(brokers, topic, records, record_size);
    args.extend(["--producer-acks", "all"].map(String::from));
    let out = run(repo, "org.apache.kafka.tools.EndToEndLatency", &args).await?;
    parse_end_to_end(&out).context("no percentiles from EndToEndLatency")
}

/// A summary line: `N [steady state] records sent, R records/sec (M
/// MB/sec), A ms avg latency, X ms max latency, P ms 50th, P ms 95th, P ms
/// 99th, P ms 99.9th.` With `steady` (the run had `--warmup-records`), the
/// one of the records after the warm-up, and nothing if the tool printed
/// none (read the whole run's instead, the figures would silently include
/// the warm-up); else the whole run's.
fn parse_producer_performance(out: &str, steady: bool) -> Option<ProducerPerf> {
    let line = out
        .lines()
        .filter(|l| l.contains("99.9th"))
        .rfind(|l| l.contains(" steady state records sent") == steady)?;
    let fields: Vec<&str> = line.trim_end_matches('.').split(", ").collect();
    let number =
        |i: usize| -> Option<f64> { fields.get(i)?.split_whitespace().next()?.parse().ok() };
    Some(ProducerPerf {
        records: fields.first()?.split_whitespace().next()?.parse().ok()?,
        records_per_second: number(1)?,
        max_ms: number(3)?,
        p50_ms: number(4)?,
        p99_ms: number(6)?,
        p999_ms: number(7)?,
    })
}

/// `Avg latency: A ms` and `Percentiles: 50th = P, 99th = P, 99.9th = P`.
fn parse_end_to_end(out: &str) -> Option<EndToEnd> {
    let avg = out
        .lines()
        .find_map(|l| l.strip_prefix("Avg latency: "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let line = out.lines().find_map(|l| l.strip_prefix("Percentiles: "))?;
    let values: Vec<f64> = line
        .split(", ")
        .filter_map(|p| p.split(" = ").nth(1)?.trim().parse().ok())
        .collect();
    let [p50_ms, p99_ms, p999_ms] = values[..] else {
        return None;
    };
    Some(EndToEnd {
        avg_ms: avg,
        p50_ms,
        p99_ms,
        p999_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_performance_steady_state_summary_is_read_not_the_whole_runs() {
        let out = "80000 records sent, 4991.576714 records/sec (1.19 MB/sec), 14.95 ms avg latency, 697.00 ms max latency, 5 ms 50th, 47 ms 95th, 241 ms 99th, 284 ms 99.9th.\n\
                   75000 steady state records sent, 4988.028731 records/sec (1.19 MB/sec), 4.82 ms avg latency, 25.00 ms max latency, 5 ms 50th, 9 ms 95th, 13 ms 99th, 19 ms 99.9th.\n";
        let p = parse_producer_performance(out, true).expect("parsed");
        assert_eq!(
            p,
            ProducerPerf {
                records: 75_000,
                records_per_second: 4988.028731,
                p50_ms: 5.0,
                p99_ms: 13.0,
                p999_ms: 19.0,
                max_ms: 25.0,
            }
        );
        // The lines in either order; the whole run's when it is asked for.
        let reversed: String = out.lines().rev().map(|l| format!("{l}\n")).collect();
        assert_eq!(parse_producer_performance(&reversed, true), Some(p));
        assert_eq!(
            parse_producer_performance(out, false).map(|p| (p.records, p.p99_ms)),
            Some((80_000, 241.0))
        );
    }

    #[test]
    fn a_warmed_up_run_without_its_steady_state_summary_is_not_read_as_one() {
        let out = "80000 records sent, 4991.576714 records/sec (1.19 MB/sec), 14.95 ms avg latency, 697.00 ms max latency, 5 ms 50th, 47 ms 95th, 241 ms 99th, 284 ms 99.9th.\n";
        assert_eq!(parse_producer_performance(out, true), None);
    }

    #[test]
    fn producer_performance_summary_is_read() {
        let out = "909469 records sent, 181893.8 records/sec (43.37 MB/sec), 545.9 ms avg latency, 1021.0 ms max latency.\n\
                   1000000 records sent, 190512.478567 records/sec (45.42 MB/sec), 532.63 ms avg latency, 1021.00 ms max latency, 469 ms 50th, 926 ms 95th, 980 ms 99th, 1005 ms 99.9th.\n";
        let p = parse_producer_performance(out, false).expect("parsed");
        assert_eq!(
            p,
            ProducerPerf {
                records: 1_000_000,
                records_per_second: 190512.478567,
                p50_ms: 469.0,
                p99_ms: 980.0,
                p999_ms: 1005.0,
                max_ms: 1021.0,
            }
        );
    }

    #[test]
    fn end_to_end_latency_percentiles_are_read() {
        let out = "0\t18.2\n4000\t0.89\nAvg latency: 0.9039 ms\nPercentiles: 50th = 0, 99th = 6, 99.9th = 14\n";
        assert_eq!(
            parse_end_to_end(out),
            Some(EndToEnd {
                avg_ms: 0.9039,
                p50_ms: 0.0,
                p99_ms: 6.0,
                p999_ms: 14.0
            })
        );
        assert_eq!(parse_end_to_end("Avg latency: 1 ms\n"), None);
    }
}
