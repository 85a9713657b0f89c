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
use crate::live::{Frame, Subscription, frame};
use crate::{AppState, security};

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
}

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
    let last = match query {
        Ok(Query(q)) => q
            .last
            .min(usize::try_from(state.config.history).unwrap_or(usize::MAX)),
        Err(rejection) => {
            return ApiError::InvalidField {
                field: "last".into(),
                message: rejection.body_text(),
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
            serve(socket, &state, last).await;
            drop(permit);
        })
}

/// Sends `Hello`, the latest flow snapshot, the requested history, then
/// live records, snapshots and progress until the client leaves, falls
/// hopelessly behind, or the gateway shuts down.
async fn serve(socket: WebSocket, state: &AppState, last: usize) {
    let Subscription {
        history,
        records: mut live,
        mut flow,
        mut processed,
    } = state.hub.subscribe(last);
    let (mut sink, mut incoming) = socket.split();
    let hello = frame(&ServerMessage::Hello {
        topic: state.topic.name().to_owned(),
        history: history.len(),
    });
    let snapshot = flow.borrow_and_update().clone();
    for f in std::iter::once(hello).chain(snapshot).chain(history) {
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
                    Ok(f) => f,
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
