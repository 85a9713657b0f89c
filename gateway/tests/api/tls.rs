//! TLS to Kafka through passthrough properties, against a broker of the
//! test's own with an SSL listener and a self-signed certificate: the
//! gateway works when it trusts that certificate, and reports the broker
//! unreachable when it trusts another.

use std::path::Path;
use std::process::Command;

use crate::broker::{
    PrivateBroker, assert_group_types_read, assert_one_order_goes_through, free_port,
    wait_broker_unreachable,
};
use crate::helpers::*;

const STORE_PASSWORD: &str = "flow-keystore-pw";

/// A self-signed certificate for 127.0.0.1 in a PKCS12 keystore, and the
/// certificate alone as PEM (what the client trusts).
fn certificate(dir: &Path, name: &str) -> (String, String) {
    let store = dir.join(format!("{name}.p12"));
    let pem = dir.join(format!("{name}.pem"));
    let keytool = |args: &[&str]| {
        let status = Command::new("keytool")
            .args(args)
            .status()
            .expect("keytool (from the JDK)");
        assert!(status.success(), "keytool {args:?}");
    };
    let store_path = store.to_str().expect("utf-8 path");
    keytool(&[
        "-genkeypair",
        "-alias",
        name,
        "-keyalg",
        "RSA",
        "-keysize",
        "2048",
        "-validity",
        "2",
        "-dname",
        "CN=127.0.0.1",
        "-ext",
        "SAN=IP:127.0.0.1",
        "-storetype",
        "PKCS12",
        "-keystore",
        store_path,
        "-storepass",
        STORE_PASSWORD,
        "-keypass",
        STORE_PASSWORD,
    ]);
    keytool(&[
        "-exportcert",
        "-rfc",
        "-alias",
        name,
        "-keystore",
        store_path,
        "-storepass",
        STORE_PASSWORD,
        "-file",
        pem.to_str().expect("utf-8 path"),
    ]);
    (
        store_path.to_owned(),
        pem.to_str().expect("utf-8 path").to_owned(),
    )
}

fn tls(config: &mut gateway::Config, port: u16, trusted: &str) {
    config.brokers = format!("127.0.0.1:{port}");
    config.kafka_properties = vec![
        ("security.protocol".into(), "SSL".into()),
        ("ssl.ca.location".into(), trusted.into()),
    ];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_talks_tls_to_a_broker_it_trusts_and_only_to_one() {
    let dir = std::env::temp_dir().join(unique("kafka-flow-tls"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (keystore, broker_cert) = certificate(&dir, "broker");
    let (_, other_cert) = certificate(&dir, "other");
    let tls_port = free_port();
    let broker = PrivateBroker::new(|port, controller| {
        format!(
            "listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller},SSL://127.0.0.1:{tls_port}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{tls_port}\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL\n\
             ssl.keystore.type=PKCS12\n\
             ssl.keystore.location={keystore}\n\
             ssl.keystore.password={STORE_PASSWORD}\n\
             ssl.key.password={STORE_PASSWORD}\n"
        )
    });
    broker.start().await;

    // Trusting the broker's certificate: healthy, and an order goes through.
    let app = spawn_with(|c| tls(c, tls_port, &broker_cert)).await;
    app.wait_healthy().await;
    assert_one_order_goes_through(&app, &broker.brokers(), "tls-customer").await;
    assert_group_types_read(&app).await;

    // Trusting another certificate: the handshake fails, and health says so.
    let untrusting = spawn_with(|c| tls(c, tls_port, &other_cert)).await;
    wait_broker_unreachable(&untrusting).await;
    let _ = std::fs::remove_dir_all(&dir);
}
