//! Who may talk to the gateway: which web pages may open its WebSocket or
//! call its API from a browser, and who may write.
//!
//! - A WebSocket upgrade from a browser carries an `Origin`; only the
//!   gateway's own origin and the configured ones are accepted, so a page on
//!   another site cannot open a live stream in a visitor's browser
//!   (cross-site WebSocket hijacking). Clients that are not browsers send no
//!   `Origin` and are not affected.
//! - CORS is off unless origins are configured: then those origins, and only
//!   they, may call the API from their pages.
//! - With an API token configured, every write (orders, service commands,
//!   load runs, topic creation) needs `Authorization: Bearer <token>`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::AppState;
use super::error::ApiError;
use super::orders::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};

/// Whether a WebSocket upgrade with these headers comes from an allowed page:
/// no `Origin` (not a browser), the gateway's own origin, or a configured one.
pub(crate) fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    // Same origin: the page was served by this gateway, under the host the
    // browser used to reach it.
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let served_from = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((served_from, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// The CORS layer for the configured origins; `None` (no CORS headers at
/// all, so browsers keep other sites' pages out) when there are none.
pub(crate) fn cors(allowed: &[String]) -> Option<CorsLayer> {
    if allowed.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = allowed
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::HeaderName::from_static(IDEMPOTENCY_KEY),
            ])
            .expose_headers([header::HeaderName::from_static(IDEMPOTENT_REPLAYED)]),
    )
}

/// Whether a request to the API writes: anything but a read or a preflight.
pub(crate) fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Middleware: with an API token configured, a write without it is 401.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.config.api_token
        && is_write(request.method())
        && !bearer_matches(request.headers(), token)
    {
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}

/// Whether the request carries `Authorization: Bearer <token>`.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes()))
}

/// Compares without stopping at the first difference, so the time taken
/// says nothing about how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        difference |= usize::from(x ^ y);
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        map
    }

    #[test]
    fn only_the_own_and_configured_origins_may_open_the_stream() {
        let allowed = vec!["https://ops.example.com".to_owned()];
        let own = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(origin_allowed(&own, &[]));
        let configured = headers(&[("host", "gw:8080"), ("origin", "https://ops.example.com")]);
        assert!(origin_allowed(&configured, &allowed));
        assert!(!origin_allowed(&configured, &[]));
        let foreign = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example"),
        ]);
        assert!(!origin_allowed(&foreign, &allowed));
        let no_origin = headers(&[("host", "127.0.0.1:8080")]);
        assert!(origin_allowed(&no_origin, &[]));
        let null = headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]);
        assert!(!origin_allowed(&null, &[]));
    }

    #[test]
    fn the_token_must_match_exactly() {
        let with = |v: &str| headers(&[("authorization", v)]);
        assert!(bearer_matches(&with("Bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(&with("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(&with("Bearer s3cret!"), "s3cret"));
        assert!(!bearer_matches(&with("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(&HeaderMap::new(), "s3cret"));
    }
}
