//! Radio physics in integers: logarithms, free-space path loss and the strongest signal a
//! witness can honestly have heard.
//!
//! Every value that decides a reward is an integer, so every machine gets the same answer:
//! power in centi-dBm (`cdbm`, 1/100 dBm), gains and losses in centi-dB (`cdb`), frequency in
//! kHz, distance in metres. Logarithms are computed bit by bit on integers ([`log2_q32`]).
//!
//! Free-space path loss is `FSPL = 20·log10(4π·d·f / c)`; with `d` in metres and `f` in kHz,
//! `FSPL = 20·log10(d) + 20·log10(f) − 87.5522 dB`. [`fspl_cdb`] rounds it **down** (by less
//! than 0.01 dB plus the logarithms' error, far below any receiver's precision), so a witness
//! is never refused by rounding: the rule only refuses signals stronger than physics allows.

/// `20·log10(4π / c) + 60 dB` (the kHz-to-Hz term) in 1/1,000,000 dB, rounded down so that the
/// path loss rounds down: `20·log10(4π / 299,792,458) = −147.5522167…`, plus 60.
const FSPL_OFFSET_MICRO_DB: i64 = -87_552_217;
/// `log10(2)` in Q32 fixed point (0.30102999566 × 2³²), rounded down.
const LOG10_2_Q32: i128 = 1_292_913_986;

/// `log2(x)` in Q32 fixed point (`log2(x) · 2³²`), rounded down; `x` must be at least 1.
/// Integer-only: the integer part from the position of the top bit, then 32 fraction bits by
/// repeated squaring of the normalised mantissa.
pub fn log2_q32(x: u64) -> i64 {
    let x = x.max(1);
    let top = 63 - i64::from(x.leading_zeros());
    // The mantissa in [1, 2) as Q62.
    let mut m: u128 = if top <= 62 {
        u128::from(x) << (62 - top)
    } else {
        u128::from(x) >> (top - 62)
    };
    let mut result = top << 32;
    for bit in (0..32).rev() {
        m = (m * m) >> 62;
        if m >= 2 << 62 {
            m >>= 1;
            result += 1 << bit;
        }
    }
    result
}

/// `20·log10(x)` in millionths of a dB, rounded down.
fn twenty_log10_micro_db(x: u64) -> i64 {
    let log10_q32 = (i128::from(log2_q32(x)) * LOG10_2_Q32) >> 32;
    // 20 · log10 · 10⁶, back from Q32; at most about 20 · 19.3 · 10⁶, well within i64.
    i64::try_from((log10_q32 * 20_000_000) >> 32).unwrap_or(i64::MAX)
}

/// Free-space path loss over `distance_m` metres at `frequency_khz`, in centi-dB, rounded down.
/// Distances under one metre count as one metre.
pub fn fspl_cdb(distance_m: u64, frequency_khz: u32) -> i64 {
    let micro = twenty_log10_micro_db(distance_m.max(1))
        + twenty_log10_micro_db(u64::from(frequency_khz).max(1))
        + FSPL_OFFSET_MICRO_DB;
    micro.div_euclid(10_000)
}

/// The strongest signal (centi-dBm) a receiver `distance_m` away can honestly report from a
/// transmitter of `tx_power_cdbm` (its EIRP) at `frequency_khz`, allowing `gain_allowance_cdb`
/// for the receiving antenna and local effects.
pub fn max_rssi_cdbm(
    tx_power_cdbm: i32,
    gain_allowance_cdb: i32,
    distance_m: u64,
    frequency_khz: u32,
) -> i64 {
    i64::from(tx_power_cdbm) + i64::from(gain_allowance_cdb) - fspl_cdb(distance_m, frequency_khz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn log2_is_exact_on_powers_of_two() {
        for k in 0..64 {
            assert_eq!(log2_q32(1 << k), (k as i64) << 32);
        }
        assert_eq!(log2_q32(0), 0);
    }

    #[test]
    fn path_loss_matches_published_values() {
        // Independently computed: 20·log10(4π·d·f/c) with c = 299,792,458 m/s.
        // (d m, f kHz, dB×100 truncated): 1 km at 915 MHz = 91.676…, 10 km at 868 MHz =
        // 111.218…, 100 m at 2.4 GHz = 80.052…, 2 m at 433.92 MHz = 31.216….
        let cases = [
            (1_000, 915_000, 9_167),
            (10_000, 868_000, 11_121),
            (100, 2_400_000, 8_005),
            (2, 433_920, 3_121),
        ];
        for (d, f, cdb) in cases {
            let got = fspl_cdb(d, f);
            assert!(
                (cdb - 1..=cdb).contains(&got),
                "fspl({d} m, {f} kHz) = {got} cdB, want {cdb}"
            );
        }
    }

    #[test]
    fn the_strongest_honest_signal_weakens_with_distance() {
        // 27 dBm EIRP at 868 MHz, 6 dB allowance, 1 km: 27 + 6 − 91.21 = −58.21 dBm.
        assert_eq!(max_rssi_cdbm(2_700, 600, 1_000, 868_000), -5_821);
        assert!(max_rssi_cdbm(2_700, 600, 10_000, 868_000) < -5_821 - 1_999);
    }

    proptest! {
        #[test]
        fn path_loss_agrees_with_floating_point(d in 1u64..1_000_000, f in 100_000u32..6_000_000) {
            let exact = 20.0 * (4.0 * std::f64::consts::PI * d as f64 * f as f64 * 1e3
                / 299_792_458.0).log10();
            let got = fspl_cdb(d, f) as f64 / 100.0;
            // Rounded down, never by more than 0.02 dB.
            prop_assert!(got <= exact + 1e-9, "{got} > {exact}");
            prop_assert!(exact - got < 0.02, "{got} ≪ {exact}");
        }

        #[test]
        fn path_loss_never_falls_with_distance(d in 1u64..1_000_000, f in 100_000u32..6_000_000) {
            prop_assert!(fspl_cdb(d + 1, f) >= fspl_cdb(d, f));
        }
    }
}
