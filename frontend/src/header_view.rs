//! The page's header: the topic, and three badges, whether this page
//! receives the stream, whether the gateway reaches its broker, and who may
//! write; and the API token.

use leptos::prelude::*;
use wire::Health;
use wire::api::HealthStatus;

use crate::feed::Feed;
use crate::socket::Connection;
use crate::token_view::TokenField;

#[component]
pub fn Header(
    feed: RwSignal<Feed>,
    connection: RwSignal<Connection>,
    health: RwSignal<Option<Health>>,
    refusal: RwSignal<Option<String>>,
    home: Signal<bool>,
) -> impl IntoView {
    view! {
        <header class="top">
            <h1>"Kafka Flow"</h1>
            <span class="topic" data-testid="topic">
                {move || feed.with(|f| f.topic().map(|t| format!("topic: {t}")))}
                {move || (!home.get()).then(|| health.with(|h| {
                    let mine = h.as_ref().and_then(|h| h.topic.as_ref()).map(|t| t.name.clone());
                    view! {
                        " · " <a href="?" data-testid="home-topic" title="orders, load and the demo services are on the gateway's own topic">
                            {format!("back to {}", mine.unwrap_or_else(|| "the gateway's topic".into()))}
                        </a>
                    }
                }))}
            </span>
            {move || refusal.get().map(|why| view! {
                <span class="error" data-testid="stream-refused">{why}</span>
            })}
            <ConnectionBadge connection/>
            <BrokerBadge health/>
            <AccessBadge health/>
            <TokenField/>
        </header>
    }
}

/// How a badge looks: its state (`live`, `connecting`, `down`, which the
/// styles colour and the tests read) and its text.
type BadgeState = (&'static str, String);

/// A badge whose state and text follow `state`.
#[component]
fn Badge(state: Signal<BadgeState>, testid: &'static str) -> impl IntoView {
    view! {
        <span class=move || format!("badge {}", state.with(|s| s.0)) data-testid=testid
              data-state=move || state.with(|s| s.0)>
            {move || state.with(|s| s.1.clone())}
        </span>
    }
}

/// Whether this page is receiving the live stream.
#[component]
fn ConnectionBadge(connection: RwSignal<Connection>) -> impl IntoView {
    let state = Signal::derive(move || match connection.get() {
        Connection::Connecting => ("connecting", "connecting…".to_owned()),
        Connection::Live => ("live", "live".to_owned()),
        Connection::Reconnecting { in_ms } => (
            "down",
            format!(
                "disconnected, retrying in {:.1} s",
                f64::from(in_ms) / 1000.0
            ),
        ),
    });
    view! { <Badge state testid="connection"/> }
}

/// Whether the gateway reaches the broker.
#[component]
fn BrokerBadge(health: RwSignal<Option<Health>>) -> impl IntoView {
    let state = Signal::derive(move || {
        health.with(|h| match h {
            None => ("down", "gateway unreachable".to_owned()),
            Some(h) if h.status == HealthStatus::Ok => {
                ("live", format!("broker {}", h.broker.bootstrap_servers))
            }
            Some(h) if !h.broker.reachable => (
                "down",
                format!("broker {} unreachable", h.broker.bootstrap_servers),
            ),
            Some(_) => ("connecting", "waiting for the topic…".to_owned()),
        })
    });
    view! { <Badge state testid="broker"/> }
}

/// Who may write: said plainly when anyone may.
#[component]
fn AccessBadge(health: RwSignal<Option<Health>>) -> impl IntoView {
    let state = Signal::derive(move || {
        health.with(|h| match h {
            None => ("connecting", String::new()),
            Some(h) if !h.access.writes_need_token => (
                "open",
                "writes open: anyone who reaches this gateway can place orders, create \
                 topics and stop services"
                    .to_owned(),
            ),
            Some(h) if h.access.reads_need_token && crate::api::token().is_none() => (
                "down",
                "this gateway needs the API token to show anything: enter it".to_owned(),
            ),
            Some(_) => ("live", "writes need the API token".to_owned()),
        })
    });
    view! { <Badge state testid="access"/> }
}
