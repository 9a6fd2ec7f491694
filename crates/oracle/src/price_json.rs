//! Reading one number out of a price API's JSON answer, exactly: a path into the JSON
//! ([`lookup`]) and decimal text turned into a scaled integer without floats
//! ([`scaled_decimal`], [`unix_time_ms`]).
//!
//! A path is dot-separated keys and array indices (`data.0.price`, `result.XXBTZUSD.c.0`): at an
//! object a segment is a key, at an array it is an index from 0. The value found may be a JSON
//! number or a string holding a decimal (`"1.2345"`); either way its text is read as written
//! (serde_json's `RawValue`), never through an `f64`, so `0.1` is exactly 100,000,000 nano.
//!
//! The price feed (`price_feed`) uses both; nothing here knows about sources or the chain.

use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Most segments a path may have (`a.b.c` has 3): a bound on the walk.
pub const MAX_PATH_SEGMENTS: usize = 16;
/// Most characters of decimal text read: longer text is refused before any digit is summed.
pub const MAX_DECIMAL_CHARS: usize = 64;
/// Largest exponent magnitude (`1.5e3`, `15e-1`) converted; beyond it the text is refused.
pub const MAX_EXPONENT: i64 = 40;

/// Why no number was found at a path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The answer is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// The path is empty, has an empty segment (`a..b`) or too many segments.
    #[error("bad path `{0}`")]
    BadPath(String),
    /// A key or index on the path is not in the answer.
    #[error("`{segment}` not found (path `{path}`)")]
    Missing {
        /// The segment not found.
        segment: String,
        /// The whole path.
        path: String,
    },
    /// The path ends at something that is neither a number nor a string.
    #[error("`{path}` is not a number or a string")]
    NotANumber {
        /// The whole path.
        path: String,
    },
}

/// Why decimal text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecimalError {
    /// Not decimal text (`abc`, `1.`, `1e`, empty, `NaN`, longer than [`MAX_DECIMAL_CHARS`]).
    #[error("`{0}` is not a decimal number")]
    NotDecimal(String),
    /// Below zero.
    #[error("`{0}` is negative")]
    Negative(String),
    /// Zero once scaled and rounded down.
    #[error("`{0}` is zero at this scale")]
    Zero(String),
    /// An exponent beyond [`MAX_EXPONENT`], or a value beyond `u64` once scaled.
    #[error("`{0}` is too large to convert exactly")]
    TooLarge(String),
}

/// The text of the number at `path` in the JSON `body`: a number's text as written, or a
/// string's content (unescaped, trimmed).
pub fn lookup(body: &str, path: &str) -> Result<String, PathError> {
    let segments = split_path(path)?;
    let mut here: &RawValue =
        serde_json::from_str(body).map_err(|e| PathError::NotJson(e.to_string()))?;
    for segment in &segments {
        here = step(here, segment).ok_or_else(|| PathError::Missing {
            segment: (*segment).to_string(),
            path: path.to_string(),
        })?;
    }
    let text = here.get().trim();
    if text.starts_with('"') {
        let inner: String =
            serde_json::from_str(text).map_err(|e| PathError::NotJson(e.to_string()))?;
        Ok(inner.trim().to_string())
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Ok(text.to_string())
    } else {
        Err(PathError::NotANumber {
            path: path.to_string(),
        })
    }
}

/// The segments of `path`, checked: 1 to [`MAX_PATH_SEGMENTS`] of them, none empty.
pub fn split_path(path: &str) -> Result<Vec<&str>, PathError> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.len() > MAX_PATH_SEGMENTS || segments.iter().any(|s| s.is_empty()) {
        return Err(PathError::BadPath(path.to_string()));
    }
    Ok(segments)
}

/// The value under `segment` of the object or array `value` (`None` if absent or a scalar).
fn step<'a>(value: &'a RawValue, segment: &str) -> Option<&'a RawValue> {
    let text = value.get().trim_start();
    if text.starts_with('{') {
        let mut object: BTreeMap<String, &'a RawValue> = serde_json::from_str(value.get()).ok()?;
        object.remove(segment)
    } else if text.starts_with('[') {
        let index: usize = segment.parse().ok()?;
        let array: Vec<&'a RawValue> = serde_json::from_str(value.get()).ok()?;
        array.get(index).copied()
    } else {
        None
    }
}

/// Decimal `text` (`12`, `1.2345`, `15e-1`, `1.5E+3`) times `10^shift`, rounded down to an
/// integer; refused if negative, zero once rounded, or too large for a `u64`.
///
/// No float is involved: the digits are summed as an integer and the decimal point moved by
/// counting, so the result is exact up to the rounding down of digits past the scale (with
/// `shift` 9, a dollar amount's 10th decimal and beyond are dropped: `0.0000000019` → 1).
pub fn scaled_decimal(text: &str, shift: u32) -> Result<u64, DecimalError> {
    let not_decimal = || DecimalError::NotDecimal(text.to_string());
    if text.len() > MAX_DECIMAL_CHARS {
        return Err(not_decimal());
    }
    let (unsigned, negative) = match text.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (
            &unsigned[..at],
            parse_exponent(&unsigned[at + 1..]).ok_or_else(not_decimal)?,
        ),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits_only(whole)
        || !digits_only(fraction)
        || (mantissa.contains('.') && fraction.is_empty())
    {
        return Err(not_decimal());
    }
    let is_zero = whole.bytes().chain(fraction.bytes()).all(|b| b == b'0');
    if negative && !is_zero {
        return Err(DecimalError::Negative(text.to_string()));
    }
    if exponent.abs() > MAX_EXPONENT {
        return Err(DecimalError::TooLarge(text.to_string()));
    }
    // The value is digits × 10^(exponent − fraction's length); scaled, × 10^shift more.
    // `fraction.len()` ≤ MAX_DECIMAL_CHARS, so these casts and sums cannot overflow.
    let places = exponent + i64::from(shift) - fraction.len() as i64;
    let digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
    let value = shift_digits(&digits, places).ok_or_else(|| DecimalError::TooLarge(text.into()))?;
    if value == 0 {
        return Err(DecimalError::Zero(text.to_string()));
    }
    Ok(value)
}

/// The exponent after `e` (`3`, `+3`, `-3`), if it is one; at most 4 digits are read, which
/// keeps it far inside an `i64` (anything beyond [`MAX_EXPONENT`] is refused later).
fn parse_exponent(text: &str) -> Option<i64> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    let well_formed = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() > 4 {
        return Some(sign * (MAX_EXPONENT + 1));
    }
    Some(sign * trimmed.parse::<i64>().unwrap_or(0))
}

/// Decimal `text` of a unix time in seconds or milliseconds (`1700000000`, `"1700000000.25"`,
/// `1700000000250`) as milliseconds, rounded down.
///
/// Which it is follows from its size: below 10^11 it is seconds (10^11 s is the year 5138),
/// else milliseconds (10^11 ms was in 1973, before any price API answered).
pub fn unix_time_ms(text: &str) -> Result<u64, DecimalError> {
    const SECONDS_BELOW: u64 = 100_000_000_000;
    let thousandths = scaled_decimal(text, 3)?;
    Ok(if thousandths / 1_000 < SECONDS_BELOW {
        thousandths
    } else {
        thousandths / 1_000
    })
}

/// The ASCII `digits` as an integer times `10^places` (a negative `places` drops that many
/// trailing digits: rounding down), or `None` if it does not fit a `u64`.
fn shift_digits(digits: &[u8], places: i64) -> Option<u64> {
    let kept = if places < 0 {
        let dropped = usize::try_from(-places).ok()?;
        &digits[..digits.len().saturating_sub(dropped)]
    } else {
        digits
    };
    let mut value: u64 = 0;
    for digit in kept {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    // Zero stays zero however far it is shifted (and is refused by the caller).
    if places <= 0 || value == 0 {
        return Some(value);
    }
    value.checked_mul(10u64.checked_pow(u32::try_from(places).ok()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_become_exact_nano_dollars() {
        let nano = |text| scaled_decimal(text, 9);
        assert_eq!(nano("1.2345"), Ok(1_234_500_000));
        assert_eq!(nano("0.1"), Ok(100_000_000));
        assert_eq!(nano("64123.123456789"), Ok(64_123_123_456_789));
        assert_eq!(nano("1"), Ok(1_000_000_000));
        assert_eq!(nano("007.50"), Ok(7_500_000_000));
        // Past 9 decimals: rounded down.
        assert_eq!(nano("0.0000000019"), Ok(1));
        assert_eq!(nano("1.99999999999"), Ok(1_999_999_999));
        // Exponents, converted exactly.
        assert_eq!(nano("1.5e3"), Ok(1_500_000_000_000));
        assert_eq!(nano("15E-1"), Ok(1_500_000_000));
        assert_eq!(nano("1e-9"), Ok(1));
        assert_eq!(nano("2.5e+0"), Ok(2_500_000_000));
        // Other scales: cents (7 places), nano-dollars (none).
        assert_eq!(scaled_decimal("123", 7), Ok(1_230_000_000));
        assert_eq!(scaled_decimal("1500000000", 0), Ok(1_500_000_000));
    }

    #[test]
    fn what_cannot_be_converted_exactly_is_refused() {
        let nano = |text| scaled_decimal(text, 9);
        assert!(matches!(nano("-1.5"), Err(DecimalError::Negative(_))));
        assert!(matches!(nano("0"), Err(DecimalError::Zero(_))));
        assert!(matches!(nano("-0.0"), Err(DecimalError::Zero(_))));
        assert!(matches!(nano("0.0000000001"), Err(DecimalError::Zero(_))));
        assert!(matches!(nano("1e-10"), Err(DecimalError::Zero(_))));
        assert!(matches!(nano("1e41"), Err(DecimalError::TooLarge(_))));
        assert!(matches!(nano("1e99999999"), Err(DecimalError::TooLarge(_))));
        assert!(matches!(
            nano("18446744074"),
            Err(DecimalError::TooLarge(_))
        ));
        for bad in [
            "", "abc", "1.", ".5", "1e", "1e+", "--1", "+1", "1.2.3", "NaN", "inf", "1 2", "0x10",
        ] {
            assert!(
                matches!(nano(bad), Err(DecimalError::NotDecimal(_))),
                "{bad:?} should not be decimal"
            );
        }
        let long = format!("1.{}", "0".repeat(MAX_DECIMAL_CHARS));
        assert!(matches!(nano(&long), Err(DecimalError::NotDecimal(_))));
    }

    #[test]
    fn times_are_read_in_seconds_or_milliseconds() {
        assert_eq!(unix_time_ms("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(unix_time_ms("1700000000.25"), Ok(1_700_000_000_250));
        assert_eq!(unix_time_ms("1700000000250"), Ok(1_700_000_000_250));
        assert_eq!(unix_time_ms("1.7e9"), Ok(1_700_000_000_000));
        assert!(unix_time_ms("-5").is_err());
    }

    #[test]
    fn paths_find_numbers_and_strings_in_real_shapes() {
        let coinbase = r#"{"data":{"base":"CAIRN","currency":"USD","amount":"1.23"}}"#;
        assert_eq!(lookup(coinbase, "data.amount").unwrap(), "1.23");
        let kraken = r#"{"error":[],"result":{"XXBTZUSD":{"c":["64123.10000","0.01"]}}}"#;
        assert_eq!(
            lookup(kraken, "result.XXBTZUSD.c.0").unwrap(),
            "64123.10000"
        );
        let aggregator = r#" {"price": 1.23, "time": 1700000000} "#;
        assert_eq!(lookup(aggregator, "price").unwrap(), "1.23");
        assert_eq!(lookup(aggregator, "time").unwrap(), "1700000000");
        let listed = r#"{"data":[{"price":"0.5"},{"price":"0.7"}]}"#;
        assert_eq!(lookup(listed, "data.1.price").unwrap(), "0.7");
        // A digit key at an object is a key.
        assert_eq!(lookup(r#"{"0":{"p":2}}"#, "0.p").unwrap(), "2");
    }

    #[test]
    fn wrong_answers_and_paths_are_typed() {
        assert!(matches!(lookup("<html>", "a"), Err(PathError::NotJson(_))));
        assert!(matches!(
            lookup(r#"{"a":1}"#, "b"),
            Err(PathError::Missing { .. })
        ));
        assert!(matches!(
            lookup(r#"{"a":[1]}"#, "a.1"),
            Err(PathError::Missing { .. })
        ));
        assert!(matches!(
            lookup(r#"{"a":[1]}"#, "a.x"),
            Err(PathError::Missing { .. })
        ));
        assert!(matches!(
            lookup(r#"{"a":1}"#, "a.b"),
            Err(PathError::Missing { .. })
        ));
        assert!(matches!(
            lookup(r#"{"a":null}"#, "a"),
            Err(PathError::NotANumber { .. })
        ));
        assert!(matches!(
            lookup(r#"{"a":{"b":1}}"#, "a"),
            Err(PathError::NotANumber { .. })
        ));
        for bad in ["", "a..b", ".a", "a."] {
            assert!(matches!(lookup("{}", bad), Err(PathError::BadPath(_))));
        }
        let deep = vec!["a"; MAX_PATH_SEGMENTS + 1].join(".");
        assert!(matches!(lookup("{}", &deep), Err(PathError::BadPath(_))));
    }
}
