//! Fuzzes the decoders of what agents send oracles: a signed report, a batch of them, and the
//! record an oracle logs. None may panic; whatever decodes re-encodes to exactly the input, and
//! checking a decoded report's signatures never panics.
#![no_main]

use cairn_types::codec;
use cairn_types::params::ChainId;
use cairn_types::report::{LoggedReport, ReportBatch, SignedReport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cairn_fuzz::write_seeds_if_asked("device_report"), |data: &[u8]| {
    if let Ok(report) = SignedReport::decode(data) {
        assert_eq!(report.encode(), data, "a report re-encodes to other bytes");
        let _ = report.verify(&ChainId::default());
        let _ = report.id();
    }
    if let Ok(batch) = ReportBatch::decode(data) {
        assert_eq!(batch.encode(), data, "a batch re-encodes to other bytes");
        for item in batch.0.iter() {
            let _ = SignedReport::decode(item.as_slice());
        }
    }
    if let Ok(logged) = LoggedReport::decode(data) {
        assert_eq!(codec::encode(&logged), data, "a logged report re-encodes to other bytes");
    }
});
