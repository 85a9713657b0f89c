//! The demo services: consumer groups the gateway runs on the topic so a
//! person can watch Kafka's promises (an outage drained, a group scaled),
//! and the commands that steer them.

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// Most members one demo service may run.
pub const MAX_MEMBERS: u32 = 8;
/// Longest simulated processing time per order, in milliseconds.
pub const MAX_PROCESSING_MS: u32 = 10_000;
/// Highest chance that one processing attempt fails. Below 1 so that every
/// order is processed eventually.
pub const MAX_FAILURE_RATE: f64 = 0.9;
/// Attempts per order before a service gives up on it and moves on.
pub const MAX_ATTEMPTS: u32 = 5;

/// The rebalance protocol a demo service's members speak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupProtocol {
    /// The classic protocol: members join, one leader assigns, everyone
    /// stops while partitions move.
    #[default]
    Classic,
    /// KIP-848's consumer protocol (`group.protocol=consumer`): the broker
    /// assigns, and each member gives up or takes partitions one epoch at a
    /// time while the others keep consuming.
    Consumer,
}

impl GroupProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupProtocol::Classic => "classic",
            GroupProtocol::Consumer => "consumer",
        }
    }

    /// `classic` or `consumer`, as `group.protocol` spells them.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "classic" => Some(GroupProtocol::Classic),
            "consumer" => Some(GroupProtocol::Consumer),
            _ => None,
        }
    }
}

/// `GET /api/services`: one demo service, a real consumer group on the topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ServiceView {
    /// `payments`, `notifications`, …
    pub name: String,
    /// Its consumer group on the broker.
    pub group_id: String,
    /// The rebalance protocol its members speak.
    #[serde(default)]
    pub protocol: GroupProtocol,
    /// Whether its members are running. A stopped service keeps its committed
    /// offsets on the broker and resumes from them.
    pub running: bool,
    /// How many members it runs when running.
    pub members: u32,
    /// Simulated work per order, in milliseconds.
    pub processing_ms: u32,
    /// Chance that one processing attempt fails (it is then retried).
    pub failure_rate: f64,
    /// Orders processed, each once: a record delivered again, or a second
    /// record of an order (same `order-id`), is not processed again.
    pub processed: u64,
    /// Processing attempts that failed and were retried.
    pub failed_attempts: u64,
    /// Orders given up after [`MAX_ATTEMPTS`] failed attempts.
    pub gave_up: u64,
    /// Records delivered again at an offset this service had already
    /// processed (at-least-once: after a crash or a rebalance before a
    /// commit); recognised by their order id and not processed again.
    pub redelivered: u64,
    /// Records dropped because their order id was already processed from
    /// another record: the second record a retry can write.
    pub duplicates_dropped: u64,
    /// Each running member as it sees itself: its client id and the
    /// partitions the group coordinator gave it.
    pub assignments: Vec<MemberAssignment>,
    /// Members are still starting or stopping after a change (a stopping
    /// member commits and leaves its group, which can take seconds).
    #[serde(default)]
    pub changing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MemberAssignment {
    pub client_id: String,
    pub partitions: Vec<i32>,
}

/// `PATCH /api/services/{name}`: change what is given, keep the rest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceUpdate {
    /// Stop (commit what was processed, leave the group) or start (rejoin and
    /// resume from the committed offsets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
    /// Scale to this many members, 1 to [`MAX_MEMBERS`]; the group rebalances.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integral::optional_integer"
    )]
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = MAX_MEMBERS)))]
    pub members: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integral::optional_integer"
    )]
    #[cfg_attr(feature = "schema", schemars(range(max = MAX_PROCESSING_MS)))]
    pub processing_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = MAX_FAILURE_RATE)))]
    pub failure_rate: Option<f64>,
}

impl ServiceUpdate {
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(members) = self.members
            && !(1..=MAX_MEMBERS).contains(&members)
        {
            return Err(FieldError::new(
                "members",
                format!("must be between 1 and {MAX_MEMBERS}, got {members}"),
            ));
        }
        if let Some(ms) = self.processing_ms
            && ms > MAX_PROCESSING_MS
        {
            return Err(FieldError::new(
                "processing_ms",
                format!("must be between 0 and {MAX_PROCESSING_MS}, got {ms}"),
            ));
        }
        if let Some(rate) = self.failure_rate
            && !(0.0..=MAX_FAILURE_RATE).contains(&rate)
        {
            return Err(FieldError::new(
                "failure_rate",
                format!("must be between 0 and {MAX_FAILURE_RATE}, got {rate}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(update: ServiceUpdate) -> Option<String> {
        update.validate().err().map(|e| e.field)
    }

    #[test]
    fn updates_within_limits_are_valid() {
        let update = ServiceUpdate {
            running: Some(false),
            members: Some(MAX_MEMBERS),
            processing_ms: Some(0),
            failure_rate: Some(MAX_FAILURE_RATE),
        };
        assert_eq!(field(update), None);
        assert_eq!(field(ServiceUpdate::default()), None);
    }

    #[test]
    fn out_of_range_updates_name_their_field() {
        let members = |m| ServiceUpdate {
            members: Some(m),
            ..Default::default()
        };
        assert_eq!(field(members(0)).as_deref(), Some("members"));
        assert_eq!(field(members(MAX_MEMBERS + 1)).as_deref(), Some("members"));
        let processing = ServiceUpdate {
            processing_ms: Some(MAX_PROCESSING_MS + 1),
            ..Default::default()
        };
        assert_eq!(field(processing).as_deref(), Some("processing_ms"));
        for rate in [-0.1, 0.95, f64::NAN] {
            let update = ServiceUpdate {
                failure_rate: Some(rate),
                ..Default::default()
            };
            assert_eq!(field(update).as_deref(), Some("failure_rate"), "{rate}");
        }
    }
}
