//! Optional amounts that survive `#[serde(flatten)]`.
//!
//! A flattened struct is read from serde's buffered content, where a JSON `null` arrives as
//! "unit" rather than "none"; `rust_decimal`'s own optional helper refuses that, so Get
//! Document Details (which flattens the document summary) failed on any null total. This
//! reads the value as JSON first (exact: the workspace enables `arbitrary_precision`), so a
//! null is `None` however it is delivered.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serializer};
use serde_json::Value;

/// Serialises like `rust_decimal::serde::arbitrary_precision_option`.
pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    rust_decimal::serde::arbitrary_precision_option::serialize(value, s)
}

/// Reads a JSON number (exactly), a numeric string, or null.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let text = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected an amount, found {other}"
            )));
        }
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("`{text}` is not an amount: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Inner {
        #[serde(default, with = "super")]
        amount: Option<Decimal>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Outer {
        #[serde(flatten)]
        inner: Inner,
    }

    #[test]
    fn null_and_numbers_through_flatten() {
        let o: Outer = serde_json::from_str(r#"{"amount": null}"#).unwrap();
        assert_eq!(o.inner.amount, None);
        let o: Outer = serde_json::from_str(r#"{"amount": 0.1000000000000000055511}"#).unwrap();
        assert_eq!(
            o.inner.amount,
            Some(Decimal::from_str("0.1000000000000000055511").unwrap())
        );
        let o: Outer = serde_json::from_str(r#"{"amount": "12.50"}"#).unwrap();
        assert_eq!(o.inner.amount, Some(Decimal::new(1250, 2)));
        let o: Outer = serde_json::from_str(r#"{}"#).unwrap();
        assert_eq!(o.inner.amount, None);
        assert!(serde_json::from_str::<Outer>(r#"{"amount": true}"#).is_err());
    }
}
