//! Closing tasks after their merges: closes that would queue behind each other go to the
//! tracker together.
//!
//! The tracker takes one write at a time, and closing several tasks costs it about what
//! closing one does. Agents started together end together, so their closes would wait on
//! each other, and the last one ends the run. Instead, the first close goes at once, and
//! every close that arrives while it is in flight waits and goes in the next call, with
//! one reason naming each task's own. A task that call does not close (already closed,
//! blocked, or a tracker that takes one id at a time) is closed on its own after, with its
//! own reason, so that its error says why.

use std::sync::{Mutex, PoisonError};

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::tracker::{CliTracker, TaskId, Tracker, TrackerError};

/// The closes of a run, in turn.
pub(crate) struct Closes {
    tracker: CliTracker,
    /// Closes waiting for the next call.
    waiting: Mutex<Vec<Waiting>>,
    /// Held by the close in flight.
    turn: tokio::sync::Mutex<()>,
}

struct Waiting {
    id: TaskId,
    reason: String,
    done: oneshot::Sender<Landed>,
}

/// How a close went, and when its call returned.
type Landed = (Result<(), TrackerError>, Instant);

impl Closes {
    /// Closes made with `tracker`.
    pub(crate) fn new(tracker: CliTracker) -> Self {
        Self {
            tracker,
            waiting: Mutex::default(),
            turn: tokio::sync::Mutex::default(),
        }
    }

    /// Closes `id` with `reason`, together with whatever other closes wait at the time.
    /// Also says when the call that closed it returned: a `ready` call started later sees
    /// the tasks the close made ready.
    pub(crate) async fn close(&self, id: &TaskId, reason: &str) -> Landed {
        let (done, result) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Waiting {
                id: id.clone(),
                reason: reason.to_owned(),
                done,
            });
        {
            let _turn = self.turn.lock().await;
            // Empty when a call made while this one waited for its turn took it along.
            let batch =
                std::mem::take(&mut *self.waiting.lock().unwrap_or_else(PoisonError::into_inner));
            close_batch(&self.tracker, batch).await;
        }
        match result.await {
            Ok(closed) => closed,
            // The call that took it along was dropped midway: close it on its own.
            Err(_) => (self.tracker.close(id, reason).await, Instant::now()),
        }
    }
}

/// Closes `batch` in one call when it holds several, then whatever that call left open
/// one by one, and tells each waiting close how it went.
async fn close_batch(tracker: &CliTracker, mut batch: Vec<Waiting>) {
    if batch.len() > 1 {
        let ids: Vec<TaskId> = batch.iter().map(|w| w.id.clone()).collect();
        let closed = tracker
            .close_all(&ids, &batch_reason(&batch))
            .await
            .unwrap_or_default();
        let at = Instant::now();
        let (done, left): (Vec<_>, Vec<_>) =
            batch.into_iter().partition(|w| closed.contains(&w.id));
        for w in done {
            let _ = w.done.send((Ok(()), at));
        }
        batch = left;
    }
    for w in batch {
        let closed = tracker.close(&w.id, &w.reason).await;
        let _ = w.done.send((closed, Instant::now()));
    }
}

/// One reason for several tasks: each task's own, after its id.
fn batch_reason(batch: &[Waiting]) -> String {
    batch
        .iter()
        .map(|w| format!("{}: {}", w.id, w.reason))
        .collect::<Vec<_>>()
        .join("; ")
}
