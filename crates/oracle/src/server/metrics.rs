//! `GET /metrics`: the oracle's figures in Prometheus's text format, for an operator's
//! dashboards and alerts: how late roots land, what reading an epoch's state costs, and which
//! epochs wait after a failure.

use super::ApiState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;
use std::sync::Arc;

/// One metric: name, help, type and value.
fn put(out: &mut String, name: &str, help: &str, kind: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// The metrics text of `state`.
pub(super) fn render(state: &ApiState) -> String {
    let mut out = String::new();
    let reads = state.progress.read_totals();
    let lags = state.progress.root_lags();
    if let Some(last) = lags.last() {
        put(
            &mut out,
            "cairn_oracle_root_lag_seconds",
            "Seconds from the latest rooted reward epoch's end (its closing block) to its root on chain",
            "gauge",
            last.root_lag_secs,
        );
        put(
            &mut out,
            "cairn_oracle_rooted_epoch",
            "The latest reward epoch whose roots this oracle saw on chain",
            "gauge",
            last.epoch,
        );
    }
    let counters = [
        (
            "cairn_oracle_state_keys_read_total",
            "State keys read from nodes, proven",
            reads.keys_read,
        ),
        (
            "cairn_oracle_state_keys_kept_total",
            "State keys found kept from an earlier try",
            reads.keys_kept,
        ),
        (
            "cairn_oracle_state_bytes_read_total",
            "Bytes of proven state values read from nodes",
            reads.bytes_read,
        ),
        (
            "cairn_oracle_state_batches_total",
            "State batches asked of nodes",
            reads.batches,
        ),
        (
            "cairn_oracle_state_batch_retries_total",
            "State batches asked again after a failure",
            reads.retries,
        ),
        (
            "cairn_oracle_node_busy_answers_total",
            "429 and 503 answers met from nodes",
            reads.busy_answers,
        ),
    ];
    for (name, help, value) in counters {
        put(&mut out, name, help, "counter", value);
    }
    put(
        &mut out,
        "cairn_oracle_state_keys_left",
        "Keys the state read under way still has to ask for",
        "gauge",
        reads.keys_left,
    );
    put(
        &mut out,
        "cairn_oracle_epochs_failing",
        "Reward epochs whose stage failed and waits to be tried again",
        "gauge",
        state.progress.failures().len() as u64,
    );
    put(
        &mut out,
        "cairn_oracle_followed_height",
        "The latest block the oracle followed",
        "gauge",
        state.watch.beacon().height,
    );
    out
}

pub(super) async fn metrics(State(state): State<Arc<ApiState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&state),
    )
        .into_response()
}
