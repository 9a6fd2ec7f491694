//! The token price that burns use, from the oracle committee's posts.
//!
//! Every bonded oracle may post a price at any time; its latest post is kept. Each oracle weighs
//! with the smaller of its stake now and its stake when the epoch began (`OracleStakes`), so
//! stake bonded during an epoch counts from the next one: nobody can bond a majority and price
//! in the same block. A burn uses:
//!
//! 1. **Fresh posts only**: posted within `price_max_age_secs` of the block time, from oracles
//!    holding at least 2/3 of all oracle weight (and at least `price_fresh_min` posts). So one
//!    oracle, or a few holding less than a third of the stake, cannot set the price alone.
//! 2. **The stake-weighted median** of the fresh posts: the lowest price at which the posts at or
//!    below it hold at least half of the fresh stake. Oracles holding less than half of the fresh
//!    stake cannot move it outside the range of the others' prices.
//! 3. **A spread check**: some range of prices no wider than `price_spread_max_bps` of the
//!    median must hold the posts of 2/3 of the fresh stake, or the burn is refused: the oracles
//!    disagree, and nobody should buy credits at a doubtful price. (The median always lies in
//!    such a range.) Outliers from less than a third of the fresh stake do not widen the
//!    narrowest such range, so a minority cannot stop burns by posting nonsense.
//! 4. **A move limit**: the price may move at most `price_move_max_bps_per_minute` of the
//!    reference price per minute of chain time (block time) since the reference was set (at most
//!    [`MOVE_WINDOW_MAX_MS`]' worth at once), up or down; the median is held within that band. The
//!    pace is the same however fast blocks come. A median held to no move at all (the band
//!    rounds down to zero) leaves the reference's time as it was, so the move accrues. A manipulated median (pushed up to mint
//!    credits for nothing, or down to make burns fail their `min_credits`) moves the price only
//!    at that pace, which leaves time to answer with a slash; the cost is that a real crash
//!    reaches the price at that pace too. The reference is the price of the last burn or post
//!    that had a usable price, so it follows the oracles even when nobody burns.
//!
//! All arithmetic is in integers; the band is rounded down (narrower).

use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::{OracleStakes, Oracles, PricePost, PriceReference};
use crate::state::StateKey;
use cairn_types::amount::mul_div_floor;
use cairn_types::subnetwork::BPS_DENOMINATOR;
use cairn_types::{Address, Amount, Price};

/// Most chain time's worth of move allowed at once, in milliseconds (after a quiet spell):
/// ten minutes.
pub const MOVE_WINDOW_MAX_MS: u64 = 10 * 60_000;

/// Milliseconds in the minute the move limit is expressed per.
const MINUTE_MS: u128 = 60_000;

/// Records an oracle's price at the block time (replacing its previous post), and moves the
/// reference price when the posts now give a usable price.
pub fn post_price(ex: &mut Exec<'_, '_>, sender: &Address, price: Price) -> Result<(), ExecError> {
    if price.0 == 0 {
        return Err(TxError::ZeroPrice.into());
    }
    let mut oracles: Oracles = ex.state.get_or_default(&StateKey::Oracles)?;
    let info = oracles
        .0
        .get_mut(sender)
        .ok_or(TxError::NotAnOracle(*sender))?;
    info.price = Some(PricePost {
        price,
        posted_ms: ex.time_ms,
    });
    ex.state.put(&StateKey::Oracles, &oracles);
    match current_price(ex) {
        Ok(_) => Ok(()),
        // The post stands even when the posts do not give a usable price yet.
        Err(ExecError::Refused(_)) => Ok(()),
        Err(fault) => Err(fault),
    }
}

/// Fresh posts and the stake behind them, sorted by price.
struct Fresh {
    posts: Vec<(u64, u128)>,
    stake: u128,
}

impl Fresh {
    /// The lowest price at which the posts at or below it hold at least half the fresh stake.
    fn median(&self) -> u64 {
        let mut cumulative = 0u128;
        for (price, stake) in &self.posts {
            cumulative = cumulative.saturating_add(*stake);
            if cumulative.saturating_mul(2) >= self.stake {
                return *price;
            }
        }
        self.posts.last().map_or(0, |p| p.0)
    }

    /// The width of the narrowest price range holding the posts of 2/3 of the fresh stake.
    fn narrowest_two_thirds(&self) -> u64 {
        let mut best = u64::MAX;
        let mut held = 0u128;
        let mut high = 0;
        for low in 0..self.posts.len() {
            while held.saturating_mul(3) < self.stake.saturating_mul(2) && high < self.posts.len() {
                held = held.saturating_add(self.posts[high].1);
                high += 1;
            }
            if held.saturating_mul(3) < self.stake.saturating_mul(2) {
                break;
            }
            best = best.min(self.posts[high - 1].0 - self.posts[low].0);
            held = held.saturating_sub(self.posts[low].1);
        }
        best
    }
}

fn fresh_posts(ex: &Exec<'_, '_>) -> Result<Fresh, ExecError> {
    let oracles: Oracles = ex.state.get_or_default(&StateKey::Oracles)?;
    let recorded: OracleStakes = ex
        .state
        .get_or_default(&StateKey::OracleStakes(ex.epoch()))?;
    let max_age_ms = ex.params.price_max_age_secs.saturating_mul(1000);
    let mut total = Amount::ZERO;
    let mut posts = Vec::new();
    let mut stake = 0u128;
    for (address, info) in &oracles.0 {
        let weight = recorded
            .0
            .get(address)
            .map_or(Amount::ZERO, |r| (*r).min(info.stake));
        total = total.checked_add(weight).ok_or(TxError::AmountOverflow)?;
        if let Some(post) = info.price {
            if post.posted_ms.saturating_add(max_age_ms) >= ex.time_ms && !weight.is_zero() {
                posts.push((post.price.0, weight.0));
                stake = stake.saturating_add(weight.0);
            }
        }
    }
    let needed = ex.params.price_fresh_min;
    if (posts.len() as u64) < needed || posts.is_empty() {
        return Err(TxError::PriceStale {
            fresh: posts.len() as u64,
            needed,
        }
        .into());
    }
    // fresh / total >= 2/3, in integers.
    if stake.saturating_mul(3) < total.0.saturating_mul(2) {
        return Err(TxError::PriceQuorum {
            fresh_stake: Amount(stake),
            total,
        }
        .into());
    }
    posts.sort_unstable();
    Ok(Fresh { posts, stake })
}

/// The price a burn at this block uses (checks as in the module doc).
pub fn burn_price(ex: &mut Exec<'_, '_>) -> Result<Price, ExecError> {
    current_price(ex)
}

/// The usable price now, recorded as the reference of the move limit.
fn current_price(ex: &mut Exec<'_, '_>) -> Result<Price, ExecError> {
    let fresh = fresh_posts(ex)?;
    let median = fresh.median();
    let bps = u128::from(BPS_DENOMINATOR);
    // Spread in bps of the median, rounded up (a spread just over the bound is refused).
    let width = u128::from(fresh.narrowest_two_thirds()).saturating_mul(bps);
    let spread = width.div_ceil(u128::from(median.max(1)));
    let max_bps = ex.params.price_spread_max_bps;
    if spread > u128::from(max_bps) {
        return Err(TxError::PriceSpread {
            spread_bps: u64::try_from(spread).unwrap_or(u64::MAX),
            max_bps,
        }
        .into());
    }
    let reference: Option<PriceReference> = ex.state.get(&StateKey::PriceReference)?;
    let price = match reference {
        None => median,
        Some(r) => {
            let elapsed_ms =
                u128::from(ex.time_ms.saturating_sub(r.time_ms).min(MOVE_WINDOW_MAX_MS));
            let per_minute = u128::from(ex.params.price_move_max_bps_per_minute);
            let band = mul_div_floor(
                u128::from(r.price.0),
                per_minute.saturating_mul(elapsed_ms),
                bps.saturating_mul(MINUTE_MS),
            )
            .unwrap_or(u128::MAX);
            let band = u64::try_from(band).unwrap_or(u64::MAX);
            let floor = r.price.0.saturating_sub(band).max(1);
            median.clamp(floor, r.price.0.saturating_add(band))
        }
    };
    let price = Price(price);
    // A median held to the reference itself (the band rounded down to nothing: posts come
    // faster than a unit of move accrues) keeps the reference's time, so the allowed move
    // keeps accruing; otherwise frequent posts would freeze the price for good.
    let time_ms = match reference {
        Some(r) if price == r.price && median != r.price.0 => r.time_ms,
        _ => ex.time_ms,
    };
    let now = PriceReference { price, time_ms };
    if reference != Some(now) {
        ex.state.put(&StateKey::PriceReference, &now);
    }
    if price.0 != median {
        ex.notes.push(format!(
            "oracle median {} held to {price} by the move limit",
            Price(median)
        ));
    }
    Ok(price)
}
