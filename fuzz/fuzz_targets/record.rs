//! Any record another program may write to the topic: whatever its key,
//! headers and value, the gateway turns it into a live record without
//! panicking, the frame it sends is JSON the dashboard parses back to the
//! same record, and what is shown stays within its bounds.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
use wire::{Payload, ServerMessage};

#[derive(Debug, Arbitrary)]
struct Record {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: Option<i64>,
    partition: i32,
    offset: i64,
}

fuzz_target!(|input: Record| {
    let mut headers = OwnedHeaders::new();
    for (key, value) in &input.headers {
        headers = headers.insert(Header {
            key,
            value: value.as_deref(),
        });
    }
    let size = input.value.as_ref().map_or(0, Vec::len);
    let message = OwnedMessage::new(
        input.value,
        input.key,
        "orders".into(),
        input
            .timestamp
            .map_or(Timestamp::NotAvailable, Timestamp::CreateTime),
        input.partition,
        input.offset,
        (!input.headers.is_empty()).then_some(headers),
    );
    let decoded = gateway::kafka::record::Decoded::default();
    let live = gateway::kafka::record::to_live(&message, 0, &decoded);
    assert_eq!(live.size, size);
    use gateway::kafka::record::{MAX_HEADERS, MAX_SHORT_TEXT_BYTES};
    assert!(live.headers.len() <= MAX_HEADERS);
    assert!(
        live.key
            .as_ref()
            .is_none_or(|k| k.len() <= MAX_SHORT_TEXT_BYTES)
    );
    for h in &live.headers {
        assert!(h.key.len() <= MAX_SHORT_TEXT_BYTES);
        assert!(
            h.value
                .as_ref()
                .is_none_or(|v| v.len() <= MAX_SHORT_TEXT_BYTES)
        );
    }
    match &live.payload {
        Payload::Text { text, .. } => assert!(text.len() <= gateway::kafka::record::MAX_SHOWN_BYTES),
        Payload::Binary { hex, .. } => assert!(hex.len() <= 2 * 256),
        Payload::Json { .. } => assert!(size <= gateway::kafka::record::MAX_SHOWN_BYTES),
        Payload::Null => assert!(size == 0),
    }
    let frame = serde_json::to_string(&ServerMessage::Record(live.clone())).expect("a frame");
    let parsed: ServerMessage = serde_json::from_str(&frame).expect("the dashboard parses it");
    assert_eq!(parsed, ServerMessage::Record(live));
});
