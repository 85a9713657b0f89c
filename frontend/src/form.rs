//! The order form's state: what the person typed, turned into a
//! [`NewOrder`]. Each box is parsed and checked against `wire`'s limits in
//! the box's own words and units (a price in currency, not cents), so most
//! mistakes are named before anything is sent; the gateway's own errors are
//! shown next to the field they name too.

use wire::order::{MAX_QUANTITY, MAX_UNIT_PRICE_CENTS};
use wire::{FieldError, NewOrder, OrderItem};

/// One line of the form, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemDraft {
    pub sku: String,
    pub quantity: String,
    /// A decimal amount, e.g. `12.99`.
    pub unit_price: String,
}

impl Default for ItemDraft {
    fn default() -> Self {
        Self {
            sku: "BOOK-1".into(),
            quantity: "1".into(),
            unit_price: "12.99".into(),
        }
    }
}

/// The whole form, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDraft {
    pub customer_id: String,
    pub items: Vec<ItemDraft>,
}

impl Default for OrderDraft {
    fn default() -> Self {
        Self {
            customer_id: "customer-1".into(),
            items: vec![ItemDraft::default()],
        }
    }
}

impl OrderDraft {
    /// The order to send, or the first box whose value the order cannot
    /// have, named by the field the gateway would name.
    pub fn to_order(&self) -> Result<NewOrder, FieldError> {
        let items = self
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| item.to_item(i))
            .collect::<Result<_, FieldError>>()?;
        let order = NewOrder {
            customer_id: self.customer_id.clone(),
            items,
        };
        // The rest of wire's rules (text lengths, item count) in its words.
        order.validate()?;
        Ok(order)
    }
}

impl ItemDraft {
    /// Line `i` as an order item, or what is wrong with one of its boxes.
    fn to_item(&self, i: usize) -> Result<OrderItem, FieldError> {
        let error = |field: &str, message: String| FieldError {
            field: format!("items[{i}].{field}"),
            message,
        };
        let quantity = match self.quantity.trim().parse::<i64>() {
            Ok(n) if (1..=i64::from(MAX_QUANTITY)).contains(&n) => {
                u32::try_from(n).unwrap_or(MAX_QUANTITY)
            }
            Ok(_) => {
                return Err(error(
                    "quantity",
                    format!("must be between 1 and {MAX_QUANTITY}"),
                ));
            }
            Err(_) => {
                return Err(error("quantity", "must be a whole number, like 2".into()));
            }
        };
        let unit_price_cents = match parse_cents(&self.unit_price) {
            Some(cents) if cents <= MAX_UNIT_PRICE_CENTS => cents,
            Some(_) => {
                return Err(error(
                    "unit_price_cents",
                    format!("must be at most {}", format_cents(MAX_UNIT_PRICE_CENTS)),
                ));
            }
            None => {
                return Err(error(
                    "unit_price_cents",
                    "must be an amount like 12.99".into(),
                ));
            }
        };
        Ok(OrderItem {
            sku: self.sku.clone(),
            quantity,
            unit_price_cents,
        })
    }
}

/// Parses `12`, `12.5` or `12.99` into cents; `None` for anything else.
pub fn parse_cents(text: &str) -> Option<u64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let cents = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<u64>().ok()? * 10,
        _ => fraction.parse::<u64>().ok()?,
    };
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// Formats cents as a decimal amount: 1299 → `12.99`.
pub fn format_cents(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_to_cents() {
        assert_eq!(parse_cents("12.99"), Some(1299));
        assert_eq!(parse_cents("12.5"), Some(1250));
        assert_eq!(parse_cents(" 12 "), Some(1200));
        assert_eq!(parse_cents("0.07"), Some(7));
        for bad in [
            "",
            ".5",
            "12.999",
            "-1",
            "1e3",
            "12,99",
            "abc",
            "99999999999999999999",
        ] {
            assert_eq!(parse_cents(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cents_format_as_amounts() {
        assert_eq!(format_cents(1299), "12.99");
        assert_eq!(format_cents(7), "0.07");
    }

    #[test]
    fn the_default_draft_is_a_valid_order() {
        let order = OrderDraft::default().to_order().expect("parses");
        assert_eq!(order.validate(), Ok(()));
        assert_eq!(order.items[0].unit_price_cents, 1299);
    }

    #[test]
    fn unparsable_numbers_name_their_field() {
        let mut draft = OrderDraft::default();
        draft.items.push(ItemDraft {
            quantity: "two".into(),
            ..ItemDraft::default()
        });
        assert_eq!(
            draft.to_order().expect_err("bad quantity").field,
            "items[1].quantity"
        );
        draft.items[1].quantity = "2".into();
        draft.items[0].unit_price = "free".into();
        assert_eq!(
            draft.to_order().expect_err("bad price").field,
            "items[0].unit_price_cents"
        );
    }

    fn error_of(quantity: &str, price: &str) -> FieldError {
        let draft = OrderDraft {
            customer_id: "c".into(),
            items: vec![ItemDraft {
                sku: "A".into(),
                quantity: quantity.into(),
                unit_price: price.into(),
            }],
        };
        draft.to_order().expect_err("a mistake")
    }

    #[test]
    fn each_box_is_checked_in_its_own_words() {
        let e = error_of("-1", "1.00");
        assert_eq!(e.field, "items[0].quantity");
        assert_eq!(e.message, "must be between 1 and 1000");
        assert_eq!(error_of("0", "1").message, "must be between 1 and 1000");
        assert_eq!(error_of("1001", "1").message, "must be between 1 and 1000");
        assert_eq!(
            error_of("two", "1").message,
            "must be a whole number, like 2"
        );
        let e = error_of("1", "12.999");
        assert_eq!(e.field, "items[0].unit_price_cents");
        assert_eq!(e.message, "must be an amount like 12.99");
        assert_eq!(
            error_of("1", "100000.01").message,
            "must be at most 100000.00"
        );
    }

    #[test]
    fn the_rest_of_wires_rules_apply_before_sending() {
        let blank = OrderDraft {
            customer_id: " ".into(),
            ..OrderDraft::default()
        };
        assert_eq!(blank.to_order().expect_err("blank").field, "customer_id");
        let too_many = OrderDraft {
            items: vec![ItemDraft::default(); wire::order::MAX_ITEMS + 1],
            ..OrderDraft::default()
        };
        assert_eq!(too_many.to_order().expect_err("too many").field, "items");
        assert!(OrderDraft::default().to_order().is_ok());
    }
}
