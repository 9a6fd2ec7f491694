//! `cairn devnet` as a supervisor: a process (validator, oracle, agent) that exits, or a
//! validator that reports it has halted (a storage fault, a block it could not apply), is
//! restarted after a backoff, and the devnet says why: its exit status or halt reason and the
//! last line of its log.
//!
//! The backoff starts at [`FIRST_BACKOFF`] and doubles with each restart up to
//! [`MAX_BACKOFF`]; a process that has run [`HEALTHY_RUN`] without trouble starts again from
//! the first backoff. Each process id is in its directory's pid file while it runs.

use crate::node_process::{start_process, stop_all};
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
/// One process to keep running.
pub(crate) struct Supervised {
    /// How the devnet names it (`validator 2`, `oracle 0`, `agent`).
    pub(crate) label: String,
    /// The `cairn` subcommand that runs it (`node`, `oracle`, `agent`).
    pub(crate) subcommand: &'static str,
    /// Its configuration file.
    pub(crate) config: PathBuf,
    /// Its log.
    pub(crate) log: PathBuf,
    /// Its pid file.
    pub(crate) pid_file: PathBuf,
    /// A validator's API, asked whether it halted.
    pub(crate) halt_check: Option<String>,
}

struct Running {
    spec: Supervised,
    child: Option<Child>,
    started: Instant,
    /// Restarts since the last healthy run.
    restarts: u32,
    /// When a stopped validator is started again.
    restart_at: Option<Instant>,
    last_status_check: Instant,
}

impl Running {
    fn start(&mut self) {
        match start_process(self.spec.subcommand, &self.spec.config, &self.spec.log) {
            Ok(child) => {
                let _ = std::fs::write(&self.spec.pid_file, child.id().to_string());
                self.child = Some(child);
                self.started = Instant::now();
                self.restart_at = None;
            }
            Err(error) => {
                eprintln!("{}: could not start: {error:#}", self.spec.label);
                // A failed start is no healthy run: the backoff keeps growing.
                self.started = Instant::now();
                self.schedule_restart("could not start");
            }
        }
    }

    fn schedule_restart(&mut self, why: &str) {
        if self.started.elapsed() >= HEALTHY_RUN {
            self.restarts = 0;
        }
        let wait = backoff(self.restarts);
        self.restarts = self.restarts.saturating_add(1);
        self.restart_at = Some(Instant::now() + wait);
        let last = last_log_line(&self.spec.log).unwrap_or_default();
        eprintln!(
            "{} {why}; restarting it in {} s (restart {} in a row). Last log line: {last}",
            self.spec.label,
            wait.as_secs(),
            self.restarts
        );
    }

    /// Why this running validator should be restarted, if it should.
    fn trouble(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        if let Ok(Some(status)) = child.try_wait() {
            self.child = None;
            let _ = std::fs::remove_file(&self.spec.pid_file);
            return Some(format!("exited ({status})"));
        }
        let api = self.spec.halt_check.as_ref()?;
        if self.last_status_check.elapsed() < STATUS_EVERY {
            return None;
        }
        self.last_status_check = Instant::now();
        let client = crate::client::NodeClient::with_timeout(api, Duration::from_secs(1));
        let status = client.get::<serde_json::Value>("/v1/status").ok()?;
        let reason = status["halted"].as_str()?.to_string();
        // Stopped as Ctrl-C would (SIGTERM, then SIGKILL after 10 s).
        let mut children = vec![self.child.take()];
        stop_all(&mut children);
        let _ = std::fs::remove_file(&self.spec.pid_file);
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

/// Starts every process in order, calls `started`, then keeps them running until `stop` is set;
/// stops them all (in reverse order) before returning.
pub(crate) fn supervise(processes: Vec<Supervised>, stop: &AtomicBool, started: &dyn Fn()) {
    let mut running: Vec<Running> = processes
        .into_iter()
        .map(|spec| Running {
            spec,
            child: None,
            started: Instant::now(),
            restarts: 0,
            restart_at: None,
            last_status_check: Instant::now(),
        })
        .collect();
    for process in running.iter_mut() {
        process.start();
    }
    started();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
        for process in running.iter_mut() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if let Some(why) = process.trouble() {
                process.schedule_restart(&why);
            }
            if process
                .restart_at
                .is_some_and(|at| Instant::now() >= at && !stop.load(Ordering::SeqCst))
            {
                eprintln!("{}: restarting", process.spec.label);
                process.start();
            }
        }
    }
    // Agents and oracles first, validators last: nothing loses its node while stopping.
    let mut children: Vec<Option<Child>> =
        running.iter_mut().rev().map(|p| p.child.take()).collect();
    stop_all(&mut children);
    for process in &running {
        let _ = std::fs::remove_file(&process.spec.pid_file);
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
