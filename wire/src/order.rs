//! Orders: the request body of `POST /api/orders`, its rules, and the record
//! written to Kafka.
//!
//! The gateway is the authority on these rules; the dashboard uses the same
//! code only to label the fields the gateway names in its errors.

use serde::{Deserialize, Serialize};

/// Longest customer id, in characters (so at most 256 bytes). It is the
/// Kafka record key, so it is kept short. Characters rather than bytes: that
/// is what JSON Schema's `maxLength` counts, so the OpenAPI document states
/// the rule exactly.
pub const MAX_CUSTOMER_ID_CHARS: usize = 64;
/// Longest SKU, in characters.
pub const MAX_SKU_CHARS: usize = 32;

/// Text with at least one character that is not whitespace and none that is
/// a control character (`char::is_control`), as a JSON Schema pattern.
#[cfg(feature = "schema")]
const TEXT_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";
/// Most line items in one order.
pub const MAX_ITEMS: usize = 50;
/// Largest quantity of one line item.
pub const MAX_QUANTITY: u32 = 1_000;
/// Largest unit price: 100,000.00 in the shop's currency.
pub const MAX_UNIT_PRICE_CENTS: u64 = 10_000_000;

/// The body of `POST /api/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// Who placed the order. Used as the Kafka record key, so all orders of
    /// one customer land on one partition, in order.
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = MAX_CUSTOMER_ID_CHARS), regex(pattern = TEXT_PATTERN))
    )]
    pub customer_id: String,
    /// What was ordered; at least one item.
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = MAX_ITEMS)))]
    pub items: Vec<OrderItem>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderItem {
    /// Stock keeping unit: which product.
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = MAX_SKU_CHARS), regex(pattern = TEXT_PATTERN))
    )]
    pub sku: String,
    /// How many, at least 1.
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = MAX_QUANTITY)))]
    #[serde(deserialize_with = "crate::integral::integer")]
    pub quantity: u32,
    /// Price of one unit in cents, so no floating point touches money.
    #[cfg_attr(feature = "schema", schemars(range(max = MAX_UNIT_PRICE_CENTS)))]
    #[serde(deserialize_with = "crate::integral::integer")]
    pub unit_price_cents: u64,
}

/// A rule that a request broke: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path in the request body, e.g. `items[0].quantity`.
    pub field: String,
    /// What is wrong with it, in a sentence a person can act on.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl NewOrder {
    /// Checks every rule of an order and returns the first one broken,
    /// in field order, so the same bad request always names the same field.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_text("customer_id", &self.customer_id, MAX_CUSTOMER_ID_CHARS)?;
        if self.items.is_empty() {
            return Err(FieldError::new("items", "an order needs at least one item"));
        }
        if self.items.len() > MAX_ITEMS {
            return Err(FieldError::new(
                "items",
                format!(
                    "an order has at most {MAX_ITEMS} items, got {}",
                    self.items.len()
                ),
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            check_text(&format!("items[{i}].sku"), &item.sku, MAX_SKU_CHARS)?;
            if !(1..=MAX_QUANTITY).contains(&item.quantity) {
                return Err(FieldError::new(
                    format!("items[{i}].quantity"),
                    format!(
                        "must be between 1 and {MAX_QUANTITY}, got {}",
                        item.quantity
                    ),
                ));
            }
            if item.unit_price_cents > MAX_UNIT_PRICE_CENTS {
                return Err(FieldError::new(
                    format!("items[{i}].unit_price_cents"),
                    format!(
                        "must be between 0 and {MAX_UNIT_PRICE_CENTS}, got {}",
                        item.unit_price_cents
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The order's total in cents. Cannot overflow within the limits that
    /// [`NewOrder::validate`] enforces (50 × 1,000 × 10,000,000 < 2^63).
    pub fn total_cents(&self) -> u64 {
        self.items
            .iter()
            .map(|item| u64::from(item.quantity).saturating_mul(item.unit_price_cents))
            .fold(0, u64::saturating_add)
    }
}

/// A customer id or SKU: not blank, no control characters, at most `max` characters.
fn check_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters, got {chars}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// The value of an order record in Kafka (JSON), as the gateway writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Order {
    /// Assigned by the gateway: a UUIDv7, so ids sort by creation time.
    pub order_id: String,
    pub customer_id: String,
    pub items: Vec<OrderItem>,
    /// Sum of quantity × unit price over the items.
    pub total_cents: u64,
    /// When the gateway accepted the order, in milliseconds since the Unix epoch.
    pub placed_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> NewOrder {
        NewOrder {
            customer_id: "customer-42".into(),
            items: vec![OrderItem {
                sku: "BOOK-1".into(),
                quantity: 2,
                unit_price_cents: 1_299,
            }],
        }
    }

    fn field_of(order: &NewOrder) -> String {
        order
            .validate()
            .expect_err("the order should be rejected")
            .field
    }

    #[test]
    fn a_sensible_order_is_valid() {
        assert_eq!(order().validate(), Ok(()));
    }

    #[test]
    fn blank_or_long_customer_id_is_rejected() {
        let mut o = order();
        o.customer_id = "   ".into();
        assert_eq!(field_of(&o), "customer_id");
        o.customer_id = "x".repeat(MAX_CUSTOMER_ID_CHARS + 1);
        assert_eq!(field_of(&o), "customer_id");
        o.customer_id = "x".repeat(MAX_CUSTOMER_ID_CHARS);
        assert_eq!(o.validate(), Ok(()));
    }

    #[test]
    fn control_characters_are_rejected() {
        let mut o = order();
        o.items[0].sku = "BOOK\n1".into();
        assert_eq!(field_of(&o), "items[0].sku");
    }

    #[test]
    fn item_count_is_bounded() {
        let mut o = order();
        o.items.clear();
        assert_eq!(field_of(&o), "items");
        o.items = vec![order().items[0].clone(); MAX_ITEMS + 1];
        assert_eq!(field_of(&o), "items");
        o.items.truncate(MAX_ITEMS);
        assert_eq!(o.validate(), Ok(()));
    }

    #[test]
    fn quantity_and_price_ranges_name_the_item() {
        let mut o = order();
        o.items.push(o.items[0].clone());
        o.items[1].quantity = 0;
        assert_eq!(field_of(&o), "items[1].quantity");
        o.items[1].quantity = MAX_QUANTITY + 1;
        assert_eq!(field_of(&o), "items[1].quantity");
        o.items[1].quantity = MAX_QUANTITY;
        o.items[1].unit_price_cents = MAX_UNIT_PRICE_CENTS + 1;
        assert_eq!(field_of(&o), "items[1].unit_price_cents");
        o.items[1].unit_price_cents = 0;
        assert_eq!(o.validate(), Ok(()));
    }

    #[test]
    fn first_broken_rule_wins() {
        let mut o = order();
        o.customer_id.clear();
        o.items[0].quantity = 0;
        assert_eq!(field_of(&o), "customer_id");
    }

    #[test]
    fn total_sums_the_lines() {
        let mut o = order();
        o.items.push(OrderItem {
            sku: "PEN".into(),
            quantity: 3,
            unit_price_cents: 150,
        });
        assert_eq!(o.total_cents(), 2 * 1_299 + 3 * 150);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err =
            serde_json::from_str::<NewOrder>(r#"{"customer_id":"c","items":[],"coupon":"FREE"}"#)
                .expect_err("unknown field");
        assert!(err.to_string().contains("coupon"), "{err}");
    }
}
