//! The dashboard's components. They render state and forward input; the
//! logic they rely on lives in `feed`, `flow`, `form` and `backoff`. The
//! services card and the flow view have modules of their own.

use std::sync::Arc;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use wire::api::{GroupView, HealthStatus, PartitionHealth};
use wire::{ErrorBody, Health, OrderAccepted, Payload, headers};

use crate::api;
use crate::feed::{Feed, FeedEntry};
use crate::flow::{FlowState, committed_past};
use crate::flow_view::{Charts, FlowView, Latency};
use crate::form::{ItemDraft, OrderDraft, format_cents};
use crate::live::{self, Connection, now_ms};
use crate::load_view::Load;
use crate::replay_view::Replay;
use crate::services_view::Services;
use crate::topics_view::Topics;

/// How often the broker and topic status is refreshed.
const HEALTH_POLL_MS: u32 = 3_000;

#[component]
pub fn App() -> impl IntoView {
    let feed = RwSignal::new(Feed::default());
    let connection = RwSignal::new(Connection::Connecting);
    let flow = RwSignal::new(FlowState::default());
    let health = RwSignal::new(None::<Health>);
    live::start(feed, flow, connection);
    leptos::task::spawn_local(async move {
        loop {
            health.set(api::health().await);
            live::sleep(HEALTH_POLL_MS).await;
        }
    });

    view! {
        <header class="top">
            <h1>"Kafka Flow"</h1>
            <span class="topic" data-testid="topic">
                {move || feed.with(|f| f.topic().map(|t| format!("topic: {t}")))}
            </span>
            <ConnectionBadge connection/>
            <BrokerBadge health/>
            <TokenField/>
        </header>
        <main class="layout">
            <section class="column">
                <OrderForm/>
                <Load flow/>
                <Services flow/>
                <PartitionTable feed health/>
                <ConsumerGroups flow/>
                <Topics feed/>
                <Replay/>
            </section>
            <section class="column wide">
                <FlowView feed flow/>
                <div class="pair">
                    <Charts flow/>
                    <Latency feed flow/>
                </div>
                <LiveFeed feed flow/>
            </section>
        </main>
    }
}

/// Whether this page is receiving the live stream.
#[component]
fn ConnectionBadge(connection: RwSignal<Connection>) -> impl IntoView {
    let state = move || match connection.get() {
        Connection::Connecting => ("connecting", "connecting…".to_owned()),
        Connection::Live => ("live", "live".to_owned()),
        Connection::Reconnecting { in_ms } => (
            "down",
            format!(
                "disconnected, retrying in {:.1} s",
                f64::from(in_ms) / 1000.0
            ),
        ),
    };
    view! {
        <span class=move || format!("badge {}", state().0) data-testid="connection"
              data-state=move || state().0>
            {move || state().1}
        </span>
    }
}

/// Whether the gateway reaches the broker.
#[component]
fn BrokerBadge(health: RwSignal<Option<Health>>) -> impl IntoView {
    let state = move || {
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
    };
    view! {
        <span class=move || format!("badge {}", state().0) data-testid="broker"
              data-state=move || state().0>
            {move || state().1}
        </span>
    }
}

/// The API token for writes, for gateways that require one; kept in this
/// browser's local storage.
#[component]
fn TokenField() -> impl IntoView {
    let open = RwSignal::new(false);
    let has_token = RwSignal::new(api::token().is_some());
    view! {
        <span class="token">
            <button type="button" class="secondary small" data-testid="token-toggle"
                title="API token, for gateways that require one for writes"
                on:click=move |_| open.update(|o| *o = !*o)>
                {move || if has_token.get() { "API token ✓" } else { "API token" }}
            </button>
            <Show when=move || open.get()>
                <input type="password" data-testid="token" placeholder="paste the token; empty to forget"
                    on:change=move |ev| {
                        api::set_token(event_target_value(&ev).trim());
                        has_token.set(api::token().is_some());
                        open.set(false);
                    }/>
            </Show>
        </span>
    }
}

/// Places orders and shows the acknowledgement, or the error next to its field.
#[component]
fn OrderForm() -> impl IntoView {
    let draft = RwSignal::new(OrderDraft::default());
    let error = RwSignal::new(None::<ErrorBody>);
    let accepted = RwSignal::new(None::<(OrderAccepted, i64)>);
    let sending = RwSignal::new(false);
    // The Idempotency-Key of the order last sent and not acknowledged: sent
    // again unchanged (a retry after an error), it keeps its key, so it
    // cannot be placed twice; changed, or once acknowledged, it gets a new one.
    let pending_key = StoredValue::new(None::<(String, wire::NewOrder)>);

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let order = match draft.with_untracked(OrderDraft::to_order) {
            Ok(order) => order,
            Err(err) => {
                error.set(Some(ErrorBody {
                    code: wire::ErrorCode::InvalidField,
                    message: err.message,
                    field: Some(err.field),
                }));
                return;
            }
        };
        let key = match pending_key.get_value() {
            Some((key, sent)) if sent == order => key,
            _ => new_key(),
        };
        pending_key.set_value(Some((key.clone(), order.clone())));
        sending.set(true);
        leptos::task::spawn_local(async move {
            let started = now_ms();
            match api::place_order(&order, &key).await {
                Ok(ack) => {
                    pending_key.set_value(None);
                    error.set(None);
                    accepted.set(Some((ack, now_ms() - started)));
                }
                Err(body) => {
                    accepted.set(None);
                    error.set(Some(body));
                }
            }
            sending.set(false);
        });
    };
    // An error whose field has no input of its own is shown above the button.
    let general_error = move || {
        error.with(|e| {
            e.as_ref()
                .filter(|e| !e.field.as_deref().is_some_and(has_input))
                .map(|e| e.message.clone())
        })
    };

    view! {
        <form class="card" on:submit=submit data-testid="order-form">
            <h2>"Place an order"</h2>
            <label>
                "Customer id"
                <input data-testid="customer-id"
                    prop:value=move || draft.with(|d| d.customer_id.clone())
                    on:input=move |ev| draft.update(|d| d.customer_id = event_target_value(&ev))/>
            </label>
            <FieldError error field="customer_id".to_owned()/>
            <div class="items">
                <For each=move || 0..draft.with(|d| d.items.len()) key=|i| *i let(i)>
                    <ItemRow draft error index=i/>
                </For>
            </div>
            <FieldError error field="items".to_owned()/>
            <div class="actions">
                <button type="button" class="secondary" data-testid="add-item"
                    on:click=move |_| draft.update(|d| d.items.push(ItemDraft::default()))>
                    "Add item"
                </button>
                <button type="submit" data-testid="place-order" disabled=move || sending.get()>
                    {move || if sending.get() { "Sending…" } else { "Place order" }}
                </button>
            </div>
            <Show when=move || general_error().is_some()>
                <p class="error" data-testid="order-error">{general_error}</p>
            </Show>
            {move || accepted.get().map(|(ack, round_trip)| view! {
                <p class="ack" data-testid="ack" data-partition=ack.partition data-offset=ack.offset
                    data-order-id=ack.order_id.clone()>
                    "In Kafka: partition " <b>{ack.partition}</b> ", offset " <b>{ack.offset}</b>
                    " — " {round_trip} " ms round trip"
                    <br/><small>"order " {ack.order_id.clone()}</small>
                </p>
            })}
        </form>
    }
}

/// A fresh Idempotency-Key: a random UUID from the browser.
fn new_key() -> String {
    window()
        .crypto()
        .map(|c| c.random_uuid())
        // No Web Crypto (very old browsers): time and randomness will do.
        .unwrap_or_else(|_| format!("{}-{}", now_ms(), js_sys::Math::random()))
}

/// Whether the form has an input for `field`, so its error shows beside it.
fn has_input(field: &str) -> bool {
    field == "customer_id" || field == "items" || field.starts_with("items[")
}

/// One line of the order form.
#[component]
fn ItemRow(
    draft: RwSignal<OrderDraft>,
    error: RwSignal<Option<ErrorBody>>,
    index: usize,
) -> impl IntoView {
    let value = move |get: fn(&ItemDraft) -> &String| {
        move || draft.with(|d| d.items.get(index).map(get).cloned().unwrap_or_default())
    };
    let set = move |put: fn(&mut ItemDraft, String)| {
        move |ev: leptos::ev::Event| {
            let text = event_target_value(&ev);
            draft.update(|d| {
                if let Some(item) = d.items.get_mut(index) {
                    put(item, text);
                }
            });
        }
    };
    view! {
        <div class="item" data-testid=format!("item-{index}")>
            <label>"SKU"
                <input data-testid="sku" prop:value=value(|i| &i.sku) on:input=set(|i, v| i.sku = v)/>
            </label>
            <label>"Quantity"
                <input data-testid="quantity" inputmode="numeric"
                    prop:value=value(|i| &i.quantity) on:input=set(|i, v| i.quantity = v)/>
            </label>
            <label>"Unit price"
                <input data-testid="unit-price" inputmode="decimal"
                    prop:value=value(|i| &i.unit_price) on:input=set(|i, v| i.unit_price = v)/>
            </label>
            <button type="button" class="secondary remove" title="Remove this item"
                disabled=move || draft.with(|d| d.items.len() <= 1)
                on:click=move |_| draft.update(|d| { if d.items.len() > 1 { d.items.remove(index); } })>
                "×"
            </button>
            <FieldError error field=format!("items[{index}].sku")/>
            <FieldError error field=format!("items[{index}].quantity")/>
            <FieldError error field=format!("items[{index}].unit_price_cents")/>
        </div>
    }
}

/// The gateway's message for `field`, if its last error named that field.
#[component]
fn FieldError(error: RwSignal<Option<ErrorBody>>, field: String) -> impl IntoView {
    let testid = format!("error-{field}");
    let message = move || {
        error.with(|e| {
            e.as_ref()
                .filter(|e| e.field.as_deref() == Some(field.as_str()))
                .map(|e| e.message.clone())
        })
    };
    view! {
        <Show when={let message = message.clone(); move || message().is_some()}>
            <p class="field-error" data-testid=testid.clone()>{message.clone()}</p>
        </Show>
    }
}

/// Per partition: records seen by this page, last offset, and the log-end
/// offset the broker reports.
#[component]
fn PartitionTable(feed: RwSignal<Feed>, health: RwSignal<Option<Health>>) -> impl IntoView {
    let rows = move || {
        let mut ids: Vec<i32> = feed.with(|f| f.partitions().keys().copied().collect());
        health.with(|h| {
            if let Some(topic) = h.as_ref().and_then(|h| h.topic.as_ref()) {
                ids.extend(topic.partitions.iter().map(|p| p.id));
            }
        });
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    view! {
        <div class="card">
            <h2>"Partitions"</h2>
            <table class="partitions" data-testid="partitions">
                <thead><tr>
                    <th>"partition"</th><th>"leader"</th><th>"earliest"</th><th>"seen here"</th><th>"last offset"</th><th>"log-end offset"</th>
                </tr></thead>
                <tbody>
                    <For each=rows key=|id| *id let(id)>
                        <tr data-testid="partition-row" data-partition=id>
                            <td>{id}</td>
                            <td data-testid="leader">{move || reported(health, id).map_or_else(|| "–".into(), |p| p.leader.to_string())}</td>
                            <td data-testid="earliest-offset">{move || reported(health, id).map_or_else(|| "–".into(), |p| p.low_watermark.to_string())}</td>
                            <td data-testid="seen">
                                {move || feed.with(|f| f.partitions().get(&id).map_or(0, |p| p.seen))}
                            </td>
                            <td data-testid="last-offset">
                                {move || feed.with(|f| f.partitions().get(&id).map(|p| p.last_offset.to_string()).unwrap_or_else(|| "–".into()))}
                            </td>
                            <td data-testid="log-end-offset">
                                {move || log_end_offset(feed, health, id).map_or_else(|| "–".into(), |o| o.to_string())}
                            </td>
                        </tr>
                    </For>
                </tbody>
            </table>
            <p class="hint">
                {move || feed.with(|f| match f.total_seen() {
                    1 => "1 record seen".to_owned(),
                    n => format!("{n} records seen"),
                })}
                {move || feed.with(|f| (f.missed() > 0).then(|| format!(", {} missed while this page fell behind", f.missed())))}
            </p>
        </div>
    }
}

/// The partition as the broker last reported it.
fn reported(health: RwSignal<Option<Health>>, id: i32) -> Option<PartitionHealth> {
    health.with(|h| {
        h.as_ref()
            .and_then(|h| h.topic.as_ref())
            .and_then(|t| t.partitions.iter().find(|p| p.id == id))
            .cloned()
    })
}

/// The partition's log-end offset: what the broker last reported, or more
/// when this page has since seen a later record (health is polled, records
/// stream).
fn log_end_offset(feed: RwSignal<Feed>, health: RwSignal<Option<Health>>, id: i32) -> Option<i64> {
    let reported = reported(health, id).map(|p| p.high_watermark);
    let seen = feed.with(|f| f.partitions().get(&id).map(|p| p.last_offset + 1));
    reported.max(seen)
}

/// The consumer groups reading the topic, as the broker reports them:
/// committed offset, log-end offset and lag per partition, and who owns it.
#[component]
fn ConsumerGroups(flow: RwSignal<FlowState>) -> impl IntoView {
    let groups = move || {
        flow.with(|f| {
            f.snapshot()
                .filter(|s| s.error.is_none())
                .map(|s| s.groups.clone())
        })
    };
    view! {
        <div class="card">
            <h2>"Consumer groups"</h2>
            {move || match groups() {
                None => view! { <p class="hint">"Unknown: the broker does not answer."</p> }.into_any(),
                Some(list) if list.is_empty() => view! {
                    <p class="hint">"No consumer group reads this topic yet. Start one, e.g. the tutorial's "
                        <code>"order-group"</code> " consumer."</p>
                }.into_any(),
                Some(list) => list.into_iter().map(|group| view! { <GroupCard group/> }).collect_view().into_any(),
            }}
        </div>
    }
}

#[component]
fn GroupCard(group: GroupView) -> impl IntoView {
    // Unknown while a partition has no committed offset, as in Kafka's tools.
    let total_lag: Option<i64> = group.partitions.iter().map(|p| p.lag).sum();
    view! {
        <div class="group" data-testid="group" data-group=group.group_id.clone()>
            <div class="meta">
                <b>{group.group_id.clone()}</b>
                <span>{group.state.clone()}</span>
                <span>{format!("{} member(s)", group.members.len())}</span>
                <span data-testid="total-lag">{total_lag.map_or_else(|| "lag –".to_owned(), |l| format!("lag {l}"))}</span>
            </div>
            <table class="partitions">
                <thead><tr>
                    <th>"partition"</th><th>"committed"</th><th>"log-end"</th><th>"lag"</th><th>"owner"</th>
                </tr></thead>
                <tbody>
                    {group.partitions.into_iter().map(|p| view! {
                        <tr data-testid="group-partition" data-partition=p.partition>
                            <td>{p.partition}</td>
                            <td>{p.committed.map_or_else(|| "–".to_owned(), |c| c.to_string())}</td>
                            <td>{p.log_end}</td>
                            <td data-testid="lag">{p.lag.map_or_else(|| "–".to_owned(), |l| l.to_string())}</td>
                            <td>{p.owner.unwrap_or_else(|| "–".to_owned())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Every consumed record, newest first.
#[component]
fn LiveFeed(feed: RwSignal<Feed>, flow: RwSignal<FlowState>) -> impl IntoView {
    view! {
        <div class="card">
            <h2>"Live from Kafka"</h2>
            <Show when=move || feed.with(|f| f.entries().len() == 0)>
                <p class="hint">"Waiting for records… place an order, or produce to the topic with any Kafka client."</p>
            </Show>
            <Show when=move || feed.with(|f| f.unlisted() > 0)>
                <p class="hint" data-testid="unlisted" data-count=move || feed.with(|f| f.unlisted())>
                    {move || feed.with(|f| format!(
                        "{} records came faster than this list adds them (the newest {} each repaint): counted in the partition table, not listed.",
                        f.unlisted(),
                        crate::feed::MAX_NEW_ROWS
                    ))}
                </p>
            </Show>
            <ol class="feed" data-testid="feed">
                <For each=move || feed.with(|f| f.entries().cloned().collect::<Vec<_>>())
                     key=|entry| entry.id() let(entry)>
                    <FeedRow entry flow/>
                </For>
            </ol>
        </div>
    }
}

/// One record: where it is in Kafka, how long it took, what it says, and
/// which demo services are done with it.
#[component]
fn FeedRow(entry: Arc<FeedEntry>, flow: RwSignal<FlowState>) -> impl IntoView {
    let record = &entry.record;
    let (kind, body) = match &record.payload {
        Payload::Json { value } => (
            "json",
            serde_json::to_string_pretty(value).unwrap_or_default(),
        ),
        Payload::Text { text, truncated } => ("text", with_ellipsis(text, *truncated)),
        Payload::Binary { hex, truncated } => ("binary", with_ellipsis(hex, *truncated)),
        Payload::Null => ("null", "(no value)".to_owned()),
    };
    let latency = match (entry.consumed_after_ms(), entry.shown_after_ms()) {
        (Some(consumed), Some(shown)) => format!("consumed +{consumed} ms · shown +{shown} ms"),
        (Some(consumed), None) => format!("consumed +{consumed} ms · from history"),
        _ => String::new(),
    };
    let order_id = record.header(headers::ORDER_ID).map(str::to_owned);
    let total = match &record.payload {
        Payload::Json { value } => value
            .get("total_cents")
            .and_then(serde_json::Value::as_u64)
            .map(|c| format!("total {}", format_cents(c))),
        _ => None,
    };
    view! {
        <li class="record" data-testid="feed-row" data-partition=record.partition
            data-offset=record.offset data-order-id=order_id data-kind=kind>
            <div class="meta">
                <span class="partition">"P" {record.partition}</span>
                <span>"offset " <b>{record.offset}</b></span>
                <span>"key " <code>{record.key.clone().unwrap_or_else(|| "–".into())}</code></span>
                <span>{record.timestamp_ms.map(clock)}</span>
                <span class="latency" data-testid="latency">{latency}</span>
                <span>{total}</span>
                <span class="size">{format!("{} B", record.size)}</span>
            </div>
            <Fanout flow partition=record.partition offset=record.offset/>
            <pre class=format!("payload {kind}")>{body}</pre>
        </li>
    }
}

/// The fan-out of one record: each demo service, side by side, done (with
/// the time from production) or still to do.
#[component]
fn Fanout(flow: RwSignal<FlowState>, partition: i32, offset: i64) -> impl IntoView {
    // A memo: the flow changes several times a second and every row reads
    // it, but a row's chips only change when one of its services finishes
    // it. Only then is the row's DOM touched.
    let chips = Memo::new(move |_| {
        flow.with(|f| {
            let Some(snapshot) = f.snapshot() else {
                return Vec::new();
            };
            let done = f.fanout(partition, offset);
            snapshot
                .services
                .iter()
                .map(|s| {
                    let mine = done
                        .iter()
                        .filter(|d| d.service == s.name)
                        .collect::<Vec<_>>();
                    let (state, text) = match mine.last() {
                        // Done before this page was open: its commit says so.
                        None if committed_past(snapshot, &s.group_id, partition, offset) => {
                            ("done", format!("{} ✓", s.name))
                        }
                        None => ("pending", format!("{} …", s.name)),
                        Some(d) if d.gave_up => ("gave-up", format!("{} gave up", s.name)),
                        Some(d) => {
                            let after = d
                                .after_ms()
                                .map(|ms| format!(" +{ms} ms"))
                                .unwrap_or_default();
                            let retries = if d.attempts > 1 {
                                format!(" ({} attempts)", d.attempts)
                            } else {
                                String::new()
                            };
                            let twice = if mine.len() > 1 {
                                format!(" ×{}", mine.len())
                            } else {
                                String::new()
                            };
                            (
                                "done",
                                format!("{} ✓{after}{retries}{twice} #{}", s.name, d.member),
                            )
                        }
                    };
                    (s.name.clone(), state, text)
                })
                .collect::<Vec<_>>()
        })
    });
    view! {
        <div class="fanout" data-testid="fanout">
            {move || chips.get().into_iter().map(|(service, state, text)| view! {
                <span class=format!("chip {state}") data-testid="fanout-service" data-service=service data-state=state>
                    {text}
                </span>
            }).collect_view()}
        </div>
    }
}

fn with_ellipsis(text: &str, truncated: bool) -> String {
    if truncated {
        format!("{text}… (truncated)")
    } else {
        text.to_owned()
    }
}

/// `HH:MM:SS.mmm` in the browser's time zone.
fn clock(ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds(),
        date.get_milliseconds()
    )
}
