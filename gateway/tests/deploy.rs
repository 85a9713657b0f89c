//! The containerized demo (`docker compose up`) cannot run here: there is no
//! Docker engine. These tests check what can be checked without one: the
//! compose file parses and wires the gateway to the broker, it runs the same
//! Kafka version as `scripts/kafka.sh`, and the image is built by the same
//! scripts as CI.

use std::path::Path;

use serde_norway::Value;

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn compose() -> Value {
    serde_norway::from_str(&repo_file("docker-compose.yml")).expect("docker-compose.yml parses")
}

fn env<'a>(service: &'a Value, key: &str) -> &'a str {
    service["environment"][key]
        .as_str()
        .unwrap_or_else(|| panic!("environment {key} is not set"))
}

#[test]
fn compose_runs_the_kafka_version_the_script_runs() {
    let pom = repo_file("kafka/pom.xml");
    let version = pom
        .split("<kafka.version>")
        .nth(1)
        .and_then(|rest| rest.split("</kafka.version>").next())
        .expect("kafka.version in kafka/pom.xml");
    let compose = compose();
    assert_eq!(
        compose["services"]["kafka"]["image"].as_str(),
        Some(format!("apache/kafka:{version}").as_str())
    );
}

#[test]
fn compose_kafka_is_single_node_kraft_with_a_healthcheck() {
    let compose = compose();
    let kafka = &compose["services"]["kafka"];
    assert_eq!(env(kafka, "KAFKA_PROCESS_ROLES"), "broker,controller");
    assert!(env(kafka, "KAFKA_CONTROLLER_QUORUM_VOTERS").starts_with("1@"));
    assert!(kafka["healthcheck"]["test"].is_sequence());
}

#[test]
fn compose_gateway_reaches_kafka_on_an_advertised_listener() {
    let compose = compose();
    let services = &compose["services"];
    let brokers = env(&services["gateway"], "KAFKA_BROKERS");
    let advertised = env(&services["kafka"], "KAFKA_ADVERTISED_LISTENERS");
    assert!(
        advertised
            .split(',')
            .any(|l| l.ends_with(&format!("//{brokers}"))),
        "{brokers} is not among {advertised}"
    );
    assert_eq!(
        services["gateway"]["depends_on"]["kafka"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert_eq!(
        services["gateway"]["ports"][0].as_str(),
        Some("127.0.0.1:8080:8080")
    );
}

#[test]
fn compose_publishes_nothing_beyond_the_hosts_loopback() {
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    for (name, service) in services {
        for port in service["ports"].as_sequence().into_iter().flatten() {
            let port = port.as_str().expect("a port as text");
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name:?} publishes {port} on every interface of the host"
            );
        }
    }
    // The Kafka listener the tutorial's programs use on the host.
    let kafka = &compose["services"]["kafka"];
    assert_eq!(kafka["ports"][0].as_str(), Some("127.0.0.1:9092:9092"));
    assert!(env(kafka, "KAFKA_ADVERTISED_LISTENERS").contains("PLAINTEXT://localhost:9092"));
    // The gateway listens on 0.0.0.0 inside its container and says open
    // writes are meant; it would refuse to start otherwise.
    assert_eq!(
        env(&compose["services"]["gateway"], "GATEWAY_ALLOW_OPEN_WRITES"),
        "true"
    );
}

#[test]
fn the_image_is_built_by_the_same_scripts_as_ci() {
    let dockerfile = repo_file("Dockerfile");
    let runs: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("RUN "))
        .collect();
    assert!(runs.contains(&"scripts/setup.sh --build"), "{runs:?}");
    assert!(runs.contains(&"scripts/build.sh"), "{runs:?}");

    let test = repo_file("scripts/test.sh");
    assert!(test.lines().any(|l| l.trim() == "scripts/build.sh"));
    assert!(
        test.lines()
            .any(|l| l.trim().starts_with("scripts/setup.sh"))
    );
    assert!(repo_file(".ci/run").contains("scripts/test.sh"));
}

#[test]
fn the_dev_server_builds_somewhere_else_than_the_release_build_the_gateway_serves() {
    let trunk = repo_file("Trunk.toml");
    let dist = trunk
        .lines()
        .find_map(|l| l.trim().strip_prefix("dist = "))
        .expect("Trunk.toml sets [build] dist")
        .trim_matches('"');
    assert_ne!(
        dist, "dist",
        "trunk serve would overwrite the release build in dist/"
    );
    assert!(
        repo_file("scripts/build.sh").contains("trunk build --release --offline --dist dist"),
        "scripts/build.sh builds the release dashboard into dist/"
    );
}
