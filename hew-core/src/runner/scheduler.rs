//! The scheduler: one loop that owns a run's state and decides when to ask the tracker,
//! which slot a claimed task takes, when a failed task runs again, which runtime a task
//! runs on (the fallback while the main one's environment fails), when the run pauses
//! for a usage limit to reset, and when it stops.
//!
//! It hears from the refills and tasks it started on one channel ([`WorkerEvent`]), and
//! from the caller through the stop channel and the stop file. Its state is in five
//! parts: the slots ([`Board`]), the conversation with the tracker ([`Asking`]), the tasks
//! of the run ([`Book`]), the leases on the tasks it holds ([`Leases`], renewed on their
//! schedule) and the run's own record ([`Progress`]). It is generic over the
//! tracker and over what runs a task, so its policy is tested in-process, on paused time
//! (see `scheduler_tests`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::RunEvent;
use super::budget::{Budget, Crossed};
use super::claims::{Ask, Claimed, Queue, Refilled, refill};
use super::lease::{self, Leases};
use super::work::{Done, Fatal, HeldSlot, Inbox, Job, Work, WorkerEvent, spawn_reporting};
use crate::agent::{Environment, Runtime, Stop};
use crate::config::LoopConfig;
use crate::plan::TaskFilter;
use crate::records::{IterRecord, RunDir, RunRecord, RunStatus, StopReason};
use crate::tracker::{Tracker, TrackerError};

/// How often the scheduler looks for the stop file while it waits.
const STOP_FILE_POLL: Duration = Duration::from_millis(500);

/// What a run's scheduler is told once, at the start.
pub(crate) struct Settings {
    /// `[loop]`: jobs, claiming ahead, task selection.
    pub config: Arc<LoopConfig>,
    /// Which tasks to take.
    pub filter: TaskFilter,
    /// Stop after this many iterations.
    pub max_iters: Option<u32>,
    /// On a usage limit that says when it resets, wait until then instead of stopping.
    pub wait_for_reset: bool,
    /// Who claims: the run (`hew/<host>/<pid>/<run-id>`).
    pub actor: String,
    /// The repository and this machine's name and id, to tell a gone run's stale claim.
    pub repo_root: std::path::PathBuf,
    pub host: String,
    pub machine: String,
    /// Tasks whose claim recovery took over because its lease ran out, and whose it was.
    pub took_over: HashMap<String, String>,
}

/// What the scheduler watches and controls besides its tasks.
pub(crate) struct Control {
    /// The caller's stop requests.
    pub stop: watch::Receiver<Stop>,
    /// What running agents are asked to do.
    pub agent_stop: Arc<watch::Sender<Stop>>,
    /// The run's budgets.
    pub budget: Budget,
}

/// How a scheduled run ended: its record (status and stop reason set), every iteration,
/// and the tracker error that stopped it, if one did.
pub(crate) struct Ended {
    pub record: RunRecord,
    pub iters: Vec<IterRecord>,
    pub failure: Option<TrackerError>,
    pub environment: Option<Environment>,
}

/// The worker slots as the scheduler sees them.
struct Board {
    /// Slots with no task, the next one to fill last.
    free: Vec<usize>,
    /// Slots whose worktree a task is using.
    busy: BTreeSet<usize>,
    /// Tasks claimed ahead, each waiting for its slot.
    waiting: Queue,
    /// Tasks run on the fallback runtime until then.
    fallback_until: Option<Instant>,
    /// No task starts until then: a usage limit resets (`--wait-for-reset`).
    paused_until: Option<Instant>,
}

/// The conversation with the tracker.
struct Asking {
    /// Ask again: at the start, after each iteration ends (its merge may have unblocked
    /// tasks; this also claims ahead for the slot it left), when a claimed task starts on a
    /// free slot (to claim that slot's next task), and when a retry comes due; never on a
    /// timer.
    ask: bool,
    /// A refill is in flight, for this many slots, since then.
    in_flight: Option<(usize, Instant)>,
    /// Set when the run stops: a refill in flight stops claiming.
    cancel: Arc<AtomicBool>,
    /// The last `ready` call had fewer tasks than slots wanting one: until an iteration
    /// ends or a retry comes due, asking again would find nothing new.
    drained: bool,
    /// The last time something may have made more tasks ready: an iteration's last change
    /// to the tracker, a retry coming due. A `ready` call started after it has seen it.
    last_change: Option<Instant>,
    /// Ready tasks left out last time (raises the next `ready` limit).
    excluded: usize,
    /// When the next refill first releases the tasks other machines hold past their
    /// leases (every half lease: a machine that died while this run goes on has its tasks
    /// taken over here, not only by the next run to start).
    take_back_at: Instant,
}

/// The tasks of the run.
#[derive(Default)]
struct Book {
    /// The failures of the last iterations, if they all failed the same way: how, and
    /// the different tasks that did (the circuit breaker's count).
    same_failures: Option<(String, BTreeSet<String>)>,
    /// Tasks started and not yet ended (their slot may already be free).
    running: HashSet<String>,
    /// Tasks this run is done with: closed, exhausted, stopped, or unusable.
    done_with: HashSet<String>,
    /// Tasks that failed and may run again in this run once their wait is over.
    retry_at: HashMap<String, Instant>,
    /// Lease labels being removed from tasks the run is done with: awaited before the
    /// run ends.
    cleanups: Vec<tokio::task::JoinHandle<()>>,
}

/// The run's record as it goes.
struct Progress {
    record: RunRecord,
    run_dir: RunDir,
    events: mpsc::UnboundedSender<RunEvent>,
    iters: Vec<IterRecord>,
    next_iter: u32,
    /// Set once the run stops: why.
    stop_reason: Option<StopReason>,
    failure: Option<TrackerError>,
    /// The environment failure that stopped the run, if one did.
    environment: Option<Environment>,
}

/// One run's scheduler, over tracker `T`, with tasks run by `W`.
pub(crate) struct Scheduler<T, W> {
    tracker: T,
    work: Arc<W>,
    settings: Settings,
    inbox: Inbox,
    heard: mpsc::UnboundedReceiver<WorkerEvent>,
    board: Board,
    asking: Asking,
    book: Book,
    progress: Progress,
    control: Control,
    leases: Leases,
}

impl<T, W> Scheduler<T, W>
where
    T: Tracker + Clone + 'static,
    W: Work,
{
    pub(crate) fn new(
        tracker: T,
        work: Arc<W>,
        settings: Settings,
        (record, run_dir): (RunRecord, RunDir),
        events: mpsc::UnboundedSender<RunEvent>,
        control: Control,
    ) -> Self {
        let jobs = settings.config.jobs.get() as usize;
        let (inbox, heard) = mpsc::unbounded_channel();
        let leases = Leases::new(settings.config.lease.get());
        // The run's recovery has just done it.
        let take_back_at = Instant::now() + settings.config.lease.get() / 2;
        Self {
            leases,
            tracker,
            work,
            settings,
            inbox,
            heard,
            board: Board {
                free: (1..=jobs).rev().collect(),
                busy: BTreeSet::new(),
                waiting: Queue::default(),
                fallback_until: None,
                paused_until: None,
            },
            asking: Asking {
                ask: true,
                in_flight: None,
                cancel: Arc::default(),
                drained: false,
                last_change: None,
                excluded: 0,
                take_back_at,
            },
            book: Book::default(),
            progress: Progress {
                record,
                run_dir,
                events,
                iters: Vec::new(),
                next_iter: 1,
                stop_reason: None,
                failure: None,
                environment: None,
            },
            control,
        }
    }

    /// The main loop, until nothing is ready and nothing runs, or the run stops. Running
    /// tasks are always awaited, and tasks claimed ahead that will not run are released.
    pub(crate) async fn run(mut self) -> Ended {
        let mut stop = self.control.stop.clone();
        loop {
            self.check_stop();
            if self.stopping() {
                self.release_waiting().await;
            } else if self.asking.ask && self.asking.in_flight.is_none() {
                self.start_refill();
            }
            if self.asking.in_flight.is_none() && self.book.running.is_empty() {
                if self.stopping() {
                    break;
                }
                if self.book.retry_at.is_empty() && self.board.paused_until.is_none() {
                    // The last `ready` call started nothing, nothing ran since, and no
                    // failed task waits to be tried again.
                    self.stop_with(StopReason::ReadyEmpty);
                    continue;
                }
            }
            // A retry coming due is a reason to ask again, once no `ready` call is in flight.
            let next_retry = self
                .asking
                .in_flight
                .is_none()
                .then(|| self.book.retry_at.values().min().copied())
                .flatten()
                .max(self.board.paused_until);
            tokio::select! {
                Some(event) = self.heard.recv() => self.hear(event),
                () = sleep_until_opt(next_retry) => self.retries_due(),
                () = sleep_until_opt(self.leases.next_due()) => self.leases_due(),
                _ = stop.changed() => {}
                () = tokio::time::sleep(STOP_FILE_POLL) => {}
            }
        }
        for cleanup in std::mem::take(&mut self.book.cleanups) {
            let _ = cleanup.await;
        }
        let progress = self.progress;
        let mut record = progress.record;
        record.status = match progress.stop_reason {
            Some(StopReason::Interrupted) => RunStatus::Cancelled,
            Some(StopReason::Error) => RunStatus::Failed,
            _ => RunStatus::Finished,
        };
        record.stop_reason = progress.stop_reason;
        Ended {
            record,
            iters: progress.iters,
            failure: progress.failure,
            environment: progress.environment,
        }
    }

    fn hear(&mut self, event: WorkerEvent) {
        match event {
            WorkerEvent::Claimed(claimed) => self.claimed(*claimed),
            WorkerEvent::Refilled(Ok(refilled)) => self.refilled(refilled),
            WorkerEvent::Refilled(Err(e)) => {
                self.asking.in_flight = None;
                self.stop_with(StopReason::Error);
                self.progress.failure = Some(e);
            }
            WorkerEvent::Usage { iter, usage } => {
                let crossed = self.control.budget.live(iter, &usage);
                self.budget_check(crossed);
            }
            WorkerEvent::SlotFree {
                slot,
                task_id,
                fatal,
                failure,
            } => {
                self.count_failure(&task_id, failure);
                self.slot_free(slot, fatal);
            }
            WorkerEvent::Done(done) => self.finished(*done),
            WorkerEvent::Lease {
                task_id,
                sent,
                renewal,
            } => {
                if let Some(why) = self.leases.renewed(&task_id, sent, renewal) {
                    self.back_off(&task_id, why);
                }
            }
            WorkerEvent::Panicked(panic) => std::panic::resume_unwind(panic),
        }
    }

    fn stopping(&self) -> bool {
        self.progress.stop_reason.is_some()
    }

    fn stop_with(&mut self, reason: StopReason) {
        if !self.stopping() {
            self.progress.stop_reason = Some(reason);
            // A refill in flight claims nothing more.
            self.asking.cancel.store(true, Ordering::SeqCst);
        }
    }

    fn check_stop(&mut self) {
        if !matches!(*self.control.stop.borrow(), Stop::Run) {
            self.stop_with(StopReason::Interrupted);
        } else if self.progress.run_dir.stop_requested() {
            self.stop_with(StopReason::StopFile);
        } else if self
            .settings
            .max_iters
            .is_some_and(|m| self.progress.next_iter > m)
        {
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
            self.tell(RunEvent::Warning { message: warning });
        }
        let Some(crossed) = crossed else {
            return;
        };
        if self.stopping() {
            return;
        }
        self.stop_with(crossed.reason);
        let hard = self.control.budget.hard() && !self.book.running.is_empty();
        self.tell(RunEvent::BudgetCrossed {
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
        if let Some(until) = self.board.paused_until {
            if Instant::now() < until {
                return;
            }
            self.board.paused_until = None;
        }
        let board = &self.board;
        let mut slots: Vec<usize> = board.free.iter().rev().copied().collect();
        if self.settings.config.claim_ahead {
            slots.extend(board.busy.iter().filter(|s| !board.waiting.has_for(**s)));
        }
        if let Some(max) = self.settings.max_iters {
            let promised = (self.progress.next_iter - 1) as usize + board.waiting.len();
            slots.truncate((max as usize).saturating_sub(promised));
        }
        if slots.is_empty() {
            // Nothing to ask for until a task ends or a retry comes due (a slot handed
            // back is not enough: its task may be closed and not merged yet).
            self.asking.ask = false;
            return;
        }
        let jobs = self.settings.config.jobs.get() as usize;
        if !worth_asking(board.free.len(), slots.len(), jobs) {
            return;
        }
        let book = &self.book;
        let skip: HashSet<String> = book
            .done_with
            .iter()
            .chain(book.retry_at.keys())
            .chain(&book.running)
            .cloned()
            .chain(board.waiting.ids().map(str::to_owned))
            .collect();
        let ask = Ask {
            filter: self.settings.filter.clone(),
            limit: slots.len() + skip.len() + self.asking.excluded + 8,
            skip,
            slots,
            actor: self.settings.actor.clone(),
            cancel: self.asking.cancel.clone(),
            repo_root: self.settings.repo_root.clone(),
            host: self.settings.host.clone(),
            machine: self.settings.machine.clone(),
            lease: self.leases.lease(),
            took_over: self.settings.took_over.clone(),
            take_back: Instant::now() >= self.asking.take_back_at,
        };
        if ask.take_back {
            self.asking.take_back_at = Instant::now() + self.leases.lease() / 2;
        }
        self.asking.ask = false;
        self.asking.in_flight = Some((ask.slots.len(), Instant::now()));
        let (tracker, config, inbox) = (
            self.tracker.clone(),
            self.settings.config.clone(),
            self.inbox.clone(),
        );
        spawn_reporting(self.inbox.clone(), async move {
            WorkerEvent::Refilled(refill(&tracker, &config, ask, &inbox).await)
        });
    }

    /// What a refill saw besides its claims.
    fn refilled(&mut self, refilled: Refilled) {
        let asking = &mut self.asking;
        asking.excluded = refilled.excluded;
        let Some((wanted, started)) = asking.in_flight.take() else {
            return;
        };
        let short = refilled.claimed < wanted;
        // A full page may hide more ready tasks behind those left out: ask again, with a
        // limit raised by how many were left out.
        asking.drained = short && !refilled.full;
        if short && refilled.full {
            asking.ask = true;
        } else if asking.drained && asking.last_change.is_none_or(|at| at < started) {
            // Slots freed or tasks started meanwhile, but nothing the tracker has changed
            // since this call asked it.
            asking.ask = false;
        }
        if !refilled.taken_back.is_empty() {
            self.settings
                .took_over
                .extend(refilled.taken_back.iter().cloned());
            self.tell(RunEvent::Recovered(crate::recover::Recovery {
                lease_expired: refilled.taken_back,
                ..Default::default()
            }));
        }
        for (task_id, holder) in refilled.lost {
            self.book.done_with.insert(task_id.clone());
            self.back_off(
                &task_id,
                format!("claimed, but the tracker names `{holder}` as its holder: left to it"),
            );
        }
        for (raw_id, reason) in refilled.invalid {
            if self.book.done_with.insert(raw_id.clone()) {
                self.tell(RunEvent::TaskSkipped {
                    id: raw_id.escape_default().to_string(),
                    reason,
                });
            }
        }
    }

    /// Something that may make more tasks ready happened at `at`.
    fn changed_at(&mut self, at: Instant) {
        self.asking.last_change = self.asking.last_change.max(Some(at));
    }

    /// The retries whose wait is over become ordinary ready tasks: ask for them.
    fn retries_due(&mut self) {
        let now = Instant::now();
        self.book.retry_at.retain(|_, t| *t > now);
        self.asking.ask = true;
        self.changed_at(now);
    }

    /// Renewals that are due go out; leases not renewed in time are lost.
    fn leases_due(&mut self) {
        let now = Instant::now();
        for (task_id, why) in self.leases.overdue(now) {
            self.back_off(&task_id, why);
        }
        for id in self.leases.due(now) {
            let (tracker, actor, lease) = (
                self.tracker.clone(),
                self.settings.actor.clone(),
                self.leases.lease(),
            );
            spawn_reporting(self.inbox.clone(), async move {
                let renewal = lease::renew(&tracker, &id, &actor, lease).await;
                WorkerEvent::Lease {
                    task_id: id.to_string(),
                    sent: now,
                    renewal,
                }
            });
        }
    }

    /// The run backs off `task_id` (another holds it, or its lease could not be kept): a
    /// task waiting for its slot is dropped, a running one's agent was told to stop by its
    /// lease. The task is not released: it is the other's, or left to be taken over.
    fn back_off(&mut self, task_id: &str, why: String) {
        if self.board.waiting.remove(task_id).is_some() {
            self.leases.end(task_id);
            self.book.done_with.insert(task_id.to_owned());
        }
        self.progress
            .record
            .backed_off
            .push(format!("{task_id}: {why}"));
        self.tell(RunEvent::ClaimLost {
            task_id: task_id.to_owned(),
            reason: why,
        });
    }

    /// A task was claimed: it starts now if a slot is free, else waits for its slot. Once
    /// the run stops, it waits to be released.
    fn claimed(&mut self, mut claimed: Claimed) {
        let (label, written) =
            std::mem::replace(&mut claimed.lease, (String::new(), Instant::now()));
        claimed.lost = Some(self.leases.hold(claimed.planned.id.clone(), label, written));
        if self.stopping() {
            self.board.waiting.push(claimed);
            return;
        }
        let free = &mut self.board.free;
        let slot = match free.iter().position(|s| *s == claimed.slot) {
            Some(at) => Some(free.remove(at)),
            None => free.pop(),
        };
        match slot {
            Some(slot) => {
                // The slot's next task can be claimed while this one runs.
                self.asking.ask |= !self.asking.drained;
                self.start(slot, claimed);
            }
            None => self.board.waiting.push(claimed),
        }
    }

    /// A task handed its slot back: the task waiting for it starts, or the slot waits.
    /// A fatal failure stops the run before anything else can start.
    fn slot_free(&mut self, slot: usize, fatal: Option<Fatal>) {
        match fatal {
            Some(Fatal::Environment {
                environment,
                runtime,
                message,
            }) if !self.stopping() => self.environment_failed(environment, runtime, &message),
            Some(Fatal::Agent(msg)) if !self.stopping() => {
                self.progress.record.error = Some(msg);
                self.stop_with(StopReason::Error);
            }
            _ => {}
        }
        self.board.busy.remove(&slot);
        // No `ready` call now: the task just handed back may have been closed by its agent
        // and not merged yet, and a task it blocked must not start without its work. Its
        // end (after the merge) asks again, for this slot too.
        if !self.stopping()
            && let Some(next) = self.board.waiting.take_for(slot)
        {
            self.start(slot, next);
        } else {
            self.board.free.push(slot);
        }
    }

    /// The environment failed (no login, no network, a quota, ...) for a task on
    /// `runtime`. While the main runtime hits a usage limit or cannot reach its service,
    /// tasks move to the fallback (`loop.agent.fallback`) if there is one; otherwise
    /// nothing more starts, and the run says why.
    fn environment_failed(&mut self, environment: Environment, runtime: Runtime, message: &str) {
        let agent = &self.settings.config.agent;
        let movable = matches!(
            environment,
            Environment::UsageLimit { .. } | Environment::Network
        );
        if let Some(fallback) = agent.fallback.filter(|f| *f != agent.runtime)
            && movable
            && runtime == agent.runtime
        {
            if self.board.fallback_until.is_none() {
                let cooldown = agent.fallback_cooldown;
                self.board.fallback_until = Some(Instant::now() + cooldown.get());
                self.tell(RunEvent::RuntimeSwitched {
                    from: runtime,
                    to: fallback,
                    reason: format!(
                        "{runtime} failed ({}: {message}); tasks run on {fallback} for {cooldown}",
                        environment.as_str()
                    ),
                });
            }
            return;
        }
        if let Environment::UsageLimit {
            resets_at: Some(at),
        } = environment
            && self.settings.wait_for_reset
            && let Some(wait) = until_unix(at)
        {
            if self.board.paused_until.is_none() {
                self.board.paused_until = Some(Instant::now() + wait);
                self.tell(RunEvent::Warning {
                    message: format!(
                        "the agent's usage limit is reached: waiting {}s for it to reset \
                         (--wait-for-reset)",
                        wait.as_secs()
                    ),
                });
            }
            return;
        }
        let (what, reason) = match environment {
            Environment::Login => ("the agent could not authenticate", StopReason::Auth),
            Environment::Network => ("the agent could not reach its API", StopReason::Environment),
            Environment::UsageLimit { .. } => (
                "the agent's usage limit is reached",
                StopReason::Environment,
            ),
            Environment::Model => ("the agent does not know the model", StopReason::Environment),
            Environment::Flag => (
                "the agent refused its command line",
                StopReason::Environment,
            ),
            Environment::Start => ("the agent could not start", StopReason::Environment),
            Environment::Setup => ("the worktree setup failed", StopReason::Environment),
        };
        self.progress.record.error = Some(format!("{what}: {message}"));
        self.progress.environment = Some(environment);
        self.stop_with(reason);
    }

    /// The runtime the next task runs on: the fallback while it is in force, the main one
    /// again once its cooldown is over.
    fn runtime_now(&mut self) -> Runtime {
        let agent = &self.settings.config.agent;
        let (main, fallback) = (agent.runtime, agent.fallback.unwrap_or(agent.runtime));
        match self.board.fallback_until {
            Some(until) if Instant::now() < until => fallback,
            Some(_) => {
                self.board.fallback_until = None;
                self.tell(RunEvent::RuntimeSwitched {
                    from: fallback,
                    to: main,
                    reason: format!("the fallback's cooldown is over: tasks run on {main} again"),
                });
                main
            }
            None => main,
        }
    }

    fn start(&mut self, slot: usize, claimed: Claimed) {
        let Claimed {
            planned,
            ready_ms,
            claim_ms,
            took_over,
            lost,
            ..
        } = claimed;
        self.board.busy.insert(slot);
        self.book.running.insert(planned.id.to_string());
        let iter = self.progress.next_iter;
        self.progress.next_iter += 1;
        self.tell(RunEvent::TaskClaimed {
            iter,
            slot,
            task_id: planned.id.to_string(),
            title: planned.task.title.clone(),
            model: planned.model.clone(),
            rule: planned.rule,
        });
        let held = HeldSlot::new(slot, planned.id.to_string(), self.inbox.clone());
        let runtime = self.runtime_now();
        let job = Job {
            runtime,
            iter,
            planned,
            ready_ms,
            claim_ms,
            took_over,
            held,
            lost,
        };
        let work = self.work.clone();
        spawn_reporting(self.inbox.clone(), async move {
            WorkerEvent::Done(Box::new(work.run(job).await))
        });
    }

    /// Gives back every task claimed ahead that will not run now.
    async fn release_waiting(&mut self) {
        for claimed in self.board.waiting.drain() {
            if let Some((id, label)) = self.leases.end(claimed.planned.id.as_str()) {
                lease::drop_lease(&self.tracker, &id, &label).await;
            }
            if let Err(e) = self.tracker.release(&claimed.planned.id).await {
                self.tell(RunEvent::Warning {
                    message: format!(
                        "could not release `{}`, claimed but not started: {e}",
                        claimed.planned.id
                    ),
                });
            }
        }
    }

    fn finished(&mut self, done: Done) {
        self.asking.ask = true;
        self.changed_at(done.tracker_changed_at);
        let id = done.log.task_id.clone();
        self.book.running.remove(&id);
        if let Some((task, label)) = self.leases.end(&id) {
            // The task is closed or released by now: its lease label goes.
            let tracker = self.tracker.clone();
            let cleanup =
                tokio::spawn(async move { lease::drop_lease(&tracker, &task, &label).await });
            self.book.cleanups.push(cleanup);
        }
        match done.retry {
            Some(wait) => {
                self.book.retry_at.insert(id, Instant::now() + wait);
            }
            None => {
                self.book.done_with.insert(id);
            }
        }
        let record = &mut self.progress.record;
        record.iterations += 1;
        *record.outcomes.entry(done.log.outcome).or_default() += 1;
        if let Err(e) = self.progress.run_dir.write_run(record) {
            self.tell(RunEvent::Warning {
                message: e.to_string(),
            });
        }
        self.tell(RunEvent::IterationFinished(Box::new(done.log.clone())));
        let crossed = self.control.budget.finished(&done.log);
        self.budget_check(crossed);
        self.progress.iters.push(done.log);
    }

    /// The circuit breaker: when `loop.retry.circuit_breaker` different tasks in a row
    /// failed the same way (outcome, class and message), the environment is at fault, not
    /// the tasks, and nothing more starts. Weighed as each slot is handed back, before it
    /// can take another task.
    fn count_failure(&mut self, task_id: &str, failure: Option<String>) {
        let Some(how) = failure else {
            self.book.same_failures = None;
            return;
        };
        let (how, mut tasks) = match self.book.same_failures.take() {
            Some((same, tasks)) if same == how => (same, tasks),
            _ => (how, BTreeSet::new()),
        };
        tasks.insert(task_id.to_owned());
        let limit = self.settings.config.retry.circuit_breaker as usize;
        if limit > 0 && tasks.len() >= limit && !self.stopping() {
            self.progress.record.error = Some(format!(
                "{} different tasks in a row failed the same way ({how}): this is the \
                 environment, not the tasks",
                tasks.len()
            ));
            self.stop_with(StopReason::RepeatedFailure);
        }
        self.book.same_failures = Some((how, tasks));
    }

    fn tell(&self, event: RunEvent) {
        let _ = self.progress.events.send(event);
    }
}

/// Raises what running agents are asked to do; never lowers it (`Run` < `Graceful` <
/// `Now`).
pub(crate) fn raise_stop(agents: &watch::Sender<Stop>, wanted: Stop) {
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

/// Whether a refill for `wanting` slots (`free` of them free, out of `jobs`) is worth a
/// `ready` call now: always for a free slot; with every slot busy, once half of them (at
/// least one) want a task, so that one `ready` call serves several slots. The tracker is
/// the costliest thing a run calls, and a busy slot needs its next task only when its
/// agent ends.
fn worth_asking(free: usize, wanting: usize, jobs: usize) -> bool {
    wanting > 0 && (free > 0 || wanting >= jobs.div_ceil(2))
}

/// How long until Unix time `at`, when that is ahead and within a day (a limit that resets
/// later than that is no pause but a stop).
fn until_unix(at: u64) -> Option<Duration> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let wait = Duration::from_secs(at).checked_sub(now)?;
    (wait <= Duration::from_secs(24 * 3600)).then_some(wait)
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
}
