//! The page's shell: it owns the page-wide state (the feed, the flow, the
//! connection, the broker's health), starts the stream client and the
//! health poll, and lays the panels out. Each panel is a `*_view` module of
//! its own; the logic they rely on lives in plain modules (`feed`, `flow`,
//! `fanout`, `form`, `replay`, `backoff`).

use leptos::prelude::*;
use wire::Health;

use crate::api;
use crate::clock::sleep;
use crate::feed::Feed;
use crate::feed_view::LiveFeed;
use crate::flow::FlowState;
use crate::flow_view::{Charts, FlowView, Latency};
use crate::groups_view::{ConsumerGroups, Quorum};
use crate::header_view::Header;
use crate::load_view::Load;
use crate::location;
use crate::order_view::OrderForm;
use crate::partitions_view::PartitionTable;
use crate::replay_view::Replay;
use crate::search_view::Search;
use crate::services_view::Services;
use crate::socket::{self, Connection};
use crate::topics_view::Topics;

/// How often the broker and topic status is refreshed.
const HEALTH_POLL_MS: u32 = 3_000;

#[component]
pub fn App() -> impl IntoView {
    let feed = RwSignal::new(Feed::default());
    let connection = RwSignal::new(Connection::Connecting);
    let flow = RwSignal::new(FlowState::default());
    let health = RwSignal::new(None::<Health>);
    let refusal = RwSignal::new(None::<String>);
    // `?topic=T`: the page watches T; the orders, load and demo services
    // are the gateway's own topic's, shown only there.
    let wanted = location::wanted_topic();
    let home = {
        let wanted = wanted.clone();
        Signal::derive(move || match &wanted {
            None => true,
            Some(topic) => health.with(|h| {
                h.as_ref()
                    .and_then(|h| h.topic.as_ref())
                    .is_some_and(|t| &t.name == topic)
            }),
        })
    };
    let live = socket::start(
        feed,
        flow,
        connection,
        wanted.clone(),
        location::wanted_filter(),
        refusal,
    );
    leptos::task::spawn_local(async move {
        loop {
            let now = api::health().await;
            // A gateway whose reads need the token takes the stream only
            // with the read-key cookie; a restarted gateway has a new key.
            let needs_key = now.as_ref().is_some_and(|h| h.access.reads_need_token);
            if needs_key && api::token().is_some() && connection.get_untracked() != Connection::Live
            {
                api::open_session().await;
            }
            health.set(now);
            sleep(HEALTH_POLL_MS).await;
        }
    });

    view! {
        <Header feed connection health refusal home/>
        <main class="layout">
            <section class="column">
                // In the order a person uses them: place orders, watch the
                // services take them, push a spike, read the topic again;
                // then the broker's view; the cluster's topics last (the
                // longest list).
                <Show when=move || home.get()>
                    <OrderForm/>
                    <Services flow/>
                    <Load flow/>
                    <Replay/>
                </Show>
                <Search wanted=wanted.clone()/>
                <PartitionTable feed flow/>
                <ConsumerGroups flow home/>
                // The quorum is the cluster's, read with the gateway's own topic.
                <Show when=move || home.get()>
                    <Quorum flow/>
                </Show>
                <Topics feed/>
            </section>
            <section class="column wide">
                <FlowView feed flow/>
                <div class="pair">
                    <Charts flow/>
                    <Latency feed flow/>
                </div>
                <LiveFeed feed flow wanted=wanted.clone() live/>
            </section>
        </main>
    }
}
