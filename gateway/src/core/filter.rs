//! Filters run in worker processes: the gateway's own executable started
//! with [`WORKER_ENV`] set, one process per filter, speaking a small
//! protocol over its standard input and output.
//!
//! Why a process: jaq (`core::jq`) cannot be interrupted, bounded in
//! memory or guarded against deep recursion from inside, so a filter that
//! loops, allocates without end or overflows the stack would take the
//! gateway with it. A worker that takes longer than [`PER_RECORD`] over a
//! record is killed and started again; one that dies (out of memory under
//! its [`WORKER_MEMORY`] limit, or its stack) is started again; the record
//! it was on is skipped with the reason. After [`MAX_FAILURES`] such
//! records in a row the filter is stopped for good.
//!
//! The protocol: each message to the worker is a decimal length, a
//! newline and that many bytes. The first is the filter; the worker
//! answers `ok` or `invalid AT MESSAGE` (AT a character index, MESSAGE a
//! JSON string) on one line. Every later message is a record's document
//! (see `kafka::record::document`), answered in order with one line each:
//! `y` (matches), `n` (does not) or `e MESSAGE` (skipped, and why). The
//! gateway writes a batch while it reads the batch's answers, and the
//! worker reads its input on a thread of its own (a bounded queue ahead of
//! its evaluator), so that both sides work at once.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::jq::{Invalid, Program, Verdict};

/// Set in a worker's environment: the executable then serves one filter
/// on its standard input and output instead of starting a gateway.
pub const WORKER_ENV: &str = "KAFKA_FLOW_FILTER_WORKER";
/// A worker that has not answered for a record within this time is killed,
/// and the record skipped.
pub(crate) const PER_RECORD: Duration = Duration::from_secs(1);
/// A worker that does not say whether its filter compiles within this time
/// is killed (compiling a filter of at most `wire::stream::MAX_FILTER_BYTES`
/// takes microseconds).
const COMPILE_DEADLINE: Duration = Duration::from_secs(5);
/// Address space a worker may use, set by the worker on itself: a filter
/// that builds an endless string or array fails there, not in the gateway.
pub(crate) const WORKER_MEMORY: u64 = 1024 * 1024 * 1024;
/// Records in a row whose worker had to be killed or died before the
/// filter is stopped for good.
pub(crate) const MAX_FAILURES: u32 = 3;
/// Records one batch sends to a worker at most.
pub(crate) const MAX_BATCH: usize = 1_000;
/// Records a worker holds read and not yet tested, at most (its reader
/// waits beyond, and the gateway's write with it while it reads answers).
const WORKER_QUEUE: usize = 64;
/// Largest message either side takes: a record's document is at most the
/// value cap plus its key, headers and framing.
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// An answer line is at most this long (an error message is cut shorter).
const MAX_ANSWER_BYTES: u64 = 1024;

/// Why a filter cannot run.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// The filter does not compile.
    #[error("at character {}: {}", .0.at + 1, .0.message)]
    Invalid(Invalid),
    /// A worker could not be started or did not answer: the gateway's
    /// fault, or the machine's.
    #[error("the filter's worker process failed: {0}")]
    Worker(String),
}

/// The filter was stopped: its worker failed [`MAX_FAILURES`] records in a
/// row, the last for this reason.
#[derive(Debug, Clone)]
pub(crate) struct Stopped(pub(crate) String);

/// One filter's worker, started again when it fails.
pub(crate) struct FilterProcess {
    exe: PathBuf,
    code: String,
    worker: Option<Worker>,
    /// Records in a row whose worker failed.
    failures: u32,
    /// Workers started again after a failure, in all.
    pub(crate) restarts: u64,
}

impl FilterProcess {
    /// Starts a worker of `exe` for `code`: `Invalid` if it does not compile.
    pub(crate) async fn start(exe: &Path, code: &str) -> Result<Self, FilterError> {
        let worker = Worker::start(exe, code).await?;
        Ok(Self {
            exe: exe.to_owned(),
            code: code.to_owned(),
            worker: Some(worker),
            failures: 0,
            restarts: 0,
        })
    }

    /// Tests each document, in order. A record the worker failed on is
    /// skipped with the reason; `Stopped` once [`MAX_FAILURES`] in a row
    /// failed, with the verdicts so far (the rest were not tested).
    pub(crate) async fn test(
        &mut self,
        documents: &[Bytes],
    ) -> Result<Vec<Verdict>, (Vec<Verdict>, Stopped)> {
        let mut verdicts = Vec::with_capacity(documents.len());
        while verdicts.len() < documents.len() {
            let Some(worker) = self.worker.as_mut() else {
                return Err((verdicts, Stopped("the filter was stopped".into())));
            };
            let before = verdicts.len();
            let failed = worker.test(&documents[before..], &mut verdicts).await.err();
            if verdicts.len() > before {
                self.failures = 0;
            }
            let Some(why) = failed else { continue };
            // The worker failed on the next record: skip it, start anew.
            verdicts.push(Verdict::Skipped(why.clone()));
            self.failures += 1;
            self.worker = None;
            if self.failures >= MAX_FAILURES {
                let stopped = Stopped(format!(
                    "its worker was stopped or died on {MAX_FAILURES} records in a row; the last \
                     time: {why}"
                ));
                return Err((verdicts, stopped));
            }
            match Worker::start(&self.exe, &self.code).await {
                Ok(worker) => {
                    self.worker = Some(worker);
                    self.restarts += 1;
                }
                Err(err) => return Err((verdicts, Stopped(err.to_string()))),
            }
        }
        Ok(verdicts)
    }
}

/// A running worker process.
struct Worker {
    /// Killed when dropped.
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    async fn start(exe: &Path, code: &str) -> Result<Self, FilterError> {
        let mut child = Command::new(exe)
            // Nothing of the gateway's environment (its token, its Kafka
            // secrets) is within a filter's reach.
            .env_clear()
            .env(WORKER_ENV, "1")
            // mimalloc reserves address space 1 GiB at a time by default,
            // which the worker's own limit (WORKER_MEMORY) would refuse at
            // its first thread: smaller reservations fit under it.
            .env("MIMALLOC_ARENA_RESERVE", "64M")
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| FilterError::Worker(format!("cannot start {}: {err}", exe.display())))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(FilterError::Worker("no pipes to the worker".into()));
        };
        let mut worker = Self {
            _child: child,
            stdin,
            stdout: BufReader::new(stdout),
        };
        let mut message = framed(code.len());
        message.extend_from_slice(code.as_bytes());
        let answer = tokio::time::timeout(COMPILE_DEADLINE, async {
            worker.stdin.write_all(&message).await.ok()?;
            worker.stdin.flush().await.ok()?;
            answer(&mut worker.stdout).await
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| FilterError::Worker("the worker did not answer".into()))?;
        if answer == "ok" {
            return Ok(worker);
        }
        match parse_invalid(&answer) {
            Some(invalid) => Err(FilterError::Invalid(invalid)),
            None => Err(FilterError::Worker(format!("unexpected answer {answer:?}"))),
        }
    }

    /// Sends `documents` and reads their verdicts into `verdicts`, one by
    /// one; an error (why) when the worker fails on the next one.
    async fn test(
        &mut self,
        documents: &[Bytes],
        verdicts: &mut Vec<Verdict>,
    ) -> Result<(), String> {
        let mut batch = Vec::new();
        for document in documents {
            batch.extend_from_slice(&framed(document.len()));
            batch.extend_from_slice(document);
        }
        let Self { stdin, stdout, .. } = self;
        // Written while the answers are read: the worker tests the first
        // records while the last are still on their way, and a worker that
        // stops taking records is found by its answers not coming.
        let write = async {
            stdin.write_all(&batch).await?;
            stdin.flush().await
        };
        let read = async {
            for _ in documents {
                // Answers come many to a read: those read already need no wait.
                let answer = match buffered_answer(stdout) {
                    Some(answer) => answer,
                    None => match tokio::time::timeout(PER_RECORD, answer(stdout)).await {
                        Ok(Some(answer)) => answer,
                        Ok(None) => {
                            return Err("the filter ended its worker (out of memory, or too \
                                        deep a recursion)"
                                .to_owned());
                        }
                        Err(_) => {
                            return Err(format!(
                                "the filter took over {} ms on this record",
                                PER_RECORD.as_millis()
                            ));
                        }
                    },
                };
                verdicts.push(verdict(&answer)?);
            }
            Ok(())
        };
        tokio::pin!(write, read);
        let mut written = false;
        loop {
            tokio::select! {
                done = &mut write, if !written => {
                    if done.is_err() {
                        return Err("the filter's worker stopped taking records".into());
                    }
                    written = true;
                }
                answered = &mut read => return answered,
            }
        }
    }
}

/// The next answer line if the reader holds it whole already.
fn buffered_answer(stdout: &mut BufReader<ChildStdout>) -> Option<String> {
    let held = stdout.buffer();
    let end = held.iter().position(|&b| b == b'\n')?;
    let line = String::from_utf8_lossy(&held[..end]).into_owned();
    std::pin::Pin::new(stdout).consume(end + 1);
    Some(line)
}

/// One answer line, without its newline; `None` at the end of the
/// worker's output.
async fn answer(stdout: &mut BufReader<ChildStdout>) -> Option<String> {
    let mut line = String::new();
    let read = stdout
        .take(MAX_ANSWER_BYTES)
        .read_line(&mut line)
        .await
        .ok()?;
    if read == 0 || !line.ends_with('\n') {
        return None;
    }
    line.pop();
    Some(line)
}

/// An answer line as a verdict; an error for one the protocol has not.
fn verdict(answer: &str) -> Result<Verdict, String> {
    match answer {
        "y" => Ok(Verdict::Match),
        "n" => Ok(Verdict::NoMatch),
        _ => match answer.strip_prefix("e ") {
            Some(json) => Ok(Verdict::Skipped(
                serde_json::from_str(json).unwrap_or_else(|_| json.into()),
            )),
            None => Err(format!("the worker answered {answer:?}")),
        },
    }
}

/// A message's length line.
fn framed(len: usize) -> Vec<u8> {
    format!("{len}\n").into_bytes()
}

/// `invalid AT MESSAGE`, as the worker says it.
fn parse_invalid(answer: &str) -> Option<Invalid> {
    let rest = answer.strip_prefix("invalid ")?;
    let (at, message) = rest.split_once(' ')?;
    Some(Invalid {
        at: at.parse().ok()?,
        message: serde_json::from_str(message).ok()?,
    })
}

/// The worker process's `main`: serves one filter on standard input and
/// output until its input ends. Called by the gateway's executable when
/// [`WORKER_ENV`] is set.
pub fn serve_worker() -> ExitCode {
    // The limit is the worker's own: a filter that exhausts it fails here.
    let _ = rlimit::setrlimit(rlimit::Resource::AS, WORKER_MEMORY, WORKER_MEMORY);
    let mut input = std::io::BufReader::new(std::io::stdin());
    let mut output = std::io::BufWriter::new(std::io::stdout().lock());
    let Some(code) = read_message(&mut input) else {
        return ExitCode::FAILURE;
    };
    let program = match std::str::from_utf8(&code)
        .map_err(|_| Invalid {
            at: 0,
            message: "the filter is not UTF-8".into(),
        })
        .and_then(Program::compile)
    {
        Ok(program) => {
            let _ = writeln!(output, "ok");
            program
        }
        Err(invalid) => {
            let message = serde_json::to_string(&invalid.message).unwrap_or_default();
            let _ = writeln!(output, "invalid {} {message}", invalid.at);
            let _ = output.flush();
            return ExitCode::SUCCESS;
        }
    };
    if output.flush().is_err() {
        return ExitCode::FAILURE;
    }
    let (documents, queue) = std::sync::mpsc::sync_channel::<Vec<u8>>(WORKER_QUEUE);
    std::thread::spawn(move || {
        while let Some(document) = read_message(&mut input) {
            if documents.send(document).is_err() {
                break;
            }
        }
        // The gateway closed the pipe, or died: the records read are
        // answered if they can be, and the worker ends in any case, even in
        // the middle of a record that would never finish.
        drop(documents);
        std::thread::sleep(PER_RECORD * 2);
        std::process::exit(0);
    });
    while let Ok(document) = queue.recv() {
        let written = match program.test(&document) {
            Verdict::Match => writeln!(output, "y"),
            Verdict::NoMatch => writeln!(output, "n"),
            Verdict::Skipped(why) => writeln!(
                output,
                "e {}",
                serde_json::to_string(&why).unwrap_or_default()
            ),
        };
        // Every answer leaves before the next record is tested: the gateway
        // times each record by its answer, and a record that ends the
        // worker must not take the answers before it along.
        if written.and_then(|()| output.flush()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// One length-framed message; `None` at the end of the input or on a
/// malformed frame.
fn read_message(input: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    input.by_ref().take(24).read_line(&mut line).ok()?;
    let len: usize = line.trim_end().parse().ok()?;
    if len > MAX_MESSAGE_BYTES {
        return None;
    }
    let mut message = vec![0; len];
    input.read_exact(&mut message).ok()?;
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_framed_by_their_length() {
        let mut input: &[u8] = b"3\nabc0\n5\nx\ny\nz";
        assert_eq!(read_message(&mut input).as_deref(), Some(&b"abc"[..]));
        assert_eq!(read_message(&mut input).as_deref(), Some(&b""[..]));
        // A document may hold newlines: the length decides.
        assert_eq!(read_message(&mut input).as_deref(), Some(&b"x\ny\nz"[..]));
        assert_eq!(read_message(&mut input), None);
        let mut short: &[u8] = b"10\nabc";
        assert_eq!(read_message(&mut short), None);
        let mut huge: &[u8] = b"99999999999\n";
        assert_eq!(read_message(&mut huge), None);
        let mut garbage: &[u8] = b"abc\n";
        assert_eq!(read_message(&mut garbage), None);
    }

    #[test]
    fn an_invalid_answer_is_read_back() {
        assert_eq!(
            parse_invalid(r#"invalid 4 "expected term""#),
            Some(Invalid {
                at: 4,
                message: "expected term".into()
            })
        );
        assert_eq!(parse_invalid("invalid x y"), None);
    }
}
