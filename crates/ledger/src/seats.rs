//! Seats of equal stake: how an epoch's consensus seats are shared out.
//!
//! Consensus counts seats, not stake (simplex has no vote weights), so voting power follows
//! stake through the seats: every seat stands for the same stake, the **seat size** `q`, and a
//! validator holds `⌊stake / q⌋` seats (at most one per seat key it registered).
//!
//! **The active set.** A committee of `max_seats` seats cannot hold more than `max_seats`
//! validators, and a validator whose stake is below the seat size would hold none while its
//! stake still looked "eligible". So the set is the longest run of eligible validators, in
//! priority order (larger stake first, then lower address), in which every member holds at least
//! one seat; the others **wait** (no seat, no emission), as in any bounded committee. The set
//! records the stake that waits, so nobody mistakes it for stake that secures the chain.
//!
//! **The seat size** is the smallest value, never below `validator_stake_min` nor below what lets
//! the largest member's seats fit in [`MAX_SEAT_KEYS`] keys, at which the seats the active
//! validators' stake covers fit in `max_seats`. Keys do not lower it: a validator with fewer keys
//! than its stake covers holds one seat per key, and its lost seats count for nobody (which is why
//! the CLI registers all 128). A member's unseated remainder is therefore less
//! than one seat, and since every seat is worth `q`, "a third of the seats" is exactly "a third
//! of the seated stake". `docs/CONSENSUS.md` says why this rule and what it guarantees.
//!
//! One case cannot keep every remainder below a seat: validators tied at the boundary (at
//! `q − 1` there are more seats than fit, at `q` fewer). Those last seats go to validators in
//! priority order, so a tie never empties the set.
//!
//! Everything is integer arithmetic on base units; the same candidates give the same seats on
//! every machine.

use cairn_types::validator_keys::MAX_SEAT_KEYS;
use cairn_types::{Address, Amount};

/// One eligible validator, as the allocation sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Candidate {
    /// Its account.
    pub address: Address,
    /// Its bonded stake.
    pub stake: Amount,
    /// How many seat keys it registered (the most seats it can hold).
    pub keys: u32,
}

/// The outcome: the seat size and how many seats each candidate holds.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Allocation {
    /// The stake one seat stands for.
    pub seat_size: Amount,
    /// Seats per member of the active set, in priority order.
    pub seats: Vec<(Address, u32)>,
    /// The stake of the eligible validators left out of the active set.
    pub waiting: Amount,
}

impl Allocation {
    /// Seats handed out in all.
    pub fn total(&self) -> u64 {
        self.seats.iter().map(|(_, n)| u64::from(*n)).sum()
    }
}

/// Seats of `candidate` at seat size `q` (at least 1).
fn seats_at(candidate: &Candidate, q: u128) -> u128 {
    (candidate.stake.0 / q).min(u128::from(candidate.keys))
}

/// Seats the stake of all candidates covers at seat size `q`, whatever keys they registered:
/// the seat size follows stake alone, so a validator that registered few keys loses only its own
/// seats and never makes seats cheaper for everyone else.
fn count_at(candidates: &[Candidate], q: u128) -> u128 {
    candidates
        .iter()
        .fold(0u128, |sum, c| sum.saturating_add(c.stake.0 / q))
}

/// Shares out at most `max_seats` seats among `candidates` (which must be eligible: unjailed,
/// with at least the minimum stake): the active set is the longest run in priority order in which
/// everyone holds a seat. The seat size is never below `min_seat_size`.
pub fn allocate(candidates: &[Candidate], max_seats: u64, min_seat_size: Amount) -> Allocation {
    let mut order: Vec<&Candidate> = candidates.iter().filter(|c| c.keys > 0).collect();
    order.sort_by(|a, b| b.stake.cmp(&a.stake).then(a.address.cmp(&b.address)));
    let most = order
        .len()
        .min(usize::try_from(max_seats).unwrap_or(usize::MAX));
    // Dropping the smallest member never raises the seat size, so the runs in which everyone
    // holds a seat are the short ones: search for the longest.
    let (mut good, mut bad) = (0usize, most + 1);
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if everyone_seated(&allocate_run(&order[..mid], max_seats, min_seat_size), mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    let mut allocation = allocate_run(&order[..good], max_seats, min_seat_size);
    // Belt and braces for the search's premise: step down until everyone holds a seat.
    while good > 0 && !everyone_seated(&allocation, good) {
        good -= 1;
        allocation = allocate_run(&order[..good], max_seats, min_seat_size);
    }
    allocation.waiting = order[good..].iter().fold(Amount::ZERO, |sum, c| {
        Amount(sum.0.saturating_add(c.stake.0))
    });
    allocation
}

/// Whether all `members` of the run hold a seat.
fn everyone_seated(allocation: &Allocation, members: usize) -> bool {
    allocation.seats.len() == members
}

/// Equal seats among `order` (already in priority order): the smallest fitting seat size.
fn allocate_run(order: &[&Candidate], max_seats: u64, min_seat_size: Amount) -> Allocation {
    let run: Vec<Candidate> = order.iter().map(|c| **c).collect();
    let max_seats = u128::from(max_seats);
    let largest = order.first().map_or(0, |c| c.stake.0);
    // Never so small that a validator would need more seats than it may register keys: with all
    // its keys registered, nobody's seats are cut short by the key cap.
    let keys_cover = largest / (MAX_SEAT_KEYS as u128 + 1) + 1;
    let lowest = min_seat_size.0.max(1).max(keys_cover);
    // The smallest seat size at which everything fits: `count_at` never grows with `q`, and
    // nobody holds a seat above the largest stake.
    let q = if count_at(&run, lowest) <= max_seats {
        lowest
    } else {
        let (mut fits, mut too_small) = (largest.saturating_add(1), lowest);
        while fits - too_small > 1 {
            let mid = too_small + (fits - too_small) / 2;
            if count_at(&run, mid) <= max_seats {
                fits = mid;
            } else {
                too_small = mid;
            }
        }
        fits
    };
    let mut seats: Vec<(Address, u128)> =
        order.iter().map(|c| (c.address, seats_at(c, q))).collect();
    let mut left = max_seats.saturating_sub(seats.iter().map(|(_, n)| *n).sum());
    let mut seat_size = q;
    // Ties at the boundary: the seats still free go, in priority order, to those who would hold
    // one more at `q − 1`.
    if left > 0 && q > lowest {
        for (candidate, (_, held)) in order.iter().zip(seats.iter_mut()) {
            let more = seats_at(candidate, q - 1).saturating_sub(*held).min(left);
            if more > 0 {
                *held += more;
                left -= more;
                seat_size = q - 1;
            }
            if left == 0 {
                break;
            }
        }
    }
    Allocation {
        seat_size: Amount(seat_size),
        seats: seats
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(address, n)| (address, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect(),
        waiting: Amount::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::SecretKey;
    use proptest::prelude::*;

    fn address(i: usize) -> Address {
        Address(SecretKey::from_label(&format!("v{i}")).public_key())
    }

    fn candidates(stakes: &[(u128, u32)]) -> Vec<Candidate> {
        stakes
            .iter()
            .enumerate()
            .map(|(i, (stake, keys))| Candidate {
                address: address(i),
                stake: Amount(*stake),
                keys: *keys,
            })
            .collect()
    }

    fn seats_of(allocation: &Allocation, who: Address) -> u32 {
        allocation
            .seats
            .iter()
            .find(|(a, _)| *a == who)
            .map_or(0, |(_, n)| *n)
    }

    #[test]
    fn four_equal_validators_and_two_minimum_bonds() {
        // The attack of issue 12: 4 × 10,000 honest, 2 × 1,000 with keys that never vote.
        let c = candidates(&[
            (10_000, 8),
            (10_000, 8),
            (10_000, 8),
            (10_000, 8),
            (1_000, 8),
            (1_000, 8),
        ]);
        let four = allocate(&c, 4, Amount(1_000));
        // The smallest size at which at most 4 seats fit: just over half of 10,000.
        assert_eq!(four.seat_size, Amount(5_001));
        assert_eq!(four.total(), 4);
        assert_eq!(seats_of(&four, address(4)), 0);
        let many = allocate(&c, 42, Amount(1_000));
        assert_eq!(many.seat_size, Amount(1_000));
        assert_eq!(many.total(), 34);
        // The honest validators registered 8 keys each, so they hold 32 seats; the attackers 2.
        assert_eq!(seats_of(&many, address(4)) + seats_of(&many, address(5)), 2);
        let some = allocate(&c, 20, Amount(1_000));
        assert_eq!(some.total(), 20);
        assert_eq!(some.seat_size, Amount(1_667));
        assert_eq!(seats_of(&some, address(4)), 0);
    }

    #[test]
    fn ties_at_the_boundary_never_empty_the_set() {
        // Five equal validators, four seats: at 10,000 five seats, above it none.
        let c = candidates(&[(10_000, 4); 5]);
        let a = allocate(&c, 4, Amount(1_000));
        assert_eq!(a.total(), 4);
        assert_eq!(a.waiting, Amount(10_000));
        let waiting: Vec<usize> = (0..5).filter(|i| seats_of(&a, address(*i)) == 0).collect();
        assert_eq!(waiting.len(), 1, "the last by address waits");
        let last = (0..5).map(address).max().expect("five");
        assert_eq!(address(waiting[0]), last);
        let c = candidates(&[
            (20_000, 4),
            (10_000, 4),
            (10_000, 4),
            (10_000, 4),
            (10_000, 4),
        ]);
        let a = allocate(&c, 4, Amount(1_000));
        assert_eq!(a.total(), 4);
        assert_eq!(seats_of(&a, address(0)), 2);
    }

    #[test]
    fn honest_validators_short_of_keys_do_not_make_seats_cheap_for_others() {
        // The attacker review's case: four validators of 1,000,000 with 16 keys each, one of
        // 36,000 with 128. Counting keys, the seat size fell to the minimum and the small one
        // held 36 of 100 seats. By stake alone, a seat is worth about 40,360 tokens: the honest
        // validators hold 16 each (their keys), the small one none.
        let c = candidates(&[
            (1_000_000, 16),
            (1_000_000, 16),
            (1_000_000, 16),
            (1_000_000, 16),
            (36_000, 128),
        ]);
        let a = allocate(&c, 100, Amount(1_000));
        assert!(a.seat_size.0 > 36_000, "{a:?}");
        assert_eq!(seats_of(&a, address(4)), 0);
        assert_eq!(a.total(), 64);
    }

    #[test]
    fn keys_cap_seats() {
        let c = candidates(&[(10_000, 1), (10_000, 10)]);
        let a = allocate(&c, 100, Amount(1_000));
        assert_eq!(seats_of(&a, address(0)), 1);
        assert_eq!(seats_of(&a, address(1)), 10);
    }

    #[test]
    fn fragmented_stake_waits_instead_of_vanishing_into_the_count() {
        // The attacker review's case: 200 honest validators of 1,000 tokens, one of 70,000 with
        // 128 keys, 100 seats. The old rule chose a seat size of 1,001 and seated nobody but the
        // attacker. Now the set is the attacker and the 30 largest others, everyone seated, and
        // the stake left out is reported as waiting.
        let mut stakes = vec![(70_000u128, 128u32)];
        stakes.extend(std::iter::repeat_n((1_000u128, 4u32), 200));
        let c = candidates(&stakes);
        let a = allocate(&c, 100, Amount(1_000));
        assert_eq!(a.seat_size, Amount(1_000));
        assert_eq!(a.total(), 100);
        assert_eq!(a.seats.len(), 31);
        assert_eq!(seats_of(&a, address(0)), 70);
        assert_eq!(a.waiting, Amount(170_000));
    }

    fn arb_candidates() -> impl Strategy<Value = Vec<(u128, u32)>> {
        proptest::collection::vec((1_000u128..1_000_000, 1u32..40), 1..30)
    }

    proptest! {
        #[test]
        fn seats_fit_follow_stake_and_leave_less_than_a_seat(
            stakes in arb_candidates(),
            max_seats in 1u64..200,
        ) {
            let c = candidates(&stakes);
            let a = allocate(&c, max_seats, Amount(1_000));
            prop_assert!(a.total() <= max_seats);
            let q = a.seat_size.0;
            prop_assert!(q >= 1_000);
            // Every member of the active set holds a seat; everyone who waits has no more stake
            // than any member, and the stake that waits is accounted for.
            prop_assert!(a.seats.iter().all(|(_, n)| *n >= 1));
            let smallest_member = c
                .iter()
                .filter(|x| seats_of(&a, x.address) > 0)
                .map(|x| x.stake.0)
                .min()
                .unwrap_or(0);
            let waiting: Vec<&Candidate> =
                c.iter().filter(|x| seats_of(&a, x.address) == 0).collect();
            prop_assert!(waiting.iter().all(|x| x.stake.0 <= smallest_member));
            prop_assert_eq!(a.waiting.0, waiting.iter().map(|x| x.stake.0).sum::<u128>());
            // Nobody waits while there is room for one more validator at the same seat size.
            if !waiting.is_empty() {
                prop_assert!(
                    a.seats.len() as u64 == max_seats
                        || waiting.iter().all(|x| x.stake.0 < q)
                        || a.total() + 1 > max_seats
                );
            }
            let tie = a.total() == max_seats;
            for candidate in c.iter().filter(|x| seats_of(&a, x.address) > 0) {
                let held = u128::from(seats_of(&a, candidate.address));
                // Never more than the stake covers, nor than its keys.
                prop_assert!(held * q <= candidate.stake.0);
                prop_assert!(held <= u128::from(candidate.keys));
                // The remainder is under a seat, unless its keys ran out or seats ran out at a tie.
                if held < u128::from(candidate.keys) && !tie {
                    prop_assert!(candidate.stake.0 - held * q < q);
                }
            }
            // The same candidates in another order give the same seats.
            let mut reversed = c.clone();
            reversed.reverse();
            prop_assert_eq!(allocate(&reversed, max_seats, Amount(1_000)), a);
        }

        #[test]
        fn a_validator_with_every_key_is_never_cut_short(
            stakes in proptest::collection::vec(1_000u128..1_000_000_000, 1..30),
            max_seats in 1u64..1_024,
        ) {
            let all_keys: Vec<(u128, u32)> =
                stakes.iter().map(|s| (*s, MAX_SEAT_KEYS as u32)).collect();
            let c = candidates(&all_keys);
            let a = allocate(&c, max_seats, Amount(1_000));
            for candidate in c.iter().filter(|x| seats_of(&a, x.address) > 0) {
                let held = u128::from(seats_of(&a, candidate.address));
                prop_assert!(held >= candidate.stake.0 / (a.seat_size.0 + 1));
            }
        }

        #[test]
        fn keys_never_make_seats_cheaper(
            stakes in arb_candidates(),
            max_seats in 1u64..200,
        ) {
            // The same stakes with every key a validator could register: the seat size moves by
            // at most the one base unit of a tie at the boundary.
            let c = candidates(&stakes);
            let all_keys: Vec<(u128, u32)> = stakes.iter().map(|(s, _)| (*s, 128)).collect();
            let few = allocate(&c, max_seats, Amount(1_000));
            let many = allocate(&candidates(&all_keys), max_seats, Amount(1_000));
            prop_assert!(few.seat_size.0 + 1 >= many.seat_size.0);
        }

        #[test]
        fn a_coalition_holds_no_larger_share_of_seats_than_its_stake_earns(
            stakes in arb_candidates(),
            max_seats in 1u64..200,
            coalition_mask in any::<u32>(),
        ) {
            let c = candidates(&stakes);
            let a = allocate(&c, max_seats, Amount(1_000));
            let q = a.seat_size.0;
            let in_coalition = |i: usize| coalition_mask & (1 << (i % 32)) != 0;
            let mut seats = 0u128;
            let mut stake = 0u128;
            for (i, candidate) in c.iter().enumerate() {
                if in_coalition(i) {
                    seats += u128::from(seats_of(&a, candidate.address));
                    stake += candidate.stake.0;
                }
            }
            // Every seat it holds is backed by a full seat size of its own stake.
            prop_assert!(seats * q <= stake);
        }
    }
}
