//! The topics card: the cluster's topics, and a new one with a chosen
//! partition count.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use wire::api::{NewTopic, TopicSummary};

use crate::api;
use crate::feed::Feed;

/// Topics listed at most; a cluster may have thousands (the filter finds
/// the others).
const MAX_SHOWN: usize = 200;
/// Topics listed before "show them": the card stays short.
const FIRST_SHOWN: usize = 10;

#[component]
pub fn Topics(feed: RwSignal<Feed>) -> impl IntoView {
    let list = RwSignal::new(None::<Result<Vec<TopicSummary>, String>>);
    let name = RwSignal::new(String::new());
    let partitions = RwSignal::new("3".to_owned());
    let message = RwSignal::new(None::<(bool, String)>);
    let refresh = move || {
        leptos::task::spawn_local(async move {
            list.set(Some(api::topics().await.map_err(|e| e.message)));
        });
    };
    refresh();
    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Ok(count) = partitions.get_untracked().trim().parse::<i32>() else {
            message.set(Some((false, "partitions: a whole number".into())));
            return;
        };
        let topic = NewTopic {
            name: name.get_untracked().trim().to_owned(),
            partitions: count,
            replication_factor: None,
        };
        if let Err(err) = topic.validate() {
            message.set(Some((false, format!("{}: {}", err.field, err.message))));
            return;
        }
        leptos::task::spawn_local(async move {
            match api::create_topic(&topic).await {
                Ok(created) => {
                    message.set(Some((
                        true,
                        format!(
                            "created {} with {} partitions",
                            created.name, created.partitions
                        ),
                    )));
                    name.set(String::new());
                    refresh();
                }
                Err(body) => {
                    message.set(Some((false, api::describe(&body))));
                }
            }
        });
    };
    let current = move || feed.with(|f| f.topic().map(str::to_owned));
    view! {
        <div class="card" data-testid="topics">
            <h2>"Topics"</h2>
            <TopicList list current/>
            <form class="replay-form" on:submit=create>
                <label class="wide">"New topic"
                    <input data-testid="new-topic-name" prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <label>"Partitions"
                    <input data-testid="new-topic-partitions" inputmode="numeric" prop:value=move || partitions.get()
                        on:input=move |ev| partitions.set(event_target_value(&ev))/>
                </label>
                <button type="submit" data-testid="create-topic">"Create"</button>
                <button type="button" class="secondary" data-testid="topics-refresh" on:click=move |_| refresh()>"Refresh"</button>
            </form>
            {move || message.get().map(|(ok, text)| view! {
                <p class=if ok { "ack" } else { "error" } data-testid="topic-message">{text}</p>
            })}
        </div>
    }
}

/// The cluster's topics, the one watched marked and the others linked: the first few, all on
/// request, or those whose name contains what is typed in the filter.
#[component]
fn TopicList(
    list: RwSignal<Option<Result<Vec<TopicSummary>, String>>>,
    current: impl Fn() -> Option<String> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let expanded = RwSignal::new(false);
    let shown = move |topics: Vec<TopicSummary>| {
        let wanted = filter.with(|f| f.trim().to_lowercase());
        let mut matching: Vec<TopicSummary> = topics
            .into_iter()
            .filter(|t| t.name.to_lowercase().contains(&wanted))
            .collect();
        // This dashboard's own topic first.
        if let Some(mine) = current() {
            matching.sort_by_key(|t| t.name != mine);
        }
        let limit = if expanded.get() || !wanted.is_empty() {
            MAX_SHOWN
        } else {
            FIRST_SHOWN
        };
        let more = matching.len().saturating_sub(limit);
        (matching.into_iter().take(limit).collect::<Vec<_>>(), more)
    };
    view! {
        <input class="filter" data-testid="topic-filter" placeholder="filter topics by name"
            prop:value=move || filter.get() on:input=move |ev| filter.set(event_target_value(&ev))/>
        {move || match list.get() {
            None => view! { <p class="hint">"Loading…"</p> }.into_any(),
            Some(Err(message)) => view! { <p class="error">{message}</p> }.into_any(),
            Some(Ok(topics)) => {
                let total = topics.len();
                let (topics, more) = shown(topics);
                let topics_empty = topics.is_empty();
                view! {
                    <ul class="topics">
                        {topics.into_iter().map(|t| {
                            let here = current().as_deref() == Some(t.name.as_str());
                            view! {
                                <li data-testid="topic-row" data-topic=t.name.clone() data-partitions=t.partitions>
                                    <code>{t.name.clone()}</code>
                                    {format!(" — {} partition(s)", t.partitions)}
                                    {if here {
                                        view! { <span class="hint" data-testid="watching">" (watching)"</span> }.into_any()
                                    } else {
                                        // A link, so that a view can be shared or bookmarked.
                                        let href = crate::location::watch_href(&t.name);
                                        view! { " " <a data-testid="watch-topic" href=href>"watch"</a> }.into_any()
                                    }}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                    {match (more, expanded.get()) {
                        (0, _) if filter.with(|f| !f.trim().is_empty()) && topics_empty => {
                            view! { <p class="hint">"No topic's name contains that."</p> }.into_any()
                        }
                        (0, _) => ().into_any(),
                        (more, false) => view! {
                            <button type="button" class="secondary small" data-testid="topics-more"
                                on:click=move |_| expanded.set(true)>
                                {format!("and {more} more of {total}: show them")}
                            </button>
                        }.into_any(),
                        (more, true) => view! {
                            <p class="hint">{format!("and {more} more: type part of a name to find them")}</p>
                        }.into_any(),
                    }}
                }
                .into_any()
            }
        }}
    }
}
