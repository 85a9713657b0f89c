//! The search card: scan the topic's history for what a filter selects,
//! watch the scan's progress and the matches as they come, stop it, and
//! export what it found.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api;
use crate::replay_view::{RangeFields, ReplayedRow};
use crate::search::{SearchDraft, SearchRun};

/// Matches listed on the page at most; every match is kept for export.
const LISTED: usize = 100;

#[component]
pub fn Search(
    /// The topic the page watches (`None`: the gateway's own).
    wanted: Option<String>,
) -> impl IntoView {
    let draft = RwSignal::new(SearchDraft::default());
    let range = RwSignal::new(draft.get_untracked().range);
    let run = RwSignal::new(None::<SearchRun>);
    let error = RwSignal::new(None::<String>);
    // Aborting it stops the search, in the gateway too.
    let stop = StoredValue::new_local(None::<web_sys::AbortController>);
    let running = move || run.with(|r| r.as_ref().is_some_and(|r| !r.finished()));

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let mut asked = draft.get_untracked();
        asked.range = range.get_untracked();
        let query = match asked.to_query(wanted.as_deref()) {
            Ok(query) => query,
            Err(err) => {
                run.set(None);
                error.set(Some(format!("{}: {}", err.field, err.message)));
                return;
            }
        };
        let Ok(controller) = web_sys::AbortController::new() else {
            return;
        };
        let signal = controller.signal();
        stop.set_value(Some(controller));
        error.set(None);
        run.set(Some(SearchRun::default()));
        leptos::task::spawn_local(async move {
            let ended = api::search(&query, &signal, |event| {
                run.update(|r| {
                    if let Some(r) = r {
                        r.apply(event);
                    }
                });
            })
            .await;
            if let Err(body) = ended {
                let stopped = run.with_untracked(|r| r.as_ref().is_some_and(|r| r.stopped));
                if !stopped {
                    run.set(None);
                    error.set(Some(api::describe(&body)));
                }
            }
        });
    };
    let press_stop = move |_| {
        if let Some(controller) = stop.get_value() {
            controller.abort();
        }
        run.update(|r| {
            if let Some(r) = r {
                r.stopped = true;
            }
        });
    };
    view! {
        <div class="card" data-testid="search">
            <h2>"Search"</h2>
            <p class="hint">"Scans the topic's history for the records a filter selects (jq's language, as in the live feed's filter), joining no group."</p>
            <form class="replay-form" on:submit=submit>
                <label class="full">"Filter"
                    <input class="filter" data-testid="search-filter" spellcheck="false"
                        maxlength=wire::stream::MAX_FILTER_BYTES
                        placeholder="select(.value.total_cents > 10000)"
                        prop:value=move || draft.with(|d| d.filter.clone())
                        on:input=move |ev| draft.update(|d| d.filter = event_target_value(&ev))/>
                </label>
                <RangeFields draft=range prefix="search"/>
                <label class="order">"Order"
                    <select data-testid="search-direction"
                        on:change=move |ev| draft.update(|d| d.newest_first = event_target_value(&ev) == "newest")>
                        <option value="oldest">"oldest first"</option>
                        <option value="newest">"newest first"</option>
                    </select>
                </label>
                {move || if running() {
                    view! { <button type="button" class="secondary" data-testid="search-stop" on:click=press_stop>"Stop"</button> }.into_any()
                } else {
                    view! { <button type="submit" data-testid="search-run">"Search"</button> }.into_any()
                }}
            </form>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" data-testid="search-error">{move || error.get()}</p>
            </Show>
            {move || run.with(Option::is_some).then(|| view! { <SearchResult run/> })}
        </div>
    }
}

/// A running or finished search: its progress bar, counts, matches and
/// exports.
#[component]
fn SearchResult(run: RwSignal<Option<SearchRun>>) -> impl IntoView {
    let read =
        move |f: fn(&SearchRun) -> String| run.with(|r| r.as_ref().map(f).unwrap_or_default());
    let percent = move || run.with(|r| r.as_ref().map_or(0.0, SearchRun::percent));
    let finished = move || run.with(|r| r.as_ref().is_some_and(SearchRun::finished));
    let count = move || run.with(|r| r.as_ref().map_or(0, |r| r.matches.len()));
    let many = move || count() > LISTED;
    let rows = move || {
        run.with(|r| {
            r.as_ref()
                .map(|r| r.matches.iter().take(LISTED).cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    view! {
        <div class="progress" data-testid="search-progress" data-percent=move || format!("{:.0}", percent())
            data-done=move || finished().to_string()>
            <div class="bar" style=move || format!("width: {:.1}%", percent())></div>
        </div>
        <p class="hint" data-testid="search-summary" data-matched=count>{move || read(SearchRun::summary)}</p>
        <Show when=many>
            <p class="hint">{move || format!("The first {LISTED} of {} matches are listed; the exports hold them all.", count())}</p>
        </Show>
        <p class="exports">
            <button type="button" class="secondary small" data-testid="search-export-ndjson"
                disabled=move || count() == 0
                on:click=move |_| download("search.ndjson", "application/x-ndjson", &read(SearchRun::to_ndjson))>
                "Export NDJSON"
            </button>
            " "
            <button type="button" class="secondary small" data-testid="search-export-csv"
                disabled=move || count() == 0
                on:click=move |_| download("search.csv", "text/csv", &read(SearchRun::to_csv))>
                "Export CSV"
            </button>
        </p>
        <ol class="replayed" data-testid="search-records">
            <For each=rows key=|r| (r.partition, r.offset) let(record)>
                <ReplayedRow record/>
            </For>
        </ol>
    }
}

/// Saves `text` as a file named `name`, through a link the page clicks.
fn download(name: &str, mime: &str, text: &str) {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    let link = document()
        .create_element("a")
        .ok()
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok());
    if let Some(link) = link {
        link.set_href(&url);
        link.set_download(name);
        link.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}
