//! A small blocking client of a node's HTTP API (`--node http://…`). A 429 or 503 answer with a
//! short `Retry-After` is retried after that wait, a few times.

use anyhow::{bail, Context as _, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A node's API at `base` (e.g. `http://127.0.0.1:27100`).
pub(crate) struct NodeClient {
    base: String,
    agent: ureq::Agent,
}

impl NodeClient {
    /// A client of the node at `base`.
    pub(crate) fn new(base: &str) -> NodeClient {
        NodeClient::with_timeout(base, std::time::Duration::from_secs(30))
    }

    /// A client of the node at `base` whose requests give up after `timeout`.
    pub(crate) fn with_timeout(base: &str, timeout: std::time::Duration) -> NodeClient {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        NodeClient {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    fn answer<T: DeserializeOwned>(
        &self,
        path: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T> {
        let mut response =
            response.with_context(|| format!("no answer from {}{path}", self.base))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer of {path}"))?;
        if !status.is_success() {
            let detail = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    let e = v.get("error")?;
                    Some(format!(
                        "{}: {}",
                        e.get("code")?.as_str()?,
                        e.get("message")?.as_str()?
                    ))
                })
                .unwrap_or(text);
            bail!("the node refused {path} ({status}): {detail}");
        }
        serde_json::from_str(&text).with_context(|| format!("the answer of {path} is not valid"))
    }

    /// `GET path`.
    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}{path}", self.base);
        self.answer(path, retrying(|| self.agent.get(&url).call()))
    }

    /// `POST path` with a JSON body.
    pub(crate) fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let url = format!("{}{path}", self.base);
        self.answer(path, retrying(|| self.agent.post(&url).send_json(body)))
    }
}

/// Retries of a request the node answered 429 or 503 with a `Retry-After`.
const RETRIES: u32 = 3;
/// The longest `Retry-After` waited for.
const RETRY_AFTER_MAX_SECS: u64 = 10;

/// Sends with `send`; while the node answers 429 or 503 with a `Retry-After` of at most
/// [`RETRY_AFTER_MAX_SECS`], waits that long and sends again, at most [`RETRIES`] times.
fn retrying(
    send: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let mut response = send();
    for _ in 0..RETRIES {
        let wait = match &response {
            Ok(r) if r.status() == 429 || r.status() == 503 => r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|secs| *secs <= RETRY_AFTER_MAX_SECS),
            _ => None,
        };
        let Some(secs) = wait else {
            break;
        };
        std::thread::sleep(std::time::Duration::from_secs(secs));
        response = send();
    }
    response
}
