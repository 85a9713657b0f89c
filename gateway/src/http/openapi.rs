//! `GET /api/openapi.json`: the REST API described as OpenAPI 3.1.
//!
//! The schemas come from the `wire` types themselves (schemars, which reads
//! their serde attributes), so the document cannot drift from the bodies
//! the gateway sends and accepts; only the paths are written out here. The
//! API is property-tested from this document (`scripts/api-fuzz.sh`, run by
//! `scripts/test.sh`): no 5xx other than those documented, every error in
//! its documented shape (`ErrorBody`; a batch the broker acknowledged only
//! in part answers with its per-order results).

use std::sync::OnceLock;

use axum::Json;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Value, json};
use wire::api::{
    BatchResults, GroupView, Health, MAX_REPLAY_RECORDS, NewOrderBatch, NewTopic, ReplayPage,
    TopicSummary,
};
use wire::load::{LoadRequest, LoadStatus};
use wire::search::SearchEvent;
use wire::services::{ServiceUpdate, ServiceView};
use wire::{ErrorBody, NewOrder, OrderAccepted};

use crate::core::MAX_KEY_BYTES;

/// `GET /api/openapi.json`.
pub(crate) async fn document() -> Json<Value> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    Json(DOCUMENT.get_or_init(build).clone())
}

/// Builds the document. One long function on purpose: it is the API's
/// table of contents, read top to bottom like the document it returns, and
/// the small helpers at its top keep each path to a few lines.
pub fn build() -> Value {
    let mut generator = SchemaGenerator::new(
        SchemaSettings::draft2020_12().with(|s| s.definitions_path = "/components/schemas".into()),
    );
    let [
        new_order,
        accepted,
        error,
        health,
        groups,
        replay,
        topics,
        topic,
        new_topic,
        services,
        service,
        service_update,
        load_request,
        load_status,
        batch,
        batch_results,
        search_event,
        full_record,
        quorum,
        history,
    ] = [
        generator.subschema_for::<NewOrder>(),
        generator.subschema_for::<OrderAccepted>(),
        generator.subschema_for::<ErrorBody>(),
        generator.subschema_for::<Health>(),
        generator.subschema_for::<Vec<GroupView>>(),
        generator.subschema_for::<ReplayPage>(),
        generator.subschema_for::<Vec<TopicSummary>>(),
        generator.subschema_for::<TopicSummary>(),
        generator.subschema_for::<NewTopic>(),
        generator.subschema_for::<Vec<ServiceView>>(),
        generator.subschema_for::<ServiceView>(),
        generator.subschema_for::<ServiceUpdate>(),
        generator.subschema_for::<LoadRequest>(),
        generator.subschema_for::<LoadStatus>(),
        generator.subschema_for::<NewOrderBatch>(),
        generator.subschema_for::<BatchResults>(),
        generator.subschema_for::<SearchEvent>(),
        generator.subschema_for::<wire::api::FullRecord>(),
        generator.subschema_for::<wire::api::QuorumView>(),
        generator.subschema_for::<Vec<wire::api::GroupHistory>>(),
    ]
    .map(|schema| schema.to_value());
    let schemas = Value::Object(generator.take_definitions(true));

    let body = |schema: &Value| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let ok = |description: &str, schema: &Value| json!({"description": description, "content": {"application/json": {"schema": schema}}});
    // The headers some errors carry, whatever the route.
    let error_headers = |status: &str| match status {
        "401" => {
            json!({"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}})
        }
        "429" => {
            json!({"Retry-After": {"description": "seconds until a write from this address is taken again", "schema": {"type": "integer", "minimum": 1}}})
        }
        _ => json!({}),
    };
    let errors = |pairs: &[(&str, &str)]| {
        let mut responses = serde_json::Map::new();
        for (status, description) in pairs {
            let mut response = ok(description, &error);
            response["headers"] = error_headers(status);
            responses.insert((*status).into(), response);
        }
        // Any other status is an error too, in the same shape.
        responses.insert("default".into(), ok("an error", &error));
        responses
    };
    let with = |mut responses: serde_json::Map<String, Value>, status: &str, response: Value| {
        responses.insert(status.into(), response);
        Value::Object(responses)
    };
    let write_errors: &[(&str, &str)] = &[
        (
            "400",
            "the body is not JSON, or could not be read as framed",
        ),
        ("401", "a write without the API token the gateway requires"),
        ("413", "the body is over 64 KiB"),
        ("415", "no Content-Type: application/json"),
        (
            "422",
            "a field is missing, unknown, of the wrong type or out of range; `field` names it",
        ),
        (
            "429",
            "more writes from this address than --write-rate allows",
        ),
    ];
    let mut order_errors = write_errors.to_vec();
    order_errors.extend([
        (
            "409",
            "a request with the same Idempotency-Key is still being placed",
        ),
        (
            "503",
            "the broker did not acknowledge the order within the delivery timeout (it may still have been written: retry with the same Idempotency-Key), or, for a keyed order, the key log could not be read to its end (nothing written)",
        ),
        (
            "500",
            "the gateway itself failed while placing the order (a bug): it may or may not be in Kafka",
        ),
    ]);
    let mut service_changed = errors(
        &[("404", "no such service")]
            .iter()
            .chain(write_errors)
            .copied()
            .collect::<Vec<_>>(),
    );
    service_changed.insert(
        "200".into(),
        ok(
            "the service as changed: stopped members have committed and left, new ones are joining",
            &service,
        ),
    );
    service_changed.insert("202".into(), ok("the change goes on (`changing: true`): members are still committing and leaving; GET /api/services shows when it is done", &service));
    let query = |name: &str, schema: Value, description: &str| json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description});
    // A topic parameter: Kafka's topic name rule.
    let topic_param = |description: &str| {
        query(
            "topic",
            json!({"type": "string", "pattern": r"^(?!\.\.?$)[a-zA-Z0-9._-]{1,249}$"}),
            description,
        )
    };

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Kafka flow gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Orders in over REST, every record of the topic out over the WebSocket at /ws (see the README). Writes need `Authorization: Bearer <token>` when the gateway runs with an API token; with --protect-reads so do every /api read but /api/health, and /ws, which also take the read-key cookie that POST /api/session sets. Every request must name one of the gateway's hosts in `Host` (an IP address, localhost, a --public-host or an allowed origin's host), else 403. A connection over the gateway's bounds (in all, or from one client address) is answered 503 `too_many_clients` and closed.",
        },
        "paths": {
            "/api/orders": {"post": {
                "summary": "Place an order: answered once the broker acknowledged it",
                "parameters": [{
                    "name": "Idempotency-Key", "in": "header", "required": false,
                    "schema": {"type": "string", "pattern": format!("^[\\x21-\\x7e]{{1,{}}}$", MAX_KEY_BYTES)},
                    "description": "A retry with the same key within the window gets the first acknowledgement and writes nothing",
                }],
                "requestBody": body(&new_order),
                "responses": with(errors(&order_errors), "202", {
                    let mut accepted = ok("in Kafka, at this partition and offset", &accepted);
                    accepted["headers"] = json!({"Idempotent-Replayed": {
                        "description": "`true` when this is the first acknowledgement of the Idempotency-Key, answered again: nothing was written",
                        "schema": {"type": "string", "enum": ["true"]},
                    }});
                    accepted
                }),
            }},
            "/api/orders/batch": {"post": {
                "summary": "Place up to 1,000 orders at once: answered once the broker acknowledged each",
                "description": "All orders are checked first: one invalid order is a 422 naming it (`orders[3].customer_id`) and nothing is written. The body may be up to 1 MiB.",
                "requestBody": body(&batch),
                "responses": {
                    "202": ok("every order in Kafka; one result per order, in the order sent", &batch_results),
                    "503": ok("the broker did not acknowledge some; each result says which", &batch_results),
                    "default": ok("an error; nothing written", &error),
                },
            }},
            "/api/health": {"get": {
                "summary": "The broker, the topic's partitions, the live clients",
                "responses": {
                    "200": ok("the broker answers, the topic exists and is read", &health),
                    "503": ok("degraded", &health),
                },
            }},
            "/api/groups": {"get": {
                "summary": "Every group reading the topic (classic, consumer-protocol and share groups), with lag per partition",
                "responses": with(errors(&[("503", "the broker could not be read")]), "200", ok("the groups", &groups)),
            }},
            "/api/groups/history": {"get": {
                "summary": "Each group's lag (records and time) over a window",
                "description": "Kept in the gateway since it started: one point a second for the last two minutes, one per 30 seconds (the most of each) before that, for an hour; at most 128 groups.",
                "parameters": [
                    {"name": "window", "in": "query", "required": false, "schema": {"type": "string", "enum": ["2m", "15m", "1h"], "default": "15m"}, "description": "how far back"},
                ],
                "responses": with(errors(&[("422", "an unknown window or parameter; `field` names it")]), "200", ok("each group's points, oldest first", &history)),
            }},
            "/api/quorum": {"get": {
                "summary": "The KRaft metadata quorum: leader, epoch, high watermark, each voter and observer",
                "responses": with(errors(&[("503", "the quorum could not be read")]), "200", ok("the quorum", &quorum)),
            }},
            "/api/replay": {"get": {
                "summary": "Read the topic again without committing",
                "parameters": [
                    query("from", json!({"type": "string", "enum": ["beginning", "offset", "timestamp"]}), "where to start"),
                    query("partition", json!({"type": "integer", "format": "int32", "minimum": 0}), "one partition only (needed with from=offset)"),
                    query("offset", json!({"type": "integer", "format": "int64", "minimum": 0}), "needed with from=offset"),
                    query("timestamp_ms", json!({"type": "integer", "format": "int64", "minimum": 0}), "needed with from=timestamp"),
                    query("limit", json!({"type": "integer", "minimum": 1, "maximum": MAX_REPLAY_RECORDS}), "default 100"),
                ],
                "responses": with(errors(&[
                    ("422", "a parameter is missing, unknown or out of range; `field` names it"),
                    ("503", "the broker could not be read, or as many replays are running as the gateway, or this client address, may run (`busy`)"),
                ]), "200", ok("the records in the range, merged across partitions oldest first (by timestamp, then partition, then offset)", &replay)),
            }},
            "/api/search": {"get": {
                "summary": "Search a topic's history for what a filter selects, answered as it goes (NDJSON)",
                "description": "Scans each partition's range (from the beginning, an offset or a time, until the log end when the search began or a time), merged across partitions by timestamp, oldest or newest first, with manual assignment and no commits. Each line is one event: `started`, then `match`es (records as the stream sends them) and `progress` (scanned, matched, skipped, positions, records per second) about four times a second, then `done` (why: `end`, `limit`, `filter_stopped`, `timed_out`) or `error`. A client that closes the response stops the search. One search per client address and 2 in all at a time; at most 5 minutes each.",
                "parameters": [
                    topic_param("the topic to search; the gateway's own without it. Another must exist and be allowed (--topics, --show-internal)"),
                    query("filter", json!({"type": "string", "maxLength": wire::stream::MAX_FILTER_BYTES}), "jq's language over each record as the live filters see it (see the README); every record matches without one"),
                    query("from", json!({"type": "string", "enum": ["beginning", "offset", "timestamp"]}), "where to start"),
                    query("partition", json!({"type": "integer", "format": "int32", "minimum": 0}), "one partition only (needed with from=offset)"),
                    query("offset", json!({"type": "integer", "format": "int64", "minimum": 0}), "needed with from=offset"),
                    query("timestamp_ms", json!({"type": "integer", "format": "int64", "minimum": 0}), "needed with from=timestamp"),
                    query("until_ms", json!({"type": "integer", "format": "int64", "minimum": 0}), "records from this time on are not scanned"),
                    query("direction", json!({"type": "string", "enum": ["oldest", "newest"]}), "which records come first; default oldest"),
                    query("limit", json!({"type": "integer", "minimum": 1, "maximum": wire::search::MAX_SEARCH_MATCHES}), "matches at most; default 500"),
                ],
                "responses": with(errors(&[
                    ("403", "a topic the gateway does not show"),
                    ("404", "no such topic"),
                    ("422", "a parameter is missing, unknown or out of range, or the filter does not compile; `field` names it"),
                    ("500", "the filter's worker process could not be started"),
                    ("503", "the broker could not be read, or a search of this client address (or 2 in all) is running (`busy`)"),
                ]), "200", json!({"description": "the events, one JSON object a line", "content": {"application/x-ndjson": {"schema": search_event}}})),
            }},
            "/api/record": {"get": {
                "summary": "One record, whole: what the feed shows cut",
                "description": "The record at an offset, in the shape live filters and searches test records as, uncut up to a value of 16 MiB (a larger one is 413). Keys and values a Schema Registry schema describes are decoded (--schema-registry). Read with manual assignment, no commits, under the replays' turns.",
                "parameters": [
                    topic_param("the record's topic; the gateway's own without it. Another must exist and be allowed (--topics, --show-internal)"),
                    {"name": "partition", "in": "query", "required": true, "schema": {"type": "integer", "format": "int32", "minimum": 0}, "description": "the record's partition"},
                    {"name": "offset", "in": "query", "required": true, "schema": {"type": "integer", "format": "int64", "minimum": 0}, "description": "the record's offset"},
                ],
                "responses": with(errors(&[
                    ("403", "a topic the gateway does not show"),
                    ("404", "no such topic, or no record at that offset (past the end, before the log start, or compacted away)"),
                    ("413", "the record's value is over 16 MiB"),
                    ("422", "a parameter is missing, unknown or out of range, or the partition does not exist; `field` names it"),
                    ("503", "the broker could not be read, or as many reads are running as the gateway, or this client address, may run (`busy`)"),
                ]), "200", ok("the record", &full_record)),
            }},
            "/api/topics": {
                "get": {
                    "summary": "The cluster's topics (at most 200)",
                    "responses": with(errors(&[("503", "the broker could not be read")]), "200", ok("the topics", &topics)),
                },
                "post": {
                    "summary": "Create a topic",
                    "requestBody": body(&new_topic),
                    "responses": with(errors(&[
                        ("409", "a topic of that name exists"),
                        ("503", "the broker could not be reached"),
                    ].iter().chain(write_errors).copied().collect::<Vec<_>>()), "201", ok("created", &topic)),
                },
            },
            "/api/services": {"get": {
                "summary": "The demo services (consumer groups the gateway runs)",
                "responses": {"200": ok("the services", &services), "default": ok("an error", &error)},
            }},
            "/api/services/{name}": {"patch": {
                "summary": "Stop, start, scale or slow down a demo service",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": body(&service_update),
                "responses": service_changed,
            }},
            "/api/services/{name}/crash": {"post": {
                "summary": "Crash the service's newest member: it leaves without committing, so the orders it processed since its last commit are delivered again to the partitions' next owner (counted `redelivered`, not processed twice)",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": with(errors(&[
                    ("401", "a write without the API token the gateway requires"),
                    ("404", "no such service"),
                    ("409", "the service runs no member"),
                    ("429", "more writes from this address than --write-rate allows"),
                ]), "200", ok("the service after the crash", &service)),
            }},
            "/api/load": {
                "post": {
                    "summary": "Start a load run: N orders at R per second",
                    "requestBody": body(&load_request),
                    "responses": with(errors(&[("409", "a run is already running")].iter().chain(write_errors).copied().collect::<Vec<_>>()), "202", ok("started", &load_status)),
                },
                "get": {
                    "summary": "The last load run",
                    "responses": with(errors(&[("404", "no run yet")]), "200", ok("its progress", &load_status)),
                },
                "delete": {
                    "summary": "Stop the running load run",
                    "responses": with(errors(&[
                        ("401", "a write without the API token the gateway requires"),
                        ("404", "no run yet"),
                    ]), "200", ok("its progress when stopped", &load_status)),
                },
            },
            "/api/session": {
                "post": {
                    "summary": "Trade the API token (as a bearer) for the read-key cookie that /api reads and /ws accept with --protect-reads",
                    "description": "The cookie is HttpOnly and SameSite=Strict, holds a key the gateway made when it started (not the token), and opens reads only.",
                    "responses": with(errors(&[
                        ("401", "without the API token the gateway requires"),
                        ("429", "more writes from this address than --write-rate allows"),
                    ]), "204", json!({"description": "the cookie is set (Set-Cookie)"})),
                },
                "delete": {
                    "summary": "Clear the read-key cookie",
                    "responses": with(errors(&[]), "204", json!({"description": "the cookie is cleared (Set-Cookie)"})),
                },
            },
            "/ws": {"get": {
                "summary": "The live stream of a topic, as a WebSocket (the messages are in the README); without an upgrade, what the upgrade would get",
                "description": "With `Upgrade: websocket`, 101 and the stream. Without it, the same checks run and the answer is the error the upgrade would have got, or 426 `upgrade_required` when it would have been served: a browser does not tell a page why its WebSocket was refused, so the page asks this way.",
                "parameters": [
                    topic_param("the topic to stream; the gateway's own without it. Another topic must exist and be allowed (--topics, --show-internal), and is read while browsers watch it"),
                    query("last", json!({"type": "integer", "minimum": 0}), "recent records per partition to send first (at most the history the gateway keeps)"),
                    query("batch", json!({"type": "integer", "minimum": 1, "maximum": wire::stream::MAX_BATCH}), "most records in one message: records already waiting for the client (its history, or live ones arriving faster than it reads) come joined as `records` messages of up to this many (and 256 KiB); without it, one `record` message each"),
                    query("resume", json!({"type": "string"}), "P:O,P:O,...: per partition of the topic, the next offset the client needs"),
                    query("resume_topic", json!({"type": "string"}), "the topic the resume positions are of, for a client that names no topic: positions of another topic than the gateway's are ignored"),
                    query("filter", json!({"type": "string", "maxLength": wire::stream::MAX_FILTER_BYTES}), "a filter in jq's language over each record as {topic, partition, offset, timestamp, key, headers, value, value_format, truncated, size} (see the README): only records it selects are sent, from when it started, with `filter` status messages; not with resume. One that does not compile is 422 naming the character where it fails"),
                ],
                "responses": with(errors(&[
                    ("403", "a page from an origin that is not allowed, or a topic the gateway does not show"),
                    ("404", "no such topic"),
                    ("422", "a parameter is malformed; `field` names it"),
                    ("426", "no WebSocket upgrade; the stream would have been served"),
                    ("500", "a filter's worker process could not be started"),
                    ("503", "as many live clients as the gateway, or this client address, may have (`too_many_clients`), as many topics watched as --max-live-topics or filters running as --max-live-filters, in all or for this address (`busy`), or the broker could not be read"),
                ]), "101", json!({"description": "the WebSocket"})),
            }},
            "/api/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
            }},
        },
        "components": {"schemas": schemas},
    })
}
