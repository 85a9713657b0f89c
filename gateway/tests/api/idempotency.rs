//! `Idempotency-Key` on `POST /api/orders`, against the real broker: a retry
//! writes nothing new.

use serde_json::Value;
use wire::{ErrorBody, ErrorCode, OrderAccepted};

use crate::helpers::*;

async fn post_with_key(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/orders"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("POST /api/orders")
}

#[tokio::test]
async fn a_retry_with_the_same_key_gets_the_first_acknowledgement_and_writes_nothing() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let body = order("retrying-customer");

    let first = post_with_key(&app, "key-1", &body).await;
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: OrderAccepted = first.json().await.expect("ack");

    let retry = post_with_key(&app, "key-1", &body).await;
    assert_eq!(retry.status(), 202);
    assert_eq!(
        retry
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let retry: OrderAccepted = retry.json().await.expect("ack");
    assert_eq!(retry, first);

    // The same key with another order is refused; another key is another order.
    let response = post_with_key(&app, "key-1", &order("someone-else")).await;
    assert_eq!(response.status(), 422);
    let error: ErrorBody = response.json().await.expect("error body");
    assert_eq!(error.field.as_deref(), Some("Idempotency-Key"));
    assert_eq!(post_with_key(&app, "key-2", &body).await.status(), 202);

    let records = read_topic(&app.topic).await;
    assert_eq!(records.len(), 2, "one record per key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_key_place_one_order() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let body = order("double-clicker");
    let requests = (0..10).map(|_| post_with_key(&app, "one-key", &body));
    let responses = futures_util::future::join_all(requests).await;

    let mut acks = Vec::new();
    for response in responses {
        match response.status().as_u16() {
            202 => acks.push(response.json::<OrderAccepted>().await.expect("ack")),
            409 => {
                let error: ErrorBody = response.json().await.expect("error body");
                assert_eq!(error.code, ErrorCode::Conflict);
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(!acks.is_empty());
    assert!(acks.iter().all(|a| *a == acks[0]), "{acks:?}");
    // Every request has settled, and one order was written.
    assert_eq!(record_count(&app.topic), 1);
}

#[tokio::test]
async fn malformed_keys_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    for key in ["", "has space", &"k".repeat(129)] {
        let response = post_with_key(&app, key, &order("c")).await;
        assert_eq!(response.status(), 422, "{key:?}");
        let error: ErrorBody = response.json().await.expect("error body");
        assert_eq!(error.field.as_deref(), Some("Idempotency-Key"));
    }
    assert_eq!(record_count(&app.topic), 0);
}
