//! The load generator: a burst of orders through the same path as the form,
//! to watch Kafka absorb a spike while consumers catch up at their own pace.

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// Most orders one load run may place.
pub const MAX_ORDERS: u32 = 100_000;
/// Highest rate, orders per second.
pub const MAX_RATE: u32 = 5_000;
/// Most distinct customers (record keys) a run spreads its orders over.
pub const MAX_CUSTOMERS: u32 = 10_000;

/// `POST /api/load`: place `orders` orders at `rate` per second, keyed by
/// `customers` distinct customer ids (`load-customer-0` …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LoadRequest {
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = MAX_ORDERS)))]
    #[serde(deserialize_with = "crate::integral::integer")]
    pub orders: u32,
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = MAX_RATE)))]
    #[serde(deserialize_with = "crate::integral::integer")]
    pub rate: u32,
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = MAX_CUSTOMERS)))]
    #[serde(deserialize_with = "crate::integral::integer")]
    pub customers: u32,
}

impl LoadRequest {
    pub fn validate(&self) -> Result<(), FieldError> {
        let check = |field: &str, value: u32, max: u32| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(FieldError::new(
                    field,
                    format!("must be between 1 and {max}, got {value}"),
                ))
            }
        };
        check("orders", self.orders, MAX_ORDERS)?;
        check("rate", self.rate, MAX_RATE)?;
        check("customers", self.customers, MAX_CUSTOMERS)
    }
}

/// A load run's progress: in `POST`/`DELETE /api/load` answers and in every
/// flow snapshot while and after it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoadStatus {
    pub request: LoadRequest,
    pub started_at_ms: i64,
    /// Orders handed to the producer so far.
    pub sent: u64,
    /// Orders the broker acknowledged.
    pub acknowledged: u64,
    /// Orders the broker did not acknowledge in time (each got no 202 path
    /// either: nothing was promised for them).
    pub failed: u64,
    pub state: LoadState,
    /// When it finished, was cancelled or gave up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum LoadState {
    Running,
    Finished,
    Cancelled,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_requests_name_their_field() {
        let ok = LoadRequest {
            orders: MAX_ORDERS,
            rate: MAX_RATE,
            customers: 1,
        };
        assert!(ok.validate().is_ok());
        let field = |r: LoadRequest| r.validate().err().map(|e| e.field);
        assert_eq!(
            field(LoadRequest {
                orders: 0,
                ..ok.clone()
            })
            .as_deref(),
            Some("orders")
        );
        assert_eq!(
            field(LoadRequest {
                rate: MAX_RATE + 1,
                ..ok.clone()
            })
            .as_deref(),
            Some("rate")
        );
        assert_eq!(
            field(LoadRequest { customers: 0, ..ok }).as_deref(),
            Some("customers")
        );
    }
}
