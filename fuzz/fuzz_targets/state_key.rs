//! Fuzzes decoding a `StateKey` from bytes: it must never panic, and whatever decodes must give
//! back exactly the input from `to_bytes()` (one key, one byte string).
#![no_main]

use cairn_ledger::state::StateKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cairn_fuzz::write_seeds_if_asked("state_key"), |data: &[u8]| {
    if let Ok(key) = cairn_types::codec::decode::<StateKey>(data, 4096) {
        assert_eq!(
            key.to_bytes(),
            data,
            "a decoded state key re-encodes to different bytes: {key:?}"
        );
    }
});
