//! One task's life: in its worker slot (worktree, agent, inspect, verify), then out of it
//! (merge, tracker, record).
//!
//! A worker never decides what runs next (the scheduler does) and never holds a lock while
//! an agent runs: the integration lock is taken only to merge. The slot is handed back as
//! soon as the worktree is no longer needed, so the slot's next task starts while this
//! one's work is merged and its task closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::outcome::{Decision, Observed};
use super::prompt::build_prompt;
use super::retry::{AfterFailure, EXHAUSTED_LABEL, after_failure, labels_to_strip};
use super::verify::verify;
use super::{RunEvent, Shared};
use crate::agent::{self, AgentEvent, AgentRun, ErrorClass, Launch, Limits, Usage};
use crate::iterlog::{IterLog, Outcome, Timings};
use crate::plan::PlannedTask;
use crate::prices::Prices;
use crate::time::Timestamp;
use crate::tracker::Tracker;
use crate::worktree::{MergeResult, TaskWorktree};

/// The label a task gets when its work conflicted on merge.
pub(crate) const CONFLICT_LABEL: &str = "hew:conflict";

/// A worker slot in use. Dropping it hands the slot back to the scheduler (also when a
/// worker returns early or panics), with what may stop the run (a fatal failure, the
/// agent's final usage against the budgets): the scheduler weighs it before the slot could
/// take another task.
pub(crate) struct SlotLease {
    back: Option<SlotBack>,
    free: mpsc::UnboundedSender<SlotBack>,
}

/// A slot handed back.
pub(crate) struct SlotBack {
    pub slot: usize,
    /// Set when this task's failure means every other task would fail the same way.
    pub fatal: Option<Fatal>,
    /// The iteration and what its agent used in all.
    pub usage: Option<(u32, Usage)>,
}

impl SlotLease {
    pub(crate) fn new(slot: usize, free: mpsc::UnboundedSender<SlotBack>) -> Self {
        let back = Some(SlotBack {
            slot,
            fatal: None,
            usage: None,
        });
        Self { back, free }
    }

    /// The run must stop: no task may start in this slot, or any other.
    fn stop_run(&mut self, fatal: Fatal) {
        if let Some(back) = &mut self.back {
            back.fatal = Some(fatal);
        }
    }

    /// Iteration `iter`'s agent used `usage` in all.
    fn spent(&mut self, iter: u32, usage: &Usage) {
        if let Some(back) = &mut self.back {
            back.usage = Some((iter, usage.clone()));
        }
    }
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        if let Some(back) = self.back.take() {
            let _ = self.free.send(back);
        }
    }
}

/// A claimed task, handed to a worker.
pub(crate) struct Job {
    pub iter: u32,
    pub slot: usize,
    pub lease: SlotLease,
    pub planned: PlannedTask,
    pub attempt: u32,
    /// How long the `ready` call that found the task and its claim took (ms).
    pub ready_ms: u64,
    pub claim_ms: u64,
}

/// What a worker hands back to the scheduler.
pub(crate) struct Done {
    pub log: IterLog,
    /// The task may run again in this run after this wait (a retryable failure).
    pub retry: Option<Duration>,
    /// When the iteration's last change to the tracker (close, release, labels) was made:
    /// a `ready` call started after it has seen what that change made ready.
    pub settled_at: tokio::time::Instant,
}

/// A failure that stops the run.
#[derive(Debug, Clone)]
pub(crate) enum Fatal {
    /// The agent could not authenticate.
    Auth(String),
    /// The agent could not be started at all (missing binary, bad template).
    Agent(String),
}

/// Runs `job` to the end. Never panics on outside input; every failure becomes an outcome.
pub(crate) async fn run_job(sh: Arc<Shared>, job: Job) -> Done {
    let Job {
        iter,
        slot,
        mut lease,
        planned,
        attempt,
        ready_ms,
        claim_ms,
    } = job;
    let task = &planned.task;
    let mut log = IterLog::started(iter, planned.id.as_str(), &task.title, slot, attempt);
    log.model = planned.model.clone();
    log.rule = planned.rule;
    log.runtime = sh.config.looping.agent.runtime;
    log.timings.ready_ms = ready_ms;
    log.timings.claim_ms = claim_ms;

    // The worktree, on a fresh branch at the integration branch's current tip.
    let base_branch = sh.merge_target();
    let clock = Instant::now();
    let wt = {
        let (sh2, id) = (sh.clone(), planned.id.clone());
        let wt = blocking(move || sh2.slots.checkout(slot, &id, &base_branch)).await;
        log.timings.checkout_ms = Timings::ms_since(clock);
        match wt {
            Ok(wt) => wt,
            Err(e) => {
                log.outcome = Outcome::AgentFailed;
                log.error_class = Some(ErrorClass::Other);
                log.error = Some(format!("could not prepare the worktree: {e}"));
                log.cost_usd = Some(0.0);
                release_task(&sh, &planned, &mut log).await;
                return finish(&sh, log, None, tokio::time::Instant::now());
            }
        }
    };
    log.branch = wt.branch.clone();
    log.base = wt.base.clone();

    // The agent.
    let launch = launch(&sh, &planned, attempt, iter, &wt);
    let clock = Instant::now();
    let run = run_agent(&sh, iter, &launch).await;
    log.timings.agent_ms = Timings::ms_since(clock);
    let run = match run {
        Ok(run) => run,
        Err(e) => {
            log.outcome = Outcome::AgentFailed;
            log.error_class = Some(ErrorClass::Other);
            log.error = Some(e.to_string());
            log.cost_usd = Some(0.0);
            release_task(&sh, &planned, &mut log).await;
            hand_back(&sh, wt.clone(), false, &mut log).await;
            settle_branch(&sh, &wt.branch, false, &mut log).await;
            lease.stop_run(Fatal::Agent(e.to_string()));
            return finish(&sh, log, None, tokio::time::Instant::now());
        }
    };
    record_agent(&mut log, &run, &sh.prices);

    // What it left.
    let clock = Instant::now();
    let left = {
        let (sh2, wt2) = (sh.clone(), wt.clone());
        blocking(move || sh2.slots.inspect(&wt2)).await
    };
    log.timings.inspect_ms = Timings::ms_since(clock);
    let (commits, dirty, seen_clean) = match left {
        Ok(left) => (left.commits, left.dirty, !left.dirty),
        Err(e) => {
            log.notes
                .push(format!("could not inspect the worktree: {e}"));
            (Vec::new(), false, false)
        }
    };
    if dirty {
        log.notes
            .push("the agent left uncommitted changes; they were discarded".into());
    }
    log.commits = commits;

    let mut observed = Observed {
        ended: run.ended,
        failure: run.error.as_ref(),
        commits: log.commits.len(),
        verify_passed: None,
        agent_closed: false,
    };
    if observed.wants_verify()
        && let Some(cmd) = sh
            .config
            .looping
            .verify
            .command
            .as_deref()
            .filter(|c| !c.trim().is_empty())
    {
        let clock = Instant::now();
        let result = verify(cmd, &wt.path, sh.config.looping.agent.timeout.get()).await;
        log.timings.verify_ms = Timings::ms_since(clock);
        observed.verify_passed = Some(result.passed);
        log.verify = Some(result);
    }

    // Everything below works on the branch, not the worktree: the slot's next task may start.
    // Trusted clean until the next checkout only if nothing can have run since inspecting.
    let seen_clean = seen_clean && log.verify.is_none() && !run.leaked;
    lease.spent(iter, &run.usage);
    if let Some(f) = run.error.as_ref().filter(|f| f.class == ErrorClass::Auth) {
        lease.stop_run(Fatal::Auth(f.message.clone()));
    }
    hand_back(&sh, wt.clone(), seen_clean, &mut log).await;
    // Before the slot's next task is announced.
    let _ = sh.events.send(RunEvent::Finishing { iter });
    drop(lease);

    // Whether the agent closed the task itself decides nothing when there is work to merge
    // (see `Observed::decide`): then the tracker is asked only if the work does not land or
    // closing the task after the merge is refused.
    if observed.decide() != Decision::Merge {
        log.agent_closed = closed_by_agent(&sh, &planned, &mut log).await;
        observed.agent_closed = log.agent_closed;
    }
    let decision = observed.decide();
    let mut keep_branch = !log.commits.is_empty();
    let mut retry = None;
    let mut settled_at = None;
    match decision {
        Decision::Finish(outcome) => {
            log.outcome = outcome;
            match outcome {
                Outcome::AgentFailed => {
                    log.error_class =
                        Some(run.error.as_ref().map_or(ErrorClass::Other, |f| f.class));
                    log.error = run.error.as_ref().map(|f| f.message.clone());
                }
                Outcome::TimedOut => {
                    let limit = sh.config.looping.agent.timeout;
                    log.error = Some(format!("stopped after loop.agent.timeout ({limit})"));
                }
                Outcome::VerifyFailed => log.error = Some("the verify command failed".into()),
                _ => {}
            }
            if outcome == Outcome::Closed {
                // The agent closed the task with nothing to merge.
                keep_branch = false;
                strip_retry_labels(&sh, &planned, &mut log).await;
            } else {
                retry = settle_failure(&sh, &planned, &mut log).await;
            }
        }
        Decision::Merge => {
            let message = format!(
                "Merge {} ({}: {})\n\nhew run {}, iteration {iter}.",
                wt.branch, planned.id, task.title, sh.run_id
            );
            let clock = Instant::now();
            let merged = {
                let mut integration = sh.integration.lock().await;
                let was_diverted = integration.diverted().is_some();
                let (root, branch) = (sh.repo_root.clone(), wt.branch.clone());
                let mut owned = integration.clone();
                let result = blocking(move || {
                    let r = crate::priority::in_background(|| {
                        crate::worktree::merge(&root, &mut owned, &branch, &message)
                    });
                    (r, owned)
                })
                .await;
                *integration = result.1;
                sh.set_merge_target(&integration);
                if !was_diverted && let Some(reason) = integration.diverted() {
                    let _ = sh.events.send(RunEvent::Diverted {
                        branch: integration.branch().to_owned(),
                        reason: reason.to_owned(),
                    });
                }
                result.0
            };
            log.timings.merge_ms = Timings::ms_since(clock);
            match merged {
                Ok(MergeResult::Merged { commit, into }) => {
                    let short = &commit[..commit.len().min(10)];
                    let reason = format!("merged {short} into {into} (hew run {})", sh.run_id);
                    let closed_at = close_task(&sh, &planned, &mut log, &reason).await;
                    if !strip_retry_labels(&sh, &planned, &mut log).await {
                        settled_at = Some(closed_at);
                    }
                    keep_branch = false;
                    log.outcome = Outcome::Closed;
                    log.merge_commit = Some(commit);
                    log.merged_into = Some(into);
                }
                Ok(MergeResult::UpToDate { commit, into }) => {
                    // The commits are already on the target (e.g. cherry-picked there).
                    let short = &commit[..commit.len().min(10)];
                    let reason =
                        format!("work already on {into} at {short} (hew run {})", sh.run_id);
                    let closed_at = close_task(&sh, &planned, &mut log, &reason).await;
                    if !strip_retry_labels(&sh, &planned, &mut log).await {
                        settled_at = Some(closed_at);
                    }
                    keep_branch = false;
                    log.outcome = Outcome::Closed;
                    log.notes.push(format!(
                        "nothing new to merge: {into} already had this work"
                    ));
                    log.merged_into = Some(into);
                }
                Ok(MergeResult::Conflict { paths }) => {
                    log.agent_closed = closed_by_agent(&sh, &planned, &mut log).await;
                    log.outcome = Outcome::MergeConflict;
                    log.error = Some(format!("merge conflict in {}", paths.join(", ")));
                    let comment = format!(
                        "hew: this task's work conflicted when merged into {} (in {}). It is kept on \
                         branch {}; the task was released to be retried on a fresh base.",
                        sh.merge_target(),
                        paths.join(", "),
                        wt.branch
                    );
                    let clock = Instant::now();
                    note_err(
                        &mut log,
                        "label the task",
                        sh.tracker.add_label(&planned.id, CONFLICT_LABEL).await,
                    );
                    note_err(
                        &mut log,
                        "comment on the task",
                        sh.tracker.add_comment(&planned.id, &comment).await,
                    );
                    log.timings.tracker_ms += Timings::ms_since(clock);
                    retry = settle_failure(&sh, &planned, &mut log).await;
                }
                Err(e) => {
                    log.agent_closed = closed_by_agent(&sh, &planned, &mut log).await;
                    log.outcome = Outcome::MergeConflict;
                    log.error = Some(format!("merge failed: {e}"));
                    retry = settle_failure(&sh, &planned, &mut log).await;
                }
            }
        }
    }
    // The last change to the tracker: the close, when nothing came after it.
    let settled_at = settled_at.unwrap_or_else(tokio::time::Instant::now);
    settle_branch(&sh, &wt.branch, keep_branch, &mut log).await;
    finish(&sh, log, retry, settled_at)
}

/// After an attempt that did not close the task: counts the attempt on the task (a
/// `hew:retry-N` label, or `hew:exhausted` with a comment saying why) and releases it.
/// Returns how long to wait before it may run again in this run, if it may.
async fn settle_failure(sh: &Shared, planned: &PlannedTask, log: &mut IterLog) -> Option<Duration> {
    let retry = &sh.config.looping.retry;
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
            note_err(
                log,
                "count the attempt",
                sh.tracker.add_label(&planned.id, &label).await,
            );
            Some(wait)
        }
        AfterFailure::Exhausted { reason } => {
            let comment = format!(
                "hew: not trying this task again: {reason}. Remove the label {EXHAUSTED_LABEL} to let hew retry it."
            );
            note_err(
                log,
                "label the task",
                sh.tracker.add_label(&planned.id, EXHAUSTED_LABEL).await,
            );
            note_err(
                log,
                "comment on the task",
                sh.tracker.add_comment(&planned.id, &comment).await,
            );
            log.notes
                .push(format!("labelled {EXHAUSTED_LABEL}: {reason}"));
            None
        }
        AfterFailure::NotCounted => None,
    };
    release_task(sh, planned, log).await;
    wait
}

/// After a success: the retry counters and the conflict mark go.
/// Returns whether there were any to remove.
async fn strip_retry_labels(sh: &Shared, planned: &PlannedTask, log: &mut IterLog) -> bool {
    let labels: Vec<&String> = labels_to_strip(planned.task.labels()).collect();
    for label in &labels {
        note_err(
            log,
            "remove a label",
            sh.tracker.remove_label(&planned.id, label).await,
        );
    }
    !labels.is_empty()
}

/// Runs the agent, forwarding its events as run events for iteration `iter`.
async fn run_agent(
    sh: &Arc<Shared>,
    iter: u32,
    launch: &Launch,
) -> Result<AgentRun, agent::AgentError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let events = sh.events.clone();
    let live_usage = sh.live_usage.clone();
    let pid_file = sh.run_dir.agent_pid_file(iter);
    let forward = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let ev = match ev {
                AgentEvent::Started { pid } => {
                    // The agent's process group, for a later hew to stop if this one dies.
                    let _ = std::fs::write(&pid_file, format!("{pid}\n"));
                    RunEvent::AgentStarted { iter, pid }
                }
                AgentEvent::Usage(usage) => {
                    let _ = live_usage.send((iter, usage.clone()));
                    RunEvent::AgentUsage { iter, usage }
                }
                AgentEvent::Slow => RunEvent::AgentSlow { iter },
                AgentEvent::Terminating { .. } => RunEvent::AgentTerminating { iter },
            };
            let _ = events.send(ev);
        }
    });
    let result = agent::run(launch, sh.stop.clone(), tx).await;
    let _ = forward.await;
    let _ = std::fs::remove_file(sh.run_dir.agent_pid_file(iter));
    result
}

fn launch(
    sh: &Shared,
    planned: &PlannedTask,
    attempt: u32,
    iter: u32,
    wt: &TaskWorktree,
) -> Launch {
    let agent = &sh.config.looping.agent;
    let worktree = wt.path.to_string_lossy().into_owned();
    Launch {
        runtime: agent.runtime,
        program: agent.binary.clone(),
        template: agent.command.clone(),
        allowed_tools: agent.allowed_tools.clone(),
        mcp_config: agent.mcp_config.as_ref().map(|p| sh.repo_root.join(p)),
        model: planned.model.clone(),
        task_id: planned.id.clone(),
        worktree: wt.path.clone(),
        prompt: build_prompt(&sh.skill, &planned.task, attempt),
        prompt_file: sh.run_dir.prompt_file(iter),
        env: vec![
            ("HEW_RUN_ID".into(), sh.run_id.clone()),
            ("HEW_TASK_ID".into(), planned.id.to_string()),
            ("HEW_ATTEMPT".into(), attempt.to_string()),
            ("HEW_WORKTREE".into(), worktree),
            (
                "BEADS_DIR".into(),
                sh.beads_dir.to_string_lossy().into_owned(),
            ),
        ],
        stdout_log: sh.run_dir.agent_stdout(iter),
        stderr_log: sh.run_dir.agent_stderr(iter),
        limits: Limits {
            timeout: agent.timeout.get(),
            grace: agent.grace.get(),
            slow_after: agent.slow_after.get(),
        },
    }
}

fn record_agent(log: &mut IterLog, run: &AgentRun, prices: &Prices) {
    let cost = prices.cost(&run.usage);
    log.usage = run.usage.clone();
    log.cost_usd = cost.total;
    log.cost_per_model = cost.per_model;
    log.reported_cost_usd = run.reported_cost_usd;
    log.ended = Some(run.ended);
    log.exit_code = run.exit_code;
    log.signal = run.signal;
    log.leaked = run.leaked;
    log.stderr_tail = run.stderr_tail.clone();
}

/// Closes the task after its work landed. A refusal is looked into: the agent may have
/// closed the task itself. Returns when the call that closed it returned.
async fn close_task(
    sh: &Shared,
    planned: &PlannedTask,
    log: &mut IterLog,
    reason: &str,
) -> tokio::time::Instant {
    let clock = Instant::now();
    let (closed, at) = sh.closes.close(&planned.id, reason).await;
    log.timings.tracker_ms += Timings::ms_since(clock);
    if let Err(e) = closed {
        log.agent_closed = closed_by_agent(sh, planned, log).await;
        if !log.agent_closed {
            log.notes
                .push(format!("the work landed, but closing the task failed: {e}"));
        }
    }
    at
}

/// Whether the tracker shows the task closed now (by the agent: hew has not closed it).
async fn closed_by_agent(sh: &Shared, planned: &PlannedTask, log: &mut IterLog) -> bool {
    let clock = Instant::now();
    let shown = sh.tracker.show(&planned.id).await;
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

/// Gives the claim back; the task becomes ready again (a task the agent closed is reopened,
/// because its work did not land).
async fn release_task(sh: &Shared, planned: &PlannedTask, log: &mut IterLog) {
    if log.agent_closed {
        log.notes
            .push("the agent closed the task, but its work did not land: reopened".into());
    }
    let clock = Instant::now();
    let released = sh.tracker.release(&planned.id).await;
    log.timings.tracker_ms += Timings::ms_since(clock);
    note_err(log, "release the task", released);
}

/// Gives the slot's worktree back for the next task, keeping the task's branch for the
/// merge. `clean`: inspected just now and found clean, with nothing run since (a verify
/// command may leave files behind).
async fn hand_back(sh: &Arc<Shared>, wt: TaskWorktree, clean: bool, log: &mut IterLog) {
    let sh2 = sh.clone();
    let clock = Instant::now();
    let released = blocking(move || {
        if clean {
            sh2.slots.release_clean(wt)
        } else {
            sh2.slots.release(wt, true)
        }
    })
    .await;
    log.timings.release_ms += Timings::ms_since(clock);
    if let Err(e) = released {
        log.notes.push(format!("could not clean the worktree: {e}"));
    }
}

/// After the merge: the task's branch is kept (it holds work that did not land) or deleted.
async fn settle_branch(sh: &Arc<Shared>, branch: &str, keep_branch: bool, log: &mut IterLog) {
    if keep_branch {
        log.kept_branch = Some(branch.to_owned());
        return;
    }
    let (sh2, branch2) = (sh.clone(), branch.to_owned());
    let clock = Instant::now();
    let deleted = blocking(move || sh2.slots.delete_branch(&branch2)).await;
    log.timings.release_ms += Timings::ms_since(clock);
    if let Err(e) = deleted {
        log.notes
            .push(format!("could not delete branch `{branch}`: {e}"));
    }
}

fn note_err<E: std::fmt::Display>(log: &mut IterLog, what: &str, r: Result<(), E>) {
    if let Err(e) = r {
        log.notes.push(format!("failed to {what}: {e}"));
    }
}

fn finish(
    sh: &Shared,
    mut log: IterLog,
    retry: Option<Duration>,
    settled_at: tokio::time::Instant,
) -> Done {
    log.ended_at = Timestamp::now();
    if let Err(e) = sh.run_dir.write_iter(&log) {
        let _ = sh.events.send(RunEvent::Warning {
            message: e.to_string(),
        });
    }
    Done {
        log,
        retry,
        settled_at,
    }
}

/// Runs blocking git work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
