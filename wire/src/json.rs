//! A record's JSON value as it travels: text where it is made, a tree
//! where it is read.
//!
//! The gateway checks a record's value is JSON and sends the producer's
//! text as it is (the read path used to build a tree of every value only
//! to write it out again: a tenth of the gateway's CPU at batch rates);
//! whoever deserializes it gets a tree.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// One JSON value: serialized as the text it holds, deserialized as a tree.
#[derive(Clone)]
pub struct JsonValue(Repr);

#[derive(Clone)]
enum Repr {
    Text(Box<RawValue>),
    Tree(Value),
}

impl JsonValue {
    /// `text`, if it is one JSON value (whitespace around it is dropped).
    /// The text goes out as it is, so whoever makes it also checks what
    /// serde_json lets through here and its readers do not (see the
    /// gateway's `formats::json`).
    pub fn from_text(text: String) -> Option<Self> {
        RawValue::from_string(text)
            .ok()
            .map(|raw| Self(Repr::Text(raw)))
    }

    /// The value as a tree: borrowed if it is one, else parsed (`null` if
    /// the text, checked when it was made, somehow is not JSON).
    pub fn tree(&self) -> Cow<'_, Value> {
        self.parsed().unwrap_or(Cow::Owned(Value::Null))
    }

    /// The tree, if the text reads as one (a number past a float's range
    /// does not, though it is JSON).
    fn parsed(&self) -> Option<Cow<'_, Value>> {
        match &self.0 {
            Repr::Tree(value) => Some(Cow::Borrowed(value)),
            Repr::Text(raw) => serde_json::from_str(raw.get()).ok().map(Cow::Owned),
        }
    }
}

impl From<Value> for JsonValue {
    fn from(value: Value) -> Self {
        Self(Repr::Tree(value))
    }
}

/// Two values are equal when their trees are (text or not), or, where
/// one has no tree, when their texts are.
impl PartialEq for JsonValue {
    fn eq(&self, other: &Self) -> bool {
        match (self.parsed(), other.parsed()) {
            (Some(a), Some(b)) => a == b,
            _ => self.to_string() == other.to_string(),
        }
    }
}

impl fmt::Debug for JsonValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Text(raw) => f.debug_tuple("Text").field(&raw.get()).finish(),
            Repr::Tree(value) => f.debug_tuple("Tree").field(value).finish(),
        }
    }
}

/// The value's compact JSON text: the text itself, or the tree written out.
impl fmt::Display for JsonValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Text(raw) => f.write_str(raw.get()),
            Repr::Tree(value) => write!(f, "{value}"),
        }
    }
}

impl Serialize for JsonValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Text(raw) => raw.serialize(serializer),
            Repr::Tree(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_goes_out_as_it_is_and_comes_back_a_tree() {
        let text =
            JsonValue::from_text(r#"  {"b": 1, "a": [1.50, "\u00e9"]} "#.into()).expect("JSON");
        #[derive(Serialize, Deserialize)]
        struct Holder {
            value: JsonValue,
        }
        let written = serde_json::to_string(&Holder {
            value: text.clone(),
        })
        .expect("written");
        // The producer's text, spaces inside and all; only the outside trimmed.
        assert_eq!(written, r#"{"value":{"b": 1, "a": [1.50, "\u00e9"]}}"#);
        let read: Holder = serde_json::from_str(&written).expect("read");
        assert_eq!(*read.value.tree(), json!({"b": 1, "a": [1.5, "é"]}));
        assert_eq!(read.value, text);
        assert_eq!(text.to_string(), r#"{"b": 1, "a": [1.50, "\u00e9"]}"#);
    }

    #[test]
    fn a_value_without_a_tree_equals_only_its_own_text() {
        let wide = JsonValue::from_text("[1e400]".into()).expect("JSON grammar");
        assert_eq!(wide, JsonValue::from_text("[1e400]".into()).expect("JSON"));
        assert_ne!(wide, JsonValue::from_text("[1e401]".into()).expect("JSON"));
        assert_ne!(wide, JsonValue::from(Value::Null));
    }

    #[test]
    fn what_is_not_json_is_refused() {
        for bad in ["", "{", "[1,]", "{} {}", "nope"] {
            assert!(JsonValue::from_text(bad.into()).is_none(), "{bad:?}");
        }
    }
}
