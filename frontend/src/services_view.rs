//! The demo services card: stop, start, scale and tune each service, and
//! watch its lag and counters move.

use leptos::prelude::*;
use wire::services::{MAX_MEMBERS, ServiceUpdate, ServiceView};

use crate::api;
use crate::flow::{FlowState, service_lag};
use crate::live::now_ms;

#[component]
pub fn Services(flow: RwSignal<FlowState>) -> impl IntoView {
    let names = move || {
        flow.with(|f| {
            f.snapshot()
                .map(|s| {
                    s.services
                        .iter()
                        .map(|s| s.name.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    view! {
        <div class="card" data-testid="services">
            <h2>"Services"</h2>
            <Show when=move || names().is_empty()>
                <p class="hint">
                    {move || if flow.with(|f| f.snapshot().is_none()) {
                        "Waiting for the gateway…"
                    } else {
                        "No demo services (the gateway runs with --no-services)."
                    }}
                </p>
            </Show>
            <For each=names key=|name| name.clone() let(name)>
                <ServiceCard flow name/>
            </For>
        </div>
    }
}

#[component]
fn ServiceCard(flow: RwSignal<FlowState>, name: String) -> impl IntoView {
    let name = StoredValue::new(name);
    let service = move || {
        flow.with(|f| {
            f.snapshot().and_then(|s| {
                s.services
                    .iter()
                    .find(|s| s.name == name.get_value())
                    .cloned()
            })
        })
    };
    let lag = move || flow.with(|f| service_lag(f.snapshot()?, &name.get_value()));
    // The group as the broker sees it: Stable, PreparingRebalance, Empty, …
    let group_state = move || {
        flow.with(|f| {
            let snapshot = f.snapshot()?;
            let service = snapshot
                .services
                .iter()
                .find(|s| s.name == name.get_value())?;
            snapshot
                .groups
                .iter()
                .find(|g| g.group_id == service.group_id)
                .map(|g| g.state.clone())
        })
    };
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let send = move |update: ServiceUpdate| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::update_service(&name.get_value(), &update).await {
                Ok(view) => {
                    error.set(None);
                    flow.update(|f| f.replace_service(view));
                }
                Err(body) => error.set(Some(api::describe(&body))),
            }
            busy.set(false);
        });
    };
    let set_processing =
        move |ev: leptos::ev::Event| match event_target_value(&ev).trim().parse::<u32>() {
            Ok(ms) => send(ServiceUpdate {
                processing_ms: Some(ms),
                ..Default::default()
            }),
            Err(_) => error.set(Some(
                "processing time: a whole number of milliseconds".into(),
            )),
        };
    let set_failure_rate =
        move |ev: leptos::ev::Event| match event_target_value(&ev).trim().parse::<f64>() {
            Ok(percent) => send(ServiceUpdate {
                failure_rate: Some(percent / 100.0),
                ..Default::default()
            }),
            Err(_) => error.set(Some("failure rate: a percentage".into())),
        };
    let field = move |get: fn(&ServiceView) -> String| {
        move || service().map(|s| get(&s)).unwrap_or_default()
    };
    let running = move || service().is_some_and(|s| s.running);
    let members = move || service().map_or(0, |s| s.members);
    let latency = move || {
        flow.with(|f| f.processing_latency(&name.get_value(), now_ms()))
            .map(|p| format!("p50 {} · p95 {} · p99 {} ms", p.p50, p.p95, p.p99))
            .unwrap_or_default()
    };

    view! {
        <div class="service" data-testid="service" data-service=name.get_value()
             data-running=move || running().to_string()>
            <div class="service-head">
                <b>{name.get_value()}</b>
                <span class=move || if running() { "badge live" } else { "badge down" }>
                    {move || if running() { "running" } else { "stopped" }}
                </span>
                <span class="group-id">{field(|s| s.group_id.clone())}</span>
                <span class="group-state" data-testid="group-state">{group_state}</span>
                <span class="lag" data-testid="service-lag" data-lag=move || lag().map(|l| l.to_string())>
                    {move || lag().map_or_else(|| "lag –".to_owned(), |l| format!("lag {l}"))}
                </span>
                <button data-testid="service-toggle" class=move || if running() { "secondary" } else { "" }
                    disabled=move || busy.get()
                    on:click=move |_| send(ServiceUpdate { running: Some(!running()), ..Default::default() })>
                    {move || if running() { "Stop" } else { "Start" }}
                </button>
            </div>
            <div class="meta">
                <span>"processed " <b data-testid="service-processed">{field(|s| s.processed.to_string())}</b></span>
                <span>"failed attempts " <b>{field(|s| s.failed_attempts.to_string())}</b></span>
                <span>"gave up " <b>{field(|s| s.gave_up.to_string())}</b></span>
                <span title="processed again at an offset already processed (at-least-once)">
                    "redelivered " <b data-testid="service-redelivered">{field(|s| s.redelivered.to_string())}</b>
                </span>
                <span class="latency">{latency}</span>
            </div>
            <div class="service-controls">
                <span>"members"</span>
                <button class="secondary small" data-testid="members-remove" title="Remove a member"
                    disabled={move || busy.get() || members() <= 1}
                    on:click=move |_| send(ServiceUpdate { members: Some(members().saturating_sub(1)), ..Default::default() })>
                    "−"
                </button>
                <b data-testid="members">{members}</b>
                <button class="secondary small" data-testid="members-add" title="Add a member"
                    disabled={move || busy.get() || members() >= MAX_MEMBERS}
                    on:click=move |_| send(ServiceUpdate { members: Some(members() + 1), ..Default::default() })>
                    "+"
                </button>
                <label class="inline">"ms per order"
                    <input data-testid="processing-ms" inputmode="numeric"
                        prop:value=field(|s| s.processing_ms.to_string())
                        on:change=set_processing/>
                </label>
                <label class="inline">"failure %"
                    <input data-testid="failure-rate" inputmode="decimal"
                        prop:value=field(|s| format!("{}", (s.failure_rate * 1000.0).round() / 10.0))
                        on:change=set_failure_rate/>
                </label>
            </div>
            <ul class="assignments" data-testid="assignments">
                {move || service().map(|s| s.assignments.into_iter().map(|a| {
                    let list = a.partitions.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
                    let partitions = if a.partitions.is_empty() {
                        "waiting for partitions…".to_owned()
                    } else {
                        a.partitions.iter().map(|p| format!("P{p}")).collect::<Vec<_>>().join(" ")
                    };
                    view! {
                        <li data-testid="assignment" data-client-id=a.client_id.clone()
                            data-partitions=list>
                            <code>{a.client_id.clone()}</code> " " {partitions}
                        </li>
                    }
                }).collect_view())}
            </ul>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" data-testid="service-error">{move || error.get()}</p>
            </Show>
        </div>
    }
}
