//! The groups card: every group reading the topic, as the broker reports
//! it (classic and consumer-protocol consumer groups, share groups); and
//! the KRaft quorum card.

use leptos::prelude::*;
use wire::api::{
    CatchUp, GroupHistory, GroupMember, GroupType, GroupView, QuorumReplica, QuorumView,
};

use crate::flow::FlowState;
use crate::units::duration;

/// The groups reading the topic, as the broker reports them: committed
/// offset (a share group: start offset), log-end offset and lag per
/// partition, and who owns it.
///
/// `home`: the page shows the gateway's own topic, whose groups' history
/// the gateway keeps.
#[component]
pub fn ConsumerGroups(flow: RwSignal<FlowState>, home: Signal<bool>) -> impl IntoView {
    let groups = move || {
        flow.with(|f| {
            f.snapshot()
                .filter(|s| s.error.is_none())
                .map(|s| s.groups.clone())
        })
    };
    let types_error = move || flow.with(|f| f.snapshot().and_then(|s| s.group_types_error.clone()));
    view! {
        <div class="card" data-testid="groups">
            <h2>"Groups"</h2>
            <Show when=move || home.get()><LagHistory/></Show>
            {move || types_error().map(|e| view! {
                <p class="hint" data-testid="group-types-error">
                    "Consumer-protocol and share groups could not be described: " {e}
                </p>
            })}
            {move || match groups() {
                None => view! { <p class="hint">"Unknown: the broker does not answer."</p> }.into_any(),
                Some(list) if list.is_empty() => view! {
                    <p class="hint">"No group reads this topic yet. Start one, e.g. the tutorial's "
                        <code>"order-group"</code> " consumer."</p>
                }.into_any(),
                Some(list) => list.into_iter().map(|group| view! { <GroupCard group/> }).collect_view().into_any(),
            }}
        </div>
    }
}

/// What each kind of group is, in a line.
fn kind_title(kind: GroupType) -> &'static str {
    match kind {
        GroupType::Classic => {
            "classic consumer group: members join, one assigns, all pause while partitions move"
        }
        GroupType::Consumer => {
            "consumer group of Kafka 4's protocol (KIP-848): the broker assigns, partitions move one epoch at a time"
        }
        GroupType::Share => {
            "share group (KIP-932): a queue; members take records from any partition they share, each acknowledged one by one"
        }
    }
}

/// "caught up", "catches up in 12 s", "not catching up".
fn catch_up_text(catch_up: Option<CatchUp>) -> Option<String> {
    Some(match catch_up? {
        CatchUp::CaughtUp => "caught up".to_owned(),
        CatchUp::CatchingUp { in_ms } => format!("catches up in {}", duration(in_ms)),
        CatchUp::NotCatchingUp => "not catching up".to_owned(),
    })
}

#[component]
fn GroupCard(group: GroupView) -> impl IntoView {
    // Unknown while a partition's is, as in Kafka's tools; where a demo
    // service never committed, counted from the log start.
    let total_lag = group.total_lag;
    let behind = group.time_lag_ms.map(|t| format!("{} behind", duration(t)));
    let catch_up = catch_up_text(group.catch_up);
    let share = group.group_type == GroupType::Share;
    let epochs = group.group_epoch.map(|g| {
        let settled = group.assignment_epoch == Some(g);
        format!("epoch {g}{}", if settled { "" } else { " (assigning)" })
    });
    view! {
        <div class="group" data-testid="group" data-group=group.group_id.clone()
            data-type=group.group_type.as_str()>
            <div class="meta">
                <b>{group.group_id.clone()}</b>
                <span class=format!("kind {}", group.group_type.as_str()) data-testid="group-type"
                    title=kind_title(group.group_type)>{group.group_type.as_str()}</span>
                <span data-testid="group-state">{group.state.clone()}</span>
                <span>{format!("{} member(s)", group.members.len())}</span>
                {group.assignor.clone().map(|a| view! { <span>{format!("assignor {a}")}</span> })}
                {epochs.map(|e| view! { <span data-testid="group-epoch">{e}</span> })}
                <span data-testid="total-lag">{total_lag.map_or_else(|| "lag –".to_owned(), |l| format!("lag {l}"))}</span>
                {behind.map(|b| view! { <span data-testid="time-lag">{b}</span> })}
                {catch_up.map(|c| view! { <span data-testid="catch-up">{c}</span> })}
            </div>
            {(!group.members.is_empty() && group.group_type != GroupType::Classic).then(|| view! {
                <Members members=group.members.clone()/>
            })}
            <table class="partitions">
                <thead><tr>
                    <th>"partition"</th>
                    <th>{if share { "start" } else { "committed" }}</th>
                    <th>"log-end"</th><th>"lag"</th><th>"behind"</th>
                    {(!share).then(|| view! { <th>"owner"</th> })}
                </tr></thead>
                <tbody>
                    {group.partitions.into_iter().map(|p| {
                        let position = if share { p.start_offset } else { p.committed };
                        view! {
                            <tr data-testid="group-partition" data-partition=p.partition>
                                <td>{p.partition}</td>
                                <td>{position.map_or_else(|| "–".to_owned(), |c| c.to_string())}</td>
                                <td>{p.log_end}</td>
                                <td data-testid="lag">{match (p.lag, p.uncommitted_lag) {
                                    (Some(l), _) => l.to_string().into_any(),
                                    (None, Some(u)) => view! {
                                        <span title="no commit yet: the records it will read from the partition's start (Kafka's tools show -)">
                                            {format!("{u}*")}
                                        </span>
                                    }.into_any(),
                                    (None, None) => "–".into_any(),
                                }}</td>
                                <td data-testid="partition-time-lag">{p.time_lag_ms.map_or_else(|| "–".to_owned(), duration)}</td>
                                {(!share).then(|| view! { <td>{p.owner.unwrap_or_else(|| "–".to_owned())}</td> })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The windows the history chart offers.
const WINDOWS: [&str; 3] = ["2m", "15m", "1h"];
/// How often the chart asks for the history again.
const HISTORY_EVERY_MS: u32 = 5_000;

/// Each group's lag over the chosen window, as the gateway kept it: one
/// point a second for two minutes, one per half minute before.
#[component]
fn LagHistory() -> impl IntoView {
    let window = RwSignal::new("2m");
    let history = RwSignal::new(Vec::<GroupHistory>::new());
    let alive = StoredValue::new(());
    // The window's history, set only if that window is still the chosen one.
    let fetch = move |wanted: &'static str| {
        leptos::task::spawn_local(async move {
            if let Ok(list) = crate::api::lag_history(wanted).await
                && alive.try_get_value().is_some()
                && window.get_untracked() == wanted
            {
                history.set(list);
            }
        });
    };
    // Asked when the window changes, and again every few seconds until the
    // card goes away.
    Effect::new(move |_| fetch(window.get()));
    leptos::task::spawn_local(async move {
        loop {
            crate::clock::sleep(HISTORY_EVERY_MS).await;
            if alive.try_get_value().is_none() {
                return;
            }
            fetch(window.get_untracked());
        }
    });
    const W: f64 = 300.0;
    const H: f64 = 60.0;
    let lines = move || {
        let list = history.get();
        let top = list
            .iter()
            .flat_map(|g| g.points.iter().filter_map(|p| p.lag))
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let (from, to) = list
            .iter()
            .flat_map(|g| g.points.iter().map(|p| p.at_ms))
            .fold((i64::MAX, i64::MIN), |(a, b), t| (a.min(t), b.max(t)));
        let span = (to - from).max(1) as f64;
        list.into_iter()
            .enumerate()
            .map(|(i, g)| {
                let points = g
                    .points
                    .iter()
                    .filter_map(|p| {
                        let lag = p.lag? as f64;
                        Some(format!(
                            "{:.1},{:.1}",
                            (p.at_ms - from) as f64 / span * W,
                            H - lag / top * (H - 4.0) - 2.0
                        ))
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                view! {
                    <polyline points=points stroke=crate::flow_view::PALETTE[i % crate::flow_view::PALETTE.len()]
                        fill="none" stroke-width="1.5" data-testid="lag-history-line" data-group=g.group_id.clone()/>
                }
            })
            .collect_view()
    };
    view! {
        <div class="chart" data-testid="lag-history">
            <div class="chart-title">"Lag history "
                {WINDOWS.map(|w| view! {
                    <button class=move || if window.get() == w { "window on" } else { "window secondary" }
                        data-testid="lag-window" data-window=w on:click=move |_| window.set(w)>{w}</button>
                })}
            </div>
            <svg viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none">{lines}</svg>
            <div class="legend">
                {move || history.get().into_iter().enumerate().map(|(i, g)| {
                    let last = g.points.last().and_then(|p| p.lag);
                    view! {
                        <span data-testid="lag-history-series" data-group=g.group_id.clone()>
                            <i style=format!("background: {}", crate::flow_view::PALETTE[i % crate::flow_view::PALETTE.len()])></i>
                            {format!("{} {}", g.group_id, last.map_or_else(|| "–".to_owned(), |l| l.to_string()))}
                        </span>
                    }
                }).collect_view()}
            </div>
        </div>
    }
}

/// Members of a consumer-protocol or share group: epoch, partitions, and
/// where a rebalance is moving them.
#[component]
fn Members(members: Vec<GroupMember>) -> impl IntoView {
    let list = |ps: &[i32]| {
        if ps.is_empty() {
            "–".to_owned()
        } else {
            ps.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
        }
    };
    view! {
        <table class="partitions members">
            <thead><tr><th>"member"</th><th>"epoch"</th><th>"partitions"</th></tr></thead>
            <tbody>
                {members.into_iter().map(|m| {
                    let owned = list(&m.partitions);
                    let moving = m.target_partitions.as_ref()
                        .filter(|t| **t != m.partitions)
                        .map(|t| format!(" → {}", list(t)));
                    view! {
                        <tr data-testid="group-member" data-client=m.client_id.clone()>
                            <td title=m.member_id.clone()>{m.client_id.clone()}</td>
                            <td data-testid="member-epoch">{m.member_epoch.map_or_else(|| "–".to_owned(), |e| e.to_string())}</td>
                            <td data-testid="member-partitions">{owned}{moving.map(|t| view! { <span class="moving">{t}</span> })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The KRaft metadata quorum: who writes the cluster's metadata, and how
/// far each controller and broker is behind.
#[component]
pub fn Quorum(flow: RwSignal<FlowState>) -> impl IntoView {
    let quorum = move || {
        flow.with(|f| {
            f.snapshot()
                .map(|s| (s.at_ms, s.quorum.clone(), s.quorum_error.clone()))
        })
    };
    view! {
        <div class="card" data-testid="quorum">
            <h2>"Metadata quorum (KRaft)"</h2>
            {move || match quorum() {
                None => view! { <p class="hint">"Not read yet."</p> }.into_any(),
                Some((_, None, error)) => view! {
                    <p class="hint">"Unknown: " {error.unwrap_or_else(|| "the broker does not answer".into())}</p>
                }.into_any(),
                Some((_, Some(q), _)) => view! { <QuorumTable at_ms=q.read_at_ms quorum=q/> }.into_any(),
            }}
        </div>
    }
}

#[component]
fn QuorumTable(quorum: QuorumView, at_ms: i64) -> impl IntoView {
    // "ago" as of when the gateway read it; the clock of the page may differ.
    let ago = move |t: Option<i64>| {
        t.map_or_else(
            || "–".to_owned(),
            |t| format!("{} ms ago", (at_ms - t).max(0)),
        )
    };
    let row = move |r: QuorumReplica| {
        view! {
            <tr data-testid="quorum-replica" data-node=r.node_id data-status=r.status.clone()>
                <td>{r.node_id}</td><td>{r.status.clone()}</td><td>{r.log_end_offset}</td>
                <td data-testid="quorum-lag">{r.lag}</td>
                <td>{ago(r.last_fetch_ms)}</td><td>{ago(r.last_caught_up_ms)}</td>
            </tr>
        }
    };
    view! {
        <div class="meta">
            <span data-testid="quorum-leader">"leader " <b>{quorum.leader_id}</b></span>
            <span data-testid="quorum-epoch">{format!("epoch {}", quorum.leader_epoch)}</span>
            <span>{format!("high watermark {}", quorum.high_watermark)}</span>
            <span>{format!("max follower lag {}", quorum.max_follower_lag)}</span>
        </div>
        <table class="partitions">
            <thead><tr>
                <th>"node"</th><th>"status"</th><th>"log-end"</th><th>"lag"</th>
                <th>"last fetch"</th><th>"caught up"</th>
            </tr></thead>
            <tbody>
                {quorum.voters.into_iter().chain(quorum.observers).map(row).collect_view()}
            </tbody>
        </table>
    }
}
