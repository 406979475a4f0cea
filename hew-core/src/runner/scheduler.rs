//! The scheduler: one loop that owns the run's state, fills free slots from one `ready`
//! call, claims each task atomically with the slot's own actor, and decides when to stop.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinSet;

use super::budget::{Budget, Crossed};
use super::worker::{Done, Fatal, Job, run_job};
use super::{RunEvent, Shared, worker_skill};
use crate::agent::{Stop, Usage};
use crate::config::Config;
use crate::iterlog::{
    IterLog, RecordError, RunDir, RunRecord, RunStatus, SCHEMA_VERSION, StopReason, Timings,
    new_run_id,
};
use crate::plan::{SkipReason, TaskFilter, plan};
use crate::prices::Prices;
use crate::recover::recover;
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
            let recovered = recover(
                &shared.repo_root,
                &shared.tracker,
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
        tracker,
        slots,
        integration: Mutex::new(integration),
        skill,
        beads_dir: root.join(".beads"),
        events,
        stop,
        prices: Prices::new(&cfg.prices),
        live_usage,
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
    free_slots: Vec<usize>,
    running: JoinSet<Done>,
    /// Tasks this run is done with: closed, exhausted, stopped, or unusable.
    done_with: HashSet<String>,
    /// Tasks that failed and may run again in this run once their wait is over.
    retry_at: HashMap<String, Instant>,
    /// Ask the tracker again: at the start and after each iteration (a merge may have
    /// unblocked tasks), never on a timer.
    ask: bool,
    /// Ready tasks left out last time (raises the next `ready` limit).
    excluded: usize,
    iters: Vec<IterLog>,
    next_iter: u32,
    stop_reason: Option<StopReason>,
    stopping: bool,
    actor_prefix: String,
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
        let actor_prefix = format!("hew/{}/{}/{}", record.host, record.pid, record.run_id);
        Self {
            sh,
            filter: opts.filter.clone(),
            max_iters: opts.max_iters,
            record,
            free_slots: (1..=jobs).rev().collect(),
            running: JoinSet::new(),
            done_with: HashSet::new(),
            retry_at: HashMap::new(),
            ask: true,
            excluded: 0,
            iters: Vec::new(),
            next_iter: 1,
            stop_reason: None,
            stopping: false,
            actor_prefix,
            control,
        }
    }

    /// The main loop. On an error that stops the run, running workers are still awaited.
    async fn run(mut self) -> Result<Vec<IterLog>, (Vec<IterLog>, RunError)> {
        let mut stop = self.control.stop.clone();
        let mut failure = None;
        loop {
            self.check_stop(&stop);
            if !self.stopping && self.ask && !self.free_slots.is_empty() {
                self.ask = false;
                match self.fill_slots().await {
                    Ok(claimed) => {
                        if claimed == 0 && self.running.is_empty() && self.retry_at.is_empty() {
                            self.stop_with(StopReason::ReadyEmpty);
                        }
                    }
                    Err(e) => {
                        self.stop_with(StopReason::Error);
                        failure = Some(e);
                    }
                }
            }
            if self.running.is_empty() && (self.stopping || self.retry_at.is_empty()) {
                // Stopping, or (after a tracker error was survived) nothing to wait for: the
                // next pass asks the tracker again.
                if self.stopping {
                    break;
                }
                self.ask = true;
                continue;
            }
            let next_retry = self.retry_at.values().min().copied();
            tokio::select! {
                _ = sleep_until_opt(next_retry) => self.ask = true,
                done = self.running.join_next(), if !self.running.is_empty() => {
                    if let Some(done) = done {
                        match done {
                            Ok(done) => self.finished(done),
                            Err(e) => std::panic::resume_unwind(e.into_panic()),
                        }
                    }
                }
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

    /// One `ready` call for every free slot; claims until the slots are full or the
    /// candidates run out. Returns how many tasks were claimed.
    async fn fill_slots(&mut self) -> Result<usize, RunError> {
        let now = Instant::now();
        let limit =
            self.free_slots.len() + self.done_with.len() + self.retry_at.len() + self.excluded + 8;
        let clock = std::time::Instant::now();
        let plan = plan(
            &self.sh.tracker,
            &self.sh.config.looping,
            &self.filter,
            limit,
        )
        .await?;
        let ready_ms = Timings::ms_since(clock);
        self.excluded = plan.skipped.len();
        for s in &plan.skipped {
            if let SkipReason::InvalidId(e) = &s.reason
                && self.done_with.insert(s.raw_id.clone())
            {
                let _ = self.sh.events.send(RunEvent::TaskSkipped {
                    id: s.raw_id.escape_default().to_string(),
                    reason: e.to_string(),
                });
            }
        }
        let mut claimed = 0;
        for planned in plan.tasks {
            if self.free_slots.is_empty() || self.max_iters.is_some_and(|m| self.next_iter > m) {
                break;
            }
            if self.done_with.contains(planned.id.as_str())
                || self
                    .retry_at
                    .get(planned.id.as_str())
                    .is_some_and(|t| *t > now)
            {
                continue;
            }
            let Some(&slot) = self.free_slots.last() else {
                break;
            };
            let actor = format!("{}/w{slot}", self.actor_prefix);
            let clock = std::time::Instant::now();
            match self.sh.tracker.claim(&planned.id, &actor).await {
                Ok(_) => {}
                // Another worker or runner got there first: normal under concurrency.
                Err(TrackerError::AlreadyClaimed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
            self.free_slots.pop();
            self.retry_at.remove(planned.id.as_str());
            let iter = self.next_iter;
            self.next_iter += 1;
            claimed += 1;
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
                    planned,
                    attempt,
                    ready_ms,
                    claim_ms: Timings::ms_since(clock),
                },
            ));
        }
        // A retry whose time has come was either claimed above or is no longer ready: either
        // way nothing is left to wait for.
        self.retry_at.retain(|_, t| *t > now);
        Ok(claimed)
    }

    fn finished(&mut self, done: Done) {
        self.free_slots.push(done.slot);
        self.ask = true;
        match done.retry {
            Some(wait) => {
                self.retry_at
                    .insert(done.log.task_id.clone(), Instant::now() + wait);
            }
            None => {
                self.done_with.insert(done.log.task_id.clone());
            }
        }
        self.record.iterations += 1;
        *self.record.outcomes.entry(done.log.outcome).or_default() += 1;
        match &done.fatal {
            Some(Fatal::Auth(msg)) => {
                self.record.error = Some(format!("the agent could not authenticate: {msg}"));
                self.stop_with(StopReason::Auth);
            }
            Some(Fatal::Agent(msg)) => {
                self.record.error = Some(msg.clone());
                self.stop_with(StopReason::Error);
            }
            None => {}
        }
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
    fn actor_names_are_valid_for_the_tracker() {
        crate::tracker::validate_actor("hew/host-1/1234/20261122-052501-a1b2/w3").unwrap();
    }
}
