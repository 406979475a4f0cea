//! One run, from its first record to its last: the run's record and lock, recovery of runs
//! that died, the scheduler, and the worktrees handed back at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::RunEvent;
use super::budget::Budget;
use super::scheduler::{Control, Ended, Scheduler, Settings, raise_stop};
use super::task::TaskRunner;
use crate::agent::{Environment, Stop, preflight};
use crate::config::Config;
use crate::plan::TaskFilter;
use crate::records::{
    IterRecord, RecordError, RunDir, RunRecord, RunStatus, SCHEMA_VERSION, StopReason, new_run_id,
};
use crate::recover::{Actor, recover};
use crate::time::Timestamp;
use crate::tracker::TrackerError;
use crate::worktree::WorktreeError;

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
    /// On a usage limit that says when it resets, wait until then instead of stopping.
    pub wait_for_reset: bool,
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
    /// The remote merge target (`loop.merge.remote`) could not be fetched.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    /// The worker skill could not be read.
    #[error("failed to read the worker skill `{path}`: {source}")]
    Skill {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A finished run: its final record and every iteration.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// `run.json` as last written.
    pub record: RunRecord,
    /// Every iteration, in order.
    pub iters: Vec<IterRecord>,
    /// The tracker failed and stopped the run (the error is in the record).
    pub tracker_failed: bool,
    /// The environment failed and stopped the run (no login, no network, ...): the
    /// failure, for the fix the CLI gives.
    pub environment: Option<Environment>,
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
        machine: crate::machine::machine_id().to_owned(),
        backed_off: Vec::new(),
        pid: std::process::id(),
        repo: opts.repo_root.clone(),
        into: opts.into.clone().unwrap_or_default(),
        diverted: None,
        jobs: opts.config.looping.jobs.get(),
        runtime: opts.config.looping.agent.runtime,
        iterations: 0,
        outcomes: BTreeMap::new(),
        kept_branches: Vec::new(),
    };
    run_dir.write_run(&record)?;

    // Agents follow the caller's stop, and a hard budget's: their own channel, fed by both.
    let (agent_stop, agent_stop_rx) = watch::channel(*stop.borrow());
    let agent_stop = Arc::new(agent_stop);
    let follow = tokio::spawn(follow_stop(stop.clone(), agent_stop.clone()));
    let runner = TaskRunner::new(&opts, &run_id, &run_dir, agent_stop_rx, events.clone()).await;
    let result = match runner {
        Ok(runner) => {
            let control = Control {
                stop,
                agent_stop,
                budget: Budget::new(
                    &opts.config.looping.budget,
                    runner.prices.clone(),
                    std::time::Instant::now(),
                ),
            };
            let report = run(Arc::new(runner), &opts, record, &run_dir, control, &events).await;
            Ok(report?)
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

/// Recovery, the scheduler, and the end of the run.
async fn run(
    runner: Arc<TaskRunner>,
    opts: &RunOptions,
    mut record: RunRecord,
    run_dir: &RunDir,
    control: Control,
    events: &mpsc::UnboundedSender<RunEvent>,
) -> Result<RunReport, RunError> {
    let warn = |message: String| {
        let _ = events.send(RunEvent::Warning { message });
    };
    let mut took_over = std::collections::HashMap::new();
    match recover(
        &opts.repo_root,
        &runner.tracker,
        &record.host,
        &record.machine,
        opts.config.looping.worktree.dir.clone(),
    )
    .await
    {
        Ok(r) if !r.is_empty() => {
            took_over.extend(r.lease_expired.iter().cloned());
            let _ = events.send(RunEvent::Recovered(r));
        }
        Ok(_) => {}
        Err(e) => warn(format!("could not check for crashed runs: {e}")),
    }
    record.into = runner.target_name();
    run_dir.write_run(&record)?;
    let _ = events.send(RunEvent::RunStarted {
        run_id: record.run_id.clone(),
        dir: run_dir.path().to_owned(),
        into: record.into.clone(),
        jobs: record.jobs,
    });
    // Before the first claim: an agent that cannot run, or is not logged in, would fail
    // every task the same way.
    let agent = &opts.config.looping.agent;
    let program = agent
        .binary
        .clone()
        .or_else(|| agent.command.first().map(PathBuf::from));
    let checked = preflight(agent.runtime, program.as_deref()).await;
    for check in checked.warnings() {
        warn(format!("{}: {}", check.name, check.detail));
    }
    if let Some(refused) = checked.refusal() {
        let environment = refused.environment.unwrap_or(Environment::Start);
        return refuse_to_start(record, run_dir, events, environment, &refused.detail);
    }
    let settings = Settings {
        config: Arc::new(opts.config.looping.clone()),
        filter: opts.filter.clone(),
        max_iters: opts.max_iters,
        wait_for_reset: opts.wait_for_reset,
        actor: Actor {
            host: &record.host,
            machine: Some(&record.machine),
            pid: record.pid,
            run_id: &record.run_id,
        }
        .to_string(),
        repo_root: opts.repo_root.clone(),
        host: record.host.clone(),
        machine: record.machine.clone(),
        took_over,
    };
    let scheduler = Scheduler::new(
        runner.tracker.clone(),
        runner.clone(),
        settings,
        (record, run_dir.clone()),
        events.clone(),
        control,
    );
    let Ended {
        mut record,
        iters,
        failure,
        environment,
    } = scheduler.run().await;
    let tracker_failed = failure.is_some();
    if let Some(e) = failure {
        record.status = RunStatus::Failed;
        record.stop_reason = Some(StopReason::Error);
        record.error = Some(e.to_string());
    }
    if let Err(e) = runner.slots.close() {
        warn(format!("could not remove worktrees: {e}"));
    }
    record.diverted = runner.diverted();
    record.ended_at = Some(Timestamp::now());
    run_dir.write_run(&record)?;
    let _ = events.send(RunEvent::RunFinished(Box::new(record.clone())));
    Ok(RunReport {
        record,
        iters,
        tracker_failed,
        environment,
    })
}

/// Ends a run the preflight refused, before any claim: no task was touched.
fn refuse_to_start(
    mut record: RunRecord,
    run_dir: &RunDir,
    events: &mpsc::UnboundedSender<RunEvent>,
    environment: Environment,
    detail: &str,
) -> Result<RunReport, RunError> {
    record.status = RunStatus::Finished;
    record.stop_reason = Some(match environment {
        Environment::Login => StopReason::Auth,
        _ => StopReason::Environment,
    });
    record.error = Some(format!("the agent is not ready: {detail}"));
    record.ended_at = Some(Timestamp::now());
    run_dir.write_run(&record)?;
    let _ = events.send(RunEvent::RunFinished(Box::new(record.clone())));
    Ok(RunReport {
        record,
        iters: Vec::new(),
        tracker_failed: false,
        environment: Some(environment),
    })
}

/// Passes the caller's stop requests on to the agents' channel; never lowers a stop a
/// hard budget already asked for.
async fn follow_stop(mut stop: watch::Receiver<Stop>, agents: Arc<watch::Sender<Stop>>) {
    while stop.changed().await.is_ok() {
        let wanted = *stop.borrow_and_update();
        raise_stop(&agents, wanted);
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

#[cfg(test)]
mod tests {
    #[test]
    fn actor_names_are_valid_for_the_tracker() {
        crate::tracker::validate_actor("hew/host-1@0123456789ab/1234/20261122-052501-a1b2")
            .unwrap();
    }
}
