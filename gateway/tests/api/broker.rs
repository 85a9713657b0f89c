//! A Kafka broker of one test's own, for tests that kill it or configure it
//! unlike the shared one.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::unique;

/// A single-node Kafka of this test alone, run by scripts/kafka.sh on free
/// ports with its own data, so killing it disturbs no other test.
pub struct PrivateBroker {
    dir: PathBuf,
    pub port: u16,
    controller_port: u16,
}

pub fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

impl PrivateBroker {
    /// A broker whose configuration gets, besides the defaults, what
    /// `extra` returns for its client and controller ports (e.g. a SASL
    /// listener).
    pub fn new(extra: impl FnOnce(u16, u16) -> String) -> Self {
        let dir = std::env::temp_dir().join(unique("kafka-flow-broker"));
        std::fs::create_dir_all(&dir).expect("state dir");
        // The jars of the shared broker, when it was installed here: no
        // second download.
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.kafka/lib");
        if shared.is_dir() {
            let _ = std::os::unix::fs::symlink(&shared, dir.join("lib"));
        }
        let (port, controller_port) = (free_port(), free_port());
        std::fs::write(dir.join("extra.properties"), extra(port, controller_port))
            .expect("extra properties");
        Self {
            dir,
            port,
            controller_port,
        }
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn script(&self, command: &str) -> Command {
        let mut script =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh"));
        script
            .arg(command)
            .env_remove("KAFKA_BROKERS")
            .env("KAFKA_PORT", self.port.to_string())
            .env("KAFKA_CONTROLLER_PORT", self.controller_port.to_string())
            .env("KAFKA_STATE_DIR", &self.dir)
            .env("KAFKA_EXTRA_PROPERTIES", self.dir.join("extra.properties"));
        script
    }

    /// Starts it (again) and returns once it answers.
    pub async fn start(&self) {
        let mut script = self.script("start");
        let status = tokio::task::spawn_blocking(move || script.status())
            .await
            .expect("task")
            .expect("run kafka.sh start");
        assert!(status.success(), "the private broker did not start");
    }

    /// SIGKILL: no shutdown, no flush; what the broker had acknowledged
    /// must survive in its log.
    pub fn kill(&self) {
        let pid = std::fs::read_to_string(self.dir.join("broker.pid")).expect("pid file");
        let status = Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.script("stop").status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
