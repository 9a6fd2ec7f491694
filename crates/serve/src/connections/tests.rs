use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Everything the server sends on `stream` until it closes it (at most 10 s).
async fn read_all(stream: &mut TcpStream) -> String {
    let mut text = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut text)).await;
    assert!(read.is_ok(), "the server did not close the connection");
    String::from_utf8_lossy(&text).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_connections_is_refused_and_a_silent_one_is_closed() {
    let limits = ConnectionLimits {
        max_connections: 8,
        max_connections_per_client: 1,
        max_connections_per_group: 8,
        header_read_timeout_ms: 300,
        idle_timeout_ms: 60_000,
    };
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|request: axum::extract::Request| async move {
            let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
            format!("from {client:?}")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(accept(listener, app, limits));

    // A connection that says nothing holds this client's only slot...
    let mut silent = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...so a second one is answered 503 and closed.
    let mut second = TcpStream::connect(addr).await.unwrap();
    let refused = read_all(&mut second).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("\"busy\""), "{refused}");

    // The silent one is closed once its head is overdue, and the slot is free again.
    let nothing = read_all(&mut silent).await;
    assert!(!nothing.contains("200 OK"), "{nothing}");
    drop(silent);
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("from Some(127.0.0.1)"), "{answer}");
    server.abort();
}

#[test]
fn a_client_is_counted_out_when_its_connection_ends() {
    let table = Arc::new(PerClient::default());
    let ip: IpAddr = [10, 0, 0, 1].into();
    let first = table.enter(ip, 2, 100);
    let second = table.enter(ip, 2, 100);
    assert!(first.is_some() && second.is_some());
    assert!(table.enter(ip, 2, 100).is_none());
    // Another client is counted apart.
    assert!(table.enter([10, 0, 0, 2].into(), 2, 100).is_some());
    drop(first);
    assert!(table.enter(ip, 2, 100).is_some());
}

/// Many addresses of one /24 hold at most the group's share; another network still enters,
/// and a group's connection ending makes room in it again.
#[test]
fn one_network_holds_at_most_its_group_share() {
    let table = Arc::new(PerClient::default());
    let held: Vec<_> = (1..=4u8)
        .map(|last| table.enter([10, 0, 0, last].into(), 2, 4))
        .collect();
    assert!(held.iter().all(Option::is_some));
    assert!(table.enter([10, 0, 0, 9].into(), 2, 4).is_none());
    assert!(table.enter([10, 0, 1, 9].into(), 2, 4).is_some());
    drop(held);
    assert!(table.enter([10, 0, 0, 9].into(), 2, 4).is_some());
}
