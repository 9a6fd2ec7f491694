//! Fuzzes the node API's batch body reader (`crates/node/src/rpc/batch.rs`, compiled here from
//! its own source so that the fuzz build does not pull in the whole node): any bytes give a list
//! of at most the limit, each element a slice of the body, or a refusal; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The node's `ApiError`, as far as the batch reader uses it.
#[derive(Debug)]
pub struct ApiError {
    pub code: String,
}

impl ApiError {
    pub fn bad_request(code: impl Into<String>, _message: impl Into<String>) -> ApiError {
        ApiError { code: code.into() }
    }
}

#[path = "../../crates/node/src/rpc/batch.rs"]
mod batch;

/// The limit the fuzzer works against (small, so that going over it is easy to find).
const MAX: usize = 8;

fuzz_target!(init: cairn_fuzz::write_seeds_if_asked("rpc_batch"), |data: &[u8]| {
    match batch::parse(data, MAX) {
        Ok(txs) => {
            assert!(txs.len() <= MAX, "{} transactions over a limit of {MAX}", txs.len());
            let range = data.as_ptr_range();
            for tx in txs {
                assert!(range.contains(&tx.as_ptr()) || tx.is_empty(), "not borrowed from the body");
            }
        }
        Err(error) => assert!(
            error.code == "batch_too_large" || error.code == "malformed_request",
            "{error:?}"
        ),
    }
});
