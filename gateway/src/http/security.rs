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
//!   With `--protect-reads`, every `/api` read but `/api/health`, and `/ws`,
//!   need the token or the read key: an HttpOnly, SameSite=Strict cookie
//!   that `POST /api/session` (itself a write, so with the token) sets, since
//!   a browser cannot send `Authorization` on a WebSocket. The cookie is a
//!   random key made when the gateway starts, not the token: it opens reads
//!   only, and a gateway restart ends it (the page then asks again).
//! - Every request must name one of the gateway's hosts (`Host`): an IP
//!   address, `localhost`, a `--public-host` or an allowed origin's host.
//!   A page on a domain that resolves to the gateway's address (DNS
//!   rebinding) is same-origin to the browser, and would otherwise pass the
//!   `Origin` check and read the stream.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
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

/// The cookie that carries the read key.
pub(crate) const READ_KEY_COOKIE: &str = "kafka_flow_read_key";

/// Of the API guard (`super::guard`): with an API token configured, a
/// write without it is 401; with reads protected too, so is a read without
/// it or the read key, but for `/api/health` (and the read key's own
/// removal). A write from another site's page is 403 whatever the token.
pub(crate) fn token_refusal(state: &AppState, request: &Request) -> Option<Response> {
    // A write from a web page of another site is refused whatever the token:
    // a page can send a simple POST (no preflight) to a gateway without one.
    if is_write(request.method())
        && !origin_allowed(request.headers(), &state.config.allowed_origins)
    {
        return Some(forbidden_origin(request.headers()).into_response());
    }
    if let Some(token) = &state.config.api_token {
        let method = request.method();
        let path = request.uri().path();
        let open = path == "/health"
            || *method == Method::OPTIONS
            || (path == "/session" && *method == Method::DELETE);
        let allowed = open
            || bearer_matches(request.headers(), token)
            || (!is_write(method) && !state.config.protect_reads)
            || (!is_write(method) && state.read_key_matches(request.headers()));
        if !allowed {
            return Some(ApiError::Unauthorized.into_response());
        }
    }
    None
}

/// The refusal of a request from a page whose origin is not allowed.
pub(crate) fn forbidden_origin(headers: &HeaderMap) -> ApiError {
    let origin = headers
        .get(header::ORIGIN)
        .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned())
        .unwrap_or_default();
    ApiError::ForbiddenOrigin(origin)
}

/// Whether a `/ws` upgrade with these headers may read the stream.
pub(crate) fn may_read(state: &AppState, headers: &HeaderMap) -> bool {
    let protected = state.config.protect_reads && state.config.api_token.is_some();
    !protected || carries_token(state, headers)
}

/// Whether the request carries the API token or the read key (false when
/// the gateway has no token).
pub(crate) fn carries_token(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .config
        .api_token
        .as_ref()
        .is_some_and(|token| bearer_matches(headers, token) || state.read_key_matches(headers))
}

/// `POST /api/session` (with the token, checked by [`token_refusal`]): sets
/// the read-key cookie. `DELETE /api/session` clears it.
pub(crate) async fn open_session(State(state): State<AppState>) -> Response {
    let cookie = format!(
        "{READ_KEY_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        state.read_key
    );
    session_cookie(&cookie)
}

pub(crate) async fn close_session() -> Response {
    session_cookie(&format!(
        "{READ_KEY_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    ))
}

fn session_cookie(cookie: &str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Every read-key value in a request's cookies: another site on this host
/// (cookies are not kept apart by port) may have planted one of the same
/// name, so each is tried.
pub(crate) fn read_keys_of(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == READ_KEY_COOKIE)
        .map(|(_, value)| value)
}

/// The names a request may give in `Host`.
#[derive(Debug)]
pub(crate) struct Hosts {
    names: Vec<String>,
}

impl Hosts {
    /// `localhost`, the `--public-host` names and the allowed origins' hosts.
    pub(crate) fn new(public: &[String], origins: &[String]) -> Self {
        let mut names: Vec<String> = public
            .iter()
            .map(|h| host_part(h.trim()).to_ascii_lowercase())
            .collect();
        for origin in origins {
            let rest = origin
                .split_once("://")
                .map_or(origin.as_str(), |(_, rest)| rest);
            names.push(host_part(rest.trim_end_matches('/')).to_ascii_lowercase());
        }
        names.retain(|n| !n.is_empty());
        Self { names }
    }

    /// Whether `host` (a `Host` header's value, port and all) is one of
    /// ours. An IP literal always is: rebinding needs a domain name.
    pub(crate) fn allows(&self, host: &str) -> bool {
        let name = host_part(host);
        if name.parse::<IpAddr>().is_ok() {
            return true;
        }
        // Compared without case and without a copy: this runs on every request.
        let name = name.trim_end_matches('.');
        let ends_with = |suffix: &str| {
            name.len() >= suffix.len()
                && name.as_bytes()[name.len() - suffix.len()..]
                    .eq_ignore_ascii_case(suffix.as_bytes())
        };
        name.eq_ignore_ascii_case("localhost")
            || ends_with(".localhost")
            || self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The host of `host[:port]`, `[v6]:port` giving `v6`.
fn host_part(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`, nothing else: `[::1]evil.example` is not
        // an address, and naming nothing it is refused.
        return match rest.split_once(']') {
            Some((v6, "")) => v6,
            Some((v6, port))
                if port
                    .strip_prefix(':')
                    .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit())) =>
            {
                v6
            }
            _ => "",
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Middleware: a request naming a host that is not the gateway's is 403,
/// whether it names it in `Host` or in an absolute-form target
/// (`GET http://name/…`, which HTTP/1.1 says wins over `Host`). A request
/// naming none (HTTP/1.0, not a browser) passes.
pub(crate) async fn check_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(host) = request.headers().get(header::HOST) {
        let allowed = host.to_str().is_ok_and(|h| state.hosts.allows(h));
        if !allowed {
            let shown = String::from_utf8_lossy(host.as_bytes()).into_owned();
            return ApiError::ForeignHost(shown).into_response();
        }
    }
    if let Some(authority) = request.uri().authority() {
        // Without any `user@` part.
        let named = authority.as_str().rsplit('@').next().unwrap_or_default();
        if !state.hosts.allows(named) {
            return ApiError::ForeignHost(named.to_owned()).into_response();
        }
    }
    next.run(request).await
}

/// Whether the request carries `Authorization: Bearer <token>`.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme's name is case-insensitive (RFC 9110, 11.1).
        .and_then(|v| {
            let (scheme, given) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(given)
        })
        .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes()))
}

/// Compares without stopping at the first difference, so the time taken
/// says nothing about how much of a guess was right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
    fn hosts_are_ip_literals_localhost_and_the_configured_names() {
        let hosts = Hosts::new(
            &["Dash.Example.com".into()],
            &["https://ops.example.com:8443".into()],
        );
        for ok in [
            "127.0.0.1:8080",
            "10.1.2.3",
            "[::1]:8080",
            "[2001:db8::1]",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:3000",
            "dash.example.com",
            "dash.example.com.:80",
            "ops.example.com:8443",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "evil.example",
            "localhost.evil.example",
            "",
            "[::1]evil.example",
            "[::1",
            "[::1]:80x",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
    }

    #[test]
    fn the_read_key_is_found_among_the_cookies() {
        let map = headers(&[(
            "cookie",
            "a=1; kafka_flow_read_key=junk; kafka_flow_read_key=k3y",
        )]);
        assert_eq!(read_keys_of(&map).collect::<Vec<_>>(), ["junk", "k3y"]);
        assert_eq!(read_keys_of(&headers(&[("cookie", "a=1")])).count(), 0);
    }

    #[test]
    fn the_token_must_match_exactly() {
        let with = |v: &str| headers(&[("authorization", v)]);
        assert!(bearer_matches(&with("Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(&with("bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(&with("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(&with("Bearer s3cret!"), "s3cret"));
        assert!(!bearer_matches(&with("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(&HeaderMap::new(), "s3cret"));
    }
}
