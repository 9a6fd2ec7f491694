//! Reading a batch body, `{"txs": ["<hex>", …]}` (a transaction batch) or `{"keys": [...]}` (a
//! state batch), without copying it: the items stay borrowed slices of the body, and the count
//! is checked as each one is read, so a batch over the limit is refused at its first extra
//! element, before any of it is decoded.

use super::ApiError;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;

/// The transactions of a batch body holding at most `max` of them.
pub(crate) fn parse(body: &[u8], max: usize) -> Result<Vec<&str>, ApiError> {
    parse_list(body, "txs", "transactions", max)
}

/// The strings of a body `{"<field>": ["…", …]}` holding at most `max` of them (`what` names
/// them in the refusal).
pub(crate) fn parse_list<'b>(
    body: &'b [u8],
    field: &'static str,
    what: &str,
    max: usize,
) -> Result<Vec<&'b str>, ApiError> {
    let too_large = Cell::new(false);
    let mut reader = serde_json::Deserializer::from_slice(body);
    let parsed = Body {
        field,
        max,
        too_large: &too_large,
    }
    .deserialize(&mut reader)
    .and_then(|txs| reader.end().map(|()| txs));
    match parsed {
        Ok(txs) => Ok(txs),
        Err(_) if too_large.get() => Err(ApiError::bad_request(
            "batch_too_large",
            format!("a batch holds at most {max} {what}"),
        )),
        Err(error) => Err(ApiError::bad_request(
            "malformed_request",
            format!("expected {{\"{field}\": [\"<hex>\", …]}}: {error}"),
        )),
    }
}

/// The body object: exactly one field, `field`.
struct Body<'c> {
    field: &'static str,
    max: usize,
    too_large: &'c Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Body<'_> {
    type Value = Vec<&'de str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Body<'_> {
    type Value = Vec<&'de str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object with one field, {}", self.field)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut txs = None;
        while let Some(key) = map.next_key::<&str>()? {
            if key != self.field {
                return Err(de::Error::custom(format_args!(
                    "unknown field `{key}`, expected `{}`",
                    self.field
                )));
            }
            if txs.is_some() {
                return Err(de::Error::custom(format_args!(
                    "duplicate field `{}`",
                    self.field
                )));
            }
            txs = Some(map.next_value_seed(List {
                max: self.max,
                too_large: self.too_large,
            })?);
        }
        txs.ok_or_else(|| de::Error::custom(format_args!("missing field `{}`", self.field)))
    }
}

/// The list, refused at its `max + 1`-th element.
struct List<'c> {
    max: usize,
    too_large: &'c Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for List<'_> {
    type Value = Vec<&'de str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for List<'_> {
    type Value = Vec<&'de str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of hex strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut txs = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max));
        while let Some(tx) = seq.next_element::<&str>()? {
            if txs.len() == self.max {
                self.too_large.set(true);
                return Err(de::Error::custom("too many items"));
            }
            txs.push(tx);
        }
        Ok(txs)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_batch_reads_as_borrowed_strings() {
        let body = br#"{"txs": ["ab", "cd"]}"#;
        assert_eq!(parse(body, 2).unwrap(), vec!["ab", "cd"]);
    }

    #[test]
    fn one_over_the_limit_is_refused_by_count() {
        let body = br#"{"txs": ["ab", "cd", "ef"]}"#;
        assert_eq!(parse(body, 2).unwrap_err().code, "batch_too_large");
        // Refused at the extra element: whatever follows it is never read.
        let body = br#"{"txs": ["ab", "cd", "ef", 12, {"x": 1}"#;
        assert_eq!(parse(body, 2).unwrap_err().code, "batch_too_large");
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        for body in [
            &br#"{"txs": "ab"}"#[..],
            br#"{"txs": ["ab"], "extra": 1}"#,
            br#"{"txs": ["ab"], "txs": []}"#,
            br#"{}"#,
            br#"{"txs": ["ab"]} trailing"#,
            br#"{"txs": [1]}"#,
            b"",
        ] {
            assert_eq!(parse(body, 10).unwrap_err().code, "malformed_request");
        }
    }

    proptest! {
        /// Any bytes give a list within the limit or a clean refusal.
        #[test]
        fn any_bytes_parse_or_fail_cleanly(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(txs) = parse(&body, 3) {
                prop_assert!(txs.len() <= 3);
            }
        }
    }
}
