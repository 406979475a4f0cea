//! Stopping a run: Ctrl-C cancels running agents and releases their tasks; `hew loop
//! cancel` lets running agents finish and starts nothing new. Nothing outlives hew.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::fake_agent;
use hew_tests::{NewTask, TestRepo, require_tracker};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

/// Starts `hew loop` in the background with the test's environment.
fn spawn_loop(repo: &TestRepo, args: &[&str]) -> Child {
    let mut cmd = repo.hew_std();
    cmd.arg("loop")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("start hew")
}

/// Waits (up to a generous bound) until an agent has started and recorded itself.
fn wait_for_agent(repo: &TestRepo) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(r) = repo.agent_records().into_iter().next() {
            return r;
        }
        assert!(Instant::now() < deadline, "no agent started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Live (non-zombie) processes in process group `pgid`.
fn live_members(pgid: i32) -> Vec<i32> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: split after the last ')'.
        let Some(rest) = stat.rsplit(')').next() else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            live.push(pid);
        }
    }
    live
}

#[test]
fn ctrl_c_cancels_running_agents_and_releases_their_tasks() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new("hangs"));
    repo.scenario(&json!({ "default": { "hang": true } }));

    let hew = spawn_loop(&repo, &[]);
    let record = wait_for_agent(&repo);
    kill(Pid::from_raw(hew.id() as i32), Signal::SIGINT).unwrap();
    let out = hew.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let run = repo.run_record();
    assert_eq!(
        (run["status"].as_str(), run["stop_reason"].as_str()),
        (Some("cancelled"), Some("interrupted"))
    );
    let iters = repo.iterations();
    assert_eq!(iters[0]["outcome"], "cancelled");
    let t = repo.show(&id);
    assert_eq!(t["status"], "open", "the claim was not released");
    assert_eq!(
        repo.idle_pool().len(),
        1,
        "the slot's worktree, kept and detached"
    );
    let pgid = record["pgid"].as_i64().unwrap() as i32;
    assert_eq!(
        live_members(pgid),
        Vec::<i32>::new(),
        "the agent's process group outlived hew"
    );
}

#[test]
fn cancel_lets_running_agents_finish_and_starts_nothing_new() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let ids = repo.create_tasks(3);
    repo.scenario(&json!({ "default": { "sleep_ms": 1500 } }));

    let hew = spawn_loop(&repo, &["-j", "1"]);
    wait_for_agent(&repo);
    repo.hew().args(["loop", "cancel"]).assert().success();
    let out = hew.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let run = repo.run_record();
    assert_eq!(run["stop_reason"], "stop_file");
    let iters = repo.iterations();
    assert_eq!(iters.len(), 1, "no task starts after cancel");
    assert_eq!(
        iters[0]["outcome"], "closed",
        "the running agent finished and its work landed"
    );
    // The slot's next task was claimed while the agent ran: cancel gave it back.
    for id in ids.iter().filter(|id| **id != iters[0]["task_id"]) {
        let t = repo.show(id);
        assert_eq!(t["status"], "open", "{id} was left claimed: {t}");
        assert!(
            t["assignee"].as_str().unwrap_or_default().is_empty(),
            "{id} is still assigned: {t}"
        );
    }
}

#[test]
fn cancel_without_a_running_loop_says_so() {
    let repo = TestRepo::new();
    let out = repo.hew().args(["loop", "cancel"]).assert().code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("no running loop"));
}

#[test]
fn after_hew_is_killed_the_next_run_recovers_and_loses_nothing() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let a = repo.create_task(NewTask::new("commits then hangs").priority(0));
    let b = repo.create_task(NewTask::new("hangs").priority(0));
    let c = repo.create_task(NewTask::new("waits its turn").priority(3));
    repo.scenario(&json!({ "tasks": {
        a.clone(): { "hang_after_work": true },
        b.clone(): { "hang": true }
    }}));

    let mut hew = spawn_loop(&repo, &["-j", "2"]);
    // Wait until both agents run, the first has committed on its branch, and the third
    // task is claimed ahead. (A claim still in flight when hew dies lands after it: the
    // run after next would release that one.)
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(repo.agent_records().len() == 2
        && repo
            .file_on(&format!("hew/{a}"), &format!("{a}.txt"))
            .is_some()
        && repo.show(&c)["status"] == "in_progress")
    {
        assert!(Instant::now() < deadline, "agents did not get going");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pgids: Vec<i32> = repo
        .agent_records()
        .iter()
        .map(|r| r["pgid"].as_i64().unwrap() as i32)
        .collect();
    hew.kill().unwrap(); // SIGKILL: no cleanup at all
    hew.wait().unwrap();
    assert!(
        pgids.iter().all(|p| !live_members(*p).is_empty()),
        "the agents outlive a killed hew (precondition)"
    );

    // The next run puts it right, then does the work.
    repo.scenario(&json!({}));
    let out = repo.hew().args(["loop", "-j", "2"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("recovered crashed run"), "{stdout}");

    for p in &pgids {
        assert_eq!(
            live_members(*p),
            Vec::<i32>::new(),
            "orphaned agent group {p} still alive"
        );
    }
    let in_progress = repo.tracker_json(&["list", "--status", "in_progress"]);
    assert_eq!(
        in_progress["issues"].as_array().map_or(0, Vec::len),
        0,
        "{in_progress}"
    );
    for id in [&a, &b, &c] {
        assert_eq!(repo.show(id)["status"], "closed", "{id}");
    }
    // The crashed run is marked so, and names the branch with its agent's unmerged commit.
    let runs: Vec<serde_json::Value> = std::fs::read_dir(repo.path().join(".hew/loop"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| {
            serde_json::from_slice(&std::fs::read(e.path().join("run.json")).unwrap()).unwrap()
        })
        .collect();
    let crashed = runs
        .iter()
        .find(|r| r["status"] == "crashed")
        .expect("a crashed run");
    let kept = format!("hew/{a}");
    assert!(
        crashed["kept_branches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| *b == kept.as_str()),
        "{crashed:#}"
    );
    assert!(
        repo.file_on(&kept, &format!("{a}.txt")).is_some(),
        "the first attempt's commit is kept"
    );
    // The dead run's worktrees were detached (its kept branch is checked out nowhere) and
    // serve the runs after it.
    assert!(!repo.idle_pool().is_empty());

    // A claim the killed hew had in flight lands after its recovery: the next run gives
    // that task back and does it.
    let late = repo.create_task(NewTask::new("claimed late"));
    let actor = format!(
        "hew/{}@{}/{}/{}",
        crashed["host"].as_str().unwrap(),
        crashed["machine"].as_str().unwrap(),
        crashed["pid"],
        crashed["run_id"].as_str().unwrap()
    );
    repo.tracker_json(&["update", late.as_str(), "--claim", "--actor", &actor]);
    assert_eq!(repo.show(&late)["assignee"], actor.as_str());
    repo.hew().args(["loop", "-j", "2"]).assert().success();
    assert_eq!(repo.show(&late)["status"], "closed");
}

#[test]
fn recover_leaves_a_live_run_alone() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new("hangs"));
    repo.scenario(&json!({ "default": { "hang": true } }));
    let hew = spawn_loop(&repo, &[]);
    wait_for_agent(&repo);

    let out = repo.hew().args(["loop", "recover"]).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("nothing to recover"));
    assert_eq!(
        repo.show(&id)["status"],
        "in_progress",
        "a live run's task was touched"
    );

    kill(Pid::from_raw(hew.id() as i32), Signal::SIGINT).unwrap();
    let out = hew.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
}

fn iteration_after(
    repo: &TestRepo,
    args: &[&str],
    scenario: serde_json::Value,
) -> (serde_json::Value, i32) {
    repo.scenario(&scenario);
    repo.hew().arg("loop").args(args).assert().success();
    let it = repo.iterations().into_iter().next().expect("one iteration");
    let pgid = repo.agent_records()[0]["pgid"].as_i64().unwrap() as i32;
    (it, pgid)
}

#[test]
fn a_hanging_agent_times_out_and_its_group_is_gone() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new("hangs"));
    let (it, pgid) = iteration_after(
        &repo,
        &["--timeout", "1s"],
        json!({ "default": { "hang": true } }),
    );
    assert_eq!(it["outcome"], "timed_out");
    assert!(
        it["error"]
            .as_str()
            .unwrap()
            .contains("loop.agent.timeout (1s)"),
        "names the limit: {it:#}"
    );
    assert_eq!(
        it["usage"]["source"], "partial",
        "usage before the kill is kept, marked partial"
    );
    assert_eq!(live_members(pgid), Vec::<i32>::new());
    assert_eq!(repo.show(&id)["status"], "open");
}

/// Claude Code reports its final result (exact usage) when interrupted and dies silently
/// on SIGTERM: a timeout interrupts first, and the result it reports is the figure.
#[test]
fn a_timed_out_agent_that_reports_its_result_on_sigint_is_priced_from_it() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.create_task(NewTask::new("slow but honest"));
    let (it, pgid) = iteration_after(
        &repo,
        &["--timeout", "1s"],
        json!({ "default": { "hang": true, "result_on_sigint": true } }),
    );
    assert_eq!(it["outcome"], "timed_out");
    assert_eq!(it["exit_code"], 130, "it exited on the SIGINT: {it:#}");
    assert_eq!(it["usage"]["source"], "result", "{it:#}");
    // The fake agent's default figures: main 1200/450/15000/3000, second 800/120/2000/0.
    let total = &it["usage"]["total"];
    assert_eq!(
        [
            &total["input"],
            &total["output"],
            &total["cache_read"],
            &total["cache_create"]
        ],
        [2000, 570, 17000, 3000]
    );
    assert!(it["cost_usd"].as_f64().is_some(), "priced: {it:#}");
    assert_eq!(live_members(pgid), Vec::<i32>::new());
}

#[test]
fn an_agent_ignoring_sigterm_is_killed_after_the_grace() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.create_task(NewTask::new("stubborn"));
    let (it, pgid) = iteration_after(
        &repo,
        &["--timeout", "1s"],
        json!({ "default": { "hang": true, "ignore_sigterm": true } }),
    );
    assert_eq!(it["outcome"], "timed_out");
    assert_eq!(it["signal"], 9, "SIGKILL ended it: {it:#}");
    assert_eq!(live_members(pgid), Vec::<i32>::new());
}

#[test]
fn a_grandchild_holding_the_output_is_killed_and_noted() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let id = repo.create_task(NewTask::new("leaks"));
    let (it, pgid) = iteration_after(&repo, &[], json!({ "default": { "grandchild": true } }));
    assert_eq!(it["outcome"], "closed", "the work itself was fine");
    assert_eq!(it["leaked"], true);
    assert_eq!(
        live_members(pgid),
        Vec::<i32>::new(),
        "the grandchild outlived hew"
    );
    assert_eq!(repo.show(&id)["status"], "closed");
}

#[test]
fn ctrl_c_with_four_agents_leaves_no_process_and_no_claim() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let ids: Vec<String> = (0..6)
        .map(|i| repo.create_task(NewTask::new(&format!("t{i}"))))
        .collect();
    repo.scenario(&json!({ "default": { "hang": true } }));
    let hew = spawn_loop(&repo, &["-j", "4"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while repo.agent_records().len() < 4 {
        assert!(Instant::now() < deadline, "four agents did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    kill(Pid::from_raw(hew.id() as i32), Signal::SIGINT).unwrap();
    let out = hew.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));

    for r in repo.agent_records() {
        let pgid = r["pgid"].as_i64().unwrap() as i32;
        assert_eq!(
            live_members(pgid),
            Vec::<i32>::new(),
            "an agent outlived hew"
        );
    }
    let in_progress = repo.tracker_json(&["list", "--status", "in_progress"]);
    assert_eq!(
        in_progress["issues"].as_array().map_or(0, Vec::len),
        0,
        "{in_progress}"
    );
    assert_eq!(repo.run_record()["status"], "cancelled");
    let iters = repo.iterations();
    assert_eq!(iters.len(), 4);
    assert!(iters.iter().all(|i| i["outcome"] == "cancelled"));
    for id in &ids {
        let labels = repo.show(id)["labels"].to_string();
        assert!(
            !labels.contains("hew:retry"),
            "a cancel is not the task's failure: {labels}"
        );
    }
}

#[test]
fn a_busy_slots_next_task_is_claimed_while_its_agent_runs_and_released_on_ctrl_c() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    let first = repo.create_task(NewTask::new("hangs").priority(0));
    let next = repo.create_task(NewTask::new("waits its turn").priority(1));
    repo.scenario(&json!({ "default": { "hang": true } }));

    let hew = spawn_loop(&repo, &["-j", "1"]);
    wait_for_agent(&repo);
    // The only slot is busy with `first`: its next task is claimed for it meanwhile.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = repo.show(&next);
        let assignee = t["assignee"].as_str().unwrap_or_default().to_owned();
        if t["status"] == "in_progress" {
            // In the name of this run: hew/<host>/<pid>/<run-id>.
            let pid = assignee.split('/').nth(2);
            assert!(
                assignee.starts_with("hew/") && pid == Some(&hew.id().to_string()),
                "claimed by this hew: {t}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{next} was never claimed ahead: {t}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(repo.agent_records().len(), 1, "it waits for the slot");

    kill(Pid::from_raw(hew.id() as i32), Signal::SIGINT).unwrap();
    let out = hew.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let iters = repo.iterations();
    assert_eq!(iters.len(), 1, "the task claimed ahead never started");
    assert_eq!(iters[0]["task_id"], first.as_str());
    for id in [&first, &next] {
        let t = repo.show(id);
        assert_eq!(t["status"], "open", "{id} left claimed: {t}");
        assert!(
            t["assignee"].as_str().unwrap_or_default().is_empty(),
            "{id} still assigned: {t}"
        );
    }
}
