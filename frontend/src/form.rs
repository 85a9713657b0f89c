//! The order form's state: what the person typed, turned into a
//! [`NewOrder`]. Only parsing happens here; the gateway validates ranges and
//! its errors are shown next to the field they name.

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
    /// The order to send, or the first field that is not a number where one is needed.
    pub fn to_order(&self) -> Result<NewOrder, FieldError> {
        let items = self
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let quantity = item
                    .quantity
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| FieldError {
                        field: format!("items[{i}].quantity"),
                        message: "must be a whole number".into(),
                    })?;
                let unit_price_cents = parse_cents(&item.unit_price).ok_or_else(|| FieldError {
                    field: format!("items[{i}].unit_price_cents"),
                    message: "must be an amount like 12.99".into(),
                })?;
                Ok(OrderItem {
                    sku: item.sku.clone(),
                    quantity,
                    unit_price_cents,
                })
            })
            .collect::<Result<_, FieldError>>()?;
        Ok(NewOrder {
            customer_id: self.customer_id.clone(),
            items,
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

    #[test]
    fn out_of_range_numbers_are_left_to_the_gateway() {
        let mut draft = OrderDraft::default();
        draft.items[0].quantity = "0".into();
        assert_eq!(draft.to_order().expect("parses").items[0].quantity, 0);
    }
}
