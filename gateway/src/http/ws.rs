//! `GET /ws`: streams the watched topic to one browser, as the stream
//! protocol (`wire::stream`) says.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use wire::ServerMessage;
use wire::stream::PartitionOffset;

use super::error::ApiError;
use super::{AppState, Frame, extract, security};
use crate::core::hub::{Published, Subscription, encode};
use crate::core::resume::CatchUp;

/// A client that does not take a frame within this time is stuck (its TCP
/// window has been full for that long) and is disconnected.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Clients send nothing the gateway needs; a larger message is answered
/// with close code 1009.
const MAX_CLIENT_MESSAGE_BYTES: usize = 4 * 1024;
/// What the WebSocket layer reads at most before it gives up on a frame.
/// Above the gateway's own limit, so that a message over that limit is
/// still read and refused with a close code rather than a dropped socket.
const MAX_READ_BYTES: usize = 64 * 1024;
/// How long a resuming client waits for a (re)starting gateway to read the
/// topic before it is served without its resume.
const WAIT_FOR_CONSUMER: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
struct LiveQuery {
    /// Recent records per partition to send before the live ones.
    #[serde(default)]
    last: usize,
    /// The topic the `resume` offsets are of; a resume for another topic
    /// (the gateway was restarted on a new one) is ignored.
    topic: Option<String>,
    /// Per partition, the next offset the client needs (see `wire::stream`).
    #[serde(default)]
    resume: String,
}

/// `GET /ws`: checks the page's origin and the query, takes one of the
/// client slots, and upgrades.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    if !security::origin_allowed(&headers, &state.config.allowed_origins) {
        let origin = headers
            .get(header::ORIGIN)
            .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned())
            .unwrap_or_default();
        return ApiError::ForbiddenOrigin(origin).into_response();
    }
    let q: LiveQuery = match extract::query(query.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(err) => return err.into_response(),
    };
    let last = q
        .last
        .min(usize::try_from(state.config.history).unwrap_or(usize::MAX));
    let resume = match wire::stream::parse_resume(&q.resume) {
        Ok(resume) if q.topic.as_deref().is_none_or(|t| t == state.config.topic) => resume,
        Ok(_) => Vec::new(),
        Err(message) => {
            return ApiError::InvalidField {
                field: "resume".into(),
                message,
            }
            .into_response();
        }
    };
    // The permit lives as long as the connection: a bound on clients.
    let Ok(permit) = state.client_slots.clone().try_acquire_owned() else {
        return ApiError::TooManyClients(state.config.max_clients).into_response();
    };
    ws.max_message_size(MAX_READ_BYTES)
        .max_frame_size(MAX_READ_BYTES)
        .on_upgrade(move |socket| async move {
            serve(socket, &state, last, resume).await;
            drop(permit);
        })
}

type Sink = SplitSink<WebSocket, Message>;
type Incoming = SplitStream<WebSocket>;

/// What a client reads after its opening frames.
struct Streams {
    records: broadcast::Receiver<Published<Frame>>,
    flow: watch::Receiver<Option<Frame>>,
    processed: broadcast::Receiver<Frame>,
    /// Live records of a partition below this offset, the client already has.
    skip_below: std::collections::HashMap<i32, i64>,
}

/// Sends `Hello`, the latest flow snapshot, the requested history (for a
/// resuming client, first what it missed that the hub no longer holds), then
/// live records, snapshots and progress until the client leaves, falls
/// hopelessly behind, or the gateway shuts down.
async fn serve(socket: WebSocket, state: &AppState, last: usize, resume: Vec<PartitionOffset>) {
    let (mut sink, mut incoming) = socket.split();
    let shutdown = &state.core.shutdown;
    // The client may leave while what it missed is read from Kafka: the
    // read then stops.
    let opening = tokio::select! {
        opening = opening(state, last, &resume) => opening,
        reason = until_closed(&mut incoming) => {
            if let Some((code, reason)) = reason {
                close(&mut sink, code, reason).await;
            }
            return;
        }
    };
    let (first, streams) = opening;
    for frame in first {
        if send(&mut sink, frame).await.is_err() {
            return;
        }
    }
    let ended = forward(&mut sink, &mut incoming, streams, shutdown).await;
    if let Some((code, reason)) = ended {
        close(&mut sink, code, reason).await;
    }
}

/// The frames a client gets first: `Hello`, any `Lagged`, the latest flow
/// snapshot, what it missed read from Kafka, and the hub's history; and the
/// streams it reads from then on.
async fn opening(
    state: &AppState,
    last: usize,
    resume: &[PartitionOffset],
) -> (Vec<Frame>, Streams) {
    let core = &state.core;
    let hub = core.hub();
    if !resume.is_empty() && !hub.wait_consuming(WAIT_FOR_CONSUMER).await {
        tracing::info!("serving a resuming client without its resume: the topic is not read yet");
    }
    let Subscription {
        history,
        records,
        mut flow,
        processed,
        mut positions,
        gaps,
        skip_below,
    } = hub.subscribe(last, resume);
    // Live records queue up for the client meanwhile (bounded, as always).
    let cancel = CancellationToken::new();
    let _stop_when_dropped = cancel.clone().drop_guard();
    let CatchUp { frames, missed } = core.resumes.catch_up(&gaps, &mut positions, cancel).await;
    let hello = encode(&ServerMessage::Hello {
        topic: state.config.topic.clone(),
        history: frames.len() + history.len(),
        positions,
    });
    let lagged = (missed > 0).then(|| encode(&ServerMessage::Lagged { missed }));
    let snapshot = flow.borrow_and_update().clone();
    let first = std::iter::once(hello)
        .chain(lagged)
        .chain(snapshot)
        .chain(frames)
        .chain(history)
        .collect();
    let streams = Streams {
        records,
        flow,
        processed,
        skip_below,
    };
    (first, streams)
}

/// Forwards the streams to the client until it leaves (None) or must be
/// closed (the close code and reason).
async fn forward(
    sink: &mut Sink,
    incoming: &mut Incoming,
    mut streams: Streams,
    shutdown: &CancellationToken,
) -> Option<(u16, &'static str)> {
    const SHUTTING_DOWN: Option<(u16, &str)> = Some((close_code::AWAY, "gateway shutting down"));
    loop {
        let frame = tokio::select! {
            _ = shutdown.cancelled() => return SHUTTING_DOWN,
            Ok(()) = streams.flow.changed() => {
                let snapshot = streams.flow.borrow_and_update().clone();
                match snapshot {
                    Some(frame) => frame,
                    None => continue,
                }
            }
            next = streams.processed.recv() => match next {
                Ok(frame) => frame,
                // Skipped batches show in the next snapshot's counters.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return SHUTTING_DOWN,
            },
            next = streams.records.recv() => match next {
                Ok(p) if streams.skip_below.get(&p.partition).is_some_and(|&below| p.offset < below) => continue,
                Ok(p) => p.frame,
                Err(RecvError::Lagged(missed)) => encode(&ServerMessage::Lagged { missed }),
                Err(RecvError::Closed) => return SHUTTING_DOWN,
            },
            message = incoming.next() => match from_client(message) {
                FromClient::Ignored => continue,
                FromClient::Gone => return None,
                FromClient::Refused(code, reason) => return Some((code, reason)),
            },
        };
        if send(sink, frame).await.is_err() {
            return None;
        }
    }
}

/// Reads what the client sends until it leaves (None) or must be closed.
async fn until_closed(incoming: &mut Incoming) -> Option<(u16, &'static str)> {
    loop {
        match from_client(incoming.next().await) {
            FromClient::Ignored => {}
            FromClient::Gone => return None,
            FromClient::Refused(code, reason) => return Some((code, reason)),
        }
    }
}

/// What to do about a message from the client.
enum FromClient {
    /// Small text frames carry nothing yet and are ignored, so newer
    /// clients keep working; pings are answered by axum.
    Ignored,
    /// Gone, or closing.
    Gone,
    /// A message the gateway does not take: close with this code and reason.
    Refused(u16, &'static str),
}

fn from_client(message: Option<Result<Message, axum::Error>>) -> FromClient {
    match message {
        None | Some(Ok(Message::Close(_))) => FromClient::Gone,
        // A protocol violation, or a frame over even the read limit: the
        // socket may still take a close frame.
        Some(Err(_)) => {
            FromClient::Refused(close_code::PROTOCOL, "protocol error or message too big")
        }
        Some(Ok(Message::Binary(_))) => {
            FromClient::Refused(close_code::UNSUPPORTED, "binary frames are not accepted")
        }
        Some(Ok(Message::Text(text))) if text.len() > MAX_CLIENT_MESSAGE_BYTES => {
            FromClient::Refused(
                close_code::SIZE,
                "messages from clients are limited to 4 KiB",
            )
        }
        Some(Ok(_)) => FromClient::Ignored,
    }
}

async fn send(sink: &mut Sink, frame: Frame) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(frame))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(()),
        Err(_) => {
            tracing::info!("disconnecting a live client that stopped reading");
            Err(())
        }
    }
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) {
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close)).await;
}
