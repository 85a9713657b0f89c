//! The replay form's draft, turned into the query of `GET /api/replay`.

use std::collections::BTreeMap;

use wire::FieldError;
use wire::api::{MAX_REPLAY_RECORDS, ReplayPage};

/// Where a replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum From {
    #[default]
    Beginning,
    Offset,
    Timestamp,
}

impl From {
    pub fn parse(s: &str) -> Self {
        match s {
            "offset" => Self::Offset,
            "timestamp" => Self::Timestamp,
            _ => Self::Beginning,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Beginning => "beginning",
            Self::Offset => "offset",
            Self::Timestamp => "timestamp",
        }
    }
}

/// What the replay form holds, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayDraft {
    pub from: From,
    /// Empty: every partition.
    pub partition: String,
    pub offset: String,
    /// The chosen time in milliseconds since the Unix epoch, once the
    /// browser parsed the date field.
    pub timestamp_ms: Option<i64>,
    pub limit: String,
}

impl Default for ReplayDraft {
    fn default() -> Self {
        Self {
            from: From::Beginning,
            partition: String::new(),
            offset: "0".into(),
            timestamp_ms: None,
            limit: "100".into(),
        }
    }
}

impl ReplayDraft {
    /// The query string, or the field to fix. The gateway checks again.
    pub fn to_query(&self) -> Result<String, FieldError> {
        self.query_up_to(MAX_REPLAY_RECORDS)
    }

    /// The query string of where to read and how many records, at most
    /// `max` (a search takes more than a replay).
    pub fn query_up_to(&self, max: usize) -> Result<String, FieldError> {
        let error = |field: &str, message: &str| FieldError {
            field: field.into(),
            message: message.into(),
        };
        let mut query = format!("from={}", self.from.as_str());
        let partition = self.partition.trim();
        if !partition.is_empty() {
            let p: u32 = partition
                .parse()
                .map_err(|_| error("partition", "a partition number, or empty for all"))?;
            query.push_str(&format!("&partition={p}"));
        }
        match self.from {
            From::Beginning => {}
            From::Offset => {
                if partition.is_empty() {
                    return Err(error(
                        "partition",
                        "replaying from an offset needs a partition",
                    ));
                }
                let offset: u64 = self
                    .offset
                    .trim()
                    .parse()
                    .map_err(|_| error("offset", "an offset, 0 or more"))?;
                query.push_str(&format!("&offset={offset}"));
            }
            From::Timestamp => {
                let t = self
                    .timestamp_ms
                    .ok_or_else(|| error("timestamp_ms", "choose a date and time"))?;
                query.push_str(&format!("&timestamp_ms={t}"));
            }
        }
        let limit: usize = self
            .limit
            .trim()
            .parse()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| error("limit", &format!("between 1 and {max} records")))?;
        query.push_str(&format!("&limit={limit}"));
        Ok(query)
    }
}

/// What a replay returned, in words: how many records, in which order,
/// which offsets of which partition, whether the limit stopped it; and when
/// an offset asked for is past a partition's end, that it is.
pub fn summary(page: &ReplayPage, asked_offset: Option<i64>) -> String {
    if let (Some(offset), [range]) = (asked_offset, page.ranges.as_slice())
        && page.records.is_empty()
        && offset >= range.to
    {
        return format!(
            "offset {offset} is past the end of partition {}: its log ends at {} (the next record \
             written will get that offset), so there is nothing to replay yet",
            range.partition, range.to
        );
    }
    let mut returned: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    for r in &page.records {
        let span = returned.entry(r.partition).or_insert((r.offset, r.offset));
        span.0 = span.0.min(r.offset);
        span.1 = span.1.max(r.offset);
    }
    let count = match page.records.len() {
        1 => "1 record".to_owned(),
        n => format!("{n} records"),
    };
    if returned.is_empty() {
        return format!("{count}: nothing in the range");
    }
    let spans: Vec<String> = returned
        .iter()
        .map(|(p, (from, to))| {
            if from == to {
                format!("P{p} {from}")
            } else {
                format!("P{p} {from}–{to}")
            }
        })
        .collect();
    let order = if returned.len() > 1 {
        ", oldest first across partitions (merged by timestamp)"
    } else {
        ""
    };
    let limit = if page.truncated {
        "; the limit stopped it, more follow"
    } else {
        ""
    };
    format!("{count}{order}: {}{limit}", spans.join(" · "))
}

#[cfg(test)]
mod tests {
    use wire::api::ReplayRange;
    use wire::{LiveRecord, Payload};

    use super::*;

    fn record(partition: i32, offset: i64) -> LiveRecord {
        LiveRecord {
            partition,
            offset,
            key: None,
            headers: vec![],
            timestamp_ms: None,
            produced_at_ms: None,
            consumed_at_ms: 0,
            size: 0,
            payload: Payload::Null,
            key_schema: None,
            value_schema: None,
        }
    }

    fn page(ranges: &[(i32, i64, i64)], records: &[(i32, i64)], truncated: bool) -> ReplayPage {
        ReplayPage {
            ranges: ranges
                .iter()
                .map(|&(partition, from, to)| ReplayRange {
                    partition,
                    from,
                    to,
                })
                .collect(),
            records: records.iter().map(|&(p, o)| record(p, o)).collect(),
            truncated,
        }
    }

    #[test]
    fn the_summary_says_what_was_returned() {
        let merged = page(
            &[(0, 0, 10), (1, 0, 10), (2, 0, 0)],
            &[(0, 0), (1, 0), (0, 1), (1, 1)],
            true,
        );
        assert_eq!(
            summary(&merged, None),
            "4 records, oldest first across partitions (merged by timestamp): P0 0–1 · P1 0–1; \
             the limit stopped it, more follow"
        );
        let one = page(&[(0, 3, 10)], &[(0, 3)], false);
        assert_eq!(summary(&one, Some(3)), "1 record: P0 3");
        let empty = page(&[(0, 0, 0)], &[], false);
        assert_eq!(summary(&empty, None), "0 records: nothing in the range");
    }

    #[test]
    fn an_offset_past_the_end_says_so() {
        let past = page(&[(0, 10, 10)], &[], false);
        let said = summary(&past, Some(40));
        assert!(
            said.starts_with("offset 40 is past the end of partition 0: its log ends at 10"),
            "{said}"
        );
        // At the end exactly: nothing yet, said the same way.
        assert!(summary(&past, Some(10)).starts_with("offset 10 is past the end"));
    }

    #[test]
    fn drafts_become_queries() {
        let mut draft = ReplayDraft::default();
        assert_eq!(draft.to_query().expect("query"), "from=beginning&limit=100");
        draft.from = From::Offset;
        draft.partition = " 2 ".into();
        draft.offset = "40".into();
        draft.limit = "5".into();
        assert_eq!(
            draft.to_query().expect("query"),
            "from=offset&partition=2&offset=40&limit=5"
        );
        draft.from = From::Timestamp;
        draft.partition.clear();
        draft.timestamp_ms = Some(1_795_857_549_813);
        assert_eq!(
            draft.to_query().expect("query"),
            "from=timestamp&timestamp_ms=1795857549813&limit=5"
        );
    }

    #[test]
    fn mistakes_name_their_field() {
        let field = |draft: ReplayDraft| draft.to_query().map_err(|e| e.field).err();
        let offset = ReplayDraft {
            from: From::Offset,
            ..Default::default()
        };
        assert_eq!(field(offset.clone()).as_deref(), Some("partition"));
        let bad_offset = ReplayDraft {
            partition: "0".into(),
            offset: "-1".into(),
            ..offset
        };
        assert_eq!(field(bad_offset).as_deref(), Some("offset"));
        let no_time = ReplayDraft {
            from: From::Timestamp,
            ..Default::default()
        };
        assert_eq!(field(no_time).as_deref(), Some("timestamp_ms"));
        let limit = ReplayDraft {
            limit: "5000".into(),
            ..Default::default()
        };
        assert_eq!(field(limit).as_deref(), Some("limit"));
    }
}
