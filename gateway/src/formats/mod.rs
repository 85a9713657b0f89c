//! Record formats a Schema Registry describes: Confluent's wire format
//! (a zero byte, a four-byte schema id, then the encoded value), and
//! decoding its Avro, Protobuf and JSON Schema values into JSON for the
//! feed, filters and search.
//!
//! Pure: schemas arrive as text (from `registry`), values as bytes (from
//! `kafka::record`). Any program may write to a topic and any schema may
//! describe it, so decoding is bounded whatever the bytes: nesting at most
//! [`MAX_DEPTH`] deep, and at most [`node_budget`] values per record (a few
//! bytes may not claim millions of values), an error past either, never a
//! panic or a runaway allocation.

mod avro;
pub(crate) mod json;
mod protobuf;

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// Deepest nesting decoded (JSON readers downstream take 128).
pub const MAX_DEPTH: usize = 64;
/// Most JSON values one record decodes into: an Avro array of nulls costs
/// no bytes per item, so the input's size alone bounds nothing.
pub const MAX_NODES: usize = 1_000_000;

/// The values a body of `len` bytes may decode into: 16 per byte and
/// 10,000 more (a record of many empty fields, Protobuf's defaults), at
/// most [`MAX_NODES`]; so that decoding costs a bounded multiple of what
/// was read.
pub fn node_budget(len: usize) -> usize {
    len.saturating_mul(16).saturating_add(10_000).min(MAX_NODES)
}

/// A value in Confluent's wire format: the schema id and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed<'a> {
    pub id: u32,
    pub body: &'a [u8],
}

/// The schema id and body of a value in Confluent's wire format, if it is
/// in it (a zero magic byte and a four-byte big-endian id). Only a guess
/// until the id resolves: any binary value may start with a zero byte.
pub fn framed(bytes: &[u8]) -> Option<Framed<'_>> {
    match bytes {
        [0, a, b, c, d, body @ ..] => Some(Framed {
            id: u32::from_be_bytes([*a, *b, *c, *d]),
            body,
        }),
        _ => None,
    }
}

/// Takes `n` values from what a record may still decode into.
fn spend(nodes_left: &mut usize, n: usize) -> Result<(), DecodeError> {
    *nodes_left = nodes_left.checked_sub(n).ok_or_else(|| {
        DecodeError::new("more values than its size allows (16 a byte, 10,000 more)")
    })?;
    Ok(())
}

/// What a registry says a schema is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Avro,
    Protobuf,
    Json,
}

impl Kind {
    /// From the registry's `schemaType`.
    pub fn from_registry(schema_type: &str) -> Option<Self> {
        match schema_type {
            "AVRO" => Some(Self::Avro),
            "PROTOBUF" => Some(Self::Protobuf),
            "JSON" => Some(Self::Json),
            _ => None,
        }
    }

    /// The name the dashboard shows, and filters see as `value_format`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avro => "avro",
            Self::Protobuf => "protobuf",
            Self::Json => "json",
        }
    }
}

/// A schema's text, and the texts it refers to by name (Avro's named types
/// in other subjects, Protobuf's imports), as a registry serves them.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub text: String,
    /// (name, text): the reference's name as the schema uses it (an Avro
    /// type's full name, a Protobuf import's path).
    pub references: Vec<(String, String)>,
}

/// A schema ready to decode values with.
pub enum Schema {
    Avro(avro::Avro),
    Protobuf(protobuf::Protobuf),
    /// JSON Schema: the value is JSON text; the schema is only shown.
    Json,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind().name())
    }
}

impl Schema {
    /// Parses a schema, or says why it cannot be used. Without a `kind`
    /// (Confluent's registry omits `schemaType` for Avro; Apicurio's omits
    /// it for every type) the text tells: an Avro schema, else another JSON
    /// document (a JSON Schema), else `.proto` text or a descriptor.
    pub fn parse(kind: Option<Kind>, source: &Source) -> Result<Self, DecodeError> {
        Ok(match kind {
            Some(Kind::Avro) => Self::Avro(avro::Avro::parse(source)?),
            Some(Kind::Protobuf) => Self::Protobuf(protobuf::Protobuf::parse(source)?),
            Some(Kind::Json) => Self::Json,
            None if looks_like_json_schema(&source.text) => Self::Json,
            None => match avro::Avro::parse(source) {
                Ok(avro) => Self::Avro(avro),
                Err(_)
                    if serde_json::from_str::<Value>(&source.text).is_ok_and(|v| v.is_object()) =>
                {
                    Self::Json
                }
                Err(avro) => {
                    Self::Protobuf(protobuf::Protobuf::parse(source).map_err(|proto| {
                        DecodeError::new(format!("neither Avro ({avro}) nor Protobuf ({proto})"))
                    })?)
                }
            },
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Self::Avro(_) => Kind::Avro,
            Self::Protobuf(_) => Kind::Protobuf,
            Self::Json => Kind::Json,
        }
    }

    /// Decodes the body of a framed value (what follows the schema id).
    pub fn decode(&self, body: &[u8]) -> Result<Value, DecodeError> {
        match self {
            Self::Avro(avro) => avro.decode(body),
            Self::Protobuf(protobuf) => protobuf.decode(body),
            Self::Json => {
                checked_json(body)?;
                serde_json::from_slice(body).map_err(|e| DecodeError::new(format!("not JSON: {e}")))
            }
        }
    }

    /// The body decoded as JSON text: what the gateway keeps and sends (a
    /// JSON Schema value is its own text, checked, never made a tree).
    pub fn decode_text<'a>(&self, body: &'a [u8]) -> Result<Cow<'a, [u8]>, DecodeError> {
        match self {
            Self::Json => checked_json(body).map(|()| Cow::Borrowed(body)),
            other => {
                let value = other.decode(body)?;
                serde_json::to_vec(&value)
                    .map(Cow::Owned)
                    .map_err(|e| DecodeError::new(format!("to JSON: {e}")))
            }
        }
    }
}

/// Whether a JSON Schema value is one JSON value nested at most
/// [`MAX_DEPTH`] deep (checked without building it).
fn checked_json(body: &[u8]) -> Result<(), DecodeError> {
    // serde_json's own limit (128) is above ours, and does not apply when
    // a value is only checked: the depth first.
    if !nested_at_most(body, MAX_DEPTH) {
        return Err(DecodeError::new(format!(
            "nested deeper than {MAX_DEPTH} levels"
        )));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map_err(|e| DecodeError::new(format!("not JSON: {e}")))?;
    if !surrogates_paired(body) {
        return Err(DecodeError::new("not JSON: a lone surrogate in a string"));
    }
    Ok(())
}

/// Whether an untyped schema says it is a JSON Schema: keywords Avro does
/// not have (`{"type": "string"}` is both, and is taken as Avro).
fn looks_like_json_schema(text: &str) -> bool {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    [
        "$schema",
        "$id",
        "$defs",
        "definitions",
        "properties",
        "$ref",
    ]
    .iter()
    .any(|k| fields.contains_key(*k))
        || fields.get("type").and_then(Value::as_str) == Some("object")
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// char boundary (a registry's message copied onto records, a value shown).
pub fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether every `\u` escape of a JSON text's strings is a character:
/// a high surrogate followed by a low one, never one alone. serde_json
/// lets lone surrogates through when it only checks a text; jaq's reader
/// (and the JSON standard's strictest readers) refuse them, so a value
/// with one is not JSON to a filter.
pub(crate) fn surrogates_paired(bytes: &[u8]) -> bool {
    if !bytes.windows(2).any(|w| w == b"\\u") {
        return true;
    }
    let hex = |at: usize| -> Option<u16> {
        let text = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
        u16::from_str_radix(text, 16).ok()
    };
    let (mut in_string, mut i) = (false, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                if bytes.get(i + 1) == Some(&b'u') {
                    let Some(unit) = hex(i + 2) else { return false };
                    match unit {
                        0xd800..=0xdbff => {
                            let low = (bytes.get(i + 6..i + 8) == Some(&b"\\u"[..]))
                                .then(|| hex(i + 8))
                                .flatten();
                            if !low.is_some_and(|l| (0xdc00..=0xdfff).contains(&l)) {
                                return false;
                            }
                            i += 12;
                            continue;
                        }
                        0xdc00..=0xdfff => return false,
                        _ => {
                            i += 6;
                            continue;
                        }
                    }
                }
                // Any other escape is two bytes.
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    true
}

/// Whether brackets and braces outside strings nest at most `max` deep.
pub(crate) fn nested_at_most(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Why a schema or a value could not be used: shown on the record, which
/// is then shown as bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

impl DecodeError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_needs_the_magic_byte_and_a_whole_id() {
        assert_eq!(
            framed(&[0, 0, 0, 1, 2, 9, 9]),
            Some(Framed {
                id: 258,
                body: &[9, 9]
            })
        );
        assert_eq!(framed(&[0, 0, 0, 0, 7]).map(|f| f.id), Some(7));
        assert_eq!(framed(&[0, 0, 0, 7]), None);
        assert_eq!(framed(&[1, 0, 0, 0, 7]), None);
        assert_eq!(framed(b"{}"), None);
    }

    #[test]
    fn lone_surrogates_are_found_and_pairs_and_other_escapes_pass() {
        for ok in [
            &br#"{"s": "\ud83d\ude00 \u00e9 \\u d800 \n"}"#[..],
            br#""\\ud800""#,
            b"[1, 2]",
        ] {
            assert!(surrogates_paired(ok), "{}", String::from_utf8_lossy(ok));
        }
        for lone in [
            &br#"{"n": 1, "s": "\ud800"}"#[..],
            br#""\ud800x""#,
            br#""\ude00""#,
            br#""\ud83d\u0041""#,
            br#""\ud83d"#,
        ] {
            assert!(
                !surrogates_paired(lone),
                "{}",
                String::from_utf8_lossy(lone)
            );
        }
    }

    #[test]
    fn schema_types_are_read_as_the_registry_names_them() {
        assert_eq!(Kind::from_registry("AVRO"), Some(Kind::Avro));
        assert_eq!(Kind::from_registry("PROTOBUF"), Some(Kind::Protobuf));
        assert_eq!(Kind::from_registry("JSON"), Some(Kind::Json));
        assert_eq!(Kind::from_registry("XML"), None);
    }

    #[test]
    fn an_untyped_schema_is_known_by_its_text() {
        let kind = |text: &str| {
            Schema::parse(
                None,
                &Source {
                    text: text.into(),
                    references: Vec::new(),
                },
            )
            .map(|s| s.kind())
        };
        assert_eq!(kind(r#""string""#), Ok(Kind::Avro));
        assert_eq!(
            kind(r#"{"type": "record", "name": "R", "fields": []}"#),
            Ok(Kind::Avro)
        );
        assert_eq!(
            kind(r#"{"$schema": "x", "type": "object"}"#),
            Ok(Kind::Json)
        );
        assert_eq!(
            kind(r#"{"$schema": "x", "type": "array", "items": {"type": "string"}}"#),
            Ok(Kind::Json)
        );
        assert_eq!(
            kind("syntax = \"proto3\"; message M { string a = 1; }"),
            Ok(Kind::Protobuf)
        );
        assert!(kind("not a schema").is_err());
    }

    #[test]
    fn json_schema_values_are_json_and_bounded() {
        assert_eq!(
            Schema::Json.decode(br#"{"a":[1,2]}"#),
            Ok(serde_json::json!({"a": [1, 2]}))
        );
        assert!(Schema::Json.decode(b"{").is_err());
        assert!(Schema::Json.decode(br#"{"a":1} x"#).is_err());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(Schema::Json.decode(deep.as_bytes()).is_err());
        // Kept as its own text, never a tree.
        let text = br#"{"n": 123456789012345678901234567890}"#;
        assert!(matches!(Schema::Json.decode_text(text), Ok(Cow::Borrowed(t)) if t == text));
        assert!(Schema::Json.decode_text(b"[1,").is_err());
        assert!(Schema::Json.decode_text(br#"{"s": "\ud800"}"#).is_err());
    }
}
