//! The demo services card: stop, start, scale and tune each service, and
//! watch its lag and counters move.

use leptos::prelude::*;
use wire::services::{MAX_MEMBERS, ServiceUpdate, ServiceView};

use crate::api;
use crate::clock::now_ms;
use crate::flow::{FlowState, service_lag};

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
                <ServiceCard service=Service::new(flow, name)/>
            </For>
        </div>
    }
}

/// One service on the page: where its state comes from and how commands
/// to it are sent. Every field is a signal or a stored value, so it is
/// `Copy` into each part of the card.
#[derive(Clone, Copy)]
struct Service {
    flow: RwSignal<FlowState>,
    name: StoredValue<String>,
    /// The last command's error, until the next command.
    error: RwSignal<Option<String>>,
    /// A command is on its way.
    busy: RwSignal<bool>,
}

impl Service {
    fn new(flow: RwSignal<FlowState>, name: String) -> Self {
        Self {
            flow,
            name: StoredValue::new(name),
            error: RwSignal::new(None),
            busy: RwSignal::new(false),
        }
    }

    fn name(self) -> String {
        self.name.get_value()
    }

    /// The service as the latest snapshot shows it.
    fn view(self) -> Option<ServiceView> {
        self.flow.with(|f| {
            f.snapshot().and_then(|s| {
                s.services
                    .iter()
                    .find(|s| s.name == self.name.get_value())
                    .cloned()
            })
        })
    }

    /// One field of the service, as text ("" before the first snapshot).
    fn field(self, get: fn(&ServiceView) -> String) -> impl Fn() -> String + Copy {
        move || self.view().map(|s| get(&s)).unwrap_or_default()
    }

    fn running(self) -> bool {
        self.view().is_some_and(|s| s.running)
    }

    fn members(self) -> u32 {
        self.view().map_or(0, |s| s.members)
    }

    /// The group's total lag.
    fn lag(self) -> Option<i64> {
        self.flow
            .with(|f| service_lag(f.snapshot()?, &self.name.get_value()))
    }

    /// The group as the broker sees it: Stable, PreparingRebalance, Empty, …
    fn group_state(self) -> Option<String> {
        self.flow.with(|f| {
            let snapshot = f.snapshot()?;
            let service = snapshot
                .services
                .iter()
                .find(|s| s.name == self.name.get_value())?;
            snapshot
                .groups
                .iter()
                .find(|g| g.group_id == service.group_id)
                .map(|g| g.state.clone())
        })
    }

    /// Sends a command; the answer replaces the service in the flow, or
    /// shows as the card's error.
    fn send(self, update: ServiceUpdate) {
        self.busy.set(true);
        leptos::task::spawn_local(async move {
            match api::update_service(&self.name.get_value(), &update).await {
                Ok(view) => {
                    self.error.set(None);
                    self.flow.update(|f| f.replace_service(view));
                }
                Err(body) => self.error.set(Some(api::describe(&body))),
            }
            self.busy.set(false);
        });
    }
}

#[component]
fn ServiceCard(service: Service) -> impl IntoView {
    let error = service.error;
    view! {
        <div class="service" data-testid="service" data-service=service.name()
             data-running=move || service.running().to_string()>
            <ServiceHead service/>
            <Counters service/>
            <Controls service/>
            <Assignments service/>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" data-testid="service-error">{move || error.get()}</p>
            </Show>
        </div>
    }
}

/// Name, running or stopped, group and its state, lag, and Stop/Start.
#[component]
fn ServiceHead(service: Service) -> impl IntoView {
    let running = move || service.running();
    let lag = move || service.lag();
    view! {
        <div class="service-head">
            <b>{service.name()}</b>
            <span class=move || if running() { "badge live" } else { "badge down" }>
                {move || if running() { "running" } else { "stopped" }}
            </span>
            <span class="group-id">{service.field(|s| s.group_id.clone())}</span>
            <span class="group-state" data-testid="group-state">{move || service.group_state()}</span>
            <span class="lag" data-testid="service-lag" data-lag=move || lag().map(|l| l.to_string())>
                {move || lag().map_or_else(|| "lag –".to_owned(), |l| format!("lag {l}"))}
            </span>
            <button data-testid="service-toggle" class=move || if running() { "secondary" } else { "" }
                disabled=move || service.busy.get()
                on:click=move |_| service.send(ServiceUpdate { running: Some(!running()), ..Default::default() })>
                {move || if running() { "Stop" } else { "Start" }}
            </button>
        </div>
    }
}

/// What the service has done, and how long its orders take.
#[component]
fn Counters(service: Service) -> impl IntoView {
    let latency = move || {
        service
            .flow
            .with(|f| f.processing_latency(&service.name(), now_ms()))
            .map(|p| format!("p50 {} · p95 {} · p99 {} ms", p.p50, p.p95, p.p99))
            .unwrap_or_default()
    };
    view! {
        <div class="meta">
            <span>"processed " <b data-testid="service-processed">{service.field(|s| s.processed.to_string())}</b></span>
            <span>"failed attempts " <b>{service.field(|s| s.failed_attempts.to_string())}</b></span>
            <span>"gave up " <b>{service.field(|s| s.gave_up.to_string())}</b></span>
            <span title="processed again at an offset already processed (at-least-once)">
                "redelivered " <b data-testid="service-redelivered">{service.field(|s| s.redelivered.to_string())}</b>
            </span>
            <span class="latency">{latency}</span>
        </div>
    }
}

/// Members, processing time and failure rate.
#[component]
fn Controls(service: Service) -> impl IntoView {
    let members = move || service.members();
    let busy = service.busy;
    let set_processing =
        move |ev: leptos::ev::Event| match event_target_value(&ev).trim().parse::<u32>() {
            Ok(ms) => service.send(ServiceUpdate {
                processing_ms: Some(ms),
                ..Default::default()
            }),
            Err(_) => service.error.set(Some(
                "processing time: a whole number of milliseconds".into(),
            )),
        };
    let set_failure_rate =
        move |ev: leptos::ev::Event| match event_target_value(&ev).trim().parse::<f64>() {
            Ok(percent) => service.send(ServiceUpdate {
                failure_rate: Some(percent / 100.0),
                ..Default::default()
            }),
            Err(_) => service.error.set(Some("failure rate: a percentage".into())),
        };
    view! {
        <div class="service-controls">
            <span>"members"</span>
            <button class="secondary small" data-testid="members-remove" title="Remove a member"
                disabled={move || busy.get() || members() <= 1}
                on:click=move |_| service.send(ServiceUpdate { members: Some(members().saturating_sub(1)), ..Default::default() })>
                "−"
            </button>
            <b data-testid="members">{members}</b>
            <button class="secondary small" data-testid="members-add" title="Add a member"
                disabled={move || busy.get() || members() >= MAX_MEMBERS}
                on:click=move |_| service.send(ServiceUpdate { members: Some(members() + 1), ..Default::default() })>
                "+"
            </button>
            <label class="inline">"ms per order"
                <input data-testid="processing-ms" inputmode="numeric"
                    prop:value=service.field(|s| s.processing_ms.to_string())
                    on:change=set_processing/>
            </label>
            <label class="inline">"failure %"
                <input data-testid="failure-rate" inputmode="decimal"
                    prop:value=service.field(|s| format!("{}", (s.failure_rate * 1000.0).round() / 10.0))
                    on:change=set_failure_rate/>
            </label>
        </div>
    }
}

/// Each member and the partitions it owns.
#[component]
fn Assignments(service: Service) -> impl IntoView {
    view! {
        <ul class="assignments" data-testid="assignments">
            {move || service.view().map(|s| s.assignments.into_iter().map(|a| {
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
    }
}
