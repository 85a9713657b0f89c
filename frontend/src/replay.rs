//! The replay form's draft, turned into the query of `GET /api/replay`.

use wire::FieldError;
use wire::api::MAX_REPLAY_RECORDS;

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
            .filter(|l| (1..=MAX_REPLAY_RECORDS).contains(l))
            .ok_or_else(|| {
                error(
                    "limit",
                    &format!("between 1 and {MAX_REPLAY_RECORDS} records"),
                )
            })?;
        query.push_str(&format!("&limit={limit}"));
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
