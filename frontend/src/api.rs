//! REST calls to the gateway, which serves this page: paths are relative.

use gloo_net::http::Request;
use wire::api::GroupView;
use wire::{ErrorBody, ErrorCode, Health, NewOrder, OrderAccepted};

/// Posts an order. The gateway's error body on failure, or one made here
/// when the gateway did not answer in its own words.
pub(crate) async fn place_order(order: &NewOrder) -> Result<OrderAccepted, ErrorBody> {
    let unreachable = |detail: String| ErrorBody {
        code: ErrorCode::Unknown,
        message: format!("the gateway did not answer: {detail}"),
        field: None,
    };
    let response = Request::post("/api/orders")
        .json(order)
        .map_err(|e| unreachable(e.to_string()))?
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if response.ok() {
        response
            .json::<OrderAccepted>()
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

/// The consumer groups reading the topic; `None` when the gateway or the
/// broker does not answer.
pub(crate) async fn groups() -> Option<Vec<GroupView>> {
    let response = Request::get("/api/groups").send().await.ok()?;
    if !response.ok() {
        return None;
    }
    response.json().await.ok()
}
