//! Claiming ahead: one `ready` call and the claims that follow it run beside the
//! scheduler's loop, for the slots that are free and, one task each, for the slots that
//! are busy (`loop.claim_ahead`).
//!
//! A busy slot's next task is claimed while its agent still works, so when the slot is
//! handed back its next task starts at once, with no tracker call in between. A task
//! claimed ahead waits in [`Queue`] for its slot (or for any slot that frees first); when
//! the run stops, whatever still waits there is released.
//!
//! A claim is trusted only once it is read back: some trackers let two callers win one
//! claim under load. Right after the claim, one `show` says who the tracker names as the
//! holder; a claim read back under another's name is not run and not released (it is the
//! other's), and the run records that it backed off. A claim read back as this run's gets
//! its first lease (see `lease`).

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::lease::{self, Holder};
use super::work::{Inbox, WorkerEvent};
use crate::config::LoopConfig;
use crate::plan::{PlannedTask, SkipReason, TaskFilter, plan};
use crate::records::Timings;
use crate::recover::Actor;
use crate::tracker::{Tracker, TrackerError};

/// A task claimed for a slot, not started yet.
pub(crate) struct Claimed {
    /// The slot it was claimed for (it runs there unless another slot frees first).
    pub slot: usize,
    pub planned: PlannedTask,
    /// The `ready` call that found it and its claim (ms).
    pub ready_ms: u64,
    pub claim_ms: u64,
    /// The actor of a run that was gone and still named on the open task: its claim was
    /// taken over.
    pub took_over: Option<String>,
    /// The task's lease label, and when it was written (see `lease`).
    pub lease: (String, tokio::time::Instant),
    /// Where the task hears that its lease was lost, once the scheduler holds it.
    pub lost: Option<lease::LostWatch>,
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
    /// Claims that succeeded but read back under another holder: the task and who.
    pub lost: Vec<(String, String)>,
    /// Tasks other machines held past their leases, released before the `ready` call: the
    /// task and whose claim it was.
    pub taken_back: Vec<(String, String)>,
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
    /// The repository and this machine's name and id, to tell a gone run's stale claim.
    pub repo_root: PathBuf,
    pub host: String,
    pub machine: String,
    /// How long a lease is.
    pub lease: std::time::Duration,
    /// Tasks whose claim recovery took over (a lease ran out), and whose claim it was.
    pub took_over: std::collections::HashMap<String, String>,
    /// First release the tasks other machines hold past their leases.
    pub take_back: bool,
}

/// One `ready` call, then claims in the tracker's order, one at a time, until every slot
/// in `ask` has a task or the candidates run out. Each claimed task goes to the scheduler
/// as soon as it is claimed, so a free slot starts it while the rest are claimed.
pub(crate) async fn refill<T: Tracker>(
    tracker: &T,
    config: &LoopConfig,
    mut ask: Ask,
    inbox: &Inbox,
) -> Result<Refilled, TrackerError> {
    let taken_back = if ask.take_back {
        crate::recover::take_back_expired(tracker, &ask.host, &ask.machine).await?
    } else {
        Vec::new()
    };
    ask.took_over.extend(taken_back.iter().cloned());
    let clock = Instant::now();
    let plan = plan(tracker, config, &ask.filter, ask.limit).await?;
    let ready_ms = Timings::ms_since(clock);
    let mut refilled = Refilled {
        excluded: plan.skipped.len(),
        full: plan.tasks.len() + plan.skipped.len() >= ask.limit,
        taken_back,
        ..Refilled::default()
    };
    for s in plan.skipped {
        if let SkipReason::InvalidId(e) = &s.reason {
            refilled.invalid.push((s.raw_id.clone(), e.to_string()));
        }
    }
    let candidates = plan
        .tasks
        .into_iter()
        .filter(|p| !ask.skip.contains(p.id.as_str()));
    let mut slots = std::mem::take(&mut ask.slots).into_iter().peekable();
    // One claim at a time: the tracker serializes its writes anyway.
    for planned in candidates {
        let Some(&slot) = slots.peek() else {
            break;
        };
        if ask.cancel.load(Ordering::SeqCst) {
            break;
        }
        let clock = Instant::now();
        let took_over = match tracker.claim(&planned.id, &ask.actor).await {
            Ok(_) => None,
            Err(TrackerError::AlreadyClaimed { .. }) => match stale_claim(&planned, &ask) {
                // An open task still naming a run that is gone (reopened after that run
                // closed it, say): the claim is taken over.
                Some(gone) => {
                    tracker.release(&planned.id).await?;
                    match tracker.claim(&planned.id, &ask.actor).await {
                        Ok(_) => Some(gone),
                        Err(TrackerError::AlreadyClaimed { .. }) => continue,
                        Err(e) => return Err(e),
                    }
                }
                // Another worker or runner got there first: normal under concurrency.
                None => continue,
            },
            // Someone deleted the task since `ready`.
            Err(TrackerError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let took_over = took_over.or_else(|| ask.took_over.get(planned.id.as_str()).cloned());
        let (holder, task) = lease::read_back(tracker, &planned.id, &ask.actor).await?;
        if let Holder::Other(holder) = holder {
            // Won twice: the tracker names the other. Its claim stands.
            refilled.lost.push((planned.id.to_string(), holder));
            continue;
        }
        let written = tokio::time::Instant::now();
        let label = lease::first_lease(tracker, &task, &planned.id, ask.lease).await?;
        slots.next();
        refilled.claimed += 1;
        let claimed = Claimed {
            slot,
            planned,
            ready_ms,
            claim_ms: Timings::ms_since(clock),
            took_over,
            lease: (label, written),
            lost: None,
        };
        if let Err(e) = inbox.send(WorkerEvent::Claimed(Box::new(claimed))) {
            // The scheduler is gone: nobody will start it.
            if let WorkerEvent::Claimed(claimed) = e.0 {
                let _ = tracker.release(&claimed.planned.id).await;
            }
            break;
        }
    }
    Ok(refilled)
}

/// The actor still named on `planned`, an open task, when it is a hew run that is gone:
/// on this machine, a dead one; on another, one whose lease ran out.
fn stale_claim(planned: &PlannedTask, ask: &Ask) -> Option<String> {
    let assignee = planned.task.assignee.as_deref()?;
    let open = planned.task.status == "open";
    let gone = Actor::parse(assignee).is_some_and(|a| {
        a.is_gone(&ask.repo_root, &ask.host, &ask.machine)
            || (!a.is_here(&ask.host, &ask.machine)
                && lease::expired(&planned.task, lease::unix_now()))
    });
    (open && gone).then(|| assignee.to_owned())
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

    /// Takes task `id` out of the queue, if it waits there.
    pub(crate) fn remove(&mut self, id: &str) -> Option<Claimed> {
        let at = self
            .waiting
            .iter()
            .position(|c| c.planned.id.as_str() == id)?;
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
                rejected: Vec::new(),
            },
            ready_ms: 0,
            claim_ms: 0,
            took_over: None,
            lease: (String::new(), tokio::time::Instant::now()),
            lost: None,
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
