//! A release gateway started for one measurement, on a topic of its own.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A running gateway; stopped (SIGTERM, then waited for) on [`Gateway::stop`],
/// killed if dropped.
pub struct Gateway {
    child: Child,
    /// host:port it listens on.
    pub addr: String,
}

/// The per-address caps a gateway needs when every client is one address:
/// the suite's 1,000 stream clients and its keep-alive pools. The defaults
/// stay what a deployment needs; the suite says what it needs here.
pub const LOOPBACK_CAPS: [&str; 6] = [
    "--max-clients-per-address",
    "4096",
    "--max-connections-per-address",
    "10000",
    "--max-batches-per-address",
    "8",
];

impl Gateway {
    /// Starts `bin` on a free port with `topic` (created by the gateway) and
    /// `extra` flags, and waits until its health endpoint answers 200.
    /// Every client of the suite connects from 127.0.0.1, so the per-address
    /// caps are raised to the gateway-wide ones ([`LOOPBACK_CAPS`]).
    pub async fn start(
        bin: &Path,
        brokers: &str,
        static_dir: &Path,
        topic: &str,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(bin)
            .args(["--listen", &addr, "--brokers", brokers, "--topic", topic])
            .arg("--static-dir")
            .arg(static_dir)
            .args(LOOPBACK_CAPS)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let gateway = Self { child, addr };
        let health = format!("http://{}/api/health", gateway.addr);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(&health).send().await
                && r.status() == 200
            {
                return Ok(gateway);
            }
            if Instant::now() > deadline {
                bail!(
                    "the gateway on {} did not become healthy in 60 s",
                    gateway.addr
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the gateway has exited")
    }

    /// Graceful stop, as an operator would: SIGTERM, then wait.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("the gateway did not stop within 30 s")??;
        Ok(())
    }
}
