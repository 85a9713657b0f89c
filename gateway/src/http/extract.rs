//! Reading requests: JSON bodies and query strings, where every mistake is
//! an [`ApiError`] that names the field it is about.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::admission::Client;

/// Largest request body the gateway reads; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body extractor whose every rejection is an [`ApiError`]: 415
/// without a JSON content type, 413 over `LIMIT` bytes, 400 when the body
/// is not JSON (or cannot be read as framed), 422 naming the field when it
/// is JSON of the wrong shape.
/// (A route with a `LIMIT` other than [`MAX_BODY_BYTES`] sets the same
/// limit with `DefaultBodyLimit`, which is what the body read obeys.)
///
/// Reading and parsing a body takes one of a bounded number of turns, so
/// that bodies in memory at once are bounded: [`SMALL_BODY_TURNS`] of at
/// most [`MAX_BODY_BYTES`], [`LARGE_BODY_TURNS`] of larger ones (batches).
/// A request waits for its turn, within the request time limit. One client
/// address reads at most [`SMALL_BODIES_PER_CLIENT`] small bodies and
/// `--max-batches-per-address` batches at once; past that, 503 `busy`.
pub(crate) struct StrictJson<T, const LIMIT: usize = MAX_BODY_BYTES>(pub T);

/// Bodies of at most [`MAX_BODY_BYTES`] read and parsed at once: 16 MiB.
pub(crate) const SMALL_BODY_TURNS: usize = 256;
/// Larger bodies (a batch, up to 1 MiB) read and parsed at once.
pub(crate) const LARGE_BODY_TURNS: usize = 8;
/// Small bodies one client address reads at once.
pub(crate) const SMALL_BODIES_PER_CLIENT: usize = 64;

impl<T: DeserializeOwned, const LIMIT: usize> FromRequest<AppState> for StrictJson<T, LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        // A body announced larger than the limit is refused before any of
        // it is read: a client that sent `Expect: 100-continue` is told 413
        // instead of `100 Continue`, and sends nothing more.
        if declared_length(req.headers()).is_some_and(|length| length > LIMIT as u64) {
            return Err(ApiError::PayloadTooLarge { limit: LIMIT });
        }
        let (turns, mine) = if LIMIT > MAX_BODY_BYTES {
            (&state.large_bodies, &state.large_bodies_by_client)
        } else {
            (&state.small_bodies, &state.small_bodies_by_client)
        };
        // One address's bodies first, so that it cannot hold every turn
        // (a body that trickles in holds its turn up to the time limit).
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        let _mine = match peer {
            Some(ip) => Some(mine.admit(Client::of(ip)).map_err(ApiError::BodiesBusy)?),
            None => None,
        };
        let _turn = turns
            .acquire()
            .await
            .map_err(|_| ApiError::Internal("body turns closed".into()))?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: LIMIT }
            } else {
                // The framing failed before any JSON was seen.
                ApiError::UnreadableBody(rejection.body_text())
            }
        })?;
        parse(&bytes).map(StrictJson)
    }
}

/// The body's `Content-Length`, when it says one (hyper has already refused
/// a malformed or contradictory one).
fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Parses a JSON body straight into `T`, telling syntax errors (400) from
/// shape errors (422, with the path of the offending field). No
/// `serde_json::Value` is built on the way: a 1 MiB body of a million
/// numbers would be tens of MiB as a tree, and it is refused at its first
/// element instead. (A number with no fraction counts as an integer, as JSON
/// Schema has it; the request types say so field by field, `wire::integral`.)
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde also accepts a struct written as an array of its fields; a
    // request body is only ever an object.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(err) => ApiError::MalformedJson(err.to_string()),
                Ok(_) => ApiError::InvalidField {
                    field: "body".into(),
                    message: "expected a JSON object".into(),
                },
            },
        );
    }
    // Read without tracking the path first: the path is needed only when
    // the body is refused, and keeping it costs on every field of a
    // thousand orders. A refused body is read again, tracked, for the same
    // error.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let err = err.into_inner();
        if !err.is_data() {
            return ApiError::MalformedJson(err.to_string());
        }
        let message = err.to_string();
        // serde_json appends " at line L column C"; the field name says more.
        let message = message
            .rfind(" at line ")
            .map_or(message.as_str(), |i| &message[..i]);
        invalid_field(&path, message, "body")
    })?;
    // Anything but whitespace after the object.
    deserializer
        .end()
        .map_err(|err| ApiError::MalformedJson(err.to_string()))?;
    Ok(value)
}

/// Parses a query string (without the `?`); every mistake is a 422 naming
/// the parameter.
pub(crate) fn query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        invalid_field(&path, &err.into_inner().to_string(), "query")
    })
}

/// The one way a serde error becomes a 422 naming its field: `path` is
/// where serde was (`.` at the top, `items[0]` in a list), `whole` what
/// to name when no field is to blame (`body`, `query`). serde reports a
/// missing (or repeated) field at the path of the object that holds it, so
/// the field's name is taken from the message; an unknown field is
/// reported where it is.
fn invalid_field(path: &str, message: &str, whole: &str) -> ApiError {
    let parent = if path == "." { "" } else { path };
    let inside =
        backticked(message, "missing field `").or_else(|| backticked(message, "duplicate field `"));
    let unknown = backticked(message, "unknown field `");
    let field = match (inside, unknown) {
        (Some(name), _) if parent.is_empty() => name.to_owned(),
        (Some(name), _) => format!("{parent}.{name}"),
        (None, Some(name)) if parent.is_empty() => name.to_owned(),
        (None, _) if parent.is_empty() => whole.to_owned(),
        (None, _) => parent.to_owned(),
    };
    ApiError::InvalidField {
        field,
        message: message.to_owned(),
    }
}

/// The text between `prefix` and the next backtick.
fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use wire::NewOrder;

    use super::*;

    fn field(body: &str) -> String {
        match parse::<NewOrder>(body.as_bytes()) {
            Err(ApiError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error for {body}, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        for body in [
            "{",
            "not json",
            r#"{"customer_id":"c","items":[]} trailing"#,
            "",
        ] {
            assert!(
                matches!(
                    parse::<NewOrder>(body.as_bytes()),
                    Err(ApiError::MalformedJson(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn shape_errors_name_the_field() {
        assert_eq!(field(r#"{"items":[]}"#), "customer_id");
        assert_eq!(field(r#"{"customer_id":"c"}"#), "items");
        assert_eq!(
            field(
                r#"{"customer_id":"c","items":[{"sku":"a","quantity":-1,"unit_price_cents":1}]}"#
            ),
            "items[0].quantity"
        );
        assert_eq!(
            field(r#"{"customer_id":"c","items":[{"sku":"a","unit_price_cents":1}]}"#),
            "items[0].quantity"
        );
        assert_eq!(field(r#"{"customer_id":7,"items":[]}"#), "customer_id");
        assert_eq!(field(r#"[1,2]"#), "body");
        assert_eq!(
            field(
                r#"{"customer_id":"c","items":[{"sku":"a","quantity":1.5,"unit_price_cents":1}]}"#
            ),
            "items[0].quantity"
        );
    }

    #[test]
    fn whole_numbers_written_as_floats_are_integers() {
        let order: NewOrder = parse(
            br#"{"customer_id":"c","items":[{"sku":"a","quantity":2.0,"unit_price_cents":1e3}]}"#,
        )
        .expect("parsed");
        assert_eq!(
            (order.items[0].quantity, order.items[0].unit_price_cents),
            (2, 1_000)
        );
    }

    #[test]
    fn unknown_fields_are_named() {
        assert_eq!(
            field(r#"{"customer_id":"c","items":[],"coupon":"x"}"#),
            "coupon"
        );
        assert_eq!(
            field(
                r#"{"customer_id":"c","items":[{"sku":"a","quantity":1,"unit_price_cents":1,"x":1}]}"#
            ),
            "items[0].x"
        );
    }

    #[test]
    fn messages_leave_out_positions() {
        let Err(ApiError::InvalidField { message, .. }) = parse::<NewOrder>(br#"{"items":[]}"#)
        else {
            panic!("expected a field error");
        };
        assert_eq!(message, "missing field `customer_id`");
    }

    #[test]
    fn json_content_types_are_recognised() {
        let ok = |v: &str| is_json(Some(&header::HeaderValue::from_str(v).expect("header")));
        assert!(ok("application/json"));
        assert!(ok("Application/JSON; charset=utf-8"));
        assert!(!ok("text/plain"));
        assert!(!is_json(None));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Query {
        limit: Option<usize>,
        from: String,
    }

    #[test]
    fn query_mistakes_name_their_parameter() {
        let field = |q: &str| match query::<Query>(q) {
            Err(ApiError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error for {q:?}, got {other:?}"),
        };
        assert_eq!(field("from=a&limit=many"), "limit");
        assert_eq!(field("limit=1"), "from");
        assert_eq!(field("from=a&form=b"), "form");
        assert_eq!(field("from=a&from=b"), "from");
    }
}
