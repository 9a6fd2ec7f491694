//! Fuzzes reading a genesis file: `serde_json::from_slice::<Genesis>` must never panic, nor may
//! `validate()` on whatever parses, nor `state()` on whatever validates (which must then succeed).
#![no_main]

use cairn_ledger::Genesis;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cairn_fuzz::write_seeds_if_asked("genesis_json"), |data: &[u8]| {
    let Ok(genesis) = serde_json::from_slice::<Genesis>(data) else {
        return;
    };
    if genesis.validate().is_ok() {
        if let Err(e) = genesis.state() {
            panic!("a genesis that validates has no initial state: {e}");
        }
    }
});
