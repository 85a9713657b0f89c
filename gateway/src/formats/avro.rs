//! Avro values decoded into JSON, schemas parsed by `apache-avro`.
//!
//! The decoding is this module's own rather than `apache_avro::from_avro_datum`:
//! that one recurses as deep as the bytes say (a recursive schema lets a
//! record nest a million deep and overflow the stack) and lets an array of
//! nulls claim a billion items from a few bytes. Here nesting stops at
//! [`MAX_DEPTH`] and the values at [`MAX_NODES`].
//!
//! JSON as people read it, not Avro's JSON encoding: a union is its value
//! (not `{"type": value}`), an enum its symbol, a decimal its exact digits
//! as a string, a UUID its text, bytes and fixed as Avro's JSON encoding
//! gives them (one character per byte, U+0000 to U+00FF).

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::{InnerDecimalSchema, Name, NamespaceRef, ResolvedSchema, UuidSchema};
use serde_json::{Map, Value};

use super::{DecodeError, MAX_DEPTH, Source, node_budget, spend};

/// An Avro writer schema and the named types it may refer to.
pub struct Avro {
    schema: Schema,
    names: HashMap<Name, Schema>,
}

impl Avro {
    pub fn parse(source: &Source) -> Result<Self, DecodeError> {
        let references = source.references.iter().map(|(_, text)| text.as_str());
        let (schema, others) = Schema::parse_str_with_list(&source.text, references)
            .map_err(|e| DecodeError::new(format!("Avro schema: {e}")))?;
        // Referenced types first: each schema resolves against those before it.
        let mut all: Vec<&Schema> = others.iter().collect();
        all.push(&schema);
        let names = ResolvedSchema::new_with_schemata(all)
            .map_err(|e| DecodeError::new(format!("Avro schema: {e}")))?
            .get_names()
            .iter()
            .map(|(name, schema)| (name.clone(), (*schema).clone()))
            .collect();
        Ok(Self { schema, names })
    }

    pub fn decode(&self, body: &[u8]) -> Result<Value, DecodeError> {
        let mut reader = Reader {
            bytes: body,
            nodes_left: node_budget(body.len()),
        };
        let value = self.value(&self.schema, None, &mut reader, 0)?;
        if !reader.bytes.is_empty() {
            return Err(DecodeError::new(format!(
                "{} bytes left after the value: not written with this schema",
                reader.bytes.len()
            )));
        }
        Ok(value)
    }

    /// One value of `schema`; `depth` is how many JSON containers hold it.
    fn value(
        &self,
        schema: &Schema,
        namespace: NamespaceRef,
        r: &mut Reader<'_>,
        depth: usize,
    ) -> Result<Value, DecodeError> {
        r.count()?;
        Ok(match schema {
            Schema::Null => Value::Null,
            Schema::Boolean => match r.take(1)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(DecodeError::new(format!("{b} is not a boolean"))),
            },
            Schema::Int | Schema::Date | Schema::TimeMillis => Value::from(r.int()?),
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Value::from(r.long()?),
            Schema::Float => {
                let b = r.take(4)?;
                float(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            }
            Schema::Double => {
                let mut b = [0u8; 8];
                b.copy_from_slice(r.take(8)?);
                float(f64::from_le_bytes(b))
            }
            Schema::Bytes | Schema::BigDecimal => latin1(r.bytes()?),
            Schema::String | Schema::Uuid(UuidSchema::String) => Value::String(
                std::str::from_utf8(r.bytes()?)
                    .map_err(|_| DecodeError::new("a string that is not UTF-8"))?
                    .to_owned(),
            ),
            Schema::Uuid(UuidSchema::Bytes) => uuid(r.bytes()?)?,
            Schema::Uuid(UuidSchema::Fixed(fixed)) => uuid(r.take(fixed.size)?)?,
            Schema::Fixed(fixed) => latin1(r.take(fixed.size)?),
            Schema::Decimal(decimal) => {
                let bytes = match &decimal.inner {
                    InnerDecimalSchema::Bytes => r.bytes()?,
                    InnerDecimalSchema::Fixed(fixed) => r.take(fixed.size)?,
                };
                decimal_text(bytes, decimal.scale).map_or_else(|| latin1(bytes), Value::String)
            }
            Schema::Duration(_) => {
                let b = r.take(12)?;
                let part = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
                serde_json::json!({"months": part(0), "days": part(4), "millis": part(8)})
            }
            Schema::Enum(e) => {
                let index = r.int()?;
                let symbol = usize::try_from(index)
                    .ok()
                    .and_then(|i| e.symbols.get(i))
                    .ok_or_else(|| DecodeError::new(format!("no enum symbol {index}")))?;
                Value::String(symbol.clone())
            }
            Schema::Union(union) => {
                let index = r.long()?;
                let variant = usize::try_from(index)
                    .ok()
                    .and_then(|i| union.variants().get(i))
                    .ok_or_else(|| DecodeError::new(format!("no union branch {index}")))?;
                self.value(variant, namespace, r, depth)?
            }
            Schema::Array(array) => {
                let depth = deeper(depth)?;
                let mut items = Vec::new();
                while let Some(count) = r.block()? {
                    for _ in 0..count {
                        items.push(self.value(&array.items, namespace, r, depth)?);
                    }
                }
                Value::Array(items)
            }
            Schema::Map(map) => {
                let depth = deeper(depth)?;
                let mut entries = Map::new();
                while let Some(count) = r.block()? {
                    for _ in 0..count {
                        let key = std::str::from_utf8(r.bytes()?)
                            .map_err(|_| DecodeError::new("a map key that is not UTF-8"))?
                            .to_owned();
                        let value = self.value(&map.types, namespace, r, depth)?;
                        entries.insert(key, value);
                    }
                }
                Value::Object(entries)
            }
            Schema::Record(record) => {
                let depth = deeper(depth)?;
                let inner = record.name.namespace().or(namespace);
                let mut fields = Map::new();
                for field in &record.fields {
                    let value = self.value(&field.schema, inner, r, depth)?;
                    fields.insert(field.name.clone(), value);
                }
                Value::Object(fields)
            }
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(namespace);
                let named = self.names.get(full.as_ref()).ok_or_else(|| {
                    DecodeError::new(format!("unknown Avro type {}", full.fullname(None)))
                })?;
                self.value(named, full.namespace(), r, depth)?
            }
        })
    }
}

/// One more level of JSON containers, or an error past [`MAX_DEPTH`].
fn deeper(depth: usize) -> Result<usize, DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError::new(format!(
            "nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}

/// A float as JSON; JSON has no NaN or infinity, so those are their names.
fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

/// Bytes as Avro's JSON encoding gives them: one character per byte.
fn latin1(bytes: &[u8]) -> Value {
    Value::String(bytes.iter().map(|&b| char::from(b)).collect())
}

fn uuid(bytes: &[u8]) -> Result<Value, DecodeError> {
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| DecodeError::new("a UUID that is not 16 bytes"))?;
    Ok(Value::String(uuid::Uuid::from_bytes(bytes).to_string()))
}

/// A decimal's exact digits: the big-endian two's-complement unscaled
/// value, `scale` digits after the point. `None` past 128 bits.
fn decimal_text(bytes: &[u8], scale: usize) -> Option<String> {
    // An i128 has 39 digits; a schema may claim any scale.
    if bytes.len() > 16 || scale > 39 {
        return None;
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut buf = if negative { [0xff; 16] } else { [0; 16] };
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    let unscaled = i128::from_be_bytes(buf);
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return Some(format!("{sign}{digits}"));
    }
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    Some(format!("{sign}{whole}.{fraction}"))
}

/// The bytes still to decode, and how many more values they may give.
struct Reader<'a> {
    bytes: &'a [u8],
    nodes_left: usize,
}

impl<'a> Reader<'a> {
    /// Counts one more value, or fails past the record's [`node_budget`].
    fn count(&mut self) -> Result<(), DecodeError> {
        spend(&mut self.nodes_left, 1)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::new("the value ends early"));
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    /// A zig-zag varint of at most 64 bits.
    fn long(&mut self) -> Result<i64, DecodeError> {
        let mut raw: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            raw |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                #[allow(clippy::cast_possible_wrap)] // zig-zag decoding
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(DecodeError::new("a number longer than 64 bits"))
    }

    fn int(&mut self) -> Result<i32, DecodeError> {
        let long = self.long()?;
        i32::try_from(long).map_err(|_| DecodeError::new(format!("{long} is not an int")))
    }

    /// A length-prefixed run of bytes.
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.long()?;
        let len = usize::try_from(len)
            .map_err(|_| DecodeError::new(format!("a negative length {len}")))?;
        self.take(len)
    }

    /// The item count of the next block of an array or map, `None` at its
    /// end. (A negative count is followed by the block's size in bytes.)
    fn block(&mut self) -> Result<Option<u64>, DecodeError> {
        let count = self.long()?;
        if count < 0 {
            self.long()?;
        }
        Ok((count != 0).then_some(count.unsigned_abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn avro(schema: &str) -> Avro {
        Avro::parse(&Source {
            text: schema.into(),
            references: Vec::new(),
        })
        .expect("a valid schema")
    }

    /// Encodes with apache-avro itself, so the decoder is checked against
    /// the crate's writer.
    fn written(schema: &str, value: apache_avro::types::Value) -> Vec<u8> {
        let schema = Schema::parse_str(schema).expect("schema");
        apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
            .build()
            .expect("a writer")
            .write_value_to_vec(value)
            .expect("encodes")
    }

    const ORDER: &str = r#"{"type": "record", "name": "Order", "namespace": "shop",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "total_cents", "type": "long"},
            {"name": "paid", "type": "boolean"},
            {"name": "ratio", "type": "double"},
            {"name": "note", "type": ["null", "string"]},
            {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
            {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item",
                "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
            {"name": "tags", "type": {"type": "map", "values": "int"}},
            {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
            {"name": "again", "type": ["null", "Item"]}
        ]}"#;

    #[test]
    fn a_record_decodes_as_apache_avro_wrote_it() {
        use apache_avro::types::Value as A;
        let item = |sku: &str, qty: i32| {
            A::Record(vec![
                ("sku".into(), A::String(sku.into())),
                ("qty".into(), A::Int(qty)),
            ])
        };
        let bytes = written(
            ORDER,
            A::Record(vec![
                ("id".into(), A::String("o-1".into())),
                ("total_cents".into(), A::Long(-12_000_000_000)),
                ("paid".into(), A::Boolean(true)),
                ("ratio".into(), A::Double(0.25)),
                (
                    "note".into(),
                    A::Union(1, Box::new(A::String("gift".into()))),
                ),
                ("status".into(), A::Enum(1, "PAID".into())),
                ("items".into(), A::Array(vec![item("a", 1), item("b", 2)])),
                ("tags".into(), A::Map([("x".to_owned(), A::Int(7))].into())),
                (
                    "price".into(),
                    A::Decimal((-12345_i64).to_be_bytes().to_vec().into()),
                ),
                ("again".into(), A::Union(0, Box::new(A::Null))),
            ]),
        );
        assert_eq!(
            avro(ORDER).decode(&bytes),
            Ok(json!({
                "id": "o-1", "total_cents": -12_000_000_000_i64, "paid": true, "ratio": 0.25,
                "note": "gift", "status": "PAID",
                "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}],
                "tags": {"x": 7}, "price": "-123.45", "again": null
            }))
        );
    }

    #[test]
    fn references_resolve_named_types_of_other_schemas() {
        let item = r#"{"type": "record", "name": "Item", "namespace": "shop",
            "fields": [{"name": "sku", "type": "string"}]}"#;
        let parsed = Avro::parse(&Source {
            text: r#"{"type": "record", "name": "Cart", "namespace": "shop",
                "fields": [{"name": "first", "type": "Item"}]}"#
                .into(),
            references: vec![("shop.Item".into(), item.into())],
        })
        .expect("resolves");
        assert_eq!(
            parsed.decode(&[2, b'z']),
            Ok(json!({"first": {"sku": "z"}}))
        );
    }

    #[test]
    fn wrong_or_hostile_bytes_are_errors_not_panics() {
        let order = avro(ORDER);
        for bytes in [&[][..], &[0xff; 40], &[2, b'a', 0x80, 0x80], &[200]] {
            assert!(order.decode(bytes).is_err(), "{bytes:?}");
        }
        // Left-over bytes mean another schema wrote it.
        assert!(avro(r#""int""#).decode(&[2, 2]).is_err());
        // A linked list a million deep stops at the depth bound.
        let list = avro(
            r#"{"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}"#,
        );
        let deep = vec![2u8; 1_000_000];
        let err = list.decode(&deep).expect_err("too deep");
        assert!(err.to_string().contains("deeper"), "{err}");
        // Blocks of a billion nulls, a few bytes each, stop at the node bound.
        let nulls = avro(r#"{"type": "array", "items": "null"}"#);
        let mut huge = Vec::new();
        for _ in 0..100 {
            huge.extend_from_slice(&[0x80, 0x94, 0xeb, 0xdc, 0x07]); // 1e9, zig-zag
        }
        let err = nulls.decode(&huge).expect_err("too many");
        assert!(err.to_string().contains("values"), "{err}");
        // Within its budget an array of nulls decodes: 16 a byte and 10,000.
        assert!(nulls.decode(&[0xa0, 0x9c, 0x01, 0]).is_ok(), "10,000 nulls");
    }

    #[test]
    fn logical_types_read_as_people_read_them() {
        assert_eq!(decimal_text(&[0x30, 0x39], 2).as_deref(), Some("123.45"));
        assert_eq!(decimal_text(&[0xff], 3).as_deref(), Some("-0.001"));
        assert_eq!(decimal_text(&[0x07], 0).as_deref(), Some("7"));
        assert_eq!(decimal_text(&[1; 17], 0), None);
        assert_eq!(decimal_text(&[1], usize::MAX), None);
        assert_eq!(decimal_text(&[1], 2_000_000_000), None);
        let id = avro(r#"{"type": "fixed", "name": "Id", "size": 16, "logicalType": "uuid"}"#);
        assert_eq!(
            id.decode(&[0x12; 16]),
            Ok(json!("12121212-1212-1212-1212-121212121212"))
        );
        assert_eq!(
            avro(r#""bytes""#).decode(&[4, 0xff, b'a']),
            Ok(json!("\u{ff}a"))
        );
        assert_eq!(
            avro(r#""float""#).decode(&f32::NAN.to_le_bytes()),
            Ok(json!("NaN"))
        );
    }
}
