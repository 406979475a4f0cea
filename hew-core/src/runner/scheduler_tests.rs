//! The scheduler's policy, in-process: an in-memory tracker, a scripted stand-in for the
//! task stages, and paused time, so every test is deterministic and takes no real time.
//! What a user sees end to end (git, br, agents) is tested in the e2e suite.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::RunEvent;
use super::budget::Budget;
use super::memory::Memory;
use super::scheduler::{Control, Ended, Scheduler, Settings};
use super::work::{Done, Fatal, Job, Work, WorkerEvent};
use crate::agent::{Environment, Runtime, Stop, Tokens, Usage};
use crate::config::{BudgetConfig, LoopConfig};
use crate::plan::TaskFilter;
use crate::prices::Prices;
use crate::records::{
    IterRecord, Outcome, RunDir, RunRecord, RunStatus, SCHEMA_VERSION, StopReason,
};
use crate::time::Timestamp;
use crate::tracker::{TaskId, Tracker};

/// This machine's id in these tests, and the run's actor.
const MACHINE: &str = "0123456789ab";
const ACTOR: &str = "hew/test@0123456789ab/1/20261206-000000-test";

/// What one attempt of a task does.
#[derive(Clone)]
struct Step {
    /// The agent's time, until the slot is handed back.
    agent: Duration,
    /// Merging and closing, after the slot is handed back.
    landing: Duration,
    outcome: Outcome,
    /// Wait before the task may run again.
    retry: Option<Duration>,
    /// Tokens the agent reports halfway.
    tokens: u64,
    fatal: Option<Fatal>,
    /// What the agent said when it failed.
    error: Option<String>,
}

impl Step {
    fn closes() -> Self {
        Step {
            agent: Duration::from_secs(2),
            landing: Duration::from_millis(300),
            outcome: Outcome::Closed,
            retry: None,
            tokens: 0,
            fatal: None,
            error: None,
        }
    }

    fn fails(retry: Option<Duration>) -> Self {
        Step {
            outcome: Outcome::AgentFailed,
            retry,
            ..Step::closes()
        }
    }
}

/// One attempt as it ran.
#[derive(Debug, Clone)]
struct Ran {
    id: String,
    slot: usize,
    runtime: Runtime,
    attempt: u32,
    started: Instant,
    slot_free: Instant,
    ended: Instant,
}

/// The task stages, scripted: each attempt of a task takes the next step of its script
/// (the last one repeats), closes or releases the task in the tracker, and is logged.
struct Scripted {
    tracker: Memory,
    scripts: HashMap<String, Vec<Step>>,
    ran: Mutex<Vec<Ran>>,
}

impl Scripted {
    fn new(tracker: &Memory) -> Self {
        Self {
            tracker: tracker.clone(),
            scripts: HashMap::new(),
            ran: Mutex::default(),
        }
    }

    fn script(mut self, id: &str, steps: Vec<Step>) -> Self {
        self.scripts.insert(id.to_owned(), steps);
        self
    }

    fn ran(&self) -> Vec<Ran> {
        self.ran
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn runs_of(&self, id: &str) -> Vec<Ran> {
        self.ran().into_iter().filter(|r| r.id == id).collect()
    }
}

impl Work for Scripted {
    async fn run(self: Arc<Self>, job: Job) -> Done {
        {
            let Job {
                iter,
                planned,
                runtime,
                mut held,
                lost,
                ..
            } = job;
            let id = planned.id.to_string();
            let attempt = (self.runs_of(&id).len() + 1) as u32;
            let step = self.scripts.get(&id).map_or_else(Step::closes, |s| {
                s[(attempt as usize - 1).min(s.len() - 1)].clone()
            });
            let started = Instant::now();
            let slot = held.slot();
            // The agent runs until its time is up, or its lease is lost: then it is
            // stopped, and the task is left alone, as `task` does.
            let agent = async {
                tokio::time::sleep(step.agent / 2).await;
                if step.tokens > 0 {
                    let _ = held.inbox().send(WorkerEvent::Usage {
                        iter,
                        usage: usage(step.tokens),
                    });
                }
                tokio::time::sleep(step.agent / 2).await;
            };
            let backed_off = match lost {
                Some(mut lost) => tokio::select! {
                    () = agent => None,
                    seen = lost.wait_for(Option::is_some) => seen.ok().and_then(|w| w.clone()),
                },
                None => {
                    agent.await;
                    None
                }
            };
            if let Some(why) = backed_off {
                drop(held);
                self.ran
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Ran {
                        id: id.clone(),
                        slot,
                        runtime,
                        attempt,
                        started,
                        slot_free: Instant::now(),
                        ended: Instant::now(),
                    });
                let mut log = IterRecord::started(iter, &id, &planned.task.title, slot, attempt);
                log.outcome = Outcome::Cancelled;
                log.notes.push(format!("backed off the task: {why}"));
                return Done {
                    log,
                    retry: None,
                    tracker_changed_at: Instant::now(),
                };
            }
            let usage = usage(step.tokens);
            if let Some(mut fatal) = step.fatal.clone() {
                if let Fatal::Environment { runtime: on, .. } = &mut fatal {
                    *on = runtime;
                }
                held.stop_run(fatal);
            }
            if let Some(error) = &step.error {
                held.failed(format!("agent_failed: {error}"));
            }
            drop(held);
            let slot_free = Instant::now();
            tokio::time::sleep(step.landing).await;
            let task = TaskId::parse(&id).unwrap();
            if step.outcome == Outcome::Closed {
                self.tracker.close(&task, "done").await.unwrap();
            } else {
                self.tracker.release(&task).await.unwrap();
            }
            let ended = Instant::now();
            self.ran
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Ran {
                    id: id.clone(),
                    slot,
                    runtime,
                    attempt,
                    started,
                    slot_free,
                    ended,
                });
            let mut log = IterRecord::started(iter, &id, &planned.task.title, slot, attempt);
            log.outcome = step.outcome;
            log.error = step.error.clone();
            log.usage = usage;
            Done {
                log,
                retry: step.retry,
                tracker_changed_at: ended,
            }
        }
    }
}

fn usage(tokens: u64) -> Usage {
    Usage {
        total: Tokens {
            input: tokens,
            ..Tokens::default()
        },
        ..Usage::default()
    }
}

/// A run's setup for one test.
struct Setup {
    config: LoopConfig,
    budget: BudgetConfig,
    max_iters: Option<u32>,
    wait_for_reset: bool,
}

impl Setup {
    fn jobs(jobs: u32) -> Self {
        let config = LoopConfig {
            jobs: std::num::NonZeroU32::new(jobs).unwrap(),
            ..LoopConfig::default()
        };
        Self {
            config,
            budget: BudgetConfig::default(),
            max_iters: None,
            wait_for_reset: false,
        }
    }

    /// Runs the scheduler to its end; `stop_at`: a Ctrl-C at that moment.
    async fn run(
        self,
        tracker: &Memory,
        work: &Arc<Scripted>,
        stop_at: Option<Duration>,
    ) -> (Ended, Vec<RunEvent>) {
        let dir = tempfile::tempdir().unwrap();
        let run_id = "20261206-000000-test";
        let run_dir = RunDir::create(dir.path(), run_id).unwrap();
        let (stop_tx, stop) = watch::channel(Stop::Run);
        let (agent_stop, _) = watch::channel(Stop::Run);
        let (events, mut heard) = mpsc::unbounded_channel();
        let control = Control {
            stop,
            agent_stop: Arc::new(agent_stop),
            budget: Budget::new(
                &self.budget,
                Prices::new(&BTreeMap::new()),
                std::time::Instant::now(),
            ),
        };
        let settings = Settings {
            config: Arc::new(self.config),
            filter: TaskFilter::default(),
            max_iters: self.max_iters,
            wait_for_reset: self.wait_for_reset,
            actor: ACTOR.into(),
            repo_root: dir.path().to_owned(),
            host: "test".into(),
            machine: MACHINE.into(),
            took_over: HashMap::new(),
        };
        let scheduler = Scheduler::new(
            tracker.clone(),
            work.clone(),
            settings,
            (record(run_id), run_dir),
            events,
            control,
        );
        if let Some(at) = stop_at {
            tokio::spawn(async move {
                tokio::time::sleep(at).await;
                let _ = stop_tx.send(Stop::Graceful);
                // Kept until the run ends: a dropped sender is no request.
                std::future::pending::<()>().await;
            });
        }
        let ended = scheduler.run().await;
        let mut events = Vec::new();
        while let Ok(e) = heard.try_recv() {
            events.push(e);
        }
        (ended, events)
    }
}

fn record(run_id: &str) -> RunRecord {
    RunRecord {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.into(),
        status: RunStatus::Running,
        stop_reason: None,
        error: None,
        started_at: Timestamp::now(),
        ended_at: None,
        hew_version: "test".into(),
        host: "test".into(),
        machine: MACHINE.into(),
        backed_off: Vec::new(),
        pid: 1,
        repo: "/nowhere".into(),
        into: "main".into(),
        diverted: None,
        jobs: 1,
        runtime: crate::config::Runtime::Claude,
        iterations: 0,
        outcomes: BTreeMap::new(),
        kept_branches: Vec::new(),
    }
}

fn tracker_with(n: usize) -> Memory {
    let tracker = Memory::default();
    for i in 1..=n {
        tracker.add(&format!("t-{i}"), 2, &[]);
    }
    tracker
}

fn assert_all_closed(tracker: &Memory, n: usize) {
    for i in 1..=n {
        let id = format!("t-{i}");
        assert_eq!(tracker.get(&id).task.status, "closed", "{id}");
    }
}

#[tokio::test(start_paused = true)]
async fn every_ready_task_runs_once_and_the_run_ends_when_nothing_is_ready() {
    let tracker = tracker_with(10);
    let work = Arc::new(Scripted::new(&tracker));
    let (ended, _) = Setup::jobs(4).run(&tracker, &work, None).await;

    assert_eq!(ended.record.stop_reason, Some(StopReason::ReadyEmpty));
    assert_eq!(ended.record.status, RunStatus::Finished);
    assert_eq!(ended.record.iterations, 10);
    assert_all_closed(&tracker, 10);
    assert_eq!(tracker.count("claim"), 10, "{:?}", tracker.calls());
    assert_eq!(work.ran().len(), 10);
    // Never more than four at once, on slots 1 to 4.
    let ran = work.ran();
    for r in &ran {
        assert!((1..=4).contains(&r.slot), "{r:?}");
        let overlapping = ran
            .iter()
            .filter(|o| o.started <= r.started && r.started < o.slot_free)
            .count();
        assert!(overlapping <= 4, "{overlapping} agents at once");
    }
}

#[tokio::test(start_paused = true)]
async fn a_busy_slots_next_task_is_claimed_ahead_and_starts_the_moment_the_slot_frees() {
    let tracker = tracker_with(4);
    let work = Arc::new(Scripted::new(&tracker));
    let (ended, _) = Setup::jobs(2).run(&tracker, &work, None).await;

    assert_eq!(ended.record.iterations, 4);
    let ran = work.ran();
    for second in ran.iter().filter(|r| r.id == "t-3" || r.id == "t-4") {
        let before = ran
            .iter()
            .find(|r| r.slot == second.slot && r.id != second.id && r.started < second.started)
            .unwrap();
        assert_eq!(
            second.started, before.slot_free,
            "{} starts while {} lands, with no tracker call in between",
            second.id, before.id
        );
    }
}

#[tokio::test(start_paused = true)]
async fn without_claiming_ahead_a_slot_waits_for_the_end_of_its_last_task() {
    let tracker = tracker_with(4);
    let work = Arc::new(Scripted::new(&tracker));
    let mut setup = Setup::jobs(2);
    setup.config.claim_ahead = false;
    let (ended, _) = setup.run(&tracker, &work, None).await;

    assert_eq!(ended.record.iterations, 4);
    let ran = work.ran();
    let first_end = ran.iter().map(|r| r.ended).min().unwrap();
    for late in ran.iter().filter(|r| r.id == "t-3" || r.id == "t-4") {
        assert!(late.started >= first_end, "{late:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_tracker_is_asked_again_only_after_something_changed() {
    // Twelve tasks of different lengths on four slots: each `ready` call after the first
    // follows a claim or a close the one before it did not see.
    let tracker = tracker_with(12);
    let mut work = Scripted::new(&tracker);
    for i in 1..=12u64 {
        let mut step = Step::closes();
        step.agent = Duration::from_millis(1500 + 137 * i);
        work = work.script(&format!("t-{i}"), vec![step]);
    }
    let work = Arc::new(work);
    let (ended, _) = Setup::jobs(4).run(&tracker, &work, None).await;

    assert_eq!(ended.record.iterations, 12);
    assert_eq!(tracker.count("claim"), 12, "each task claimed once");
    let calls = tracker.calls();
    let readies: Vec<usize> = (0..calls.len()).filter(|&i| calls[i] == "ready").collect();
    for pair in readies.windows(2) {
        let between = &calls[pair[0] + 1..pair[1]];
        assert!(
            between
                .iter()
                .any(|c| c.starts_with("claim") || c.starts_with("close")),
            "a ready call with nothing new to see: {calls:?}"
        );
    }
    assert!(
        readies.len() <= 12,
        "{} ready calls for 12 tasks: {calls:?}",
        readies.len()
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_waits_for_the_work_of_the_task_that_blocks_it() {
    let tracker = Memory::default();
    tracker.add("t-1", 1, &[]);
    tracker.add("t-2", 1, &["t-1"]);
    tracker.add("t-3", 2, &[]);
    let work = Arc::new(Scripted::new(&tracker));
    let (ended, _) = Setup::jobs(2).run(&tracker, &work, None).await;

    assert_eq!(ended.record.iterations, 3);
    let first = &work.runs_of("t-1")[0];
    let blocked = &work.runs_of("t-2")[0];
    assert!(
        blocked.started >= first.ended,
        "t-2 started before t-1's work landed: {first:?} {blocked:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_task_runs_again_once_its_wait_is_over() {
    let tracker = tracker_with(1);
    let wait = Duration::from_secs(30);
    let work = Arc::new(
        Scripted::new(&tracker).script("t-1", vec![Step::fails(Some(wait)), Step::closes()]),
    );
    let (ended, _) = Setup::jobs(2).run(&tracker, &work, None).await;

    let runs = work.runs_of("t-1");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].attempt, 2);
    assert!(
        runs[1].started >= runs[0].ended + wait,
        "retried before its wait: {runs:?}"
    );
    assert_eq!(ended.record.stop_reason, Some(StopReason::ReadyEmpty));
    assert_eq!(ended.record.outcomes[&Outcome::AgentFailed], 1);
    assert_eq!(ended.record.outcomes[&Outcome::Closed], 1);
}

#[tokio::test(start_paused = true)]
async fn a_task_that_may_not_run_again_is_not_asked_for_again() {
    let tracker = tracker_with(2);
    let work = Arc::new(Scripted::new(&tracker).script("t-1", vec![Step::fails(None)]));
    let (ended, _) = Setup::jobs(1).run(&tracker, &work, None).await;

    assert_eq!(work.runs_of("t-1").len(), 1, "done with after its failure");
    assert_eq!(work.runs_of("t-2").len(), 1);
    assert_eq!(ended.record.iterations, 2);
    assert_eq!(ended.record.stop_reason, Some(StopReason::ReadyEmpty));
}

#[tokio::test(start_paused = true)]
async fn a_token_budget_crossed_live_starts_nothing_more_and_releases_what_waits() {
    let tracker = tracker_with(6);
    let mut big = Step::closes();
    big.tokens = 500;
    let work = Arc::new(Scripted::new(&tracker).script("t-1", vec![big]));
    let mut setup = Setup::jobs(2);
    setup.budget.tokens = Some(100);
    let (ended, events) = setup.run(&tracker, &work, None).await;

    assert_eq!(ended.record.stop_reason, Some(StopReason::BudgetTokens));
    // The two running tasks finish; nothing else starts.
    assert_eq!(work.ran().len(), 2, "{:?}", work.ran());
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::BudgetCrossed {
            reason: StopReason::BudgetTokens,
            ..
        }
    )));
    for i in 3..=6 {
        let t = tracker.get(&format!("t-{i}")).task;
        assert_eq!((t.status.as_str(), t.assignee), ("open", None), "t-{i}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stop_request_lets_running_tasks_end_and_releases_tasks_claimed_ahead() {
    let tracker = tracker_with(6);
    let work = Arc::new(Scripted::new(&tracker));
    let (ended, _) = Setup::jobs(2)
        .run(&tracker, &work, Some(Duration::from_secs(1)))
        .await;

    assert_eq!(ended.record.stop_reason, Some(StopReason::Interrupted));
    assert_eq!(ended.record.status, RunStatus::Cancelled);
    assert_eq!(work.ran().len(), 2);
    for i in 3..=6 {
        let t = tracker.get(&format!("t-{i}")).task;
        assert_eq!((t.status.as_str(), t.assignee), ("open", None), "t-{i}");
    }
}

#[tokio::test(start_paused = true)]
async fn max_iters_claims_no_task_it_will_not_run() {
    let tracker = tracker_with(10);
    let work = Arc::new(Scripted::new(&tracker));
    let mut setup = Setup::jobs(2);
    setup.max_iters = Some(3);
    let (ended, _) = setup.run(&tracker, &work, None).await;

    assert_eq!(ended.record.stop_reason, Some(StopReason::MaxIters));
    assert_eq!(ended.record.iterations, 3);
    assert_eq!(tracker.count("claim"), 3, "{:?}", tracker.calls());
    assert_eq!(tracker.count("release"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_tracker_that_goes_away_stops_the_run_once_running_tasks_end() {
    let tracker = tracker_with(6);
    tracker.fail_ready_from(2);
    let work = Arc::new(Scripted::new(&tracker));
    let (ended, _) = Setup::jobs(2).run(&tracker, &work, None).await;

    assert_eq!(ended.record.stop_reason, Some(StopReason::Error));
    assert_eq!(ended.record.status, RunStatus::Failed);
    assert!(ended.failure.is_some());
    // The tasks that started ended and were recorded.
    assert_eq!(ended.record.iterations as usize, work.ran().len());
    assert!(work.ran().len() >= 2);
}

#[tokio::test(start_paused = true)]
async fn a_fatal_failure_stops_the_run_before_its_slot_takes_another_task() {
    let tracker = tracker_with(3);
    let mut auth = Step::fails(None);
    auth.fatal = Some(Fatal::Environment {
        environment: crate::agent::Environment::Login,
        runtime: Runtime::Claude,
        message: "Not logged in".into(),
    });
    let work = Arc::new(Scripted::new(&tracker).script("t-1", vec![auth]));
    let (ended, _) = Setup::jobs(1).run(&tracker, &work, None).await;

    assert_eq!(ended.record.stop_reason, Some(StopReason::Auth));
    assert_eq!(work.ran().len(), 1, "{:?}", work.ran());
    assert!(ended.record.error.unwrap().contains("Not logged in"));
    // The task claimed ahead for the slot was given back.
    let t = tracker.get("t-2").task;
    assert_eq!((t.status.as_str(), t.assignee), ("open", None));
}

#[tokio::test(start_paused = true)]
async fn an_open_task_still_naming_a_run_that_is_gone_is_taken_over() {
    let tracker = tracker_with(4);
    // Reopened after a run on this machine closed it: that hew is long gone.
    tracker.assign("t-1", "hew/test@0123456789ab/4194303/20260101-000000-dead");
    // Held by a run on another machine, which hew cannot check: left alone.
    tracker.assign("t-2", "hew/elsewhere/4194303/20260101-000000-else");
    // Another machine with this machine's host name (containers called alike): its pid
    // means nothing here, so it is left alone too.
    tracker.assign("t-3", "hew/test@ba9876543210/4194303/20260101-000000-twin");
    // Written by earlier hew on this host, with no machine id: judged by host name.
    tracker.assign("t-4", "hew/test/4194303/20260101-000000-old");
    let work = Arc::new(Scripted::new(&tracker));
    let (ended, _) = Setup::jobs(1).run(&tracker, &work, None).await;

    assert_eq!(work.runs_of("t-1").len(), 1, "{:?}", tracker.calls());
    assert_eq!(tracker.get("t-1").task.status, "closed");
    assert_eq!(tracker.get("t-4").task.status, "closed");
    for held in ["t-2", "t-3"] {
        assert!(work.runs_of(held).is_empty(), "{held}");
        assert_eq!(tracker.get(held).task.status, "open");
    }
    assert_eq!(ended.record.stop_reason, Some(StopReason::ReadyEmpty));
    let calls = tracker.calls();
    let at = calls.iter().position(|c| c == "release t-1").unwrap();
    assert_eq!(calls[at + 1], "claim t-1", "{calls:?}");
}

fn fails_saying(message: &str) -> Step {
    Step {
        error: Some(message.into()),
        ..Step::fails(Some(Duration::from_secs(60)))
    }
}

#[tokio::test(start_paused = true)]
async fn different_tasks_failing_the_same_way_in_a_row_stop_the_run() {
    let tracker = tracker_with(6);
    let mut work = Scripted::new(&tracker);
    for i in 1..=6 {
        work = work.script(&format!("t-{i}"), vec![fails_saying("Not logged in")]);
    }
    let work = Arc::new(work);
    let (ended, _) = Setup::jobs(1).run(&tracker, &work, None).await;

    assert_eq!(ended.record.stop_reason, Some(StopReason::RepeatedFailure));
    assert_eq!(ended.record.status, RunStatus::Finished);
    let ran: Vec<String> = work.ran().iter().map(|r| r.id.clone()).collect();
    assert_eq!(ran, ["t-1", "t-2", "t-3"], "the fourth never started");
    let error = ended.record.error.unwrap();
    assert!(
        error.contains("3 different tasks") && error.contains("Not logged in"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn failures_that_differ_or_come_from_one_task_do_not_trip_the_breaker() {
    let tracker = tracker_with(4);
    let work = Arc::new(
        Scripted::new(&tracker)
            // One task failing the same way again and again is that task's failure.
            .script(
                "t-1",
                vec![
                    fails_saying("boom"),
                    fails_saying("boom"),
                    fails_saying("boom"),
                    Step::closes(),
                ],
            )
            .script("t-2", vec![fails_saying("boom"), Step::closes()])
            .script("t-3", vec![fails_saying("something else"), Step::closes()]),
    );
    let (ended, _) = Setup::jobs(1).run(&tracker, &work, None).await;

    assert_eq!(ended.record.stop_reason, Some(StopReason::ReadyEmpty));
    assert_all_closed(&tracker, 4);
}

#[tokio::test(start_paused = true)]
async fn a_usage_limit_moves_tasks_to_the_fallback_until_its_cooldown_is_over() {
    let tracker = tracker_with(6);
    // As a task's stages hand back an environment failure: released, free to run again.
    let mut limited = Step::fails(Some(Duration::ZERO));
    limited.fatal = Some(Fatal::Environment {
        environment: Environment::UsageLimit { resets_at: None },
        runtime: Runtime::Claude,
        message: "Claude AI usage limit reached".into(),
    });
    let work = Arc::new(Scripted::new(&tracker).script("t-1", vec![limited, Step::closes()]));
    let mut setup = Setup::jobs(1);
    setup.config.agent.fallback = Some(Runtime::Codex);
    setup.config.agent.fallback_cooldown = "6s".parse().unwrap();
    let (ended, events) = setup.run(&tracker, &work, None).await;

    assert_eq!(ended.record.stop_reason, Some(StopReason::ReadyEmpty));
    assert_all_closed(&tracker, 6);
    let runs = work.runs_of("t-1");
    assert_eq!(
        runs.iter().map(|r| r.runtime).collect::<Vec<_>>(),
        [Runtime::Claude, Runtime::Codex],
        "the task the limit hit runs again, on the fallback"
    );
    let runtimes: Vec<Runtime> = work.ran().iter().map(|r| r.runtime).collect();
    assert!(runtimes.contains(&Runtime::Codex));
    assert_eq!(
        runtimes.last(),
        Some(&Runtime::Claude),
        "back after the cooldown"
    );
    let switches: Vec<(Runtime, Runtime)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::RuntimeSwitched { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        switches,
        [
            (Runtime::Claude, Runtime::Codex),
            (Runtime::Codex, Runtime::Claude)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_fallback_a_usage_limit_stops_the_run() {
    let tracker = tracker_with(3);
    let mut limited = Step::fails(None);
    limited.fatal = Some(Fatal::Environment {
        environment: Environment::UsageLimit { resets_at: None },
        runtime: Runtime::Claude,
        message: "Claude AI usage limit reached".into(),
    });
    let work = Arc::new(Scripted::new(&tracker).script("t-1", vec![limited]));
    let (ended, _) = Setup::jobs(1).run(&tracker, &work, None).await;

    assert_eq!(ended.record.stop_reason, Some(StopReason::Environment));
    assert_eq!(
        ended.environment,
        Some(Environment::UsageLimit { resets_at: None })
    );
    assert_eq!(work.ran().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn with_wait_for_reset_a_usage_limit_pauses_the_run_until_it_resets() {
    let tracker = tracker_with(2);
    let resets_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut limited = Step::fails(Some(Duration::ZERO));
    limited.fatal = Some(Fatal::Environment {
        environment: Environment::UsageLimit {
            resets_at: Some(resets_at),
        },
        runtime: Runtime::Claude,
        message: "Claude AI usage limit reached".into(),
    });
    let work = Arc::new(Scripted::new(&tracker).script("t-1", vec![limited, Step::closes()]));
    let mut setup = Setup::jobs(1);
    setup.config.claim_ahead = false;
    setup.wait_for_reset = true;
    let (ended, _) = setup.run(&tracker, &work, None).await;

    assert_eq!(ended.record.stop_reason, Some(StopReason::ReadyEmpty));
    assert_all_closed(&tracker, 2);
    let first = &work.runs_of("t-1")[0];
    for later in work.ran().iter().skip(1) {
        assert!(
            later.started >= first.slot_free + Duration::from_secs(590),
            "started before the limit reset: {later:?}"
        );
    }
}

/// Claims read back, and leases: what a run does when a claim turns out to be another's,
/// or cannot be kept.
mod claims_between_machines {
    use super::*;
    use crate::config::HumanDuration;
    use crate::runner::lease;

    /// A hew on another machine whose actor sorts after this run's, and one before.
    const HIGHER: &str = "hew/zz@ffffffffffff/7/20260101-000000-high";
    const LOWER: &str = "hew/aa@000000000000/7/20260101-000000-low";

    fn leased(secs: u64) -> Setup {
        let mut setup = Setup::jobs(1);
        setup.config.lease = HumanDuration::from_secs(secs);
        setup
    }

    fn agent_for(d: Duration) -> Step {
        Step {
            agent: d,
            ..Step::closes()
        }
    }

    fn backed_off(ended: &Ended, events: &[RunEvent], id: &str) -> bool {
        let told = events
            .iter()
            .any(|e| matches!(e, RunEvent::ClaimLost { task_id, .. } if task_id == id));
        let recorded = ended
            .record
            .backed_off
            .iter()
            .any(|b| b.starts_with(&format!("{id}: ")));
        told && recorded
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_read_back_under_another_holder_is_neither_run_nor_released() {
        let tracker = tracker_with(2);
        // The tracker lets both win, and names the other.
        tracker.rival(HIGHER);
        let work = Arc::new(Scripted::new(&tracker));
        let (ended, events) = Setup::jobs(1).run(&tracker, &work, None).await;

        assert!(work.ran().is_empty(), "{:?}", work.ran());
        for id in ["t-1", "t-2"] {
            let t = tracker.get(id).task;
            assert_eq!(t.assignee.as_deref(), Some(HIGHER), "{id}");
            assert_eq!(t.status, "in_progress");
            assert!(backed_off(&ended, &events, id), "{id}: {events:?}");
            // One read-back per claim; no release, no lease written.
            let calls = tracker.calls();
            assert_eq!(
                calls.iter().filter(|c| **c == format!("show {id}")).count(),
                1
            );
            assert!(!calls.contains(&format!("release {id}")), "{calls:?}");
        }
        assert_eq!(tracker.count("lease"), 0);
        assert_eq!(ended.record.stop_reason, Some(StopReason::ReadyEmpty));
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_read_back_as_ours_runs_with_a_lease_renewed_every_third() {
        let tracker = tracker_with(1);
        let work = Arc::new(
            Scripted::new(&tracker).script("t-1", vec![agent_for(Duration::from_secs(100))]),
        );
        let (ended, _) = leased(30).run(&tracker, &work, None).await;

        assert_eq!(tracker.get("t-1").task.status, "closed");
        // The first lease at the claim, then one every 10s of the agent's 100s.
        let leases = tracker.count("lease");
        assert_eq!(leases, 1 + 10, "{:?}", tracker.calls());
        let calls = tracker.calls();
        let claim = calls.iter().position(|c| c == "claim t-1").unwrap();
        assert_eq!(calls[claim + 1], "show t-1", "{calls:?}");
        assert!(
            calls[claim + 2].starts_with("lease t-1 hew:lease-"),
            "{calls:?}"
        );
        // Done with it: its lease label is gone, one label at a time while it ran.
        tokio::task::yield_now().await;
        let labels = tracker.get("t-1").task.labels.unwrap_or_default();
        assert!(
            !labels.iter().any(|l| l.starts_with(lease::LEASE_PREFIX)),
            "{labels:?}"
        );
        assert!(ended.record.backed_off.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn of_two_runs_that_both_won_the_lower_actor_keeps_the_task() {
        // This run's actor sorts before HIGHER: seen at a renewal, it writes its name back
        // and goes on.
        let tracker = tracker_with(1);
        let work = Arc::new(
            Scripted::new(&tracker).script("t-1", vec![agent_for(Duration::from_secs(60))]),
        );
        let t = tracker.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(15)).await;
            t.assign("t-1", HIGHER);
        });
        let (ended, _) = leased(30).run(&tracker, &work, None).await;
        assert_eq!(tracker.get("t-1").task.status, "closed");
        assert_eq!(tracker.get("t-1").task.assignee.as_deref(), Some(ACTOR));
        assert!(ended.record.backed_off.is_empty());

        // One that sorts before this run's: this run stops its agent at the renewal that
        // sees it, and leaves the task to it.
        let tracker = tracker_with(1);
        let work = Arc::new(
            Scripted::new(&tracker).script("t-1", vec![agent_for(Duration::from_secs(60))]),
        );
        let t = tracker.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(15)).await;
            t.assign("t-1", LOWER);
        });
        let (ended, events) = leased(30).run(&tracker, &work, None).await;
        let task = tracker.get("t-1").task;
        assert_eq!(
            (task.status.as_str(), task.assignee.as_deref()),
            ("in_progress", Some(LOWER))
        );
        assert!(backed_off(&ended, &events, "t-1"), "{events:?}");
        let ran = work.runs_of("t-1");
        assert_eq!(ran.len(), 1);
        // Stopped at the renewal after the other's claim (20s), not at the agent's end.
        assert_eq!(ran[0].ended - ran[0].started, Duration::from_secs(20));
        assert!(!tracker.calls().contains(&"release t-1".to_owned()));
        assert_eq!(ended.iters[0].outcome, Outcome::Cancelled);
        assert!(
            ended.iters[0].notes[0].contains(LOWER),
            "{:?}",
            ended.iters[0].notes
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_that_cannot_be_renewed_stops_the_agent_before_it_runs_out() {
        let tracker = tracker_with(1);
        let work = Arc::new(
            Scripted::new(&tracker).script("t-1", vec![agent_for(Duration::from_secs(300))]),
        );
        let t = tracker.clone();
        tokio::spawn(async move {
            // Just after the first renewal (at 10s), the tracker goes out of reach.
            tokio::time::sleep(Duration::from_secs(11)).await;
            t.fail_leases(true);
        });
        let (ended, events) = leased(30).run(&tracker, &work, None).await;

        let ran = &work.runs_of("t-1")[0];
        // Renewed at 10s for 30s: stopped at three quarters of that, well before 40s.
        assert_eq!(ran.ended - ran.started, Duration::from_micros(32_500_000));
        assert!(backed_off(&ended, &events, "t-1"));
        assert!(ended.record.backed_off[0].contains("could not be renewed"));
        // Never counted as failed, never released: left for another runner to take over.
        let task = tracker.get("t-1").task;
        assert_eq!(
            (task.status.as_str(), task.assignee.as_deref()),
            ("in_progress", Some(ACTOR))
        );
        assert!(
            !tracker
                .calls()
                .iter()
                .any(|c| c.starts_with("label t-1 hew:retry"))
        );
        assert!(!tracker.calls().contains(&"release t-1".to_owned()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_whose_lease_ran_out_on_another_machine_is_taken_over() {
        let tracker = tracker_with(2);
        // Released by recovery with its holder still named (as `br reopen` leaves it),
        // or open and still naming a holder whose lease ran out long ago.
        tracker.assign("t-1", HIGHER);
        tracker.hold("t-2", HIGHER, &["hew:lease-1000"]);
        tracker
            .release(&TaskId::parse("t-2").unwrap())
            .await
            .unwrap();
        tracker.assign("t-2", HIGHER);
        tracker.hold("t-1", HIGHER, &[&lease::label(lease::unix_now() + 3600)]);
        tracker
            .release(&TaskId::parse("t-1").unwrap())
            .await
            .unwrap();
        tracker.assign("t-1", HIGHER);
        let work = Arc::new(Scripted::new(&tracker));
        let (_, _) = Setup::jobs(1).run(&tracker, &work, None).await;

        // The lease on t-2 ran out: taken over. The one on t-1 holds: left alone.
        assert_eq!(tracker.get("t-2").task.status, "closed");
        assert!(work.runs_of("t-1").is_empty());
        assert_eq!(tracker.get("t-1").task.assignee.as_deref(), Some(HIGHER));
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_run_takes_over_a_task_whose_lease_ran_out_on_another_machine() {
        let tracker = tracker_with(5);
        // Another machine died holding t-4 (its lease ran out long ago); t-5's holder is
        // alive (its lease holds for an hour).
        tracker.hold("t-4", HIGHER, &[&lease::label(1)]);
        tracker.hold("t-5", LOWER, &[&lease::label(lease::unix_now() + 3600)]);
        let mut work = Scripted::new(&tracker);
        for id in ["t-1", "t-2", "t-3", "t-4"] {
            work = work.script(id, vec![agent_for(Duration::from_secs(10))]);
        }
        let work = Arc::new(work);
        // No recovery runs here: the first look is half a lease (15 s) into the run.
        let (ended, events) = leased(30).run(&tracker, &work, None).await;

        assert_eq!(work.runs_of("t-4").len(), 1, "{:?}", tracker.calls());
        assert!(
            work.runs_of("t-4")[0].started
                >= work.runs_of("t-1")[0].started + Duration::from_secs(15)
        );
        assert_eq!(tracker.get("t-4").task.status, "closed");
        assert!(work.runs_of("t-5").is_empty());
        assert_eq!(tracker.get("t-5").task.status, "in_progress");
        let told = events.iter().any(|e| {
            matches!(e, RunEvent::Recovered(r)
                if r.lease_expired == [("t-4".to_owned(), HIGHER.to_owned())])
        });
        assert!(told, "{events:?}");
        let calls = tracker.calls();
        let at = calls.iter().position(|c| c == "release t-4").unwrap();
        assert!(calls[at..].iter().any(|c| c == "claim t-4"), "{calls:?}");
        assert_eq!(ended.record.stop_reason, Some(StopReason::ReadyEmpty));
    }
}
