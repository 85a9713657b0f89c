//! The partitions card: per partition, what this page has seen and what
//! the broker reports.

use leptos::prelude::*;
use wire::api::PartitionHealth;

use crate::feed::Feed;
use crate::flow::FlowState;

/// Per partition: records seen by this page, last offset, and the log-end
/// offset the broker reports.
#[component]
pub fn PartitionTable(feed: RwSignal<Feed>, flow: RwSignal<FlowState>) -> impl IntoView {
    let rows = move || {
        let mut ids: Vec<i32> = feed.with(|f| f.partitions().keys().copied().collect());
        flow.with(|f| {
            if let Some(topic) = f.snapshot().and_then(|s| s.topic.as_ref()) {
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
                    <th>"partition"</th><th>"leader"</th><th>"earliest"</th><th title="records this page has received since it opened">"seen here"</th><th>"last offset"</th><th title="the offset the next record written to the partition will get">"log-end offset"</th>
                </tr></thead>
                <tbody>
                    <For each=rows key=|id| *id let(id)>
                        <tr data-testid="partition-row" data-partition=id>
                            <td>{id}</td>
                            <td data-testid="leader">{move || reported(flow, id).map_or_else(|| "–".into(), |p| p.leader.to_string())}</td>
                            <td data-testid="earliest-offset">{move || reported(flow, id).map_or_else(|| "–".into(), |p| p.low_watermark.to_string())}</td>
                            <td data-testid="seen">
                                {move || feed.with(|f| f.partitions().get(&id).map_or(0, |p| p.seen))}
                            </td>
                            <td data-testid="last-offset">
                                {move || feed.with(|f| f.partitions().get(&id).map(|p| p.last_offset.to_string()).unwrap_or_else(|| "–".into()))}
                            </td>
                            <td data-testid="log-end-offset">
                                {move || log_end_offset(feed, flow, id).map_or_else(|| "–".into(), |o| o.to_string())}
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
                {move || feed.with(|f| (f.missed() > 0).then(|| view! {
                    <span data-testid="missed" data-missed=f.missed()>
                        {format!(", {} missed while this page fell behind", f.missed())}
                    </span>
                }))}
            </p>
        </div>
    }
}

/// The partition as the broker last reported it (in the latest flow
/// snapshot, which is of the topic the page watches).
fn reported(flow: RwSignal<FlowState>, id: i32) -> Option<PartitionHealth> {
    flow.with(|f| {
        f.snapshot()
            .and_then(|s| s.topic.as_ref())
            .and_then(|t| t.partitions.iter().find(|p| p.id == id))
            .cloned()
    })
}

/// The partition's log-end offset: what the broker last reported, or more
/// when this page has since seen a later record (snapshots come once a
/// second, records stream).
fn log_end_offset(feed: RwSignal<Feed>, flow: RwSignal<FlowState>, id: i32) -> Option<i64> {
    let reported = reported(flow, id).map(|p| p.high_watermark);
    let seen = feed.with(|f| f.partitions().get(&id).map(|p| p.last_offset + 1));
    reported.max(seen)
}
