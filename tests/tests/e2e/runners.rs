//! Several hew processes on one repository and tracker: every task runs exactly once, and
//! their merges never step on each other. One run moves to its fallback runtime when the
//! main one hits a usage limit.

use std::collections::BTreeMap;
use std::process::Stdio;

use crate::fake_agent;
use hew_tests::{TestRepo, require_tracker};
use serde_json::json;

#[test]
fn three_runners_share_thirty_tasks_and_run_each_exactly_once() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", crate::fake_agent(), "");
    repo.scenario(&json!({ "default": { "sleep_ms": 150 } }));
    let ids = repo.create_tasks(30);

    let runners: Vec<_> = (0..3)
        .map(|_| {
            let mut cmd = repo.hew_std();
            cmd.args(["loop", "-j", "2"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().expect("start hew")
        })
        .collect();
    for r in runners {
        let out = r.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a runner failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Count agent runs per task over every run's records.
    let mut runs_per_task: BTreeMap<String, usize> = BTreeMap::new();
    for it in repo.all_iterations() {
        assert_eq!(it["outcome"], "closed", "{it:#}");
        *runs_per_task
            .entry(it["task_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let runs = std::fs::read_dir(repo.path().join(".hew/loop"))
        .unwrap()
        .count();
    assert_eq!(runs, 3, "three runs");
    assert_eq!(runs_per_task.len(), 30, "{runs_per_task:?}");
    assert!(
        runs_per_task.values().all(|n| *n == 1),
        "a task ran twice: {runs_per_task:?}"
    );
    for id in &ids {
        assert_eq!(repo.show(id)["status"], "closed");
        assert!(
            repo.file_on("main", &format!("{id}.txt")).is_some(),
            "{id}'s work is not on main"
        );
    }
}

/// The main runtime hits its usage limit: the task it was on runs again on the fallback,
/// and so do the tasks after it; the records and the output say so.
#[test]
fn a_usage_limit_moves_the_run_to_the_fallback_runtime() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    let agent = fake_agent().display().to_string();
    repo.use_agent(
        "claude",
        fake_agent(),
        &format!("fallback = \"codex\"\nfallback_binary = \"{agent}\"\n"),
    );
    let ids = repo.create_tasks(2);
    repo.scenario(&json!({
        "default": { "error_result": "usage_limit", "error_only_as": "claude" }
    }));
    let out = repo.hew().args(["loop", "-j", "1"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();

    for id in &ids {
        assert_eq!(repo.show(id)["status"], "closed", "{id}: {stdout}");
    }
    let iters = repo.iterations();
    let runs: Vec<(&str, &str, &str)> = iters
        .iter()
        .map(|i| {
            (
                i["task_id"].as_str().unwrap(),
                i["runtime"].as_str().unwrap(),
                i["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    let of = |id: &str| -> Vec<(&str, &str)> {
        runs.iter()
            .filter(|(t, _, _)| *t == id)
            .map(|(_, runtime, outcome)| (*runtime, *outcome))
            .collect()
    };
    assert_eq!(
        of(&ids[0]),
        [("claude", "agent_failed"), ("codex", "closed")],
        "{stdout}"
    );
    assert_eq!(of(&ids[1]), [("codex", "closed")], "{stdout}");
    assert!(
        stdout.contains("tasks run on codex for 30m"),
        "the switch is shown: {stdout}"
    );
    // The limit was not the task's: no retry label was left on it.
    assert!(!repo.show(&ids[0])["labels"].to_string().contains("hew:"));
}
