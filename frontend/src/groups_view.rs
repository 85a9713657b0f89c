//! The consumer groups card: every group reading the topic, as the broker
//! reports it.

use leptos::prelude::*;
use wire::api::GroupView;

use crate::flow::FlowState;

/// The consumer groups reading the topic, as the broker reports them:
/// committed offset, log-end offset and lag per partition, and who owns it.
#[component]
pub fn ConsumerGroups(flow: RwSignal<FlowState>) -> impl IntoView {
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
