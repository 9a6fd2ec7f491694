//! Serving the API apart from consensus: its own tokio runtime on its own threads, at a lower
//! CPU priority than consensus and p2p (Linux `nice`), with the connection bounds of
//! [`cairn_serve::connections`] (in all and per client, a time limit on each request's head,
//! connections closed when idle).
//!
//! Consensus and p2p run on the node's commonware runtime; nothing the API does (decoding,
//! signature checks, state reads, proofs, JSON) runs on those workers. Under a flood the API
//! slows down and refuses with 429/503, and consensus keeps its CPU.

use super::{router, RpcState};

/// Starts the API on its own threads, serving `listener` until the process ends. The returned
/// receiver resolves with the reason if the server stops.
pub fn spawn(
    listener: std::net::TcpListener,
    state: RpcState,
) -> std::io::Result<futures::channel::oneshot::Receiver<String>> {
    let limits = *state.admission().limits();
    // An absolute niceness: threads inherit their creator's, so an offset would compound.
    let nice = current_nice().saturating_add(limits.nice).min(19);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(limits.threads)
        // Blocking work (admission, proofs) holds a slot of the same number.
        .max_blocking_threads(super::admission::blocking_threads(&limits))
        .thread_name("cairn-api")
        .on_thread_start(move || lower_priority(nice))
        .enable_all()
        .build()?;
    listener.set_nonblocking(true)?;
    let (done, stopped) = futures::channel::oneshot::channel();
    std::thread::Builder::new()
        .name("cairn-api-accept".into())
        .spawn(move || {
            lower_priority(nice);
            let reason = runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => {
                        match cairn_serve::accept(listener, router(state), limits.connections())
                            .await {}
                    }
                    Err(error) => format!("listener: {error}"),
                }
            });
            let _ = done.send(reason);
        })?;
    Ok(stopped)
}

/// The calling thread's niceness (Linux; elsewhere 0).
fn current_nice() -> i32 {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// Sets the calling thread's niceness to `nice` if that lowers its priority (Linux; elsewhere
/// nothing).
fn lower_priority(nice: i32) {
    // On Linux a thread id names one thread to `setpriority`: only this thread changes.
    #[cfg(target_os = "linux")]
    if nice > current_nice() {
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}
