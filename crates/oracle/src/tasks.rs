//! The oracle's long-running tasks (the follower, the epoch worker, the price poster), each on
//! a thread of its own. A task that fails (it returned a fault, or panicked) is reported, and
//! the oracle stops with a non-zero exit status naming it, so that its supervisor (`cairn
//! devnet`, systemd) restarts it instead of leaving a process that answers but no longer
//! works. A task that returns without a fault is done (the price poster with `source = "none"`
//! returns at once): that is not reported.

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// A task that failed, and why.
#[derive(Debug)]
pub struct Ended {
    /// The task's name.
    pub task: &'static str,
    /// Its fault, or `panicked`.
    pub reason: String,
}

/// Starts tasks and reports their ends to the receiver [`tasks`] returned.
#[derive(Clone)]
pub struct Tasks {
    ended: UnboundedSender<Ended>,
}

/// A spawner of tasks and the receiver of their ends.
pub fn tasks() -> (Tasks, UnboundedReceiver<Ended>) {
    let (ended, receiver) = unbounded_channel();
    (Tasks { ended }, receiver)
}

impl Tasks {
    /// Runs `work` on a thread named `oracle-<task>`; a fault it returns is reported, a panic
    /// too.
    pub fn spawn(
        &self,
        task: &'static str,
        work: impl FnOnce() -> Result<(), String> + Send + 'static,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let ended = self.ended.clone();
        std::thread::Builder::new()
            .name(format!("oracle-{task}"))
            .spawn(move || {
                let mut report = Report {
                    task,
                    ended,
                    outcome: None,
                };
                report.outcome = Some(work().err());
            })
    }
}

/// Sends the task's failure when dropped: after it returned a fault, or while a panic unwinds
/// it (`outcome` is then still unset).
struct Report {
    task: &'static str,
    ended: UnboundedSender<Ended>,
    /// `Some(None)`: returned without a fault; `Some(Some(f))`: returned fault `f`.
    outcome: Option<Option<String>>,
}

impl Drop for Report {
    fn drop(&mut self) {
        let reason = match self.outcome.take() {
            Some(None) => return,
            Some(Some(fault)) => fault,
            None => "panicked".to_string(),
        };
        // The receiver is gone only once the oracle stopped: nobody is left to tell.
        let _ = self.ended.send(Ended {
            task: self.task,
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_and_a_panic_are_both_reported_a_clean_return_is_not() {
        let (tasks, mut ended) = tasks();
        let done = tasks
            .spawn("done", || Ok(()))
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = done.join();
        assert!(
            ended.try_recv().is_err(),
            "a task that returned without a fault was reported"
        );
        let failing = tasks
            .spawn("failing", || Err("disk gone".into()))
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = failing.join();
        let first = ended.try_recv().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (first.task, first.reason.as_str()),
            ("failing", "disk gone")
        );
        let panicking = tasks
            .spawn("panicking", || panic!("a bug"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(panicking.join().is_err());
        let second = ended.try_recv().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (second.task, second.reason.as_str()),
            ("panicking", "panicked")
        );
    }
}
