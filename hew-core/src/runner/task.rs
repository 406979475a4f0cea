//! One task's path through a run, stage by stage:
//!
//! 1. **check out**: the slot's worktree on a fresh branch at the merge target's tip, set
//!    up (`loop.worktree.setup`) when that is due;
//! 2. **run the agent** there, its usage passed on as it comes;
//! 3. **inspect** what it left: commits, uncommitted changes;
//! 4. **verify** on the branch, when there is work to merge and `loop.verify.on` says so;
//! 5. **hand back** the slot: the worktree is no longer needed, the slot's next task may
//!    start while this one lands;
//! 6. **land**: the branch goes through the merge queue (see `queue`: merged onto the
//!    target's tip, verified there, landed) and the task is closed, or the outcome that
//!    keeps it open is decided;
//! 7. **settle** the task and its branch: retry labels, the claim released, the branch
//!    kept when it holds work that did not land, deleted otherwise;
//! 8. **record** the iteration.
//!
//! A task never decides what runs next (the scheduler does), never holds a lock while an
//! agent runs (merges happen in the queue), and never panics on outside input: every
//! failure becomes an outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::outcome::{Decision, Observed};
use super::prompt::{PROJECT_SKILL, build_prompt, worker_skill};
use super::queue::{MergeQueue, QueueParts, Verdict};
use super::run::{RunError, RunOptions};
use super::setup::{Setup, SetupEnv};
use super::verify::verify;
use super::work::{Done, Fatal, HeldSlot, Job, Work, WorkerEvent};
use super::{RunEvent, blocking};
use crate::agent::{self, AgentEvent, AgentRun, ErrorClass, Launch, Runtime, Stop};
use crate::config::Config;
use crate::plan::PlannedTask;
use crate::prices::Prices;
use crate::records::{IterRecord, Outcome, RunDir, Timings};
use crate::remote::Remote;
use crate::retry::{
    AfterFailure, CONFLICT_LABEL, EXHAUSTED_LABEL, RETRY_PREFIX, after_failure, labels_to_strip,
};
use crate::time::Timestamp;
use crate::tracker::{CliTracker, Database, Tracker};
use crate::worktree::{Integration, SlotOptions, Slots, TaskWorktree};

/// What runs the tasks of one run: everything their stages share.
pub(crate) struct TaskRunner {
    repo_root: std::path::PathBuf,
    config: Config,
    run_id: String,
    run_dir: RunDir,
    pub(super) tracker: CliTracker,
    pub(super) slots: Slots,
    /// Where finished work lands.
    queue: MergeQueue,
    skill: String,
    beads_dir: std::path::PathBuf,
    events: mpsc::UnboundedSender<RunEvent>,
    /// What running agents are asked to do: the caller's stop, or a hard budget's.
    stop: watch::Receiver<Stop>,
    /// The prices in effect (built-in table under config overrides).
    pub(super) prices: Prices,
    /// `loop.worktree.setup`, run after the checkout when it is due.
    setup: Arc<Setup>,
}

impl Work for TaskRunner {
    async fn run(self: Arc<Self>, job: Job) -> Done {
        self.run_task(job).await
    }
}

/// What the agent left, as the worker saw it.
struct Left {
    commits: usize,
    /// The worktree could not be inspected: what it holds is unknown.
    unknown: bool,
}

/// How landing went: what the settling still has to do.
struct Landed {
    /// Keep the task's branch: it holds work that did not land.
    keep_branch: bool,
    /// The task may run again in this run after this wait.
    retry: Option<Duration>,
    /// When the call that closed the task returned, if that was the iteration's last
    /// change to the tracker.
    closed_at: Option<tokio::time::Instant>,
}

impl TaskRunner {
    pub(super) async fn new(
        opts: &RunOptions,
        run_id: &str,
        run_dir: &RunDir,
        stop: watch::Receiver<Stop>,
        events: mpsc::UnboundedSender<RunEvent>,
    ) -> Result<Self, RunError> {
        let root = &opts.repo_root;
        let cfg = &opts.config;
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
            path: root.join(PROJECT_SKILL),
            source,
        })?;
        let remote = match &cfg.looping.merge.remote {
            Some(name) => {
                let remote = Remote::new(root, name, integration.target());
                // Task branches start from the remote's tip, fetched now.
                remote.fetch().await?;
                Some(remote)
            }
            None => None,
        };
        let verify = &cfg.looping.verify;
        let setup = Arc::new(Setup::new(cfg));
        let queue = MergeQueue::start(QueueParts {
            setup: setup.clone(),
            remote,
            repo_root: root.clone(),
            integration,
            slots: slots.clone(),
            verify: verify
                .command
                .clone()
                .filter(|c| !c.trim().is_empty() && verify.on.on_merge())
                .map(|c| (c, cfg.looping.agent.timeout.get())),
            batch: cfg.looping.merge.batch.get() as usize,
            parallel: cfg.looping.merge.parallel.get() as usize,
            first_slot: cfg.looping.jobs.get() as usize + 1,
            run_id: run_id.to_owned(),
            pid_dir: run_dir.iters_dir(),
            events: events.clone(),
            stop: stop.clone(),
        });
        Ok(Self {
            repo_root: root.clone(),
            config: cfg.clone(),
            run_id: run_id.to_owned(),
            run_dir: run_dir.clone(),
            tracker: CliTracker::for_repo(
                cfg.tracker.command.as_deref(),
                root,
                cfg.tracker.timeout.get(),
            )?
            .with_database(&Database::locate(root)),
            slots,
            queue,
            skill,
            beads_dir: Database::locate(root).dir,
            events,
            stop,
            prices: Prices::new(&cfg.prices),
            setup,
        })
    }

    /// The branch new task branches start at: the target's (a remote target's
    /// remote-tracking ref), or the run branch once diverted.
    pub(super) fn merge_target(&self) -> String {
        self.queue.target().branch
    }

    /// Where work lands now, as records name it (`main`, `origin/main`, `hew/run/<id>`).
    pub(super) fn target_name(&self) -> String {
        self.queue.target().name
    }

    /// The branch merges went to instead of the target, if they had to.
    pub(super) fn diverted(&self) -> Option<String> {
        self.queue.target().diverted
    }

    /// Runs `job` to its end: the stages in order.
    async fn run_task(self: Arc<Self>, job: Job) -> Done {
        let Job {
            iter,
            planned,
            ready_ms,
            claim_ms,
            took_over,
            runtime,
            mut held,
            lost,
        } = job;
        let mut log = IterRecord::started(
            iter,
            planned.id.as_str(),
            &planned.task.title,
            held.slot(),
            planned.attempt,
        );
        log.rule = planned.rule;
        log.notes
            .extend(planned.rejected.iter().map(ToString::to_string));
        log.runtime = runtime;
        let on_fallback = runtime != self.config.looping.agent.runtime;
        if on_fallback {
            // The routing rules name models of the main runtime.
            log.notes.push(format!(
                "ran on the fallback runtime {runtime}, on its own default model"
            ));
        } else {
            log.model = planned.model.clone();
        }
        log.timings.ready_ms = ready_ms;
        log.timings.claim_ms = claim_ms;
        if let Some(gone) = took_over {
            log.notes.push(format!(
                "took over the claim of `{gone}`, a run that is gone, still on the open task"
            ));
        }

        let wt = match self.check_out(held.slot(), &planned, &mut log).await {
            Some(wt) => wt,
            None => {
                self.release_task(&planned, &mut log).await;
                return self.record(log, None, tokio::time::Instant::now());
            }
        };
        let env = SetupEnv {
            run_id: &self.run_id,
            task_id: planned.id.as_str(),
            runtime: log.runtime,
        };
        if let Err(fatal) = self.setup.prepare(&wt, env, &mut log).await {
            // The environment failed, not the task: it is left as it was (see `setup`).
            if let Some(fatal) = fatal {
                held.stop_run(fatal);
            }
            self.release_task(&planned, &mut log).await;
            self.hand_back(wt.clone(), held, &mut log).await;
            self.settle_branch(&wt.branch, false, &mut log).await;
            return self.record(log, Some(Duration::ZERO), tokio::time::Instant::now());
        }
        let stop = super::lease::agent_stop(self.stop.clone(), lost.clone());
        let run = match self.run_agent(&planned, &wt, &held, stop, &mut log).await {
            Ok(run) => run,
            Err(e) => {
                // The agent could not start: no task would fare better.
                held.stop_run(match e.environment() {
                    Some(environment) => Fatal::Environment {
                        environment,
                        runtime: log.runtime,
                        message: e.to_string(),
                    },
                    None => Fatal::Agent(e.to_string()),
                });
                log.outcome = Outcome::AgentFailed;
                log.error_class = Some(ErrorClass::Other);
                log.error = Some(e.to_string());
                log.cost_usd = Some(0.0);
                self.release_task(&planned, &mut log).await;
                self.hand_back(wt.clone(), held, &mut log).await;
                self.settle_branch(&wt.branch, false, &mut log).await;
                return self.record(log, None, tokio::time::Instant::now());
            }
        };
        let left = self.inspect(&wt, &mut log).await;
        if let Some(why) = super::lease::lost_reason(lost.as_ref()) {
            // Another runner holds the task, or will take it over: nothing of it is this
            // run's to settle. Its work, if any, stays on the branch.
            log.outcome = Outcome::Cancelled;
            log.notes.push(format!("backed off the task: {why}"));
            self.hand_back(wt.clone(), held, &mut log).await;
            self.settle_branch(&wt.branch, left.commits > 0 || left.unknown, &mut log)
                .await;
            return self.record(log, None, tokio::time::Instant::now());
        }
        let mut observed = Observed {
            ended: run.ended,
            failure: run.error.as_ref(),
            commits: left.commits,
            verify_passed: None,
            agent_closed: false,
        };
        self.verify(&wt, &mut observed, &mut log).await;
        if let Some((environment, f)) = run.error.as_ref().and_then(|f| Some((f.environment?, f))) {
            held.stop_run(Fatal::Environment {
                environment,
                runtime: log.runtime,
                message: f.message.clone(),
            });
        }
        if let Some(how) = failure_signature(&run, &self.config) {
            held.failed(how);
        }
        self.hand_back(wt.clone(), held, &mut log).await;

        let landed = self
            .land(&planned, &wt, &run, &mut observed, &mut log)
            .await;
        // What was never looked at may hold work: the branch stays.
        let keep_branch = landed.keep_branch || left.unknown;
        self.settle_branch(&wt.branch, keep_branch, &mut log).await;
        let tracker_changed_at = landed.closed_at.unwrap_or_else(tokio::time::Instant::now);
        self.record(log, landed.retry, tracker_changed_at)
    }

    /// Stage 1: the slot's worktree, on a fresh branch at the merge target's current tip.
    /// `None` (with the failure in `log`) when it cannot be made.
    async fn check_out(
        self: &Arc<Self>,
        slot: usize,
        planned: &PlannedTask,
        log: &mut IterRecord,
    ) -> Option<TaskWorktree> {
        let base = self.merge_target();
        let clock = Instant::now();
        let (me, id) = (self.clone(), planned.id.clone());
        let wt = blocking(move || me.slots.checkout(slot, &id, &base)).await;
        log.timings.checkout_ms = Timings::ms_since(clock);
        match wt {
            Ok(wt) => {
                log.branch = wt.branch.clone();
                log.base = wt.base.clone();
                Some(wt)
            }
            Err(e) => {
                log.outcome = Outcome::AgentFailed;
                log.error_class = Some(ErrorClass::Other);
                log.error = Some(format!("could not prepare the worktree: {e}"));
                log.cost_usd = Some(0.0);
                None
            }
        }
    }

    /// Stage 2: the agent, in the worktree. Its events go out as run events, its usage to
    /// the scheduler too; what it used in all is in `log`.
    async fn run_agent(
        &self,
        planned: &PlannedTask,
        wt: &TaskWorktree,
        held: &HeldSlot,
        stop: watch::Receiver<Stop>,
        log: &mut IterRecord,
    ) -> Result<AgentRun, agent::AgentError> {
        let iter = log.number;
        let launch = self.launch(planned, log, wt);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (events, inbox) = (self.events.clone(), held.inbox());
        let pid_file = self.run_dir.agent_pid_file(iter);
        let forward = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let ev = match ev {
                    AgentEvent::Started { pid } => {
                        // The agent's process group, for a later hew to stop if this one dies.
                        let _ = std::fs::write(&pid_file, format!("{pid}\n"));
                        RunEvent::AgentStarted { iter, pid }
                    }
                    AgentEvent::Usage(usage) => {
                        let _ = inbox.send(WorkerEvent::Usage {
                            iter,
                            usage: usage.clone(),
                        });
                        RunEvent::AgentUsage { iter, usage }
                    }
                    AgentEvent::Slow => RunEvent::AgentSlow { iter },
                    AgentEvent::Terminating { .. } => RunEvent::AgentTerminating { iter },
                    // Not shown yet: the live view has no event for it.
                    AgentEvent::ApiRetry(r) => RunEvent::AgentRetrying {
                        iter,
                        attempt: r.attempt,
                        max: r.max,
                        error: r.error,
                    },
                };
                let _ = events.send(ev);
            }
        });
        let clock = Instant::now();
        let result = agent::run(&launch, stop, tx).await;
        log.timings.agent_ms = Timings::ms_since(clock);
        let _ = forward.await;
        let _ = std::fs::remove_file(self.run_dir.agent_pid_file(iter));
        let run = result?;
        // Its final usage, before the slot is handed back: the budgets weigh it before the
        // slot can take another task.
        let _ = held.inbox().send(WorkerEvent::Usage {
            iter,
            usage: run.usage.clone(),
        });
        let cost = self.prices.cost(&run.usage);
        log.usage = run.usage.clone();
        log.cost_usd = cost.total;
        log.cost_per_model = cost.per_model;
        log.reported_cost_usd = run.reported_cost_usd;
        log.notes.extend(crate::prices::cost_disagreement(
            &run.usage,
            log.cost_usd,
            run.reported_cost_usd,
        ));
        log.ended = Some(run.ended);
        log.exit_code = run.exit_code;
        log.signal = run.signal;
        log.leaked = run.leaked;
        log.stderr_tail = run.stderr_tail.clone();
        Ok(run)
    }

    fn launch(&self, planned: &PlannedTask, log: &IterRecord, wt: &TaskWorktree) -> Launch {
        let iter = log.number;
        let agent = &self.config.looping.agent;
        let worktree = wt.path.to_string_lossy().into_owned();
        let program = if log.runtime == agent.runtime {
            agent.binary.clone()
        } else {
            agent.fallback_binary.clone()
        };
        Launch {
            runtime: log.runtime,
            program,
            template: agent.command.clone(),
            permission_mode: agent.permission_mode(),
            max_budget_usd: self.config.looping.budget.task_usd,
            allowed_tools: agent.allowed_tools.clone(),
            mcp_config: agent.mcp_config.as_ref().map(|p| self.repo_root.join(p)),
            model: log.model.clone(),
            task_id: planned.id.clone(),
            worktree: wt.path.clone(),
            prompt: build_prompt(&self.skill, &planned.task, planned.attempt),
            prompt_file: self.run_dir.prompt_file(iter),
            env: vec![
                ("HEW_RUN_ID".into(), self.run_id.clone()),
                ("HEW_TASK_ID".into(), planned.id.to_string()),
                ("HEW_ATTEMPT".into(), planned.attempt.to_string()),
                ("HEW_WORKTREE".into(), worktree),
                ("HEW_SLOT".into(), wt.slot.to_string()),
                (
                    "BEADS_DIR".into(),
                    self.beads_dir.to_string_lossy().into_owned(),
                ),
            ],
            stdout_log: self.run_dir.agent_stdout(iter),
            stderr_log: self.run_dir.agent_stderr(iter),
            limits: agent.limits(),
        }
    }

    /// Stage 3: the commits the agent made and whether it left anything uncommitted.
    async fn inspect(self: &Arc<Self>, wt: &TaskWorktree, log: &mut IterRecord) -> Left {
        let clock = Instant::now();
        let (me, wt2) = (self.clone(), wt.clone());
        let mut left = blocking(move || me.slots.inspect(&wt2)).await;
        if log.runtime == Runtime::Codex
            && let Ok(l) = left.as_mut()
            && l.dirty
        {
            // Codex's sandbox cannot write the worktree's git directory: its work is
            // committed for it.
            let (me, wt2) = (self.clone(), wt.clone());
            let message = format!("{}: work of the Codex agent", log.task_id);
            match blocking(move || me.slots.commit_leftovers(&wt2, &message)).await {
                Ok(Some(commit)) => {
                    log.notes.push(format!(
                        "committed what the Codex agent left as {}",
                        &commit.id[..commit.id.len().min(10)]
                    ));
                    l.commits.push(commit);
                    l.dirty = false;
                }
                Ok(None) => l.dirty = false,
                Err(e) => log
                    .notes
                    .push(format!("could not commit what the Codex agent left: {e}")),
            }
        }
        log.timings.inspect_ms = Timings::ms_since(clock);
        match left {
            Ok(left) => {
                if left.dirty {
                    log.notes
                        .push("the agent left uncommitted changes; they were discarded".into());
                }
                for off in &left.off_branch {
                    let how = if off.kept { "kept on" } else { "on" };
                    log.notes.push(format!(
                        "{} commit(s) made off the task's branch are {how} branch `{}`",
                        off.commits, off.branch
                    ));
                }
                log.commits = left.commits;
                Left {
                    commits: log.commits.len(),
                    unknown: false,
                }
            }
            Err(e) => {
                log.notes.push(format!(
                    "could not inspect the worktree: {e}; branch `{}` is kept",
                    wt.branch
                ));
                Left {
                    commits: 0,
                    unknown: true,
                }
            }
        }
    }

    /// Stage 4: the verify command on the task's branch (`loop.verify.on` = `branch` or
    /// `both`), when the agent finished cleanly with commits.
    async fn verify(&self, wt: &TaskWorktree, observed: &mut Observed<'_>, log: &mut IterRecord) {
        let verify_cfg = &self.config.looping.verify;
        let command = verify_cfg.command.as_deref();
        let Some(command) = command.filter(|c| !c.trim().is_empty()) else {
            return;
        };
        if !verify_cfg.on.on_branch() || !observed.wants_verify() {
            return;
        }
        let clock = Instant::now();
        let slot = wt.slot.to_string();
        let result = verify(
            command,
            &wt.path,
            self.config.looping.agent.timeout.get(),
            &[
                ("HEW_RUN_ID", self.run_id.as_str()),
                ("HEW_SLOT", slot.as_str()),
            ],
            Some(&self.run_dir.agent_pid_file(log.number)),
        )
        .await;
        log.timings.verify_ms = Timings::ms_since(clock);
        observed.verify_passed = Some(result.passed);
        log.verify = Some(result);
    }

    /// Stage 5: the slot's worktree back for its next task; the task's branch stays for
    /// the merge. Dropping the held slot tells the scheduler.
    async fn hand_back(self: &Arc<Self>, wt: TaskWorktree, held: HeldSlot, log: &mut IterRecord) {
        let me = self.clone();
        let clock = Instant::now();
        let handed = blocking(move || me.slots.hand_back(wt, true)).await;
        log.timings.release_ms += Timings::ms_since(clock);
        if let Err(e) = handed {
            log.notes.push(format!("could not clean the worktree: {e}"));
        }
        // Before the slot's next task is announced.
        let _ = self.events.send(RunEvent::Finishing { iter: log.number });
        drop(held);
    }

    /// Stage 6: the outcome. Work to merge is merged and the task closed; otherwise the
    /// outcome says why not, and a failure is counted on the task.
    async fn land(
        self: &Arc<Self>,
        planned: &PlannedTask,
        wt: &TaskWorktree,
        run: &AgentRun,
        observed: &mut Observed<'_>,
        log: &mut IterRecord,
    ) -> Landed {
        // Whether the agent closed the task itself decides nothing when there is work to
        // merge (see `Observed::decide`): then the tracker is asked only if the work does
        // not land or closing the task after the merge is refused.
        if observed.decide() != Decision::Merge {
            log.agent_closed = self.closed_by_agent(planned, log).await;
            observed.agent_closed = log.agent_closed;
        }
        let mut landed = Landed {
            keep_branch: !log.commits.is_empty(),
            retry: None,
            closed_at: None,
        };
        let outcome = match observed.decide() {
            Decision::Finish(outcome) => outcome,
            Decision::Merge => return self.merge(planned, wt, log).await,
        };
        log.outcome = outcome;
        match outcome {
            Outcome::AgentFailed => {
                log.error_class = Some(run.error.as_ref().map_or(ErrorClass::Other, |f| f.class));
                log.error = run.error.as_ref().map(|f| f.message.clone());
            }
            Outcome::TimedOut => {
                let limit = self.config.looping.agent.timeout;
                log.error = Some(format!("stopped after loop.agent.timeout ({limit})"));
            }
            Outcome::VerifyFailed => log.error = Some("the verify command failed".into()),
            _ => {}
        }
        if outcome == Outcome::Closed {
            // The agent closed the task with nothing to merge.
            landed.keep_branch = false;
            self.strip_retry_labels(planned, log).await;
        } else if run.error.as_ref().is_some_and(|f| f.environment.is_some()) {
            // Not the task's failure: it is left as it was before the claim, with no label
            // or comment, and the run stops (see `run_task`).
            log.notes
                .push("the environment failed, not the task: the task is left as it was".into());
            self.release_task(planned, log).await;
            // On the fallback runtime, if the run goes on.
            landed.retry = Some(Duration::ZERO);
        } else {
            landed.retry = self.settle_failure(planned, log).await;
        }
        landed
    }

    /// Lands the task's branch through the merge queue, then closes the task. A conflict,
    /// or a merged result that fails the verify command, keeps the branch and releases the
    /// task to be retried on a fresh base, with what went wrong in its comments.
    async fn merge(
        self: &Arc<Self>,
        planned: &PlannedTask,
        wt: &TaskWorktree,
        log: &mut IterRecord,
    ) -> Landed {
        let message = format!(
            "Merge {} ({}: {})\n\nhew run {}, iteration {}.",
            wt.branch, planned.id, planned.task.title, self.run_id, log.number
        );
        let clock = Instant::now();
        let answer = self.queue.land(log.number, &wt.branch, message).await;
        let queue_ms = u64::try_from(answer.queued.as_millis()).unwrap_or(u64::MAX);
        log.timings.queue_ms = queue_ms;
        log.timings.merge_ms = Timings::ms_since(clock).saturating_sub(queue_ms);
        if answer.moved > 0 {
            log.notes.push(format!(
                "{} moved while this work was merged and tested ({} time(s)): it was merged \
                 onto the new tip and tested again",
                self.target_name(),
                answer.moved
            ));
        }
        let mut landed = Landed {
            keep_branch: true,
            retry: None,
            closed_at: None,
        };
        match answer.verdict {
            Verdict::Landed {
                commit,
                into,
                tested,
            } => {
                let short = short(&commit);
                let reason = format!("merged {short} into {into} (hew run {})", self.run_id);
                landed.closed_at = self.close_task(planned, log, &reason).await;
                landed.keep_branch = false;
                log.outcome = Outcome::Closed;
                log.merge_commit = Some(commit);
                log.merged_into = Some(into);
                if let Some((at, result)) = tested {
                    // The verify result on the branch, if any, gives way to the one that
                    // decided the landing.
                    log.tested_at = Some(at);
                    log.verify = Some(result);
                }
            }
            Verdict::UpToDate { commit, into } => {
                // The commits are already on the target (e.g. cherry-picked there).
                let reason = format!(
                    "work already on {into} at {} (hew run {})",
                    short(&commit),
                    self.run_id
                );
                landed.closed_at = self.close_task(planned, log, &reason).await;
                landed.keep_branch = false;
                log.outcome = Outcome::Closed;
                log.notes.push(format!(
                    "nothing new to merge: {into} already had this work"
                ));
                log.merged_into = Some(into);
            }
            Verdict::Conflict { paths } => {
                log.agent_closed = self.closed_by_agent(planned, log).await;
                log.outcome = Outcome::MergeConflict;
                log.error = Some(format!("merge conflict in {}", paths.join(", ")));
                let comment = format!(
                    "hew: this task's work conflicted when merged into {} (in {}). It is kept on \
                     branch {}; the task was released to be retried on a fresh base.",
                    self.target_name(),
                    paths.join(", "),
                    wt.branch
                );
                let clock = Instant::now();
                let labelled = self.tracker.add_label(&planned.id, CONFLICT_LABEL).await;
                note_err(log, "label the task", labelled);
                let commented = self.tracker.add_comment(&planned.id, &comment).await;
                note_err(log, "comment on the task", commented);
                log.timings.tracker_ms += Timings::ms_since(clock);
                landed.retry = self.settle_failure(planned, log).await;
            }
            Verdict::VerifyFailed {
                result,
                onto,
                tested_at,
            } => {
                log.agent_closed = self.closed_by_agent(planned, log).await;
                log.outcome = Outcome::VerifyFailed;
                let into = self.target_name();
                let said = result
                    .output_tail
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| format!(": {}", l.trim()))
                    .unwrap_or_default();
                log.error = Some(format!(
                    "the verify command failed on this task's work merged onto {into} at {}{said}",
                    short(&onto)
                ));
                let comment = format!(
                    "hew: this task's work passed on its own branch or was not checked there, but \
                     `{}` failed once it was merged onto {into} at {} (tested at {}). The work is \
                     kept on branch {}; the task was released to be retried from the new tip. \
                     The end of the command's output:\n\n{}",
                    result.command,
                    short(&onto),
                    short(&tested_at),
                    wt.branch,
                    comment_tail(&result.output_tail),
                );
                let clock = Instant::now();
                let commented = self.tracker.add_comment(&planned.id, &comment).await;
                note_err(log, "comment on the task", commented);
                log.timings.tracker_ms += Timings::ms_since(clock);
                log.verify = Some(result);
                log.tested_at = Some(tested_at);
                landed.retry = self.settle_failure(planned, log).await;
            }
            Verdict::Stopped => {
                log.agent_closed = self.closed_by_agent(planned, log).await;
                log.outcome = Outcome::Cancelled;
                log.notes.push(format!(
                    "the run stopped before this work was tested and merged; it is kept on \
                     branch `{}`",
                    wt.branch
                ));
                landed.retry = self.settle_failure(planned, log).await;
            }
            Verdict::Failed(e) => {
                log.agent_closed = self.closed_by_agent(planned, log).await;
                log.outcome = Outcome::MergeConflict;
                log.error = Some(format!("merge failed: {e}"));
                landed.retry = self.settle_failure(planned, log).await;
            }
        }
        landed
    }

    /// Closes the task after its work landed, and strips its retry labels. A refusal is
    /// looked into: the agent may have closed the task itself. Returns when the close
    /// returned, if it was the last change to the tracker.
    async fn close_task(
        &self,
        planned: &PlannedTask,
        log: &mut IterRecord,
        reason: &str,
    ) -> Option<tokio::time::Instant> {
        let clock = Instant::now();
        let closed = self.tracker.close(&planned.id, reason).await;
        let at = tokio::time::Instant::now();
        log.timings.tracker_ms += Timings::ms_since(clock);
        if let Err(e) = closed {
            log.agent_closed = self.closed_by_agent(planned, log).await;
            if !log.agent_closed {
                log.notes
                    .push(format!("the work landed, but closing the task failed: {e}"));
            }
        }
        (!self.strip_retry_labels(planned, log).await).then_some(at)
    }

    /// Stage 7, after an attempt that did not close the task: counts the attempt on the
    /// task (a `hew:retry-N` label, or `hew:exhausted` with a comment saying why) and
    /// releases it. Returns how long to wait before it may run again in this run, if it
    /// may.
    async fn settle_failure(
        &self,
        planned: &PlannedTask,
        log: &mut IterRecord,
    ) -> Option<Duration> {
        let retry = &self.config.looping.retry;
        let salt = u64::from(log.number)
            ^ planned
                .id
                .as_str()
                .bytes()
                .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        let decision = after_failure(
            log.outcome,
            log.error_class,
            log.attempt,
            retry.max,
            retry.backoff.get(),
            salt,
        );
        let wait = match decision {
            AfterFailure::Retry { label, wait } => {
                let labelled = self.tracker.add_label(&planned.id, &label).await;
                note_err(log, "count the attempt", labelled);
                self.drop_retry_labels(planned, &label, log).await;
                Some(wait)
            }
            AfterFailure::Exhausted { reason } => {
                let comment = format!(
                    "hew: not trying this task again: {reason}. Remove the label {EXHAUSTED_LABEL} to let hew retry it."
                );
                let labelled = self.tracker.add_label(&planned.id, EXHAUSTED_LABEL).await;
                note_err(log, "label the task", labelled);
                self.drop_retry_labels(planned, EXHAUSTED_LABEL, log).await;
                let commented = self.tracker.add_comment(&planned.id, &comment).await;
                note_err(log, "comment on the task", commented);
                log.notes
                    .push(format!("labelled {EXHAUSTED_LABEL}: {reason}"));
                None
            }
            AfterFailure::NotCounted => None,
        };
        self.release_task(planned, log).await;
        wait
    }

    /// The retry labels `planned` had before `kept` was added: one label says where a task
    /// stands (`hew:retry-1`, then `hew:retry-2`, then `hew:exhausted`). Added first,
    /// removed after, so the count is never lost midway.
    async fn drop_retry_labels(&self, planned: &PlannedTask, kept: &str, log: &mut IterRecord) {
        let old = planned
            .task
            .labels()
            .iter()
            .filter(|l| l.starts_with(RETRY_PREFIX) && *l != kept);
        for label in old {
            let removed = self.tracker.remove_label(&planned.id, label).await;
            note_err(log, "remove a label", removed);
        }
    }

    /// After a success: the retry counters and the conflict mark go. Returns whether there
    /// were any to remove.
    async fn strip_retry_labels(&self, planned: &PlannedTask, log: &mut IterRecord) -> bool {
        let labels: Vec<&String> = labels_to_strip(planned.task.labels()).collect();
        for label in &labels {
            let removed = self.tracker.remove_label(&planned.id, label).await;
            note_err(log, "remove a label", removed);
        }
        !labels.is_empty()
    }

    /// Whether the tracker shows the task closed now (by the agent: hew has not closed it).
    async fn closed_by_agent(&self, planned: &PlannedTask, log: &mut IterRecord) -> bool {
        let clock = Instant::now();
        let shown = self.tracker.show(&planned.id).await;
        log.timings.tracker_ms += Timings::ms_since(clock);
        match shown {
            Ok(t) => t.status == "closed",
            Err(e) => {
                log.notes
                    .push(format!("could not read the task after the agent: {e}"));
                false
            }
        }
    }

    /// Gives the claim back; the task becomes ready again (a task the agent closed is
    /// reopened, because its work did not land).
    async fn release_task(&self, planned: &PlannedTask, log: &mut IterRecord) {
        if log.agent_closed {
            log.notes
                .push("the agent closed the task, but its work did not land: reopened".into());
        }
        let clock = Instant::now();
        let released = self.tracker.release(&planned.id).await;
        log.timings.tracker_ms += Timings::ms_since(clock);
        note_err(log, "release the task", released);
    }

    /// Stage 7, the branch: kept (it holds work that did not land) or deleted.
    async fn settle_branch(self: &Arc<Self>, branch: &str, keep: bool, log: &mut IterRecord) {
        if keep {
            log.kept_branch = Some(branch.to_owned());
            return;
        }
        let (me, branch2) = (self.clone(), branch.to_owned());
        let clock = Instant::now();
        let deleted = blocking(move || me.slots.delete_branch(&branch2)).await;
        log.timings.release_ms += Timings::ms_since(clock);
        if let Err(e) = deleted {
            log.notes
                .push(format!("could not delete branch `{branch}`: {e}"));
        }
    }

    /// Stage 8: the iteration's record, written; what the scheduler hears.
    fn record(
        &self,
        mut log: IterRecord,
        retry: Option<Duration>,
        tracker_changed_at: tokio::time::Instant,
    ) -> Done {
        log.ended_at = Timestamp::now();
        if let Err(e) = self.run_dir.write_iter(&log) {
            let _ = self.events.send(RunEvent::Warning {
                message: e.to_string(),
            });
        }
        Done {
            log,
            retry,
            tracker_changed_at,
        }
    }
}

/// How the agent failed, for the circuit breaker: outcome, class and message. `None` when
/// it did not fail (or was stopped by the run).
fn failure_signature(run: &AgentRun, config: &Config) -> Option<String> {
    match run.ended {
        agent::EndReason::TimedOut => Some(format!(
            "{}: stopped after loop.agent.timeout ({})",
            Outcome::TimedOut,
            config.looping.agent.timeout
        )),
        agent::EndReason::Cancelled => None,
        agent::EndReason::Exited | agent::EndReason::Unreachable => run.error.as_ref().map(|f| {
            format!(
                "{}, {}: {}",
                Outcome::AgentFailed,
                f.class.as_str(),
                f.message
            )
        }),
    }
}

fn note_err<E: std::fmt::Display>(log: &mut IterRecord, what: &str, r: Result<(), E>) {
    if let Err(e) = r {
        log.notes.push(format!("failed to {what}: {e}"));
    }
}

/// The first ten hex digits of a commit id.
fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

/// How much of a failed command's output goes into a task's comment.
const COMMENT_TAIL: usize = 1500;

/// The end of `output`, at most [`COMMENT_TAIL`] bytes, cut on a character boundary.
fn comment_tail(output: &str) -> &str {
    let mut start = output.len().saturating_sub(COMMENT_TAIL);
    while !output.is_char_boundary(start) {
        start += 1;
    }
    output[start..].trim()
}
