//! The live feed's filter: a jq filter the gateway runs before sending
//! records (`/ws?filter=…`), kept in the page's URL so that a filtered view
//! can be shared. Applying one reopens the stream through it (the rest of
//! the page stays as it is): the feed then holds only what the filter
//! selects, from when it starts. A filter the gateway refuses is said here,
//! and every record is shown meanwhile.

use leptos::prelude::*;

use crate::feed::Feed;
use crate::socket::LiveFilter;

/// Filters the page offers, over what each record is to a filter
/// (`{topic, partition, offset, timestamp, key, headers, value, …}`).
const EXAMPLES: [(&str, &str); 4] = [
    ("orders over $100", "select(.value.total_cents > 10000)"),
    ("one customer", r#"select(.key == "customer-1")"#),
    (
        "has an order id header",
        r#"any(.headers[]; .key == "order-id")"#,
    ),
    ("partition 0", ".partition == 0"),
];

/// The filter box, its examples, and how the running filter does.
#[component]
pub fn FilterBox(
    feed: RwSignal<Feed>,
    /// The topic the page watches (`None`: the gateway's own).
    wanted: Option<String>,
    live: LiveFilter,
) -> impl IntoView {
    let draft = RwSignal::new(live.running.get_untracked().unwrap_or_default());
    let mistake = RwSignal::new(None::<String>);
    let wanted = StoredValue::new(wanted);
    let apply = move |text: String| {
        let text = text.trim().to_owned();
        if text.len() > wire::stream::MAX_FILTER_BYTES {
            mistake.set(Some(format!(
                "a filter is at most {} bytes (this one is {})",
                wire::stream::MAX_FILTER_BYTES,
                text.len()
            )));
            return;
        }
        mistake.set(None);
        wanted.with_value(|w| live.apply((!text.is_empty()).then_some(text), feed, w.as_deref()));
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        apply(draft.get_untracked());
    };
    let clear = move |_| {
        draft.set(String::new());
        apply(String::new());
    };
    let running = move || live.running.get();
    // The box holds something else than what runs: say so.
    let unapplied = move || {
        let typed = draft.with(|d| d.trim().to_owned());
        let running = live.running.get().unwrap_or_default();
        (typed != running).then(|| {
            if typed.is_empty() {
                "The box is empty: press Clear to show every record.".to_owned()
            } else {
                "Not applied yet: press Filter (or Enter).".to_owned()
            }
        })
    };
    let status = move || {
        feed.with(|f| {
            f.filter().map(|s| {
                let mut text = format!(
                    "{} matched of {} tested since the filter started",
                    s.matched, s.tested
                );
                if s.skipped > 0 {
                    text.push_str(&format!(" · {} skipped", s.skipped));
                    if let Some(why) = &s.last_error {
                        text.push_str(&format!(" (last: {why})"));
                    }
                }
                if s.not_tested > 0 {
                    text.push_str(&format!(
                        " · {} not tested (the filter fell behind)",
                        s.not_tested
                    ));
                }
                if let Some(why) = &s.stopped {
                    text.push_str(&format!(" · the filter was stopped: {why}"));
                }
                text
            })
        })
    };
    view! {
        <form class="filter-box" data-testid="filter-form" on:submit=submit>
            <input class="filter" data-testid="filter-input" spellcheck="false"
                placeholder="filter in jq: select(.value.total_cents > 10000)"
                prop:value=move || draft.get()
                on:input=move |ev| draft.set(event_target_value(&ev))/>
            <button type="submit" class="small" data-testid="filter-apply">"Filter"</button>
            {move || running().is_some().then(|| view! {
                <button type="button" class="secondary small" data-testid="filter-clear" on:click=clear>"Clear"</button>
            })}
        </form>
        <p class="hint examples">
            "Try: "
            {EXAMPLES.iter().map(|&(label, example)| view! {
                <button type="button" class="link" data-testid="filter-example" title=example
                    on:click=move |_| draft.set(example.to_owned())>{label}</button>
                " "
            }).collect_view()}
        </p>
        {move || unapplied().map(|hint| view! { <p class="hint" data-testid="filter-unapplied">{hint}</p> })}
        {move || mistake.get().or_else(|| live.refused.get().map(|why| format!("Not applied, every record is shown: {why}"))).map(|why| view! {
            <p class="error" data-testid="filter-refused">{why}</p>
        })}
        {move || running().map(|filter| view! {
            <p class="hint" data-testid="filter-status"
                data-tested=move || feed.with(|f| f.filter().map(|s| s.tested))
                data-matched=move || feed.with(|f| f.filter().map(|s| s.matched))
                data-skipped=move || feed.with(|f| f.filter().map(|s| s.skipped))>
                "Filtering by " <code>{filter}</code> ": "
                {move || status().unwrap_or_else(|| "starting the filter…".into())}
                ". Only records from now on are filtered; the Search card finds earlier ones."
            </p>
        })}
    }
}
