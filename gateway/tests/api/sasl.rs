//! SASL to Kafka through passthrough properties, against a broker of the
//! test's own with a SASL_PLAINTEXT (PLAIN) listener: the gateway works with
//! the right credentials, and its password never shows in `/api/health`.

use crate::broker::{
    PrivateBroker, assert_one_order_goes_through, free_port, wait_broker_unreachable,
};
use crate::helpers::*;

const PASSWORD: &str = "flow-s3cret-pw";

fn sasl(config: &mut gateway::Config, port: u16, password: &str) {
    config.brokers = format!("127.0.0.1:{port}");
    config.kafka_properties = vec![
        ("security.protocol".into(), "SASL_PLAINTEXT".into()),
        ("sasl.mechanism".into(), "PLAIN".into()),
        ("sasl.username".into(), "flow".into()),
        ("sasl.password".into(), password.into()),
    ];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_talks_sasl_plain_and_never_shows_the_password() {
    let sasl_port = free_port();
    let broker = PrivateBroker::new(|port, controller| {
        format!(
            "listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller},SASL_PLAINTEXT://127.0.0.1:{sasl_port}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT\n\
             sasl.enabled.mechanisms=PLAIN\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_flow=\"{PASSWORD}\";\n"
        )
    });
    broker.start().await;

    // The right credentials: healthy, and an order goes through.
    let app = spawn_with(|c| sasl(c, sasl_port, PASSWORD)).await;
    app.wait_healthy().await;
    assert_one_order_goes_through(&app, &broker.brokers(), "sasl-customer").await;
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
