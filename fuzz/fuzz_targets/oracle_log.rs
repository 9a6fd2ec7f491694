//! Fuzzes what one oracle reads from another: a log file (gzip, framed) and a manifest. Byte 0
//! picks the decoder (even: a log file; odd: a manifest). Neither may panic; a log file is read
//! to its end or to its first error, and whatever manifest decodes re-encodes to the input.
#![no_main]

use cairn_oracle::log::format::FileReader;
use cairn_oracle::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cairn_fuzz::write_seeds_if_asked("oracle_log"), |data: &[u8]| {
    let Some((kind, rest)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        if let Ok(mut reader) = FileReader::open(rest) {
            // Each frame is at most one logged report: this loop ends with the input.
            while let Ok(Some(_)) = reader.next_report() {}
        }
    } else if let Ok(manifest) = Manifest::decode(rest) {
        assert_eq!(manifest.encode(), rest, "a manifest re-encodes to other bytes");
        let _ = manifest.hash();
    }
});
