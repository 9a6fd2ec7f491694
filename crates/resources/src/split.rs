//! A pool split pro rata to points, in integers.
//!
//! Each share is `floor(pool × points / total_points)`, computed exactly in 256 bits, so the
//! shares never sum to more than the pool; what the rounding leaves (less than one base unit per
//! share) is returned as the residue, which the ledger sends to the treasury.

use cairn_types::Amount;

/// Splits `pool` among `points` pro rata, rounding each share down. Returns the shares (in the
/// order given; zero points get zero) and the residue (`pool − Σ shares`).
pub fn split_pro_rata<K: Clone>(pool: Amount, points: &[(K, u64)]) -> (Vec<(K, Amount)>, Amount) {
    let total: u128 = points.iter().map(|(_, p)| u128::from(*p)).sum();
    let mut paid: u128 = 0;
    let shares = points
        .iter()
        .map(|(key, p)| {
            let share = if total == 0 {
                0
            } else {
                // Rounds down: pool × p ≤ pool × total, so the quotient fits in u128.
                mul_div_floor(pool.0, u128::from(*p), total)
            };
            paid += share;
            (key.clone(), Amount(share))
        })
        .collect();
    (shares, Amount(pool.0 - paid.min(pool.0)))
}

/// `floor(a × b / d)` for `b ≤ d`, exact: the product is taken in 256 bits, and the quotient
/// fits in u128 because it is at most `a`.
fn mul_div_floor(a: u128, b: u128, d: u128) -> u128 {
    let (hi, lo) = wide_mul(a, b);
    wide_div(hi, lo, d)
}

/// The 256-bit product of two u128, as (high, low).
fn wide_mul(a: u128, b: u128) -> (u128, u128) {
    let mask = u128::from(u64::MAX);
    let (a1, a0) = (a >> 64, a & mask);
    let (b1, b0) = (b >> 64, b & mask);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & mask) + (p10 & mask);
    let lo = (p00 & mask) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// `floor((hi·2^128 + lo) / d)`, assuming the quotient fits in u128 (hi < d), by long division
/// one bit at a time (128 steps; a split runs once per device per epoch).
fn wide_div(hi: u128, lo: u128, d: u128) -> u128 {
    if d == 0 {
        return 0;
    }
    let mut rem = hi % d;
    let mut quotient = 0u128;
    for bit in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> bit) & 1);
        quotient <<= 1;
        if carry == 1 || rem >= d {
            rem = rem.wrapping_sub(d);
            quotient |= 1;
        }
    }
    quotient
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shares_round_down_and_the_residue_is_returned() {
        let (shares, residue) = split_pro_rata(Amount(10), &[(1, 1), (2, 1), (3, 1)]);
        assert_eq!(shares, vec![(1, Amount(3)), (2, Amount(3)), (3, Amount(3))]);
        assert_eq!(residue, Amount(1));
        let (shares, residue) = split_pro_rata(Amount(10), &[(1, 0), (2, 0)]);
        assert_eq!(shares, vec![(1, Amount(0)), (2, Amount(0))]);
        assert_eq!(residue, Amount(10));
        let (shares, residue) = split_pro_rata::<u8>(Amount(10), &[]);
        assert!(shares.is_empty());
        assert_eq!(residue, Amount(10));
    }

    #[test]
    fn the_largest_pools_are_exact() {
        let (shares, residue) = split_pro_rata(Amount(u128::MAX), &[(1, u64::MAX), (2, 1)]);
        let total = u128::from(u64::MAX) + 1;
        // floor(MAX × (2^64 − 1) / 2^64) and floor(MAX / 2^64).
        assert_eq!(shares[1].1, Amount(u128::MAX / total));
        assert_eq!(shares[0].1 .0 + shares[1].1 .0 + residue.0, u128::MAX);
        assert!(residue.0 < 2);
    }

    #[test]
    fn wide_arithmetic_matches_small_cases() {
        for (a, b, d) in [
            (7u128, 3u128, 5u128),
            (1 << 100, 1 << 20, 1 << 21),
            (u128::MAX, 1, 1),
        ] {
            let expected = if let Some(p) = a.checked_mul(b) {
                p / d
            } else {
                a / d * b
            };
            assert_eq!(mul_div_floor(a, b, d), expected, "{a} {b} {d}");
        }
    }

    proptest! {
        /// The split never pays more than the pool, each share is the exact floor, and the
        /// residue is less than one unit per share.
        #[test]
        fn the_split_never_pays_more_than_the_pool(
            pool in any::<u128>(),
            points in proptest::collection::vec(any::<u64>(), 0..40),
        ) {
            let keyed: Vec<(usize, u64)> = points.iter().copied().enumerate().collect();
            let (shares, residue) = split_pro_rata(Amount(pool), &keyed);
            let paid: u128 = shares.iter().map(|(_, a)| a.0).sum();
            prop_assert!(paid <= pool);
            prop_assert_eq!(paid + residue.0, pool);
            let total: u128 = points.iter().map(|p| u128::from(*p)).sum();
            if total > 0 {
                prop_assert!(residue.0 < shares.len() as u128 || residue.0 == 0);
            } else {
                prop_assert_eq!(residue.0, pool);
            }
            // More points never pay less.
            for (i, (_, a)) in shares.iter().enumerate() {
                for (j, (_, b)) in shares.iter().enumerate() {
                    if points[i] > points[j] {
                        prop_assert!(a >= b);
                    }
                }
            }
        }
    }
}
