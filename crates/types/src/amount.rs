//! Token amounts, data credits and prices: integers only.
//!
//! The token has 6 display decimals: 1 CAIRN = 1,000,000 base units, held as a `u128`. Text such
//! as `12.5` is parsed digit by digit and printed the same way; no float is ever involved, and
//! every operation that could overflow is checked.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Number of display decimals of the token.
pub const DECIMALS: u32 = 6;
/// Base units in one whole token.
pub const BASE_UNITS_PER_TOKEN: u128 = 1_000_000;

/// An amount of the token in base units.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Amount(pub u128);

/// Why text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Empty, a sign, an exponent or another character that is not a digit or one dot.
    #[error("`{0}` is not an amount: use digits with at most one dot, like 12.5")]
    Syntax(String),
    /// More than 6 digits after the dot.
    #[error("`{0}` has more than 6 decimals")]
    TooPrecise(String),
    /// Larger than the largest representable amount.
    #[error("`{0}` is too large")]
    Overflow(String),
}

impl Amount {
    /// No tokens.
    pub const ZERO: Amount = Amount(0);

    /// `whole` tokens.
    pub const fn tokens(whole: u128) -> Amount {
        Amount(whole * BASE_UNITS_PER_TOKEN)
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` if `other` is larger.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// `self - other`, or zero.
    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

/// Multiplies `value` by `numerator / denominator`, rounding down, without intermediate overflow
/// for any `value`, `numerator` up to `u64::MAX` and non-zero `denominator`.
///
/// Rounding is down (toward zero) everywhere Cairn splits money: what is lost to rounding stays
/// with the payer (usually the treasury), never created.
pub fn mul_div_floor(value: u128, numerator: u128, denominator: u128) -> Option<u128> {
    if denominator == 0 {
        return None;
    }
    // value * n / d = (q*d + r) * n / d = q*n + r*n/d, with r < d; checked at each step.
    let q = value / denominator;
    let r = value % denominator;
    q.checked_mul(numerator)?
        .checked_add(r.checked_mul(numerator)? / denominator)
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / BASE_UNITS_PER_TOKEN;
        let frac = self.0 % BASE_UNITS_PER_TOKEN;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({self})")
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || AmountError::Syntax(s.to_string());
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) {
            return Err(syntax());
        }
        if s.contains('.') && frac.is_empty() {
            return Err(syntax());
        }
        if frac.len() > DECIMALS as usize {
            return Err(AmountError::TooPrecise(s.to_string()));
        }
        let overflow = || AmountError::Overflow(s.to_string());
        let mut units: u128 = 0;
        for b in whole.bytes() {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(u128::from(b - b'0')))
                .ok_or_else(overflow)?;
        }
        units = units
            .checked_mul(BASE_UNITS_PER_TOKEN)
            .ok_or_else(overflow)?;
        let mut frac_units: u128 = 0;
        for (i, b) in frac.bytes().enumerate() {
            let scale = 10u128.pow(DECIMALS - 1 - i as u32);
            frac_units += u128::from(b - b'0') * scale;
        }
        units
            .checked_add(frac_units)
            .map(Amount)
            .ok_or_else(overflow)
    }
}

serde_as_text!(Amount);

/// Data credits: non-transferable units of service, 1 DC = $0.00001 (as in Helium).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct Credits(pub u64);

impl Credits {
    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Credits) -> Option<Credits> {
        self.0.checked_add(other.0).map(Credits)
    }
    /// `self - other`, or `None` if `other` is larger.
    pub fn checked_sub(self, other: Credits) -> Option<Credits> {
        self.0.checked_sub(other.0).map(Credits)
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} DC", self.0)
    }
}

/// Price of one whole token in nano-dollars (1e-9 USD), as posted by the oracle committee.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct Price(pub u64);

/// Nano-dollars in one data credit ($0.00001).
pub const NANO_USD_PER_CREDIT: u128 = 10_000;

impl Price {
    /// Data credits bought by burning `amount` at this price, rounded down (the burner gets no
    /// fraction of a credit; the rounding loss is burned with the tokens).
    ///
    /// credits = amount [base units] × price [nUSD/token] / (10^6 [units/token] × 10^4 [nUSD/DC])
    pub fn credits_for(&self, amount: Amount) -> Option<Credits> {
        let credits = mul_div_floor(
            amount.0,
            u128::from(self.0),
            BASE_UNITS_PER_TOKEN * NANO_USD_PER_CREDIT,
        )?;
        u64::try_from(credits).ok().map(Credits)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "${}.{:09}",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

/// Serde for a `u128` as decimal text (JSON numbers lose precision past 2^53, and serde's
/// internally tagged enums cannot carry a `u128` at all). Use with `#[serde(with = "…")]`.
pub mod u128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the number as text.
    pub fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads the number from text.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        let text = <String as Deserialize>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_human_amounts() {
        assert_eq!("12.5".parse::<Amount>(), Ok(Amount(12_500_000)));
        assert_eq!("0.000001".parse::<Amount>(), Ok(Amount(1)));
        assert_eq!("7".parse::<Amount>(), Ok(Amount::tokens(7)));
        assert_eq!("007.10".parse::<Amount>(), Ok(Amount(7_100_000)));
    }

    #[test]
    fn refuses_bad_amounts() {
        for bad in [
            "", ".", "1.", ".5", "-1", "+1", "1e6", "1.2.3", "1,5", " 1", "NaN",
        ] {
            assert!(
                matches!(bad.parse::<Amount>(), Err(AmountError::Syntax(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            "1.0000001".parse::<Amount>(),
            Err(AmountError::TooPrecise("1.0000001".into()))
        );
        let huge = "340282366920938463463374607431768211456";
        assert!(matches!(
            huge.parse::<Amount>(),
            Err(AmountError::Overflow(_))
        ));
        // Fits as base units but not once multiplied by 10^6.
        let big = (u128::MAX / 1000).to_string();
        assert!(matches!(
            big.parse::<Amount>(),
            Err(AmountError::Overflow(_))
        ));
    }

    #[test]
    fn prints_without_trailing_zeros() {
        assert_eq!(Amount(12_500_000).to_string(), "12.5");
        assert_eq!(Amount(1).to_string(), "0.000001");
        assert_eq!(Amount::tokens(3).to_string(), "3");
        assert_eq!(
            Amount(u128::MAX).to_string().parse::<Amount>(),
            Ok(Amount(u128::MAX))
        );
    }

    #[test]
    fn one_dollar_buys_100k_credits() {
        let price = Price(1_000_000_000); // $1 per token
        assert_eq!(price.credits_for(Amount::tokens(1)), Some(Credits(100_000)));
        // $0.35 per token, 2.5 tokens = $0.875 = 87,500 DC.
        assert_eq!(
            Price(350_000_000).credits_for("2.5".parse().unwrap()),
            Some(Credits(87_500))
        );
        // Rounds down: one base unit at $1 is $0.000001, a tenth of a credit.
        assert_eq!(price.credits_for(Amount(1)), Some(Credits(0)));
    }

    #[test]
    fn mul_div_floor_is_exact_and_checked() {
        assert_eq!(mul_div_floor(10, 1, 3), Some(3));
        assert_eq!(mul_div_floor(u128::MAX, 1, 1), Some(u128::MAX));
        assert_eq!(mul_div_floor(u128::MAX, 2, 1), None);
        assert_eq!(mul_div_floor(u128::MAX, 3, 3), Some(u128::MAX));
        assert_eq!(mul_div_floor(5, 1, 0), None);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(units in any::<u128>()) {
            prop_assert_eq!(Amount(units).to_string().parse::<Amount>(), Ok(Amount(units)));
        }

        #[test]
        fn mul_div_matches_wide_arithmetic(v in any::<u64>(), n in any::<u64>(), d in 1..u64::MAX) {
            let expected = (u128::from(v) * u128::from(n)) / u128::from(d);
            prop_assert_eq!(mul_div_floor(u128::from(v), u128::from(n), u128::from(d)), Some(expected));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,50}") {
            let _ = text.parse::<Amount>();
        }
    }
}
