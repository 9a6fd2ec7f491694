//! Fuzzes the node API's batch body reader (`crates/node/src/rpc/batch.rs`, compiled here from
//! its own source so that the fuzz build does not pull in the whole node), as transaction
//! batches (`txs`) and state batches (`keys`) read it: any bytes give a list of at most the
//! limit, each element a slice of the body, or a refusal; never a panic.
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
    check(data, batch::parse(data, MAX));
    check(data, batch::parse_list(data, "keys", "state keys", MAX));
});

fn check(data: &[u8], parsed: Result<Vec<&str>, ApiError>) {
    match parsed {
        Ok(items) => {
            assert!(items.len() <= MAX, "{} items over a limit of {MAX}", items.len());
            let range = data.as_ptr_range();
            for item in items {
                assert!(range.contains(&item.as_ptr()) || item.is_empty(), "not borrowed from the body");
            }
        }
        Err(error) => assert!(
            error.code == "batch_too_large" || error.code == "malformed_request",
            "{error:?}"
        ),
    }
}
