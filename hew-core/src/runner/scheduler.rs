//! The scheduler: one loop that owns the run's state, fills free slots from one `ready`
//! call, claims tasks atomically in the run's name, and decides when to stop.
//! Claims run beside the loop (see `claims`): a busy slot's next task is claimed while its
//! agent works, and starts the moment the slot is handed back.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::budget::{Budget, Crossed};
use super::claims::{Ask, Claimed, Queue, Refilled, refill};
use super::closes::Closes;
use super::worker::{Done, Fatal, Job, SlotBack, SlotLease, run_job};
use super::{RunEvent, Shared, worker_skill};
use crate::agent::{Stop, Usage};
use crate::config::Config;
use crate::iterlog::{
    IterLog, RecordError, RunDir, RunRecord, RunStatus, SCHEMA_VERSION, StopReason, new_run_id,
};
use crate::plan::TaskFilter;
use crate::prices::Prices;
use crate::recover::{Actor, recover};
use crate::time::Timestamp;
use crate::tracker::{CliTracker, Tracker, TrackerError};
use crate::worktree::{Integration, SlotOptions, Slots, WorktreeError};

/// How often the scheduler looks for the stop file while it waits.
const STOP_FILE_POLL: Duration = Duration::from_millis(500);

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The repository's top directory.
    pub repo_root: PathBuf,
    /// The merged configuration (flags included).
    pub config: Config,
    /// Which tasks to take (labels, type, parent, a forced model).
    pub filter: TaskFilter,
    /// The branch to merge into; `None` for the branch checked out now.
    pub into: Option<String>,
    /// Stop after this many iterations.
    pub max_iters: Option<u32>,
}

/// A run that could not start, or broke in a way no outcome describes.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Records could not be written.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The repository is not usable for a run.
    #[error(transparent)]
    Worktree(#[from] WorktreeError),
    /// The tracker failed where the run cannot go on without it.
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    /// The worker skill could not be read.
    #[error("failed to read the worker skill `{path}`: {source}")]
    Skill {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl RunError {
    /// How to fix it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Worktree(e) => e.hint(),
            Self::Tracker(e) => e.hint(),
            Self::Record(_) => Some("check that `.hew/` in the repository is writable".into()),
            Self::Skill { .. } => Some(format!("fix or remove `{}`", super::PROJECT_SKILL)),
        }
    }
}

/// A finished run: its final record and every iteration.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// `run.json` as last written.
    pub record: RunRecord,
    /// Every iteration, in order.
    pub iters: Vec<IterLog>,
}

/// Runs the loop until nothing is ready, a limit is reached, or `stop` says so. Events go
/// to `events`; records to `.hew/loop/<run-id>/`.
pub async fn run_loop(
    opts: RunOptions,
    stop: watch::Receiver<Stop>,
    events: mpsc::UnboundedSender<RunEvent>,
) -> Result<RunReport, RunError> {
    let run_id = new_run_id();
    let run_dir = RunDir::create(&opts.repo_root, &run_id)?;
    // Held until this function returns: other hews see this run as alive.
    let _lock = run_dir.lock()?;
    let jobs = opts.config.looping.jobs.get();
    let mut record = RunRecord {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.clone(),
        status: RunStatus::Running,
        stop_reason: None,
        error: None,
        started_at: Timestamp::now(),
        ended_at: None,
        hew_version: env!("CARGO_PKG_VERSION").to_owned(),
        host: host_name(),
        pid: std::process::id(),
        repo: opts.repo_root.clone(),
        into: opts.into.clone().unwrap_or_default(),
        diverted: None,
        jobs,
        runtime: opts.config.looping.agent.runtime,
        iterations: 0,
        outcomes: BTreeMap::new(),
        kept_branches: Vec::new(),
    };
    run_dir.write_run(&record)?;
    let started = std::time::Instant::now();

    // Agents follow the caller's stop, and a hard budget's: their own channel, fed by both.
    let (agent_stop, agent_stop_rx) = watch::channel(*stop.borrow());
    let agent_stop = Arc::new(agent_stop);
    let follow = tokio::spawn(follow_stop(stop.clone(), agent_stop.clone()));
    let (live_tx, live_rx) = mpsc::unbounded_channel();

    let shared = start(
        &opts,
        &run_id,
        &run_dir,
        agent_stop_rx,
        live_tx,
        events.clone(),
    );
    let result = match shared {
        Ok(shared) => {
            // Nothing starts before recovery: its calls run at hew's own priority.
            let recovered = recover(
                &shared.repo_root,
                &shared.tracker.in_foreground(),
                &record.host,
                shared.config.looping.worktree.dir.clone(),
            )
            .await;
            match recovered {
                Ok(r) if !r.is_empty() => {
                    let _ = events.send(RunEvent::Recovered(r));
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = events.send(RunEvent::Warning {
                        message: format!("could not check for crashed runs: {e}"),
                    });
                }
            }
            record.into = shared.integration.lock().await.branch().to_owned();
            run_dir.write_run(&record)?;
            let _ = events.send(RunEvent::RunStarted {
                run_id: run_id.clone(),
                dir: run_dir.path().to_owned(),
                into: record.into.clone(),
                jobs,
            });
            let shared = Arc::new(shared);
            let control = Control {
                stop,
                agent_stop,
                live: live_rx,
                budget: Budget::new(&opts.config.looping.budget, shared.prices.clone(), started),
            };
            let result = Scheduler::new(shared.clone(), &opts, &mut record, control)
                .run()
                .await;
            let iters = match result {
                Ok(iters) => iters,
                Err((iters, e)) => {
                    record.status = RunStatus::Failed;
                    record.stop_reason = Some(StopReason::Error);
                    record.error = Some(e.to_string());
                    iters
                }
            };
            if let Err(e) = shared.slots.close() {
                let _ = events.send(RunEvent::Warning {
                    message: format!("could not remove worktrees: {e}"),
                });
            }
            record.diverted = shared
                .integration
                .lock()
                .await
                .diverted()
                .map(str::to_owned);
            record.ended_at = Some(Timestamp::now());
            run_dir.write_run(&record)?;
            let _ = events.send(RunEvent::RunFinished(Box::new(record.clone())));
            Ok(RunReport { record, iters })
        }
        Err(e) => {
            record.status = RunStatus::Failed;
            record.stop_reason = Some(StopReason::Error);
            record.error = Some(e.to_string());
            record.ended_at = Some(Timestamp::now());
            run_dir.write_run(&record)?;
            Err(e)
        }
    };
    follow.abort();
    result
}

/// Passes the caller's stop requests on to the agents' channel; never lowers a stop a
/// hard budget already asked for (`Run` < `Graceful` < `Now`).
async fn follow_stop(mut stop: watch::Receiver<Stop>, agents: Arc<watch::Sender<Stop>>) {
    while stop.changed().await.is_ok() {
        let wanted = *stop.borrow_and_update();
        raise_stop(&agents, wanted);
    }
}

fn raise_stop(agents: &watch::Sender<Stop>, wanted: Stop) {
    let rank = |s: Stop| match s {
        Stop::Run => 0,
        Stop::Graceful => 1,
        Stop::Now => 2,
    };
    agents.send_if_modified(|current| {
        let raise = rank(wanted) > rank(*current);
        if raise {
            *current = wanted;
        }
        raise
    });
}

fn start(
    opts: &RunOptions,
    run_id: &str,
    run_dir: &RunDir,
    stop: watch::Receiver<Stop>,
    live_usage: mpsc::UnboundedSender<(u32, Usage)>,
    events: mpsc::UnboundedSender<RunEvent>,
) -> Result<Shared, RunError> {
    let root = &opts.repo_root;
    let cfg: &Config = &opts.config;
    let integration = Integration::resolve(root, opts.into.as_deref(), run_id)?;
    let slots = Slots::new(
        root,
        SlotOptions {
            dir: cfg.looping.worktree.dir.clone(),
            reuse: cfg.looping.worktree.reuse,
            run_id: run_id.to_owned(),
        },
    )?;
    let skill = worker_skill(root).map_err(|source| RunError::Skill {
        path: root.join(super::PROJECT_SKILL),
        source,
    })?;
    let tracker = CliTracker::new(
        cfg.tracker.command.clone(),
        root.clone(),
        cfg.tracker.timeout.get(),
    );
    Ok(Shared {
        repo_root: root.clone(),
        config: cfg.clone(),
        run_id: run_id.to_owned(),
        run_dir: run_dir.clone(),
        tracker: tracker.clone(),
        slots,
        into: std::sync::Mutex::new(integration.branch().to_owned()),
        integration: Mutex::new(integration),
        skill,
        beads_dir: root.join(".beads"),
        events,
        stop,
        prices: Prices::new(&cfg.prices),
        live_usage,
        closes: Closes::new(tracker),
    })
}

/// What the scheduler watches and controls besides its workers.
struct Control {
    /// The caller's stop requests.
    stop: watch::Receiver<Stop>,
    /// What running agents are asked to do.
    agent_stop: Arc<watch::Sender<Stop>>,
    /// Live usage from running agents.
    live: mpsc::UnboundedReceiver<(u32, Usage)>,
    /// The run's budgets.
    budget: Budget,
}

/// The scheduler's state for one run.
struct Scheduler<'a> {
    sh: Arc<Shared>,
    filter: TaskFilter,
    max_iters: Option<u32>,
    record: &'a mut RunRecord,
    /// Slots with no task, the next one to fill last.
    free_slots: Vec<usize>,
    /// Slots whose worktree a task is using.
    busy: BTreeSet<usize>,
    /// Tasks claimed ahead for busy slots.
    queue: Queue,
    /// The `ready` call and claims in flight.
    refill: Option<JoinHandle<Result<Refilled, TrackerError>>>,
    /// How many slots the refill in flight claims for, and when it started.
    refill_for: usize,
    refill_started: Instant,
    /// Set when the run stops: a refill in flight stops claiming.
    refill_cancel: Arc<AtomicBool>,
    /// The last `ready` call had fewer tasks than slots wanting one: until an iteration
    /// ends or a retry comes due, asking again would find nothing new.
    drained: bool,
    /// The last time something may have made more tasks ready: an iteration's last change
    /// to the tracker, a retry coming due. A `ready` call started after it has seen it.
    last_change: Option<Instant>,
    claimed_tx: mpsc::UnboundedSender<Claimed>,
    claimed_rx: mpsc::UnboundedReceiver<Claimed>,
    /// Slots handed back by their workers (see [`SlotLease`]).
    slot_tx: mpsc::UnboundedSender<SlotBack>,
    slot_rx: mpsc::UnboundedReceiver<SlotBack>,
    /// Every task started and not yet recorded (its slot may already be free).
    running: JoinSet<Done>,
    /// Their ids.
    in_flight: HashSet<String>,
    /// Tasks this run is done with: closed, exhausted, stopped, or unusable.
    done_with: HashSet<String>,
    /// Tasks that failed and may run again in this run once their wait is over; an entry
    /// goes when its wait is.
    retry_at: HashMap<String, Instant>,
    /// Ask the tracker again: at the start, after each iteration ends (its merge may have
    /// unblocked tasks; this also claims ahead for the slot it left), when a claimed task
    /// starts on a free slot (to claim that slot's next task), and when a retry comes due;
    /// never on a timer.
    ask: bool,
    /// Ready tasks left out last time (raises the next `ready` limit).
    excluded: usize,
    iters: Vec<IterLog>,
    next_iter: u32,
    stop_reason: Option<StopReason>,
    stopping: bool,
    /// Who claims: the run (see `claims::Ask::actor`).
    actor: String,
    control: Control,
}

impl<'a> Scheduler<'a> {
    fn new(
        sh: Arc<Shared>,
        opts: &RunOptions,
        record: &'a mut RunRecord,
        control: Control,
    ) -> Self {
        let jobs = sh.config.looping.jobs.get() as usize;
        let actor = Actor {
            host: &record.host,
            pid: record.pid,
            run_id: &record.run_id,
        }
        .to_string();
        let (claimed_tx, claimed_rx) = mpsc::unbounded_channel();
        let (slot_tx, slot_rx) = mpsc::unbounded_channel();
        Self {
            sh,
            filter: opts.filter.clone(),
            max_iters: opts.max_iters,
            record,
            free_slots: (1..=jobs).rev().collect(),
            busy: BTreeSet::new(),
            queue: Queue::default(),
            refill: None,
            refill_for: 0,
            refill_started: Instant::now(),
            refill_cancel: Arc::default(),
            drained: false,
            last_change: None,
            claimed_tx,
            claimed_rx,
            slot_tx,
            slot_rx,
            running: JoinSet::new(),
            in_flight: HashSet::new(),
            done_with: HashSet::new(),
            retry_at: HashMap::new(),
            ask: true,
            excluded: 0,
            iters: Vec::new(),
            next_iter: 1,
            stop_reason: None,
            stopping: false,
            actor,
            control,
        }
    }

    /// The main loop. On an error that stops the run, running workers are still awaited and
    /// tasks claimed ahead are released.
    async fn run(mut self) -> Result<Vec<IterLog>, (Vec<IterLog>, RunError)> {
        let mut stop = self.control.stop.clone();
        let mut failure = None;
        loop {
            self.check_stop(&stop);
            if self.stopping {
                self.release_queued().await;
            } else if self.ask && self.refill.is_none() {
                self.start_refill();
            }
            if self.refill.is_none() && self.running.is_empty() {
                // Nothing in flight: a task waits in the queue only while its slot is busy.
                if self.stopping {
                    break;
                }
                if self.retry_at.is_empty() {
                    // The last `ready` call started nothing, nothing ran since, and no
                    // failed task waits to be tried again.
                    self.stop_with(StopReason::ReadyEmpty);
                    continue;
                }
            }
            // A retry coming due is a reason to ask again, once no `ready` call is in flight.
            let next_retry = self
                .refill
                .is_none()
                .then(|| self.retry_at.values().min().copied())
                .flatten();
            tokio::select! {
                biased;
                Some(back) = self.slot_rx.recv() => self.slot_free(back),
                Some(claimed) = self.claimed_rx.recv() => self.claimed(claimed).await,
                refilled = async { self.refill.as_mut().expect("a refill").await },
                    if self.refill.is_some() =>
                {
                    self.refill = None;
                    // Its last claims may have been sent after the channel was last looked
                    // at: take them now, or they would be lost with the loop.
                    while let Ok(claimed) = self.claimed_rx.try_recv() {
                        self.claimed(claimed).await;
                    }
                    match refilled {
                        Ok(Ok(refilled)) => self.refilled(refilled),
                        Ok(Err(e)) => {
                            self.stop_with(StopReason::Error);
                            failure = Some(e.into());
                        }
                        Err(e) => std::panic::resume_unwind(e.into_panic()),
                    }
                }
                done = self.running.join_next(), if !self.running.is_empty() => {
                    // A worker hands its slot back before it ends, but the hand-back may not
                    // have been looked at yet: take it first, with whatever stops the run.
                    while let Ok(back) = self.slot_rx.try_recv() {
                        self.slot_free(back);
                    }
                    if let Some(done) = done {
                        match done {
                            Ok(done) => self.finished(done),
                            Err(e) => std::panic::resume_unwind(e.into_panic()),
                        }
                    }
                }
                _ = sleep_until_opt(next_retry) => self.retries_due(),
                _ = stop.changed() => {}
                Some((iter, usage)) = self.control.live.recv() => {
                    let crossed = self.control.budget.live(iter, &usage);
                    self.budget_check(crossed);
                }
                _ = tokio::time::sleep(STOP_FILE_POLL) => {}
            }
        }
        self.record.status = match self.stop_reason {
            Some(StopReason::Interrupted) => RunStatus::Cancelled,
            Some(StopReason::Error) => RunStatus::Failed,
            _ => RunStatus::Finished,
        };
        self.record.stop_reason = self.stop_reason;
        match failure {
            Some(e) => Err((self.iters, e)),
            None => Ok(self.iters),
        }
    }

    fn stop_with(&mut self, reason: StopReason) {
        if !self.stopping {
            self.stopping = true;
            self.stop_reason = Some(reason);
            // A refill in flight claims nothing more.
            self.refill_cancel
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn check_stop(&mut self, stop: &watch::Receiver<Stop>) {
        if !matches!(*stop.borrow(), Stop::Run) {
            self.stop_with(StopReason::Interrupted);
        } else if self.sh.run_dir.stop_requested() {
            self.stop_with(StopReason::StopFile);
        } else if self.max_iters.is_some_and(|m| self.next_iter > m) {
            self.stop_with(StopReason::MaxIters);
        } else {
            let crossed = self.control.budget.check_wall(std::time::Instant::now());
            self.budget_check(crossed);
        }
    }

    /// Passes on budget warnings; on a crossed budget, stops scheduling (and, with a hard
    /// budget, asks running agents to stop as a first Ctrl-C would).
    fn budget_check(&mut self, crossed: Option<Crossed>) {
        for warning in self.control.budget.take_warnings() {
            let _ = self.sh.events.send(RunEvent::Warning { message: warning });
        }
        let Some(crossed) = crossed else {
            return;
        };
        if self.stopping {
            return;
        }
        self.stop_with(crossed.reason);
        let hard = self.control.budget.hard() && !self.running.is_empty();
        let _ = self.sh.events.send(RunEvent::BudgetCrossed {
            reason: crossed.reason,
            message: crossed.message,
            stopping_agents: hard,
        });
        if hard {
            raise_stop(&self.control.agent_stop, Stop::Graceful);
        }
    }

    /// Starts one `ready` call and the claims after it, for every free slot and (with
    /// `loop.claim_ahead`) one task ahead for every busy slot that has none waiting, within
    /// `--max-iters`. With every slot busy, it waits (`ask` stays set) until half of them
    /// want a task.
    fn start_refill(&mut self) {
        let mut slots: Vec<usize> = self.free_slots.iter().rev().copied().collect();
        if self.sh.config.looping.claim_ahead {
            slots.extend(self.busy.iter().filter(|s| !self.queue.has_for(**s)));
        }
        if let Some(max) = self.max_iters {
            let promised = (self.next_iter - 1) as usize + self.queue.len();
            slots.truncate((max as usize).saturating_sub(promised));
        }
        let jobs = self.sh.config.looping.jobs.get() as usize;
        if !worth_asking(self.free_slots.len(), slots.len(), jobs) {
            return;
        }
        self.ask = false;
        self.refill_for = slots.len();
        self.refill_started = Instant::now();
        let skip: HashSet<String> = self
            .done_with
            .iter()
            .chain(self.retry_at.keys())
            .chain(&self.in_flight)
            .cloned()
            .chain(self.queue.ids().map(str::to_owned))
            .collect();
        let ask = Ask {
            filter: self.filter.clone(),
            limit: slots.len() + skip.len() + self.excluded + 8,
            skip,
            slots,
            actor: self.actor.clone(),
            cancel: self.refill_cancel.clone(),
            urgent: !self.free_slots.is_empty(),
        };
        self.refill = Some(tokio::spawn(refill(
            self.sh.clone(),
            ask,
            self.claimed_tx.clone(),
        )));
    }

    /// What a refill saw besides its claims.
    fn refilled(&mut self, refilled: Refilled) {
        self.excluded = refilled.excluded;
        let short = refilled.claimed < self.refill_for;
        // A full page may hide more ready tasks behind those left out: ask again, with a
        // limit raised by how many were left out.
        self.drained = short && !refilled.full;
        if short && refilled.full {
            self.ask = true;
        } else if self.drained && self.last_change.is_none_or(|at| at < self.refill_started) {
            // Slots freed or tasks started meanwhile, but nothing the tracker has changed
            // since this call asked it (tasks that ended together were closed before it).
            self.ask = false;
        }
        for (raw_id, reason) in refilled.invalid {
            if self.done_with.insert(raw_id.clone()) {
                let _ = self.sh.events.send(RunEvent::TaskSkipped {
                    id: raw_id.escape_default().to_string(),
                    reason,
                });
            }
        }
    }

    /// Something that may make more tasks ready happened at `at`.
    fn changed_at(&mut self, at: Instant) {
        self.last_change = self.last_change.max(Some(at));
    }

    /// The retries whose wait is over become ordinary ready tasks: ask for them.
    fn retries_due(&mut self) {
        let now = Instant::now();
        self.retry_at.retain(|_, t| *t > now);
        self.ask = true;
        self.changed_at(now);
    }

    /// A task was claimed: it starts now if a slot is free, else waits for its slot.
    async fn claimed(&mut self, claimed: Claimed) {
        if self.stopping {
            self.release(claimed).await;
            return;
        }
        let slot = match self.free_slots.iter().position(|s| *s == claimed.slot) {
            Some(at) => Some(self.free_slots.remove(at)),
            None => self.free_slots.pop(),
        };
        match slot {
            Some(slot) => {
                // The slot's next task can be claimed while this one runs.
                self.ask |= !self.drained;
                self.start(slot, claimed);
            }
            None => self.queue.push(claimed),
        }
    }

    /// A worker handed its slot back: the task waiting for it starts, or the slot waits.
    /// What may stop the run comes with it (a fatal failure, the agent's final usage), so
    /// that nothing new starts past a stop.
    fn slot_free(&mut self, SlotBack { slot, fatal, usage }: SlotBack) {
        if let Some((iter, usage)) = usage {
            let crossed = self.control.budget.live(iter, &usage);
            self.budget_check(crossed);
        }
        match fatal {
            Some(Fatal::Auth(msg)) => {
                self.record.error = Some(format!("the agent could not authenticate: {msg}"));
                self.stop_with(StopReason::Auth);
            }
            Some(Fatal::Agent(msg)) => {
                self.record.error = Some(msg);
                self.stop_with(StopReason::Error);
            }
            None => {}
        }
        self.busy.remove(&slot);
        // No `ready` call now: the task just handed back may have been closed by its agent
        // and not merged yet, and a task it blocked must not start without its work. Its
        // end (after the merge) asks again, for this slot too.
        if !self.stopping
            && let Some(next) = self.queue.take_for(slot)
        {
            self.start(slot, next);
        } else {
            self.free_slots.push(slot);
        }
    }

    fn start(&mut self, slot: usize, claimed: Claimed) {
        let Claimed {
            planned,
            ready_ms,
            claim_ms,
            ..
        } = claimed;
        self.busy.insert(slot);
        self.in_flight.insert(planned.id.to_string());
        let iter = self.next_iter;
        self.next_iter += 1;
        let attempt = planned.attempt;
        let _ = self.sh.events.send(RunEvent::TaskClaimed {
            iter,
            slot,
            task_id: planned.id.to_string(),
            title: planned.task.title.clone(),
            model: planned.model.clone(),
            rule: planned.rule,
        });
        self.running.spawn(run_job(
            self.sh.clone(),
            Job {
                iter,
                slot,
                lease: SlotLease::new(slot, self.slot_tx.clone()),
                planned,
                attempt,
                ready_ms,
                claim_ms,
            },
        ));
    }

    /// Gives back every task claimed ahead that will not run now.
    async fn release_queued(&mut self) {
        for claimed in self.queue.drain() {
            self.release(claimed).await;
        }
    }

    async fn release(&self, claimed: Claimed) {
        if let Err(e) = self.sh.tracker.release(&claimed.planned.id).await {
            let _ = self.sh.events.send(RunEvent::Warning {
                message: format!(
                    "could not release `{}`, claimed but not started: {e}",
                    claimed.planned.id
                ),
            });
        }
    }

    fn finished(&mut self, done: Done) {
        self.ask = true;
        self.changed_at(done.settled_at);
        let id = done.log.task_id.clone();
        self.in_flight.remove(&id);
        match done.retry {
            Some(wait) => {
                self.retry_at.insert(id, Instant::now() + wait);
            }
            None => {
                self.done_with.insert(id);
            }
        }
        self.record.iterations += 1;
        *self.record.outcomes.entry(done.log.outcome).or_default() += 1;
        if let Err(e) = self.sh.run_dir.write_run(self.record) {
            let _ = self.sh.events.send(RunEvent::Warning {
                message: e.to_string(),
            });
        }
        let _ = self
            .sh
            .events
            .send(RunEvent::IterationFinished(Box::new(done.log.clone())));
        let crossed = self.control.budget.finished(&done.log);
        self.budget_check(crossed);
        self.iters.push(done.log);
    }
}

/// Whether a refill for `wanting` slots (`free` of them free, out of `jobs`) is worth a
/// `ready` call now: always for a free slot; with every slot busy, once half of them (at
/// least one) want a task, so that one `ready` call and one claim serve several slots.
/// The tracker is the costliest thing a run calls, and a busy slot needs its next task
/// only when its agent ends.
fn worth_asking(free: usize, wanting: usize, jobs: usize) -> bool {
    wanting > 0 && (free > 0 || wanting >= jobs.div_ceil(2))
}

/// This machine's name, as it appears in hew's actors.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_are_raised_never_lowered() {
        let (tx, rx) = watch::channel(Stop::Run);
        raise_stop(&tx, Stop::Graceful);
        assert_eq!(*rx.borrow(), Stop::Graceful);
        raise_stop(&tx, Stop::Run);
        assert_eq!(*rx.borrow(), Stop::Graceful);
        raise_stop(&tx, Stop::Now);
        raise_stop(&tx, Stop::Graceful);
        assert_eq!(*rx.borrow(), Stop::Now);
    }

    #[test]
    fn with_every_slot_busy_the_tracker_is_asked_once_half_want_a_task() {
        // A free slot is always worth asking for.
        assert!(worth_asking(1, 1, 4));
        assert!(worth_asking(1, 3, 4));
        // Nothing wanted: nothing to ask.
        assert!(!worth_asking(0, 0, 4));
        // Four busy slots: one wanting waits for a second.
        assert!(!worth_asking(0, 1, 4));
        assert!(worth_asking(0, 2, 4));
        assert!(!worth_asking(0, 2, 5));
        assert!(worth_asking(0, 3, 5));
        // One or two slots: each busy slot's next task is claimed as before.
        assert!(worth_asking(0, 1, 1));
        assert!(worth_asking(0, 1, 2));
    }

    #[test]
    fn actor_names_are_valid_for_the_tracker() {
        crate::tracker::validate_actor("hew/host-1/1234/20261122-052501-a1b2").unwrap();
    }
}
