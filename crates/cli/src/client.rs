//! A small blocking client of a node's HTTP API (`--node http://…`).

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
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(30)))
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
        self.answer(path, self.agent.get(&url).call())
    }

    /// `POST path` with a JSON body.
    pub(crate) fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let url = format!("{}{path}", self.base);
        self.answer(path, self.agent.post(&url).send_json(body))
    }
}
