//! A validator's disk fails under it while the network runs: a failed read, write or fsync, a
//! full disk, or a record that rots. The validator must halt (apply nothing more, vote for
//! nothing) without ever committing a state root its peers do not have; the other three go on;
//! restarted on a healed disk, it catches up to the same state.

use crate::harness::{link, runtime, Network};
use crate::scenarios::{for_each_seed, transfer};
use cairn_ledger::store::faulty::Faults;
use cairn_ledger::StateKey;
use cairn_types::amount::Amount;
use commonware_runtime::{deterministic, Clock, Runner};
use std::time::Duration;

/// The faults a disk can have.
#[derive(Clone, Copy, Debug)]
enum DiskFault {
    FailedRead,
    FailedWrite,
    FailedFsync,
    FullDisk,
    RottenRecord,
}

const DISK_FAULTS: [DiskFault; 5] = [
    DiskFault::FailedRead,
    DiskFault::FailedWrite,
    DiskFault::FailedFsync,
    DiskFault::FullDisk,
    DiskFault::RottenRecord,
];

/// The validator whose disk fails.
const FAULTY: usize = 0;

/// Arms `fault` on node `FAULTY`'s disk.
fn arm(net: &Network, faults: &Faults, fault: DiskFault) {
    let node = &net.nodes[FAULTY];
    match fault {
        DiskFault::FailedRead => faults.fail_reads(true),
        DiskFault::FailedWrite => faults.fail_writes(true),
        DiskFault::FailedFsync => faults.fail_syncs(true),
        DiskFault::FullDisk => {
            let file = node.dir.join(cairn_ledger::ledger::STATE_FILE);
            faults.fill_disk(std::fs::metadata(file).expect("the state file").len(), 0);
        }
        DiskFault::RottenRecord => {
            // Alice's account as stored now: the next transfer from her reads it.
            let alice: cairn_ledger::state::records::Account = node
                .chain
                .ledger()
                .get(&StateKey::Account(cairn_ledger::testkit::addr("alice")))
                .expect("read")
                .expect("alice exists");
            faults.rot(cairn_types::codec::encode(&alice));
        }
    }
}

fn disk_fault(seed: u64) {
    let fault = DISK_FAULTS[usize::try_from(seed).expect("a small seed") % DISK_FAULTS.len()];
    deterministic::Runner::new(runtime(seed, 900)).start(|context| async move {
        let mut net = Network::new(&context, 4, link(10, 5, 98)).await;
        let faults = net.use_faulty_disk(FAULTY);
        for i in 0..4 {
            net.start(&context, i).await;
        }
        net.wait_for_height(&context, &[0, 1, 2, 3], 5, Duration::from_secs(60))
            .await;
        arm(&net, &faults, fault);
        // Transfers go through a healthy validator; executing them touches the faulty disk.
        let now = cairn_node::types::now_ms(&context);
        for nonce in 0..3 {
            let tx = transfer("alice", nonce, "bob", 3, &net.chain_id);
            net.nodes[1].chain.submit(tx, now).expect("admitted");
        }
        let start = context.current();
        let reason = loop {
            if let Some(reason) = net.nodes[FAULTY].chain.halted() {
                break reason;
            }
            let waited = context.current().duration_since(start).unwrap_or_default();
            assert!(
                waited < Duration::from_secs(120),
                "{fault:?}: the node never halted"
            );
            context.sleep(Duration::from_millis(100)).await;
        };
        assert!(faults.injected() > 0, "{fault:?}: no fault was injected");
        // The others (a quorum) go on; the halted node applies nothing more.
        let halted = net.nodes[FAULTY].chain.head();
        let healthy = [1, 2, 3];
        net.wait_for_height(
            &context,
            &healthy,
            halted.height + 10,
            Duration::from_secs(120),
        )
        .await;
        assert_eq!(
            net.nodes[FAULTY].chain.head(),
            halted,
            "{fault:?}: {reason}"
        );
        // What it applied (in memory, if not on disk) is what the others finalized.
        let theirs = net.nodes[1].chain.ledger().store().root_at(halted.height);
        assert_eq!(
            theirs.expect("a root"),
            halted.state_root,
            "{fault:?}: diverged"
        );
        // Restarted on a healed disk, it catches up to the same state. Rot that redb copied
        // into new pages stays in the file: such a node is recovered by deleting its ledger,
        // which it rebuilds from the genesis and the finalized blocks.
        faults.heal();
        match fault {
            DiskFault::RottenRecord => net.crash_and_delete_ledger(&context, FAULTY).await,
            _ => net.crash(&context, FAULTY).await,
        }
        net.start(&context, FAULTY).await;
        let target = net.nodes[1].chain.head().height + 3;
        net.wait_for_height(&context, &[0, 1, 2, 3], target, Duration::from_secs(180))
            .await;
        net.check_agreement(&[0, 1, 2, 3]).await;
        assert_eq!(net.balance(FAULTY, "bob"), Amount::tokens(1_000_009));
    });
}

#[test]
fn a_validator_whose_disk_fails_halts_without_diverging_and_catches_up_after_a_restart() {
    for_each_seed(7_000, 120, disk_fault);
}
