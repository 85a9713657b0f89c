//! The load card: a spike of orders through the same path as the form.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use wire::load::{LoadRequest, LoadState, LoadStatus};

use crate::api;
use crate::flow::FlowState;

#[component]
pub fn Load(flow: RwSignal<FlowState>) -> impl IntoView {
    let orders = RwSignal::new("2000".to_owned());
    let rate = RwSignal::new("200".to_owned());
    let customers = RwSignal::new("50".to_owned());
    let error = RwSignal::new(None::<String>);
    let status = move || flow.with(|f| f.snapshot().and_then(|s| s.load.clone()));
    let running = move || status().is_some_and(|s| s.state == LoadState::Running);

    let start = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = match request(orders, rate, customers) {
            Ok(request) => request,
            Err(message) => {
                error.set(Some(message));
                return;
            }
        };
        leptos::task::spawn_local(async move {
            match api::start_load(&request).await {
                Ok(_) => error.set(None),
                Err(body) => {
                    error.set(Some(api::describe(&body)));
                }
            }
        });
    };
    let stop = move |_| {
        leptos::task::spawn_local(async move {
            if let Err(body) = api::stop_load().await {
                error.set(Some(body.message));
            }
        });
    };
    let input = move |testid: &'static str, label: &'static str, value: RwSignal<String>| {
        view! {
            <label>{label}
                <input data-testid=testid inputmode="numeric" prop:value=move || value.get()
                    on:input=move |ev| value.set(event_target_value(&ev))/>
            </label>
        }
    };
    view! {
        <div class="card" data-testid="load">
            <h2>"Spike"</h2>
            <p class="hint">"Places orders through the same path as the form. Watch the produce rate jump and each service's lag rise and drain at its own pace."</p>
            <form class="replay-form" on:submit=start>
                {input("load-orders", "Orders", orders)}
                {input("load-rate", "Per second", rate)}
                {input("load-customers", "Customers", customers)}
                <button type="submit" data-testid="load-start" disabled=running>"Start"</button>
                <button type="button" class="secondary" data-testid="load-stop"
                    disabled=move || !running() on:click=stop>"Stop"</button>
            </form>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" data-testid="load-error">{move || error.get()}</p>
            </Show>
            {move || status().map(|status| view! { <Progress status/> })}
        </div>
    }
}

/// The run the boxes ask for, or which box is not a whole number.
fn request(
    orders: RwSignal<String>,
    rate: RwSignal<String>,
    customers: RwSignal<String>,
) -> Result<LoadRequest, String> {
    let number = |field: &str, value: RwSignal<String>| {
        value
            .get_untracked()
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("{field}: a whole number"))
    };
    Ok(LoadRequest {
        orders: number("orders", orders)?,
        rate: number("rate", rate)?,
        customers: number("customers", customers)?,
    })
}

/// How far the run has come.
#[component]
fn Progress(status: LoadStatus) -> impl IntoView {
    let s = status;
    let total = f64::from(s.request.orders).max(1.0);
    let state = match s.state {
        LoadState::Running => "running",
        LoadState::Finished => "finished",
        LoadState::Cancelled => "cancelled",
    };
    let elapsed_ms = s.ended_at_ms.map(|end| end - s.started_at_ms);
    let achieved = elapsed_ms
        .filter(|ms| *ms > 0)
        .map(|ms| {
            format!(
                ", {:.0} orders/s achieved",
                s.sent as f64 * 1000.0 / ms as f64
            )
        })
        .unwrap_or_default();
    view! {
        <div class="load-status" data-testid="load-status" data-state=state
             data-acknowledged=s.acknowledged>
            <div class="bar"><div style=format!("transform: scaleX({:.3})", s.acknowledged as f64 / total)></div></div>
            <p class="hint">
                {format!("{state}: {} sent, {} acknowledged, {} failed of {} at {}/s over {} customers{achieved}",
                    s.sent, s.acknowledged, s.failed, s.request.orders, s.request.rate, s.request.customers)}
            </p>
        </div>
    }
}
