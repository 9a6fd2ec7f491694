//! Fuzzes every `FromStr` a user or a JSON file reaches (`Address`, `DeviceId`, `Amount`, `Cell`,
//! `Hash`, `ParamId`, `Subnetwork`) and a signed request's header: none may panic, and whatever
//! parses must print back to text that parses to the same value (for `Amount`,
//! `to_string().parse()` is the identity).
#![no_main]

use cairn_types::params::ParamId;
use cairn_types::signed_request::SignedRequest;
use cairn_types::{Address, Amount, Cell, DeviceId, Hash, Subnetwork};
use libfuzzer_sys::fuzz_target;
use std::fmt::{Debug, Display};
use std::str::FromStr;

/// Parses `text` as `T`; if that works, its display form must parse back to the same value.
fn round_trip<T>(text: &str)
where
    T: FromStr + Display + Debug + PartialEq,
    T::Err: Debug,
{
    if let Ok(value) = text.parse::<T>() {
        let shown = value.to_string();
        match shown.parse::<T>() {
            Ok(again) => assert_eq!(
                again,
                value,
                "{} `{text}` prints as `{shown}`, which parses to another value",
                std::any::type_name::<T>()
            ),
            Err(e) => panic!(
                "{} `{text}` prints as `{shown}`, which does not parse: {e:?}",
                std::any::type_name::<T>()
            ),
        }
    }
}

fuzz_target!(init: cairn_fuzz::write_seeds_if_asked("text_parsers"), |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    round_trip::<Amount>(text);
    round_trip::<Address>(text);
    round_trip::<DeviceId>(text);
    round_trip::<Cell>(text);
    round_trip::<Hash>(text);
    round_trip::<ParamId>(text);
    round_trip::<Subnetwork>(text);
    // A signed request's header (what a node reads from anyone): what parses prints back to
    // itself, and checking it never panics.
    if let Ok(signed) = SignedRequest::parse(text) {
        assert_eq!(SignedRequest::parse(&signed.to_header()), Ok(signed));
        let _ = signed.verify("cairn-test", ("GET", "/v1/status"), signed.time_ms);
        let _ = signed.check_body(b"");
    }
});
