//! Every refusal of ingest with its code, and what is written.

use super::*;
use crate::index::Index;
use crate::log::store::LogStore;
use crate::log::RollPolicy;
use cairn_resources::context::DeviceInfo;
use cairn_types::codec::BoundedBytes;
use cairn_types::report::{ReportBody, ReportPayload, SessionCert};
use cairn_types::{Address, SecretKey, Subnetwork};
use std::time::Duration;

const NOW: u64 = 1_800_000_000_000;

fn chain() -> ChainId {
    ChainId::new("cairn-test").unwrap()
}

fn device(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

fn report(n: u8, time_ms: u64, uptime_secs: u64) -> SignedReport {
    let session = SecretKey::from_seed([100 + n; 32]);
    let cert = SessionCert::issue(&chain(), &device(n), session.public_key(), NOW + 3_600_000);
    let body = ReportBody {
        time_ms,
        entropy: Hash::ZERO,
        payload: ReportPayload::Heartbeat { uptime_secs },
    };
    SignedReport::sign(&chain(), cert, &session, body)
}

struct Fixture {
    ingest: Ingest,
    index: Arc<Index>,
    log: ReportLog,
    _dir: tempfile::TempDir,
}

fn fixture(limits: IngestLimits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::local(&dir.path().join("store")).unwrap();
    let index = Arc::new(Index::open(&dir.path().join("index.redb")).unwrap());
    let (log, _, _) = ReportLog::start(
        Address::default(),
        &dir.path().join("journal"),
        store,
        index.clone(),
        RollPolicy {
            interval: Duration::from_secs(3600),
            max_bytes: 1 << 20,
        },
        tokio::runtime::Handle::current(),
    )
    .unwrap();
    let book = Arc::new(DeviceBook::new());
    for (n, retired) in [(1, false), (2, false), (3, true)] {
        book.put(
            DeviceId(device(n).public_key()),
            Some(DeviceInfo {
                owner: Address::default(),
                subnetwork: Subnetwork::Sensing,
                retired,
                maker_revoked: false,
                location: None,
            }),
        );
    }
    let rules = IngestRules {
        chain_id: chain(),
        skew_ms: 5_000,
        delay_ms: 60_000,
        closed_before_ms: NOW - 50_000,
    };
    Fixture {
        ingest: Ingest::new(rules, limits, book, log.clone()),
        index,
        log,
        _dir: dir,
    }
}

fn limits() -> IngestLimits {
    IngestLimits {
        device: DeviceRate {
            per_minute: 60,
            burst: 20,
        },
        client_batches_per_minute: 600,
        client_burst: 100,
    }
}

fn batch(reports: &[SignedReport]) -> Vec<u8> {
    ReportBatch::of(reports).unwrap().encode()
}

fn statuses(response: &IngestResponse) -> Vec<IngestStatus> {
    response.results.iter().map(|r| r.status).collect()
}

const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_reports_are_written_and_bad_ones_refused_with_their_codes() {
    let f = fixture(limits());
    let good = report(1, NOW - 1_000, 1);
    let mut forged = report(2, NOW - 1_000, 1);
    forged.body.payload = ReportPayload::Heartbeat { uptime_secs: 99 };
    let mut foreign_cert = report(2, NOW - 2_000, 2);
    foreign_cert.cert = SessionCert::issue(
        &chain(),
        &device(9),
        foreign_cert.cert.session,
        NOW + 3_600_000,
    );
    foreign_cert.cert.device = DeviceId(device(2).public_key());
    let mut expired = report(1, NOW - 3_000, 3);
    expired.cert = SessionCert::issue(
        &chain(),
        &device(1),
        SecretKey::from_seed([101; 32]).public_key(),
        NOW - 3_000,
    );
    let response = f
        .ingest
        .ingest(
            CLIENT,
            &batch(&[
                good.clone(),
                report(7, NOW, 1),          // not registered
                report(3, NOW, 1),          // retired
                report(1, NOW - 61_000, 4), // too late
                report(1, NOW + 6_000, 5),  // from the future
                forged,
                foreign_cert,
                expired,
            ]),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        statuses(&response),
        vec![
            IngestStatus::Accepted,
            IngestStatus::Refused(Refusal::UnknownDevice),
            IngestStatus::Refused(Refusal::DeviceRetired),
            IngestStatus::Refused(Refusal::Stale),
            IngestStatus::Refused(Refusal::Stale),
            IngestStatus::Refused(Refusal::BadSignature),
            IngestStatus::Refused(Refusal::BadCertificate),
            IngestStatus::Refused(Refusal::SessionExpired),
        ]
    );
    assert_eq!(response.results[0].id, Some(good.id()));
    // The batch held forgeries, so this client waits; the same report sent again from elsewhere
    // is acknowledged, not written twice.
    assert_eq!(
        f.ingest.ingest(CLIENT, &batch(&[]), NOW + 10).await,
        Err(Refusal::ClientRateLimited)
    );
    let elsewhere = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));
    let again = f
        .ingest
        .ingest(elsewhere, &batch(&[good]), NOW + 10)
        .await
        .unwrap();
    assert_eq!(statuses(&again), vec![IngestStatus::Duplicate]);
    let (_, meta) = f.log.roll().await.unwrap().unwrap();
    assert_eq!(meta.reports, 1);
    assert_eq!(f.index.files().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_epochs_malformed_bytes_and_rates_are_refused() {
    let mut tight = limits();
    tight.device = DeviceRate {
        per_minute: 60,
        burst: 2,
    };
    tight.client_burst = 3;
    let f = fixture(tight);
    let mut rules = f.ingest.rules();
    rules.closed_before_ms = NOW - 500;
    rules.delay_ms = 600_000;
    f.ingest.set_rules(rules);
    let garbage = ReportBatch(
        cairn_types::codec::BoundedVec::new(vec![BoundedBytes::new(vec![1, 2, 3]).unwrap()])
            .unwrap(),
    )
    .encode();
    let response = f.ingest.ingest(CLIENT, &garbage, NOW).await.unwrap();
    assert_eq!(
        statuses(&response),
        vec![IngestStatus::Refused(Refusal::Malformed)]
    );
    assert_eq!(response.results[0].id, None);
    assert_eq!(
        f.ingest.ingest(CLIENT, b"\xff\xff\xff\xff", NOW).await,
        Err(Refusal::Malformed)
    );
    let response = f
        .ingest
        .ingest(
            CLIENT,
            &batch(&[
                report(1, NOW - 1_000, 1), // closed epoch
                report(1, NOW - 100, 2),
                report(1, NOW - 90, 3),
                report(1, NOW - 80, 4), // over the burst of 2
            ]),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        statuses(&response),
        vec![
            IngestStatus::Refused(Refusal::EpochClosed),
            IngestStatus::Accepted,
            IngestStatus::Accepted,
            IngestStatus::Refused(Refusal::DeviceRateLimited),
        ]
    );
    // The client's burst of 3 batches is spent.
    assert_eq!(
        f.ingest.ingest(CLIENT, &batch(&[]), NOW).await,
        Err(Refusal::ClientRateLimited)
    );
    assert!(Refusal::DeviceRateLimited.is_transient());
    assert!(!Refusal::BadSignature.is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_reports_spend_the_forgers_rate_not_the_devices() {
    let mut tight = limits();
    tight.device = DeviceRate {
        per_minute: 60,
        burst: 2,
    };
    tight.client_burst = 3;
    let f = fixture(tight);
    let attacker = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 66));
    // Many reports under device 1's id, with signatures that do not hold.
    let forged: Vec<SignedReport> = (0..50u64)
        .map(|i| {
            let mut r = report(1, NOW - 1_000 - i, i);
            r.body.payload = ReportPayload::Heartbeat {
                uptime_secs: 1_000 + i,
            };
            r
        })
        .collect();
    let response = f
        .ingest
        .ingest(attacker, &batch(&forged), NOW)
        .await
        .unwrap();
    assert!(statuses(&response)
        .iter()
        .all(|s| *s == IngestStatus::Refused(Refusal::BadSignature)));
    // The forger is refused for a minute, before any work.
    for later in [10, FORGER_BLOCK_MS - 1] {
        assert_eq!(
            f.ingest
                .ingest(attacker, &batch(&forged), NOW + later)
                .await,
            Err(Refusal::ClientRateLimited)
        );
    }
    // The real device still has its whole burst.
    let response = f
        .ingest
        .ingest(
            CLIENT,
            &batch(&[report(1, NOW - 100, 1), report(1, NOW - 90, 2)]),
            NOW + 20,
        )
        .await
        .unwrap();
    assert_eq!(
        statuses(&response),
        vec![IngestStatus::Accepted, IngestStatus::Accepted]
    );
    // The same report twice in one batch is written once.
    let twice = report(2, NOW - 50, 7);
    let response = f
        .ingest
        .ingest(CLIENT, &batch(&[twice.clone(), twice]), NOW + 30)
        .await
        .unwrap();
    assert_eq!(
        statuses(&response),
        vec![IngestStatus::Accepted, IngestStatus::Duplicate]
    );
    let (_, meta) = f.log.roll().await.unwrap().unwrap();
    assert_eq!(meta.reports, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_client_is_counted_by_its_64() {
    let mut tight = limits();
    tight.client_burst = 2;
    let f = fixture(tight);
    let host = |last: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
    for last in [1, 2] {
        assert!(f.ingest.ingest(host(last), &batch(&[]), NOW).await.is_ok());
    }
    // Another address of the same /64 shares the spent burst...
    assert_eq!(
        f.ingest.ingest(host(3), &batch(&[]), NOW).await,
        Err(Refusal::ClientRateLimited)
    );
    // ...another /64 does not.
    let other = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
    assert!(f.ingest.ingest(other, &batch(&[]), NOW).await.is_ok());
    // IPv4 clients seen through a dual-stack listener are each their own client, not one /64.
    let mapped = |last: u8| IpAddr::V6(std::net::Ipv4Addr::new(10, 0, 0, last).to_ipv6_mapped());
    for last in [1, 1, 2, 2] {
        assert!(f
            .ingest
            .ingest(mapped(last), &batch(&[]), NOW)
            .await
            .is_ok());
    }
    assert_eq!(
        f.ingest.ingest(mapped(1), &batch(&[]), NOW).await,
        Err(Refusal::ClientRateLimited)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_client_table_makes_room_by_forgetting_the_quietest() {
    let f = fixture(limits());
    let ip = |n: u32| IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
    // The table fills, the first client quietest.
    for n in 0..super::MAX_CLIENTS as u32 {
        assert!(f.ingest.admit_client(ip(n), NOW + u64::from(n)).is_ok());
    }
    // A new client is not locked out: it takes the place of the quietest.
    let newcomer = ip(u32::MAX >> 1);
    assert!(f.ingest.admit_client(newcomer, NOW + 70_000).is_ok());
    assert_eq!(f.ingest.lock_clients().len(), super::MAX_CLIENTS);
    assert!(!f.ingest.lock_clients().contains_key(&ip(0)));
}

#[test]
fn a_report_longer_than_its_kind_allows_is_refused_before_decoding() {
    let bytes = report(1, 1_000, 1).encode();
    assert!(within_kind_bound(&bytes));
    // A heartbeat padded past its kind's 512 bytes (though under the 1 KiB of any report).
    let mut padded = bytes.clone();
    padded.resize(cairn_resources::uptime::HEARTBEAT_MAX_BYTES + 1, 0);
    assert!(padded.len() < cairn_types::report::MAX_REPORT_BYTES);
    assert!(!within_kind_bound(&padded));
    // Bytes of no known kind are left to the decoder.
    assert!(within_kind_bound(&[9; 8]));
}
