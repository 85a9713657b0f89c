//! Turning a consumed Kafka record into the dashboard's [`LiveRecord`]: the
//! one place foreign bytes become the gateway's own type.
//!
//! Any program may write to the topic, so nothing here assumes a record came
//! from the gateway: keys, headers and values may be missing, binary, huge or
//! invalid UTF-8, and each is shown as well as it can be, never rejected.

use rdkafka::Message;
use rdkafka::message::Headers;
use wire::{LiveRecord, Payload, RecordHeader, headers};

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
pub fn to_live(message: &impl Message, consumed_at_ms: i64) -> LiveRecord {
    let headers: Vec<RecordHeader> = message
        .headers()
        .map(|hs| {
            hs.iter()
                .take(MAX_HEADERS)
                .map(|h| RecordHeader {
                    key: truncate_utf8(h.key, MAX_SHORT_TEXT_BYTES).to_owned(),
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
    LiveRecord {
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(short_text),
        headers,
        timestamp_ms: message.timestamp().to_millis(),
        produced_at_ms,
        consumed_at_ms,
        size: value.map_or(0, <[u8]>::len),
        payload: decode_payload(value),
    }
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
        if looks_like_document && let Ok(value) = serde_json::from_str(text) {
            return Payload::Json { value };
        }
        return Payload::Text {
            text: text.to_owned(),
            truncated: false,
        };
    }
    Payload::Text {
        text: truncate_utf8(text, MAX_SHOWN_BYTES).to_owned(),
        truncated: true,
    }
}

/// A key or header value as text: invalid UTF-8 replaced, long values cut.
fn short_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    truncate_utf8(&text, MAX_SHORT_TEXT_BYTES).to_owned()
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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
                value: json!({"order_id": "a", "n": [1, 2]})
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
        let live = to_live(&message, 0);
        assert_eq!(live.headers.len(), MAX_HEADERS);
        assert!(
            live.headers
                .iter()
                .all(|h| h.key.len() == MAX_SHORT_TEXT_BYTES
                    && h.value.as_ref().map(String::len) == Some(MAX_SHORT_TEXT_BYTES))
        );
        assert_eq!(live.key.map(|k| k.len()), Some(MAX_SHORT_TEXT_BYTES));
    }

    #[test]
    fn short_text_replaces_invalid_utf8_and_cuts() {
        assert_eq!(short_text(b"ok\xff"), "ok\u{fffd}");
        assert_eq!(short_text(&[b'k'; 1000]).len(), MAX_SHORT_TEXT_BYTES);
    }
}
