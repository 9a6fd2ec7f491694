//! Fake nodes for the chain module's tests: an axum router served on a loopback port.

/// Serves `app` on a free loopback port on `runtime`; returns its URL.
pub(crate) fn serve(runtime: &tokio::runtime::Runtime, app: axum::Router) -> String {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}
