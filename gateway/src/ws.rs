//! `GET /ws`: streams the live view to one browser.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use wire::ServerMessage;

use crate::error::ApiError;
use wire::live::PartitionOffset;

use crate::live::{Frame, Subscription, frame};
use crate::{AppState, resume, security};

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

#[derive(Debug, Deserialize)]
pub(crate) struct LiveQuery {
    /// Recent records per partition to send before the live ones.
    #[serde(default)]
    last: usize,
    /// The topic the `resume` offsets are of; a resume for another topic
    /// (the gateway was restarted on a new one) is ignored.
    topic: Option<String>,
    /// Per partition, the next offset the client needs (see `wire::live`).
    #[serde(default)]
    resume: String,
}

/// How long a resuming client waits for a (re)starting gateway to read the
/// topic before it is served without its resume.
const WAIT_FOR_CONSUMER: Duration = Duration::from_secs(5);

pub(crate) async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LiveQuery>, axum::extract::rejection::QueryRejection>,
    ws: WebSocketUpgrade,
) -> Response {
    if !security::origin_allowed(&headers, &state.config.allowed_origins) {
        let origin = headers
            .get(header::ORIGIN)
            .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned())
            .unwrap_or_default();
        return ApiError::ForbiddenOrigin(origin).into_response();
    }
    let q = match query {
        Ok(Query(q)) => q,
        Err(rejection) => {
            let message = rejection.body_text();
            let field = if message.contains("resume") {
                "resume"
            } else {
                "last"
            };
            return ApiError::InvalidField {
                field: field.into(),
                message,
            }
            .into_response();
        }
    };
    let last = q
        .last
        .min(usize::try_from(state.config.history).unwrap_or(usize::MAX));
    let resume = match wire::live::parse_resume(&q.resume) {
        Ok(resume) if q.topic.as_deref().is_none_or(|t| t == state.topic.name()) => resume,
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

/// Sends `Hello`, the latest flow snapshot, the requested history (for a
/// resuming client, first what it missed that the hub no longer holds), then
/// live records, snapshots and progress until the client leaves, falls
/// hopelessly behind, or the gateway shuts down.
async fn serve(socket: WebSocket, state: &AppState, last: usize, resume: Vec<PartitionOffset>) {
    if !resume.is_empty() && !state.hub.wait_consuming(WAIT_FOR_CONSUMER).await {
        tracing::info!("serving a resuming client without its resume: the topic is not read yet");
    }
    let Subscription {
        history,
        records: mut live,
        mut flow,
        mut processed,
        mut positions,
        gaps,
        skip_below,
    } = state.hub.subscribe(last, &resume);
    // Live records queue up for the client meanwhile (bounded, as always).
    let (gaps, mut missed) = resume::trim(&gaps, resume::MAX_RECORDS);
    let (filled, read) = match resume::fill(state, gaps.clone()).await {
        Ok(frames) => (frames, true),
        Err(unread) => {
            missed += unread;
            (Vec::new(), false)
        }
    };
    for gap in &gaps {
        // Complete from where the read started, or, if it failed, from
        // where the hub's own records start.
        if let Some(p) = positions.iter_mut().find(|p| p.partition == gap.partition) {
            p.offset = if read { gap.from } else { gap.to };
        }
    }
    let (mut sink, mut incoming) = socket.split();
    let hello = frame(&ServerMessage::Hello {
        topic: state.topic.name().to_owned(),
        history: filled.len() + history.len(),
        positions,
    });
    let lagged = (missed > 0).then(|| frame(&ServerMessage::Lagged { missed }));
    let snapshot = flow.borrow_and_update().clone();
    let first = std::iter::once(hello).chain(lagged).chain(snapshot);
    for f in first.chain(filled).chain(history) {
        if send(&mut sink, f).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => {
                close(&mut sink, close_code::AWAY, "gateway shutting down").await;
                return;
            }
            Ok(()) = flow.changed() => {
                let snapshot = flow.borrow_and_update().clone();
                if let Some(f) = snapshot
                    && send(&mut sink, f).await.is_err()
                {
                    return;
                }
            }
            next = processed.recv() => match next {
                Ok(f) => if send(&mut sink, f).await.is_err() {
                    return;
                },
                // Skipped batches show in the next snapshot's counters.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => {
                    close(&mut sink, close_code::AWAY, "gateway shutting down").await;
                    return;
                }
            },
            next = live.recv() => {
                let f = match next {
                    Ok(p) if skip_below.get(&p.partition).is_some_and(|&below| p.offset < below) => continue,
                    Ok(p) => p.frame,
                    Err(RecvError::Lagged(missed)) => frame(&ServerMessage::Lagged { missed }),
                    Err(RecvError::Closed) => {
                        close(&mut sink, close_code::AWAY, "gateway shutting down").await;
                        return;
                    }
                };
                if send(&mut sink, f).await.is_err() {
                    return;
                }
            }
            message = incoming.next() => match message {
                // Gone, or a protocol error (including frames over the size limit).
                None | Some(Ok(Message::Close(_))) => return,
                // A protocol violation, or a frame over even the read limit:
                // the socket may still take a close frame.
                Some(Err(_)) => {
                    close(&mut sink, close_code::PROTOCOL, "protocol error or message too big").await;
                    return;
                }
                Some(Ok(Message::Binary(_))) => {
                    close(&mut sink, close_code::UNSUPPORTED, "binary frames are not accepted").await;
                    return;
                }
                Some(Ok(Message::Text(text))) if text.len() > MAX_CLIENT_MESSAGE_BYTES => {
                    close(&mut sink, close_code::SIZE, "messages from clients are limited to 4 KiB").await;
                    return;
                }
                // Small text frames carry nothing yet and are ignored, so
                // newer clients keep working; pings are answered by axum.
                Some(Ok(_)) => {}
            },
        }
    }
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

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
