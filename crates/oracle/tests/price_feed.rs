//! The price feed's round (fetch every source at once, then decide) against loopback HTTP
//! sources that answer honestly, lie (10x off), stall (accept and never answer), go stale (a
//! time hours old), or break (bad bytes, a body past the bound, a missing field, an HTTP
//! error). The honest median is posted while enough honest, fresh sources remain; otherwise
//! nothing is, with a typed reason. A stalling source never holds a round much past its timeout.
//!
//! The sources are a few lines of HTTP/1.1 on `std::net` threads; nothing here posts to a chain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_oracle::config::{OracleConfig, PriceSection, PriceSourceSection};
use cairn_oracle::price_feed::{Feed, FeedError, SourceError};
use cairn_oracle::price_json::PathError;
use cairn_types::Price;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The request timeout of these tests' feeds.
const TIMEOUT_SECS: u64 = 2;
/// How much longer than its timeout a round may take before the test fails: generous, so a
/// loaded machine does not fail it; a round held by a stalled source would take far longer.
const SLACK: Duration = Duration::from_secs(10);
/// How long a stalling source holds its connection without answering.
const STALL: Duration = Duration::from_secs(60);

/// What a source answers.
enum Reply {
    /// 200 with this JSON.
    Json(String),
    /// 200 with these bytes.
    Bytes(Vec<u8>),
    /// This HTTP status, empty body.
    Status(u16),
    /// Nothing, the connection held open.
    Stall,
}

/// Serves `reply` to every request on a free loopback port; returns its URL.
fn serve(reply: impl Fn() -> Reply + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/price", listener.local_addr().unwrap());
    let reply = Arc::new(reply);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let reply = reply.clone();
            std::thread::spawn(move || answer(stream, &*reply));
        }
    });
    url
}

/// Reads one request's head from `stream` and answers it.
fn answer(mut stream: TcpStream, reply: &(dyn Fn() -> Reply + Send + Sync)) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let (status, body) = match reply() {
        Reply::Json(text) => (200, text.into_bytes()),
        Reply::Bytes(bytes) => (200, bytes),
        Reply::Status(code) => (code, Vec::new()),
        Reply::Stall => {
            std::thread::sleep(STALL);
            return;
        }
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    // The client may stop reading (a body past its bound): that is its right.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

fn now_secs() -> u64 {
    cairn_oracle::now_ms() / 1_000
}

/// A Coinbase-like spot price: `{"data":{"amount":"…"}}`.
fn spot(dollars: &'static str) -> String {
    serve(move || {
        Reply::Json(format!(
            r#"{{"data":{{"base":"CAIRN","amount":"{dollars}"}}}}"#
        ))
    })
}

/// A Kraken-like ticker: the last trade at `result.CAIRNUSD.c.0`.
fn ticker(dollars: &'static str) -> String {
    serve(move || {
        Reply::Json(format!(
            r#"{{"error":[],"result":{{"CAIRNUSD":{{"a":["9.9","1"],"c":["{dollars}","3.5"]}}}}}}"#
        ))
    })
}

/// An aggregator: a JSON number and a unix time `age_secs` old.
fn aggregator(dollars: &'static str, age_secs: u64) -> String {
    serve(move || {
        let time = now_secs() - age_secs;
        Reply::Json(format!(
            r#"{{"symbol":"CAIRN","price":{dollars},"time":{time}}}"#
        ))
    })
}

fn source(name: &str, url: String, field: &str, time_field: &str) -> PriceSourceSection {
    PriceSourceSection {
        name: name.into(),
        url,
        field: field.into(),
        unit: Default::default(),
        time_field: time_field.into(),
        max_age_secs: None,
    }
}

/// An `http` section of `sources`, checked as config load checks it.
fn section(min_sources: usize, sources: Vec<PriceSourceSection>) -> PriceSection {
    let section = PriceSection {
        source: "http".into(),
        min_sources,
        request_timeout_secs: TIMEOUT_SECS,
        sources,
        ..PriceSection::default()
    };
    section.check().unwrap();
    section
}

/// One round at the time now, checked to end within the timeout and [`SLACK`].
fn round(feed: &mut Feed) -> cairn_oracle::price_feed::Round {
    round_at(feed, cairn_oracle::now_ms())
}

fn round_at(feed: &mut Feed, now_ms: u64) -> cairn_oracle::price_feed::Round {
    let start = Instant::now();
    let done = feed.round(now_ms);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(TIMEOUT_SECS) + SLACK,
        "the round took {took:?}"
    );
    done
}

#[test]
fn the_honest_median_is_posted_past_a_liar_a_stall_a_stale_and_broken_sources() {
    let sources = vec![
        source("spot", spot("1.23"), "data.amount", ""),
        source("ticker", ticker("1.2500"), "result.CAIRNUSD.c.0", ""),
        source("aggregator", aggregator("1.24", 5), "price", "time"),
        source("liar", spot("12.4"), "data.amount", ""),
        source("stalls", serve(|| Reply::Stall), "price", ""),
        source("stale", aggregator("1.24", 3 * 3_600), "price", "time"),
        source(
            "bad-bytes",
            serve(|| Reply::Bytes(vec![0xff, 0xfe, b'{', 0x80])),
            "price",
            "",
        ),
        source(
            "huge",
            serve(|| {
                Reply::Json(format!(
                    r#"{{"price":"1.24","pad":"{}"}}"#,
                    "x".repeat(1 << 20)
                ))
            }),
            "price",
            "",
        ),
        source(
            "missing",
            serve(|| Reply::Json(r#"{"data":{}}"#.into())),
            "data.amount",
            "",
        ),
        source("error", serve(|| Reply::Status(503)), "price", ""),
    ];
    let mut feed = Feed::new(section(3, sources));
    let done = round(&mut feed);
    // Fresh: 1.23, 1.25, 1.24 and the liar's 12.4; the liar is dropped; the median of the rest.
    assert_eq!(done.decision, Ok(Price(1_240_000_000)));
    let answers = &done.answers;
    assert_eq!(answers[0].as_ref().unwrap().price, Price(1_230_000_000));
    assert_eq!(answers[1].as_ref().unwrap().price, Price(1_250_000_000));
    assert_eq!(answers[3].as_ref().unwrap().price, Price(12_400_000_000));
    assert!(
        matches!(answers[4], Err(SourceError::TimedOut { .. })),
        "{:?}",
        answers[4]
    );
    // The stale source answered, with its own time: three hours old.
    let stale = answers[5].as_ref().unwrap();
    assert!(cairn_oracle::now_ms() - stale.at_ms >= 3 * 3_600 * 1_000 - 60_000);
    assert!(
        matches!(answers[6], Err(SourceError::BadBody { .. })),
        "{:?}",
        answers[6]
    );
    assert!(
        matches!(answers[7], Err(SourceError::TooLarge { limit: 65_536 })),
        "{:?}",
        answers[7]
    );
    assert!(
        matches!(
            answers[8],
            Err(SourceError::Field {
                what: "price",
                error: PathError::Missing { .. }
            })
        ),
        "{:?}",
        answers[8]
    );
    assert_eq!(answers[9], Err(SourceError::Status { code: 503 }));
}

#[test]
fn too_few_honest_fresh_sources_post_nothing() {
    let sources = vec![
        source("spot", spot("1.23"), "data.amount", ""),
        source("ticker", ticker("1.25"), "result.CAIRNUSD.c.0", ""),
        source("stalls", serve(|| Reply::Stall), "price", ""),
        source("stale", aggregator("1.24", 3 * 3_600), "price", "time"),
        source(
            "broken",
            serve(|| Reply::Bytes(b"<html>".to_vec())),
            "price",
            "",
        ),
    ];
    let mut feed = Feed::new(section(3, sources));
    let done = round(&mut feed);
    let refusal = done.decision.unwrap_err();
    assert_eq!(
        refusal,
        FeedError::TooFewFresh {
            fresh: 2,
            needed: 3
        }
    );
    assert_eq!(refusal.to_string(), "2 fresh sources of 3 needed");
    assert!(matches!(
        done.answers[4],
        Err(SourceError::Field {
            error: PathError::NotJson(_),
            ..
        })
    ));
}

#[test]
fn an_honest_source_against_a_liar_posts_nothing() {
    let sources = vec![
        source("spot", spot("1.23"), "data.amount", ""),
        source("liar", ticker("12.3"), "result.CAIRNUSD.c.0", ""),
    ];
    let mut feed = Feed::new(section(2, sources));
    let done = round(&mut feed);
    assert!(
        matches!(
            done.decision,
            Err(FeedError::TooFewAgree {
                agreeing: 0,
                fresh: 2,
                needed: 2,
                ..
            })
        ),
        "{:?}",
        done.decision
    );
}

#[test]
fn a_source_that_stops_answering_counts_until_its_last_answer_is_too_old() {
    let up = Arc::new(AtomicBool::new(true));
    let flaky = |dollars: &'static str| {
        let up = up.clone();
        serve(move || match up.load(Ordering::SeqCst) {
            true => Reply::Json(format!(r#"{{"price":"{dollars}"}}"#)),
            false => Reply::Status(500),
        })
    };
    let sources = vec![
        source("a", flaky("2.00"), "price", ""),
        source("b", flaky("2.02"), "price", ""),
        source("c", flaky("2.04"), "price", ""),
    ];
    let mut feed = Feed::new(section(3, sources));
    let start_ms = cairn_oracle::now_ms();
    assert_eq!(
        round_at(&mut feed, start_ms).decision,
        Ok(Price(2_020_000_000))
    );
    // The sources fail from now on: their last answers, read at `start_ms`, still count while
    // at most max_age_secs (300) old, and no longer after.
    up.store(false, Ordering::SeqCst);
    let later = round_at(&mut feed, start_ms + 300_000);
    assert!(later
        .answers
        .iter()
        .all(|a| a == &Err(SourceError::Status { code: 500 })));
    assert_eq!(later.decision, Ok(Price(2_020_000_000)));
    let too_late = round_at(&mut feed, start_ms + 301_000);
    assert_eq!(
        too_late.decision,
        Err(FeedError::TooFewFresh {
            fresh: 0,
            needed: 3
        })
    );
    // Back up: fresh again at once.
    up.store(true, Ordering::SeqCst);
    let back = round_at(&mut feed, start_ms + 302_000);
    assert_eq!(back.decision, Ok(Price(2_020_000_000)));
}

#[test]
fn the_example_configuration_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/examples/oracle-price-http.toml");
    let config = OracleConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.price.source, "http");
    assert_eq!(config.price.sources.len(), 3);
    assert_eq!(config.price.min_sources, 2);
    assert_eq!(config.price.warning(), None);
    assert_eq!(config.price.max_age_secs_of(2), 120);
}
