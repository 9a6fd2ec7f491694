//! `[price]` of `oracle.toml`: where the posted token price comes from (a fixed price, a script,
//! or live HTTP sources), the HTTP feed's sources and bounds with their defaults, and the typed
//! refusals of a wrong section at load. The feed itself is `price_feed`.
//!
//! ```toml
//! [price]
//! source = "http"             # fixed | script | http | none
//! interval_secs = 60
//! min_sources = 3             # fresh, agreeing sources needed to post (http)
//! max_age_secs = 300          # a source's answer older than this is stale
//! request_timeout_secs = 5    # a source that has not answered by then is skipped this round
//! max_response_bytes = 65536  # a longer answer is refused
//! max_deviation_bps = 1000    # a source this far (10%) from the others' median is dropped
//!
//! [[price.sources]]
//! name = "exchange-a"
//! url = "http://127.0.0.1:8081/v2/prices/CAIRN-USD/spot"
//! field = "data.amount"       # dot-separated keys and array indices
//! unit = "usd"                # usd (default) | usd_cents | micro_usd | nano_usd
//! time_field = ""             # optional: a unix time (s or ms) in the answer
//! max_age_secs = 120          # optional: this source's own staleness bound
//! ```

use crate::price_json::split_path;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Most `[[price.sources]]`: a bound on the threads and requests of one round.
pub const MAX_PRICE_SOURCES: usize = 16;
/// Longest `request_timeout_secs` accepted.
pub const MAX_REQUEST_TIMEOUT_SECS: u64 = 60;
/// Largest `max_response_bytes` accepted (1 MiB): a price answer is a few hundred bytes.
pub const MAX_PRICE_RESPONSE_BYTES: u64 = 1024 * 1024;
/// Largest `max_deviation_bps` accepted (100%).
pub const MAX_DEVIATION_BPS: u64 = 10_000;

/// Default `min_sources`.
pub const DEFAULT_MIN_SOURCES: usize = 3;
/// Default `max_age_secs`.
pub const DEFAULT_MAX_AGE_SECS: u64 = 300;
/// Default `request_timeout_secs`.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 5;
/// Default `max_response_bytes` (64 KiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024;
/// Default `max_deviation_bps` (10%).
pub const DEFAULT_MAX_DEVIATION_BPS: u64 = 1_000;

/// `[price]`: where the posted token price comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceSection {
    /// `fixed` (the first value of `nano_usd`), `script` (each value in turn, then the last),
    /// `http` (the median of `sources`, see `price_feed`), or `none` (this oracle posts no
    /// price).
    pub source: String,
    /// Prices in nano-dollars per token (`fixed` and `script`).
    pub nano_usd: Vec<u64>,
    /// Seconds between posts (between rounds of `http`).
    pub interval_secs: u64,
    /// `http`: fresh sources that must remain, outliers dropped, before a price is posted.
    pub min_sources: usize,
    /// `http`: a source's answer older than this (by its time field, or else by when it was
    /// read) is stale, unless the source sets its own.
    pub max_age_secs: u64,
    /// `http`: how long one request may take, connection to last byte.
    pub request_timeout_secs: u64,
    /// `http`: the most bytes of an answer read; a longer one is refused.
    pub max_response_bytes: u64,
    /// `http`: a source farther than this, in basis points, from the median of the other fresh
    /// sources is dropped before the final median.
    pub max_deviation_bps: u64,
    /// `http`: the sources (`[[price.sources]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<PriceSourceSection>,
}

/// One `[[price.sources]]`: an HTTP JSON API and where the price is in its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSourceSection {
    /// A name for logs, unique in the section.
    pub name: String,
    /// The `http://` URL asked with GET.
    pub url: String,
    /// The price's path in the JSON answer: dot-separated keys and array indices
    /// (`data.amount`, `result.XXBTZUSD.c.0`); a number or a decimal string.
    pub field: String,
    /// What the value is counted in (dollars unless set).
    #[serde(default)]
    pub unit: PriceUnit,
    /// The path of the answer's time (unix seconds or milliseconds, a number or a string);
    /// empty for none, when the time it was read is used.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub time_field: String,
    /// This source's own staleness bound (`max_age_secs` of the section unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u64>,
}

/// What a source's price is counted in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceUnit {
    /// Dollars per token (`1.23`).
    #[default]
    Usd,
    /// Cents per token (`123`).
    UsdCents,
    /// Millionths of a dollar per token.
    MicroUsd,
    /// Nano-dollars per token, the chain's unit.
    NanoUsd,
}

impl PriceUnit {
    /// The decimal places the value moves to become nano-dollars (dollars: 9).
    pub fn decimal_shift(self) -> u32 {
        match self {
            PriceUnit::Usd => 9,
            PriceUnit::UsdCents => 7,
            PriceUnit::MicroUsd => 3,
            PriceUnit::NanoUsd => 0,
        }
    }
}

impl Default for PriceSection {
    fn default() -> Self {
        PriceSection {
            source: "fixed".into(),
            nano_usd: vec![1_000_000_000],
            interval_secs: 60,
            min_sources: DEFAULT_MIN_SOURCES,
            max_age_secs: DEFAULT_MAX_AGE_SECS,
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_deviation_bps: DEFAULT_MAX_DEVIATION_BPS,
            sources: Vec::new(),
        }
    }
}

/// Why a `[price]` section was refused at load.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PriceConfigError {
    /// `source` is none of the kinds.
    #[error("unknown source `{kind}` (fixed, script, http, none)")]
    UnknownSource {
        /// What was written.
        kind: String,
    },
    /// `fixed` or `script` with no price.
    #[error("nano_usd needs at least one price for source `{kind}`")]
    NoPrices {
        /// The kind.
        kind: String,
    },
    /// A price of 0 or an `interval_secs` of 0.
    #[error("prices and interval_secs must be > 0")]
    Zero,
    /// `[[price.sources]]` given while `source` is not `http` (they would be ignored, and a
    /// fixed price posted instead).
    #[error("[[price.sources]] are only read with source = \"http\", not `{kind}`")]
    SourcesWithoutHttp {
        /// The kind.
        kind: String,
    },
    /// `http` with no source.
    #[error("source = \"http\" needs at least one [[price.sources]]")]
    NoHttpSources,
    /// More sources than [`MAX_PRICE_SOURCES`].
    #[error("{count} sources, at most {MAX_PRICE_SOURCES}")]
    TooManySources {
        /// How many were given.
        count: usize,
    },
    /// A source with an empty `name`.
    #[error("source {index} (from 0) has no name")]
    EmptyName {
        /// Its place in the list.
        index: usize,
    },
    /// Two sources with one name.
    #[error("two sources are named `{name}`")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Two sources with one URL.
    #[error("two sources ask `{url}`: one source would count twice")]
    DuplicateUrl {
        /// The URL.
        url: String,
    },
    /// Rounds closer together than a request may take.
    #[error(
        "interval_secs ({interval_secs}) must be above request_timeout_secs \
         ({request_timeout_secs}): a round must end before the next begins"
    )]
    IntervalBelowTimeout {
        /// What was written.
        interval_secs: u64,
        /// What was written.
        request_timeout_secs: u64,
    },
    /// A source with an empty `url`.
    #[error("source `{name}` has no url")]
    EmptyUrl {
        /// The source.
        name: String,
    },
    /// A `url` that is not an `http://` or `https://` URL with a host.
    #[error("source `{name}`: url `{url}` is not an http:// or https:// URL")]
    BadUrl {
        /// The source.
        name: String,
        /// What was written.
        url: String,
    },
    /// A source with an empty `field`.
    #[error("source `{name}` has no field")]
    EmptyField {
        /// The source.
        name: String,
    },
    /// A `field` or `time_field` that is not a path (`a..b`, too many segments).
    #[error("source `{name}`: `{path}` is not a path (dot-separated keys and indices)")]
    BadPath {
        /// The source.
        name: String,
        /// What was written.
        path: String,
    },
    /// `min_sources` of 0 or more than there are sources.
    #[error("min_sources must be 1 to {sources} (the number of sources), not {min_sources}")]
    MinSources {
        /// What was written.
        min_sources: usize,
        /// How many sources there are.
        sources: usize,
    },
    /// A bound out of its range.
    #[error("{setting} must be {min} to {max}, not {value}")]
    OutOfRange {
        /// The setting (`request_timeout_secs`, or `<source>.max_age_secs`).
        setting: String,
        /// What was written.
        value: u64,
        /// The least accepted.
        min: u64,
        /// The most accepted.
        max: u64,
    },
}

impl PriceSection {
    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), PriceConfigError> {
        let kind = self.source.clone();
        match self.source.as_str() {
            "none" | "http" => {}
            "fixed" | "script" if !self.nano_usd.is_empty() => {}
            "fixed" | "script" => return Err(PriceConfigError::NoPrices { kind }),
            _ => return Err(PriceConfigError::UnknownSource { kind }),
        }
        if self.nano_usd.contains(&0) || self.interval_secs == 0 {
            return Err(PriceConfigError::Zero);
        }
        match (self.source.as_str(), self.sources.is_empty()) {
            ("http", _) => self.check_http(),
            (_, true) => Ok(()),
            (_, false) => Err(PriceConfigError::SourcesWithoutHttp { kind }),
        }
    }

    /// The staleness bound of the `index`-th source, in seconds.
    pub fn max_age_secs_of(&self, index: usize) -> u64 {
        self.sources
            .get(index)
            .and_then(|source| source.max_age_secs)
            .unwrap_or(self.max_age_secs)
    }

    /// The checks of `source = "http"`: the bounds, then each source.
    fn check_http(&self) -> Result<(), PriceConfigError> {
        let count = self.sources.len();
        if count == 0 {
            return Err(PriceConfigError::NoHttpSources);
        }
        if count > MAX_PRICE_SOURCES {
            return Err(PriceConfigError::TooManySources { count });
        }
        if self.min_sources == 0 || self.min_sources > count {
            return Err(PriceConfigError::MinSources {
                min_sources: self.min_sources,
                sources: count,
            });
        }
        in_range("max_age_secs", self.max_age_secs, 1, u64::MAX / 1_000)?;
        in_range(
            "request_timeout_secs",
            self.request_timeout_secs,
            1,
            MAX_REQUEST_TIMEOUT_SECS,
        )?;
        in_range(
            "max_response_bytes",
            self.max_response_bytes,
            1,
            MAX_PRICE_RESPONSE_BYTES,
        )?;
        in_range(
            "max_deviation_bps",
            self.max_deviation_bps,
            1,
            MAX_DEVIATION_BPS,
        )?;
        // A round must end before the next begins, so that a stalled source's requests never
        // pile up behind each other.
        if self.interval_secs < self.request_timeout_secs.saturating_add(1) {
            return Err(PriceConfigError::IntervalBelowTimeout {
                interval_secs: self.interval_secs,
                request_timeout_secs: self.request_timeout_secs,
            });
        }
        let mut names = BTreeSet::new();
        let mut urls = BTreeSet::new();
        for (index, source) in self.sources.iter().enumerate() {
            source.check(index)?;
            if !names.insert(source.name.as_str()) {
                return Err(PriceConfigError::DuplicateName {
                    name: source.name.clone(),
                });
            }
            // One source named twice would count twice towards the median and the minimum.
            if !urls.insert(source.url.trim()) {
                return Err(PriceConfigError::DuplicateUrl {
                    url: source.url.clone(),
                });
            }
        }
        Ok(())
    }

    /// A warning for a section that loads but is fragile: when every source is needed, one
    /// source down or wrong stops this oracle's posts.
    pub fn warning(&self) -> Option<String> {
        let count = self.sources.len();
        (self.source == "http" && count > 0 && self.min_sources >= count).then(|| {
            format!(
                "[price] min_sources = {} of {count} sources: one source down or lying stops \
                 this oracle's posts; configure more sources than min_sources",
                self.min_sources
            )
        })
    }
}

impl PriceSourceSection {
    /// Checks one source, the `index`-th.
    fn check(&self, index: usize) -> Result<(), PriceConfigError> {
        let name = || self.name.clone();
        if self.name.trim().is_empty() {
            return Err(PriceConfigError::EmptyName { index });
        }
        if self.url.trim().is_empty() {
            return Err(PriceConfigError::EmptyUrl { name: name() });
        }
        let parsed = url::Url::parse(&self.url).ok();
        if !parsed
            .is_some_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
        {
            return Err(PriceConfigError::BadUrl {
                name: name(),
                url: self.url.clone(),
            });
        }
        if self.field.trim().is_empty() {
            return Err(PriceConfigError::EmptyField { name: name() });
        }
        let paths = std::iter::once(&self.field)
            .chain(Some(&self.time_field).filter(|path| !path.is_empty()));
        for path in paths {
            if split_path(path).is_err() {
                return Err(PriceConfigError::BadPath {
                    name: name(),
                    path: path.clone(),
                });
            }
        }
        if let Some(max_age_secs) = self.max_age_secs {
            in_range(
                &format!("{}.max_age_secs", self.name),
                max_age_secs,
                1,
                u64::MAX / 1_000,
            )?;
        }
        Ok(())
    }
}

/// `value` if it is within `min..=max`, else the refusal naming `setting`.
fn in_range(setting: &str, value: u64, min: u64, max: u64) -> Result<(), PriceConfigError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(PriceConfigError::OutOfRange {
        setting: setting.to_string(),
        value,
        min,
        max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PriceSection {
        toml::from_str(text).unwrap_or_else(|e| panic!("{e}"))
    }

    const THREE: &str = r#"
        source = "http"
        [[sources]]
        name = "a"
        url = "http://127.0.0.1:1/a"
        field = "data.amount"
        [[sources]]
        name = "b"
        url = "http://127.0.0.1:1/b"
        field = "result.X.c.0"
        unit = "usd_cents"
        time_field = "time"
        max_age_secs = 60
        [[sources]]
        name = "c"
        url = "http://127.0.0.1:1/c"
        field = "price"
    "#;

    #[test]
    fn an_http_section_reads_with_its_defaults() {
        let section = parse(THREE);
        assert_eq!(section.check(), Ok(()));
        assert_eq!(section.min_sources, 3);
        assert_eq!(section.max_age_secs, 300);
        assert_eq!(section.request_timeout_secs, 5);
        assert_eq!(section.max_response_bytes, 65_536);
        assert_eq!(section.max_deviation_bps, 1_000);
        assert_eq!(section.sources[0].unit, PriceUnit::Usd);
        assert_eq!(section.sources[1].unit, PriceUnit::UsdCents);
        assert_eq!(section.max_age_secs_of(0), 300);
        assert_eq!(section.max_age_secs_of(1), 60);
        let again: PriceSection = parse(&toml::to_string(&section).unwrap());
        assert_eq!(again, section);
    }

    #[test]
    fn the_old_kinds_keep_their_defaults() {
        let fixed = PriceSection::default();
        assert_eq!(fixed.check(), Ok(()));
        assert_eq!(fixed.source, "fixed");
        assert_eq!(fixed.nano_usd, [1_000_000_000]);
        let script = parse("source = \"script\"\nnano_usd = [1, 2]\ninterval_secs = 5");
        assert_eq!(script.check(), Ok(()));
        assert_eq!(parse("source = \"none\"").check(), Ok(()));
        let empty = parse("source = \"script\"\nnano_usd = []");
        assert!(matches!(
            empty.check(),
            Err(PriceConfigError::NoPrices { .. })
        ));
        assert_eq!(parse("nano_usd = [0]").check(), Err(PriceConfigError::Zero));
    }

    #[test]
    fn each_mistake_has_its_own_refusal() {
        let with = |edit: &dyn Fn(&mut PriceSection)| {
            let mut section = parse(THREE);
            edit(&mut section);
            section.check().unwrap_err()
        };
        use PriceConfigError as E;
        assert!(matches!(
            with(&|s| s.sources[2].url = s.sources[0].url.clone()),
            E::DuplicateUrl { .. }
        ));
        assert!(matches!(
            with(&|s| s.interval_secs = s.request_timeout_secs),
            E::IntervalBelowTimeout { .. }
        ));
        // Every source needed: it loads, with a warning.
        let all_needed = parse(THREE);
        assert!(all_needed.warning().is_some_and(|w| w.contains("3 of 3")));
        let mut room = parse(THREE);
        room.min_sources = 2;
        assert_eq!(room.warning(), None);
        assert!(matches!(
            with(&|s| s.source = "oracle-of-delphi".into()),
            E::UnknownSource { .. }
        ));
        assert!(matches!(
            with(&|s| s.source = "fixed".into()),
            E::SourcesWithoutHttp { .. }
        ));
        assert_eq!(with(&|s| s.sources.clear()), E::NoHttpSources);
        assert!(matches!(
            with(&|s| s.sources = vec![s.sources[0].clone(); 17]),
            E::TooManySources { count: 17 }
        ));
        assert!(matches!(
            with(&|s| s.sources[1].url = " ".into()),
            E::EmptyUrl { .. }
        ));
        assert!(matches!(
            with(&|s| s.sources[1].url = "ftp://x/".into()),
            E::BadUrl { .. }
        ));
        // An exchange's https API is a source like any other.
        let mut https = parse(THREE);
        https.sources[1].url = "https://api.example/x".into();
        assert!(https.check().is_ok());
        assert!(matches!(
            with(&|s| s.sources[2].field = String::new()),
            E::EmptyField { .. }
        ));
        assert!(matches!(
            with(&|s| s.sources[2].time_field = "a..b".into()),
            E::BadPath { .. }
        ));
        assert!(matches!(
            with(&|s| s.sources[2].name = String::new()),
            E::EmptyName { index: 2 }
        ));
        assert_eq!(
            with(&|s| s.sources[2].name = "a".into()),
            E::DuplicateName { name: "a".into() }
        );
        assert!(matches!(with(&|s| s.min_sources = 0), E::MinSources { .. }));
        assert_eq!(
            with(&|s| s.min_sources = 4),
            E::MinSources {
                min_sources: 4,
                sources: 3
            }
        );
        for edit in [
            &|s: &mut PriceSection| s.request_timeout_secs = 0,
            &|s: &mut PriceSection| s.request_timeout_secs = 61,
            &|s: &mut PriceSection| s.max_response_bytes = 0,
            &|s: &mut PriceSection| s.max_deviation_bps = 10_001,
            &|s: &mut PriceSection| s.max_age_secs = 0,
            &|s: &mut PriceSection| s.sources[1].max_age_secs = Some(0),
        ] as [&dyn Fn(&mut PriceSection); 6]
        {
            assert!(matches!(with(edit), E::OutOfRange { .. }));
        }
        let unknown = toml::from_str::<PriceSection>(
            "[[sources]]\nname=\"a\"\nurl=\"u\"\nfield=\"f\"\nweight=2",
        );
        assert!(unknown.unwrap_err().to_string().contains("unknown field"));
        let unit = toml::from_str::<PriceSection>(
            "[[sources]]\nname=\"a\"\nurl=\"u\"\nfield=\"f\"\nunit=\"eur\"",
        );
        assert!(unit.unwrap_err().to_string().contains("unknown variant"));
    }
}
