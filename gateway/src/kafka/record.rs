//! Turning a consumed Kafka record into the dashboard's [`LiveRecord`]: the
//! one place foreign bytes become the gateway's own type.
//!
//! Any program may write to the topic, so nothing here assumes a record came
//! from the gateway: keys, headers and values may be missing, binary, huge or
//! invalid UTF-8, and each is shown as well as it can be, never rejected.
//! Keys and values in a Schema Registry's wire format are decoded first
//! ([`Schemas`]) when a registry is configured.

use std::sync::Arc;

use rdkafka::Message;
use rdkafka::message::Headers;
use serde_json::Value;
use wire::{JsonValue, LiveRecord, Payload, RecordHeader, SchemaRef, headers};

use crate::formats;
use crate::formats::json::Checked;
use crate::registry::{Lookup, Registry};

/// The schema registry records are decoded with, if one is configured.
#[derive(Debug, Clone, Default)]
pub struct Schemas(Option<Arc<Registry>>);

impl Schemas {
    pub fn new(registry: Option<Arc<Registry>>) -> Self {
        Self(registry)
    }

    /// Decodes the key and value of `message` that are in the registry's
    /// wire format; the first record naming a schema id waits for the
    /// registry (at most `registry::FETCH_TIMEOUT`), the rest use the cache.
    pub async fn decode(&self, message: &impl Message) -> Decoded {
        let Some(registry) = &self.0 else {
            return Decoded::default();
        };
        let (key, value) = framed_ids(message);
        let key = match key {
            Some(id) => Some(registry.lookup(id).await),
            None => None,
        };
        let value = match value {
            Some(id) => Some(registry.lookup(id).await),
            None => None,
        };
        Decoded::new(message, key, value)
    }

    /// [`Self::decode`] for code on the blocking pool.
    pub fn decode_blocking(&self, message: &impl Message) -> Decoded {
        let Some(registry) = &self.0 else {
            return Decoded::default();
        };
        let (key, value) = framed_ids(message);
        Decoded::new(
            message,
            key.map(|id| registry.lookup_blocking(id)),
            value.map(|id| registry.lookup_blocking(id)),
        )
    }
}

/// The schema ids a record's key and value start with, if any.
fn framed_ids(message: &impl Message) -> (Option<u32>, Option<u32>) {
    let id = |bytes: Option<&[u8]>| bytes.and_then(formats::framed).map(|f| f.id);
    (id(message.key()), id(message.payload()))
}

/// A record's key and value as their schemas decode them, where they
/// name one.
#[derive(Debug, Default)]
pub struct Decoded {
    key: Option<Part>,
    value: Option<Part>,
}

/// A key or value in the wire format: its schema, and its JSON text
/// (`None` when it could not be decoded; `schema.error` says why).
#[derive(Debug)]
struct Part {
    schema: SchemaRef,
    json: Option<Vec<u8>>,
}

/// The longest subject or error text a record carries: it is copied onto
/// every record of its schema.
const MAX_SCHEMA_TEXT_BYTES: usize = 256;

impl Decoded {
    fn new(message: &impl Message, key: Option<Lookup>, value: Option<Lookup>) -> Self {
        Self {
            key: key.and_then(|lookup| Part::new(message.key()?, lookup)),
            value: value.and_then(|lookup| Part::new(message.payload()?, lookup)),
        }
    }
}

impl Part {
    fn new(bytes: &[u8], lookup: Lookup) -> Option<Self> {
        let framed = formats::framed(bytes)?;
        let mut schema = SchemaRef {
            id: framed.id,
            subject: None,
            format: None,
            error: None,
        };
        let json = match lookup {
            Lookup::Found(found) => {
                schema.subject = found
                    .subject
                    .as_deref()
                    .map(|s| formats::cut(s, MAX_SCHEMA_TEXT_BYTES).to_owned());
                schema.format = Some(found.schema.kind().name().to_owned());
                match found.schema.decode_text(framed.body) {
                    Ok(text) => Some(text.into_owned()),
                    Err(e) => {
                        let why = e.to_string();
                        schema.error = Some(formats::cut(&why, MAX_SCHEMA_TEXT_BYTES).to_owned());
                        None
                    }
                }
            }
            Lookup::Missing(why) => {
                schema.error = Some(formats::cut(&why, MAX_SCHEMA_TEXT_BYTES).to_owned());
                None
            }
        };
        Some(Self { schema, json })
    }
}

/// Values larger than this are shown truncated: a browser showing hundreds of
/// records must not receive megabytes per record.
pub const MAX_SHOWN_BYTES: usize = 16 * 1024;
/// Binary values are shown as hex of their first bytes.
const MAX_HEX_BYTES: usize = 256;
/// Keys, header names and header values are cut to this many bytes.
pub const MAX_SHORT_TEXT_BYTES: usize = 256;
/// Headers shown per record, at most: a record may carry thousands.
pub const MAX_HEADERS: usize = 64;

/// Builds the live view of a consumed record.
pub fn to_live(message: &impl Message, consumed_at_ms: i64, decoded: &Decoded) -> LiveRecord {
    let headers: Vec<RecordHeader> = message
        .headers()
        .map(|hs| {
            hs.iter()
                .take(MAX_HEADERS)
                .map(|h| RecordHeader {
                    key: formats::cut(h.key, MAX_SHORT_TEXT_BYTES).to_owned(),
                    value: h.value.map(short_text),
                })
                .collect()
        })
        .unwrap_or_default();
    let produced_at_ms = headers
        .iter()
        .find(|h| h.key == headers::PRODUCED_AT_MS)
        .and_then(|h| h.value.as_deref()?.parse().ok());
    let value = message.payload();
    let key = match &decoded.key {
        Some(Part {
            json: Some(json), ..
        }) => Some(key_text(json)),
        _ => message.key().map(short_text),
    };
    let payload = match &decoded.value {
        Some(Part {
            json: Some(json), ..
        }) => json_payload(json),
        _ => decode_payload(value),
    };
    LiveRecord {
        partition: message.partition(),
        offset: message.offset(),
        key,
        headers,
        timestamp_ms: message.timestamp().to_millis(),
        produced_at_ms,
        consumed_at_ms,
        size: value.map_or(0, <[u8]>::len),
        payload,
        key_schema: decoded.key.as_ref().map(|p| p.schema.clone()),
        value_schema: decoded.value.as_ref().map(|p| p.schema.clone()),
    }
}

/// A decoded value as the feed shows it: whole up to [`MAX_SHOWN_BYTES`]
/// of JSON text, else that text cut.
fn json_payload(json: &[u8]) -> Payload {
    let text = String::from_utf8_lossy(json);
    if json.len() <= MAX_SHOWN_BYTES
        && let Some(value) = shown_json(&text)
    {
        return Payload::Json { value };
    }
    Payload::Text {
        text: formats::cut(&text, MAX_SHOWN_BYTES).to_owned(),
        truncated: json.len() > MAX_SHOWN_BYTES,
    }
}

/// A decoded key as the feed shows it: a string as itself, anything else
/// as its JSON text; cut like any key.
fn key_text(json: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(json) {
        Ok(Value::String(s)) if json.len() <= MAX_FILTERED_KEY_BYTES => s,
        _ => String::from_utf8_lossy(json).into_owned(),
    };
    formats::cut(&text, MAX_SHORT_TEXT_BYTES).to_owned()
}

/// The plain fields of a record as its document gives them, for a filter
/// the gateway evaluates itself (`core::bounded`) without building the
/// document: only for a record whose document would hold these exactly (a
/// key that is UTF-8 text of at most [`MAX_FILTERED_KEY_BYTES`], a value
/// that is JSON of at most [`MAX_FILTERED_BYTES`] nested at most 100 deep,
/// or none; neither in a schema registry's wire format when one is
/// configured).
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub key: Option<&'a str>,
    /// The value's JSON text, or `None` for a record without a value.
    pub value: Option<&'a [u8]>,
}

impl<'a> Fields<'a> {
    /// The fields of `message`, when its document would hold them as they
    /// are (see [`Fields`]); `None` otherwise.
    pub fn of(message: &'a impl Message, schemas: &Schemas) -> Option<Self> {
        let framed = |bytes: Option<&[u8]>| bytes.and_then(formats::framed).is_some();
        if schemas.0.is_some() && (framed(message.key()) || framed(message.payload())) {
            return None;
        }
        let key = match message.key() {
            None => None,
            Some(bytes) if bytes.len() <= MAX_FILTERED_KEY_BYTES => {
                Some(std::str::from_utf8(bytes).ok()?)
            }
            Some(_) => return None,
        };
        let value = match message.payload() {
            None => None,
            Some(bytes) if bytes.len() <= MAX_FILTERED_BYTES && is_json(bytes) => Some(bytes),
            Some(_) => return None,
        };
        Some(Self {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message.timestamp().to_millis(),
            key,
            value,
        })
    }
}

/// Most bytes of a value a filter sees: far above what the feed shows
/// ([`MAX_SHOWN_BYTES`]), so that filters and searches test whole records;
/// a longer value is given as the text of its first bytes, `truncated`.
pub const MAX_FILTERED_BYTES: usize = 1024 * 1024;

/// The JSON document filters test a record as (`core::jq`):
///
/// ```json
/// {"topic": "orders", "partition": 0, "offset": 7, "timestamp": 1795857549813,
///  "key": "customer-42", "headers": [{"key": "order-id", "value": "01a2…"}],
///  "value": {"total_cents": 1200}, "value_format": "json", "truncated": false, "size": 190}
/// ```
///
/// `value` is the value parsed as JSON when it is JSON (any JSON value, as
/// `jq` reads it), else its text, else (not UTF-8) its bytes in base64;
/// `null` when the record has none; `value_format` says which (`json`,
/// `text`, `base64`, `null`). A key or value a registry's schema decodes is
/// its JSON, `value_format` the schema's type (`avro`, `protobuf`, `json`),
/// and `key_schema` / `value_schema` name the schema
/// (`{"id": 7, "subject": "orders-value", "format": "avro"}`, with `error`
/// when it could not be decoded), or are `null`. Headers keep their order and repeated keys;
/// a header value that is not UTF-8 is base64 with `"base64": true`. Keys
/// that are not UTF-8 are shown with replacement characters. `timestamp` is
/// milliseconds since the epoch, or `null`.
///
/// Bounded whatever the record, so that a filter's worker always takes it:
/// the value's text at most [`MAX_FILTERED_BYTES`] as JSON text (escapes
/// included), the key [`MAX_FILTERED_KEY_BYTES`], [`MAX_FILTERED_HEADERS`]
/// headers of [`MAX_SHORT_TEXT_BYTES`]-byte names and
/// [`MAX_FILTERED_HEADER_BYTES`]-byte values: about 2.2 MiB in all.
pub fn document(message: &impl Message, decoded: &Decoded) -> Vec<u8> {
    capped_document(message, decoded, &FILTERED)
}

/// Most bytes of a value `GET /api/record` serves ([`full`]); a larger
/// record is refused, not cut.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// A record larger than [`MAX_RECORD_BYTES`]: its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge(pub usize);

/// The whole record, as [`document`] shapes it but uncut: the value up to
/// [`MAX_RECORD_BYTES`] (else [`TooLarge`]), the key up to 1 MiB, every
/// header up to 1,024 of 64 KiB each. Escapes can make the value's JSON
/// text longer than its bytes; a value cut for that says `truncated`.
pub fn full(message: &impl Message, decoded: &Decoded) -> Result<Vec<u8>, TooLarge> {
    let size = message.payload().map_or(0, <[u8]>::len);
    if size > MAX_RECORD_BYTES {
        return Err(TooLarge(size));
    }
    Ok(capped_document(message, decoded, &WHOLE))
}

/// How much of each part of a record a document holds.
struct Caps {
    value: usize,
    key: usize,
    headers: usize,
    header_value: usize,
}

/// What filters see: about 2.2 MiB at most.
const FILTERED: Caps = Caps {
    value: MAX_FILTERED_BYTES,
    key: MAX_FILTERED_KEY_BYTES,
    headers: MAX_FILTERED_HEADERS,
    header_value: MAX_FILTERED_HEADER_BYTES,
};

/// What `GET /api/record` serves.
const WHOLE: Caps = Caps {
    value: 6 * MAX_RECORD_BYTES,
    key: 1024 * 1024,
    headers: 1024,
    header_value: 64 * 1024,
};

fn capped_document(message: &impl Message, decoded: &Decoded, caps: &Caps) -> Vec<u8> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let value = message.payload();
    let mut out = Vec::with_capacity(256 + value.map_or(0, |v| v.len().min(caps.value)));
    out.extend_from_slice(b"{\"topic\":");
    json_str(&mut out, message.topic(), usize::MAX);
    out.extend_from_slice(
        format!(
            ",\"partition\":{},\"offset\":{},\"timestamp\":",
            message.partition(),
            message.offset()
        )
        .as_bytes(),
    );
    match message.timestamp().to_millis() {
        Some(ms) => out.extend_from_slice(ms.to_string().as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"key\":");
    match (message.key(), &decoded.key) {
        (
            Some(_),
            Some(Part {
                json: Some(json), ..
            }),
        ) => {
            embed_json(&mut out, json, caps.key);
        }
        (Some(key), _) => {
            json_str(&mut out, &String::from_utf8_lossy(key), caps.key);
        }
        (None, _) => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"headers\":[");
    if let Some(headers) = message.headers() {
        for (i, header) in headers.iter().take(caps.headers).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"key\":");
            json_str(&mut out, header.key, MAX_SHORT_TEXT_BYTES);
            out.extend_from_slice(b",\"value\":");
            match header.value.map(|v| (v, std::str::from_utf8(v))) {
                None => out.extend_from_slice(b"null"),
                Some((_, Ok(text))) => {
                    json_str(&mut out, text, caps.header_value);
                }
                Some((bytes, Err(_))) => {
                    let shown = &bytes[..bytes.len().min(caps.header_value / 4 * 3)];
                    json_str(&mut out, &STANDARD.encode(shown), usize::MAX);
                    out.extend_from_slice(b",\"base64\":true");
                }
            }
            out.push(b'}');
        }
    }
    out.extend_from_slice(b"],\"value\":");
    let size = value.map_or(0, <[u8]>::len);
    let (format, truncated) = match (value, &decoded.value) {
        (
            Some(_),
            Some(Part {
                json: Some(json),
                schema,
            }),
        ) => {
            let cut = embed_json(&mut out, json, caps.value);
            (schema.format.as_deref().unwrap_or("json"), cut)
        }
        (value, _) => raw_value(&mut out, value, caps.value),
    };
    let schema = |part: &Option<Part>| {
        part.as_ref()
            .and_then(|p| serde_json::to_string(&p.schema).ok())
            .unwrap_or_else(|| "null".into())
    };
    out.extend_from_slice(
        format!(
            ",\"value_format\":\"{format}\",\"truncated\":{truncated},\"size\":{size},\
             \"key_schema\":{},\"value_schema\":{}}}",
            schema(&decoded.key),
            schema(&decoded.value)
        )
        .as_bytes(),
    );
    out
}

/// Writes a decoded value's JSON text as is when it fits in `cap` bytes,
/// else as a string of its first `cap` bytes of text; whether it was cut.
fn embed_json(out: &mut Vec<u8>, json: &[u8], cap: usize) -> bool {
    if json.len() <= cap {
        out.extend_from_slice(json);
        return false;
    }
    json_str(out, &String::from_utf8_lossy(json), cap);
    true
}

/// Writes a value not decoded by a schema; its format, and whether it was cut.
fn raw_value(out: &mut Vec<u8>, value: Option<&[u8]>, cap: usize) -> (&'static str, bool) {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    match value {
        None => {
            out.extend_from_slice(b"null");
            ("null", false)
        }
        Some(bytes) if bytes.len() <= cap && is_json(bytes) => {
            out.extend_from_slice(bytes);
            ("json", false)
        }
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => ("text", json_str(out, text, cap)),
            // Text cut inside a character past the cap: the text before it.
            Err(err) if err.error_len().is_none() || err.valid_up_to() >= cap => {
                let valid = std::str::from_utf8(&bytes[..err.valid_up_to()]).unwrap_or_default();
                json_str(out, valid, cap);
                ("text", true)
            }
            Err(_) => {
                let shown = &bytes[..bytes.len().min(cap / 4 * 3)];
                json_str(out, &STANDARD.encode(shown), usize::MAX);
                ("base64", shown.len() < bytes.len())
            }
        },
    }
}

/// A key's bytes a filter sees at most, as JSON text.
pub const MAX_FILTERED_KEY_BYTES: usize = 16 * 1024;
/// A header value's bytes a filter sees at most, as JSON text.
pub const MAX_FILTERED_HEADER_BYTES: usize = 4 * 1024;

/// Writes `text` as a JSON string of at most `cap` bytes between its
/// quotes, escaped as JSON escapes it (a control character takes up to six
/// bytes); whether it had to be cut.
fn json_str(out: &mut Vec<u8>, text: &str, cap: usize) -> bool {
    out.push(b'"');
    let mut written = 0;
    let mut cut = false;
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let escaped: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            '\u{8}' => b"\\b",
            '\u{c}' => b"\\f",
            c if (c as u32) < 0x20 => {
                let code = format!("\\u{:04x}", c as u32);
                if written + code.len() > cap {
                    cut = true;
                    break;
                }
                written += code.len();
                out.extend_from_slice(code.as_bytes());
                continue;
            }
            c => c.encode_utf8(&mut buf).as_bytes(),
        };
        if written + escaped.len() > cap {
            cut = true;
            break;
        }
        written += escaped.len();
        out.extend_from_slice(escaped);
    }
    out.push(b'"');
    cut
}

/// Headers a filter sees per record, at most.
pub const MAX_FILTERED_HEADERS: usize = 256;

/// Deepest nesting of a JSON value given to filters, well within what
/// JSON readers take (serde_json's 128, the document around it included):
/// a deeper one is tested as text, so that no reader recurses deeper.
const MAX_FILTERED_DEPTH: usize = 100;

/// Whether `bytes` are one JSON value nested at most
/// [`MAX_FILTERED_DEPTH`] deep, with no lone surrogate (see
/// `formats::json`).
fn is_json(bytes: &[u8]) -> bool {
    formats::json::valid(bytes, MAX_FILTERED_DEPTH)
}

/// The first header named `key`, as (shortened) text.
pub(super) fn header_text(message: &impl Message, key: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .map(short_text)
}

/// Decodes a record value: JSON when it parses, else text, else hex.
pub fn decode_payload(value: Option<&[u8]>) -> Payload {
    let Some(bytes) = value else {
        return Payload::Null;
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        let shown = &bytes[..bytes.len().min(MAX_HEX_BYTES)];
        return Payload::Binary {
            hex: shown.iter().map(|b| format!("{b:02x}")).collect(),
            truncated: shown.len() < bytes.len(),
        };
    };
    if bytes.len() <= MAX_SHOWN_BYTES {
        // Only a document is JSON here: a bare number or string would render
        // the same as text, and `123` from a text producer is not an object.
        let looks_like_document = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
        if looks_like_document && let Some(value) = shown_json(text) {
            return Payload::Json { value };
        }
        return Payload::Text {
            text: text.to_owned(),
            truncated: false,
        };
    }
    Payload::Text {
        text: formats::cut(text, MAX_SHOWN_BYTES).to_owned(),
        truncated: true,
    }
}

/// `text` as a JSON value to show, sent as it is, if it is JSON every
/// reader takes: nested at most [`MAX_FILTERED_DEPTH`] deep (a reader's
/// limit, serde_json's 128, counts the message around the value too) and
/// no lone surrogate (serde_json refuses to read one into a string).
///
/// A value written over several lines goes as one: a search's answer is a
/// JSON text per line (NDJSON), and a line break inside a record would
/// split it.
fn shown_json(text: &str) -> Option<JsonValue> {
    match formats::json::check(text.as_bytes(), MAX_FILTERED_DEPTH) {
        Checked::Invalid => return None,
        Checked::Json => {}
        // A number past a float's range (`1e400`): readers that hold
        // numbers as floats, the page's serde_json among them, refuse the
        // whole message. Read as the page reads it, rarely.
        Checked::JsonWithWideNumbers => {
            serde_json::from_str::<Value>(text).ok()?;
        }
    }
    if text.contains(['\n', '\r']) {
        return JsonValue::from_text(formats::json::compact(text));
    }
    JsonValue::from_text(text.to_owned())
}

/// A record message of partition 0 at `offset` carrying `payload`, for tests.
#[cfg(test)]
pub(crate) fn record_message(offset: i64, payload: wire::Payload) -> wire::ServerMessage {
    wire::ServerMessage::Record(wire::LiveRecord {
        partition: 0,
        offset,
        key: None,
        headers: vec![],
        timestamp_ms: None,
        produced_at_ms: None,
        consumed_at_ms: 1,
        size: 0,
        payload,
        key_schema: None,
        value_schema: None,
    })
}

/// A key or header value as text: invalid UTF-8 replaced, long values cut.
fn short_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    formats::cut(&text, MAX_SHORT_TEXT_BYTES).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_documents_are_parsed() {
        assert_eq!(
            decode_payload(Some(br#"{"order_id":"a","n":[1,2]}"#)),
            Payload::Json {
                value: json!({"order_id": "a", "n": [1, 2]}).into()
            }
        );
    }

    #[test]
    fn plain_text_stays_text() {
        for text in ["new order created!", "123", "\"quoted\"", "{not json"] {
            assert_eq!(
                decode_payload(Some(text.as_bytes())),
                Payload::Text {
                    text: text.into(),
                    truncated: false
                },
                "{text}"
            );
        }
    }

    #[test]
    fn missing_value_is_null() {
        assert_eq!(decode_payload(None), Payload::Null);
    }

    #[test]
    fn invalid_utf8_is_shown_as_hex() {
        assert_eq!(
            decode_payload(Some(&[0xff, 0x00, 0x41])),
            Payload::Binary {
                hex: "ff0041".into(),
                truncated: false
            }
        );
        let Payload::Binary { hex, truncated } = decode_payload(Some(&[0xff; 1000])) else {
            panic!("expected binary");
        };
        assert_eq!(hex.len(), MAX_HEX_BYTES * 2);
        assert!(truncated);
    }

    #[test]
    fn huge_values_are_truncated_on_a_char_boundary() {
        // 'é' is two bytes, so the limit falls inside a character.
        let text = format!("a{}", "é".repeat(MAX_SHOWN_BYTES));
        let Payload::Text {
            text: shown,
            truncated,
        } = decode_payload(Some(text.as_bytes()))
        else {
            panic!("expected text");
        };
        assert!(truncated);
        assert_eq!(shown.len(), MAX_SHOWN_BYTES - 1);
        assert!(text.starts_with(&shown));
    }

    /// A value is sent as its producer's text, so only JSON every reader
    /// takes goes as JSON: the page's serde_json stops at 128 levels,
    /// counting the three of the message around the value, and refuses a
    /// lone surrogate.
    #[test]
    fn json_is_shown_as_written_when_every_reader_takes_it() {
        let frame = |payload: Payload| {
            let message = record_message(0, payload);
            let text = serde_json::to_string(&message).expect("a frame");
            let read: wire::ServerMessage = serde_json::from_str(&text).expect("the page reads it");
            assert_eq!(read, message);
            text
        };
        let written = br#"{"total_cents": 1.50,  "a": "\u00e9"}"#;
        let shown = decode_payload(Some(written));
        assert!(matches!(&shown, Payload::Json { .. }), "{shown:?}");
        assert!(frame(shown).contains(r#"{"total_cents": 1.50,  "a": "\u00e9"}"#));
        for depth in [MAX_FILTERED_DEPTH, MAX_FILTERED_DEPTH + 1, 126, 127] {
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let shown = decode_payload(Some(nested.as_bytes()));
            let json = matches!(shown, Payload::Json { .. });
            assert_eq!(json, depth <= MAX_FILTERED_DEPTH, "{depth}");
            frame(shown);
        }
        // Over several lines: sent as one (a search answers a line each).
        let pretty = decode_payload(Some(b"{\n  \"a\": [1,\r\n 2]\n}\n"));
        assert!(matches!(&pretty, Payload::Json { .. }), "{pretty:?}");
        assert!(frame(pretty).contains(r#""value":{"a":[1,2]}"#));
        // A number past a float's range: text, which every reader takes.
        for wide in [
            "{\"a\": 1e400}".to_owned(),
            "[-1e309]".to_owned(),
            format!("[1{}]", "0".repeat(400)),
        ] {
            let shown = decode_payload(Some(wide.as_bytes()));
            assert!(matches!(&shown, Payload::Text { .. }), "{shown:?}");
            frame(shown);
        }
        let within = decode_payload(Some(b"{\"a\": 1e300, \"b\": 1e-400}"));
        assert!(matches!(&within, Payload::Json { .. }), "{within:?}");
        frame(within);
        let lone = decode_payload(Some(br#"{"s": "\ud800"}"#));
        assert!(matches!(lone, Payload::Text { .. }), "{lone:?}");
    }

    #[test]
    fn huge_json_is_shown_as_truncated_text() {
        let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(MAX_SHOWN_BYTES));
        assert!(matches!(
            decode_payload(Some(big.as_bytes())),
            Payload::Text {
                truncated: true,
                ..
            }
        ));
    }

    #[test]
    fn many_and_long_headers_are_cut() {
        use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
        let long = "k".repeat(10_000);
        let mut headers = OwnedHeaders::new();
        for _ in 0..1_000 {
            headers = headers.insert(Header {
                key: &long,
                value: Some(long.as_bytes()),
            });
        }
        let message = OwnedMessage::new(
            None,
            Some(long.clone().into_bytes()),
            "t".into(),
            Timestamp::NotAvailable,
            0,
            0,
            Some(headers),
        );
        let live = to_live(&message, 0, &Decoded::default());
        assert_eq!(live.headers.len(), MAX_HEADERS);
        assert!(
            live.headers
                .iter()
                .all(|h| h.key.len() == MAX_SHORT_TEXT_BYTES
                    && h.value.as_ref().map(String::len) == Some(MAX_SHORT_TEXT_BYTES))
        );
        assert_eq!(live.key.map(|k| k.len()), Some(MAX_SHORT_TEXT_BYTES));
    }

    fn document_of(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> serde_json::Value {
        use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
        let mut owned = OwnedHeaders::new();
        for &(key, value) in headers {
            owned = owned.insert(Header { key, value });
        }
        let message = OwnedMessage::new(
            value.map(<[u8]>::to_vec),
            key.map(<[u8]>::to_vec),
            "orders".into(),
            Timestamp::CreateTime(1_795_857_549_813),
            2,
            41,
            Some(owned),
        );
        serde_json::from_slice(&document(&message, &Decoded::default()))
            .expect("a document is JSON")
    }

    #[test]
    fn a_document_holds_the_whole_record_for_filters() {
        let value = b"{\n  \"total_cents\": 12000\n}";
        let doc = document_of(
            Some(b"customer-42"),
            Some(value),
            &[
                ("order-id", Some(b"a")),
                ("order-id", Some(b"b")),
                ("bin", Some(&[0xff, 0x00])),
                ("none", None),
            ],
        );
        assert_eq!(
            doc,
            json!({
                "topic": "orders", "partition": 2, "offset": 41, "timestamp": 1_795_857_549_813_i64,
                "key": "customer-42",
                "headers": [
                    {"key": "order-id", "value": "a"},
                    {"key": "order-id", "value": "b"},
                    {"key": "bin", "value": "/wA=", "base64": true},
                    {"key": "none", "value": null}
                ],
                "value": {"total_cents": 12000}, "value_format": "json", "truncated": false,
                "size": value.len(), "key_schema": null, "value_schema": null
            })
        );
    }

    #[test]
    fn a_document_gives_any_value_a_shape() {
        // Any JSON value, as jq reads a line.
        assert_eq!(document_of(None, Some(b"42"), &[])["value"], json!(42));
        let text = document_of(None, Some(b"new order \"created\""), &[]);
        assert_eq!(text["value"], json!("new order \"created\""));
        assert_eq!(text["value_format"], "text");
        assert_eq!(text["key"], json!(null));
        let binary = document_of(Some(&[0xff]), Some(&[0xff, 0xfe]), &[]);
        assert_eq!(binary["value"], "//4=");
        assert_eq!(binary["value_format"], "base64");
        assert_eq!(binary["key"], "\u{fffd}");
        let none = document_of(None, None, &[]);
        assert_eq!(
            (&none["value"], &none["value_format"]),
            (&json!(null), &json!("null"))
        );
        // Deeper than the bound: tested as text, never parsed deeper.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let doc = document_of(None, Some(deep.as_bytes()), &[]);
        assert_eq!(doc["value_format"], "text");
        let ok = format!(
            "{}{}",
            "[".repeat(MAX_FILTERED_DEPTH),
            "]".repeat(MAX_FILTERED_DEPTH)
        );
        assert_eq!(
            document_of(None, Some(ok.as_bytes()), &[])["value_format"],
            "json"
        );
        // Brackets inside strings do not count.
        let quoted = format!(r#"{{"a":"{}\"["}}"#, "[".repeat(1000));
        assert_eq!(
            document_of(None, Some(quoted.as_bytes()), &[])["value_format"],
            "json"
        );
    }

    #[test]
    fn a_lone_surrogate_makes_a_value_text_for_filters() {
        // serde_json lets `\ud800` alone through a check; jaq's reader does
        // not, so the value is not JSON to a filter: text, and no fields.
        let value = br#"{"n": 1, "s": "\ud800"}"#;
        let doc = document_of(None, Some(value), &[]);
        assert_eq!(doc["value_format"], "text");
        let message = rdkafka::message::OwnedMessage::new(
            Some(value.to_vec()),
            None,
            "t".into(),
            rdkafka::message::Timestamp::NotAvailable,
            0,
            0,
            None,
        );
        assert!(Fields::of(&message, &Schemas::default()).is_none());
        let paired = br#"{"n": 1, "s": "\ud83d\ude00"}"#;
        assert_eq!(document_of(None, Some(paired), &[])["value_format"], "json");
    }

    #[test]
    fn a_huge_value_is_given_as_its_first_mebibyte_of_text() {
        let big = format!(r#"{{"blob":"{}é"}}"#, "x".repeat(MAX_FILTERED_BYTES - 12));
        let doc = document_of(None, Some(big.as_bytes()), &[]);
        assert_eq!(doc["value_format"], "text");
        assert_eq!(doc["truncated"], true);
        assert_eq!(doc["size"], big.len());
        let shown = doc["value"].as_str().expect("text");
        assert!(shown.len() <= MAX_FILTERED_BYTES && big.starts_with(shown));
    }

    #[test]
    fn a_document_stays_bounded_whatever_the_record() {
        use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
        // Control characters take six bytes each as JSON text; a key of
        // megabytes; many long headers.
        let value = vec![0x01_u8; 990_000];
        let key = vec![b'k'; 5_000_000];
        let long = "v".repeat(100_000);
        let mut headers = OwnedHeaders::new();
        for _ in 0..2_000 {
            headers = headers.insert(Header {
                key: &long,
                value: Some(long.as_bytes()),
            });
        }
        let message = OwnedMessage::new(
            Some(value),
            Some(key),
            "t".into(),
            Timestamp::NotAvailable,
            0,
            0,
            Some(headers),
        );
        let bytes = document(&message, &Decoded::default());
        assert!(bytes.len() < 2_400_000, "{}", bytes.len());
        let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(doc["truncated"], true);
        assert_eq!(doc["value_format"], "text");
        assert!(
            doc["value"]
                .as_str()
                .is_some_and(|v| v.len() <= MAX_FILTERED_BYTES / 6 + 1)
        );
        assert!(
            doc["key"]
                .as_str()
                .is_some_and(|k| k.len() == MAX_FILTERED_KEY_BYTES)
        );
        assert_eq!(
            doc["headers"].as_array().map(Vec::len),
            Some(MAX_FILTERED_HEADERS)
        );
    }

    #[test]
    fn json_text_is_escaped_as_serde_json_escapes_it() {
        let text = "a\"b\\c\nd\u{1}é\u{1f}\t\r\u{8}\u{c}";
        let mut out = Vec::new();
        assert!(!json_str(&mut out, text, usize::MAX));
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            serde_json::to_string(text).expect("JSON")
        );
        let mut cut = Vec::new();
        assert!(json_str(&mut cut, "ab\u{1}", 3));
        assert_eq!(cut, b"\"ab\"");
    }

    /// A record whose key and value are framed with schema ids 1 and 2.
    fn framed_message(key_body: &[u8], value_body: &[u8]) -> rdkafka::message::OwnedMessage {
        use rdkafka::message::{OwnedMessage, Timestamp};
        let frame = |id: u8, body: &[u8]| [&[0, 0, 0, 0, id][..], body].concat();
        OwnedMessage::new(
            Some(frame(2, value_body)),
            Some(frame(1, key_body)),
            "orders".into(),
            Timestamp::CreateTime(5),
            0,
            9,
            None,
        )
    }

    fn found(id: u32, kind: formats::Kind, text: &str) -> Lookup {
        let source = formats::Source {
            text: text.into(),
            references: Vec::new(),
        };
        Lookup::Found(Arc::new(crate::registry::Found {
            id,
            subject: Some(format!("orders-{id}")),
            schema: formats::Schema::parse(Some(kind), &source).expect("schema"),
        }))
    }

    #[test]
    fn a_decoded_key_and_value_are_shown_and_filtered_as_json() {
        // Avro: the string "k1" as the key, the long 7 as the value.
        let message = framed_message(&[4, b'k', b'1'], &[14]);
        let decoded = Decoded::new(
            &message,
            Some(found(1, formats::Kind::Avro, r#""string""#)),
            Some(found(2, formats::Kind::Avro, r#""long""#)),
        );
        let live = to_live(&message, 0, &decoded);
        assert_eq!(live.key.as_deref(), Some("k1"));
        assert_eq!(
            live.payload,
            Payload::Json {
                value: json!(7).into()
            }
        );
        assert_eq!(
            live.value_schema,
            Some(SchemaRef {
                id: 2,
                subject: Some("orders-2".into()),
                format: Some("avro".into()),
                error: None
            })
        );
        assert_eq!(live.size, 6, "the size is the bytes', framing included");
        let doc: Value = serde_json::from_slice(&document(&message, &decoded)).expect("JSON");
        assert_eq!(
            (&doc["key"], &doc["value"], &doc["value_format"]),
            (&json!("k1"), &json!(7), &json!("avro"))
        );
        assert_eq!(
            doc["value_schema"],
            json!({"id": 2, "subject": "orders-2", "format": "avro"})
        );
    }

    #[test]
    fn an_unknown_or_wrong_schema_shows_the_bytes_and_says_why() {
        let message = framed_message(b"k", &[0xff, 0xff]);
        let decoded = Decoded::new(
            &message,
            None,
            Some(Lookup::Missing(
                "schema id 2 is not in the schema registry".into(),
            )),
        );
        let live = to_live(&message, 0, &decoded);
        assert_eq!(live.key_schema, None);
        assert!(matches!(&live.payload, Payload::Binary { hex, .. } if hex == "0000000002ffff"));
        assert_eq!(
            live.value_schema.as_ref().and_then(|s| s.error.as_deref()),
            Some("schema id 2 is not in the schema registry")
        );
        let doc: Value = serde_json::from_slice(&document(&message, &decoded)).expect("JSON");
        assert_eq!(doc["value_format"], "base64");
        assert_eq!(doc["value_schema"]["id"], 2);
        // A schema that does not read the bytes: the same, with its reason.
        let wrong = Decoded::new(
            &message,
            None,
            Some(found(2, formats::Kind::Avro, r#""int""#)),
        );
        let live = to_live(&message, 0, &wrong);
        assert!(matches!(live.payload, Payload::Binary { .. }));
        let schema = live.value_schema.expect("a schema");
        assert_eq!(schema.format.as_deref(), Some("avro"));
        assert!(schema.error.is_some());
    }

    #[test]
    fn a_large_decoded_value_is_cut_like_any_other() {
        let long = "x".repeat(MAX_SHOWN_BYTES * 2);
        let mut body = Vec::new();
        let n = long.len() as u64 * 2; // zig-zag
        let mut v = n;
        while v >= 0x80 {
            body.push((v as u8) | 0x80);
            v >>= 7;
        }
        body.push(v as u8);
        body.extend_from_slice(long.as_bytes());
        let message = framed_message(b"", &body);
        let decoded = Decoded::new(
            &message,
            None,
            Some(found(2, formats::Kind::Avro, r#""string""#)),
        );
        let Payload::Text { text, truncated } = to_live(&message, 0, &decoded).payload else {
            panic!("expected text");
        };
        assert!(truncated);
        assert_eq!(text.len(), MAX_SHOWN_BYTES);
    }

    #[test]
    fn short_text_replaces_invalid_utf8_and_cuts() {
        assert_eq!(short_text(b"ok\xff"), "ok\u{fffd}");
        assert_eq!(short_text(&[b'k'; 1000]).len(), MAX_SHORT_TEXT_BYTES);
    }
}
