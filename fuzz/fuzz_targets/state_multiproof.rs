//! Fuzzes the state multi-proof an oracle or auditor decodes from a node's `POST
//! /v1/state/batch` answer (`cairn_light::MultiProof`): any bytes decode to a proof whose checks
//! pass or fail cleanly, never a panic; and a proof that checks against the seeds' genuine root
//! for the genuine values never checks for a changed value.
#![no_main]

use cairn_light::MultiProof;
use cairn_types::Hash;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cairn_fuzz::write_seeds_if_asked("state_multiproof"), |data: &[u8]| {
    let Ok(proof) = MultiProof::decode(data, 1 << 20) else {
        return;
    };
    let (root, keys, values) = cairn_fuzz::multiproof_tree();
    let n = proof.keys().min(keys.len());
    for i in 0..proof.keys().min(8) {
        let _ = proof.proof(i);
    }
    let entries: Vec<(&[u8], Option<&[u8]>)> = keys[..n]
        .iter()
        .zip(&values[..n])
        .map(|(k, v)| (k.as_slice(), v.as_deref()))
        .collect();
    let _ = proof.verify(&Hash([0; 32]), &entries);
    if proof.verify(&root, &entries).is_ok() && n > 0 {
        let changed = b"changed".to_vec();
        let mut lie = entries.clone();
        lie[0].1 = Some(changed.as_slice());
        assert!(proof.verify(&root, &lie).is_err(), "a proof checks for a changed value");
    }
});
