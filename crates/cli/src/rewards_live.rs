//! `cairn rewards show` and `cairn rewards claim`: an owner's view of what its devices earned,
//! and the claim of everything owed, in one transaction, with proofs from an oracle.

use crate::context::Context;
use anyhow::{bail, Context as _, Result};
use cairn_resources::payout::DevicePayout;
use cairn_types::codec::BoundedVec;
use cairn_types::tx::{Action, RewardClaim};
use cairn_types::{Address, Amount, DeviceId};
use std::time::Duration;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T> {
    let mut response = agent()
        .get(url)
        .call()
        .with_context(|| format!("no answer from {url}"))?;
    let status = response.status();
    let text = response.body_mut().read_to_string()?;
    if !status.is_success() {
        let detail = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        bail!("{url}: {status}: {detail}");
    }
    serde_json::from_str(&text).with_context(|| format!("the answer of {url} is not valid"))
}

/// Prints what devices earned in `epoch`: one device, or every device of an owner.
pub(crate) fn show(
    ctx: &Context,
    oracle: &str,
    epoch: u64,
    device: Option<&str>,
    owner: Option<&str>,
) -> Result<()> {
    let base = oracle.trim_end_matches('/');
    let devices: Vec<DevicePayout> = match (device, owner) {
        (Some(d), _) => {
            let id: DeviceId = d.parse().context("--device")?;
            vec![get_json(&format!(
                "{base}/v1/rewards/{epoch}/devices/{id}"
            ))?]
        }
        (None, Some(o)) => {
            let owner = ctx.address(o)?;
            let all: Vec<DevicePayout> = get_json(&format!("{base}/v1/rewards/{epoch}/devices"))?;
            all.into_iter().filter(|d| d.owner == owner).collect()
        }
        (None, None) => get_json(&format!("{base}/v1/rewards/{epoch}/devices"))?,
    };
    let total = Amount(devices.iter().map(|d| d.reward.0).sum());
    ctx.print(&devices, || {
        let mut out = format!(
            "reward epoch {epoch}: {} device(s), {total} in all\n",
            devices.len()
        );
        for d in &devices {
            out.push_str(&describe(d));
        }
        out
    })
}

fn describe(d: &DevicePayout) -> String {
    let cell = d
        .cell
        .map_or("no location".to_string(), |c| format!("cell {c}"));
    let mut out = format!(
        "{}: {} point(s), {} report(s) counted, reward {} to {} ({}, {cell})\n",
        d.device, d.points, d.reports, d.reward, d.owner, d.subnetwork
    );
    if let Some(bps) = d.quality_bps {
        out.push_str(&format!(
            "  quality of data: {}.{:02}% of its sensor-hours good\n",
            bps / 100,
            bps % 100
        ));
    }
    if d.reward.is_zero() {
        out.push_str("  not paid: ");
        out.push_str(if d.points == 0 {
            "no points in the epoch (see the refusals below)\n"
        } else {
            "its sub-network had no pool this epoch\n"
        });
    }
    for (reason, count) in &d.rejected {
        out.push_str(&format!(
            "  {count} refused: {} ({})\n",
            reason.code(),
            reason.explain()
        ));
    }
    for why in &d.denylisted {
        out.push_str(&format!("  denylisted by 2/3 of oracle stake: {why}\n"));
    }
    out
}

/// Attempts at a claim: a root may land between fetching the proofs and the claim's block, and
/// the proofs then no longer lead to the root on chain; the claim is made again with new ones.
const CLAIM_ATTEMPTS: usize = 3;

/// Claims everything the chain owes `from`, in every sub-network, in one transaction.
pub(crate) fn claim(ctx: &Context, oracle: &str, node: &str, from: &str) -> Result<()> {
    let account = Address(ctx.load_key(from)?.public_key());
    let mut attempt = 1;
    loop {
        let claims: Vec<RewardClaim> = get_json(&format!(
            "{}/v1/rewards/accounts/{account}/claims",
            oracle.trim_end_matches('/')
        ))?;
        if claims.is_empty() {
            bail!(
                "the oracle holds no reward of {account} under the roots on chain: nothing to claim"
            );
        }
        for c in &claims {
            eprintln!("claiming {} in {} (cumulative)", c.cumulative, c.subnetwork);
        }
        let claims = BoundedVec::new(claims).context("too many sub-networks")?;
        match crate::cmd_tx::send_action(ctx, node, from, Action::ClaimRewards { claims }) {
            Err(error)
                if attempt < CLAIM_ATTEMPTS
                    && format!("{error:#}").contains("does not lead to the committed root") =>
            {
                eprintln!("a new root landed meanwhile; claiming again with its proofs");
                attempt += 1;
            }
            other => return other,
        }
    }
}
