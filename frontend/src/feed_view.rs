//! The live feed: every consumed record, newest first, with its fan-out to
//! the demo services.

use std::sync::Arc;

use leptos::prelude::*;
use wire::{LiveRecord, Payload, headers};

use crate::clock::clock_time;
use crate::fanout::chips;
use crate::feed::{Feed, FeedEntry};
use crate::filter_view::FilterBox;
use crate::flow::FlowState;
use crate::form::format_cents;
use crate::socket::LiveFilter;
use crate::units::{duration, latency_level};

/// Every consumed record, newest first.
#[component]
pub fn LiveFeed(
    feed: RwSignal<Feed>,
    flow: RwSignal<FlowState>,
    /// The topic the page watches (`None`: the gateway's own).
    wanted: Option<String>,
    /// The live filter the page streams through.
    live: LiveFilter,
) -> impl IntoView {
    let filtered = move || live.running.with(Option::is_some);
    // Paused: the rows listed when Pause was pressed, and how many records
    // the page had seen then. Reading goes on (every record is still
    // counted); only the list stands still, to be read.
    let paused = RwSignal::new(None::<(Vec<Arc<FeedEntry>>, u64)>);
    let rows = move || match paused.with(|p| p.as_ref().map(|(rows, _)| rows.clone())) {
        Some(rows) => rows,
        None => feed.with(|f| f.entries().cloned().collect::<Vec<_>>()),
    };
    let toggle = move |_| {
        if paused.with(Option::is_some) {
            paused.set(None);
        } else {
            let now = feed.with_untracked(|f| (f.entries().cloned().collect(), f.total_seen()));
            paused.set(Some(now));
        }
    };
    let since = move || {
        paused.with(|p| {
            p.as_ref()
                .map(|(_, at)| feed.with(|f| f.total_seen().saturating_sub(*at)))
        })
    };
    let row_topic = wanted.clone();
    view! {
        <div class="card" data-testid="feed-card">
            <div class="card-head">
                <h2>"Live from Kafka"</h2>
                <button type="button" class="secondary small" data-testid="feed-pause" on:click=toggle>
                    {move || if paused.with(Option::is_some) { "Resume" } else { "Pause" }}
                </button>
            </div>
            <FilterBox feed wanted live/>
            <Show when=move || since().is_some()>
                <p class="hint" data-testid="feed-paused" data-count=move || since().unwrap_or(0)>
                    {move || format!(
                        "Paused: {} record(s) arrived since, counted in the partition table; Resume lists the newest.",
                        since().unwrap_or(0)
                    )}
                </p>
            </Show>
            <Show when=move || feed.with(|f| f.entries().len() == 0)>
                <p class="hint">{move || if filtered() {
                    "Waiting for records that match the filter…"
                } else {
                    "Waiting for records… place an order, or produce to the topic with any Kafka client."
                }}</p>
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
                <For each=rows key=|entry| entry.id() let(entry)>
                    <FeedRow entry flow topic=row_topic.clone()/>
                </For>
            </ol>
        </div>
    }
}

/// One record: where it is in Kafka, how long it took, what it says, and
/// which demo services are done with it.
#[component]
fn FeedRow(
    entry: Arc<FeedEntry>,
    flow: RwSignal<FlowState>,
    /// The watched topic (`None`: the gateway's own).
    topic: Option<String>,
) -> impl IntoView {
    let record = &entry.record;
    let kind = kind(&record.payload);
    let latency = match (entry.consumed_after_ms(), entry.shown_after_ms()) {
        (Some(consumed), Some(shown)) => {
            format!(
                "consumed +{} · shown +{}",
                duration(consumed),
                duration(shown)
            )
        }
        (Some(consumed), None) => format!("consumed +{} · from history", duration(consumed)),
        _ => String::new(),
    };
    // Coloured by how long the record took to reach the gateway's consumer;
    // records from history are old by design and stay uncoloured.
    let level = match (entry.consumed_after_ms(), entry.shown_after_ms()) {
        (Some(consumed), Some(_)) => latency_level(consumed),
        _ => "",
    };
    let order_id = record.header(headers::ORDER_ID).map(str::to_owned);
    let total = match &record.payload {
        Payload::Json { value } => value
            .tree()
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
                <span>{record.timestamp_ms.map(clock_time)}</span>
                <span class=format!("latency {level}") data-testid="latency">{latency}</span>
                <span>{total}</span>
                <span class="size">{format!("{} B", record.size)}</span>
            </div>
            <Fanout flow partition=record.partition offset=record.offset/>
            <RecordBody record=record.clone() topic=topic/>
        </li>
    }
}

/// The fan-out of one record (see [`fanout`](crate::fanout)).
#[component]
fn Fanout(flow: RwSignal<FlowState>, partition: i32, offset: i64) -> impl IntoView {
    // A memo: the flow changes several times a second and every row reads
    // it, but a row's chips only change when one of its services finishes
    // it. Only then is the row's DOM touched.
    let shown = Memo::new(move |_| flow.with(|f| chips(f, partition, offset)));
    view! {
        <div class="fanout" data-testid="fanout">
            {move || shown.get().into_iter().map(|chip| {
                let state = chip.state.as_str();
                view! {
                    <span class=format!("chip {state}") data-testid="fanout-service"
                        data-service=chip.service data-state=state title=chip.state.meaning()>
                        {chip.text}
                    </span>
                }
            }).collect_view()}
        </div>
    }
}

/// What a record says: its value as the gateway decoded it (JSON pretty
/// printed, text, or hex), the schema it names, and its headers on one
/// line. A value the stream cut can be loaded whole.
#[component]
pub(crate) fn RecordBody(
    record: LiveRecord,
    /// The record's topic (`None`: the gateway's own).
    topic: Option<String>,
) -> impl IntoView {
    let body = match &record.payload {
        Payload::Json { value } => serde_json::to_string_pretty(value).unwrap_or_default(),
        Payload::Text { text, truncated } => with_ellipsis(text, *truncated),
        Payload::Binary { hex, truncated } => with_ellipsis(hex, *truncated),
        Payload::Null => "(no value)".to_owned(),
    };
    let cut = matches!(
        record.payload,
        Payload::Text {
            truncated: true,
            ..
        } | Payload::Binary {
            truncated: true,
            ..
        }
    );
    // The whole value once loaded, or why it could not be.
    let whole = RwSignal::new(None::<Result<(String, &'static str), String>>);
    let loading = RwSignal::new(false);
    let (partition, offset, size) = (record.partition, record.offset, record.size);
    let load = move |_| {
        let topic = topic.clone();
        loading.set(true);
        leptos::task::spawn_local(async move {
            let loaded = crate::api::record(topic.as_deref(), partition, offset).await;
            whole.set(Some(
                loaded
                    .map(|full| whole_value(&full))
                    .map_err(|e| crate::api::describe(&e)),
            ));
            loading.set(false);
        });
    };
    // What `GET /api/record` serves whole, at most.
    const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
    let too_large = (cut && size > MAX_RECORD_BYTES).then(|| {
        view! {
            <p class="hint" data-testid="too-large">
                {format!("{}: over the 16 MiB the gateway serves whole; read it with a Kafka client", crate::units::bytes(size))}
            </p>
        }
    });
    let load_button = move || {
        (cut && size <= MAX_RECORD_BYTES && !matches!(whole.get(), Some(Ok(_)))).then(|| {
            view! {
                <button type="button" class="secondary small" data-testid="load-all"
                    disabled=move || loading.get() on:click=load.clone()>
                    {move || if loading.get() {
                        "loading…".to_owned()
                    } else {
                        format!("load all ({})", crate::units::bytes(size))
                    }}
                </button>
            }
        })
    };
    let schemas = schema_line(&record);
    let initial_kind = kind(&record.payload);
    let headers = (!record.headers.is_empty()).then(|| {
        let list: Vec<String> = record
            .headers
            .iter()
            .map(|h| format!("{}={}", h.key, h.value.as_deref().unwrap_or("(null)")))
            .collect();
        view! { <p class="headers" data-testid="headers">"headers: " {list.join(" · ")}</p> }
    });
    view! {
        {schemas}
        {move || match whole.get() {
            Some(Ok((text, kind))) => view! {
                <pre class=format!("payload whole {kind}") data-testid="whole-value">{text}</pre>
            }.into_any(),
            other => view! {
                <pre class=format!("payload {initial_kind}")>{body.clone()}</pre>
                {other.and_then(Result::err).map(|why| view! {
                    <p class="error" data-testid="load-error">{why}</p>
                })}
            }.into_any(),
        }}
        {load_button}
        {too_large}
        {headers}
    }
}

/// The schemas a record's key and value name, on one line; `None` when
/// they name none.
fn schema_line(record: &LiveRecord) -> Option<impl IntoView + use<>> {
    let describe = |part: &str, schema: &wire::SchemaRef| {
        let mut text = format!("{part}: schema {}", schema.id);
        if let Some(subject) = &schema.subject {
            text.push_str(&format!(" ({subject})"));
        }
        if let Some(format) = &schema.format {
            text.push_str(&format!(" · {format}"));
        }
        if let Some(error) = &schema.error {
            text.push_str(&format!(" · not decoded: {error}"));
        }
        text
    };
    let parts: Vec<String> = [("key", &record.key_schema), ("value", &record.value_schema)]
        .into_iter()
        .filter_map(|(part, schema)| schema.as_ref().map(|s| describe(part, s)))
        .collect();
    let failed = [&record.key_schema, &record.value_schema]
        .into_iter()
        .flatten()
        .any(|s| s.error.is_some());
    (!parts.is_empty()).then(|| {
        view! {
            <p class=if failed { "schema failed" } else { "schema" } data-testid="record-schema">
                {parts.join(" · ")}
            </p>
        }
    })
}

/// A whole record's value as text, and its kind for the styles: JSON
/// (from JSON or a schema) pretty printed, text as is, bytes in base64.
fn whole_value(full: &wire::api::FullRecord) -> (String, &'static str) {
    match (full.value_format.as_str(), &full.value) {
        (_, serde_json::Value::Null) => ("(no value)".to_owned(), "null"),
        ("text", serde_json::Value::String(text)) => (text.clone(), "text"),
        ("base64", serde_json::Value::String(b64)) => (format!("base64: {b64}"), "binary"),
        (_, value) => (
            serde_json::to_string_pretty(value).unwrap_or_default(),
            "json",
        ),
    }
}

/// The payload's kind, as the styles and tests name it.
fn kind(payload: &Payload) -> &'static str {
    match payload {
        Payload::Json { .. } => "json",
        Payload::Text { .. } => "text",
        Payload::Binary { .. } => "binary",
        Payload::Null => "null",
    }
}

fn with_ellipsis(text: &str, truncated: bool) -> String {
    if truncated {
        format!("{text}… (truncated)")
    } else {
        text.to_owned()
    }
}
