//! REST calls to the gateway, which serves this page: paths are relative.

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wire::api::{FullRecord, GroupHistory, NewTopic, ReplayPage, TopicSummary};
use wire::load::{LoadRequest, LoadStatus};
use wire::search::SearchEvent;
use wire::services::{ServiceUpdate, ServiceView};
use wire::{ErrorBody, ErrorCode, Health, NewOrder, OrderAccepted};

/// Posts an order with an `Idempotency-Key`: sending the same order again
/// with the same key (a retry) cannot place it twice.
pub(crate) async fn place_order(order: &NewOrder, key: &str) -> Result<OrderAccepted, ErrorBody> {
    send_json(
        Request::post("/api/orders").header("Idempotency-Key", key),
        order,
    )
    .await
}

/// Stops, starts, scales or retunes a demo service.
pub(crate) async fn update_service(
    name: &str,
    update: &ServiceUpdate,
) -> Result<ServiceView, ErrorBody> {
    send_json(Request::patch(&format!("/api/services/{name}")), update).await
}

/// Crashes the service's newest member: it leaves without committing.
pub(crate) async fn crash_member(name: &str) -> Result<ServiceView, ErrorBody> {
    let request = Request::post(&format!("/api/services/{name}/crash"));
    receive(authorized(request).send().await).await
}

/// An error as one line for a person: the field it names, then why.
pub(crate) fn describe(error: &ErrorBody) -> String {
    match &error.field {
        Some(field) => format!("{field}: {}", error.message),
        None => error.message.clone(),
    }
}

fn unreachable(detail: String) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Unknown,
        message: format!("the gateway did not answer: {detail}"),
        field: None,
    }
}

/// Where the page keeps the API token a person entered.
const TOKEN_KEY: &str = "kafka-flow-api-token";

/// The API token for writes, if one was entered on this browser.
pub(crate) fn token() -> Option<String> {
    let storage = web_sys::window()?.local_storage().ok()??;
    storage.get_item(TOKEN_KEY).ok()?.filter(|t| !t.is_empty())
}

/// Keeps (or, when empty, forgets) the API token on this browser.
pub(crate) fn set_token(token: &str) {
    if let Some(Ok(Some(storage))) = web_sys::window().map(|w| w.local_storage()) {
        let _ = if token.is_empty() {
            storage.remove_item(TOKEN_KEY)
        } else {
            storage.set_item(TOKEN_KEY, token)
        };
    }
}

/// A write: with the API token, when one was entered.
fn authorized(request: RequestBuilder) -> RequestBuilder {
    match token() {
        Some(token) => request.header("Authorization", &format!("Bearer {token}")),
        None => request,
    }
}

/// Sends `body` as JSON (a write).
async fn send_json<B: Serialize, R: DeserializeOwned>(
    request: RequestBuilder,
    body: &B,
) -> Result<R, ErrorBody> {
    let request = authorized(request)
        .json(body)
        .map_err(|e| unreachable(e.to_string()))?;
    receive(request.send().await).await
}

/// The answer's body, or its error body (one made here when the gateway did
/// not answer in its own words).
async fn receive<R: DeserializeOwned>(
    sent: Result<Response, gloo_net::Error>,
) -> Result<R, ErrorBody> {
    let response = sent.map_err(|e| unreachable(e.to_string()))?;
    if response.ok() {
        response
            .json::<R>()
            .await
            .map_err(|e| unreachable(e.to_string()))
    } else {
        let status = response.status();
        Err(response
            .json::<ErrorBody>()
            .await
            .unwrap_or_else(|_| unreachable(format!("HTTP {status}"))))
    }
}

/// Runs a search (`query` from [`crate::search::SearchDraft`]), handing
/// each event of its answer to `each` as it arrives, until the answer ends
/// or `stop` aborts it (which stops the search in the gateway too).
/// Refusals come back as the error body.
pub(crate) async fn search(
    query: &str,
    stop: &web_sys::AbortSignal,
    mut each: impl FnMut(SearchEvent),
) -> Result<(), ErrorBody> {
    use wasm_bindgen::JsCast;
    let sent = read(&format!("/api/search?{query}"))
        .abort_signal(Some(stop))
        .send()
        .await;
    let response = sent.map_err(|e| unreachable(e.to_string()))?;
    if !response.ok() {
        let status = response.status();
        return Err(response
            .json::<ErrorBody>()
            .await
            .unwrap_or_else(|_| unreachable(format!("HTTP {status}"))));
    }
    let Some(body) = response.body() else {
        return Ok(());
    };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut lines = crate::search::Lines::default();
    loop {
        let chunk = wasm_bindgen_futures::JsFuture::from(reader.read())
            .await
            .map_err(|_| unreachable("the answer was cut off".into()))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(());
        }
        let Ok(bytes) = js_sys::Reflect::get(&chunk, &"value".into()) else {
            return Ok(());
        };
        for line in lines.push(&js_sys::Uint8Array::new(&bytes).to_vec()) {
            // A line this build does not understand is skipped.
            if let Ok(event) = serde_json::from_str(&line) {
                each(event);
            }
        }
    }
}

/// Starts a load run.
pub(crate) async fn start_load(request: &LoadRequest) -> Result<LoadStatus, ErrorBody> {
    send_json(Request::post("/api/load"), request).await
}

/// Stops the running load run.
pub(crate) async fn stop_load() -> Result<LoadStatus, ErrorBody> {
    receive(authorized(Request::delete("/api/load")).send().await).await
}

/// Each group's lag over `window` (`2m`, `15m`, `1h`).
pub(crate) async fn lag_history(window: &str) -> Result<Vec<GroupHistory>, ErrorBody> {
    receive(
        read(&format!("/api/groups/history?window={window}"))
            .send()
            .await,
    )
    .await
}

/// The cluster's topics.
pub(crate) async fn topics() -> Result<Vec<TopicSummary>, ErrorBody> {
    receive(read("/api/topics").send().await).await
}

/// Why the gateway refuses the page's stream of `topic` (the gateway's own
/// without one), as it would refuse the WebSocket, which a browser does not
/// tell the page; `None` when the stream would be served (426: only the
/// upgrade was missing) or the gateway did not answer.
pub(crate) async fn stream_refusal(topic: Option<&str>, filter: Option<&str>) -> Option<ErrorBody> {
    let mut path = match topic {
        Some(topic) => format!("/ws?topic={topic}"),
        None => "/ws?".to_owned(),
    };
    if let Some(filter) = filter {
        path.push_str(&format!("&filter={}", crate::location::encode(filter)));
    }
    let response = read(&path).send().await.ok()?;
    if response.status() == 426 {
        return None;
    }
    response.json::<ErrorBody>().await.ok()
}

/// Creates a topic.
pub(crate) async fn create_topic(topic: &NewTopic) -> Result<TopicSummary, ErrorBody> {
    send_json(Request::post("/api/topics"), topic).await
}

/// Reads the topic again (`query` from [`crate::replay::ReplayDraft`]).
pub(crate) async fn replay(query: &str) -> Result<ReplayPage, ErrorBody> {
    receive(read(&format!("/api/replay?{query}")).send().await).await
}

/// One record, whole, of `topic` (the gateway's own without one).
pub(crate) async fn record(
    topic: Option<&str>,
    partition: i32,
    offset: i64,
) -> Result<FullRecord, ErrorBody> {
    let topic = topic.map(|t| format!("topic={t}&")).unwrap_or_default();
    let path = format!("/api/record?{topic}partition={partition}&offset={offset}");
    receive(read(&path).send().await).await
}

/// Trades the API token for the read-key cookie, for a gateway whose reads
/// need the token (`--protect-reads`): a browser cannot send
/// `Authorization` on a WebSocket, but it sends the cookie.
pub(crate) async fn open_session() {
    let _ = authorized(Request::post("/api/session")).send().await;
}

/// Clears the read-key cookie.
pub(crate) async fn close_session() {
    let _ = Request::delete("/api/session").send().await;
}

/// A read: with the API token too, when one was entered (a gateway whose
/// reads need it takes it as a bearer as well as in the cookie).
fn read(path: &str) -> RequestBuilder {
    authorized(Request::get(path))
}

/// The gateway's health; `None` when the gateway itself does not answer.
pub(crate) async fn health() -> Option<Health> {
    // 503 (degraded) carries the same body as 200.
    Request::get("/api/health")
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}
