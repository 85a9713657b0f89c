//! The browser's WebSocket as a stream of its text messages, each read
//! into the page's memory in bulk.
//!
//! gloo-net's stream copies a message's text into WebAssembly's memory a
//! character at a time (wasm-bindgen's string glue, in JavaScript): at
//! 10,000 records a second that was a tenth of the page's main thread. Here
//! the browser's own `TextEncoder` writes the UTF-8 in one call, and one
//! copy moves it.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::mpsc;
use futures_util::{Stream, StreamExt as _};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The browser's `TextEncoder`, its `encode` given a JavaScript string
    /// as it is (web-sys's takes a `&str`, a string already copied over).
    #[wasm_bindgen(js_name = TextEncoder)]
    type Encoder;
    #[wasm_bindgen(constructor, js_class = TextEncoder)]
    fn new() -> Encoder;
    #[wasm_bindgen(method)]
    fn encode(this: &Encoder, text: &js_sys::JsString) -> js_sys::Uint8Array;
}

/// An open WebSocket's text messages, in order; the stream ends when the
/// connection closes or fails. Binary messages (the gateway sends none)
/// are skipped. Dropping it closes the connection.
pub(crate) struct TextSocket {
    socket: web_sys::WebSocket,
    messages: mpsc::UnboundedReceiver<String>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_end: Closure<dyn FnMut(web_sys::Event)>,
}

impl TextSocket {
    pub(crate) fn open(url: &str) -> Result<Self, JsValue> {
        let socket = web_sys::WebSocket::new(url)?;
        let encoder = Encoder::new();
        // Unbounded as the browser's own queue of message events is: what
        // bounds both is the gateway's per-client buffer (see `wire::stream`).
        let (sender, messages) = mpsc::unbounded();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new({
            let sender = sender.clone();
            move |event: web_sys::MessageEvent| {
                let data = event.data();
                let Some(text) = data.dyn_ref::<js_sys::JsString>() else {
                    return;
                };
                // TextEncoder's output is UTF-8 (a lone surrogate becomes
                // U+FFFD), so this check never refuses; it is cheap.
                if let Ok(text) = String::from_utf8(encoder.encode(text).to_vec()) {
                    let _ = sender.unbounded_send(text);
                }
            }
        });
        let on_end = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| sender.close_channel());
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_end.as_ref().unchecked_ref()));
        socket.set_onerror(Some(on_end.as_ref().unchecked_ref()));
        Ok(Self {
            socket,
            messages,
            _on_message: on_message,
            _on_end: on_end,
        })
    }
}

impl Stream for TextSocket {
    type Item = String;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.messages.poll_next_unpin(cx)
    }
}

impl Drop for TextSocket {
    fn drop(&mut self) {
        // The callbacks are freed with this: the socket must not call them.
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        self.socket.set_onerror(None);
        let _ = self.socket.close();
    }
}
