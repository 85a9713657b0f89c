//! Searching a topic of orders for the 0.1% that match a filter: the
//! gateway's `GET /api/search` against what people do today, Kafka's
//! console consumer piped into Debian's `jq` on the same topic. Both are
//! timed from the moment the search is asked for (the console consumer's
//! JVM start included: a person pressing Enter waits for it too).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// One order in this many is over the filter's threshold.
pub const MATCH_EVERY: u64 = 1_000;
/// The gateway's filter, and the same test on the value for `jq`.
pub const GATEWAY_FILTER: &str = "select(.value.total_cents > 10000)";
pub const JQ_FILTER: &str = "select(.total_cents > 10000)";

/// An order of the search topic: 84.98 in all, or 104.97 for every
/// [`MATCH_EVERY`]th (the one the filter selects).
pub fn order_body(seq: u64) -> String {
    let quantity = if seq % MATCH_EVERY == MATCH_EVERY - 1 {
        3
    } else {
        2
    };
    format!(
        r#"{{"customer_id":"search-{seq}","items":[{{"sku":"BENCH-1","quantity":{quantity},"unit_price_cents":1999}},{{"sku":"BENCH-2","quantity":1,"unit_price_cents":4500}}]}}"#
    )
}

/// A batch of orders `first..first + count`.
pub fn batch_body(first: u64, count: u64) -> String {
    let orders: Vec<String> = (first..first + count).map(order_body).collect();
    format!(r#"{{"orders":[{}]}}"#, orders.join(","))
}

/// What one way of searching measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SearchRun {
    /// Records read (the console consumer reads them all).
    pub scanned: u64,
    pub matched: u64,
    /// From asking to the first match.
    pub first_match_ms: f64,
    /// From asking to the end.
    pub seconds: f64,
    pub records_per_second: f64,
}

/// Places `records` orders on the gateway at `gateway` (host:port), in
/// batches of 1,000, four at a time.
pub async fn fill(http: &reqwest::Client, gateway: &str, records: u64) -> anyhow::Result<()> {
    let url = format!("http://{gateway}/api/orders/batch");
    let batches: Vec<u64> = (0..records.div_ceil(1_000)).collect();
    for four in batches.chunks(4) {
        let sends = four.iter().map(|&b| {
            let (http, url) = (http.clone(), url.clone());
            let count = 1_000.min(records - b * 1_000);
            async move {
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(batch_body(b * 1_000, count))
                    .send()
                    .await?;
                if response.status() != 202 {
                    bail!("batch {b}: {}", response.status());
                }
                Ok(())
            }
        });
        for sent in futures_util::future::join_all(sends).await {
            sent?;
        }
    }
    Ok(())
}

/// `GET /api/search` for [`GATEWAY_FILTER`] over `topic`, read to the end.
pub async fn gateway_search(
    http: &reqwest::Client,
    gateway: &str,
    topic: &str,
) -> anyhow::Result<SearchRun> {
    let filter: String = form_urlencoded(GATEWAY_FILTER);
    let url = format!("http://{gateway}/api/search?topic={topic}&filter={filter}&limit=10000");
    let asked = Instant::now();
    let mut response = http
        .get(&url)
        .timeout(Duration::from_secs(600))
        .send()
        .await?;
    if response.status() != 200 {
        bail!("search: {}", response.status());
    }
    let mut run = SearchRun::default();
    let mut pending = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let event: serde_json::Value = serde_json::from_slice(&line)?;
            match event["type"].as_str() {
                Some("match") => {
                    if run.matched == 0 {
                        run.first_match_ms = asked.elapsed().as_secs_f64() * 1e3;
                    }
                    run.matched += 1;
                }
                Some("done") => run.scanned = event["scanned"].as_u64().unwrap_or(0),
                Some("error") => bail!("search failed: {}", event["message"]),
                _ => {}
            }
        }
    }
    run.seconds = asked.elapsed().as_secs_f64();
    run.records_per_second = run.scanned as f64 / run.seconds.max(1e-9);
    Ok(run)
}

/// `kafka-console-consumer --from-beginning --max-messages N | jq -c
/// 'select(…)'` over `topic`: what a person types today.
pub async fn console_jq(
    repo: &Path,
    brokers: &str,
    topic: &str,
    records: u64,
) -> anyhow::Result<SearchRun> {
    let pipeline = format!(
        "{} tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server {brokers} \
         --topic {topic} --from-beginning --max-messages {records} | jq -c '{JQ_FILTER}'",
        repo.join("scripts/kafka.sh").display()
    );
    let asked = Instant::now();
    let mut child = Command::new("bash")
        .args(["-o", "pipefail", "-c", &pipeline])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("running the console consumer and jq")?;
    let stdout = child.stdout.take().context("the pipeline's output")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut run = SearchRun {
        scanned: records,
        ..SearchRun::default()
    };
    while let Some(_line) = lines.next_line().await? {
        if run.matched == 0 {
            run.first_match_ms = asked.elapsed().as_secs_f64() * 1e3;
        }
        run.matched += 1;
    }
    let status = child.wait().await?;
    if !status.success() {
        bail!("the console consumer | jq pipeline failed: {status}");
    }
    run.seconds = asked.elapsed().as_secs_f64();
    run.records_per_second = run.scanned as f64 / run.seconds.max(1e-9);
    Ok(run)
}

/// Percent-encodes a query value.
fn form_urlencoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_order_in_a_thousand_is_over_the_threshold() {
        let total = |seq| {
            let body: serde_json::Value = serde_json::from_str(&order_body(seq)).expect("an order");
            body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| {
                    i["quantity"].as_u64().unwrap_or(0)
                        * i["unit_price_cents"].as_u64().unwrap_or(0)
                })
                .sum::<u64>()
        };
        let over: Vec<u64> = (0..3_000).filter(|&s| total(s) > 10_000).collect();
        assert_eq!(over, [999, 1_999, 2_999]);
        let batch: serde_json::Value = serde_json::from_str(&batch_body(5, 3)).expect("JSON");
        assert_eq!(batch["orders"].as_array().map(Vec::len), Some(3));
        assert_eq!(form_urlencoded("a b>"), "a%20b%3E");
    }
}
