//! The browser's WebSocket client of the gateway's stream (`/ws`, the
//! protocol in `wire::stream`): feeds every message to the [`Feed`] and the
//! [`FlowState`], and reconnects with backoff, resuming where it left off,
//! whenever the connection ends.
//!
//! Messages update the feed and the flow without notifying; each of the two
//! is repainted at most four times a second (less often where repaints take
//! longer), so a busy topic costs a bounded amount of rendering however many
//! records arrive. The feed itself is bounded, so a hidden tab (where
//! animation frames stop) does not grow either.

use std::cell::Cell;
use std::rc::Rc;

use futures_util::StreamExt;
use leptos::prelude::*;
use wire::ServerMessage;

use crate::backoff::Backoff;
use crate::clock::{now_ms, sleep};
use crate::feed::Feed;
use crate::flow::FlowState;
use crate::pacing::Pacing;
use crate::websocket::TextSocket;

/// Recent records per partition asked for on the first connect, so a fresh
/// page is not empty. A reconnect asks to resume where the page left off.
const HISTORY_PER_PARTITION: usize = 50;

/// Most records the gateway joins into one message for the page: records
/// that wait for it come as one message event and one parse, not hundreds
/// (see `wire::stream`).
const BATCH: usize = 256;

/// The WebSocket's state, for the indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    /// Lost; the next attempt is in `in_ms` milliseconds.
    Reconnecting {
        in_ms: u32,
    },
}

/// The live filter the page streams through, and the way to change it.
#[derive(Clone, Copy)]
pub struct LiveFilter {
    /// The filter the stream runs now (`None`: every record).
    pub running: RwSignal<Option<String>>,
    /// Why the last filter asked for was refused (the stream then runs
    /// without one).
    pub refused: RwSignal<Option<String>>,
    /// Wakes the connection loop to reopen the stream with `running`.
    reopen: StoredValue<futures_channel::mpsc::UnboundedSender<()>, LocalStorage>,
}

impl LiveFilter {
    /// Streams through `filter` (`None`: none) from now on: the feed
    /// starts over, since what it holds was not filtered so, and the
    /// page's URL says it, to be shared.
    pub fn apply(&self, filter: Option<String>, feed: RwSignal<Feed>, wanted: Option<&str>) {
        self.refused.set(None);
        self.running.set(filter.clone());
        feed.set(Feed::default());
        let href = crate::location::filter_href(wanted, filter.as_deref().unwrap_or(""));
        if let Ok(history) = window().history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&href));
        }
        let _ = self.reopen.get_value().unbounded_send(());
    }
}

/// Runs the connection loop for the page's lifetime, streaming `wanted`
/// (the gateway's own topic for `None`) through `filter`.
pub(crate) fn start(
    feed: RwSignal<Feed>,
    flow: RwSignal<FlowState>,
    connection: RwSignal<Connection>,
    wanted: Option<String>,
    filter: Option<String>,
    refusal: RwSignal<Option<String>>,
) -> LiveFilter {
    let (reopen, mut reopened) = futures_channel::mpsc::unbounded::<()>();
    let live = LiveFilter {
        running: RwSignal::new(filter),
        refused: RwSignal::new(None),
        reopen: StoredValue::new_local(reopen),
    };
    leptos::task::spawn_local(async move {
        let repaint = Rc::new(Repaint::default());
        let mut backoff = Backoff::default();
        loop {
            connection.set(Connection::Connecting);
            let mut served = false;
            let mut reopening = false;
            let filter = live.running.get_untracked();
            if let Ok(mut socket) = TextSocket::open(
                &feed.with_untracked(|f| url(f, wanted.as_deref(), filter.as_deref())),
            ) {
                loop {
                    let next = futures_util::future::select(socket.next(), reopened.next()).await;
                    let text = match next {
                        futures_util::future::Either::Left((Some(text), _)) => text,
                        futures_util::future::Either::Left(_) => break,
                        // Another filter: this stream ends, the next one
                        // opens at once.
                        futures_util::future::Either::Right(_) => {
                            reopening = true;
                            break;
                        }
                    };
                    // Records, thousands a second, are counted as they
                    // come and read whole only when listed.
                    if let Some(records) = wire::stream::record_texts(&text) {
                        feed.update_untracked(|f| f.apply_texts(records, now_ms()));
                        repaint_feed(feed, &repaint);
                        continue;
                    }
                    // A message this build does not understand is skipped, not fatal.
                    let Ok(message) = serde_json::from_str::<ServerMessage>(&text) else {
                        continue;
                    };
                    if matches!(message, ServerMessage::Hello { .. }) {
                        served = true;
                        backoff.reset();
                        connection.set(Connection::Live);
                        refusal.set(None);
                    }
                    match message {
                        ServerMessage::Flow(snapshot) => {
                            flow.update_untracked(|f| f.apply_snapshot(snapshot));
                            repaint_flow(flow, &repaint);
                        }
                        ServerMessage::Processed { service, orders } => {
                            flow.update_untracked(|f| f.apply_processed(&service, orders));
                            repaint_flow(flow, &repaint);
                        }
                        message => {
                            feed.update_untracked(|f| f.apply(message, now_ms()));
                            repaint_feed(feed, &repaint);
                        }
                    }
                }
            }
            if reopening {
                continue;
            }
            if !served {
                // Refused before the stream began: ask why, to say it.
                let why = crate::api::stream_refusal(wanted.as_deref(), filter.as_deref()).await;
                // A filter that does not compile (or cannot run now) is
                // said at the filter, and the stream runs without it: the
                // rest of the page stays live.
                if filter.is_some() && why.as_ref().is_some_and(is_the_filters_fault) {
                    live.refused.set(why.map(|e| e.message));
                    live.running.set(None);
                    continue;
                }
                refusal.set(why.map(|e| crate::api::describe(&e)));
            }
            let delay = backoff.next_delay_ms(js_sys::Math::random());
            connection.set(Connection::Reconnecting { in_ms: delay });
            sleep(delay).await;
        }
    });
    live
}

/// Whether a refused stream was refused for its filter: one that does not
/// compile, or more filters than the gateway runs.
fn is_the_filters_fault(error: &wire::ErrorBody) -> bool {
    error.field.as_deref() == Some("filter")
        || (error.code == wire::ErrorCode::Busy && error.message.contains("filter"))
}

/// The two things a repaint draws, each paced by itself: the feed's list,
/// and the flow's views (under load a demo service reports what it
/// processed four times a second, three services twelve messages, and each
/// one drawn at once would redraw every view of the flow). Paced apart, the
/// two repaints mostly fall on different frames (nothing forces it).
///
/// A message after a quiet spell shows on the next frame; a stream of them
/// is drawn at most every [`Pacing::interval_ms`] (four times a second on a
/// fast machine, less often where repaints take longer; see
/// [`crate::pacing`] and [`crate::feed::MAX_NEW_ROWS`]).
#[derive(Default)]
struct Repaint {
    feed: Part,
    flow: Part,
    /// Fitted to the frames of both.
    pacing: Cell<Pacing>,
}

/// One part of the page's repaint: whether a repaint of it (for a change
/// since it was last drawn) is scheduled, and when it was last drawn
/// (`Date.now()`).
#[derive(Default)]
struct Part {
    scheduled: Cell<bool>,
    painted_ms: Cell<f64>,
}

/// Schedules a repaint of the feed, which changed.
fn repaint_feed(feed: RwSignal<Feed>, repaint: &Rc<Repaint>) {
    schedule(
        repaint,
        |r| &r.feed,
        move || {
            feed.update_untracked(|f| {
                f.publish();
            });
            feed.notify();
        },
    );
}

/// Schedules a repaint of the flow's views: its state changed.
fn repaint_flow(flow: RwSignal<FlowState>, repaint: &Rc<Repaint>) {
    schedule(repaint, |r| &r.flow, move || flow.notify());
}

/// Requests one repaint of `part`, on an animation frame once its pace
/// allows, unless one is scheduled.
fn schedule(repaint: &Rc<Repaint>, part: fn(&Repaint) -> &Part, draw: impl FnOnce() + 'static) {
    if part(repaint).scheduled.replace(true) {
        return;
    }
    let wait_ms =
        part(repaint).painted_ms.get() + repaint.pacing.get().interval_ms() - js_sys::Date::now();
    let repaint = repaint.clone();
    let paint = move || {
        let this = part(&repaint);
        this.scheduled.set(false);
        let started = js_sys::Date::now();
        this.painted_ms.set(started);
        draw();
        // The changes are drawn before the next frame begins: the time
        // until then is what this repaint cost the machine.
        request_animation_frame(move || {
            let mut pacing = repaint.pacing.get();
            pacing.record(js_sys::Date::now() - started);
            repaint.pacing.set(pacing);
        });
    };
    if wait_ms > 0.0 {
        set_timeout(
            move || request_animation_frame(paint),
            std::time::Duration::from_millis(wait_ms as u64),
        );
    } else {
        request_animation_frame(paint);
    }
}

/// `ws://` or `wss://` on the page's own host, for the `wanted` topic (the
/// gateway's own without one); after the first connection, with the
/// positions to resume from, which apply to their topic only. A filtered
/// stream starts when its filter does, so it never resumes: it asks for
/// the filter's recent matches instead (the feed skips what it has seen).
fn url(feed: &Feed, wanted: Option<&str>, filter: Option<&str>) -> String {
    let location = window().location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    let host = location.host().unwrap_or_default();
    let mut url = format!("{scheme}://{host}/ws?last={HISTORY_PER_PARTITION}&batch={BATCH}");
    if let Some(filter) = filter {
        url.push_str(&format!("&filter={}", crate::location::encode(filter)));
        if let Some(wanted) = wanted {
            url.push_str(&format!("&topic={wanted}"));
        }
        return url;
    }
    let resume = feed.resume();
    match (wanted, resume) {
        (Some(wanted), Some((topic, positions))) if topic == wanted => {
            let resume = wire::stream::resume_param(positions);
            url.push_str(&format!("&topic={wanted}&resume={resume}"));
        }
        (Some(wanted), _) => url.push_str(&format!("&topic={wanted}")),
        // Following the gateway's topic, whichever it is after a restart:
        // the positions say which topic they are of, and apply only to it.
        (None, Some((topic, positions))) => {
            let topic = String::from(js_sys::encode_uri_component(topic));
            let resume = wire::stream::resume_param(positions);
            url.push_str(&format!("&resume_topic={topic}&resume={resume}"));
        }
        (None, None) => {}
    }
    url
}
