//! WebSocket clients that time each order of a run from its intended send
//! time to its arrival.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

use crate::load::{Schedule, seq_of_key};
use crate::stats::Latencies;

/// The two fields of a frame a client needs. Decoding only these keeps a
/// thousand clients in one process cheap enough to leave the CPU to the
/// gateway; the frames are the gateway's [`wire::ServerMessage`]s.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(default)]
    missed: u64,
    #[serde(default)]
    timestamp_ms: Option<i64>,
    #[serde(default)]
    consumed_at_ms: Option<i64>,
    /// Of a `records` message: its records, each decoded the same way.
    #[serde(default, borrow)]
    records: Vec<Frame<'a>>,
}

/// Most records a client takes in one message, as the dashboard asks.
pub const BATCH: usize = 256;

/// What one client received of a run.
#[derive(Default)]
pub struct Received {
    pub latencies: Latencies,
    /// The Kafka leg alone: the record's timestamp (set by the gateway's
    /// producer) to the gateway's consumer receiving it, in whole
    /// milliseconds.
    pub kafka_leg: Latencies,
    /// Distinct orders of the run received.
    pub orders: u64,
    /// Records the gateway said this client missed (`lagged`).
    pub missed: u64,
}

/// One live client reading in its own task.
pub struct Client {
    task: tokio::task::JoinHandle<Received>,
}

impl Client {
    /// Connects, and once the first frame (`hello`) is in, reads until it
    /// has `expected` orders of the run tagged `tag`, or no new order of
    /// the run arrived for `idle` (some were refused, or never came). The
    /// schedule is set when the run starts.
    pub async fn connect(
        gateway: &str,
        tag: Arc<str>,
        schedule: Arc<OnceLock<Schedule>>,
        expected: u64,
        idle: Duration,
    ) -> anyhow::Result<Self> {
        Self::connect_to(gateway, "", tag, schedule, expected, idle).await
    }

    /// [`Client::connect`] to `/ws?{query}` (a live filter, say).
    pub async fn connect_to(
        gateway: &str,
        query: &str,
        tag: Arc<str>,
        schedule: Arc<OnceLock<Schedule>>,
        expected: u64,
        idle: Duration,
    ) -> anyhow::Result<Self> {
        let (socket, _) =
            tokio_tungstenite::connect_async(format!("ws://{gateway}/ws?batch={BATCH}&{query}"))
                .await
                .context("connecting a live client")?;
        let (_sink, mut stream) = socket.split();
        // The hello: from here on this client gets every new record.
        stream
            .next()
            .await
            .context("the gateway closed before its hello")?
            .context("reading the hello")?;
        let task = tokio::spawn(async move {
            let mut received = Received::default();
            let mut seen = vec![false; expected as usize];
            // Other frames (flow snapshots) keep coming when the run's
            // records stop: only the run's own records hold the deadline off.
            let mut deadline = tokio::time::Instant::now() + idle;
            while received.orders < expected {
                let text = match tokio::time::timeout_at(deadline, stream.next()).await {
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(_))) => continue,
                    Err(_) | Ok(None) | Ok(Some(Err(_))) => break,
                };
                let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
                    continue;
                };
                let records = match frame.kind.as_ref() {
                    "record" => std::slice::from_ref(&frame),
                    "records" => frame.records.as_slice(),
                    "lagged" => {
                        received.missed += frame.missed;
                        continue;
                    }
                    _ => continue,
                };
                let Some(schedule) = schedule.get() else {
                    continue;
                };
                for record in records {
                    let Some(seq) = record.key.as_deref().and_then(|key| seq_of_key(&tag, key))
                    else {
                        continue;
                    };
                    if let Some(first) = seen.get_mut(seq as usize).filter(|s| !**s) {
                        *first = true;
                        received.orders += 1;
                        deadline = tokio::time::Instant::now() + idle;
                        received.latencies.record(schedule.intended(seq).elapsed());
                        if let (Some(produced), Some(consumed)) =
                            (record.timestamp_ms, record.consumed_at_ms)
                        {
                            let leg = u64::try_from(consumed - produced).unwrap_or(0);
                            received.kafka_leg.record(Duration::from_millis(leg));
                        }
                    }
                }
            }
            received
        });
        Ok(Self { task })
    }

    pub async fn finish(self) -> Received {
        self.task.await.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_decodes_from_the_gateways_record_message() {
        let record = wire::ServerMessage::Record(wire::LiveRecord {
            partition: 1,
            offset: 7,
            key: Some("run-3".into()),
            headers: vec![],
            timestamp_ms: Some(1),
            produced_at_ms: None,
            consumed_at_ms: 2,
            size: 10,
            payload: wire::Payload::Null,
            key_schema: None,
            value_schema: None,
        });
        let text = serde_json::to_string(&record).expect("json");
        let frame: Frame = serde_json::from_str(&text).expect("frame");
        assert_eq!(
            (frame.kind.as_ref(), frame.key.as_deref()),
            ("record", Some("run-3"))
        );

        let lagged =
            serde_json::to_string(&wire::ServerMessage::Lagged { missed: 9 }).expect("json");
        let frame: Frame = serde_json::from_str(&lagged).expect("frame");
        assert_eq!((frame.kind.as_ref(), frame.missed), ("lagged", 9));

        // Records joined as the gateway joins them.
        let joined = format!(r#"{{"type":"records","records":[{text},{text}]}}"#);
        let frame: Frame = serde_json::from_str(&joined).expect("frame");
        assert_eq!(frame.kind.as_ref(), "records");
        let keys: Vec<_> = frame.records.iter().map(|r| r.key.as_deref()).collect();
        assert_eq!(keys, [Some("run-3"), Some("run-3")]);
    }
}
