//! The contract between the scheduler and what runs tasks: a [`Job`] goes out, and
//! [`WorkerEvent`]s come back on one channel, in the order they happened.
//!
//! One channel means one order: a task's usage comes before its slot is handed back, the
//! slot before the task's end, a refill's claims before the refill's end. The scheduler
//! never has to drain one channel before it may look at another.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::claims::{Claimed, Refilled};
use super::lease::{LostWatch, Renewal};
use crate::agent::{Environment, Runtime, Usage};
use crate::plan::PlannedTask;
use crate::records::IterRecord;
use crate::tracker::TrackerError;

/// Where refills and tasks tell the scheduler what happened.
pub(crate) type Inbox = mpsc::UnboundedSender<WorkerEvent>;

/// What the scheduler hears from the refills and tasks it started.
pub(crate) enum WorkerEvent {
    /// A refill claimed a task for a slot.
    Claimed(Box<Claimed>),
    /// A refill ended: what it saw, or how the tracker failed it.
    Refilled(Result<Refilled, TrackerError>),
    /// A running agent's usage so far (a running total for its iteration).
    Usage {
        /// The iteration.
        iter: u32,
        /// Its usage so far.
        usage: Usage,
    },
    /// A task is done with its slot's worktree: the slot may take its next task.
    SlotFree {
        /// The slot.
        slot: usize,
        /// The task that held it.
        task_id: String,
        /// Set when the task's failure means every other task would fail the same way.
        fatal: Option<Fatal>,
        /// How its agent failed (outcome, class and message), if it did.
        failure: Option<String>,
    },
    /// A task ended and its record was written.
    Done(Box<Done>),
    /// A lease renewal came back.
    Lease {
        /// The task.
        task_id: String,
        /// When the renewal was sent.
        sent: tokio::time::Instant,
        /// What it found.
        renewal: Renewal,
    },
    /// A refill or a task panicked: the scheduler passes the panic on.
    Panicked(Box<dyn Any + Send>),
}

/// Runs the tasks the scheduler starts: the real one checks out, runs the agent, merges
/// and settles (see `task`); the scheduler's tests use a scripted one.
pub(crate) trait Work: Send + Sync + 'static {
    /// Runs `job` to its end. Usage goes out through the job's held slot as it comes, and the
    /// slot is handed back when the held slot is dropped, before this returns.
    fn run(self: Arc<Self>, job: Job) -> impl Future<Output = Done> + Send + 'static;
}

/// A claimed task, handed to a slot.
pub(crate) struct Job {
    /// The iteration number.
    pub iter: u32,
    pub planned: PlannedTask,
    /// How long the `ready` call that found the task and its claim took (ms).
    pub ready_ms: u64,
    pub claim_ms: u64,
    /// The gone run whose stale claim on the task was taken over.
    pub took_over: Option<String>,
    /// The runtime it runs on: the main one, or the fallback while the main one's
    /// environment fails.
    pub runtime: Runtime,
    /// The slot, until the task hands it back.
    pub held: HeldSlot,
    /// Says why, once the task's lease is lost: its agent stops, and the task is left
    /// alone (see `lease`).
    pub lost: Option<LostWatch>,
}

/// What a task hands back when it ends.
pub(crate) struct Done {
    pub log: IterRecord,
    /// The task may run again in this run after this wait (a retryable failure).
    pub retry: Option<Duration>,
    /// When the iteration's last change to the tracker (close, reheld, labels) was made:
    /// a `ready` call started after it has seen what that change made ready.
    pub tracker_changed_at: tokio::time::Instant,
}

/// A failure that stops the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fatal {
    /// The environment failed, not the task (no login, no network, a quota, an unknown
    /// model, an agent that cannot start): every other task would fail the same way.
    Environment {
        /// Which failure.
        environment: Environment,
        /// The runtime it failed on.
        runtime: Runtime,
        /// What the agent (or the system) said.
        message: String,
    },
    /// The agent could not be started and hew cannot tell why (a bad template, say).
    Agent(String),
}

/// A worker slot in use. Dropping it hands the slot back (also when a task returns early
/// or panics), with what may stop the run: the scheduler weighs that before the slot can
/// take another task.
pub(crate) struct HeldSlot {
    slot: usize,
    task_id: String,
    fatal: Option<Fatal>,
    failure: Option<String>,
    inbox: Inbox,
}

impl HeldSlot {
    pub(crate) fn new(slot: usize, task_id: String, inbox: Inbox) -> Self {
        Self {
            slot,
            task_id,
            fatal: None,
            failure: None,
            inbox,
        }
    }

    /// The slot held.
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    /// Where the task reports its agent's usage.
    pub(crate) fn inbox(&self) -> Inbox {
        self.inbox.clone()
    }

    /// The run must stop: no task may start in this slot, or any other.
    pub(crate) fn stop_run(&mut self, fatal: Fatal) {
        self.fatal = Some(fatal);
    }

    /// The task's agent failed, `how` (outcome, class and message): the circuit breaker
    /// weighs it before the slot can take another task.
    pub(crate) fn failed(&mut self, how: String) {
        self.failure = Some(how);
    }
}

impl Drop for HeldSlot {
    fn drop(&mut self) {
        let _ = self.inbox.send(WorkerEvent::SlotFree {
            slot: self.slot,
            task_id: std::mem::take(&mut self.task_id),
            fatal: self.fatal.take(),
            failure: self.failure.take(),
        });
    }
}

/// Runs `work` on its own task and sends the event it ends with, or its panic.
pub(crate) fn spawn_reporting(
    inbox: Inbox,
    work: impl Future<Output = WorkerEvent> + Send + 'static,
) {
    let running = tokio::spawn(work);
    tokio::spawn(async move {
        let event = match running.await {
            Ok(event) => event,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => WorkerEvent::Panicked(panic),
                // Cancelled: only when the runtime shuts down.
                Err(_) => return,
            },
        };
        let _ = inbox.send(event);
    });
}
