//! Records in a Schema Registry's formats, decoded end to end: a real
//! registry (Apicurio Registry, `scripts/registry.sh`, started by the first
//! test that needs it, or `SCHEMA_REGISTRY_URL`), records written by
//! Confluent's own Python serializers (`tools/registry_produce.py`), read
//! back through the live stream, search and filters.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use tokio::sync::OnceCell;
use wire::search::SearchEvent;
use wire::{LiveRecord, Payload};

use crate::helpers::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The registry's Confluent-compatible URL, started once per test run.
async fn registry() -> &'static str {
    static URL: OnceCell<String> = OnceCell::const_new();
    URL.get_or_init(|| async {
        if let Ok(url) = std::env::var("SCHEMA_REGISTRY_URL") {
            return url;
        }
        let script = repo().join("scripts/registry.sh");
        let started = Command::new(&script)
            .arg("start")
            .status()
            .await
            .expect("scripts/registry.sh");
        assert!(started.success(), "scripts/registry.sh start failed");
        let url = Command::new(&script)
            .arg("url")
            .output()
            .await
            .expect("url");
        String::from_utf8(url.stdout)
            .expect("UTF-8")
            .trim()
            .to_owned()
    })
    .await
}

/// The most `tools/registry_produce.py` may take.
const PRODUCE_PATIENCE: Duration = Duration::from_secs(120);

/// What `tools/registry_produce.py` wrote to `topic`: one line per record
/// with its offset, format, and the key and value a decoder should show.
async fn produce_with_serializers(topic: &str, registry: &str) -> Vec<Value> {
    let python = repo().join("tools/venv/bin/python");
    let run = Command::new(&python)
        .arg(repo().join("tools/registry_produce.py"))
        .args([brokers().as_str(), registry, topic])
        .kill_on_drop(true)
        .output();
    // Its requests time out and are retried (10 s, 3 retries); past that
    // the test fails rather than waits for ever.
    let output = tokio::time::timeout(PRODUCE_PATIENCE, run)
        .await
        .unwrap_or_else(|_| panic!("registry_produce.py did not finish in {PRODUCE_PATIENCE:?}"))
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh --test)", python.display()));
    assert!(
        output.status.success(),
        "registry_produce.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// A gateway decoding with the registry, its topic holding the records.
async fn app_with_records() -> (TestApp, Vec<Value>) {
    let registry = registry().await;
    let app = spawn_with(|c| c.schema_registry = Some(registry.parse().expect("URL"))).await;
    app.wait_healthy().await;
    let produced = produce_with_serializers(&app.topic, registry).await;
    assert_eq!(produced.len(), 6, "{produced:?}");
    (app, produced)
}

/// The matches of `GET /api/search?{query}`, read to the end.
async fn search(app: &TestApp, query: &str) -> Vec<LiveRecord> {
    let response = app.get(&format!("/api/search?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    let text = response.text().await.expect("body");
    let events: Vec<SearchEvent> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a SearchEvent"))
        .collect();
    assert!(
        matches!(events.last(), Some(SearchEvent::Done(_))),
        "{events:?}"
    );
    events
        .into_iter()
        .filter_map(|e| match e {
            SearchEvent::Match(record) => Some(*record),
            _ => None,
        })
        .collect()
}

/// Checks a record against what the serializer wrote.
fn assert_decoded(record: &LiveRecord, expected: &Value) {
    let format = expected["format"].as_str().expect("format");
    let schema = record.value_schema.as_ref().expect("a value schema");
    if format == "unknown" {
        // Shown as bytes, with the id and why.
        assert!(
            matches!(record.payload, Payload::Binary { .. }),
            "{record:?}"
        );
        assert_eq!(schema.id, 0x7fff_fff0);
        let error = schema.error.as_deref().unwrap_or_default();
        assert!(error.contains("not in the schema registry"), "{error}");
        return;
    }
    assert_eq!(schema.format.as_deref(), Some(format), "{record:?}");
    assert_eq!(schema.error, None);
    assert_eq!(
        schema.subject.as_deref().map(|s| s.ends_with("-value")),
        Some(true),
        "{schema:?}"
    );
    assert_eq!(
        record.payload,
        Payload::Json {
            value: expected["value"].clone().into()
        },
        "offset {}",
        record.offset
    );
    assert_eq!(record.key.as_deref(), expected["key"].as_str());
    if format == "avro" {
        let key_schema = record.key_schema.as_ref().expect("an Avro key");
        assert_eq!(key_schema.format.as_deref(), Some("avro"));
    } else {
        assert_eq!(record.key_schema, None, "a plain key has no schema");
    }
}

#[tokio::test]
async fn avro_protobuf_and_json_schema_records_decode_end_to_end() {
    let (app, produced) = app_with_records().await;
    // Search, from the history.
    let found = search(&app, &format!("topic={}&from=beginning", app.topic)).await;
    assert_eq!(found.len(), produced.len());
    for (record, expected) in found.iter().zip(&produced) {
        assert_eq!(record.offset, expected["offset"].as_i64().expect("offset"));
        assert_decoded(record, expected);
    }
    // The live stream's history decodes the same way.
    let mut live = app.live(produced.len()).await;
    for expected in &produced {
        let record = live.next_record().await;
        assert_eq!(record.offset, expected["offset"].as_i64().expect("offset"));
        assert_decoded(&record, expected);
    }
}

#[tokio::test]
async fn filters_test_the_decoded_values() {
    let (app, _) = app_with_records().await;
    let offsets = |records: Vec<LiveRecord>| records.iter().map(|r| r.offset).collect::<Vec<_>>();
    let query = |filter: &str| {
        format!(
            "topic={}&from=beginning&filter={}",
            app.topic,
            form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
        )
    };
    // Avro: a union's string, by field name.
    let gift = search(&app, &query(r#"select(.value.note == "gift")"#)).await;
    assert_eq!(offsets(gift), [1]);
    // Protobuf: the second message of the file; JSON Schema by its format.
    let refund = search(&app, &query("select(.value.full == true)")).await;
    assert_eq!(offsets(refund), [3]);
    let json = search(
        &app,
        &query(r#"select(.value_format == "json" and .value_schema.format == "json")"#),
    )
    .await;
    assert_eq!(offsets(json), [4]);
    // The unknown id is tested as bytes, with its schema's id.
    let unknown = search(&app, &query("select(.value_schema.id == 2147483632)")).await;
    assert_eq!(offsets(unknown), [5]);
    // Avro keys are decoded for filters too.
    let key = search(&app, &query(r#"select(.key == "customer-1")"#)).await;
    assert_eq!(offsets(key), [1]);
}
