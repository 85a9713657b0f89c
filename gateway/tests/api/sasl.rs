//! SASL to Kafka through passthrough properties, against a broker of the
//! test's own with a SASL_PLAINTEXT (PLAIN) listener: the gateway works with
//! the right credentials, and its password never shows in `/api/health`.

use crate::broker::{
    PrivateBroker, assert_group_types_read, assert_one_order_goes_through, free_port,
    wait_broker_unreachable,
};
use crate::helpers::*;

const PASSWORD: &str = "flow-s3cret-pw";

fn sasl(config: &mut gateway::Config, port: u16, password: &str) {
    sasl_with(config, port, "PLAIN", password);
}

fn sasl_with(config: &mut gateway::Config, port: u16, mechanism: &str, password: &str) {
    config.brokers = format!("127.0.0.1:{port}");
    config.kafka_properties = vec![
        ("security.protocol".into(), "SASL_PLAINTEXT".into()),
        ("sasl.mechanism".into(), mechanism.into()),
        ("sasl.username".into(), "flow".into()),
        ("sasl.password".into(), password.into()),
    ];
}

/// A broker of the test's own with a SASL_PLAINTEXT listener on `sasl_port`
/// offering `mechanisms`, configured further by `jaas` (its login modules).
fn sasl_broker(sasl_port: u16, mechanisms: &str, jaas: &str) -> PrivateBroker {
    PrivateBroker::new(|port, controller| {
        format!(
            "listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller},SASL_PLAINTEXT://127.0.0.1:{sasl_port}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT\n\
             sasl.enabled.mechanisms={mechanisms}\n{jaas}"
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_talks_sasl_plain_and_never_shows_the_password() {
    let sasl_port = free_port();
    let broker = sasl_broker(
        sasl_port,
        "PLAIN",
        &format!(
            "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_flow=\"{PASSWORD}\";\n"
        ),
    );
    broker.start().await;

    // The right credentials: healthy, and an order goes through.
    let app = spawn_with(|c| sasl(c, sasl_port, PASSWORD)).await;
    app.wait_healthy().await;
    assert_one_order_goes_through(&app, &broker.brokers(), "sasl-customer").await;
    assert_group_types_read(&app).await;
    let health = app.get("/api/health").await.text().await.expect("body");
    assert!(!health.contains(PASSWORD), "{health}");

    // A wrong password: the broker is reported unreachable, and the
    // password is nowhere in the report either.
    let wrong = "not-the-password";
    let refused = spawn_with(|c| sasl(c, sasl_port, wrong)).await;
    let report = wait_broker_unreachable(&refused).await;
    assert!(
        !report.contains(wrong) && !report.contains(PASSWORD),
        "{report}"
    );
}

/// SCRAM-SHA-256 and -512: librdkafka and the gateway's own protocol
/// client (which implements SCRAM itself) both authenticate, and a wrong
/// password is refused by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_talks_sasl_scram() {
    let sasl_port = free_port();
    let broker = sasl_broker(
        sasl_port,
        "SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
         listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n",
    );
    broker.start().await;
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        // One mechanism per request: the broker refuses two for one user.
        let credential = format!("{mechanism}=[password={PASSWORD}]");
        let added = kafka_tool_at(
            &broker.brokers(),
            "kafka.admin.ConfigCommand",
            &[
                "--alter",
                "--entity-type",
                "users",
                "--entity-name",
                "flow",
                "--add-config",
                &credential,
            ],
        )
        .await;
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        let app = spawn_with(|c| sasl_with(c, sasl_port, mechanism, PASSWORD)).await;
        app.wait_healthy().await;
        assert_one_order_goes_through(&app, &broker.brokers(), mechanism).await;
        assert_group_types_read(&app).await;
    }
    let refused = spawn_with(|c| sasl_with(c, sasl_port, "SCRAM-SHA-256", "wrong")).await;
    wait_broker_unreachable(&refused).await;
}
