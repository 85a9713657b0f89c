//! `GET /ws`: carries one client's stream (`core::stream`) over a
//! WebSocket, and refuses what the client may not send.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, Extension, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::conn::ConnectionSlot;
use super::error::ApiError;
use super::{AppState, Frame, extract, security};
use crate::admission::Client;
use crate::core::stream::{Request, Stream};

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
/// What one read from a client's socket takes at most. tungstenite zeroes
/// this much before every read, also the ones that find nothing, which
/// happen once per message sent: at its default of 128 KiB, zeroing was a
/// third of the gateway's CPU in the fan-out benchmark, and the touched
/// pages 128 KiB of memory per client. Clients send next to nothing.
const READ_BUFFER_BYTES: usize = 4 * 1024;

#[derive(Debug, Deserialize)]
struct StreamQuery {
    /// Recent records per partition to send before the live ones.
    #[serde(default)]
    last: usize,
    /// The topic to stream (the gateway's own without it); `resume`'s
    /// offsets are this topic's.
    topic: Option<String>,
    /// Per partition, the next offset the client needs (see `wire::stream`).
    #[serde(default)]
    resume: String,
    /// The topic the `resume` offsets are of, when the client did not name
    /// the topic to stream (it follows the gateway's): offsets of another
    /// topic are ignored, never applied to this one.
    resume_topic: Option<String>,
    /// Only the records this filter (jq's language) selects; empty for all.
    #[serde(default)]
    filter: String,
    /// Most records in one message (see `wire::stream`); 1 without it.
    batch: Option<usize>,
}

/// `GET /ws`: checks the page's origin and the query, opens the topic (the
/// gateway's own, or another watched on demand), takes one of the client
/// slots, and upgrades. Without an upgrade, answers what the upgrade would
/// have been refused with, or 426: browsers do not tell a page why its
/// WebSocket failed, so the page asks this way.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    connection: Option<Extension<ConnectionSlot>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if !security::origin_allowed(&headers, &state.config.allowed_origins) {
        return security::forbidden_origin(&headers).into_response();
    }
    if !security::may_read(&state, &headers) {
        return ApiError::Unauthorized.into_response();
    }
    let q: StreamQuery = match extract::query(query.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(err) => return err.into_response(),
    };
    let resume = match wire::stream::parse_resume(&q.resume) {
        Ok(resume) => resume,
        Err(message) => {
            return ApiError::InvalidField {
                field: "resume".into(),
                message,
            }
            .into_response();
        }
    };
    let batch = match q.batch {
        None => 1,
        Some(batch @ 1..=wire::stream::MAX_BATCH) => batch,
        Some(_) => {
            return ApiError::InvalidField {
                field: "batch".into(),
                message: format!("must be between 1 and {}", wire::stream::MAX_BATCH),
            }
            .into_response();
        }
    };
    let topic = q.topic.as_deref().unwrap_or(&state.config.topic);
    if !wire::api::is_topic_name(topic) {
        return ApiError::InvalidField {
            field: "topic".into(),
            message: wire::api::TOPIC_NAME_RULE.into(),
        }
        .into_response();
    }
    let filter = match stream_filter(&q.filter, &resume) {
        Ok(filter) => filter,
        Err(err) => return err.into_response(),
    };
    let client = Client::of(peer.ip());
    let ws = match ws {
        Ok(ws) => ws,
        // A malformed upgrade is refused as axum refuses it.
        Err(rejection) if headers.contains_key(header::UPGRADE) => {
            return rejection.into_response();
        }
        // A question: what would the upgrade get? The same checks, in the
        // same order, and nothing is started.
        Err(_) => {
            if let Err(refused) = state.live_clients.would_admit(client) {
                return ApiError::TooManyClients(refused).into_response();
            }
            if topic != state.config.topic
                && let Err(err) = state.core.watches.check(topic, client).await
            {
                return ApiError::Watch(err).into_response();
            }
            if let Some(filter) = filter
                && let Err(err) = state.core.filters.check(topic, filter, client).await
            {
                return ApiError::from(err).into_response();
            }
            return ApiError::UpgradeRequired.into_response();
        }
    };
    // The permit lives as long as the connection: a bound on clients, in
    // all and per address. Taken before the topic is opened, so that a
    // client over its bound starts no watch.
    let permit = match state.live_clients.admit(client) {
        Ok(permit) => permit,
        Err(refused) => return ApiError::TooManyClients(refused).into_response(),
    };
    let watching = match state.core.watch_topic(topic, client).await {
        Ok(watching) => watching,
        Err(err) => return ApiError::Watch(err).into_response(),
    };
    // A gateway restarted on another topic: the client's positions are not
    // this topic's.
    let resume = match &q.resume_topic {
        Some(of) if of != topic => Vec::new(),
        _ => resume,
    };
    let filter = match filter {
        Some(filter) => match state
            .core
            .open_filter(watching.as_ref(), filter, client)
            .await
        {
            Ok(lease) => Some(lease),
            Err(err) => return ApiError::from(err).into_response(),
        },
        None => None,
    };
    let request = Request {
        last: q.last,
        watching,
        resume,
        client,
        filter,
        batch,
    };
    ws.max_message_size(MAX_READ_BYTES)
        .max_frame_size(MAX_READ_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            serve(socket, &state, request).await;
            drop(permit);
            // The socket counts among the connections until it closes.
            drop(connection);
        })
}

/// The stream's filter, if it has one: at most `MAX_FILTER_BYTES`, and not
/// with `resume` (a filter's records start when the filter does, so there
/// is no position to resume from; the page reopens a filtered stream).
fn stream_filter<'q>(
    filter: &'q str,
    resume: &[wire::stream::PartitionOffset],
) -> Result<Option<&'q str>, ApiError> {
    let filter = filter.trim();
    if filter.is_empty() {
        return Ok(None);
    }
    let invalid = |message: String| ApiError::InvalidField {
        field: "filter".into(),
        message,
    };
    if filter.len() > wire::stream::MAX_FILTER_BYTES {
        return Err(invalid(format!(
            "is longer than {} bytes",
            wire::stream::MAX_FILTER_BYTES
        )));
    }
    if !resume.is_empty() {
        return Err(invalid(
            "cannot be combined with resume: a filtered stream starts when its filter does; open it without resume"
                .into(),
        ));
    }
    Ok(Some(filter))
}

type Sink = SplitSink<WebSocket, Message>;
type Incoming = SplitStream<WebSocket>;

/// Sends the stream's opening frames, then its live frames, until the client
/// leaves, falls hopelessly behind, or the gateway shuts down.
async fn serve(socket: WebSocket, state: &AppState, request: Request<Frame>) {
    let (mut sink, mut incoming) = socket.split();
    let core = &state.core;
    // The client may leave while what it missed is read from Kafka: the
    // read then stops (the token is cancelled when the opening is dropped).
    let cancel = CancellationToken::new();
    let _stop_when_dropped = cancel.clone().drop_guard();
    let opened = tokio::select! {
        biased;
        opened = core.open_stream(request, cancel) => opened,
        reason = until_closed(&mut incoming) => {
            if let Some((code, reason)) = reason {
                close(&mut sink, code, reason).await;
            }
            return;
        }
    };
    let (first, stream) = opened;
    for frame in first {
        if send(&mut sink, frame).await.is_err() {
            return;
        }
    }
    if let Some((code, reason)) = forward(&mut sink, &mut incoming, stream, &core.shutdown).await {
        close(&mut sink, code, reason).await;
    }
}

/// Forwards the stream to the client until it leaves (None) or must be
/// closed (the close code and reason).
async fn forward(
    sink: &mut Sink,
    incoming: &mut Incoming,
    mut stream: Stream<Frame>,
    shutdown: &CancellationToken,
) -> Option<(u16, &'static str)> {
    const SHUTTING_DOWN: Option<(u16, &str)> = Some((close_code::AWAY, "gateway shutting down"));
    loop {
        let frame = tokio::select! {
            _ = shutdown.cancelled() => return SHUTTING_DOWN,
            next = stream.next() => match next {
                Some(frame) => frame,
                None => return SHUTTING_DOWN,
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
