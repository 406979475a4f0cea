//! Claiming ahead: one `ready` call and the claims that follow it run beside the
//! scheduler's loop, for the slots that are free and, one task each, for the slots that
//! are busy.
//!
//! A busy slot's next task is claimed while its agent still works, so when the slot is
//! handed back its next task starts at once, with no tracker call in between. A task
//! claimed ahead waits in [`Queue`] for its slot (or for any slot that frees first); when
//! the run stops, whatever still waits there is released.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;

use super::Shared;
use crate::iterlog::Timings;
use crate::plan::{PlannedTask, SkipReason, TaskFilter, plan};
use crate::tracker::{CliTracker, Tracker, TrackerError};

/// A task claimed for a slot, not started yet.
pub(crate) struct Claimed {
    /// The slot it was claimed for (it runs there unless another slot frees first).
    pub slot: usize,
    pub planned: PlannedTask,
    /// The `ready` call that found it and its claim (ms).
    pub ready_ms: u64,
    pub claim_ms: u64,
}

/// What a refill saw besides the tasks it claimed (those went out one by one).
#[derive(Debug, Default)]
pub(crate) struct Refilled {
    /// Ready tasks left out (raises the next `ready` limit).
    pub excluded: usize,
    /// Ready tasks whose id is invalid: the raw id and why.
    pub invalid: Vec<(String, String)>,
    /// How many tasks it claimed.
    pub claimed: usize,
    /// The `ready` call returned as many tasks as it asked for: more may be ready behind
    /// them.
    pub full: bool,
}

/// What to ask the tracker for.
pub(crate) struct Ask {
    pub filter: TaskFilter,
    /// The `ready` limit.
    pub limit: usize,
    /// Tasks not to claim: done with, waiting to be retried, running or queued.
    pub skip: HashSet<String>,
    /// The slots to claim for, in order: one task each.
    pub slots: Vec<usize>,
    /// The run's actor, `hew/<host>/<pid>/<run-id>`: every claim of the run is made in
    /// its name.
    pub actor: String,
    /// Set when the run stops: no more claims.
    pub cancel: Arc<AtomicBool>,
    /// A slot is free: an agent waits on this call and these claims, which then run at
    /// hew's own priority (see `crate::priority`).
    pub urgent: bool,
}

/// One `ready` call, then claims in the tracker's order until every slot in `ask` has a
/// task or the candidates run out. Each claimed task is sent on `out` as soon as it is
/// claimed, so a free slot starts it while the rest are claimed.
pub(crate) async fn refill(
    sh: Arc<Shared>,
    ask: Ask,
    out: mpsc::UnboundedSender<Claimed>,
) -> Result<Refilled, TrackerError> {
    let tracker = if ask.urgent {
        sh.tracker.in_foreground()
    } else {
        sh.tracker.clone()
    };
    let clock = Instant::now();
    let plan = plan(&tracker, &sh.config.looping, &ask.filter, ask.limit).await?;
    let ready_ms = Timings::ms_since(clock);
    let mut refilled = Refilled {
        excluded: plan.skipped.len(),
        full: plan.tasks.len() + plan.skipped.len() >= ask.limit,
        ..Refilled::default()
    };
    for s in plan.skipped {
        if let SkipReason::InvalidId(e) = &s.reason {
            refilled.invalid.push((s.raw_id.clone(), e.to_string()));
        }
    }
    let candidates: Vec<PlannedTask> = plan
        .tasks
        .into_iter()
        .filter(|p| !ask.skip.contains(p.id.as_str()))
        .collect();
    // Slots without a worktree yet make theirs while their tasks are claimed: in slot
    // order, the order the claims go, on as many threads as there are cores (more would
    // only slow the claims down).
    let base = sh.merge_target();
    let to_prepare: Vec<usize> = ask.slots.iter().take(candidates.len()).copied().collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(to_prepare.len());
    for t in 0..threads {
        let mine: Vec<usize> = to_prepare
            .iter()
            .skip(t)
            .step_by(threads)
            .copied()
            .collect();
        let (sh, base) = (sh.clone(), base.clone());
        tokio::task::spawn_blocking(move || {
            for slot in mine {
                // A failure is met again, and reported, by the task's own checkout.
                let _ = crate::priority::in_background(|| sh.slots.prepare(slot, &base));
            }
        });
    }
    let mut slots = ask.slots.into_iter().peekable();
    let mut candidates = candidates.into_iter();
    let first: Vec<PlannedTask> = candidates.by_ref().take(slots.len()).collect();
    let singles = match claim_together(&tracker, &ask.actor, &ask.cancel, first).await? {
        Together::OneByOne(tasks) => tasks,
        Together::Claimed { tasks, claim_ms } => {
            refilled.claimed += tasks.len();
            let mut tasks = tasks.into_iter();
            for (slot, planned) in slots.by_ref().zip(tasks.by_ref()) {
                let claimed = Claimed {
                    slot,
                    planned,
                    ready_ms,
                    claim_ms,
                };
                if !deliver(&sh, &out, claimed).await {
                    for planned in tasks {
                        let _ = sh.tracker.release(&planned.id).await;
                    }
                    return Ok(refilled);
                }
            }
            Vec::new()
        }
    };
    // One claim at a time: the tracker serializes its writes anyway, and writers that meet
    // its lock back off and sleep.
    for planned in singles.into_iter().chain(candidates) {
        let Some(&slot) = slots.peek() else {
            break;
        };
        if ask.cancel.load(Ordering::SeqCst) {
            break;
        }
        let clock = Instant::now();
        match tracker.claim(&planned.id, &ask.actor).await {
            Ok(_) => {}
            // Another worker or runner got there first, or someone deleted the task since
            // `ready`: normal under concurrency.
            Err(TrackerError::AlreadyClaimed { .. } | TrackerError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        }
        slots.next();
        refilled.claimed += 1;
        let claimed = Claimed {
            slot,
            planned,
            ready_ms,
            claim_ms: Timings::ms_since(clock),
        };
        if !deliver(&sh, &out, claimed).await {
            break;
        }
    }
    Ok(refilled)
}

/// What [`claim_together`] did with the tasks it was given.
enum Together {
    /// All claimed in one call, which took `claim_ms`.
    Claimed {
        tasks: Vec<PlannedTask>,
        claim_ms: u64,
    },
    /// To be claimed one by one: fewer than two, the run is stopping, or the tracker
    /// refused the batch.
    OneByOne(Vec<PlannedTask>),
}

/// Claims `tasks` (one per slot to fill) for `actor` in one call when there are several,
/// unless `cancel` is set: br checks and applies the batch at once, and the start of a run
/// waits on these claims.
async fn claim_together(
    tracker: &CliTracker,
    actor: &str,
    cancel: &AtomicBool,
    tasks: Vec<PlannedTask>,
) -> Result<Together, TrackerError> {
    if tasks.len() < 2 || cancel.load(Ordering::SeqCst) {
        return Ok(Together::OneByOne(tasks));
    }
    let ids: Vec<_> = tasks.iter().map(|p| p.id.clone()).collect();
    let clock = Instant::now();
    match tracker.claim_all(&ids, actor).await {
        Ok(_) => Ok(Together::Claimed {
            tasks,
            claim_ms: Timings::ms_since(clock),
        }),
        // A tracker that is missing, hangs or cannot be reached fails the same way one
        // claim at a time: say so now, not after one more wait per task.
        Err(
            e @ (TrackerError::Missing { .. }
            | TrackerError::NotInitialized { .. }
            | TrackerError::TimedOut { .. }
            | TrackerError::Io { .. }
            | TrackerError::Invalid(_)),
        ) => Err(e),
        // Someone holds one of them, one is gone, or the tracker takes one id at a time:
        // claiming them one by one tells which are free (a claim this call made is ours,
        // and the same actor claiming again succeeds).
        Err(_) => Ok(Together::OneByOne(tasks)),
    }
}

/// Hands a claimed task to the scheduler; `false` when the scheduler is gone (nobody will
/// start it), after giving the task back.
async fn deliver(sh: &Shared, out: &mpsc::UnboundedSender<Claimed>, claimed: Claimed) -> bool {
    match out.send(claimed) {
        Ok(()) => true,
        Err(mpsc::error::SendError(claimed)) => {
            let _ = sh.tracker.release(&claimed.planned.id).await;
            false
        }
    }
}

/// Tasks claimed ahead, in the order they were claimed.
#[derive(Default)]
pub(crate) struct Queue {
    waiting: VecDeque<Claimed>,
}

impl Queue {
    pub(crate) fn push(&mut self, c: Claimed) {
        self.waiting.push_back(c);
    }

    /// The next task for `slot`: the first one claimed for it, else the oldest one waiting
    /// (its own slot is still busy).
    pub(crate) fn take_for(&mut self, slot: usize) -> Option<Claimed> {
        let at = self
            .waiting
            .iter()
            .position(|c| c.slot == slot)
            .unwrap_or(0);
        self.waiting.remove(at)
    }

    /// Whether a task waits that was claimed for `slot`.
    pub(crate) fn has_for(&self, slot: usize) -> bool {
        self.waiting.iter().any(|c| c.slot == slot)
    }

    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// The ids of the tasks waiting.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
        self.waiting.iter().map(|c| c.planned.id.as_str())
    }

    /// Everything waiting, emptied.
    pub(crate) fn drain(&mut self) -> Vec<Claimed> {
        self.waiting.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Rule;
    use crate::tracker::{Task, TaskId};

    fn claimed(id: &str, slot: usize) -> Claimed {
        Claimed {
            slot,
            planned: PlannedTask {
                id: TaskId::parse(id).unwrap(),
                task: Task {
                    id: id.to_owned(),
                    ..Task::default()
                },
                model: None,
                rule: Rule::None,
                attempt: 1,
            },
            ready_ms: 0,
            claim_ms: 0,
        }
    }

    fn id(c: Option<Claimed>) -> Option<String> {
        c.map(|c| c.planned.id.to_string())
    }

    #[test]
    fn a_slot_takes_its_own_task_first_else_the_oldest_waiting() {
        let mut q = Queue::default();
        q.push(claimed("t-1", 1));
        q.push(claimed("t-2", 2));
        q.push(claimed("t-3", 3));
        assert!(q.has_for(2) && !q.has_for(4));
        assert_eq!(q.ids().collect::<Vec<_>>(), ["t-1", "t-2", "t-3"]);
        assert_eq!(id(q.take_for(2)).as_deref(), Some("t-2"));
        // Slot 4 has nothing of its own: it takes the oldest, claimed for a busier slot.
        assert_eq!(id(q.take_for(4)).as_deref(), Some("t-1"));
        assert_eq!(q.len(), 1);
        assert_eq!(q.drain().len(), 1);
        assert!(q.take_for(3).is_none());
    }
}
