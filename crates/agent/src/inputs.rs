//! What devices report: heartbeats, and readings from a simulated sensor, a file or a
//! line-oriented stream (so a real sensor can feed the agent: `sensor-tool | cairn agent …`).
//!
//! A reading line is `<sensor> <value>`, the value a decimal number (`temperature 21.375`,
//! `pm2_5 -3`); it becomes thousandths of the unit, an integer, with no floating point. Blank
//! lines and lines starting with `#` are skipped; any other line that does not parse is
//! reported and skipped.

use cairn_types::codec::BoundedString;
use cairn_types::report::{ReportPayload, MAX_SENSOR_NAME_BYTES};

/// Why a reading line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadingError {
    /// Not `<sensor> <value>`.
    #[error("expected `<sensor> <value>`, got `{0}`")]
    Shape(String),
    /// The sensor name is empty, too long or not `[a-z0-9_.-]`.
    #[error("bad sensor name `{0}` (1 to 32 of a-z, 0-9, _ . -)")]
    Sensor(String),
    /// The value is not a decimal number that fits.
    #[error("bad value `{0}` (a decimal number, at most 3 decimals)")]
    Value(String),
}

/// Parses one line; `Ok(None)` for blank and comment lines.
pub fn parse_reading(line: &str) -> Result<Option<ReportPayload>, ReadingError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(sensor), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ReadingError::Shape(line.to_string()));
    };
    let sensor_ok = !sensor.is_empty()
        && sensor.len() <= MAX_SENSOR_NAME_BYTES
        && sensor
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_.-".contains(&c));
    if !sensor_ok {
        return Err(ReadingError::Sensor(sensor.to_string()));
    }
    let value_milli = parse_milli(value).ok_or_else(|| ReadingError::Value(value.to_string()))?;
    let sensor = BoundedString::new(sensor).map_err(|_| ReadingError::Sensor(sensor.into()))?;
    Ok(Some(ReportPayload::Reading {
        sensor,
        value_milli,
    }))
}

/// A decimal number as thousandths (`-1.5` → `-1500`), exactly, without floats.
pub fn parse_milli(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || fraction.len() > 3
        || !whole.bytes().all(|c| c.is_ascii_digit())
        || !fraction.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut milli: i64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    for _ in fraction.len()..3 {
        milli *= 10;
    }
    let magnitude = whole.checked_mul(1_000)?.checked_add(milli)?;
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_become_readings_or_clear_errors() {
        assert_eq!(
            parse_reading("temperature 21.375").unwrap(),
            Some(ReportPayload::Reading {
                sensor: BoundedString::new("temperature").unwrap(),
                value_milli: 21_375
            })
        );
        assert_eq!(parse_reading("  # a comment").unwrap(), None);
        assert_eq!(parse_reading("").unwrap(), None);
        assert!(matches!(
            parse_reading("temperature"),
            Err(ReadingError::Shape(_))
        ));
        assert!(matches!(
            parse_reading("Temp 1"),
            Err(ReadingError::Sensor(_))
        ));
        assert!(matches!(
            parse_reading("t 1.2345"),
            Err(ReadingError::Value(_))
        ));
        assert!(matches!(
            parse_reading("t NaN"),
            Err(ReadingError::Value(_))
        ));
        assert_eq!(parse_milli("-1.5"), Some(-1_500));
        assert_eq!(parse_milli(".25"), Some(250));
        assert_eq!(parse_milli("7"), Some(7_000));
        assert_eq!(parse_milli("99999999999999999999"), None);
        assert_eq!(parse_milli("-"), None);
    }

    proptest! {
        #[test]
        fn any_line_parses_or_fails_cleanly(line in ".{0,80}") {
            let _ = parse_reading(&line);
        }

        #[test]
        fn integers_and_thousandths_round_trip(milli in -1_000_000_000_000i64..1_000_000_000_000) {
            let sign = if milli < 0 { "-" } else { "" };
            let text = format!("{sign}{}.{:03}", milli.unsigned_abs() / 1_000, milli.unsigned_abs() % 1_000);
            prop_assert_eq!(parse_milli(&text), Some(milli));
        }
    }
}
