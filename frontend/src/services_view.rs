//! The demo services card: stop, start, scale and tune each service, and
//! watch its lag and counters move.

use leptos::prelude::*;
use wire::services::{
    MAX_FAILURE_RATE, MAX_MEMBERS, MAX_PROCESSING_MS, ServiceUpdate, ServiceView,
};

use crate::api;
use crate::clock::now_ms;
use crate::flow::{FlowState, service_lag};
use crate::units::{duration, latency_legend, latency_level};

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
        <div class="card" data-testid="services"
             data-snapshot-at=move || flow.with(|f| f.snapshot().map(|s| s.at_ms))>
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

    /// Members still starting or stopping after a change (a stopping
    /// member commits and leaves its group, which can take seconds).
    fn changing(self) -> bool {
        self.view().is_some_and(|s| s.changing)
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

    /// Sends a command; the answer replaces the service in the flow.
    async fn apply(self, update: ServiceUpdate) -> Result<(), String> {
        self.busy.set(true);
        let answer = api::update_service(&self.name.get_value(), &update).await;
        self.busy.set(false);
        match answer {
            Ok(view) => {
                self.flow.update(|f| f.replace_service(view));
                Ok(())
            }
            Err(body) => Err(api::describe(&body)),
        }
    }

    /// Crashes the newest member; the answer replaces the service in the
    /// flow, an error shows under the card.
    fn crash(self) {
        self.busy.set(true);
        leptos::task::spawn_local(async move {
            match api::crash_member(&self.name.get_value()).await {
                Ok(view) => {
                    self.error.set(None);
                    self.flow.update(|f| f.replace_service(view));
                }
                Err(body) => self.error.set(Some(api::describe(&body))),
            }
            self.busy.set(false);
        });
    }

    /// Sends a command from a button; its error shows under the card.
    fn send(self, update: ServiceUpdate) {
        leptos::task::spawn_local(async move {
            let result = self.apply(update).await;
            self.error.set(result.err());
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
                {move || match (running(), service.changing()) {
                    (true, false) => "running",
                    (true, true) => "starting…",
                    (false, true) => "stopping…",
                    (false, false) => "stopped",
                }}
            </span>
            <span class="group-id">{service.field(|s| s.group_id.clone())}</span>
            <span class="kind" data-testid="service-protocol"
                title="the group protocol its members speak: classic, or Kafka 4's consumer protocol (KIP-848)">
                {service.field(|s| s.protocol.as_str().to_owned())}
            </span>
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
    let percentiles = move || {
        service
            .flow
            .with(|f| f.processing_latency(&service.name(), now_ms()))
    };
    let latency = move || {
        percentiles()
            .map(|p| {
                format!(
                    "p50 {} · p95 {} · p99 {}",
                    duration(p.p50),
                    duration(p.p95),
                    duration(p.p99)
                )
            })
            .unwrap_or_default()
    };
    let level = move || percentiles().map_or("", |p| latency_level(p.p50));
    view! {
        <div class="meta">
            <span title="orders processed since the gateway started, each once (so processed + lag is not the log end)">"processed " <b data-testid="service-processed">{service.field(|s| s.processed.to_string())}</b></span>
            <span>"failed attempts " <b>{service.field(|s| s.failed_attempts.to_string())}</b></span>
            <span>"gave up " <b>{service.field(|s| s.gave_up.to_string())}</b></span>
            <span title="delivered again at an offset already processed (at-least-once), and not processed twice">
                "redelivered " <b data-testid="service-redelivered">{service.field(|s| s.redelivered.to_string())}</b>
            </span>
            <span title="a second record of an order already processed (same order id: a retry wrote it), dropped">
                "duplicates dropped " <b data-testid="service-duplicates">{service.field(|s| s.duplicates_dropped.to_string())}</b>
            </span>
            <span class=move || format!("latency {}", level()) data-testid="service-latency"
                data-level=level title=format!("production to processed, last minute; {}", latency_legend())>
                {latency}
            </span>
        </div>
    }
}

/// Members, processing time and failure rate.
#[component]
fn Controls(service: Service) -> impl IntoView {
    let members = move || service.members();
    let busy = service.busy;
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
            <button class="secondary small" data-testid="member-crash"
                title="Crash the newest member: it leaves without committing, so another member is delivered again what it processed since its last commit (redelivered), and skips it by order id"
                disabled={move || busy.get() || !service.running()}
                on:click=move |_| service.crash()>
                "crash one"
            </button>
            <SettingInput service testid="processing-ms" label="ms per order" inputmode="numeric"
                applied=|s| s.processing_ms.to_string() parse=processing_ms/>
            <SettingInput service testid="failure-rate" label="failure %" inputmode="decimal"
                applied=|s| percent(s.failure_rate) parse=failure_rate/>
        </div>
    }
}

/// One of a service's settings, in a box that belongs to the person while
/// they edit it: snapshots arriving meanwhile do not touch it. Enter (or
/// leaving a changed box) applies it; the box then shows the applied value
/// and says it was saved, or keeps what was typed and says what is wrong.
#[component]
fn SettingInput(
    service: Service,
    testid: &'static str,
    label: &'static str,
    inputmode: &'static str,
    /// The setting as the service has it, as the box shows it.
    applied: fn(&ServiceView) -> String,
    /// What was typed, as an update, or what is wrong with it.
    parse: fn(&str) -> Result<ServiceUpdate, String>,
) -> impl IntoView {
    // Some while the person edits (or after a refused value), None otherwise.
    let draft = RwSignal::new(None::<String>);
    let outcome = RwSignal::new(None::<Result<(), String>>);
    let shown = move || draft.get().unwrap_or_else(service.field(applied));
    let commit = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        match parse(&text) {
            Err(message) => outcome.set(Some(Err(message))),
            Ok(update) => leptos::task::spawn_local(async move {
                let result = service.apply(update).await;
                if result.is_ok() {
                    draft.set(None);
                }
                outcome.set(Some(result));
            }),
        }
    };
    view! {
        <label class="inline setting">{label}
            <input data-testid=testid inputmode=inputmode
                class:invalid=move || matches!(outcome.get(), Some(Err(_)))
                prop:value=shown
                on:input=move |ev| {
                    draft.set(Some(event_target_value(&ev)));
                    outcome.set(None);
                }
                on:change=commit/>
            {move || match outcome.get() {
                Some(Ok(())) => view! { <span class="saved" data-testid=format!("{testid}-saved")>"saved"</span> }.into_any(),
                Some(Err(message)) => view! { <span class="field-error" data-testid=format!("{testid}-error")>{message}</span> }.into_any(),
                None => ().into_any(),
            }}
        </label>
    }
}

/// A failure rate as the box shows it: a percentage with one decimal.
fn percent(rate: f64) -> String {
    format!("{}", (rate * 1000.0).round() / 10.0)
}

/// The "ms per order" box.
fn processing_ms(text: &str) -> Result<ServiceUpdate, String> {
    match text.trim().parse::<u32>() {
        Ok(ms) if ms <= MAX_PROCESSING_MS => Ok(ServiceUpdate {
            processing_ms: Some(ms),
            ..Default::default()
        }),
        _ => Err(format!(
            "ms per order: a whole number from 0 to {MAX_PROCESSING_MS}"
        )),
    }
}

/// The "failure %" box: a percentage, sent as a fraction.
fn failure_rate(text: &str) -> Result<ServiceUpdate, String> {
    let max = MAX_FAILURE_RATE * 100.0;
    match text.trim().parse::<f64>() {
        Ok(percent) if (0.0..=max).contains(&percent) => Ok(ServiceUpdate {
            failure_rate: Some(percent / 100.0),
            ..Default::default()
        }),
        _ => Err(format!("failure %: a number from 0 to {max}")),
    }
}

/// Each member and the partitions it owns.
#[component]
fn Assignments(service: Service) -> impl IntoView {
    // How many partitions the topic has, for members left without one.
    let partitions = move || {
        service.flow.with(|f| {
            f.snapshot()
                .and_then(|s| s.topic.as_ref())
                .map(|t| t.partitions.len())
        })
    };
    view! {
        <ul class="assignments" data-testid="assignments">
            {move || service.view().map(|s| {
                let members = s.assignments.len();
                let stable = service.group_state().as_deref() == Some("Stable");
                let taken: std::collections::BTreeSet<i32> =
                    s.assignments.iter().flat_map(|a| a.partitions.iter().copied()).collect();
                let group = Group { stable, members, taken: taken.len(), partitions: partitions() };
                s.assignments.into_iter().map(|a| {
                    let list = a.partitions.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
                    let (state, text) = owned(&a.partitions, group);
                    view! {
                        <li data-testid="assignment" data-client-id=a.client_id.clone()
                            data-partitions=list data-state=state>
                            <code>{a.client_id.clone()}</code> " " {text}
                        </li>
                    }
                }).collect_view()
            })}
        </ul>
    }
}

/// A service's group as its members' lines need it.
#[derive(Debug, Clone, Copy)]
struct Group {
    /// The broker says the group is Stable (not rebalancing).
    stable: bool,
    members: usize,
    /// Partitions some member says it owns.
    taken: usize,
    /// The topic's partitions, once known.
    partitions: Option<usize>,
}

/// What a member's line says: its partitions; or, without any, that it is
/// idle because the group has more members than the topic has partitions
/// and the others own them all (a partition is read by one member of a
/// group at a time), or that it is waiting while the group rebalances.
fn owned(partitions: &[i32], group: Group) -> (&'static str, String) {
    if !partitions.is_empty() {
        let list = partitions
            .iter()
            .map(|p| format!("P{p}"))
            .collect::<Vec<_>>();
        return ("owning", list.join(" "));
    }
    let Group {
        stable,
        members,
        taken,
        ..
    } = group;
    match group.partitions {
        Some(n) if stable && members > n && taken == n => (
            "idle",
            format!(
                "idle: {members} members, {n} partitions; a partition is read by one member \
                 of a group at a time, so this one has none"
            ),
        ),
        _ => ("waiting", "waiting for partitions…".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(stable: bool, members: usize, taken: usize, partitions: Option<usize>) -> Group {
        Group {
            stable,
            members,
            taken,
            partitions,
        }
    }

    #[test]
    fn a_member_without_partitions_is_idle_only_when_the_others_own_them_all() {
        let four_on_three = group(true, 4, 3, Some(3));
        assert_eq!(
            owned(&[0, 2], four_on_three),
            ("owning", "P0 P2".to_owned())
        );
        assert_eq!(owned(&[], four_on_three).0, "idle");
        assert!(
            owned(&[], four_on_three)
                .1
                .contains("4 members, 3 partitions")
        );
        // Still rebalancing (by the broker's word or the members'), or as
        // many members as partitions: waiting.
        assert_eq!(owned(&[], group(false, 4, 3, Some(3))).0, "waiting");
        assert_eq!(owned(&[], group(true, 4, 2, Some(3))).0, "waiting");
        assert_eq!(owned(&[], group(true, 3, 2, Some(3))).0, "waiting");
        assert_eq!(owned(&[], group(true, 4, 3, None)).0, "waiting");
    }

    #[test]
    fn setting_boxes_speak_their_own_units() {
        assert_eq!(
            failure_rate("91").expect_err("too high"),
            "failure %: a number from 0 to 90"
        );
        assert_eq!(failure_rate("5").expect("ok").failure_rate, Some(0.05));
        assert!(processing_ms("120").is_ok());
        assert!(processing_ms("-1").is_err());
        assert!(processing_ms("10001").is_err());
        assert_eq!(percent(0.05), "5");
    }
}
