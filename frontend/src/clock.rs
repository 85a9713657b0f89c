//! The browser's clock: the time now, and waiting.

use leptos::prelude::window;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    // Date.now() is an integral number of milliseconds.
    js_sys::Date::now() as i64
}

/// Resolves after `ms` milliseconds (a `setTimeout`).
pub(crate) async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(
            &resolve,
            i32::try_from(ms).unwrap_or(i32::MAX),
        );
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// `HH:MM:SS.mmm` in the browser's time zone.
pub(crate) fn clock_time(ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds(),
        date.get_milliseconds()
    )
}
