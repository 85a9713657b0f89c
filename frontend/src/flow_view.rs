//! The flow view (producer → partitions → consumer groups), the rate and
//! lag charts, and the latency percentiles.

use leptos::prelude::*;

use crate::clock::now_ms;
use crate::feed::Feed;
use crate::flow::{FlowState, group_label};
use crate::stats::Percentiles;
use crate::units::{duration, latency_legend, latency_level};

/// Colours of chart series, by position.
pub(crate) const PALETTE: [&str; 6] = [
    "#4fa3ff", "#3fb950", "#d29922", "#bc8cff", "#f85149", "#39c5cf",
];

/// Group ids in the latest snapshot, in its order.
fn group_ids(flow: &FlowState) -> Vec<String> {
    flow.snapshot()
        .map(|s| s.groups.iter().map(|g| g.group_id.clone()).collect())
        .unwrap_or_default()
}

/// Partitions the flow view draws at most; the rest are counted.
const MAX_PARTITIONS_SHOWN: usize = 64;

fn partition_count(flow: &FlowState) -> usize {
    flow.snapshot()
        .and_then(|s| s.topic.as_ref())
        .map_or(0, |t| t.partitions.len())
}

fn partition_ids(flow: &FlowState) -> Vec<i32> {
    flow.snapshot()
        .and_then(|s| s.topic.as_ref())
        .map(|t| {
            t.partitions
                .iter()
                .take(MAX_PARTITIONS_SHOWN)
                .map(|p| p.id)
                .collect()
        })
        .unwrap_or_default()
}

/// The group's label in the latest snapshot (see [`group_label`]).
fn label(flow: RwSignal<FlowState>, group_id: &str) -> String {
    flow.with_untracked(|f| f.snapshot().map(|s| group_label(s, group_id)))
        .unwrap_or_else(|| group_id.to_owned())
}

/// Alternates between two identical CSS animations, so that each new value
/// restarts the pulse on an element that stays in place.
fn pulse(value: Option<i64>) -> &'static str {
    match value {
        None => "",
        Some(v) if v % 2 == 0 => "--pulse: pulse-a",
        Some(_) => "--pulse: pulse-b",
    }
}

/// The name of an edge's `@keyframes` rule: a hash of its key, so that
/// what goes into the stylesheet is an identifier whatever the key holds.
fn motion_name(key: &str) -> String {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    format!("motion-{:016x}", hasher.finish())
}

/// `part` of the edge with `key`, read in place: an edge, its path and its
/// motion's keyframes, is not copied for each of its parts.
fn edge_part<T>(
    edges: Memo<std::collections::HashMap<String, crate::diagram::Edge>>,
    key: StoredValue<String>,
    part: impl FnOnce(&crate::diagram::Edge) -> T,
) -> Option<T> {
    key.with_value(|k| edges.with(|all| all.get(k).map(part)))
}

/// The flow as a picture (see `crate::diagram`): drawn from the flow
/// snapshots, once a second; records move along the edges as CSS
/// animations of `transform`, which the browser runs off the page's main
/// thread, so the page's work does not grow with the record rate. Edges
/// keep their elements across snapshots, so a rebalance slides an edge to
/// its new member.
#[component]
fn FlowPicture(flow: RwSignal<FlowState>) -> impl IntoView {
    use crate::diagram::{TRAVEL_S, WIDTH};
    let diagram = Memo::new(move |_| flow.with(FlowState::diagram));
    // Each edge by its key: looked up by every edge's element.
    let edges = Memo::new(move |_| {
        diagram.with(|d| {
            d.as_ref()
                .map(|d| {
                    d.edges
                        .iter()
                        .map(|e| (e.key.clone(), e.clone()))
                        .collect::<std::collections::HashMap<_, _>>()
                })
                .unwrap_or_default()
        })
    });
    let edge_keys = move || {
        diagram.with(|d| {
            d.as_ref()
                .map(|d| d.edges.iter().map(|e| e.key.clone()).collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    let height = move || diagram.with(|d| d.as_ref().map_or(40.0, |d| d.height));
    view! {
        <svg class="flow-picture" data-testid="flow-picture"
            viewBox=move || format!("0 0 {WIDTH} {:.0}", height()) width="100%">
            <For each=edge_keys key=|k| k.clone() let(key)>
                {
                    let key = StoredValue::new(key);
                    let path = Memo::new(move |_| edge_part(edges, key, |e| e.path.clone()).unwrap_or_default());
                    let name = key.with_value(|k| motion_name(k));
                    let keyframes = {
                        let name = name.clone();
                        Memo::new(move |_| {
                            let motion = edge_part(edges, key, |e| e.motion.clone()).unwrap_or_default();
                            format!("@keyframes {name} {{{motion}}}")
                        })
                    };
                    // Each part by itself: the rate changes every second
                    // under load, and the dots are rebuilt only when their
                    // number does.
                    let kind = Memo::new(move |_| edge_part(edges, key, |e| e.kind));
                    let dots = Memo::new(move |_| edge_part(edges, key, |e| e.dots).unwrap_or(0));
                    let lag = Memo::new(move |_| edge_part(edges, key, |e| e.lag.filter(|l| *l > 0).map(|l| (l, e.label_at))).flatten());
                    let rate = Memo::new(move |_| edge_part(edges, key, |e| (e.rate * 10.0).round() as i64));
                    view! {
                        <g data-testid="flow-edge" data-edge=key.get_value()
                            data-group=edge_part(edges, key, |e| e.group.clone()).flatten()
                            data-node=edge_part(edges, key, |e| e.node.clone())
                            data-rate=move || rate.get().map(|r| (r as f64 / 10.0).to_string())>
                            <path class=move || kind.get().map_or("edge", |k| k.class())
                                style=move || format!("d: path('{}')", path.get()) d=move || path.get()/>
                            // A stylesheet only where records move: each one
                            // added or removed has the whole page's style checked.
                            {move || (dots.get() > 0).then(|| view! { <style>{move || keyframes.get()}</style> })}
                            {move || { let dots = dots.get(); (0..dots).map(|k| view! {
                                <circle r="2.5" class="dot" style=format!(
                                    "animation: {name} {TRAVEL_S}s linear -{:.2}s infinite",
                                    k as f64 * TRAVEL_S / dots as f64)/>
                            }).collect_view() }}
                            {move || lag.get().map(|(l, (x, y))| view! {
                                <text class="lag" x=x y=y data-testid="edge-lag">{l}</text>
                            })}
                        </g>
                    }
                }
            </For>
            {move || diagram.get().map(|d| view! {
                <g class="node producer">
                    <rect x="4" y=d.producer_y - 14.0 width="76" height="28" rx="4"/>
                    <text x="42" y=d.producer_y - 2.0>"producers"</text>
                    <text x="42" y=d.producer_y + 10.0 class="rate" data-testid="picture-produce-rate">
                        {format!("{:.0}/s", d.produce_rate)}
                    </text>
                </g>
                {d.partitions.into_iter().map(|p| view! {
                    <g class="node partition" data-testid="picture-partition" data-key=p.key.clone()>
                        <rect x=p.x - p.width / 2.0 y=p.y - 9.0 width=p.width height="18" rx="3"/>
                        <text x=p.x y=p.y + 4.0>{format!("{} · {}", p.label, p.log_end)}</text>
                    </g>
                }).collect_view()}
                {d.groups.into_iter().map(|g| view! {
                    <g class=format!("node group {}", g.kind.as_str()) data-testid="picture-group" data-group=g.id.clone()>
                        <rect x=g.x y=g.y width="176" height=g.height rx="4"/>
                        <text x=g.x + 6.0 y=g.y + 13.0 class="title">
                            <title>{g.id.clone()}</title>
                            {crate::diagram::title(&g)}
                        </text>
                        {g.members.into_iter().map(|m| view! {
                            <text x=g.x + 10.0 y=m.y + 4.0 class="member" data-testid="picture-member">{m.label}</text>
                        }).collect_view()}
                    </g>
                }).collect_view()}
                {(d.groups_not_drawn > 0).then(|| view! {
                    <text x="420" y=d.height - 4.0 class="member" data-testid="groups-not-drawn">
                        {format!("+{} more groups (in the cards)", d.groups_not_drawn)}
                    </text>
                })}
            })}
        </svg>
    }
}

/// Producer → each partition's log end → each group's committed offset and
/// lag per partition. A record pulses its partition when the gateway reads
/// it, then each demo service's cell when that service has processed it.
#[component]
pub fn FlowView(feed: RwSignal<Feed>, flow: RwSignal<FlowState>) -> impl IntoView {
    let groups = move || flow.with(group_ids);
    let columns = move || {
        format!(
            "grid-template-columns: 5.5em minmax(7em, 1fr) repeat({}, minmax(8em, 1fr))",
            groups().len()
        )
    };
    let rate = move || flow.with(|f| f.produce_rate().last().copied().unwrap_or(0.0));
    view! {
        <div class="card" data-testid="flow">
            <h2>"Flow"</h2>
            <p class="hint producer">
                "producer → " <b>{move || format!("{:.0}", rate())}</b> " records/s into "
                {move || flow.with(partition_count)} " partitions"
                {move || {
                    let hidden = flow.with(partition_count).saturating_sub(MAX_PARTITIONS_SHOWN);
                    (hidden > 0).then(|| format!(" ({hidden} not drawn)"))
                }}
            </p>
            <Show when=move || flow.with(|f| f.snapshot().is_some_and(|s| s.error.is_some()))>
                <p class="error">{move || flow.with(|f| f.snapshot().and_then(|s| s.error.clone()))}</p>
            </Show>
            <FlowPicture flow/>
            <div class="flow-grid" style=columns>
                <div class="flow-head">"partition"</div>
                <div class="flow-head">"log-end"</div>
                <For each=groups key=|g| g.clone() let(group)>
                    <div class="flow-head" title=group.clone()>{label(flow, &group)}</div>
                </For>
                <For each=move || flow.with(partition_ids) key=|p| *p let(partition)>
                    <div class="flow-cell">"P" {partition}</div>
                    <div class="flow-cell" data-testid="flow-partition" data-partition=partition>
                        <span class="pulse"
                            style=move || pulse(feed.with(|f| f.partitions().get(&partition).map(|p| p.last_offset)))></span>
                        {move || flow.with(|f| f.snapshot()
                            .and_then(|s| s.topic.as_ref())
                            .and_then(|t| t.partitions.iter().find(|p| p.id == partition))
                            .map(|p| p.high_watermark))}
                    </div>
                    <For each=groups key=|g| g.clone() let(group)>
                        <GroupCell flow group partition/>
                    </For>
                </For>
            </div>
        </div>
    }
}

#[component]
fn GroupCell(flow: RwSignal<FlowState>, group: String, partition: i32) -> impl IntoView {
    let group = StoredValue::new(group);
    let cell = move || {
        flow.with(|f| {
            let snapshot = f.snapshot()?;
            let g = snapshot
                .groups
                .iter()
                .find(|g| g.group_id == group.get_value())?;
            let mut p = g
                .partitions
                .iter()
                .find(|p| p.partition == partition)?
                .clone();
            let service = snapshot
                .services
                .iter()
                .find(|s| s.group_id == group.get_value())
                .map(|s| s.name.clone());
            // A demo service with no commit yet starts from the log start.
            if service.is_some() && p.committed.is_none() {
                let start = snapshot
                    .topic
                    .as_ref()?
                    .partitions
                    .iter()
                    .find(|t| t.id == partition)?
                    .low_watermark;
                p.lag = Some((p.log_end - start).max(0));
            }
            let last = service.and_then(|s| f.last_processed(&s, partition));
            Some((p, last))
        })
    };
    let lag = move || cell().and_then(|(p, _)| p.lag);
    let width = move || {
        cell().map_or(0.0, |(p, _)| match (p.lag, p.log_end) {
            (Some(lag), end) if end > 0 => (lag as f64 / end as f64 * 100.0).min(100.0),
            _ => 0.0,
        })
    };
    view! {
        <div class="flow-cell" data-testid="flow-group" data-group=group.get_value() data-partition=partition
             data-lag=move || lag().map(|l| l.to_string())>
            <span class="pulse processed" style=move || pulse(cell().and_then(|(_, last)| last))></span>
            {move || cell().map(|(p, _)| format!(
                "{} · lag {}",
                p.committed.map_or_else(|| "–".to_owned(), |c| c.to_string()),
                p.lag.map_or_else(|| "–".to_owned(), |l| l.to_string()),
            ))}
            <span class="owner" title="the member that owns this partition">
                {move || cell().and_then(|(p, _)| p.owner).map(|o| short_owner(&o))}
            </span>
            <div class="lag-bar"><div style=move || format!("transform: scaleX({:.3})", width() / 100.0)></div></div>
        </div>
    }
}

/// A member's client id, shortened for a cell: the demo services' members
/// are `<group>-<n>`, shown as `#n`; other clients as they are.
fn short_owner(client_id: &str) -> String {
    match client_id.rsplit_once('-') {
        Some((_, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => format!("#{n}"),
        _ => client_id.to_owned(),
    }
}

/// A line chart of one or more series, scaled to their common maximum.
#[component]
fn Chart(
    title: &'static str,
    testid: &'static str,
    series: Signal<Vec<(String, Vec<f64>)>>,
) -> impl IntoView {
    const W: f64 = 300.0;
    const H: f64 = 70.0;
    /// The time the chart's width spans: its samples, one a second.
    const SPAN_MS: i64 = (crate::flow::MAX_SAMPLES as i64) * 1_000;
    let max = move || {
        series.with(|s| {
            s.iter()
                .flat_map(|(_, v)| v.iter().copied())
                .fold(1.0_f64, f64::max)
        })
    };
    let lines = move || {
        let top = max();
        series.with(|s| {
            s.iter()
                .enumerate()
                .map(|(i, (_, values))| {
                    let step = W / (crate::flow::MAX_SAMPLES as f64 - 1.0);
                    let start = W - step * (values.len().saturating_sub(1)) as f64;
                    let points = values
                        .iter()
                        .enumerate()
                        .map(|(j, v)| format!("{:.1},{:.1}", start + step * j as f64, H - v / top * (H - 4.0) - 2.0))
                        .collect::<Vec<_>>()
                        .join(" ");
                    view! { <polyline points=points stroke=PALETTE[i % PALETTE.len()] fill="none" stroke-width="1.5"/> }
                })
                .collect_view()
        })
    };
    let legend = move || {
        series.with(|s| {
            s.iter()
                .enumerate()
                .map(|(i, (name, values))| {
                    let last = values.last().copied().unwrap_or(0.0);
                    view! {
                        <span data-testid="series" data-series=name.clone() data-last=format!("{last:.0}")>
                            <i style=format!("background: {}", PALETTE[i % PALETTE.len()])></i>
                            {format!("{name} {last:.0}")}
                        </span>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <div class="chart" data-testid=testid>
            <div class="chart-title">{title} <span class="hint">{move || format!(" (max {:.0})", max())}</span></div>
            <svg viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none">
                // A minute apart: the samples are a second apart.
                <line class="grid" x1=W / 2.0 y1="0" x2=W / 2.0 y2=H/>
                {lines}
            </svg>
            <div class="axis" data-testid="time-axis">
                <span>{format!("−{}", duration(SPAN_MS))}</span>
                <span>{format!("−{}", duration(SPAN_MS / 2))}</span>
                <span>"now"</span>
            </div>
            <div class="legend">{legend}</div>
        </div>
    }
}

/// Produce rate, consume rate per group and lag per group over the last
/// two minutes.
#[component]
pub fn Charts(flow: RwSignal<FlowState>) -> impl IntoView {
    let produced =
        Signal::derive(move || vec![("produced".to_owned(), flow.with(FlowState::produce_rate))]);
    let consumed = Signal::derive(move || {
        flow.with(|f| {
            group_ids(f)
                .into_iter()
                .map(|g| {
                    let r = f.consume_rate(&g);
                    (g, r)
                })
                .collect()
        })
    });
    let lag = Signal::derive(move || {
        flow.with(|f| {
            group_ids(f)
                .into_iter()
                .map(|g| {
                    let l = f.lag(&g);
                    (g, l)
                })
                .collect()
        })
    });
    view! {
        <div class="card">
            <h2>"Throughput and lag"</h2>
            <p class="hint">"One point a second, the last two minutes; rates in records per second, lag in records."</p>
            <div class="charts">
                <Chart title="produced, records/s" testid="chart-produce" series=produced/>
                <Chart title="committed per group, records/s" testid="chart-consume" series=consumed/>
                <Chart title="lag per group, records" testid="chart-lag" series=lag/>
            </div>
        </div>
    }
}

/// End-to-end latency percentiles over the last minute.
#[component]
pub fn Latency(feed: RwSignal<Feed>, flow: RwSignal<FlowState>) -> impl IntoView {
    let rows = move || {
        let now = now_ms();
        let mut rows: Vec<(String, Option<Percentiles>)> = vec![
            (
                "produce → gateway consumer".into(),
                feed.with(|f| f.consumed_latency(now)),
            ),
            (
                "produce → this page".into(),
                feed.with(|f| f.shown_latency(now)),
            ),
        ];
        flow.with(|f| {
            if let Some(snapshot) = f.snapshot() {
                for s in &snapshot.services {
                    rows.push((
                        format!("produce → {} done", s.name),
                        f.processing_latency(&s.name, now),
                    ));
                }
            }
        });
        rows
    };
    let ms = |v: Option<i64>| v.map_or_else(|| "–".to_owned(), |v| v.to_string());
    view! {
        <div class="card">
            <h2>"End-to-end latency, last minute (ms)"</h2>
            <p class="hint">{format!("Medians (p50) {}.", latency_legend())}</p>
            <table class="partitions" data-testid="latency-table">
                <thead><tr><th>"path"</th><th>"p50"</th><th>"p95"</th><th>"p99"</th><th>"samples"</th></tr></thead>
                <tbody>
                    {move || rows().into_iter().map(|(path, p)| view! {
                        <tr data-testid="latency-row" data-path=path.clone()>
                            <td class="path">{path.clone()}</td>
                            <td data-testid="p50" class=p.map_or("", |p| latency_level(p.p50))>{ms(p.map(|p| p.p50))}</td>
                            <td data-testid="p95">{ms(p.map(|p| p.p95))}</td>
                            <td data-testid="p99">{ms(p.map(|p| p.p99))}</td>
                            <td>{p.map_or(0, |p| p.count)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
