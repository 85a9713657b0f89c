//! Integers in request bodies, read as JSON Schema counts them: a number
//! with no fraction is an integer, so `2.0` is a fine quantity. The fields
//! of the request types use these with `#[serde(deserialize_with)]`, so a
//! body is read straight into its type, with no `serde_json::Value` (and no
//! copy of the whole body as a tree) in between.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{Error, Unexpected, Visitor};

/// Within ±2^53 every integer is exact in an f64; beyond, a float is not
/// taken as an integer.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// An integer of type `T`, written as an integer or as a float with no
/// fraction.
pub fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + TryFrom<i64>,
{
    deserializer.deserialize_any(Integer(PhantomData))
}

/// [`integer`], for a field that may be absent (with `#[serde(default)]`)
/// or `null`.
pub fn optional_integer<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + TryFrom<i64>,
{
    deserializer.deserialize_option(Optional(PhantomData))
}

struct Integer<T>(PhantomData<T>);

impl<T: TryFrom<u64> + TryFrom<i64>> Visitor<'_> for Integer<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an integer in range")
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        if v.fract() != 0.0 || v.abs() > EXACT {
            return Err(E::invalid_type(Unexpected::Float(v), &self));
        }
        #[allow(clippy::cast_possible_truncation)]
        let integer = v as i64;
        self.visit_i64(integer)
    }
}

struct Optional<T>(PhantomData<T>);

impl<'de, T: TryFrom<u64> + TryFrom<i64>> Visitor<'de> for Optional<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an integer in range, or null")
    }

    fn visit_none<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        integer(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Counts {
        #[serde(deserialize_with = "super::integer")]
        n: u32,
        #[serde(default, deserialize_with = "super::optional_integer")]
        m: Option<i32>,
    }

    fn parse(json: &str) -> Result<Counts, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_not() {
        let counts = parse(r#"{"n": 2.0, "m": -3e0}"#).expect("parsed");
        assert_eq!((counts.n, counts.m), (2, Some(-3)));
        assert_eq!(parse(r#"{"n": 7}"#).expect("parsed").m, None);
        assert_eq!(parse(r#"{"n": 7, "m": null}"#).expect("parsed").m, None);
        let err = parse(r#"{"n": 1.5}"#).expect_err("a fraction");
        assert!(err.contains("floating point `1.5`"), "{err}");
        assert!(parse(r#"{"n": -1}"#).is_err());
        assert!(parse(r#"{"n": 4294967296}"#).is_err());
        assert!(parse(r#"{"n": 1e300}"#).is_err());
        assert!(parse(r#"{"n": "1"}"#).is_err());
        assert!(parse(r#"{"n": 1, "m": 2.5}"#).is_err());
    }
}
