//! `cairn query --node URL`: read the state through a node's API. With `--prove` the node's
//! Merkle proof is checked against the state root it names; with `--verify` that root is also
//! checked against a finalized block's header and its finalization certificate, trusting only
//! the validator set of a genesis file (or of a checkpoint) and following the sets from epoch to
//! epoch ([`super::light`]): what a light client does.

use super::light::{walk, Trusted};
use super::{QueryArgs, Render};
use crate::client::NodeClient;
use crate::context::Context;
use anyhow::{bail, Context as _, Result};
use cairn_ledger::genesis::Genesis;
use cairn_ledger::store::{verify_proof, StateProof};
use cairn_ledger::StateKey;
use cairn_node::rpc::blocks::BlockJson;
use cairn_types::hash::Hash;
use serde::Deserialize;
use serde_json::{json, Value};

/// The node's answer to `/v1/state/{key}`.
#[derive(Deserialize)]
struct RawValue {
    height: u64,
    /// The node's head when it answered (absent from older nodes).
    #[serde(default)]
    head: Option<u64>,
    value: Option<String>,
    state_root: Option<Hash>,
    proof: Option<String>,
    attested_by: Option<u64>,
}

/// Where a light client's trust starts: the genesis set, or `--checkpoint`.
pub(crate) fn trusted_start(args: &QueryArgs) -> Result<Trusted> {
    let genesis_path = args
        .genesis
        .as_deref()
        .context("--verify needs --genesis")?;
    let genesis = Genesis::load(genesis_path)?;
    match &args.checkpoint {
        Some(file) => Trusted::checkpoint(&genesis, file),
        None => Ok(Trusted::genesis(&genesis)),
    }
}

/// Checks that finalized block `height`, as the node serves it, attests `root` at
/// `state_height`, under a certificate of its epoch's seats, whose set the client reaches from
/// its trusted start by following the epochs' hand-offs. Returns the epoch and its seat count.
fn verify_attested(
    node: &NodeClient,
    args: &QueryArgs,
    height: u64,
    state_height: u64,
    root: &Hash,
) -> Result<(u64, usize)> {
    let start = trusted_start(args)?;
    let epoch = start.epoch_of(height);
    let trusted = walk(node, start, epoch)?;
    let block: BlockJson = node.get(&format!("/v1/blocks/{height}"))?;
    let header = block
        .header
        .to_header()
        .map_err(|e| anyhow::anyhow!("block {height}: {e}"))?;
    if header.height != height {
        bail!("asked for block {height}, got {}", header.height);
    }
    if header.state_height != state_height || header.state_root != *root {
        bail!(
            "block {height} attests root {} at height {}, not the proof's {root} at {state_height}",
            header.state_root,
            header.state_height
        );
    }
    let certificate = block
        .finalization
        .with_context(|| format!("block {height} comes without a finalization certificate"))?;
    let certificate = hex::decode(certificate).context("the certificate is not hex")?;
    trusted
        .client()?
        .verify_header(&header, &certificate, epoch)
        .with_context(|| format!("block {height}"))?;
    Ok((epoch, trusted.set.seat_count()))
}

/// How long `--wait-attested` waits.
const WAIT_ATTESTED_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Asks again until the proven state reaches the head the first answer named.
fn wait_attested(client: &NodeClient, path: &str, first: RawValue) -> Result<RawValue> {
    let target = first.head.unwrap_or(first.height);
    let start = std::time::Instant::now();
    let mut answer = first;
    while answer.height < target {
        if start.elapsed() > WAIT_ATTESTED_LIMIT {
            bail!(
                "the state after block {target} was not attested within {} s (latest attested: {})",
                WAIT_ATTESTED_LIMIT.as_secs(),
                answer.height
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        answer = client.get(path)?;
    }
    Ok(answer)
}

/// Runs a query against a node.
pub(crate) fn query(
    ctx: &Context,
    node: &str,
    args: &QueryArgs,
    key: &StateKey,
    render: Render,
) -> Result<()> {
    let client = NodeClient::new(node);
    let key_bytes = key.to_bytes();
    let mut path = format!("/v1/state/{}", hex::encode(&key_bytes));
    if args.prove {
        path.push_str("?prove=true");
        if let Some(h) = args.height {
            path.push_str(&format!("&height={h}"));
        }
    }
    let mut answer: RawValue = client.get(&path)?;
    if args.wait_attested {
        answer = wait_attested(&client, &path, answer)?;
    }
    let value = answer
        .value
        .as_deref()
        .map(hex::decode)
        .transpose()
        .context("the value is not hex")?;
    let rendered = match &value {
        Some(bytes) => render(bytes)?,
        None => Value::Null,
    };
    if !args.prove {
        return ctx.print(&rendered, || {
            if rendered.is_null() {
                "not found".to_string()
            } else {
                serde_json::to_string_pretty(&rendered).unwrap_or_default()
            }
        });
    }
    let root = answer.state_root.context("the node sent no state root")?;
    let proof_bytes = hex::decode(answer.proof.as_deref().context("the node sent no proof")?)
        .context("the proof is not hex")?;
    let proof: StateProof = cairn_types::codec::decode(&proof_bytes, 1024 * 1024)
        .context("the proof does not decode")?;
    verify_proof(&root, &key_bytes, value.as_deref(), &proof)
        .map_err(|e| anyhow::anyhow!("the node's proof does not verify: {e}"))?;
    let mut finalized_by = None;
    if args.verify {
        let block = answer
            .attested_by
            .context("the node named no finalized block attesting this root (omit --height)")?;
        let (epoch, seats) = verify_attested(&client, args, block, answer.height, &root)?;
        finalized_by = Some((block, epoch, seats));
    }
    let head = answer.head.unwrap_or(answer.height);
    let out = json!({
        "height": answer.height,
        "node_head": head,
        "state_root": root,
        "key": hex::encode(&key_bytes),
        "value": rendered,
        "proof_verified": true,
        "finalized_block": finalized_by.map(|(b, _, _)| b),
        "finalized_in_epoch": finalized_by.map(|(_, e, _)| e),
    });
    ctx.print(&out, || {
        let mut text = format!(
            "{}\nproof of {} verified against state root {root} at height {} (the state after \
             block {}; the node's head is {head})",
            serde_json::to_string_pretty(&rendered).unwrap_or_default(),
            if value.is_some() { "this value" } else { "absence" },
            answer.height,
            answer.height,
        );
        if answer.height < head && !args.wait_attested {
            text.push_str(&format!(
                "\nblocks {} to {head} are not attested yet, so this value may not show them: \
                 --wait-attested waits until they are",
                answer.height + 1
            ));
        }
        if let Some((block, epoch, n)) = finalized_by {
            text.push_str(&format!(
                "\nthat root is attested by finalized block {block}, whose certificate is signed by a quorum of the {n} seats of epoch {epoch} (trust followed from the start set through every epoch's hand-off)"
            ));
        } else {
            text.push_str("\n(the root itself is the node's word; add --verify --genesis FILE to check it)");
        }
        text
    })
}
