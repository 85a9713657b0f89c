//! The gateway's layering, checked on its source: axum is named only at the
//! HTTP edge, rdkafka only in the Kafka adapters, and the arrows point down
//! (edge → core → adapters), one step at a time: the edge calls the core,
//! never the adapters; the core never reaches up into the edge; the adapters
//! reach into neither. `lib.rs` and `main.rs` wire the three together and
//! may name anything.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its path relative to `gateway/src`.
fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("read gateway/src") {
        let path: PathBuf = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).expect("read source");
            out.push((relative, text));
        }
    }
}

/// Whether `text` names `path` as code (`axum::…`, `crate::core`), not as
/// part of a longer identifier; comments count too, so a doc link is caught
/// as well.
fn names(text: &str, path: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let ends_in_ident = path.chars().next_back().is_some_and(ident);
    text.match_indices(path).any(|(i, _)| {
        let before = text[..i].chars().next_back().is_some_and(ident);
        let after = text[i + path.len()..].chars().next().is_some_and(ident);
        let longer_name = ends_in_ident && after;
        !(before || longer_name)
    })
}

/// Whether `text` uses the crate's module `module`: by path
/// (`crate::core::…`, `super::super::core`) or in a grouped import
/// (`use crate::{core::…, …}`).
fn uses_module(text: &str, module: &str) -> bool {
    let by_path = [
        format!("crate::{module}"),
        format!("super::super::{module}"),
    ];
    if by_path.iter().any(|p| names(text, p)) {
        return true;
    }
    text.match_indices("crate::{").any(|(i, _)| {
        let group = &text[i..];
        let group = &group[..group.find('}').unwrap_or(group.len())];
        group
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|word| word == module)
    })
}

fn offenders(rule: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 20, "found the gateway's sources");
    files
        .into_iter()
        .filter(|(path, text)| rule(path, text))
        .map(|(path, _)| path)
        .collect()
}

fn wiring(path: &str) -> bool {
    path == "lib.rs" || path == "main.rs"
}

#[test]
fn only_the_http_edge_names_axum() {
    let outside = offenders(|path, text| {
        !path.starts_with("http/") && !wiring(path) && names(text, "axum::")
    });
    assert!(outside.is_empty(), "axum named outside http/: {outside:?}");
}

#[test]
fn only_the_kafka_adapters_name_rdkafka_or_the_kafka_protocol() {
    for client in ["rdkafka::", "kafka_protocol::"] {
        let outside = offenders(|path, text| {
            !path.starts_with("kafka/") && !wiring(path) && names(text, client)
        });
        assert!(
            outside.is_empty(),
            "{client} named outside kafka/: {outside:?}"
        );
    }
}

#[test]
fn arrows_point_down_one_step_at_a_time() {
    let edge_skips =
        offenders(|path, text| path.starts_with("http/") && uses_module(text, "kafka"));
    assert!(
        edge_skips.is_empty(),
        "the edge calls the adapters: {edge_skips:?}"
    );
    let core_up = offenders(|path, text| path.starts_with("core/") && uses_module(text, "http"));
    assert!(
        core_up.is_empty(),
        "the core reaches into the edge: {core_up:?}"
    );
    let adapters_up = offenders(|path, text| {
        path.starts_with("kafka/") && (uses_module(text, "http") || uses_module(text, "core"))
    });
    assert!(
        adapters_up.is_empty(),
        "the adapters reach into the edge or the core: {adapters_up:?}"
    );
}

#[test]
fn the_check_sees_a_name_and_not_a_longer_identifier() {
    assert!(names("use axum::Json;", "axum::"));
    assert!(names("x: rdkafka::error::KafkaError", "rdkafka::"));
    assert!(!names("use my_axum::Json;", "axum::"));
    assert!(uses_module("use crate::core::Core;", "core"));
    assert!(uses_module("use crate::{config, http::ApiError};", "http"));
    assert!(uses_module("use super::super::kafka;", "kafka"));
    assert!(!uses_module("use crate::{config, clock};", "core"));
    assert!(!uses_module("use crate::kafkaesque;", "kafka"));
}
