//! `POST /api/load`, the load generator, against the real broker.

use std::collections::BTreeSet;

use rdkafka::Message;
use serde_json::json;
use wire::load::{LoadState, LoadStatus};
use wire::{ErrorBody, ErrorCode, Order};

use crate::helpers::*;

async fn load_status(app: &TestApp) -> LoadStatus {
    let response = app.get("/api/load").await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("load status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_run_places_every_order_keyed_over_its_customers() {
    let app = spawn_app().await;
    app.wait_healthy().await;

    let response = app
        .post_json(
            "/api/load",
            &json!({"orders": 300, "rate": 1000, "customers": 7}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let started: LoadStatus = response.json().await.expect("status");
    assert_eq!(started.state, LoadState::Running);

    let done = until("the load run to finish", || async {
        let status = load_status(&app).await;
        (status.state == LoadState::Finished).then_some(status)
    })
    .await;
    assert_eq!((done.sent, done.acknowledged, done.failed), (300, 300, 0));

    // Every acknowledged order is in the topic, as an order, keyed by one of
    // the seven customers.
    let records = read_topic(&app.topic).await;
    assert_eq!(records.len(), 300);
    let keys: BTreeSet<String> = records
        .iter()
        .map(|m| String::from_utf8_lossy(m.key().expect("a key")).into_owned())
        .collect();
    let expected: BTreeSet<String> = (0..7).map(|i| format!("load-customer-{i}")).collect();
    assert_eq!(keys, expected);
    for m in &records {
        let order: Order = serde_json::from_slice(m.payload().expect("a value")).expect("an order");
        assert_eq!(
            order.total_cents,
            order.items[0].unit_price_cents * u64::from(order.items[0].quantity)
        );
    }
}

#[tokio::test]
async fn one_load_runs_at_a_time_and_it_can_be_stopped() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let slow = json!({"orders": 100_000, "rate": 20, "customers": 3});
    assert_eq!(app.post_json("/api/load", &slow).await.status(), 202);

    let response = app.post_json("/api/load", &slow).await;
    assert_eq!(response.status(), 409);
    let body: ErrorBody = response.json().await.expect("error body");
    assert_eq!(body.code, ErrorCode::Conflict);

    let response = app
        .http
        .delete(app.url("/api/load"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 200);
    // It ends once the orders in flight are settled; what was sent is all
    // accounted for, and in the topic.
    let stopped = until("the run to end as cancelled", || async {
        let s = load_status(&app).await;
        (s.state == LoadState::Cancelled).then_some(s)
    })
    .await;
    assert!(stopped.sent < 100_000);
    assert!(stopped.ended_at_ms.is_some());
    assert_eq!(stopped.acknowledged + stopped.failed, stopped.sent);
    assert_eq!(record_count(&app.topic), stopped.acknowledged as i64);

    // A new run may start.
    let small = json!({"orders": 1, "rate": 1, "customers": 1});
    assert_eq!(app.post_json("/api/load", &small).await.status(), 202);
}

#[tokio::test]
async fn load_requests_are_checked() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    assert_eq!(app.get("/api/load").await.status(), 404);
    for (body, field) in [
        (json!({"orders": 0, "rate": 1, "customers": 1}), "orders"),
        (
            json!({"orders": 1, "rate": 1_000_000, "customers": 1}),
            "rate",
        ),
        (json!({"orders": 1, "rate": 1}), "customers"),
    ] {
        let response = app.post_json("/api/load", &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let error: ErrorBody = response.json().await.expect("error body");
        assert_eq!(error.field.as_deref(), Some(field), "{body}");
    }
    assert_eq!(record_count(&app.topic), 0);
}
