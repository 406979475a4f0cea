//! Leases: how a claim stays trustworthy between machines.
//!
//! On one machine, a claim whose hew died is found by its pid. Between machines nothing
//! can be checked that way, so every claim carries a lease: a label
//! `hew:lease-<unix-time>` on the task, saying until when the claim holds. The run that
//! holds the task renews it every third of `loop.lease`, in one tracker write (the new
//! label added, the old one removed), for the tasks it runs and those it claimed ahead.
//! The label is where every runner already looks (the task's labels come with `ready`,
//! `show` and the list of tasks in progress) and it is plain to read in the tracker.
//!
//! A renewal first reads the task back (one `show`): a claim can be won twice by a racy
//! tracker. The tracker names one holder. If it names this run, the lease is renewed. If
//! it names another hew, the lower actor keeps the task: this run writes its name back
//! with the lease when its actor is the lower one, and otherwise backs off (its agent is
//! stopped, the task is not released: it is the other's).
//!
//! A renewal that fails (the tracker is out of reach) is tried again soon; a lease that
//! could not be renewed in time stops the task's agent before it runs out (at three
//! quarters of its length), so two machines never work one task: the task is left to be
//! taken over, never counted as failed. Another hew treats a task whose lease ran out
//! like a dead run's task (see `recover`): it releases it and takes it over.
//!
//! Times in the labels are wall-clock seconds, so the machines' clocks must agree to well
//! within a lease (NTP does this). The scheduler keeps its own deadlines on the monotonic
//! clock, so its policy is tested on paused time.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::agent::Stop;
use crate::recover::Actor;
use crate::tracker::{Task, TaskId, Tracker, TrackerError};

pub(crate) use crate::lease::{LEASE_PREFIX, expired, label, unix_now};

/// The lease labels on `task`.
fn lease_labels(task: &Task) -> Vec<String> {
    task.labels()
        .iter()
        .filter(|l| l.starts_with(LEASE_PREFIX))
        .cloned()
        .collect()
}

/// The label of a lease of length `lease` written now (rounded up to the second).
fn fresh_label(lease: Duration) -> String {
    label(unix_now() + lease.as_secs() + u64::from(lease.subsec_nanos() > 0))
}

/// Who holds a task, read back from the tracker right after a claim or before a renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Holder {
    /// This run: go on.
    Us,
    /// Another actor, named.
    Other(String),
}

/// Reads `id` back (one `show`) and says who the tracker names as its holder.
pub(crate) async fn read_back<T: Tracker>(
    tracker: &T,
    id: &TaskId,
    actor: &str,
) -> Result<(Holder, Task), TrackerError> {
    let task = tracker.show(id).await?;
    let holder = match task.assignee.as_deref() {
        Some(a) if a == actor => Holder::Us,
        Some(a) => Holder::Other(a.to_owned()),
        None => Holder::Other(String::new()),
    };
    Ok((holder, task))
}

/// Whether `ours` keeps a task that `theirs` also won: the lower actor keeps it. Only two
/// hew actors compete this way; anyone else (a person, or nobody) keeps what it has.
pub(crate) fn we_keep(ours: &str, theirs: &str) -> bool {
    Actor::parse(theirs).is_some() && ours < theirs
}

/// Writes the first lease on a task just claimed (and read back as ours), dropping any
/// lease label a former holder left. Returns the label written.
pub(crate) async fn first_lease<T: Tracker>(
    tracker: &T,
    task: &Task,
    id: &TaskId,
    lease: Duration,
) -> Result<String, TrackerError> {
    let label = fresh_label(lease);
    tracker
        .update_lease(id, &label, &lease_labels(task), None)
        .await?;
    Ok(label)
}

/// What a renewal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Renewal {
    /// The lease was renewed: its new label.
    Renewed(String),
    /// Another hew holds the task, and keeps it (the lower actor): back off.
    Lost {
        /// Who holds it.
        holder: String,
    },
    /// The tracker could not be asked or written.
    Failed(String),
}

/// One renewal of the lease on `id`: reads the task back, then writes the new lease (and,
/// where this run keeps a task another hew also won, this run's name).
pub(crate) async fn renew<T: Tracker>(
    tracker: &T,
    id: &TaskId,
    actor: &str,
    lease: Duration,
) -> Renewal {
    let (holder, task) = match read_back(tracker, id, actor).await {
        Ok(read) => read,
        Err(e) => return Renewal::Failed(e.to_string()),
    };
    let assignee = match holder {
        Holder::Us => None,
        Holder::Other(theirs) if we_keep(actor, &theirs) => Some(actor),
        Holder::Other(holder) => return Renewal::Lost { holder },
    };
    let label = fresh_label(lease);
    match tracker
        .update_lease(id, &label, &lease_labels(&task), assignee)
        .await
    {
        Ok(()) => Renewal::Renewed(label),
        Err(e) => Renewal::Failed(e.to_string()),
    }
}

/// Removes this run's lease label from a task it is done with.
pub(crate) async fn drop_lease<T: Tracker>(tracker: &T, id: &TaskId, label: &str) {
    let _ = tracker.remove_label(id, label).await;
}

/// Why a task's lease was lost, once it is: its agent is stopped and its task left alone.
pub(crate) type LostWatch = watch::Receiver<Option<String>>;

/// One lease the run holds.
struct Held {
    id: TaskId,
    /// The label on the task now.
    label: String,
    /// When to renew next.
    renew_at: Instant,
    /// When the task's agent must stop if no renewal succeeded by then.
    deadline: Instant,
    /// A renewal is on its way.
    in_flight: bool,
    /// Set once the lease is lost: why.
    lost: watch::Sender<Option<String>>,
}

/// The leases a run holds, on the monotonic clock.
pub(crate) struct Leases {
    lease: Duration,
    held: HashMap<String, Held>,
}

impl Leases {
    pub(crate) fn new(lease: Duration) -> Self {
        Self {
            lease,
            held: HashMap::new(),
        }
    }

    /// How long a lease is.
    pub(crate) fn lease(&self) -> Duration {
        self.lease
    }

    fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// Stop the agent once this much of an unrenewed lease has passed: what is left is
    /// the agent's time to stop.
    fn stop_after(&self) -> Duration {
        self.lease * 3 / 4
    }

    /// Holds the lease `label` on `id`, written at `written` (when the write was sent).
    /// Returns where the task hears that its lease was lost.
    pub(crate) fn hold(&mut self, id: TaskId, label: String, written: Instant) -> LostWatch {
        let (lost, watch) = watch::channel(None);
        let held = Held {
            id: id.clone(),
            label,
            renew_at: written + self.renew_every(),
            deadline: written + self.stop_after(),
            in_flight: false,
            lost,
        };
        self.held.insert(id.to_string(), held);
        watch
    }

    /// Stops holding the lease on `id` (its task ended, or was given back): its label, to
    /// remove from the task.
    pub(crate) fn end(&mut self, id: &str) -> Option<(TaskId, String)> {
        self.held.remove(id).map(|h| (h.id, h.label))
    }

    /// When something is next due: a renewal, or a deadline.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.held
            .values()
            .filter(|h| h.lost.borrow().is_none())
            .map(|h| {
                if h.in_flight {
                    h.deadline
                } else {
                    h.renew_at.min(h.deadline)
                }
            })
            .min()
    }

    /// The renewals due at `now`, each marked on its way.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<TaskId> {
        self.held
            .values_mut()
            .filter(|h| !h.in_flight && h.renew_at <= now && h.lost.borrow().is_none())
            .map(|h| {
                h.in_flight = true;
                h.id.clone()
            })
            .collect()
    }

    /// A renewal of `id`, sent at `sent`, came back. Returns why the lease is lost, when
    /// it is now.
    pub(crate) fn renewed(&mut self, id: &str, sent: Instant, renewal: Renewal) -> Option<String> {
        let (renew_every, stop_after, lease) = (self.renew_every(), self.stop_after(), self.lease);
        let held = self.held.get_mut(id)?;
        held.in_flight = false;
        match renewal {
            Renewal::Renewed(label) => {
                held.label = label;
                held.renew_at = sent + renew_every;
                held.deadline = sent + stop_after;
                None
            }
            Renewal::Failed(_) => {
                // Tried again soon, well before the deadline.
                held.renew_at = Instant::now() + lease / 12;
                None
            }
            Renewal::Lost { holder } => {
                let why = if holder.is_empty() {
                    "its claim is gone from the tracker (released by someone else)".to_owned()
                } else {
                    format!("`{holder}` holds it too, and keeps it (the lower actor)")
                };
                Some(self.lose(id, why))
            }
        }
    }

    /// The leases whose deadline passed at `now` with no renewal: lost. Returns each task
    /// and why.
    pub(crate) fn overdue(&mut self, now: Instant) -> Vec<(String, String)> {
        let late: Vec<String> = self
            .held
            .iter()
            .filter(|(_, h)| h.deadline <= now && h.lost.borrow().is_none())
            .map(|(id, _)| id.clone())
            .collect();
        let lease = self.lease;
        late.into_iter()
            .map(|id| {
                let why = self.lose(
                    &id,
                    format!(
                        "its lease ({}s) could not be renewed in time: the task is left \
                         for another runner to take over",
                        lease.as_secs()
                    ),
                );
                (id, why)
            })
            .collect()
    }

    fn lose(&mut self, id: &str, why: String) -> String {
        if let Some(h) = self.held.get(id) {
            h.lost.send_replace(Some(why.clone()));
        }
        why
    }
}

/// What a task's agent follows: the run's stop, raised to an immediate stop once the
/// task's lease is lost.
pub(crate) fn agent_stop(
    mut run: watch::Receiver<Stop>,
    mut lost: Option<LostWatch>,
) -> watch::Receiver<Stop> {
    let (tx, rx) = watch::channel(*run.borrow());
    tokio::spawn(async move {
        let mut run_open = true;
        loop {
            let lost_changed = async {
                match lost.as_mut() {
                    Some(l) => l.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = run.changed(), if run_open => match changed {
                    Ok(()) => super::scheduler::raise_stop(&tx, *run.borrow_and_update()),
                    Err(_) => run_open = false,
                },
                open = lost_changed => {
                    if !open {
                        lost = None;
                    } else if lost.as_ref().is_some_and(|l| l.borrow().is_some()) {
                        super::scheduler::raise_stop(&tx, Stop::Now);
                    }
                }
                () = tx.closed() => break,
            }
            if !run_open && lost.is_none() {
                tx.closed().await;
                break;
            }
        }
    });
    rx
}

/// Why `lost` says the lease was lost, if it was.
pub(crate) fn lost_reason(lost: Option<&LostWatch>) -> Option<String> {
    lost.and_then(|l| l.borrow().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_two_hews_that_won_one_claim_the_lower_actor_keeps_it() {
        let (a, b) = ("hew/a@1/1/r1", "hew/b@2/1/r2");
        assert!(we_keep(a, b));
        assert!(!we_keep(b, a));
        // A person's claim, or none, is never overwritten.
        assert!(!we_keep(a, "zed"));
        assert!(!we_keep(a, ""));
    }

    #[tokio::test(start_paused = true)]
    async fn renewals_come_every_third_of_the_lease_and_a_missed_one_stops_the_agent_in_time() {
        let lease = Duration::from_secs(30);
        let mut leases = Leases::new(lease);
        let start = Instant::now();
        let id = TaskId::parse("t-1").unwrap();
        let lost = leases.hold(id, label(0), start);
        assert_eq!(leases.next_due(), Some(start + Duration::from_secs(10)));
        assert!(leases.due(start).is_empty());

        tokio::time::sleep(Duration::from_secs(10)).await;
        let sent = Instant::now();
        assert_eq!(leases.due(sent).len(), 1);
        // On its way: not due again, but its deadline still stands.
        assert!(leases.due(sent).is_empty());
        assert_eq!(
            leases.next_due(),
            Some(start + Duration::from_micros(22_500_000))
        );
        assert_eq!(
            leases.renewed("t-1", sent, Renewal::Renewed(label(1))),
            None
        );
        assert_eq!(leases.next_due(), Some(sent + Duration::from_secs(10)));

        // The tracker goes away: each failure is retried soon, and at three quarters of
        // the lease since the last renewal the agent is told to stop.
        let mut failures = 0;
        loop {
            let due = leases.next_due().unwrap();
            tokio::time::sleep_until(due).await;
            let now = Instant::now();
            let overdue = leases.overdue(now);
            if !overdue.is_empty() {
                assert_eq!(overdue[0].0, "t-1");
                break;
            }
            for id in leases.due(now) {
                failures += 1;
                leases.renewed(id.as_str(), now, Renewal::Failed("gone".into()));
            }
        }
        assert_eq!(Instant::now(), sent + Duration::from_micros(22_500_000));
        assert!(failures >= 3, "{failures}");
        assert!(
            lost.borrow()
                .as_deref()
                .unwrap()
                .contains("could not be renewed")
        );
        // Lost: nothing more is due for it.
        assert_eq!(leases.next_due(), None);
        assert!(leases.end("t-1").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_lease_stops_the_agent_at_once_whatever_the_run_says() {
        let (run_tx, run_rx) = watch::channel(Stop::Run);
        let (lost_tx, lost_rx) = watch::channel(None);
        let mut agent = agent_stop(run_rx, Some(lost_rx));
        run_tx.send_replace(Stop::Graceful);
        agent.changed().await.unwrap();
        assert_eq!(*agent.borrow_and_update(), Stop::Graceful);
        lost_tx.send_replace(Some("lost".into()));
        agent.changed().await.unwrap();
        assert_eq!(*agent.borrow(), Stop::Now);
    }
}
