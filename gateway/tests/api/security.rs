//! Who may open the live stream, call the API from a page, and write.

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wire::{ErrorBody, ErrorCode};

use crate::helpers::*;

/// Opens `/ws` with `origin` (if any); the HTTP status the upgrade got.
async fn upgrade_status(app: &TestApp, origin: Option<&str>) -> u16 {
    let mut request = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .expect("request");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("upgrade failed: {other}"),
    }
}

#[tokio::test]
async fn only_own_and_allowed_origins_may_open_the_live_stream() {
    let app = spawn_with(|c| c.allowed_origins = vec!["https://ops.example.com".into()]).await;
    let own = format!("http://{}", app.addr);
    assert_eq!(upgrade_status(&app, Some(&own)).await, 101);
    assert_eq!(
        upgrade_status(&app, Some("https://ops.example.com")).await,
        101
    );
    assert_eq!(
        upgrade_status(&app, None).await,
        101,
        "clients that are not browsers"
    );
    assert_eq!(
        upgrade_status(&app, Some("https://evil.example")).await,
        403
    );
}

#[tokio::test]
async fn cors_is_off_by_default_and_follows_the_allow_list() {
    let preflight = |app: &TestApp, origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/orders"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allows = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    let closed = spawn_app().await;
    let response = preflight(&closed, "https://ops.example.com")
        .await
        .expect("preflight");
    assert_eq!(allows(&response), None);

    let open = spawn_with(|c| c.allowed_origins = vec!["https://ops.example.com".into()]).await;
    let response = preflight(&open, "https://ops.example.com")
        .await
        .expect("preflight");
    assert_eq!(
        allows(&response).as_deref(),
        Some("https://ops.example.com")
    );
    let response = preflight(&open, "https://evil.example")
        .await
        .expect("preflight");
    assert_eq!(allows(&response), None);
}

#[tokio::test]
async fn with_a_token_every_write_needs_it_and_reads_do_not() {
    let app = spawn_with(|c| {
        c.api_token = Some("s3cret".into());
        c.no_services = false;
    })
    .await;
    app.wait_healthy().await;

    let writes = [
        ("POST", "/api/orders", order("c")),
        ("PATCH", "/api/services/payments", json!({"running": false})),
        (
            "POST",
            "/api/load",
            json!({"orders": 1, "rate": 1, "customers": 1}),
        ),
        ("DELETE", "/api/load", json!({})),
        (
            "POST",
            "/api/topics",
            json!({"name": unique("t"), "partitions": 1}),
        ),
    ];
    for (method, path, body) in &writes {
        for token in [None, Some("Bearer wrong")] {
            let mut request = app
                .http
                .request(method.parse().expect("method"), app.url(path))
                .json(body);
            if let Some(token) = token {
                request = request.header("authorization", token);
            }
            let response = request.send().await.expect("request");
            assert_eq!(response.status(), 401, "{method} {path} with {token:?}");
            assert_eq!(
                response
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.as_bytes()),
                Some(&b"Bearer"[..])
            );
            let error: ErrorBody = response.json().await.expect("error body");
            assert_eq!(error.code, ErrorCode::Unauthorized);
        }
    }
    assert_eq!(
        record_count(&app.topic),
        0,
        "no refused write wrote anything"
    );
    assert!(app.service("payments").await.running);

    for path in ["/api/health", "/api/groups", "/api/services", "/api/replay"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    let response = app
        .http
        .post(app.url("/api/orders"))
        .header("authorization", "Bearer s3cret")
        .json(&order("c"))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn writes_over_the_rate_get_429_with_retry_after_and_write_nothing() {
    let app = spawn_with(|c| c.write_rate = 3).await;
    app.wait_healthy().await;
    let mut accepted = 0;
    let mut limited = 0;
    for i in 0..12 {
        let response = app.post_order(&order(&format!("c{i}"))).await;
        match response.status().as_u16() {
            202 => accepted += 1,
            429 => {
                let retry_after: u64 = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .expect("a Retry-After in seconds");
                assert!(retry_after >= 1);
                let error: ErrorBody = response.json().await.expect("error body");
                assert_eq!(error.code, ErrorCode::RateLimited);
                limited += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(accepted >= 3, "the burst is allowed");
    assert!(
        limited > 0,
        "twelve writes in a moment exceed three a second"
    );
    assert_eq!(record_count(&app.topic), accepted);
    // Reads are not limited.
    assert_eq!(app.get("/api/health").await.status(), 200);
}

#[tokio::test]
async fn the_write_rate_counts_orders_not_requests() {
    let app = spawn_with(|c| c.write_rate = 10).await;
    app.wait_healthy().await;
    let batch =
        |n: usize| json!({ "orders": (0..n).map(|i| order(&format!("c{i}"))).collect::<Vec<_>>() });
    // More than a second's worth at once can never fit: refused, nothing written.
    let too_large = app.post_json("/api/orders/batch", &batch(11)).await;
    assert_eq!(too_large.status(), 422);
    let error: ErrorBody = too_large.json().await.expect("error body");
    assert_eq!(error.field.as_deref(), Some("orders"));
    assert!(error.message.contains("--write-rate"), "{}", error.message);
    let load = app
        .post_json(
            "/api/load",
            &json!({"orders": 2000, "rate": 1000, "customers": 10}),
        )
        .await;
    assert_eq!(load.status(), 422, "a load run's orders count too");
    // Ten orders take the whole second's worth: the next write waits.
    assert_eq!(
        app.post_json("/api/orders/batch", &batch(10))
            .await
            .status(),
        202
    );
    let next = app.post_order(&order("after")).await;
    assert_eq!(next.status(), 429);
    let error: ErrorBody = next.json().await.expect("error body");
    assert_eq!(error.code, ErrorCode::RateLimited);
    assert_eq!(record_count(&app.topic), 10);
}

#[tokio::test]
async fn a_write_from_another_sites_page_is_refused_even_without_a_token() {
    let app = spawn_app().await;
    app.wait_healthy().await;
    let from = |origin: &str| {
        app.http
            .post(app.url("/api/orders"))
            .header("origin", origin)
            .json(&order("cross-site"))
            .send()
    };
    let refused = from("https://evil.example").await.expect("POST");
    assert_eq!(refused.status(), 403);
    let error: ErrorBody = refused.json().await.expect("error body");
    assert_eq!(error.code, ErrorCode::Forbidden);
    assert_eq!(record_count(&app.topic), 0);
    let own = from(&format!("http://{}", app.addr)).await.expect("POST");
    assert_eq!(own.status(), 202, "the gateway's own page");
}

#[tokio::test]
async fn requests_refused_for_their_token_take_nothing_from_the_write_rate() {
    let app = spawn_with(|c| {
        c.write_rate = 2;
        c.api_token = Some("s3cret".into());
    })
    .await;
    app.wait_healthy().await;
    for _ in 0..10 {
        let response = app.post_order(&order("intruder")).await;
        assert_eq!(response.status(), 401);
        // Clearing the read-key cookie needs no token, and takes nothing.
        let cleared = app
            .http
            .delete(app.url("/api/session"))
            .send()
            .await
            .expect("DELETE");
        assert_eq!(cleared.status(), 204);
    }
    let response = app
        .http
        .post(app.url("/api/orders"))
        .header("authorization", "Bearer s3cret")
        .json(&order("c"))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 202, "the address's bucket is untouched");
}
