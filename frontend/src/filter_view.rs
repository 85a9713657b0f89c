//! The live feed's filter: a jq filter the gateway runs before sending
//! records (`/ws?filter=…`), kept in the page's URL so that a filtered view
//! can be shared. Applying one opens the page anew on its URL: the stream
//! then holds only what the filter selects, from when it starts.

use leptos::prelude::*;

use crate::feed::Feed;
use crate::location;

/// Filters the page offers, over what each record is to a filter
/// (`{topic, partition, offset, timestamp, key, headers, value, …}`).
const EXAMPLES: [(&str, &str); 4] = [
    ("orders over $100", "select(.value.total_cents > 10000)"),
    ("one customer", r#"select(.key == "customer-42")"#),
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
    /// The filter the page streams through now.
    filter: Option<String>,
    refusal: RwSignal<Option<String>>,
) -> impl IntoView {
    let draft = RwSignal::new(filter.clone().unwrap_or_default());
    let active = filter.is_some();
    let apply = {
        let wanted = wanted.clone();
        move |text: String| {
            let href = location::filter_href(wanted.as_deref(), &text);
            let _ = window().location().set_search(&href);
        }
    };
    let submit = {
        let apply = apply.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            apply(draft.get_untracked());
        }
    };
    let clear = {
        let apply = apply.clone();
        move |_| apply(String::new())
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
                    text.push_str(&format!(" · stopped: {why}"));
                }
                text
            })
        })
    };
    view! {
        <form class="filter-box" data-testid="filter-form" on:submit=submit>
            <input class="filter" data-testid="filter-input" spellcheck="false"
                maxlength=wire::stream::MAX_FILTER_BYTES
                placeholder="filter in jq: select(.value.total_cents > 10000)"
                prop:value=move || draft.get()
                on:input=move |ev| draft.set(event_target_value(&ev))/>
            <button type="submit" class="small" data-testid="filter-apply">"Filter"</button>
            {active.then(|| view! {
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
        {active.then(|| view! {
            <p class="hint" data-testid="filter-status"
                data-tested=move || feed.with(|f| f.filter().map(|s| s.tested))
                data-matched=move || feed.with(|f| f.filter().map(|s| s.matched))
                data-skipped=move || feed.with(|f| f.filter().map(|s| s.skipped))>
                {move || status().unwrap_or_else(|| "starting the filter…".into())}
            </p>
            {move || refusal.get().map(|why| view! {
                <p class="error" data-testid="filter-refused">{why}</p>
            })}
        })}
    }
}
