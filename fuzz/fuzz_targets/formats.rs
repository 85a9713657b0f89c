//! Any bytes a topic's record may hold after a schema id: decoding them
//! with a Schema Registry schema (Avro, recursive Avro, Protobuf, JSON
//! Schema) never panics, never nests past the bound, and what it gives is
//! JSON the dashboard parses.
#![no_main]

use gateway::formats::{Kind, MAX_DEPTH, Schema, Source};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const AVRO: &str = r#"{"type": "record", "name": "Order", "fields": [
    {"name": "id", "type": "string"}, {"name": "n", "type": ["null", "long", "double"]},
    {"name": "items", "type": {"type": "array", "items": {"type": "map", "values": "bytes"}}},
    {"name": "s", "type": {"type": "enum", "name": "S", "symbols": ["A", "B"]}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 3}}]}"#;
const RECURSIVE: &str = r#"{"type": "record", "name": "Node", "fields": [
    {"name": "next", "type": ["null", "Node"]}, {"name": "kids", "type": {"type": "array", "items": "Node"}}]}"#;
const PROTO: &str = r#"syntax = "proto3";
    message Tree { string name = 1; repeated Tree kids = 2; map<string, int64> tags = 3; }
    message Other { bytes b = 1; double d = 2; }"#;

fn schemas() -> &'static [Schema] {
    static SCHEMAS: OnceLock<Vec<Schema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        [(Kind::Avro, AVRO), (Kind::Avro, RECURSIVE), (Kind::Protobuf, PROTO), (Kind::Json, "{}")]
            .into_iter()
            .map(|(kind, text)| {
                let source = Source { text: text.into(), references: Vec::new() };
                Schema::parse(Some(kind), &source).expect("a valid schema")
            })
            .collect()
    })
}

fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(fields) => 1 + fields.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|bytes: &[u8]| {
    for schema in schemas() {
        if let Ok(value) = schema.decode(bytes) {
            assert!(depth(&value) <= MAX_DEPTH);
            let text = serde_json::to_string(&value).expect("JSON");
            // (Not compared: floats need not round-trip to the last bit.)
            let _: serde_json::Value = serde_json::from_str(&text).expect("parses back");
        }
    }
});
