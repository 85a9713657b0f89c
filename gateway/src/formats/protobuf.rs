//! Protobuf values decoded into JSON: schemas compiled by `protox` (the
//! registry serves `.proto` text, or a base64 `FileDescriptorProto` where a
//! producer registered one), messages decoded by `prost-reflect`.
//!
//! JSON as people read it: the `.proto` field names, 64-bit numbers as
//! numbers, enums by name, and every field, defaults included. prost's
//! recursion limit (100) bounds nesting while decoding; the message is then
//! counted against [`MAX_DEPTH`] and the record's [`node_budget`] before it
//! becomes JSON (defaults shown cost values no byte paid for).

use std::collections::HashMap;

use prost::Message as _;
use prost_reflect::ReflectMessage as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FileDescriptor, MessageDescriptor, SerializeOptions,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use serde_json::Value;

use super::{DecodeError, MAX_DEPTH, Source, node_budget, spend};

/// The name the schema's own file is compiled under (its references keep
/// the names they are imported by).
const MAIN_FILE: &str = "kafka-flow-schema.proto";
/// Most message indexes a value may give (a message nested this deep).
const MAX_INDEXES: usize = 64;

/// A compiled `.proto` file: its messages, found by a value's indexes.
pub struct Protobuf {
    file: FileDescriptor,
}

impl Protobuf {
    pub fn parse(source: &Source) -> Result<Self, DecodeError> {
        let mut resolver = ChainFileResolver::new();
        let mut files = HashMap::new();
        files.insert(MAIN_FILE.to_owned(), source.text.clone());
        for (name, text) in &source.references {
            files.insert(name.clone(), text.clone());
        }
        resolver.add(Texts(files));
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true);
        compiler
            .open_file(MAIN_FILE)
            .map_err(|e| DecodeError::new(format!("Protobuf schema: {e}")))?;
        let pool: DescriptorPool = compiler.descriptor_pool();
        let file = pool
            .get_file_by_name(MAIN_FILE)
            .ok_or_else(|| DecodeError::new("Protobuf schema: no file compiled"))?;
        Ok(Self { file })
    }

    /// Decodes a framed body: the message indexes, then the message.
    pub fn decode(&self, body: &[u8]) -> Result<Value, DecodeError> {
        let (indexes, message) = message_indexes(body)?;
        let descriptor = self.message(&indexes)?;
        let decoded = DynamicMessage::decode(descriptor, message)
            .map_err(|e| DecodeError::new(format!("not this Protobuf message: {e}")))?;
        let mut nodes_left = node_budget(body.len());
        within_bounds(&decoded, 0, &mut nodes_left)?;
        let options = SerializeOptions::new()
            .use_proto_field_name(true)
            .stringify_64_bit_integers(false)
            .skip_default_fields(false);
        let value = decoded
            .serialize_with_options(serde_json::value::Serializer, &options)
            .map_err(|e| DecodeError::new(format!("Protobuf to JSON: {e}")))?;
        Ok(value)
    }

    /// The message a value's indexes name: the first into the file's
    /// messages, each next one into the previous message's nested ones.
    fn message(&self, indexes: &[usize]) -> Result<MessageDescriptor, DecodeError> {
        let missing = || DecodeError::new(format!("no message at index {indexes:?}"));
        let (&first, rest) = indexes.split_first().ok_or_else(missing)?;
        let mut message = self.file.messages().nth(first).ok_or_else(missing)?;
        for &i in rest {
            let child = message.child_messages().nth(i).ok_or_else(missing)?;
            message = child;
        }
        Ok(message)
    }
}

/// Serves the schema and its references from memory.
struct Texts(HashMap<String, String>);

impl FileResolver for Texts {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let text = self
            .0
            .get(name)
            .ok_or_else(|| protox::Error::file_not_found(name))?;
        File::from_source(name, text).or_else(|err| {
            // A producer may have registered the descriptor itself, in base64.
            descriptor(name, text).ok_or(err)
        })
    }
}

/// A base64 `FileDescriptorProto`, named `name`.
fn descriptor(name: &str, text: &str) -> Option<File> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    let mut proto = prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok()?;
    proto.name = Some(name.to_owned());
    Some(File::from_file_descriptor_proto(proto))
}

/// Confluent's message indexes: a zig-zag count, then that many zig-zag
/// indexes; a count of 0 (one zero byte) means the first message, `[0]`.
fn message_indexes(body: &[u8]) -> Result<(Vec<usize>, &[u8]), DecodeError> {
    let mut rest = body;
    let count = zigzag(&mut rest)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    let count = usize::try_from(count)
        .ok()
        .filter(|&n| n <= MAX_INDEXES)
        .ok_or_else(|| DecodeError::new(format!("{count} message indexes")))?;
    let mut indexes = Vec::with_capacity(count);
    for _ in 0..count {
        let index = zigzag(&mut rest)?;
        indexes.push(
            usize::try_from(index)
                .map_err(|_| DecodeError::new(format!("message index {index}")))?,
        );
    }
    Ok((indexes, rest))
}

fn zigzag(bytes: &mut &[u8]) -> Result<i64, DecodeError> {
    let raw = prost::encoding::decode_varint(bytes)
        .map_err(|_| DecodeError::new("message indexes end early"))?;
    #[allow(clippy::cast_possible_wrap)] // zig-zag decoding
    Ok((raw >> 1) as i64 ^ -((raw & 1) as i64))
}

/// Counts what `message` becomes as JSON, every field shown, against
/// the depth and the values every format keeps to: each field one value,
/// each item of a list or map one more, each message a level deeper.
fn within_bounds(
    message: &DynamicMessage,
    depth: usize,
    nodes_left: &mut usize,
) -> Result<(), DecodeError> {
    use prost_reflect::Value as V;
    if depth >= MAX_DEPTH {
        return Err(DecodeError::new(format!(
            "nested deeper than {MAX_DEPTH} levels"
        )));
    }
    spend(nodes_left, message.descriptor().fields().len() + 1)?;
    for (_, value) in message.fields() {
        match value {
            V::Message(inner) => within_bounds(inner, depth + 1, nodes_left)?,
            V::List(items) => {
                spend(nodes_left, items.len())?;
                for item in items {
                    if let V::Message(inner) = item {
                        within_bounds(inner, depth + 2, nodes_left)?;
                    }
                }
            }
            V::Map(entries) => {
                spend(nodes_left, entries.len())?;
                for value in entries.values() {
                    if let V::Message(inner) = value {
                        within_bounds(inner, depth + 2, nodes_left)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORDER: &str = r#"
        syntax = "proto3";
        package shop;
        import "google/protobuf/timestamp.proto";
        message Order {
            string order_id = 1;
            int64 total_cents = 2;
            repeated Item items = 3;
            Status status = 4;
            google.protobuf.Timestamp at = 5;
            message Item { string sku = 1; int32 qty = 2; }
        }
        enum Status { NEW = 0; PAID = 1; }
        message Other { bool flag = 1; }
    "#;

    fn order() -> Protobuf {
        Protobuf::parse(&Source {
            text: ORDER.into(),
            references: Vec::new(),
        })
        .expect("compiles")
    }

    /// A message encoded by prost-reflect from JSON, framed with `indexes`.
    fn encoded(p: &Protobuf, indexes: &[u8], path: &[usize], value: serde_json::Value) -> Vec<u8> {
        let desc = p.message(path).expect("message");
        let message = DynamicMessage::deserialize(desc, value).expect("valid");
        let mut bytes = indexes.to_vec();
        bytes.extend(message.encode_to_vec());
        bytes
    }

    #[test]
    fn messages_decode_by_their_indexes() {
        let p = order();
        let bytes = encoded(
            &p,
            &[0],
            &[0],
            json!({"order_id": "o-1", "total_cents": "-12000000000", "status": "PAID",
                   "items": [{"sku": "a", "qty": 2}], "at": "2026-12-07T05:00:00Z"}),
        );
        assert_eq!(
            p.decode(&bytes),
            Ok(
                json!({"order_id": "o-1", "total_cents": -12_000_000_000_i64, "status": "PAID",
                      "items": [{"sku": "a", "qty": 2}], "at": "2026-12-07T05:00:00Z"})
            )
        );
        // The second top-level message: count 1, index 1 (zig-zag: 2, 2).
        assert_eq!(
            p.decode(&encoded(&p, &[2, 2], &[1], json!({"flag": true}))),
            Ok(json!({"flag": true}))
        );
        // A nested message: Order.Item is [0, 0] (count 2: 4, then 0, 0).
        assert_eq!(
            p.decode(&encoded(&p, &[4, 0, 0], &[0, 0], json!({"sku": "z"}))),
            Ok(json!({"sku": "z", "qty": 0}))
        );
    }

    #[test]
    fn a_base64_descriptor_is_taken_as_the_schema() {
        use base64::Engine;
        let pool = order().file.parent_pool().clone();
        let file = pool.get_file_by_name(MAIN_FILE).expect("file");
        let text = base64::engine::general_purpose::STANDARD
            .encode(file.file_descriptor_proto().encode_to_vec());
        let p = Protobuf::parse(&Source {
            text,
            references: Vec::new(),
        })
        .expect("a descriptor");
        assert_eq!(
            p.decode(&encoded(&p, &[2, 2], &[1], json!({"flag": true}))),
            Ok(json!({"flag": true}))
        );
    }

    #[test]
    fn wrong_or_hostile_bytes_are_errors_not_panics() {
        let p = order();
        assert!(p.decode(&[]).is_err());
        assert!(p.decode(&[2, 40]).is_err(), "no message 20");
        assert!(p.decode(&[0x80; 20]).is_err(), "a varint past 64 bits");
        assert!(p.decode(&[0, 0xff, 0xff]).is_err(), "not a message");
        assert!(p.decode(&[250, 1]).is_err(), "125 indexes");
        // Recursion past prost's limit is an error, not a stack overflow.
        let tree = Protobuf::parse(&Source {
            text: "syntax = \"proto3\"; message T { T child = 1; }".into(),
            references: Vec::new(),
        })
        .expect("compiles");
        let mut nested: Vec<u8> = Vec::new();
        for _ in 0..10_000 {
            let mut outer = vec![0x0a];
            prost::encoding::encode_varint(nested.len() as u64, &mut outer);
            outer.extend(nested);
            nested = outer;
        }
        let mut framed = vec![0];
        framed.extend(nested);
        assert!(tree.decode(&framed).is_err());
    }

    #[test]
    fn defaults_shown_count_against_the_budget() {
        // 2,000 fields, none sent: each shown, and over the budget of a
        // 1-byte body (10,016 values) once five such messages are listed.
        let fields: String = (1..=2_000).map(|i| format!("int32 f{i} = {i}; ")).collect();
        let wide = Protobuf::parse(&Source {
            text: format!(
                "syntax = \"proto3\"; message Outer {{ repeated Wide items = 1; }} message Wide {{ {fields} }}"
            ),
            references: Vec::new(),
        })
        .expect("compiles");
        // One empty Wide: 2,000 defaults, within the budget.
        assert!(wide.decode(&[0, 0x0a, 0x00]).is_ok());
        // Ten empty Wides in 21 bytes: 20,000 defaults, over it.
        let mut body = vec![0];
        for _ in 0..10 {
            body.extend_from_slice(&[0x0a, 0x00]);
        }
        let err = wide.decode(&body).expect_err("too many");
        assert!(err.to_string().contains("values"), "{err}");
    }

    #[test]
    fn bad_schemas_say_why() {
        let err = Protobuf::parse(&Source {
            text: "message {".into(),
            references: Vec::new(),
        })
        .err()
        .expect("an error");
        assert!(err.to_string().starts_with("Protobuf schema:"), "{err}");
    }
}
