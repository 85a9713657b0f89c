//! The API token for writes, for gateways that require one.

use leptos::prelude::*;

use crate::api;

/// The API token for writes, for gateways that require one; kept in this
/// browser's local storage.
#[component]
pub fn TokenField() -> impl IntoView {
    let open = RwSignal::new(false);
    let has_token = RwSignal::new(api::token().is_some());
    view! {
        <span class="token">
            <button type="button" class="secondary small" data-testid="token-toggle"
                title="API token, for gateways that require one for writes"
                on:click=move |_| open.update(|o| *o = !*o)>
                {move || if has_token.get() { "API token ✓" } else { "API token" }}
            </button>
            <Show when=move || open.get()>
                <input type="password" data-testid="token" placeholder="paste the token; empty to forget"
                    on:change=move |ev| {
                        api::set_token(event_target_value(&ev).trim());
                        has_token.set(api::token().is_some());
                        open.set(false);
                        // For a gateway whose reads need the token too: the
                        // cookie the stream is opened with.
                        leptos::task::spawn_local(async move {
                            if api::token().is_some() {
                                api::open_session().await;
                            } else {
                                api::close_session().await;
                            }
                        });
                    }/>
            </Show>
        </span>
    }
}
