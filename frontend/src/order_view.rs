//! The order form: a draft order, placed with an Idempotency-Key, and the
//! broker's acknowledgement or the error beside the field it is about.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use wire::order::{MAX_CUSTOMER_ID_CHARS, MAX_ITEMS, MAX_SKU_CHARS};
use wire::{ErrorBody, NewOrder, OrderAccepted};

use crate::api;
use crate::clock::now_ms;
use crate::form::{ItemDraft, OrderDraft};

/// The form's state; every field is a signal, so it is `Copy` into handlers.
#[derive(Clone, Copy)]
struct FormState {
    draft: RwSignal<OrderDraft>,
    error: RwSignal<Option<ErrorBody>>,
    /// The last acknowledgement, with its round trip in milliseconds.
    accepted: RwSignal<Option<(OrderAccepted, i64)>>,
    sending: RwSignal<bool>,
    /// The Idempotency-Key of the order last sent and not acknowledged: sent
    /// again unchanged (a retry after an error), it keeps its key, so it
    /// cannot be placed twice; changed, or once acknowledged, it gets a new one.
    pending_key: StoredValue<Option<(String, NewOrder)>>,
}

impl FormState {
    fn new() -> Self {
        Self {
            draft: RwSignal::new(OrderDraft::default()),
            error: RwSignal::new(None),
            accepted: RwSignal::new(None),
            sending: RwSignal::new(false),
            pending_key: StoredValue::new(None),
        }
    }

    /// Checks the draft and places it; the answer lands in `accepted` or
    /// `error`. Any new attempt clears the previous answer first, so an old
    /// success never stands beside a new error.
    fn submit(self) {
        self.accepted.set(None);
        self.error.set(None);
        let order = match self.draft.with_untracked(OrderDraft::to_order) {
            Ok(order) => order,
            Err(err) => {
                self.error.set(Some(ErrorBody {
                    code: wire::ErrorCode::InvalidField,
                    message: err.message,
                    field: Some(err.field),
                }));
                return;
            }
        };
        let key = match self.pending_key.get_value() {
            Some((key, sent)) if sent == order => key,
            _ => new_key(),
        };
        self.pending_key
            .set_value(Some((key.clone(), order.clone())));
        self.sending.set(true);
        leptos::task::spawn_local(async move {
            let started = now_ms();
            match api::place_order(&order, &key).await {
                Ok(ack) => {
                    self.pending_key.set_value(None);
                    self.error.set(None);
                    self.accepted.set(Some((ack, now_ms() - started)));
                }
                Err(body) => {
                    self.accepted.set(None);
                    self.error.set(Some(body));
                }
            }
            self.sending.set(false);
        });
    }

    /// An error whose field has no input of its own, shown above the button.
    fn general_error(self) -> Option<String> {
        self.error.with(|e| {
            e.as_ref()
                .filter(|e| !e.field.as_deref().is_some_and(has_input))
                .map(|e| e.message.clone())
        })
    }
}

/// Places orders and shows the acknowledgement, or the error next to its field.
#[component]
pub fn OrderForm() -> impl IntoView {
    let form = FormState::new();
    let FormState {
        draft,
        error,
        sending,
        ..
    } = form;
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        form.submit();
    };
    view! {
        <form class="card" on:submit=submit data-testid="order-form">
            <h2>"Place an order"</h2>
            <label>
                "Customer id"
                <small class="label-hint">"the record's key: Kafka picks the partition from it, so one customer's orders keep their order"</small>
                <input data-testid="customer-id" maxlength=MAX_CUSTOMER_ID_CHARS
                    class:invalid=move || names(error, "customer_id")
                    aria-invalid=move || names(error, "customer_id").to_string()
                    prop:value=move || draft.with(|d| d.customer_id.clone())
                    on:input=move |ev| draft.update(|d| d.customer_id = event_target_value(&ev))/>
            </label>
            <FieldError error field="customer_id".to_owned()/>
            <div class="items">
                <For each=move || 0..draft.with(|d| d.items.len()) key=|i| *i let(i)>
                    <ItemRow draft error index=i/>
                </For>
            </div>
            <FieldError error field="items".to_owned()/>
            <div class="actions">
                <button type="button" class="secondary" data-testid="add-item"
                    title=format!("at most {MAX_ITEMS} items")
                    disabled=move || draft.with(|d| d.items.len() >= MAX_ITEMS)
                    on:click=move |_| draft.update(|d| {
                        if d.items.len() < MAX_ITEMS {
                            d.items.push(ItemDraft::default());
                        }
                    })>
                    "Add item"
                </button>
                <button type="submit" data-testid="place-order" disabled=move || sending.get()>
                    {move || if sending.get() { "Sending…" } else { "Place order" }}
                </button>
            </div>
            <Show when=move || form.general_error().is_some()>
                <p class="error" data-testid="order-error">{move || form.general_error()}</p>
            </Show>
            <Acknowledgement accepted=form.accepted/>
        </form>
    }
}

/// Where the broker put the last order, and how long the round trip took.
#[component]
fn Acknowledgement(accepted: RwSignal<Option<(OrderAccepted, i64)>>) -> impl IntoView {
    move || {
        accepted.get().map(|(ack, round_trip)| {
            view! {
                <p class="ack" data-testid="ack" data-partition=ack.partition data-offset=ack.offset
                    data-order-id=ack.order_id.clone()>
                    "In Kafka: partition " <b>{ack.partition}</b> ", offset " <b>{ack.offset}</b>
                    " — " {round_trip} " ms round trip"
                    <br/><small>"order " {ack.order_id.clone()}</small>
                </p>
            }
        })
    }
}

/// Whether the last error names `field`: its box is then marked invalid.
fn names(error: RwSignal<Option<ErrorBody>>, field: &str) -> bool {
    error.with(|e| e.as_ref().and_then(|e| e.field.as_deref()) == Some(field))
}

/// A fresh Idempotency-Key: a random UUID from the browser.
fn new_key() -> String {
    window()
        .crypto()
        .map(|c| c.random_uuid())
        // No Web Crypto (very old browsers): time and randomness will do.
        .unwrap_or_else(|_| format!("{}-{}", now_ms(), js_sys::Math::random()))
}

/// Whether the form has an input for `field`, so its error shows beside it.
fn has_input(field: &str) -> bool {
    field == "customer_id" || field == "items" || field.starts_with("items[")
}

/// One line of the order form.
#[component]
fn ItemRow(
    draft: RwSignal<OrderDraft>,
    error: RwSignal<Option<ErrorBody>>,
    index: usize,
) -> impl IntoView {
    let value = move |get: fn(&ItemDraft) -> &String| {
        move || draft.with(|d| d.items.get(index).map(get).cloned().unwrap_or_default())
    };
    let set = move |put: fn(&mut ItemDraft, String)| {
        move |ev: leptos::ev::Event| {
            let text = event_target_value(&ev);
            draft.update(|d| {
                if let Some(item) = d.items.get_mut(index) {
                    put(item, text);
                }
            });
        }
    };
    let invalid = move |field: &'static str| {
        let field = format!("items[{index}].{field}");
        move || names(error, &field)
    };
    view! {
        <div class="item" data-testid=format!("item-{index}")>
            <label>"SKU"
                <input data-testid="sku" maxlength=MAX_SKU_CHARS class:invalid=invalid("sku")
                    prop:value=value(|i| &i.sku) on:input=set(|i, v| i.sku = v)/>
            </label>
            <label>"Quantity"
                <input data-testid="quantity" inputmode="numeric" class:invalid=invalid("quantity")
                    prop:value=value(|i| &i.quantity) on:input=set(|i, v| i.quantity = v)/>
            </label>
            <label>"Unit price"
                <input data-testid="unit-price" inputmode="decimal" class:invalid=invalid("unit_price_cents")
                    prop:value=value(|i| &i.unit_price) on:input=set(|i, v| i.unit_price = v)/>
            </label>
            <button type="button" class="secondary remove" title="Remove this item"
                disabled=move || draft.with(|d| d.items.len() <= 1)
                on:click=move |_| draft.update(|d| { if d.items.len() > 1 { d.items.remove(index); } })>
                "×"
            </button>
            <FieldError error field=format!("items[{index}].sku")/>
            <FieldError error field=format!("items[{index}].quantity")/>
            <FieldError error field=format!("items[{index}].unit_price_cents")/>
        </div>
    }
}

/// The message for `field`, if the last error (the form's or the
/// gateway's) named that field.
#[component]
fn FieldError(error: RwSignal<Option<ErrorBody>>, field: String) -> impl IntoView {
    let testid = format!("error-{field}");
    let message = move || {
        error.with(|e| {
            e.as_ref()
                .filter(|e| e.field.as_deref() == Some(field.as_str()))
                .map(|e| e.message.clone())
        })
    };
    view! {
        <Show when={let message = message.clone(); move || message().is_some()}>
            <p class="field-error" data-testid=testid.clone()>{message.clone()}</p>
        </Show>
    }
}
