//! The dashboard in headless Chromium, measured by `end2end/bench/browser.mjs`
//! while the suite sends load.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// What the page went through while the load ran.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct PageMetrics {
    pub seconds: f64,
    /// The longest main-thread task (the browser reports tasks over 50 ms;
    /// 0 means none was that long).
    pub longest_task_ms: f64,
    pub long_tasks: u64,
    pub frames: u64,
    /// Frames not drawn at 60 Hz.
    pub dropped_frames: u64,
    pub worst_frame_gap_ms: f64,
    /// Most elements in the document at any sample.
    pub dom_elements_max: u64,
    /// Records the page counted as seen during the window.
    pub records_shown: u64,
    /// Records the gateway dropped for the page (it fell behind), as the
    /// page reports them.
    pub records_missed: u64,
}

/// A page being measured.
pub struct Page {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Page {
    /// Opens the dashboard at `url` and waits until it is live and measuring.
    pub async fn open(repo: &Path, url: &str) -> anyhow::Result<Self> {
        let mut child = Command::new("node")
            .arg("bench/browser.mjs")
            .arg(url)
            .current_dir(repo.join("end2end"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting node end2end/bench/browser.mjs")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        match lines.next_line().await? {
            Some(line) if line == "ready" => Ok(Self {
                child,
                stdin: Some(stdin),
                lines,
            }),
            other => bail!("the browser did not get ready: {other:?}"),
        }
    }

    /// Stops measuring; what the page went through.
    pub async fn finish(mut self) -> anyhow::Result<PageMetrics> {
        if let Some(mut stdin) = self.stdin.take() {
            stdin.write_all(b"stop\n").await?;
            // Closed: the script has nothing more to wait for.
        }
        let line = self
            .lines
            .next_line()
            .await?
            .context("the browser exited without its metrics")?;
        let _ = self.child.wait().await;
        serde_json::from_str(&line).with_context(|| format!("reading the page metrics: {line}"))
    }
}
