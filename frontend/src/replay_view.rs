//! The replay view: read the topic again from the beginning, an offset or a
//! time, without touching any consumer group.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use wire::api::ReplayPage;
use wire::{LiveRecord, Payload};

use crate::api;
use crate::clock::clock_time;
use crate::feed_view::RecordBody;
use crate::replay::{From, ReplayDraft, summary};

/// Characters of a record's value shown per replayed row.
const PREVIEW_CHARS: usize = 120;

#[component]
pub fn Replay() -> impl IntoView {
    let draft = RwSignal::new(ReplayDraft::default());
    let page = RwSignal::new(None::<ReplayPage>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // The offset the last replay asked for, to tell one past the end.
    let asked_offset = StoredValue::new(None::<i64>);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let query = match draft.with_untracked(ReplayDraft::to_query) {
            Ok(query) => query,
            Err(err) => {
                // The last results answered another question.
                page.set(None);
                error.set(Some(format!("{}: {}", err.field, err.message)));
                return;
            }
        };
        asked_offset.set_value(draft.with_untracked(|d| {
            (d.from == From::Offset)
                .then(|| d.offset.trim().parse().ok())
                .flatten()
        }));
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::replay(&query).await {
                Ok(result) => {
                    error.set(None);
                    page.set(Some(result));
                }
                Err(body) => {
                    // An error clears the last results: they answered
                    // another question.
                    page.set(None);
                    error.set(Some(api::describe(&body)));
                }
            }
            busy.set(false);
        });
    };
    view! {
        <div class="card" data-testid="replay">
            <h2>"Replay"</h2>
            <p class="hint">"Reads the topic again with a consumer that joins no group and commits nothing: no service notices."</p>
            <ReplayForm draft busy submit/>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" data-testid="replay-error">{move || error.get()}</p>
            </Show>
            {move || page.get().map(|page| view! { <ReplayResult page asked_offset=asked_offset.get_value()/> })}
        </div>
    }
}

#[component]
fn ReplayResult(page: ReplayPage, asked_offset: Option<i64>) -> impl IntoView {
    let summary = summary(&page, asked_offset);
    view! {
        <p class="hint" data-testid="replay-summary" data-count=page.records.len()>{summary}</p>
        <ol class="replayed" data-testid="replay-records">
            {page.records.into_iter().map(|r| view! { <ReplayedRow record=r/> }).collect_view()}
        </ol>
    }
}

/// One replayed record: a line with where it is, when, its key and a
/// preview; opened, its whole value (as the gateway shows it) and headers.
#[component]
pub(crate) fn ReplayedRow(record: LiveRecord) -> impl IntoView {
    let preview = match &record.payload {
        Payload::Json { value } => value.to_string(),
        Payload::Text { text, .. } => text.clone(),
        Payload::Binary { hex, .. } => format!("0x{hex}"),
        Payload::Null => "(no value)".into(),
    };
    let preview: String = preview.chars().take(PREVIEW_CHARS).collect();
    let (partition, offset) = (record.partition, record.offset);
    let time = record.timestamp_ms.map(clock_time);
    let key = record.key.clone().unwrap_or_else(|| "–".into());
    view! {
        <li data-testid="replay-row" data-partition=partition data-offset=offset>
            <details>
                <summary>
                    <span class="partition">"P" {partition}</span>
                    " " <b>{offset}</b>
                    " " <span class="time">{time}</span>
                    " " <code>{key}</code>
                    " " <span class="preview">{preview}</span>
                </summary>
                <RecordBody record topic=None/>
            </details>
        </li>
    }
}

/// Where to read from, which partition, how many records.
#[component]
fn ReplayForm(
    draft: RwSignal<ReplayDraft>,
    busy: RwSignal<bool>,
    submit: impl Fn(SubmitEvent) + 'static,
) -> impl IntoView {
    view! {
        <form class="replay-form" on:submit=submit>
            <RangeFields draft prefix="replay"/>
            <button type="submit" data-testid="replay-run" disabled=move || busy.get()>"Replay"</button>
        </form>
    }
}

/// Where to read from, which partition, how many: the fields a replay and
/// a search share (`prefix` names their test ids).
#[component]
pub(crate) fn RangeFields(draft: RwSignal<ReplayDraft>, prefix: &'static str) -> impl IntoView {
    let set_time = move |ev: leptos::ev::Event| {
        // A datetime-local value is in the browser's time zone; Date parses it so.
        let ms = js_sys::Date::parse(&event_target_value(&ev));
        draft.update(|d| d.timestamp_ms = ms.is_finite().then_some(ms as i64));
    };
    let from = move || draft.with(|d| d.from);
    let id = move |name: &str| format!("{prefix}-{name}");
    view! {
        <label class="wide">"From"
            <select data-testid=id("from")
                on:change=move |ev| draft.update(|d| d.from = From::parse(&event_target_value(&ev)))>
                <option value="beginning">"the beginning"</option>
                <option value="offset">"an offset"</option>
                <option value="timestamp">"a time"</option>
            </select>
        </label>
        <label>"Partition"
            <input data-testid=id("partition") placeholder="all" inputmode="numeric"
                prop:value=move || draft.with(|d| d.partition.clone())
                on:input=move |ev| draft.update(|d| d.partition = event_target_value(&ev))/>
        </label>
        <Show when=move || from() == From::Offset>
            <label>"Offset"
                <input data-testid=id("offset") inputmode="numeric"
                    prop:value=move || draft.with(|d| d.offset.clone())
                    on:input=move |ev| draft.update(|d| d.offset = event_target_value(&ev))/>
            </label>
        </Show>
        <Show when=move || from() == From::Timestamp>
            <label class="time">"Time"
                <input data-testid=id("time") type="datetime-local" step="1" on:change=set_time/>
            </label>
        </Show>
        <label>"Limit"
            <input data-testid=id("limit") inputmode="numeric"
                prop:value=move || draft.with(|d| d.limit.clone())
                on:input=move |ev| draft.update(|d| d.limit = event_target_value(&ev))/>
        </label>
    }
}
