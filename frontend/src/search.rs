//! A search of the topic's history (`GET /api/search`): the form's draft
//! turned into a query, and a reducer over the answer's NDJSON lines, with
//! the matches exported as NDJSON or CSV.

use wire::search::{
    DEFAULT_SEARCH_MATCHES, MAX_SEARCH_MATCHES, SearchDone, SearchEnd, SearchEvent, SearchProgress,
};
use wire::{FieldError, LiveRecord, Payload};

use crate::replay::ReplayDraft;

/// What the search form holds, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDraft {
    /// Where to read from, which partition, and how many matches.
    pub range: ReplayDraft,
    /// jq's language; empty: every record.
    pub filter: String,
    pub newest_first: bool,
}

impl Default for SearchDraft {
    fn default() -> Self {
        Self {
            range: ReplayDraft {
                limit: DEFAULT_SEARCH_MATCHES.to_string(),
                ..ReplayDraft::default()
            },
            filter: String::new(),
            newest_first: false,
        }
    }
}

impl SearchDraft {
    /// The query string (of `topic`, the gateway's own for `None`), or the
    /// field to fix. The gateway checks again.
    pub fn to_query(&self, topic: Option<&str>) -> Result<String, FieldError> {
        let mut query = self.range.query_up_to(MAX_SEARCH_MATCHES)?;
        if self.filter.len() > wire::stream::MAX_FILTER_BYTES {
            return Err(FieldError {
                field: "filter".into(),
                message: format!("at most {} bytes", wire::stream::MAX_FILTER_BYTES),
            });
        }
        if !self.filter.trim().is_empty() {
            query.push_str(&format!(
                "&filter={}",
                crate::location::encode(self.filter.trim())
            ));
        }
        if self.newest_first {
            query.push_str("&direction=newest");
        }
        if let Some(topic) = topic {
            query.push_str(&format!("&topic={topic}"));
        }
        Ok(query)
    }
}

/// A search as it runs: what it scans, how far it is, what it found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchRun {
    /// Records in the ranges scanned.
    pub total: u64,
    pub newest_first: bool,
    pub progress: SearchProgress,
    /// Every match, in the order found (at most the search's limit,
    /// `wire::search::MAX_SEARCH_MATCHES`).
    pub matches: Vec<LiveRecord>,
    pub done: Option<SearchDone>,
    pub error: Option<String>,
    /// Stopped by the person.
    pub stopped: bool,
}

impl SearchRun {
    pub fn apply(&mut self, event: SearchEvent) {
        match event {
            SearchEvent::Started {
                total,
                newest_first,
                ..
            } => {
                self.total = total;
                self.newest_first = newest_first;
            }
            SearchEvent::Match(record) => {
                if self.matches.len() < MAX_SEARCH_MATCHES {
                    self.matches.push(*record);
                }
            }
            SearchEvent::Progress(progress) => self.progress = progress,
            SearchEvent::Done(done) => {
                self.progress = done.progress.clone();
                self.done = Some(done);
            }
            SearchEvent::Error { message } => self.error = Some(message),
        }
    }

    pub fn finished(&self) -> bool {
        self.done.is_some() || self.error.is_some() || self.stopped
    }

    /// How far the scan is, from 0 to 100: 100 once every record was read.
    pub fn percent(&self) -> f64 {
        match &self.done {
            Some(done) if done.reason == SearchEnd::End => 100.0,
            _ if self.total == 0 => 0.0,
            _ => (self.progress.scanned as f64 * 100.0 / self.total as f64).min(100.0),
        }
    }

    /// In words: how far, how fast, what was found, and why it ended.
    pub fn summary(&self) -> String {
        let p = &self.progress;
        let mut text = format!(
            "{} matched of {} scanned ({:.0}% of {}) · {:.0} records/s",
            p.matched,
            p.scanned,
            self.percent(),
            self.total,
            p.records_per_second
        );
        if p.skipped > 0 {
            text.push_str(&format!(" · {} skipped", p.skipped));
            if let Some(why) = &p.last_error {
                text.push_str(&format!(" (last: {why})"));
            }
        }
        let end = match (&self.done, &self.error, self.stopped) {
            (_, Some(error), _) => format!(" · failed: {error}"),
            (Some(done), _, _) => match done.reason {
                SearchEnd::End => " · done".into(),
                SearchEnd::Limit => " · stopped at the limit".into(),
                SearchEnd::FilterStopped => " · the filter was stopped".into(),
                SearchEnd::TimedOut => " · out of time (5 minutes)".into(),
            },
            (None, None, true) => " · stopped".into(),
            _ => String::new(),
        };
        text.push_str(&end);
        text
    }

    /// The matches as NDJSON: each record as the stream sends it, a line.
    pub fn to_ndjson(&self) -> String {
        let mut out = String::new();
        for record in &self.matches {
            if let Ok(line) = serde_json::to_string(record) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }

    /// The matches as CSV: partition, offset, timestamp, key, value.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("partition,offset,timestamp_ms,key,value\n");
        for r in &self.matches {
            let value = match &r.payload {
                Payload::Json { value } => value.to_string(),
                Payload::Text { text, .. } => text.clone(),
                Payload::Binary { hex, .. } => format!("0x{hex}"),
                Payload::Null => String::new(),
            };
            let timestamp = r.timestamp_ms.map(|t| t.to_string()).unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{},{}\n",
                r.partition,
                r.offset,
                timestamp,
                csv_field(r.key.as_deref().unwrap_or("")),
                csv_field(&value)
            ));
        }
        out
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Splits a byte stream into lines as its chunks arrive (a line may end in
/// a later chunk than it began), at most `MAX_LINE` bytes held.
#[derive(Debug, Default)]
pub struct Lines {
    pending: Vec<u8>,
}

/// Longest line held: a match is at most a record as the stream sends it.
const MAX_LINE: usize = 4 * 1024 * 1024;

impl Lines {
    /// The lines `chunk` completes; an over-long line is dropped.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in chunk {
            if b == b'\n' {
                lines.push(String::from_utf8_lossy(&self.pending).into_owned());
                self.pending.clear();
            } else if self.pending.len() < MAX_LINE {
                self.pending.push(b);
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wire::search::SearchDone;

    fn record(offset: i64, key: Option<&str>, payload: Payload) -> LiveRecord {
        LiveRecord {
            partition: 1,
            offset,
            key: key.map(str::to_owned),
            headers: Vec::new(),
            timestamp_ms: Some(5),
            produced_at_ms: None,
            consumed_at_ms: 6,
            size: 10,
            payload,
            key_schema: None,
            value_schema: None,
        }
    }

    #[test]
    fn the_draft_becomes_the_query() {
        let mut draft = SearchDraft::default();
        assert_eq!(
            draft.to_query(None).expect("query"),
            format!("from=beginning&limit={DEFAULT_SEARCH_MATCHES}")
        );
        draft.filter = r#" select(.key == "a b") "#.into();
        draft.newest_first = true;
        draft.range.limit = "10000".into();
        assert_eq!(
            draft.to_query(Some("payments")).expect("query"),
            "from=beginning&limit=10000&filter=select%28.key%20%3D%3D%20%22a%20b%22%29&direction=newest&topic=payments"
        );
        draft.range.limit = "10001".into();
        assert_eq!(draft.to_query(None).expect_err("too many").field, "limit");
        draft.range.limit = "5".into();
        draft.filter = "x".repeat(3000);
        assert_eq!(draft.to_query(None).expect_err("too long").field, "filter");
    }

    #[test]
    fn a_run_follows_its_events_to_the_end() {
        let mut run = SearchRun::default();
        run.apply(SearchEvent::Started {
            topic: "t".into(),
            ranges: Vec::new(),
            total: 200,
            newest_first: false,
        });
        run.apply(SearchEvent::Match(Box::new(record(
            3,
            Some("k"),
            Payload::Null,
        ))));
        run.apply(SearchEvent::Progress(SearchProgress {
            scanned: 50,
            matched: 1,
            records_per_second: 1000.0,
            ..SearchProgress::default()
        }));
        assert_eq!(run.percent(), 25.0);
        assert!(!run.finished());
        assert!(
            run.summary()
                .starts_with("1 matched of 50 scanned (25% of 200)"),
            "{}",
            run.summary()
        );
        run.apply(SearchEvent::Done(SearchDone {
            reason: SearchEnd::End,
            progress: SearchProgress {
                scanned: 180,
                matched: 1,
                ..SearchProgress::default()
            },
        }));
        // Compacted logs hold fewer records than their offsets span: done is 100%.
        assert_eq!(run.percent(), 100.0);
        assert!(run.finished() && run.summary().ends_with("done"));
        let mut failed = SearchRun::default();
        failed.apply(SearchEvent::Error {
            message: "broker gone".into(),
        });
        assert!(failed.finished() && failed.summary().contains("failed: broker gone"));
    }

    #[test]
    fn matches_export_as_ndjson_and_csv() {
        let run = SearchRun {
            matches: vec![
                record(
                    3,
                    Some("a,b"),
                    Payload::Json {
                        value: json!({"q": "say \"hi\""}).into(),
                    },
                ),
                record(
                    4,
                    None,
                    Payload::Text {
                        text: "two\nlines".into(),
                        truncated: false,
                    },
                ),
            ],
            ..SearchRun::default()
        };
        let ndjson = run.to_ndjson();
        let lines: Vec<LiveRecord> = ndjson
            .lines()
            .map(|l| serde_json::from_str(l).expect("a record"))
            .collect();
        assert_eq!(lines, run.matches);
        assert_eq!(
            run.to_csv(),
            "partition,offset,timestamp_ms,key,value\n\
             1,3,5,\"a,b\",\"{\"\"q\"\":\"\"say \\\"\"hi\\\"\"\"\"}\"\n\
             1,4,5,,\"two\nlines\"\n"
        );
    }

    #[test]
    fn lines_are_whole_whatever_the_chunks() {
        let mut lines = Lines::default();
        assert!(lines.push(b"{\"a\"").is_empty());
        assert_eq!(lines.push(b":1}\n{\"b\":2}\n{"), ["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(lines.push(b"}\n"), ["{}"]);
    }
}
