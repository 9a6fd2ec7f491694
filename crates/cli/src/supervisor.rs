//! `cairn devnet` as a supervisor: a validator that exits, or that reports it has halted (a
//! storage fault, a block it could not apply), is restarted after a backoff, and the devnet
//! says why: its exit status or halt reason and the last line of its log.
//!
//! The backoff starts at [`FIRST_BACKOFF`] and doubles with each restart up to
//! [`MAX_BACKOFF`]; a validator that has run [`HEALTHY_RUN`] without trouble starts again from
//! the first backoff. Each validator's process id is in `node-N/node.pid` while it runs.

use crate::node_process::{node_dir, start_node, stop_all};
use cairn_node::config::NodeConfig;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The wait before the first restart.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between restarts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run this long resets the backoff.
pub(crate) const HEALTHY_RUN: Duration = Duration::from_secs(120);
/// How often a running validator's status is read (to find a halt).
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// The wait before restart number `restarts` (0 for the first) in a row.
pub(crate) fn backoff(restarts: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(restarts.min(16)))
        .min(MAX_BACKOFF)
}

/// One supervised validator.
struct Validator {
    config: PathBuf,
    log: PathBuf,
    pid_file: PathBuf,
    api: String,
    child: Option<Child>,
    started: Instant,
    /// Restarts since the last healthy run.
    restarts: u32,
    /// When a stopped validator is started again.
    restart_at: Option<Instant>,
    last_status_check: Instant,
}

impl Validator {
    fn start(&mut self, index: usize) {
        match start_node(&self.config, &self.log) {
            Ok(child) => {
                let _ = std::fs::write(&self.pid_file, child.id().to_string());
                self.child = Some(child);
                self.started = Instant::now();
                self.restart_at = None;
            }
            Err(error) => {
                eprintln!("validator {index}: could not start: {error:#}");
                // A failed start is no healthy run: the backoff keeps growing.
                self.started = Instant::now();
                self.schedule_restart(index, "could not start");
            }
        }
    }

    fn schedule_restart(&mut self, index: usize, why: &str) {
        if self.started.elapsed() >= HEALTHY_RUN {
            self.restarts = 0;
        }
        let wait = backoff(self.restarts);
        self.restarts = self.restarts.saturating_add(1);
        self.restart_at = Some(Instant::now() + wait);
        let last = last_log_line(&self.log).unwrap_or_default();
        eprintln!(
            "validator {index} {why}; restarting it in {} s (restart {} in a row). Last log \
             line: {last}",
            wait.as_secs(),
            self.restarts
        );
    }

    /// Why this running validator should be restarted, if it should.
    fn trouble(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        if let Ok(Some(status)) = child.try_wait() {
            self.child = None;
            let _ = std::fs::remove_file(&self.pid_file);
            return Some(format!("exited ({status})"));
        }
        if self.last_status_check.elapsed() < STATUS_EVERY {
            return None;
        }
        self.last_status_check = Instant::now();
        let client = crate::client::NodeClient::with_timeout(&self.api, Duration::from_secs(1));
        let status = client.get::<serde_json::Value>("/v1/status").ok()?;
        let reason = status["halted"].as_str()?.to_string();
        // Stopped as Ctrl-C would (SIGTERM, then SIGKILL after 10 s).
        let mut children = vec![self.child.take()];
        stop_all(&mut children);
        let _ = std::fs::remove_file(&self.pid_file);
        Some(format!("halted ({reason})"))
    }
}

/// The last non-empty line of a log file.
fn last_log_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_string)
}

/// Runs the validators of `configs` until `stop` is set, restarting any that exits or halts;
/// then stops them all. `started` runs once all have been started.
pub(crate) fn supervise(
    data_dir: &Path,
    configs: &[(PathBuf, NodeConfig)],
    stop: &AtomicBool,
    started: &dyn Fn(),
) {
    let mut validators: Vec<Validator> = configs
        .iter()
        .enumerate()
        .map(|(i, (path, config))| Validator {
            config: path.clone(),
            log: node_dir(data_dir, i).join("node.log"),
            pid_file: node_dir(data_dir, i).join("node.pid"),
            api: format!("http://{}", config.rpc_listen),
            child: None,
            started: Instant::now(),
            restarts: 0,
            restart_at: None,
            last_status_check: Instant::now(),
        })
        .collect();
    for (i, validator) in validators.iter_mut().enumerate() {
        validator.start(i);
    }
    started();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
        for (i, validator) in validators.iter_mut().enumerate() {
            // Ctrl-C reaches the validators too: their exits are not trouble then.
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if let Some(why) = validator.trouble() {
                validator.schedule_restart(i, &why);
            }
            if validator
                .restart_at
                .is_some_and(|at| Instant::now() >= at && !stop.load(Ordering::SeqCst))
            {
                eprintln!("validator {i}: restarting");
                validator.start(i);
            }
        }
    }
    let mut children: Vec<Option<Child>> = validators.iter_mut().map(|v| v.child.take()).collect();
    stop_all(&mut children);
    for validator in &validators {
        let _ = std::fs::remove_file(&validator.pid_file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(32));
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
