//! Fuzzes `SignedTransaction::decode` (the wire form of every transaction): it must never panic,
//! whatever decodes must re-encode to exactly the input bytes (the encoding is canonical), and
//! computing its id must not panic.
#![no_main]

use cairn_types::tx::SignedTransaction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cairn_fuzz::write_seeds_if_asked("signed_transaction"), |data: &[u8]| {
    if let Ok(tx) = SignedTransaction::decode(data) {
        assert_eq!(
            tx.encode(),
            data,
            "a decoded transaction re-encodes to different bytes: the encoding is not canonical"
        );
        let _ = tx.id();
    }
});
